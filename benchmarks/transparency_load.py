"""Load test of the transparency log: appends per second and the latency the log adds.

    python benchmarks/transparency_load.py --keys KEYDIR [--requests 2000] [--concurrency 16]
                                           [--appends 2000] [--threads 16] [--time-limit 120]

KEYDIR is a generation key directory (e.g. `snarkgpt setup --model random:n_layer=1,n_head=1,
n_embd=4,block_size=4,vocab_size=8,seed=1 --out KEYDIR`); one real proof is made with it and
served for every request, so the figures are the log's and the service's, not the prover's.
Two measurements, both on this machine only:

1. the store: `--appends` durable appends of that proof to a fresh log, one thread at a time
   (every append its own commit: the latency of one durable append) and from `--threads`
   threads (appends waiting together share a commit);
2. the service over loopback HTTP: `snarkgpt serve`'s app (uvicorn, in a child process) with
   the proving pool replaced by the canned proof, `--requests` POST /generate from
   `--concurrency` client threads, once without and once with `--transparency-log`: answers
   per second, latency p50/p99 (request sent to answer received), and the time the server
   spent logging each answer (append + inclusion proof, measured in the server).

Bounded: at most 20000 appends, 5000 requests, 64 threads; each phase stops at --time-limit.
"""
import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def percentile(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q / 100 * len(xs)))] if xs else float("nan")


def make_proof(keydir, out):
    from snarkgpt.model.keys import Prover
    from snarkgpt.model.statement import write_proof_file
    p = Prover(keydir, progress=lambda *a: None)
    st = p.generate([1], 1)
    write_proof_file(out, p.card["fingerprint"], st, p.prove(st))
    return p.card["fingerprint"]


def bench_fsync(size, n=200):
    """The disk's own cost of one durable write (write + fsync of `size` bytes), the floor
    under every append's latency."""
    d = tempfile.mkdtemp(prefix="tlog-fsync-")
    fd = os.open(os.path.join(d, "f"), os.O_WRONLY | os.O_CREAT)
    xs = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, b"x" * size)
            os.fsync(fd)
            xs.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        shutil.rmtree(d)
    return {"fsync_ms_p50": 1e3 * percentile(xs, 50), "fsync_ms_p99": 1e3 * percentile(xs, 99)}


def bench_store(blob, fingerprint, appends, threads, time_limit):
    from snarkgpt.transparency.entries import make_leaf
    from snarkgpt.transparency.store import TransparencyLog
    out = {}
    for mode, n_threads in (("serial", 1), ("concurrent", threads)):
        d = tempfile.mkdtemp(prefix="tlog-bench-")
        log = TransparencyLog(os.path.join(d, "log.db"), fingerprint)
        lat, lock = [], threading.Lock()
        deadline = time.monotonic() + time_limit
        per = max(1, appends // n_threads)

        def worker():
            for _ in range(per):
                if time.monotonic() > deadline:
                    return
                t = time.perf_counter()
                log.append(make_leaf(blob), blob)
                dt = time.perf_counter() - t
                with lock:
                    lat.append(dt)

        t0 = time.perf_counter()
        ths = [threading.Thread(target=worker) for _ in range(n_threads)]
        [t.start() for t in ths]
        [t.join() for t in ths]
        wall = time.perf_counter() - t0
        out[mode] = {"threads": n_threads, "appends": len(lat), "commits": log.commits,
                     "appends_per_s": len(lat) / wall, "latency_ms_p50": 1e3 * percentile(lat, 50),
                     "latency_ms_p99": 1e3 * percentile(lat, 99),
                     "db_bytes": os.path.getsize(os.path.join(d, "log.db"))}
        log.close()
        shutil.rmtree(d)
    return out


def serve_child(keydir, proof, db, port):
    """The service with a canned proof in place of the proving pool (this script, --serve)."""
    import concurrent.futures as cf

    import uvicorn

    from snarkgpt.model.statement import parse_proof_file
    from snarkgpt.server import Service, create_app
    blob = open(proof, "rb").read()
    _, st, _ = parse_proof_file(blob)
    canned = {"prompt_tokens": list(st.prompt), "output_tokens": list(st.output), "text": None,
              "proof_file": blob, "valid": True, "prove_seconds": 0.0, "worker_pid": os.getpid(),
              "worker_maxrss_kib": 0}
    svc = Service(keydir, queue=256, per_client=256, transparency_log=db or None)
    svc.job_function = lambda prompt, n: canned
    svc.executor = cf.ThreadPoolExecutor(4)
    uvicorn.run(create_app(svc), host="127.0.0.1", port=port, log_level="error")


def get_json(url, data=None, timeout=30):
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def bench_http(keydir, proof, with_log, requests, concurrency, time_limit):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = tempfile.mkdtemp(prefix="tlog-http-")
    db = os.path.join(d, "log.db") if with_log else ""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", keydir, proof,
                             db, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                get_json(url + "/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the benchmark server did not start: "
                                     + proc.stderr.read().decode()[-2000:])
                time.sleep(0.1)
        rng = random.Random(0)
        bodies = [json.dumps({"prompt_tokens": [rng.randrange(8) for _ in range(rng.randint(1, 3))],
                              "max_new_tokens": 1}).encode() for _ in range(requests)]
        lat, errors, lock = [], [], threading.Lock()
        stop = time.monotonic() + time_limit

        def one(body):
            if time.monotonic() > stop:
                return
            t = time.perf_counter()
            try:
                status, res = get_json(url + "/generate?wait=10", body)
                if status != 200 or (with_log and "log" not in res):
                    raise RuntimeError(f"HTTP {status}")
            except Exception as e:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                return
            dt = time.perf_counter() - t
            with lock:
                lat.append(dt)

        for b in bodies[:concurrency]:      # warm-up: connections, first commits
            one(b)
        lat.clear()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as ex:
            list(ex.map(one, bodies))
        wall = time.perf_counter() - t0
        health = get_json(url + "/health")[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(d)
    out = {"transparency_log": with_log, "requests": len(bodies), "answered": len(lat),
           "errors": len(errors), "first_errors": errors[:3], "concurrency": concurrency,
           "answers_per_s": len(lat) / wall, "latency_ms_p50": 1e3 * percentile(lat, 50),
           "latency_ms_p99": 1e3 * percentile(lat, 99),
           "latency_ms_mean": 1e3 * statistics.fmean(lat) if lat else None}
    tl = health.get("transparency_log")
    if tl:
        out.update(log_size=tl["size"], log_commits=tl["commits"],
                   appends_per_s=tl["appends"] / wall,
                   log_ms_p50=tl["append_ms_p50"], log_ms_p99=tl["append_ms_p99"])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", required=True, help="a generation key directory")
    ap.add_argument("--appends", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=120.0, help="seconds per phase")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not (1 <= args.appends <= 20000 and 1 <= args.requests <= 5000
            and 1 <= args.threads <= 64 and 1 <= args.concurrency <= 64):
        ap.error("bounds: --appends 1..20000, --requests 1..5000, --threads/--concurrency 1..64")
    d = tempfile.mkdtemp(prefix="tlog-proof-")
    try:
        proof = os.path.join(d, "p.sgp")
        fp = make_proof(args.keys, proof)
        blob = open(proof, "rb").read()
        res = {"proof_file_bytes": len(blob), "disk": bench_fsync(len(blob)),
               "store": bench_store(blob, fp, args.appends, args.threads, args.time_limit),
               "http_without_log": bench_http(args.keys, proof, False, args.requests,
                                              args.concurrency, args.time_limit),
               "http_with_log": bench_http(args.keys, proof, True, args.requests,
                                           args.concurrency, args.time_limit)}
    finally:
        shutil.rmtree(d)
    a, b = res["http_without_log"], res["http_with_log"]
    res["added_latency_ms_p50"] = b["latency_ms_p50"] - a["latency_ms_p50"]
    if args.json:
        print(json.dumps(res))
        return 0
    print(f"proof file: {len(blob)} bytes; the disk: write + fsync of that p50 "
          f"{res['disk']['fsync_ms_p50']:.2f} ms, p99 {res['disk']['fsync_ms_p99']:.2f} ms")
    for mode, r in res["store"].items():
        print(f"store, {mode} ({r['threads']} thread(s)): {r['appends_per_s']:.0f} appends/s, "
              f"{r['commits']} commits for {r['appends']} appends, latency p50 "
              f"{r['latency_ms_p50']:.2f} ms p99 {r['latency_ms_p99']:.2f} ms")
    for r in (a, b):
        print(f"HTTP {'with' if r['transparency_log'] else 'without'} the log, {r['concurrency']} "
              f"clients: {r['answers_per_s']:.0f} answers/s, latency p50 {r['latency_ms_p50']:.2f}"
              f" ms p99 {r['latency_ms_p99']:.2f} ms, {r['errors']} errors")
    print(f"logging per answer in the server: p50 {b['log_ms_p50']:.2f} ms, p99 "
          f"{b['log_ms_p99']:.2f} ms; {b['appends_per_s']:.0f} appends/s in {b['log_commits']} "
          f"commits; added latency (p50 with - without): {res['added_latency_ms_p50']:.2f} ms")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        serve_child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        sys.exit(main())
