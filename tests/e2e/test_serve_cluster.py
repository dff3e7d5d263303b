"""`snarkgpt serve --cluster`: the server's proofs made on a Ray cluster, and the per-segment
progress of `--cluster` on a terminal (snarkgpt/server.py, snarkgpt/cluster.py).

One local Ray instance with 2 CPUs on loopback, started and stopped by the module's fixture;
the server runs as a subprocess on a free loopback port and joins it. The model is the tiny
3-layer one of tests/e2e/test_cluster.py, one block per segment: 3 segment tasks a proof on
2 task slots, so the server keeps ceil(2 / 3) = 1 proof in flight and, with --queue 1,
accepts 2 jobs at once and answers the third 429."""
import fcntl
import io
import json
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
import urllib.error
import urllib.request

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from snarkgpt import client, cluster  # noqa: E402
from snarkgpt.cli import main  # noqa: E402
from snarkgpt.model import keys as K  # noqa: E402
from snarkgpt.model.statement import read_proof_file  # noqa: E402
from ray_head import local_ray  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
QUIET = lambda *a: None  # noqa: E731


@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    out = tmp_path_factory.mktemp("servecluster") / "keys"
    K.setup(MODEL, str(out), max_tokens=4, layers_per_segment=1, progress=QUIET)
    return str(out)


@pytest.fixture(scope="module")
def head():
    """ONE local Ray instance (2 CPUs, loopback) for the module; its address for the server."""
    with local_ray(2) as address:
        yield address


def http(method, url, body=None, timeout=30):
    """(status, headers, parsed JSON)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


class Server:
    """`snarkgpt serve ... --cluster HEAD` in a subprocess on a free loopback port."""

    def __init__(self, keydir, *args):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "snarkgpt.cli", "serve", "--keys", keydir, "--host",
             "127.0.0.1", "--port", str(self.port), "--max-wait", "60", *args],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                if http("GET", self.url + "/health", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start: " + self.output())
            time.sleep(0.3)

    def health(self):
        return http("GET", self.url + "/health")[2]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(head, keydir):
    srv = Server(keydir, "--cluster", head, "--queue", "1", "--per-client", "4")
    yield srv
    srv.stop()


def test_served_proofs_are_made_on_the_cluster_and_verify(server, keydir):
    h = server.health()
    c = h["cluster"]
    assert (c["task_slots"], c["segments"], c["proofs_in_flight"]) == (2, 3, 1), c
    assert h["workers"] == h["workers_ready"] == 1 and h["capacity"] == 2
    # before serving, each of the 2 task slots loaded the keys (`cluster.warm`)
    assert c["warmed"]["tasks"] == 2 and c["warmed"]["devices"] == ["cpu"], c
    assert "keys loaded by 2 task(s)" in server.output()
    fp = h["fingerprint"]
    res = client.ask(server.url, prompt_tokens=[1], max_new_tokens=3, fingerprint=fp,
                     timeout=120)
    assert res["valid"], res
    # the tokens a sequential `prove` attests
    seq = K.Prover(keydir, progress=QUIET, keep_keys=False).generate([1], 3)
    assert res["output_tokens"] == list(seq.output)
    assert server.health()["served"] == 1
    assert "proof(s) in flight" in server.output()


def test_more_requests_than_capacity_get_429_with_retry_after(server, keydir):
    """1 proof in flight + queue 1: two new jobs are accepted, the third is refused at once;
    both accepted jobs are then proven on the cluster."""
    answers = [http("POST", server.url + "/generate", {"prompt_tokens": [t], "max_new_tokens": 1})
               for t in (2, 3, 4)]
    assert [a[0] for a in answers[:2]] == [202, 202], answers
    status, headers, payload = answers[2]
    assert status == 429 and "queue is full" in payload["error"], payload
    assert int(headers["Retry-After"]) >= 1
    h = server.health()
    assert h["outstanding"] <= h["capacity"] == 2 and h["busy"] >= 1
    card, vk = K.load_verifier(keydir)
    for (_, _, job), t in zip(answers[:2], (2, 3)):
        s, _, res = http("GET", server.url + f"/jobs/{job['job']}?wait=60", timeout=90)
        assert s == 200, res
        client.check_result(card, vk, h["fingerprint"], [t], 1, res)   # Rejected if not
    assert server.health()["outstanding"] == 0


def test_server_stops_with_proofs_in_flight_and_the_cluster_stays_usable(head, keydir):
    """SIGTERM while two proofs run on the cluster: their tasks are cancelled, the server
    disconnects from the cluster it joined and exits at once (no Ray call after the
    disconnect starts a local instance); the cluster (the test's) still runs tasks."""
    srv = Server(keydir, "--cluster", head, "--workers", "2", "--queue", "0", "--per-client", "2")
    h = srv.health()
    assert h["workers"] == 2 and h["capacity"] == 2 and h["cluster"]["proofs_in_flight"] == 2
    for t in (5, 6):
        assert http("POST", srv.url + "/generate", {"prompt_tokens": [t],
                                                    "max_new_tokens": 3})[0] == 202
    time.sleep(1.0)
    t = time.monotonic()
    code = srv.stop()
    assert time.monotonic() - t < 20 and code in (0, 15, -15), srv.output()   # not killed
    assert "Started a local Ray instance" not in srv.output()
    assert ray.get(ray.remote(lambda: 7).remote(), timeout=60) == 7


def test_serve_with_an_address_that_does_not_answer_fails_within_seconds(keydir, capsys):
    t = time.monotonic()
    assert main(["serve", "--keys", keydir, "--port", "1", "--cluster", "127.0.0.1:1"]) == 2
    assert time.monotonic() - t < 15
    assert "does not answer" in capsys.readouterr().err


def test_serve_with_a_bad_spec_fails_before_starting(keydir, capsys):
    assert main(["serve", "--keys", keydir, "--cluster", "local:0"]) == 2
    assert "--cluster" in capsys.readouterr().err


def test_a_one_circuit_key_is_served_by_the_local_pool(tmp_path):
    """Nothing to spread: the service does not connect (the address is never tried)."""
    from snarkgpt.server import Service
    out = tmp_path / "keys"
    K.setup("random:n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1", str(out),
            progress=QUIET)
    svc = Service(out, queue=1, cluster="127.0.0.1:1")
    assert svc.cluster is None and svc.cluster_skipped and svc.capacity == 2


def test_auto_capacity_follows_the_cluster(head, keydir, monkeypatch):
    """Without --workers the proofs in flight follow the cluster's task slots, re-read at
    most every CAPACITY_REFRESH_S seconds: ceil(slots / 3 segments), and the capacity
    (in flight + queue) with them; given --workers, they stay. A cluster that does not
    answer keeps the last figures."""
    from snarkgpt import server
    svc = server.Service(keydir, workers=None, queue=1, cluster=head)
    svc.task_cpus = 1
    svc.gate = server.Gate(1)
    slots = {"n": 2}
    monkeypatch.setattr(cluster, "task_slots", lambda cpus: slots["n"])
    svc.refresh_capacity(force=True)
    assert (svc.workers, svc.capacity, svc.cluster_info["task_slots"]) == (1, 2, 2)
    slots["n"] = 7                  # nodes joined: ceil(7 / 3) = 3 proofs in flight
    svc.refresh_capacity()          # read less than CAPACITY_REFRESH_S ago: unchanged
    assert svc.workers == 1
    svc.capacity_read -= server.CAPACITY_REFRESH_S
    svc.refresh_capacity()
    assert (svc.workers, svc.capacity, svc.gate.limit) == (3, 4, 3)
    assert svc.cluster_info["proofs_in_flight"] == 3 and svc.cluster_info["nodes"] >= 1
    slots["n"] = 10 ** 6            # never more than MAX_IN_FLIGHT
    svc.refresh_capacity(force=True)
    assert svc.workers == server.MAX_IN_FLIGHT

    def down(cpus):
        raise ConnectionError("the head node went away")
    monkeypatch.setattr(cluster, "task_slots", down)
    svc.capacity_read -= server.CAPACITY_REFRESH_S
    svc.refresh_capacity()          # kept
    assert svc.workers == server.MAX_IN_FLIGHT
    with pytest.raises(ConnectionError):
        svc.refresh_capacity(force=True)     # at start: the server does not start
    fixed = server.Service(keydir, workers=2, queue=1, cluster=head)
    fixed.task_cpus = 1
    monkeypatch.setattr(cluster, "task_slots", lambda cpus: 9)
    fixed.refresh_capacity(force=True)
    assert (fixed.workers, fixed.capacity, fixed.cluster_info["task_slots"]) == (2, 3, 9)


def test_the_gate_follows_its_limit():
    """`Gate`: at most `limit` holders; raising the limit lets a waiter in, a set cancel
    event sends it away."""
    from snarkgpt.server import Gate
    gate = Gate(1)
    assert gate.acquire()
    got = []
    waiter = threading.Thread(target=lambda: got.append(gate.acquire()))
    waiter.start()
    time.sleep(0.3)
    assert not got                  # full
    gate.set_limit(2)
    waiter.join(timeout=5)
    assert got == [True] and gate.held == 2
    stop = threading.Event()
    stop.set()
    assert gate.acquire(cancel=stop) is False
    gate.release()
    gate.set_limit(1)               # shrunk: one still held, none may enter
    assert gate.acquire(cancel=stop) is False
    gate.release()
    assert gate.acquire(cancel=stop) is True


def test_serve_without_cluster_imports_no_ray():
    code = ("import sys, snarkgpt.server, snarkgpt.cli; "
            "snarkgpt.cli.build_parser().parse_args(['serve', '--keys', 'k']); "
            "assert 'ray' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ------------------------------------------------------------------------------ progress

class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


EVENTS = [{"event": "queued", "segment": i} for i in range(3)] + [
    {"event": "running", "segment": 0, "node": "a pid 1", "attempt": 1},
    {"event": "running", "segment": 1, "node": "a pid 2", "attempt": 1},
    {"event": "done", "segment": 0, "node": "a pid 1", "seconds": 1.0},
    {"event": "running", "segment": 1, "node": "a pid 3", "attempt": 2},
    {"event": "running", "segment": 2, "node": "a pid 1", "attempt": 1},
    {"event": "done", "segment": 1, "node": "a pid 3", "seconds": 1.0},
    {"event": "done", "segment": 2, "node": "a pid 1", "seconds": 1.0}]


def test_segment_events_draw_a_bar_on_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    lines = []
    report = cluster._reporter(lines.append, False, 3)
    for e in EVENTS:
        report(dict(e))
    report.close()
    out = err.getvalue()
    assert "segments:" in out and "3/3" in out and "1 running, 1 queued" in out, out
    assert "segment 2/3 running on a pid 3 (attempt 2)" in out     # a retry stays as a line
    assert lines == []                      # on a terminal the bar replaces the lines


def test_segment_events_are_lines_off_a_terminal_and_json_with_json(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    lines = []
    report = cluster._reporter(lines.append, False, 3)
    for e in EVENTS:
        report(dict(e))
    report.close()
    assert err.getvalue() == "" and len(lines) == len(EVENTS)
    assert lines[-1] == "segment 3/3 done on a pid 1 in 1.0 s"
    report = cluster._reporter(None, True, 3)
    for e in EVENTS:
        report(dict(e))
    assert [json.loads(x) for x in err.getvalue().splitlines()] == EVENTS


def test_prove_on_the_cluster_shows_a_bar_on_a_terminal(head, keydir, tmp_path):
    """The command itself, its stderr a pseudo-terminal: a tqdm bar over the 3 segments."""
    out = tmp_path / "p.sgp"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))   # 120 columns
    chunks = []

    def drain():
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        r = subprocess.run([sys.executable, "-m", "snarkgpt.cli", "prove", "--keys", keydir,
                            "--prompt-tokens", "1", "--max-new-tokens", "3", "--out", str(out),
                            "--cluster", head], stdout=subprocess.PIPE, stderr=slave,
                           stdin=subprocess.DEVNULL, timeout=300)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    err = b"".join(chunks).decode(errors="replace")
    assert r.returncode == 0, err
    assert "segments:" in err and "/3 [" in err, err
    _, st, proof = read_proof_file(str(out))
    assert K.rejection(K.load_verifier(keydir)[1], st, proof) is None
