"""`--cluster`: segment proofs as Ray tasks (snarkgpt/cluster.py). One local Ray instance with
2 CPUs on loopback serves the whole module; a tiny 3-layer model, one block per segment.

The proofs made on the cluster must verify against the published key with the same statement
as the sequential proof; a worker killed mid-task is retried with the same link seed; a
segment that fails for a real reason fails the whole proof, naming the segment, and leaves no
proof file; an address where nothing listens is a clear error within seconds."""
import json
import os
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from snarkgpt import cluster  # noqa: E402
from snarkgpt.cli import main  # noqa: E402
from snarkgpt.model import keys as K  # noqa: E402
from snarkgpt.model.statement import Statement, read_proof_file  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
QUIET = lambda *a: None  # noqa: E731


@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    out = tmp_path_factory.mktemp("clusterkeys") / "keys"
    K.setup(MODEL, str(out), max_tokens=4, layers_per_segment=1, progress=QUIET)
    return str(out)


@pytest.fixture(scope="module")
def head():
    """ONE local Ray instance (2 CPUs, loopback) for the module; its address for the CLI."""
    ctx = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                   log_to_driver=False, logging_level="ERROR")
    try:
        yield ctx.address_info["gcs_address"]
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def prover(keydir):
    return K.Prover(keydir, progress=QUIET, keep_keys=False)


def cli(*argv, env=None):
    """`snarkgpt ARGV` in a subprocess (this process is already connected to Ray)."""
    return subprocess.run([sys.executable, "-m", "snarkgpt.cli", *argv], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_cluster_proof_verifies_with_the_sequential_statement(head, keydir, tmp_path):
    seq, dist = tmp_path / "seq.sgp", tmp_path / "dist.sgp"
    assert main(["prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "3",
                 "--out", str(seq)]) == 0
    r = cli("prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "3",
            "--out", str(dist), "--cluster", head, "--json")
    assert r.returncode == 0, r.stderr
    _, st_seq, _ = read_proof_file(str(seq))
    _, st_dist, proof = read_proof_file(str(dist))
    assert st_dist == st_seq
    assert json.loads(r.stdout)["output_tokens"] == list(st_seq.output)   # the result: stdout
    assert K.rejection(K.load_verifier(keydir)[1], st_dist, proof) is None
    assert main(["verify", "--keys", keydir, "--proof", str(dist)]) == 0
    # one JSON line per segment event on stderr: queued, running (with its node), done
    events = [json.loads(line) for line in r.stderr.splitlines() if line.startswith("{")]
    for i in range(3):
        states = [e["event"] for e in events if e.get("segment") == i]
        assert states[0] == "queued" and states[-1] == "done" and "running" in states, states
        assert all(e.get("node") for e in events if e["event"] != "queued")


def test_killed_worker_is_retried_with_the_same_seed(head, prover, tmp_path, monkeypatch):
    marker = tmp_path / "killed"
    monkeypatch.setenv(cluster.FAULT_ENV, f"kill:1:{marker}")
    lines = []
    st = prover.generate([2], 3)
    proof = cluster.prove(prover, st, cpus=1, progress=lines.append)
    assert marker.exists()                      # segment 1's first worker did die
    assert any("segment 2/3 running" in m and "attempt 2" in m for m in lines), lines
    assert K.rejection(prover.vk, st, proof) is None


def test_a_segment_error_fails_the_proof_without_retries(head, prover, monkeypatch):
    st = prover.generate([1], 3)
    good = prover.forward(st)
    # the tasks get the true forward pass but a statement whose last token is not the model's
    # greedy choice: every segment's witness check raises GenerationMismatch, once
    bad = Statement(st.prompt, st.output[:-1] + ((st.output[-1] + 1) % 8,), st.max_tokens)
    monkeypatch.setattr(prover, "forward", lambda s: good)
    lines = []
    with pytest.raises(cluster.SegmentFailed, match=r"segment \d .*GenerationMismatch"):
        cluster.prove(prover, bad, cpus=1, progress=lines.append)
    assert not any("attempt 2" in m for m in lines), lines


def test_a_failing_segment_leaves_no_proof_file(head, keydir, tmp_path):
    out = tmp_path / "p.sgp"
    r = cli("prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "3",
            "--out", str(out), "--cluster", head, env={cluster.FAULT_ENV: "raise:2"})
    assert r.returncode == 2, r.stderr
    assert "segment 2" in r.stderr and "injected fault" in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_an_address_that_does_not_answer_is_an_error_within_seconds(keydir, tmp_path, capsys):
    out = tmp_path / "p.sgp"
    t = time.monotonic()
    assert main(["prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "1",
                 "--out", str(out), "--cluster", "127.0.0.1:1"]) == 2
    assert time.monotonic() - t < 15
    assert "does not answer" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("spec", ["", "local:0", "local:x", "nohostport"])
def test_bad_cluster_specs(spec, keydir, tmp_path, capsys):
    assert main(["prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "1",
                 "--out", str(tmp_path / "p.sgp"), "--cluster", spec]) == 2
    assert "--cluster" in capsys.readouterr().err


def test_without_cluster_nothing_imports_ray():
    code = ("import sys, snarkgpt.cli, snarkgpt.cluster, snarkgpt.bench.model; "
            "snarkgpt.cli.build_parser(); assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
