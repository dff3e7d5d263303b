"""The network protocol end to end: `snarkgpt serve` on 127.0.0.1 and the client that checks it.

Servers run as subprocesses on free loopback ports and are stopped at the end. Keys are set
up once per module for the smallest random GPT (setup is the slow part); proofs are small
(2^13 rows) and the proving pools have one or two workers.
"""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from snarkgpt import audit, client  # noqa: E402
from snarkgpt.cli import main  # noqa: E402
from snarkgpt.model.statement import parse_proof_file  # noqa: E402

CONFIG = "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8"
MODEL_A = f"random:{CONFIG},seed=1"
MODEL_B = f"random:{CONFIG},seed=2"
V, L = 8, 4
# eight different statements (prompt, new tokens), each fitting in L = 4 tokens
DISTINCT = [([0], 2), ([1], 2), ([2], 3), ([3], 1), ([4, 5], 2), ([6, 7], 1), ([1, 2], 2), ([3, 4, 5], 1)]
# the default run: eight requests in flight, four statements asked twice each (identical
# requests share a proof, which keeps the run short); the slow run proves all eight
REQUESTS = [DISTINCT[i] for i in (0, 4, 6, 7, 0, 4, 6, 7)]


# ------------------------------------------------------------------------------ helpers

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, raw=None, timeout=30):
    """(status, headers, parsed JSON or bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, headers, payload = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, payload = e.code, e.headers, e.read()
    try:
        return status, headers, json.loads(payload)
    except ValueError:
        return status, headers, payload


class Server:
    """`snarkgpt serve` in a subprocess on a free loopback port.

    `per_client`: jobs one client may hold (`--per-client`; every test client is 127.0.0.1)."""

    def __init__(self, keydir, workers, queue, log=None, per_client=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "snarkgpt.cli", "serve", "--keys", str(keydir),
               "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers),
               "--queue", str(queue), "--max-wait", "30"]
        if log:
            cmd += ["--log", str(log)]
        if per_client is not None:
            cmd += ["--per-client", str(per_client)]
        # output to a file, not a pipe: nobody reads it while the server runs
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
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

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:  # the workers are in the server's process group: make sure none is left
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait(timeout=10)


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("server")


def _setup(work, spec, name):
    out = work / name
    assert main(["setup", "--model", spec, "--out", str(out), "--json"]) == 0
    return out, json.loads((out / "card.json").read_text())["fingerprint"]


@pytest.fixture(scope="module")
def keys_a(work):
    return _setup(work, MODEL_A, "keys-a")


@pytest.fixture(scope="module")
def keys_b(work):
    return _setup(work, MODEL_B, "keys-b")


@pytest.fixture(scope="module")
def server_a(work, keys_a):
    # one client (this test, on 127.0.0.1) sends all the requests: it may fill the queue
    srv = Server(keys_a[0], workers=2, queue=len(REQUESTS) - 2, log=work / "server.jsonl",
                 per_client=len(REQUESTS))
    yield srv
    srv.stop()


# ------------------------------------------------------------------------------ model B: pinning, 429

class TestAnotherModel:
    """A second server, for model B (same architecture, other weights): one worker, queue 1."""

    @pytest.fixture(scope="class")
    @classmethod
    def server_b(cls, keys_b):
        srv = Server(keys_b[0], workers=1, queue=1, per_client=2)   # the global limit binds
        yield srv
        srv.stop()

    def test_swapped_model_is_caught_by_the_pinned_fingerprint(self, keys_a, keys_b, server_b,
                                                                capsys):
        fp_a, fp_b = keys_a[1], keys_b[1]
        assert fp_a != fp_b
        res = client.ask(server_b.url, prompt_tokens=[1], max_new_tokens=1, fingerprint=fp_a)
        assert not res["valid"] and "not the expected" in res["reason"]
        assert "prompt_tokens" not in res          # refused before sending the prompt
        assert server_b.health()["accepted"] == 0
        # the command: REJECTED, exit 1
        capsys.readouterr()
        code = main(["ask", "--url", server_b.url, "--prompt-tokens", "1", "--max-new-tokens", "1",
                     "--fingerprint", fp_a])
        out = capsys.readouterr().out
        assert code == 1 and "REJECTED" in out and "VERIFIED" not in out

    def test_without_a_pin_the_client_warns_loudly(self, keys_b, server_b):
        card, vk, fp, warning = client.load_key(server_b.url)
        assert fp == keys_b[1] and "NOT being checked" in warning

    def test_full_queue_answers_429_with_retry_after(self, server_b):
        # workers 1 + queue 1: two jobs are accepted (the worker is still building its key),
        # the third is refused, without waiting
        answers = [http("POST", server_b.url + "/generate", {"prompt_tokens": [t], "max_new_tokens": 1})
                   for t in (1, 2, 3)]
        assert [a[0] for a in answers[:2]] == [202, 202], answers
        status, headers, payload = answers[2]
        assert status == 429 and "queue is full" in payload["error"]
        assert int(headers["Retry-After"]) >= 1
        h = server_b.health()
        assert h["outstanding"] <= h["capacity"] == 2 and h["busy"] >= 1
        # a job can be polled while it waits
        s, _, j = http("GET", server_b.url + f"/jobs/{answers[0][2]['job']}")
        assert s in (200, 202) and j["job"] == answers[0][2]["job"]


# ------------------------------------------------------------------------------ model A

BAD_REQUESTS = [
    (b'{"prompt_tokens": [1, 2], "max_new_tokens": 2', 400, "malformed JSON"),
    (b'\xff\xfe', 400, "malformed JSON"),
    (b'[1, 2]', 400, "JSON object"),
    (b'{"prompt_tokens": [1], "max_new_tokens": 1, "temperature": 0.5}', 422, "unknown field"),
    (b'{"max_new_tokens": 1}', 422, "exactly one of prompt"),
    (b'{"prompt_tokens": [1]}', 422, "missing field: max_new_tokens"),
    (b'{"prompt_tokens": [1, 9], "max_new_tokens": 1}', 422, "outside the vocabulary"),
    (b'{"prompt_tokens": [1, -1], "max_new_tokens": 1}', 422, "outside the vocabulary"),
    (b'{"prompt_tokens": [1, "a"], "max_new_tokens": 1}', 422, "must be an integer"),
    (b'{"prompt_tokens": [1.5], "max_new_tokens": 1}', 422, "must be an integer"),
    (b'{"prompt_tokens": [], "max_new_tokens": 1}', 422, "empty"),
    (b'{"prompt_tokens": [1], "max_new_tokens": 0}', 422, "at least 1"),
    (b'{"prompt_tokens": [1], "max_new_tokens": -5}', 422, "at least 1"),
    (b'{"prompt_tokens": [1], "max_new_tokens": 10000000000000}', 422, "too large"),
    (b'{"prompt_tokens": [1], "max_new_tokens": "2"}', 422, "must be an integer"),
    (b'{"prompt_tokens": [1, 2, 3], "max_new_tokens": 2}', 422, "exceeds"),
    (json.dumps({"prompt_tokens": [1] * 100, "max_new_tokens": 1}).encode(), 422, "exceeds"),
    (json.dumps({"prompt_tokens": [1] * 40000, "max_new_tokens": 1}).encode(), 413, "exceeds"),
    (b'{"prompt": "hi", "max_new_tokens": 1}', 422, "no tokenizer"),
    # deep nesting is refused before parsing (it used to reach json's recursion limit: 500)
    (b'[' * 50000 + b']' * 10000, 400, "nested deeper than 32"),
    (b'{"prompt_tokens": ' + b'[' * 40 + b'1' + b']' * 40 + b', "max_new_tokens": 1}', 400,
     "nested deeper than 32"),
    (b'{"a":' * 12000 + b'1' + b'}' * 1000, 400, "nested deeper than 32"),
    # brackets inside strings are text, not nesting
    (json.dumps({"prompt_tokens": [1], "max_new_tokens": 1, "x": "[" * 100}).encode(), 422,
     "unknown field"),
]


def test_model_card_and_verifying_key(server_a, keys_a):
    keydir, fp = keys_a
    s, _, card = http("GET", server_a.url + "/model")
    assert s == 200 and card["fingerprint"] == fp
    assert card["config"]["vocab_size"] == V and card["max_tokens"] == L
    assert "model" not in card and "setup_seconds" not in card    # nothing about the weights
    s, _, vk = http("GET", server_a.url + "/model/vk")
    assert s == 200 and vk == (keydir / "vk.bin").read_bytes() == base64.b64decode(card["vk"])
    c2, _, fp2, warning = client.load_key(server_a.url, fingerprint=fp)
    assert fp2 == fp and warning is None
    # a local copy of the public keys serves as well as the server's, and is pinned the same way
    c3, _, fp3, warning = client.load_key(keydir=keydir, fingerprint=fp)
    assert fp3 == fp and warning is None
    with pytest.raises(client.Rejected, match="not the expected"):
        client.load_key(keydir=keydir, fingerprint="ab" * 32)


@pytest.mark.parametrize("raw,status,words", BAD_REQUESTS,
                         ids=[f"{i}-{w.replace(' ', '_')}" for i, (_, _, w) in enumerate(BAD_REQUESTS)])
def test_bad_requests_get_4xx_with_a_message(server_a, raw, status, words):
    s, _, payload = http("POST", server_a.url + "/generate", raw=raw)
    assert s == status, payload
    assert isinstance(payload, dict) and words in payload["error"], payload
    assert http("GET", server_a.url + "/health")[0] == 200       # still serving


def test_chunked_body_over_the_limit_is_refused_while_it_streams(server_a):
    """A body without Content-Length (chunked) is counted as it arrives: the server answers 413
    after 64 KiB and closes the connection while the client is still sending; it used to read
    the whole body (a 300 MB body grew it by ~600 MB) before refusing it."""
    import http.client
    import select
    total, piece = 256 << 20, b"7" * (64 << 10)
    rss_before = server_a.health()["peak_rss_kib"]["server"]
    conn = http.client.HTTPConnection("127.0.0.1", server_a.port, timeout=30)
    conn.putrequest("POST", "/generate")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    sent = 0
    try:
        while sent < total and not select.select([conn.sock], [], [], 0)[0]:
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
    except (BrokenPipeError, ConnectionResetError):
        pass                                # the server closed the connection: refused
    resp = conn.getresponse()
    payload = json.loads(resp.read())
    conn.close()
    assert resp.status == 413, payload
    assert "exceeds the limit of 65536 bytes" in payload["error"]
    assert resp.getheader("Connection") == "close"
    assert sent < total // 4                # stopped long before the whole body went out
    h = server_a.health()                   # still serving, and its peak memory barely moved
    assert (h["peak_rss_kib"]["server"] - rss_before) * 1024 < 16 << 20


def test_bad_query_and_unknown_job(server_a):
    s, _, p = http("POST", server_a.url + "/generate?wait=soon", {"prompt_tokens": [1], "max_new_tokens": 1})
    assert s == 400 and "wait" in p["error"]
    s, _, p = http("GET", server_a.url + "/jobs/0123abcd")
    assert s == 404 and "no such job" in p["error"]
    s, _, p = http("GET", server_a.url + "/nowhere")
    assert s == 404 and "error" in p


def test_tokenizer_errors_name_the_character(keys_a, tmp_path):
    """A model with a tokenizer (vocab 65: the Shakespeare alphabet): unknown characters are
    refused (checked without a server). A card whose tokenizer was edited is refused at
    start-up: the verifying key binds the tokenizer's digest."""
    from snarkgpt.model.keys import KeyDirError, setup
    from snarkgpt.server import RequestError, Service
    keydir = tmp_path / "keys"
    setup("random:n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=65,seed=1", str(keydir),
          progress=lambda *a: None)
    svc = Service(keydir)
    assert svc.parse_request(b'{"prompt": "ab", "max_new_tokens": 2}') == (
        svc.tokenizer.encode("ab"), 2)
    with pytest.raises(RequestError) as e:
        svc.parse_request(b'{"prompt": "a~", "max_new_tokens": 1}')
    assert e.value.status == 422 and "'~'" in e.value.message
    with pytest.raises(RequestError) as e:
        svc.parse_request(b'{"prompt": "abcdefgh", "max_new_tokens": 1}')
    assert e.value.status == 422
    edited = tmp_path / "edited"
    shutil.copytree(keys_a[0], edited)
    card = json.loads((edited / "card.json").read_text())
    card["tokenizer"] = list("abcdefgh")
    (edited / "card.json").write_text(json.dumps(card))
    with pytest.raises(KeyDirError, match="tokenizer"):
        Service(edited)


def run_batch(server_a, keys_a, log, requests):
    """Requests in flight at once: full client exchanges (logged), and one raw answer (last)."""
    fp = keys_a[1]

    def full(req):
        prompt, n = req
        return client.ask(server_a.url, prompt_tokens=prompt, max_new_tokens=n, fingerprint=fp,
                          log=log, timeout=600)

    def raw(req):
        prompt, n = req
        return client.submit(server_a.url, prompt, n, timeout=600)

    peak = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            try:
                peak.append(server_a.health()["outstanding"])
            except OSError:
                pass
            stop.wait(0.5)

    w = threading.Thread(target=watch, daemon=True)
    w.start()
    with ThreadPoolExecutor(len(requests)) as ex:
        futs = [ex.submit(full, r) for r in requests[:-1]] + [ex.submit(raw, requests[-1])]
        results = [f.result() for f in futs]
    stop.set()
    w.join()
    return {"results": results[:-1], "raw": results[-1], "peak": max(peak or [0]), "log": log}


@pytest.fixture(scope="module")
def batch(server_a, keys_a, work):
    return run_batch(server_a, keys_a, work / "client.jsonl", REQUESTS)


def check_batch(batch, requests, server_a, keys_a):
    for (prompt, n), res in zip(requests, batch["results"]):
        assert res["valid"], res
        assert res["prompt_tokens"] == prompt and len(res["output_tokens"]) == n
        assert res["model_fingerprint"] == keys_a[1]
    h = server_a.health()
    assert h["served"] >= len(set(map(str, requests))) and h["busy"] == 0 and h["failed"] == 0
    assert batch["peak"] >= 2          # several jobs were outstanding together
    assert h["peak_rss_kib"]["worker_max"] > 0
    return h


def test_concurrent_requests_all_verify(batch, server_a, keys_a):
    h = check_batch(batch, REQUESTS, server_a, keys_a)
    assert h["coalesced"] >= 1         # identical requests in flight shared a proof


@pytest.mark.slow
def test_eight_distinct_concurrent_requests_all_verify(server_a, keys_a, work):
    batch = run_batch(server_a, keys_a, work / "client-distinct.jsonl", DISTINCT)
    check_batch(batch, DISTINCT, server_a, keys_a)


def test_every_proof_is_in_both_audit_logs(batch, work, keys_a, capsys):
    server_log, client_log = work / "server.jsonl", batch["log"]
    assert len(audit.read(client_log)) == len(REQUESTS) - 1
    assert len(audit.read(server_log)) >= len(set(map(str, REQUESTS)))
    capsys.readouterr()
    assert main(["audit", str(client_log), str(server_log), "--fingerprint", keys_a[1]]) == 0
    assert "all records used the same model" in capsys.readouterr().out


def _expect_rejected(keys_a, raw, words, prompt=REQUESTS[-1][0], n=REQUESTS[-1][1]):
    from snarkgpt.model.keys import load_verifier
    card, vk = load_verifier(keys_a[0])
    with pytest.raises(client.Rejected) as e:
        client.check_result(card, vk, keys_a[1], prompt, n, raw)
    assert words in str(e.value), str(e.value)


def _reencode(raw, **changes):
    """The answer with its proof file's header changed (the proof bytes kept)."""
    import struct
    from snarkgpt.model.statement import VERSION
    blob = base64.b64decode(raw["proof"])
    header, st, proof = parse_proof_file(blob)
    header.update(changes)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    blob = blob[:5] + struct.pack("<HI", VERSION, len(hb)) + hb + proof
    return dict(raw, proof=base64.b64encode(blob).decode(), **{k: v for k, v in changes.items()
                                                               if k == "output_tokens"})


def test_untampered_answer_passes(batch, keys_a):
    from snarkgpt.model.keys import load_verifier
    card, vk = load_verifier(keys_a[0])
    prompt, n = REQUESTS[-1]
    header, st, _ = client.check_result(card, vk, keys_a[1], prompt, n, batch["raw"])
    assert list(st.output) == batch["raw"]["output_tokens"]


def test_flipped_proof_byte_is_rejected(batch, keys_a):
    raw = batch["raw"]
    blob = bytearray(base64.b64decode(raw["proof"]))
    blob[-40] ^= 1
    _expect_rejected(keys_a, dict(raw, proof=base64.b64encode(bytes(blob)).decode()), "")


def test_changed_output_tokens_are_rejected(batch, keys_a):
    raw = batch["raw"]
    other = [(t + 1) % V for t in raw["output_tokens"]]
    # only the convenience field changed: it disagrees with the proof
    _expect_rejected(keys_a, dict(raw, output_tokens=other), "differ from the proven output")
    # the proof file's statement changed too: the proof does not verify
    _expect_rejected(keys_a, _reencode(raw, output_tokens=other), "does not verify")


def test_other_prompt_or_model_label_is_rejected(batch, keys_a):
    raw = batch["raw"]
    _expect_rejected(keys_a, raw, "another prompt", prompt=[7], n=REQUESTS[-1][1])
    _expect_rejected(keys_a, _reencode(raw, fingerprint="00" * 32), "is for model")
    _expect_rejected(keys_a, dict(raw, proof="not base64!"), "no readable proof")


@pytest.mark.slow
def test_server_publishing_a_but_proving_with_b_is_rejected(keys_a, keys_b):
    """A lying server: model A's card and key, answers from model B (through a proxy)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    srv_b = Server(keys_b[0], workers=1, queue=1)
    card_a = (keys_a[0] / "card.json").read_bytes()
    vk_a = (keys_a[0] / "vk.bin").read_bytes()

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, status, body, ctype="application/json"):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/model":
                card = json.loads(card_a)
                card["vk"] = base64.b64encode(vk_a).decode()
                return self._send(200, json.dumps(card).encode())
            if self.path == "/model/vk":
                return self._send(200, vk_a, "application/octet-stream")
            s, _, p = http("GET", srv_b.url + self.path, timeout=60)
            self._send(s, json.dumps(p).encode())

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            s, _, p = http("POST", srv_b.url + self.path, raw=body, timeout=60)
            self._send(s, json.dumps(p).encode())

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    t = threading.Thread(target=proxy.serve_forever, daemon=True)
    t.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        res = client.ask(url, prompt_tokens=[1, 2], max_new_tokens=2, fingerprint=keys_a[1])
        assert not res["valid"] and "is for model" in res["reason"]
    finally:
        proxy.shutdown()
        srv_b.stop()


def test_server_with_inconsistent_keys_refuses_to_start(work, keys_a, keys_b):
    """A key directory whose prover files do not produce its published key (here model B's
    weights beside model A's card and verifying key, as after a partial copy or a stale
    setup): the workers cannot build the proving key, so the server exits with the reason (exit code 2)
    instead of listening with a pool that can never prove."""
    stale = work / "keys-stale"
    shutil.copytree(keys_a[0], stale)
    shutil.copy(keys_b[0] / "model.npz", stale / "model.npz")
    port = free_port()
    r = subprocess.run([sys.executable, "-m", "snarkgpt.cli", "serve", "--keys", str(stale),
                        "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stdout + r.stderr      # 2: an error (1 means rejected)
    assert "could not load the keys" in r.stderr and "fingerprint mismatch" in r.stderr
    with socket.socket() as s:          # nothing is listening on the port
        assert s.connect_ex(("127.0.0.1", port)) != 0
