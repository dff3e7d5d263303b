"""Load test of `snarkgpt serve`, on the loopback interface only.

    python benchmarks/load_test.py --keys KEYDIR [--requests 8] [--concurrency 4]
                                   [--workers 2] [--queue 8] [--time-limit 600] [--verify]
    python benchmarks/load_test.py --url http://127.0.0.1:8000 ...   (a server already running)

Starts a server on a free 127.0.0.1 port (unless --url is given), sends `--requests` requests
from `--concurrency` client threads (each waits for its proof; 429 answers are retried after
Retry-After), and reports requests per minute, latency p50/p95/p99 (request sent to proof
received), and the peak memory of the server process and of its largest worker. Bounded in
count (at most 200 requests, 32 clients) and time (--time-limit: clients stop sending and
give up waiting after it). With --verify every proof is also verified by the client.
"""
import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from snarkgpt import client  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[i]


def proc_peak_kib(pid):
    """VmHWM of a process and its children (Linux /proc), in KiB; None where unavailable."""
    def hwm(p):
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
    kids = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            kids += open(f"/proc/{pid}/task/{t}/children").read().split()
    except OSError:
        pass
    return hwm(pid), [h for h in (hwm(k) for k in kids) if h]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", help="start a server for this key directory")
    ap.add_argument("--url", help="use a running server (loopback only)")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument("--verify", action="store_true", help="verify every proof in the client too")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not 1 <= args.requests <= 200 or not 1 <= args.concurrency <= 32:
        ap.error("--requests must be 1..200 and --concurrency 1..32")
    if bool(args.keys) == bool(args.url):
        ap.error("give exactly one of --keys or --url")

    server = None
    if args.keys:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
        from test_server import Server   # the tests' subprocess helper (free loopback port)
        t = time.perf_counter()
        # every request comes from 127.0.0.1: one client may use the whole capacity here
        server = Server(args.keys, workers=args.workers, queue=args.queue,
                        per_client=args.workers + args.queue)
        url = server.url
        # wait until the workers have built their proving keys, so start-up is not timed
        while True:
            h = client._json(client._request(url + "/health")[2], url)
            if h["workers_ready"] >= args.workers:
                break
            if h.get("pool_broken"):
                raise SystemExit("a worker died while building its proving key: " + server.output()[-2000:])
            if time.perf_counter() - t > args.time_limit:
                raise SystemExit("workers did not become ready within the time limit")
            time.sleep(1)
        startup = time.perf_counter() - t
    else:
        url = args.url.rstrip("/")
        if urllib.parse.urlsplit(url).hostname not in LOOPBACK:
            ap.error("load tests run against loopback servers only (127.0.0.1, localhost, ::1)")
        startup = None
    try:
        card, vk, fp, _ = client.load_key(url)
        V, L = int(card["config"]["vocab_size"]), int(card["max_tokens"])
        n_new = max(1, min(args.max_new_tokens, L - 1))
        rng = random.Random(0)
        # distinct prompts (identical requests in flight would share a proof), while there are any
        reqs, seen = [], set()
        for _ in range(50 * args.requests):
            p = tuple(rng.randrange(V) for _ in range(rng.randint(1, L - n_new)))
            if p not in seen or len(seen) >= V ** (L - n_new):
                seen.add(p)
                reqs.append(list(p))
            if len(reqs) == args.requests:
                break
        deadline = time.monotonic() + args.time_limit
        lat, errors, rejected = [], [], 0
        lock = threading.Lock()

        def one(prompt):
            nonlocal rejected
            left = deadline - time.monotonic()
            if left <= 0:
                return
            t0 = time.perf_counter()
            try:
                res = client.submit(url, prompt, n_new, timeout=left, poll=5)
                dt = time.perf_counter() - t0
                if args.verify:
                    client.check_result(card, vk, fp, prompt, n_new, res)
            except client.Rejected as e:
                with lock:
                    rejected += 1
                    errors.append(str(e))
                return
            except Exception as e:
                with lock:
                    errors.append(f"{type(e).__name__}: {e}")
                return
            with lock:
                lat.append(dt)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as ex:
            list(ex.map(one, reqs))
        wall = time.perf_counter() - t0
        health = client._json(client._request(url + "/health")[2], url)
        peak = proc_peak_kib(server.proc.pid) if server else (None, [])
    finally:
        if server:
            server.stop()
    res = {
        "requests": args.requests, "concurrency": args.concurrency, "completed": len(lat),
        "errors": len(errors), "rejected": rejected, "workers": health["workers"],
        "queue": health["queue"], "k": card.get("k"), "max_new_tokens": n_new,
        "wall_s": wall, "startup_s": startup,
        "requests_per_min": 60 * len(lat) / wall if wall > 0 else 0.0,
        "latency_s": {"p50": percentile(lat, 50), "p95": percentile(lat, 95),
                      "p99": percentile(lat, 99), "mean": statistics.fmean(lat) if lat else None},
        "busy_429": health.get("busy"), "coalesced": health.get("coalesced"),
        "peak_rss_mib": {
            "server": (peak[0] or health["peak_rss_kib"]["server"]) / 1024,
            "worker_max": max(peak[1] + [health["peak_rss_kib"]["worker_max"]]) / 1024},
        "first_errors": errors[:3],
    }
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{res['completed']}/{args.requests} proofs ({res['errors']} errors) with "
              f"{args.concurrency} clients, {res['workers']} workers, queue {res['queue']}, "
              f"k={res['k']}: {res['requests_per_min']:.2f} requests/min over {wall:.1f} s")
        la = res["latency_s"]
        print(f"latency p50 {la['p50']:.1f} s  p95 {la['p95']:.1f} s  p99 {la['p99']:.1f} s")
        print(f"peak memory: server {res['peak_rss_mib']['server']:.0f} MiB, largest worker "
              f"{res['peak_rss_mib']['worker_max']:.0f} MiB; 429 answers: {res['busy_429']}; "
              f"requests that joined an identical job: {res['coalesced']}")
        if startup is not None:
            print(f"start-up (workers building proving keys): {startup:.1f} s")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
