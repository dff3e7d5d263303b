"""The transparency log end to end: `serve --transparency-log`, the /log routes, `ask`'s
inclusion and consistency checks, the `audit --log-url` monitor, and the faults (SIGKILL
during a stream of requests, a corrupted database at start).

The servers here run the real service, routes and log, with the proving pool replaced by
canned proofs: real proof files made once per module by an in-process prover for a few
statements, returned at once for the matching request. Every answer therefore verifies
and is logged exactly as a proven one, and a stream of hundreds of requests takes seconds.
Run as a script, this file starts such a server in its own process (for the SIGKILL test):

    python tests/e2e/test_transparency.py KEYDIR PROOFDIR DB PORT

The slow test at the end does the same with `snarkgpt serve` and real proving workers.
"""
import base64
import concurrent.futures as cf
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest.importorskip("starlette")
pytest.importorskip("cryptography")
uvicorn = pytest.importorskip("uvicorn")

from snarkgpt import audit, client  # noqa: E402
from snarkgpt.cli import main  # noqa: E402
from snarkgpt.model.statement import parse_proof_file  # noqa: E402
from snarkgpt.server import Service, create_app  # noqa: E402
from snarkgpt.transparency import heads  # noqa: E402
from snarkgpt.transparency.entries import make_leaf  # noqa: E402
from snarkgpt.transparency.merkle import Tree, leaf_hash  # noqa: E402

MODEL = "random:n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
STATEMENTS = [([0], 1), ([1], 1), ([2], 2), ([3], 1), ([4, 5], 1)]
HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


# ------------------------------------------------------------------------------ canned proofs

def canned_job(proof_dir):
    """A job function answering every canned statement at once with its real proof file."""
    proofs = {}
    for name in os.listdir(proof_dir):
        blob = open(os.path.join(proof_dir, name), "rb").read()
        _, st, _ = parse_proof_file(blob)
        proofs[(tuple(st.prompt), len(st.output))] = blob

    def job(prompt_tokens, max_new_tokens):
        blob = proofs[(tuple(prompt_tokens), int(max_new_tokens))]
        _, st, _ = parse_proof_file(blob)
        return {"prompt_tokens": list(st.prompt), "output_tokens": list(st.output), "text": None,
                "proof_file": blob, "valid": True, "prove_seconds": 0.0,
                "worker_pid": os.getpid(), "worker_maxrss_kib": 0}
    return job


def canned_service(keydir, proof_dir, db, **settings):
    svc = Service(keydir, queue=64, per_client=64, transparency_log=db, **settings)
    svc.job_function = canned_job(proof_dir)
    svc.executor = cf.ThreadPoolExecutor(4)         # start() keeps it: no proving workers
    return svc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InProcess:
    """create_app(service) served by uvicorn in a thread on a free loopback port."""

    def __init__(self, service):
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(service), host="127.0.0.1",
                                                    port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=20)


def get(url, timeout=30):
    """(status, parsed JSON)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("transparency")


@pytest.fixture(scope="module")
def keys(work):
    out = work / "keys"
    assert main(["setup", "--model", MODEL, "--out", str(out), "--json"]) == 0
    return out, json.loads((out / "card.json").read_text())["fingerprint"]


@pytest.fixture(scope="module")
def proofs(keys, work):
    from snarkgpt.model.keys import Prover
    from snarkgpt.model.statement import write_proof_file
    d = work / "proofs"
    d.mkdir()
    prover = Prover(keys[0], progress=lambda *a: None)
    for i, (prompt, n) in enumerate(STATEMENTS):
        st = prover.generate(prompt, n)
        write_proof_file(d / f"{i}.sgp", keys[1], st, prover.prove(st))
    return d


@pytest.fixture(scope="module")
def server(keys, proofs, work):
    srv = InProcess(canned_service(keys[0], proofs, work / "log.db"))
    yield srv
    srv.stop()


def ask(url, fp, log, prompt="0", n=1, *extra):
    return main(["ask", "--url", url, "--prompt-tokens", prompt, "--max-new-tokens", str(n),
                 "--fingerprint", fp, "--log", str(log), *extra])


@pytest.fixture(scope="module")
def alice(server, keys, work):
    """Alice asks three times, keeping the heads in her log."""
    log = work / "alice.jsonl"
    for prompt, n in STATEMENTS[:3]:
        assert ask(server.url, keys[1], log, ",".join(map(str, prompt)), n) == 0
    return log


def server_key(work):
    return heads.SigningKey.load_or_create(work / "log.db.key")


# ------------------------------------------------------------------------------ ask

def test_ask_checks_inclusion_and_consistency(server, keys, work, capsys):
    log = work / "bob.jsonl"
    capsys.readouterr()
    assert ask(server.url, keys[1], log, "1") == 0
    out = capsys.readouterr().out
    m = re.search(r"log index (\d+) of (\d+), inclusion verified", out)
    assert m and int(m.group(1)) < int(m.group(2)), out
    assert "consistent with" not in out                  # nothing kept yet
    assert ask(server.url, keys[1], log, "4,5", 1, "--json") == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["valid"] and res["inclusion_verified"] is True
    assert res["log_index"] > int(m.group(1)) and res["log_size"] > res["log_index"]
    assert res["log_consistent_with"] == int(m.group(2))    # from the head kept the first time
    kept = [r["transparency"] for r in audit.read(log)]
    assert [k["index"] for k in kept] == [int(m.group(1)), res["log_index"]]
    assert audit.audit([log], fingerprint=keys[1])["ok"]     # still a valid audit log


def test_the_card_publishes_the_log_key(server, work):
    card = get(server.url + "/model")[1]
    info = card["transparency_log"]
    assert info["public_key"] == server_key(work).public_key.hex()
    assert info["log_id"] == heads.log_id(bytes.fromhex(info["public_key"]))
    h = server.service.health()["transparency_log"]
    assert h["size"] == server.service.tlog.size and h["append_ms_p50"] is not None


def _answer(server, keys, prompt=(3,), n=1):
    """A fresh answer, and the card and proof file to check its log entry with."""
    result = client.submit(server.url, list(prompt), n, timeout=60)
    card = get(server.url + "/model")[1]
    return card, base64.b64decode(result["proof"]), result


def test_tampered_log_entries_in_an_answer_are_rejected(server, keys, proofs, work):
    fp = keys[1]
    card, blob, result = _answer(server, keys)
    kept = client.check_log(server.url, card, fp, blob, result, None)
    assert kept["index"] == result["log"]["index"]
    entry = result["log"]
    other_leaf = make_leaf(blob, time="2000-01-01T00:00:00.000+00:00")
    wrong_path = list(entry["inclusion"])
    wrong_path[0] = "00" * 32
    evil = server_key(work)
    stranger = heads.SigningKey.load_or_create(work / "stranger.key")
    h = entry["head"]
    someone_elses = make_leaf(sorted(proofs.iterdir())[-1].read_bytes())
    bad = {
        "tampered leaf": dict(entry, leaf=base64.b64encode(other_leaf).decode()),
        "another answer's leaf": dict(entry, leaf=base64.b64encode(someone_elses).decode()),
        "wrong inclusion proof": dict(entry, inclusion=wrong_path),
        "another index": dict(entry, index=entry["index"] + 1 if entry["index"] == 0 else 0),
        "bad signature": dict(entry, head=dict(h, root="00" * 32)),
        "head signed by another key": dict(entry, head=stranger.sign_head(
            fp, h["size"], bytes.fromhex(h["root"]), h["time"])),
        "head for another model": dict(entry, head=evil.sign_head(
            "bb" * 32, h["size"], bytes.fromhex(h["root"]), h["time"])),
    }
    words = {"tampered leaf": "not in the log", "another answer's leaf": "not this answer",
             "wrong inclusion proof": "not in the log",
             "another index": "not in the log", "bad signature": "bad signature",
             "head signed by another key": "another key", "head for another model": "model change"}
    for name, e in bad.items():
        with pytest.raises(client.Rejected, match=words[name]):
            client.check_log(server.url, card, fp, blob, dict(result, log=e), None)
    no_log = {k: v for k, v in result.items() if k != "log"}
    with pytest.raises(client.Rejected, match="no transparency log entry"):
        client.check_log(server.url, card, fp, blob, no_log, None)


def test_a_split_view_is_caught_by_the_next_ask(server, keys, work, capsys):
    """Carol holds a head signed by the log's key for a history that is not the log's (what
    a provider showing her another history hands out): her next ask is rejected."""
    fp = keys[1]
    size = server.service.tlog.size
    forged = server_key(work).sign_head(fp, size, b"\x5a" * 32, int(time.time() * 1000))
    log = work / "carol.jsonl"
    record = {"fingerprint": fp, "proof": "", "transparency": {
        "url": server.url, "log_id": forged["log_id"], "head": forged}}
    log.write_text(json.dumps(record) + "\n")
    capsys.readouterr()
    assert ask(server.url, fp, log, "2", 2) == 1
    out = capsys.readouterr().out
    assert "REJECTED: transparency log: split view" in out, out
    # a kept head from another log key (the provider started a new log) is refused too
    stranger = heads.SigningKey.load_or_create(work / "stranger.key")
    record["transparency"] = {"url": server.url, "log_id": stranger.log_id,
                              "head": stranger.sign_head(fp, 1, b"\x00" * 32, 0)}
    log.write_text(json.dumps(record) + "\n")
    assert ask(server.url, fp, log, "2", 2) == 1
    assert "log key changed" in capsys.readouterr().out


# ------------------------------------------------------------------------------ routes

def test_log_routes(server, work, monkeypatch):
    from snarkgpt import server as server_mod
    from snarkgpt.transparency.merkle import verify_consistency, verify_inclusion
    url = server.url
    s, head = get(url + "/log/head")
    assert s == 200
    key = server_key(work).public_key
    h = heads.verify(head, key)
    n = h["size"]
    assert n >= 3
    # every entry, in bounded pages
    monkeypatch.setattr(server_mod, "MAX_LOG_PAGE", 2)
    leaves, start = [], 0
    while start < n:
        s, page = get(url + f"/log/entries?start={start}&end={n + 100}")
        assert s == 200 and len(page["entries"]) <= 2 and page["start"] == start
        leaves += [base64.b64decode(e["leaf"]) for e in page["entries"]]
        start = page["end"]
    t = Tree()
    for leaf in leaves[:n]:
        t.append(leaf_hash(leaf))
    assert t.root(n).hex() == h["root"]
    for i in range(n):
        s, p = get(url + f"/log/proof/inclusion?index={i}&size={n}")
        verify_inclusion(leaf_hash(leaves[i]), i, n, [bytes.fromhex(x) for x in p["inclusion"]],
                         bytes.fromhex(h["root"]))
    s, p = get(url + f"/log/proof/consistency?old=1&new={n}")
    verify_consistency(1, t.root(1), n, t.root(n), [bytes.fromhex(x) for x in p["consistency"]])
    for path, words in [("/log/proof/inclusion?index=0", "missing query parameter size"),
                        ("/log/proof/inclusion?index=-1&size=1", "non-negative integer"),
                        ("/log/proof/inclusion?index=x&size=1", "non-negative integer"),
                        (f"/log/proof/inclusion?index={n}&size={n}", "outside"),
                        (f"/log/proof/inclusion?index=0&size={n + 5}", "beyond the log's size"),
                        (f"/log/proof/consistency?old=0&new={n}", "0 < old <= new"),
                        (f"/log/proof/consistency?old={n}&new=1", "0 < old <= new"),
                        (f"/log/proof/consistency?old=1&new={n + 1}", "beyond"),
                        ("/log/entries?start=2&end=2", "less than end"),
                        (f"/log/entries?start={n}&end={n + 1}", "beyond the log's size"),
                        ("/log/entries?start=99999999999999999999&end=1", "non-negative")]:
        s, p = get(url + path)
        assert s == 400 and words in p["error"], (path, p)


def test_a_server_without_a_log(keys, proofs, work, capsys):
    """No --transparency-log: the routes answer 404 and `ask` verifies as before; but a
    client that kept a head from this server refuses it (the log was dropped)."""
    svc = Service(keys[0], queue=4, per_client=4)
    svc.job_function = canned_job(proofs)
    svc.executor = cf.ThreadPoolExecutor(1)
    srv = InProcess(svc)
    try:
        s, p = get(srv.url + "/log/head")
        assert s == 404 and "no transparency log" in p["error"]
        log = work / "dave.jsonl"
        capsys.readouterr()
        assert ask(srv.url, keys[1], log, "0") == 0
        out = capsys.readouterr().out
        assert "VERIFIED" in out and "inclusion" not in out
        rec = json.loads(log.read_text())
        rec["transparency"] = {"url": srv.url, "log_id": "00" * 32,
                               "head": {"size": 3}}
        log.write_text(json.dumps(rec) + "\n")
        assert ask(srv.url, keys[1], log, "0") == 1
        assert "no longer announces" in capsys.readouterr().out
    finally:
        srv.stop()


def test_an_answer_that_cannot_be_logged_is_not_issued(keys, proofs, work):
    """A commit that fails (here: the log's database connection is gone) issues no answer:
    503 naming the log, nothing added to the tree, and the log's head unchanged."""
    srv = InProcess(canned_service(keys[0], proofs, work / "failing.db"))
    try:
        tlog = srv.service.tlog
        status = client._request(srv.url + "/generate?wait=10", json.dumps(
            {"prompt_tokens": [0], "max_new_tokens": 1}).encode())[0]
        assert status == 200 and tlog.size == 1
        head = tlog.head
        tlog.con.close()
        body = json.dumps({"prompt_tokens": [1], "max_new_tokens": 1}).encode()
        status, _, raw = client._request(srv.url + "/generate?wait=10", body)
        answer = json.loads(raw)
        assert status == 503 and "could not be recorded in the transparency log" in answer["error"]
        assert "proof" not in answer
        assert tlog.size == 1 and tlog.tree.size == 1 and tlog.head == head
        assert srv.service.health()["failed"] == 1
    finally:
        srv.stop()


# ------------------------------------------------------------------------------ the monitor

def monitor(url, *args):
    return main(["audit", "--log-url", url, *map(str, args)])


def test_monitor_passes_an_honest_log(server, keys, alice, capsys):
    capsys.readouterr()
    assert monitor(server.url, "--heads", alice, "--keys", keys[0]) == 0
    out = capsys.readouterr().out
    assert "LOG AUDIT OK" in out and "3 held head(s) checked" in out
    assert monitor(server.url, "--heads", alice, "--json") == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["ok"] and res["entries_verified"] == res["log_size"] >= 3


def _kinds(capsys):
    out = capsys.readouterr().out
    return out, {line.split(":")[0] for line in out.splitlines() if line[:1].isupper()
                 and ":" in line}


def test_monitor_reports_a_split_view_with_evidence(server, keys, alice, work, capsys):
    fp = keys[1]
    forged = server_key(work).sign_head(fp, 2, b"\x33" * 32, 1)
    gossip = work / "gossip.jsonl"
    gossip.write_text(json.dumps(forged) + "\n")
    capsys.readouterr()
    assert monitor(server.url, "--heads", alice, gossip) == 1
    out, kinds = _kinds(capsys)
    assert "SPLIT VIEW" in kinds and "LOG AUDIT FAILED" in out
    assert forged["signature"] in out                    # the evidence: the signed head itself
    # a head beyond the log's size (a rollback) is a split view too
    beyond = server_key(work).sign_head(fp, 10_000, b"\x33" * 32, 1)
    gossip.write_text(json.dumps(beyond) + "\n")
    assert monitor(server.url, "--heads", gossip) == 1
    assert "only" in capsys.readouterr().out


def test_monitor_reports_a_missing_entry(server, keys, alice, work, capsys):
    """Erin holds an answer the log proved included, in a history where it sits at index i;
    the log's entry i is another: the provider dropped (or replaced) her answer."""
    fp = keys[1]
    n = server.service.tlog.size
    leaves = [e[1] for e in server.service.tlog.entries(0, n)]
    blob = server.service.tlog.entries(0, 1)[0][2]
    mine = make_leaf(blob, time="2001-01-01T00:00:00.000+00:00")
    fork = Tree()
    for leaf in leaves[:1] + [mine]:
        fork.append(leaf_hash(leaf))
    head = server_key(work).sign_head(fp, 2, fork.root(2), 1)
    erin = work / "erin.jsonl"
    erin.write_text(json.dumps({"fingerprint": fp, "proof": "", "transparency": {
        "url": server.url, "index": 1, "leaf": base64.b64encode(mine).decode(), "head": head,
        "inclusion": [x.hex() for x in fork.inclusion_proof(1, 2)]}}) + "\n")
    capsys.readouterr()
    assert monitor(server.url, "--heads", erin) == 1
    out, kinds = _kinds(capsys)
    assert {"MISSING ENTRY", "SPLIT VIEW"} <= kinds, out


def test_monitor_reports_a_model_change_and_foreign_heads(server, keys, alice, work, capsys):
    fp = keys[1]
    h = heads.verify(get(server.url + "/log/head")[1], server_key(work).public_key)
    other_model = server_key(work).sign_head("bb" * 32, h["size"], bytes.fromhex(h["root"]), 1)
    stranger = heads.SigningKey.load_or_create(work / "stranger.key")
    # another log's head (another server's, say) is not this log's business; a head naming
    # this log but signed by another key, or edited after signing, is a bad head
    foreign = stranger.sign_head(fp, h["size"], bytes.fromhex(h["root"]), 1)
    impostor = dict(foreign, log_id=h["log_id"])
    bad_sig = dict(get(server.url + "/log/head")[1], time=5)
    f = work / "odd-heads.jsonl"
    f.write_text("\n".join(json.dumps(x) for x in (other_model, foreign, impostor, bad_sig)) + "\n")
    capsys.readouterr()
    assert monitor(server.url, "--heads", f) == 1
    out, kinds = _kinds(capsys)
    assert {"MODEL CHANGE", "BAD HEAD"} <= kinds, out
    assert out.count("bad signature") == 2 and "(1 of other logs ignored)" in out, out
    # a monitor that expects another model reports the change (and re-verifies nothing else)
    assert monitor(server.url, "--fingerprint", "cc" * 32) == 1
    assert "MODEL CHANGE" in _kinds(capsys)[1]


class Rewriting:
    """A proxy in front of the server whose /log/entries pages are rewritten by `edit`."""

    def __init__(self, upstream, edit):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                with urllib.request.urlopen(upstream + self.path, timeout=30) as r:
                    body, ctype = r.read(), r.headers["Content-Type"]
                if self.path.startswith("/log/entries"):
                    page = json.loads(body)
                    edit(page)
                    body = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def test_monitor_catches_rewritten_entries(server, keys, alice, capsys):
    def new_time(page):         # entry 0 re-dated: a well-formed leaf, another history
        for e in page["entries"]:
            if e["index"] == 0:
                blob = base64.b64decode(e["proof"])
                e["leaf"] = base64.b64encode(make_leaf(blob, time="1970-01-01")).decode()

    def swapped_proof(page):    # entry 1 served with entry 0's proof file
        es = page["entries"]
        if es and es[0]["index"] == 0 and len(es) > 1:
            es[1]["proof"] = es[0]["proof"]

    for edit, kind in [(new_time, "REWRITTEN LOG"), (swapped_proof, "BAD ENTRY")]:
        proxy = Rewriting(server.url, edit)
        try:
            capsys.readouterr()
            assert monitor(proxy.url) == 1
            out, kinds = _kinds(capsys)
            assert kind in kinds, out
        finally:
            proxy.stop()


def test_monitor_usage_errors(server, capsys):
    assert main(["audit"]) == 2
    assert main(["audit", "--heads", "x.jsonl"]) == 2
    assert "--log-url" in capsys.readouterr().err


# ------------------------------------------------------------------------------ faults

def test_serve_refuses_a_corrupted_or_truncated_log(keys, proofs, work):
    """`snarkgpt serve` on a log it cannot vouch for exits 2 with the reason, before any
    worker starts and without listening."""
    db = work / "fault.db"
    svc = canned_service(keys[0], proofs, db)
    job = svc.job_function
    for prompt, n in STATEMENTS:
        blob = job(prompt, n)["proof_file"]
        svc.tlog.append(make_leaf(blob), blob)
    svc.close()
    good = db.read_bytes()
    for name, data in [("truncated", good[:len(good) // 2]),
                       ("corrupted", good[:4096 * 3] + os.urandom(4096) + good[4096 * 4:])]:
        db.write_bytes(data)
        port = free_port()
        r = subprocess.run([sys.executable, "-m", "snarkgpt.cli", "serve", "--keys", str(keys[0]),
                            "--port", str(port), "--transparency-log", str(db)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert r.returncode == 2, (name, r.stdout, r.stderr)
        assert "refusing to serve" in r.stderr and "building the proving key" not in r.stdout, \
            (name, r.stderr)
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0


def _stream_until_killed(url, fp, logs, kill, min_answers):
    """Clients asking in a loop (each with its own kept log) until the server dies; `kill`
    is called once `min_answers` answers have arrived. Returns every verified answer."""
    answered, lock, done = [], threading.Lock(), threading.Event()

    def one_client(i, log):
        k = 0
        while True:
            prompt, n = STATEMENTS[(i + k) % len(STATEMENTS)]
            k += 1
            try:
                res = client.ask(url, prompt_tokens=prompt, max_new_tokens=n, fingerprint=fp,
                                 log=log, timeout=20)
            except (client.ClientError, OSError, ValueError):
                return                                   # the server is gone
            if not res["valid"]:
                if done.is_set():
                    return
                raise AssertionError(res)
            with lock:
                answered.append(res)
                if len(answered) >= min_answers and not done.is_set():
                    done.set()
                    kill()

    threads = [threading.Thread(target=one_client, args=(i, log)) for i, log in enumerate(logs)]
    [t.start() for t in threads]
    [t.join(timeout=300) for t in threads]
    return answered


def _check_after_restart(url, fp, answered, logs, capsys):
    """Every answered request is in the restarted log, and the monitor finds the new head
    consistent with every head handed out before the kill."""
    s, head = get(url + "/log/head")
    n = head["size"]
    assert n >= max(r["log_index"] for r in answered) + 1
    for r in answered:
        s, page = get(url + f"/log/entries?start={r['log_index']}&end={r['log_index'] + 1}")
        entry = page["entries"][0]
        blob = base64.b64decode(entry["proof"])
        _, st, _ = parse_proof_file(blob)
        assert list(st.prompt) == r["prompt_tokens"] and list(st.output) == r["output_tokens"]
    kept = [rec["transparency"]["index"] for log in logs if log.exists()
            for rec in audit.read(log) if "transparency" in rec]
    assert sorted(kept) == sorted(r["log_index"] for r in answered)
    capsys.readouterr()
    assert monitor(url, "--heads", *logs) == 0, capsys.readouterr().out
    assert "LOG AUDIT OK" in capsys.readouterr().out


def launch(cmd, timeout=180):
    """A server command in its own process group (it must take --port last); (process, url)
    once /health answers."""
    port = free_port()
    proc = subprocess.Popen(cmd + [str(port)], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get(url + "/health", timeout=2)[0] == 200:
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
            raise AssertionError("the server did not start")
        time.sleep(0.1)


def _kill_stream_restart(cmd, db, fp, logs, min_answers, capsys):
    proc, url = launch(cmd)
    try:
        answered = _stream_until_killed(url, fp, logs, lambda: os.killpg(proc.pid, signal.SIGKILL),
                                        min_answers)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL and len(answered) >= min_answers
        assert os.path.exists(f"{db}-wal")              # killed: its last commits are in the WAL
        proc, url = launch(cmd)                          # the same database
        _check_after_restart(url, fp, answered, logs, capsys)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_sigkill_during_a_stream_loses_no_answered_request(keys, proofs, work, capsys):
    """Four clients ask in a loop; the server process (the canned-proof one, run as this
    file) gets SIGKILL after 40 answers, with requests in flight, and restarts on the same
    database: every answer a client received is in the log, and the restarted log's head is
    consistent with every head handed out before the kill (the monitor checks them all)."""
    db = work / "killed.db"
    logs = [work / f"stream-{i}.jsonl" for i in range(4)]
    _kill_stream_restart([sys.executable, HERE, str(keys[0]), str(proofs), str(db)], db, keys[1],
                         logs, 40, capsys)


@pytest.mark.slow
def test_sigkill_of_snarkgpt_serve_with_real_workers(keys, work, capsys):
    """The same with `snarkgpt serve` and two proving workers: every answer really proven."""
    db = work / "real.db"
    logs = [work / f"real-{i}.jsonl" for i in range(3)]
    cmd = [sys.executable, "-m", "snarkgpt.cli", "serve", "--keys", str(keys[0]), "--workers",
           "2", "--queue", "4", "--per-client", "6", "--transparency-log", str(db), "--port"]
    _kill_stream_restart(cmd, db, keys[1], logs, 6, capsys)


if __name__ == "__main__":
    # a canned-proof server in its own process: KEYDIR PROOFDIR DB PORT
    keydir, proof_dir, db, port = sys.argv[1:5]
    svc = canned_service(keydir, proof_dir, db)
    uvicorn.run(create_app(svc), host="127.0.0.1", port=int(port), log_level="error")
