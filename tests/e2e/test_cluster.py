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
from ray_head import local_ray  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
QUIET = lambda *a: None  # noqa: E731


@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    out = tmp_path_factory.mktemp("clusterkeys") / "keys"
    K.setup(MODEL, str(out), max_tokens=4, layers_per_segment=1, progress=QUIET)
    return str(out)


@pytest.fixture(scope="module")
def key_cache(tmp_path_factory):
    """The workers' folder for keys sent through the object store (their environment is
    the driver's at ray.init)."""
    return tmp_path_factory.mktemp("workerkeys")


@pytest.fixture(scope="module")
def head(key_cache):
    """ONE local Ray instance (2 CPUs, loopback) for the module; its address for the CLI."""
    # the workers have no GPU and no CUDA simulator, whatever an earlier test asked for here
    with local_ray(2, {cluster.KEY_CACHE_ENV: str(key_cache), "NUMBA_ENABLE_CUDASIM": "0"}) as address:
        yield address


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


def test_tasks_prove_on_the_device_asked_for_resolved_on_their_node(head, prover):
    """The requested device travels with each task: "auto" resolves to the CPU on these
    GPU-less workers; "cuda" fails the proof at once, naming the segment and the missing GPU,
    with no retry."""
    st = prover.generate([2], 3)
    stats = {}
    proof = cluster.prove(prover, st, cpus=1, stats=stats, device="auto")
    assert stats["segment_devices"] == ["cpu"] * 3
    assert K.rejection(prover.vk, st, proof) is None
    lines = []
    t = time.monotonic()
    with pytest.raises(cluster.SegmentFailed, match=r"segment \d .*DeviceUnavailable.*no CUDA GPU"):
        cluster.prove(prover, st, cpus=1, device="cuda", progress=lines.append)
    assert time.monotonic() - t < 60
    assert not any("attempt 2" in m for m in lines), lines


def test_warm_loads_the_keys_on_every_slot_and_names_what_fails(head, keydir, tmp_path):
    """`cluster.warm`: one task per slot builds its worker's Prover (then reused by the
    segment tasks); a key directory the workers cannot read, or a device their node lacks,
    is a ClusterError naming the cause."""
    out = cluster.warm(keydir, 1, 2, device="auto")
    assert len(out) == 2 and {o["device"] for o in out} == {"cpu"}
    assert all(o["node"] and o["seconds"] >= 0 for o in out)
    with pytest.raises(cluster.ClusterError, match="no key directory on node"):
        cluster.warm(str(tmp_path / "nowhere"), 1, 1)
    with pytest.raises(cluster.ClusterError, match="DeviceUnavailable.*no CUDA GPU"):
        cluster.warm(keydir, 1, 1, device="cuda")
    with pytest.raises(cluster.ClusterError, match="unknown key transfer"):
        cluster.warm(keydir, 1, 1, keys="nfs")


def test_a_failing_segment_leaves_no_proof_file(head, keydir, tmp_path):
    out = tmp_path / "p.sgp"
    r = cli("prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "3",
            "--out", str(out), "--cluster", head, env={cluster.FAULT_ENV: "raise:2"})
    assert r.returncode == 2, r.stderr
    assert "segment 2" in r.stderr and "injected fault" in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_keys_through_the_object_store(head, key_cache, keydir, tmp_path):
    """--cluster-keys object-store: the workers prove from their node's copy of the key
    (under SNARKGPT_KEY_CACHE, named by vk.bin's digest), never from the key directory's path;
    the proof verifies and is refused once tampered with."""
    import hashlib
    import shutil
    src = tmp_path / "keys"
    shutil.copytree(keydir, src)
    digest = hashlib.sha256((src / "vk.bin").read_bytes()).hexdigest()
    copy = key_cache / digest
    prover = K.Prover(str(src), progress=QUIET, keep_keys=False)
    st = prover.generate([3], 3)
    stats = {}
    proof = cluster.prove(prover, st, cpus=1, stats=stats, keys="object-store")
    assert stats["segment_keys"] == [str(copy)] * 3
    for f in src.iterdir():            # the node's copy is the key directory, file for file
        assert (copy / f.name).read_bytes() == f.read_bytes(), f.name
    assert not [p for p in key_cache.iterdir() if p.name.startswith(".")]   # no temporaries
    assert K.rejection(prover.vk, st, proof) is None
    bad = bytearray(proof)
    bad[len(bad) // 2] ^= 1
    assert K.rejection(prover.vk, st, bytes(bad)) is not None
    # the same through the CLI, reusing the node's copy
    out = tmp_path / "os.sgp"
    r = cli("prove", "--keys", str(src), "--prompt-tokens", "1", "--max-new-tokens", "3",
            "--out", str(out), "--cluster", head, "--cluster-keys", "object-store")
    assert r.returncode == 0, r.stderr
    assert main(["verify", "--keys", str(src), "--proof", str(out)]) == 0


def test_a_node_copy_is_written_whole_or_not_at_all(head, key_cache, keydir):
    """`_local_keydir`: a complete copy is reused without fetching; a broken one (wrong
    vk.bin) is replaced; a bundle that does not match its digest, or names a file outside
    the folder, is refused and leaves nothing behind."""
    import numpy as np
    digest, files = cluster._key_bundle(keydir)
    ref = ray.put(files)
    path = cluster._local_keydir(digest, [ref])
    assert path == str(key_cache / digest) and cluster._holds_key(path, digest)
    # reused: the bundle is not even read
    assert cluster._local_keydir(digest, [None]) == path
    # a broken copy is replaced
    with open(os.path.join(path, "vk.bin"), "r+b") as f:
        f.write(b"X")
    assert not cluster._holds_key(path, digest)
    assert cluster._local_keydir(digest, [ref]) == path and cluster._holds_key(path, digest)
    before = sorted(p.name for p in key_cache.iterdir())
    other = "0" * 64
    with pytest.raises(cluster.ClusterError, match="does not match its digest"):
        cluster._local_keydir(other, [ref])
    evil = dict(files, **{"../escape": np.zeros(1, np.uint8)})
    with pytest.raises(cluster.ClusterError, match="refusing a key file"):
        cluster._local_keydir(other, [ray.put(evil)])
    assert sorted(p.name for p in key_cache.iterdir()) == before
    assert not (key_cache.parent / "escape").exists()


def test_unknown_key_transfer_is_refused(keydir, tmp_path, capsys):
    with pytest.raises(cluster.ClusterError, match="unknown key transfer"):
        cluster.prove(K.Prover(keydir, progress=QUIET), None, keys="nfs")
    with pytest.raises(SystemExit) as e:
        main(["prove", "--keys", keydir, "--prompt-tokens", "1", "--max-new-tokens", "1",
              "--out", str(tmp_path / "p.sgp"), "--cluster", "local", "--cluster-keys", "nfs"])
    assert e.value.code == 2 and "--cluster-keys" in capsys.readouterr().err
    assert not (tmp_path / "p.sgp").exists()


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


def _node(cpus, mem_gib, alive=True):
    return {"Alive": alive, "Resources": {"CPU": float(cpus), "memory": mem_gib * 2**30}}


def test_tasks_get_the_cpus_memory_leaves_idle():
    """`widened_cpus`: where a node's memory fits fewer segment tasks than its CPUs, the
    tasks it runs take the idle CPUs; never fewer than asked, and a task fits every node."""
    GiB = 2**30
    # GPT-2 small on local:2 here: 2 CPUs, 16 GiB, 9 GiB a segment -> one at a time, 2 CPUs
    assert cluster.widened_cpus(1, 9 * GiB, [_node(2, 16)]) == 2
    # memory for both: unchanged
    assert cluster.widened_cpus(1, 9 * GiB, [_node(2, 24)]) == 1
    assert cluster.widened_cpus(1, 1 * GiB, [_node(16, 128)]) == 1
    # 16 CPUs, memory for 4 tasks of 1 CPU: 4 CPUs each
    assert cluster.widened_cpus(1, 30 * GiB, [_node(16, 128)]) == 4
    # a task larger than any node's memory still runs alone, with all of its node's CPUs
    assert cluster.widened_cpus(2, 200 * GiB, [_node(8, 64)]) == 8
    # two nodes: the smaller figure, so the task fits on both; dead nodes are ignored
    assert cluster.widened_cpus(1, 9 * GiB, [_node(2, 16), _node(8, 80)]) == 1
    assert cluster.widened_cpus(1, 9 * GiB, [_node(4, 16), _node(8, 10)]) == 4
    assert cluster.widened_cpus(1, 9 * GiB, [_node(4, 16), _node(1, 1, alive=False)]) == 4
    # no usable node or no memory figure: as asked
    assert cluster.widened_cpus(3, 9 * GiB, [_node(2, 64)]) == 3
    assert cluster.widened_cpus(1, 0, [_node(2, 16)]) == 1
    assert cluster.widened_cpus(1, 9 * GiB, []) == 1
