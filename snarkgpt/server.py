"""`snarkgpt serve`: the generation-proof service over HTTP.

    GET  /health           liveness, worker readiness, queue occupancy, peak memory
    GET  /model            the public model card (fingerprint, config, public parameters,
                           tokenizer alphabet) and the verifying key, base64
    GET  /model/vk         the verifying key bytes (application/octet-stream)
    POST /generate[?wait=S]   {"prompt": str} or {"prompt_tokens": [int]}, "max_new_tokens": int
    GET  /jobs/{id}[?wait=S]  a job's state, or its result once proven
    GET  /log/head                                 the transparency log's latest signed head
    GET  /log/proof/inclusion?index=I&size=N       RFC 9162 inclusion proof of entry I in size N
    GET  /log/proof/consistency?old=M&new=N        RFC 9162 consistency proof from size M to N
    GET  /log/entries?start=S&end=E                entries S..E-1 (at most MAX_LOG_PAGE a page)

Every accepted request becomes a job. `POST /generate` answers 202 {"job": id, ...} with a
Location header, unless the job finishes within `wait` seconds (default 0, at most
--max-wait), in which case it answers 200 with the result. `GET /jobs/{id}` behaves the
same way (202 while queued or proving, 200 with the result). A result is

    {"job", "status": "done", "text", "prompt_tokens", "output_tokens", "fingerprint",
     "proof": base64 of the .sgp proof file, "prove_seconds", "queued_seconds"}

The proof file (see `model/statement.py`) is the authority: its header carries the
fingerprint, prompt and output tokens the proof attests; the other fields are conveniences.

With `--transparency-log PATH` every issued proof is also appended to a transparency log
(`snarkgpt/transparency/`, docs/transparency.md) before its answer is published, and the
result carries "log": {"index", "leaf" (base64), "inclusion" (hex hashes), "head" (the signed
tree head the proof leads to)}. A proof that cannot be logged is not issued (503). The card
announces the log's public key ("transparency_log"); the /log/* routes answer 404 without one.

Proving runs in a pool of `--workers` worker processes; each loads `Prover(keydir)` once
(the proving key is rebuilt at start, which takes a while) and then proves jobs one after
another. A request identical to one still being proven (same prompt, same number of new
tokens) joins that job: greedy decoding is deterministic, so both get the same proof. (A
client can therefore notice, by the answer's timing, that someone else asked the same thing
at the same moment.) At most `workers + queue` jobs are outstanding (queued or proving); beyond that the
service answers 429 with a Retry-After header, so memory use is bounded whatever the load.
One client (one IPv4 address, or one IPv6 /64) may hold at most `per_client` of those jobs
(default a quarter of them, at least one); beyond that it gets 429 with Retry-After too, so a
single client cannot fill the queue on its own.
Every issued proof is first verified by the worker that made it and then appended to the
audit log (`--log`), in the format of `snarkgpt verify --log`.

With `--cluster SPEC` (a segmented key; docs/cluster.md, "Serving on a cluster") the proofs
are made on a Ray cluster instead: the server connects once at start (`cluster.attach`) and
is the coordinator of every job. A job runs in one of `workers` threads of the server
process: it generates the tokens and computes the integer forward pass here, submits one Ray
task per segment (`cluster.prove`) and assembles and verifies the chain proof. `workers` is
then the number of proofs in flight on the cluster, by default enough to give every task
slot of the cluster a segment: ceil(slots / segments), where slots = the cluster's CPUs //
the CPUs of one task; that default follows the cluster as nodes join or leave (re-read at
most every CAPACITY_REFRESH_S seconds, when a request arrives). Before it answers /health,
the server has each task slot load the key directory once (`cluster.warm`): the first
request does not pay for the workers' start, and a node that cannot read the keys (or has no
GPU under `--device cuda`) stops the server before it serves. The queue, the 429 answers and
Retry-After work as with the local pool.
A key that is one circuit has nothing to spread: it is proven by the local pool, as without
`--cluster`. At shutdown the server disconnects (a `local` instance is stopped).

Bad requests get a 4xx answer {"error": "..."} that names the problem; the service keeps
serving. Request bodies are bounded while they stream in (413 as soon as more than `max_body`
bytes have arrived, or at once when Content-Length announces more), and JSON nested deeper
than MAX_JSON_DEPTH is refused (400) before it is parsed.

Framework: Starlette, served by uvicorn. The service has five routes and does its own input
validation (to give precise messages about tokens and lengths), so FastAPI's pydantic models
and generated docs would add a heavy dependency without removing code; Starlette is the
small ASGI toolkit FastAPI itself is built on.
"""
import asyncio
import base64
import concurrent.futures as cf
import concurrent.futures.process  # noqa: F401 - cf.process.BrokenProcessPool, before any pool
import ipaddress
import json
import math
import multiprocessing
import os
import re
import resource
import tempfile
import threading
import time
import uuid
from collections import OrderedDict

MAX_BODY = 64 * 1024            # default bound on a request body (413 beyond it), while streaming
MAX_JSON_DEPTH = 32             # request bodies nest 2 deep; deeper than this is refused (400)
KEEP_FINISHED = 1024            # finished jobs kept for polling (oldest dropped first)
CAPACITY_REFRESH_S = 10.0       # --cluster: re-read the cluster's task slots at most this often
MAX_IN_FLIGHT = 64              # --cluster: the most proofs in flight however large the cluster
MAX_LOG_PAGE = 64               # log entries per /log/entries answer (each holds a proof file)
# the card as served: every field the verifying key binds (clients check them against it,
# `model.keys.check_published`) and the readable extras
PUBLIC_CARD_FIELDS = ("fingerprint", "version", "k", "tokenizer", "srs_digest", "statement",
                      "max_tokens", "config", "gelu", "quant_settings", "weights", "compact_layout",
                      "mm_lanes", "insecure_setup", "srs", "quantization", "segments",
                      "weight_width")


class RequestError(Exception):
    """A request the service refuses: HTTP status and a message naming the problem."""

    def __init__(self, status: int, message: str, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# ------------------------------------------------------------------ request limits

# A refusal sent before the whole body was read closes the connection: otherwise the server
# would go on receiving (and discarding) the rest of the body for the client's sake.
_CLOSE = {"Connection": "close"}


def declared_length(headers, limit: int):
    """The Content-Length header as an int (None when absent), checked before any of the body
    is read: 400 unless it is a plain decimal number, 413 at once when it announces more than
    `limit` bytes."""
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise RequestError(400, f"malformed Content-Length header: {raw[:40]!r}", _CLOSE)
    n = int(raw)
    if n > limit:
        raise RequestError(413, f"request body of {n} bytes exceeds the limit of {limit} bytes",
                           _CLOSE)
    return n


async def read_body(request, limit: int) -> bytes:
    """The request body, read chunk by chunk: 413 as soon as more than `limit` bytes have
    arrived, so a body without Content-Length (chunked) is never held beyond the limit plus
    the piece that crossed it (at most uvicorn's read buffer, which stops reading at 64 KiB,
    plus one socket read). Content-Length is checked first (`declared_length`)."""
    from starlette.requests import ClientDisconnect
    declared_length(request.headers, limit)
    chunks, total = [], 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > limit:
                raise RequestError(413, f"request body exceeds the limit of {limit} bytes "
                                        f"(refused after {total} bytes; the rest was not read)",
                                   _CLOSE)
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestError(400, "the client disconnected before sending the whole body",
                           _CLOSE) from None
    return b"".join(chunks)


# a JSON string (escapes included; an unterminated one runs to the end of the text) or one
# bracket; anything else is skipped. The string branch cannot fail once it has seen its opening
# quote, so the regex never backtracks and the scan stays linear whatever the quotes and
# backslashes (a branch that had to find the closing quote was quadratic: 4.6 s for 40 KB).
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\[\s\S]?[^"\\]*)*"?|[\[\]{}]')


def check_json_depth(text: str, max_depth: int = MAX_JSON_DEPTH):
    """RequestError(400) when arrays/objects nest deeper than `max_depth`.

    One linear pass over the brackets outside strings, without recursion, so it runs before
    `json.loads` (whose recursive parser fails with RecursionError on deep nesting). Up to the
    first syntax error the scan and the parser see the same strings and brackets, and the
    parser stops at that error, so it never nests deeper than the scan allowed."""
    depth = 0
    for m in _JSON_NESTING.finditer(text):
        c = m.group()
        if c in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise RequestError(400, f"JSON nested deeper than {max_depth} levels (at "
                                        f"character {m.start()}); request bodies are flat objects")
        elif c in ("]", "}"):
            depth -= 1


def client_key(host) -> str:
    """Who a job counts against for the per-client limit: the client's IPv4 address, or the /64
    network of an IPv6 address (one host usually holds a whole /64, and could otherwise take
    a fresh address for every request). Anything else (no address, a Unix socket) is kept
    as given."""
    if not host:
        return "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


# ------------------------------------------------------------------ worker processes

_PROVER = None
_INIT_ERROR = None


class WorkerStartError(ValueError):
    """A worker could not build the proving key (stale or inconsistent key directory)."""


def _init_worker(keydir):
    """Runs once in every worker process: build the proving key for the key directory.

    A failure is kept and reported by every job (an initializer that raises would only
    leave a broken pool behind, with the reason lost in the worker's stderr)."""
    global _PROVER, _INIT_ERROR
    from . import device
    from .model.keys import Prover
    try:
        device.install()                  # $SNARKGPT_DEVICE, set by `snarkgpt serve --device`
        _PROVER = Prover(keydir, progress=lambda msg: None)
    except Exception as e:  # noqa: BLE001 - reported through the jobs
        _INIT_ERROR = f"{type(e).__name__}: {e}"


def _ready() -> int:
    """A no-op job: done once the worker's initializer (the proving key) has finished."""
    if _INIT_ERROR is not None:
        raise WorkerStartError(_INIT_ERROR)
    return os.getpid()


def _prove_job(prompt_tokens, max_new_tokens) -> dict:
    """Generate greedily, prove, check the proof, and return the proof file's bytes."""
    if _INIT_ERROR is not None:
        raise WorkerStartError(_INIT_ERROR)
    p = _PROVER
    t = time.perf_counter()
    st = p.generate(prompt_tokens, max_new_tokens)
    proof = p.prove(st)
    return _job_result(p, st, proof, time.perf_counter() - t)


def _job_result(p, st, proof, prove_s) -> dict:
    """A job's result: the proof checked against the verifying key, its proof file's bytes,
    the tokens, the text and the proving time; `p` is the `Prover` that made it."""
    from .model.keys import verify_statement
    from .model.statement import write_proof_file
    valid = bool(verify_statement(p.vk, st, proof))
    text = _decode(p.card, st.output)
    fd, tmp = tempfile.mkstemp(suffix=".sgp")
    os.close(fd)
    try:
        write_proof_file(tmp, p.card["fingerprint"], st, proof, text=text)
        with open(tmp, "rb") as f:
            data = f.read()
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"prompt_tokens": list(map(int, st.prompt)), "output_tokens": list(map(int, st.output)),
            "text": text, "proof_file": data, "valid": valid, "prove_seconds": prove_s,
            "worker_pid": os.getpid(),
            "worker_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def _decode(card, tokens):
    if not card.get("tokenizer"):
        return None
    from .model.tokenizer import tokenizer_from_card
    return tokenizer_from_card(card["tokenizer"]).decode(list(tokens))


# ------------------------------------------------------------------ the service

class Job:
    def __init__(self, prompt_tokens, max_new_tokens, client="unknown"):
        self.id = uuid.uuid4().hex
        self.client = client     # `client_key` of the client that asked first
        self.prompt_tokens = prompt_tokens
        self.max_new_tokens = max_new_tokens
        self.created = time.time()
        self.future = None
        self.started = None      # --cluster: set once the job holds a slot of the cluster
        self.result = None       # the JSON answer once done
        self.error = None        # (status, message) when the job failed
        # done once `result` or `error` is set: after the proof is logged, when there is a log
        self.published = cf.Future()

    def publish(self):
        if not self.published.done():
            self.published.set_result(None)

    @property
    def status(self) -> str:
        if self.result is not None:
            return "done"
        if self.error is not None:
            return "failed"
        if self.future is not None and self.future.done():
            return "logging"     # proven; waiting for its transparency log commit
        running = self.future is not None and self.future.running()
        if self.started is not None:        # a coordinator thread may wait for its slot
            running = running and self.started.is_set()
        return "proving" if running else "queued"


class Gate:
    """At most `limit` holders at once; the limit can change while jobs wait (a cluster that
    grows lets more of them in, one that shrinks lets none in until enough have left)."""

    def __init__(self, limit: int):
        self.limit, self.held = int(limit), 0
        self.cond = threading.Condition()

    def set_limit(self, limit: int) -> None:
        with self.cond:
            self.limit = int(limit)
            self.cond.notify_all()

    def acquire(self, cancel=None) -> bool:
        """Wait for a place; False if ``cancel`` (a threading.Event) is set first."""
        with self.cond:
            while self.held >= self.limit:
                if cancel is not None and cancel.is_set():
                    return False
                self.cond.wait(0.5)
            self.held += 1
            return True

    def release(self) -> None:
        with self.cond:
            self.held -= 1
            self.cond.notify_all()


class Service:
    """The state behind the routes: the public card, the worker pool, the jobs."""

    # what a worker runs for a job (a benchmark of the log replaces it with a canned proof)
    job_function = staticmethod(_prove_job)

    def __init__(self, keydir, workers=1, queue=8, log=None, max_wait=60.0, per_client=None,
                 max_body=MAX_BODY, transparency_log=None, cluster=None,
                 cluster_keys="shared"):
        """`per_client`: jobs one client may have outstanding (default a quarter of
        `workers + queue`, at least 1); `max_body`: the largest request body accepted;
        `transparency_log`: the path of the log's database (opened, and checked, here: a
        log that cannot be vouched for stops the server before it serves); `cluster`: a
        `--cluster` spec (snarkgpt/cluster.py) whose nodes prove the segments, connected to
        at `start`; then `workers` is the number of proofs in flight on the cluster (None:
        ceil(task slots / segments)). `workers` None without a cluster: 1."""
        from .model.keys import VK, kind_error, load_verifier, statement_kind
        if workers is not None and workers < 1:
            raise ValueError(f"--workers must be at least 1, got {workers}")
        if queue < 0:
            raise ValueError(f"--queue must be 0 or more, got {queue}")
        if per_client is not None and per_client < 1:
            raise ValueError(f"--per-client must be at least 1, got {per_client}")
        if max_body < 1:
            raise ValueError(f"the request body limit must be at least 1 byte, got {max_body}")
        self.keydir = os.fspath(keydir)
        self.card, _ = load_verifier(self.keydir)      # checks digest(vk) == fingerprint
        if statement_kind(self.card) != "generate":     # the server proves generations only
            raise ValueError(f"{self.keydir}: {kind_error(statement_kind(self.card))}")
        for f in ("model.npz", "srs.npz"):
            if not os.path.exists(os.path.join(self.keydir, f)):
                raise ValueError(f"{self.keydir}: {f} missing: a prover needs the full key directory")
        with open(os.path.join(self.keydir, VK), "rb") as f:
            self.vk_bytes = f.read()
        self.public_card = {k: self.card[k] for k in PUBLIC_CARD_FIELDS if k in self.card}
        self.public_card["vk"] = base64.b64encode(self.vk_bytes).decode()
        self.public_card["vk_url"] = "/model/vk"
        self.tokenizer = None
        if self.card.get("tokenizer"):
            from .model.tokenizer import tokenizer_from_card
            self.tokenizer = tokenizer_from_card(self.card["tokenizer"])
        self.vocab = int(self.card["config"]["vocab_size"])
        self.max_tokens = int(self.card["max_tokens"])
        self.workers, self.queue, self.log, self.max_wait = workers or 1, queue, log, float(max_wait)
        self._auto_workers = workers is None
        self._per_client = per_client
        self._set_capacity()
        # --cluster: only a segmented key has segments to spread; one circuit stays local
        if cluster is not None:
            from .cluster import check_key_mode, parse_spec
            parse_spec(cluster)          # the form, before anything starts (ClusterError)
            check_key_mode(cluster_keys)
        self.cluster_keys = cluster_keys
        self.cluster = cluster if cluster is not None and self.card.get("segments") else None
        self.cluster_skipped = cluster is not None and self.cluster is None
        self.cluster_info = None     # the connected cluster's nodes, CPUs and task slots
        self.task_cpus = None        # CPUs per segment task, once connected
        self.gate = None             # proofs in flight on the cluster (`workers` of them)
        self.capacity_read = 0.0     # when the cluster's task slots were last read
        self.coordinator = None      # the server's own Prover (generation, forward pass)
        self.stopping = threading.Event()   # set: coordinator threads leave the cluster
        self.max_body = int(max_body)
        self.lock = threading.Lock()
        self.jobs = OrderedDict()
        self.inflight = {}           # (prompt, max new tokens) -> the job proving it
        self.outstanding = 0
        self.by_client = {}          # client_key -> its jobs outstanding (queued or proving)
        self.counts = {"accepted": 0, "served": 0, "failed": 0, "busy": 0, "client_limited": 0,
                       "bad_requests": 0, "coalesced": 0, "pool_restarts": 0}
        self.job_seconds = []        # recent proving times, for Retry-After
        self.worker_maxrss = 0
        self.executor = None
        self.warmup = []
        self.tlog = None
        self.log_seconds = []        # recent times to log an answer (append + proof)
        if transparency_log is not None:
            from .transparency.store import TransparencyLog
            self.tlog = TransparencyLog(transparency_log, self.card["fingerprint"])
            self.public_card["transparency_log"] = {
                "public_key": self.tlog.key.public_key.hex(), "log_id": self.tlog.key.log_id,
                "signature": "Ed25519", "tree": "RFC 9162, SHA-256", "head_url": "/log/head"}

    def _set_capacity(self):
        """Jobs outstanding at most (proving or queued), and each client's share of them."""
        self.capacity = self.workers + self.queue
        self.per_client = (max(1, self.capacity // 4) if self._per_client is None
                           else int(self._per_client))

    # -- lifecycle
    def start(self):
        if self.executor is not None:
            return
        if self.cluster is not None:
            return self._start_cluster()
        # spawn, not fork: the server process runs threads (uvicorn, the pool's manager)
        ctx = multiprocessing.get_context("spawn")
        self.executor = cf.ProcessPoolExecutor(self.workers, mp_context=ctx,
                                               initializer=_init_worker, initargs=(self.keydir,))
        # one no-op job per worker starts the processes now rather than at the first request
        self.warmup = [self.executor.submit(_ready) for _ in range(self.workers)]

    def _start_cluster(self):
        """Connect to the cluster (once: a restart keeps the connection), size the proofs in
        flight from its task slots when `workers` was not given, and start the coordinator
        threads; the first one builds the server's `Prover` (no proving keys: the tasks
        build their segments' keys)."""
        from . import cluster
        if self.task_cpus is None:
            self.task_cpus = cluster.attach(self.cluster)
            self.refresh_capacity(force=True)
        self.stopping.clear()
        self.gate = Gate(self.workers)
        # threads for as many proofs as the cluster may ever take; `gate` bounds how many run
        self.executor = cf.ThreadPoolExecutor(max(MAX_IN_FLIGHT, self.workers),
                                              thread_name_prefix="snarkgpt-coordinator")
        self.warmup = [self.executor.submit(self._load_coordinator),
                       self.executor.submit(self._warm_workers)]

    def refresh_capacity(self, force: bool = False) -> None:
        """Re-read the cluster's task slots (at most every CAPACITY_REFRESH_S seconds unless
        ``force``) and, when `workers` was not given, follow them: ceil(slots / segments)
        proofs in flight (at most MAX_IN_FLIGHT), and the capacity with them. A cluster that
        does not answer keeps the last figures."""
        from . import cluster
        now = time.monotonic()
        if not force and now - self.capacity_read < CAPACITY_REFRESH_S:
            return
        self.capacity_read = now
        try:
            import ray
            slots = cluster.task_slots(self.task_cpus)
            nodes = sum(1 for x in ray.nodes() if x.get("Alive"))
            cpus = int(ray.cluster_resources().get("CPU", 0))
        except Exception:  # noqa: BLE001 - a transient failure: keep serving with what we had
            if force:
                raise
            return
        n = len(self.card["segments"])
        with self.lock:
            if self._auto_workers:
                self.workers = min(MAX_IN_FLIGHT, max(1, -(-slots // n)))
                self._set_capacity()
                if self.gate is not None:
                    self.gate.set_limit(self.workers)
            self.cluster_info = dict(self.cluster_info or {}, **{
                "spec": self.cluster, "nodes": nodes, "cpus": cpus, "task_cpus": self.task_cpus,
                "task_slots": slots, "segments": n, "proofs_in_flight": self.workers})

    def _warm_workers(self) -> int:
        """Have every task slot of the cluster load the key directory (`cluster.warm`)."""
        from . import cluster
        slots = (self.cluster_info or {}).get("task_slots", 1)
        t = time.perf_counter()
        out = cluster.warm(self.keydir, self.task_cpus, slots, keys=self.cluster_keys)
        with self.lock:
            self.cluster_info["warmed"] = {
                "tasks": len(out), "processes": len({o["node"] for o in out}),
                "devices": sorted({o["device"] for o in out}),
                "seconds": round(time.perf_counter() - t, 3)}
        return os.getpid()

    def _load_coordinator(self) -> int:
        """Build the server's own Prover (once): it generates and runs the forward pass."""
        if self.coordinator is None:
            from .model.keys import Prover
            self.coordinator = Prover(self.keydir, progress=lambda msg: None, keep_keys=False)
        return os.getpid()

    def _cluster_job(self, job, prompt_tokens, max_new_tokens) -> dict:
        """One job on the cluster, in a coordinator thread: wait for one of the `workers`
        places (`gate`), generate and compute the forward pass here, prove every segment as
        a Ray task (`cluster.prove`), check the chain proof and return it as `_prove_job`
        does."""
        from . import cluster
        try:
            self.warmup[0].result()
        except Exception as e:  # noqa: BLE001 - reported through the job
            raise WorkerStartError(f"{type(e).__name__}: {e}") from None
        gate = self.gate
        if not gate.acquire(cancel=self.stopping):
            raise cf.CancelledError()                   # 503: shutting down
        try:
            job.started.set()
            p = self.coordinator
            t = time.perf_counter()
            st = p.generate(prompt_tokens, max_new_tokens)
            try:
                proof = cluster.prove(p, st, self.task_cpus, cancel=self.stopping,
                                      keys=self.cluster_keys)
            except cluster.ClusterError:
                if self.stopping.is_set():
                    raise cf.CancelledError() from None     # 503: shutting down
                raise
            return _job_result(p, st, proof, time.perf_counter() - t)
        finally:
            gate.release()

    def wait_ready(self):
        """Block until every worker has built its proving key; raise `WorkerStartError` (and
        stop the pool) if one could not: a server that cannot prove must not start."""
        for f in self.warmup:
            try:
                f.result()
            except Exception as e:  # noqa: BLE001
                self.stop()
                raise WorkerStartError(f"{self.keydir}: a worker could not load the keys: {e}") from None

    def restart_pool(self):
        with self.lock:
            self.counts["pool_restarts"] += 1
        self.stop()
        self.start()

    def stop(self):
        ex, self.executor = self.executor, None
        if ex is None:
            return
        procs = list((getattr(ex, "_processes", None) or {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for p in procs:          # do not wait for proofs in progress: nobody will collect them
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        if isinstance(ex, cf.ThreadPoolExecutor):
            # coordinator threads: their proofs stop (tasks cancelled) within half a second,
            # and none may use the cluster after `close` disconnects from it
            self.stopping.set()
            ex.shutdown(wait=True)

    # -- validation
    def parse_request(self, body: bytes):
        """(prompt tokens, max new tokens) from a request body, or RequestError."""
        req = self.parse_json(body)
        if not isinstance(req, dict):
            raise RequestError(400, f"the body must be a JSON object, got {type(req).__name__}")
        allowed = {"prompt", "prompt_tokens", "max_new_tokens"}
        extra = sorted(set(req) - allowed)
        if extra:
            raise RequestError(422, f"unknown field(s): {', '.join(extra)}; allowed: "
                                    "prompt or prompt_tokens, and max_new_tokens")
        if ("prompt" in req) == ("prompt_tokens" in req):
            raise RequestError(422, "give exactly one of prompt (text) or prompt_tokens (integers)")
        if "max_new_tokens" not in req:
            raise RequestError(422, "missing field: max_new_tokens")
        n = req["max_new_tokens"]
        if isinstance(n, bool) or not isinstance(n, int):
            raise RequestError(422, f"max_new_tokens must be an integer, got {json.dumps(n)[:40]}")
        if n < 1:
            raise RequestError(422, f"max_new_tokens must be at least 1, got {n}")
        if n >= self.max_tokens:
            raise RequestError(422, f"max_new_tokens {n} is too large: prompt + new tokens must fit "
                                    f"in this model's {self.max_tokens} tokens (with at least "
                                    "one prompt token)")
        if "prompt" in req:
            text = req["prompt"]
            if not isinstance(text, str):
                raise RequestError(422, "prompt must be a string")
            if self.tokenizer is None:
                raise RequestError(422, "this model has no tokenizer: send prompt_tokens")
            if len(text) > self.max_tokens:
                raise RequestError(422, f"the prompt has {len(text)} characters; this model takes at "
                                        f"most {self.max_tokens} tokens in all")
            from .model.tokenizer import TokenizerError
            try:
                toks = self.tokenizer.encode(text)
            except TokenizerError as e:
                raise RequestError(422, f"prompt: {e}") from None
        else:
            toks = req["prompt_tokens"]
            if not isinstance(toks, list):
                raise RequestError(422, "prompt_tokens must be a list of integers")
            for i, t in enumerate(toks):
                if isinstance(t, bool) or not isinstance(t, int):
                    raise RequestError(422, f"prompt_tokens[{i}] must be an integer, "
                                            f"got {json.dumps(t)[:40]}")
                if not 0 <= t < self.vocab:
                    raise RequestError(422, f"prompt_tokens[{i}] = {t} is outside the vocabulary "
                                            f"[0, {self.vocab})")
        if not toks:
            raise RequestError(422, "the prompt is empty: at least one token is needed")
        if len(toks) + n > self.max_tokens:
            raise RequestError(422, f"prompt ({len(toks)}) + max_new_tokens ({n}) = {len(toks) + n} "
                                    f"exceeds this model's maximum of {self.max_tokens} tokens")
        return list(toks), n

    def parse_json(self, body: bytes):
        """The body's JSON value: at most `max_body` bytes (413), UTF-8 (RFC 8259) and nested at
        most MAX_JSON_DEPTH deep (checked before parsing), else 400."""
        if len(body) > self.max_body:
            raise RequestError(413, f"request body of {len(body)} bytes exceeds the limit of "
                                    f"{self.max_body} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError(400, f"malformed JSON: the body is not UTF-8 ({e})") from None
        check_json_depth(text)
        try:
            return json.loads(text)
        except ValueError as e:
            raise RequestError(400, f"malformed JSON: {e}") from None
        except RecursionError:      # not reached after check_json_depth; kept as a backstop
            raise RequestError(400, "JSON nested too deeply") from None

    # -- jobs
    def retry_after(self) -> int:
        """Seconds until a slot is likely free: queued work spread over the workers."""
        with self.lock:
            recent = self.job_seconds[-16:]
            per_job = sum(recent) / len(recent) if recent else 10.0
            ahead = max(1, self.outstanding - self.workers + 1)
        return max(1, math.ceil(per_job * ahead / self.workers))

    def _admit(self, who: str):
        """Under the lock: take a slot for a new job of client `who`, or return the reason
        (a message) it cannot have one now: the whole queue (`capacity` jobs) is full, or the
        client already holds its `per_client` jobs."""
        if self.outstanding >= self.capacity:
            self.counts["busy"] += 1
            return f"the proving queue is full ({self.capacity} jobs outstanding); retry later"
        mine = self.by_client.get(who, 0)
        if mine >= self.per_client:
            self.counts["client_limited"] += 1
            return (f"per-client limit: this client ({who}) already has {mine} job(s) queued or "
                    f"proving, the most one client may hold ({self.per_client} of "
                    f"{self.capacity}); retry when one has finished")
        self.outstanding += 1
        self.by_client[who] = mine + 1
        self.counts["accepted"] += 1
        return None

    def _release(self, job: Job):
        """Under the lock: give back the slot `_admit` took for `job`."""
        self.outstanding -= 1
        left = self.by_client.get(job.client, 0) - 1
        if left > 0:
            self.by_client[job.client] = left
        else:
            self.by_client.pop(job.client, None)

    def submit(self, prompt_tokens, max_new_tokens, client=None) -> Job:
        """The job for this request: a new one, or the identical one already in flight.
        `client` is the client's address (see `client_key`); 429 when it or the queue is full."""
        if self.executor is None:
            raise RequestError(503, "the service is shutting down")
        if self.cluster is not None and self._auto_workers:
            self.refresh_capacity()      # a cluster that grew takes more jobs
        key = (tuple(prompt_tokens), int(max_new_tokens))
        who = client_key(client)
        with self.lock:
            # greedy decoding is deterministic: a request identical to one being proven gets
            # that job (and its proof) rather than a second proof of the same statement
            same = self.inflight.get(key)
            if same is not None and same.result is None and same.error is None:
                self.counts["coalesced"] += 1
                return same
            refused = self._admit(who)
        if refused:
            raise RequestError(429, refused, {"Retry-After": str(self.retry_after())})
        job = Job(prompt_tokens, max_new_tokens, who)
        fn, args = self._job_function(), (prompt_tokens, max_new_tokens)
        if self.cluster is not None:
            job.started = threading.Event()
            args = (job, *args)
        with self.lock:
            self.jobs[job.id] = job
            self.inflight[key] = job
            self._trim()
        try:
            try:
                job.future = self.executor.submit(fn, *args)
            except cf.process.BrokenProcessPool:
                # a worker died (killed, out of memory, a crash): start a fresh pool, once
                self.restart_pool()
                job.future = self.executor.submit(fn, *args)
        except Exception as e:      # still broken: answer, and keep the counters right
            with self.lock:
                self._release(job)
                self.inflight.pop(key, None)
                self.counts["failed"] += 1
            job.error = (503, f"the proving pool is unavailable: {e}")
            job.publish()
            return job
        job.future.add_done_callback(lambda fut, job=job: self._finished(job, fut))
        return job

    def _job_function(self):
        """What proves a job: a coordinator thread's `_cluster_job` with a cluster, else
        `job_function` in a worker process."""
        return self._cluster_job if self.cluster is not None else self.job_function

    def _trim(self):
        finished = [jid for jid, j in self.jobs.items() if j.status in ("done", "failed")]
        for jid in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[jid]

    def _finished(self, job: Job, fut):
        """In the pool's thread: check the result; hand it to the transparency log (which
        publishes it once it is durable) or publish it now."""
        try:
            res = fut.result()
        except cf.CancelledError:
            job.error = (503, "cancelled: the service is shutting down")
            res = None
        except cf.process.BrokenProcessPool as e:
            job.error = (503, f"a proving worker died ({e}); the pool restarts at the next request")
            res = None
        except Exception as e:
            job.error = (500, f"proving failed: {type(e).__name__}: {e}")
            res = None
        if res is not None and not res["valid"]:
            job.error = (500, "the worker produced a proof that does not verify; not issued")
            res = None
        if res is not None and self.tlog is not None:
            # durable before the answer is published: a proof that cannot be logged is not
            # issued. The pool's thread does not wait for the disk: the log's writer publishes.
            try:
                self.log_answer(res["proof_file"], lambda entry, why: self._publish(
                    job, res if entry is not None else None, entry, why))
            except ValueError as e:         # the log is closed, or the proof file unreadable
                self._publish(job, None, None, str(e))
            return
        self._publish(job, res)

    def _publish(self, job: Job, res, entry=None, log_error=None):
        """Make the job's answer (or its failure) visible, count it and free its slot."""
        if log_error is not None:
            job.error = (503, f"the answer could not be recorded in the transparency log "
                              f"({log_error}); not issued")
        if res is not None:
            if self.log:
                from . import audit
                try:
                    audit.append(self.log, audit.record_for(res["proof_file"], True))
                except OSError as e:   # the proof is still good; say so on the server's stderr
                    print(f"snarkgpt serve: cannot append to {self.log}: {e}", flush=True)
            job.result = {
                "job": job.id, "status": "done", "text": res["text"],
                "prompt_tokens": res["prompt_tokens"], "output_tokens": res["output_tokens"],
                "fingerprint": self.card["fingerprint"],
                "proof": base64.b64encode(res["proof_file"]).decode(),
                "prove_seconds": res["prove_seconds"],
                "queued_seconds": max(0.0, time.time() - job.created - res["prove_seconds"])}
            if entry is not None:
                job.result["log"] = entry
        with self.lock:
            self._release(job)
            key = (tuple(job.prompt_tokens), int(job.max_new_tokens))
            if self.inflight.get(key) is job:
                del self.inflight[key]
            if res is not None:
                self.counts["served"] += 1
                self.job_seconds = (self.job_seconds + [res["prove_seconds"]])[-64:]
                self.worker_maxrss = max(self.worker_maxrss, res["worker_maxrss_kib"])
            else:
                self.counts["failed"] += 1
        job.publish()

    def log_answer(self, proof_file: bytes, done):
        """Append an issued proof to the transparency log. Once it is on disk, `done(entry,
        None)` runs with what the client needs to check it is there (index, leaf, inclusion
        proof, the signed head of the commit that holds it); `done(None, reason)` if it could
        not be logged."""
        from .transparency.entries import make_leaf
        t = time.perf_counter()
        leaf = make_leaf(proof_file)

        def committed(index, head, error):
            if error is not None:
                return done(None, error)
            path = self.tlog.inclusion_proof(index, head["size"])
            with self.lock:
                self.log_seconds = (self.log_seconds + [time.perf_counter() - t])[-1024:]
            done({"index": index, "leaf": base64.b64encode(leaf).decode(),
                  "inclusion": [h.hex() for h in path], "head": head}, None)

        self.tlog.submit(leaf, proof_file, committed)

    def log_health(self) -> dict:
        """The log's size and the time logging took per answer (recent median and maximum)."""
        if self.tlog is None:
            return None
        recent = sorted(self.log_seconds)

        def ms(q):
            return 1e3 * recent[min(len(recent) - 1, int(q * len(recent)))] if recent else None
        return {"size": self.tlog.size, "appends": self.tlog.appends, "commits": self.tlog.commits,
                "log_id": self.tlog.key.log_id, "append_ms_p50": ms(0.5), "append_ms_p99": ms(0.99),
                "append_ms_max": 1e3 * recent[-1] if recent else None}

    def close(self):
        """Stop the pool, disconnect from the cluster (a local instance stops) and close the
        transparency log (its last commit is already on disk)."""
        self.stop()
        if self.task_cpus is not None:
            from . import cluster
            self.task_cpus = None
            cluster.detach()
        if self.tlog is not None:
            self.tlog.close()

    def health(self) -> dict:
        log = self.log_health()
        ready = sum(1 for f in self.warmup if f.done() and not f.exception())
        if self.cluster is not None:    # one coordinator Prover serves every thread
            ready = self.workers if self.warmup and ready == len(self.warmup) else 0
        with self.lock:
            return {
                "status": "ok", "fingerprint": self.card["fingerprint"],
                "workers": self.workers,
                "workers_ready": ready,
                "pool_broken": bool(getattr(self.executor, "_broken", False)),
                "queue": self.queue, "capacity": self.capacity, "outstanding": self.outstanding,
                "per_client": self.per_client, "clients": len(self.by_client),
                "max_body": self.max_body,
                **self.counts,
                "peak_rss_kib": {"server": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                 "worker_max": self.worker_maxrss},
                **({"transparency_log": log} if log is not None else {}),
                **({"cluster": self.cluster_info} if self.cluster_info is not None else {}),
            }


# ------------------------------------------------------------------ the ASGI app

def create_app(service: Service):
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def error(status, message, headers=None):
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    def wait_param(request) -> float:
        raw = request.query_params.get("wait", "0")
        try:
            w = float(raw)
        except ValueError:
            raise RequestError(400, f"wait must be a number of seconds, got {raw!r}") from None
        if not math.isfinite(w) or w < 0:
            raise RequestError(400, f"wait must be a non-negative number of seconds, got {raw!r}")
        return min(w, service.max_wait)

    async def answer(job: Job, wait: float):
        if not job.published.done() and wait > 0:
            # published by the pool's thread (or the log's writer, after its commit)
            await asyncio.wait({asyncio.wrap_future(job.published)}, timeout=wait)
        if job.result is not None:
            return JSONResponse(job.result)
        if job.error is not None:
            status, msg = job.error
            return JSONResponse({"job": job.id, "status": "failed", "error": msg}, status_code=status)
        return JSONResponse({"job": job.id, "status": job.status, "poll": f"/jobs/{job.id}"},
                            status_code=202, headers={"Location": f"/jobs/{job.id}"})

    async def health(request):
        return JSONResponse(service.health())

    async def model(request):
        return JSONResponse(service.public_card)

    async def model_vk(request):
        return Response(service.vk_bytes, media_type="application/octet-stream")

    def log_or_404():
        if service.tlog is None:
            raise RequestError(404, "this server keeps no transparency log (start it with "
                                    "--transparency-log)")
        return service.tlog

    def int_params(request, *names):
        out = []
        for name in names:
            raw = request.query_params.get(name)
            if raw is None:
                raise RequestError(400, f"missing query parameter {name}")
            if not (raw.isascii() and raw.isdigit()) or len(raw) > 19:
                raise RequestError(400, f"{name} must be a non-negative integer, got {raw[:40]!r}")
            out.append(int(raw))
        return out

    def log_route(fn):
        async def route(request):
            from .transparency.merkle import ProofError
            try:
                return JSONResponse(await fn(request, log_or_404()))
            except RequestError as e:
                return error(e.status, e.message)
            except ProofError as e:
                return error(400, str(e))
        return route

    @log_route
    async def log_head(request, tlog):
        return tlog.head

    @log_route
    async def log_inclusion(request, tlog):
        index, size = int_params(request, "index", "size")
        return {"index": index, "size": size,
                "inclusion": [h.hex() for h in tlog.inclusion_proof(index, size)]}

    @log_route
    async def log_consistency(request, tlog):
        old, new = int_params(request, "old", "new")
        return {"old": old, "new": new,
                "consistency": [h.hex() for h in tlog.consistency_proof(old, new)]}

    @log_route
    async def log_entries(request, tlog):
        from starlette.concurrency import run_in_threadpool
        start, end = int_params(request, "start", "end")
        size = tlog.size
        if not start < end:
            raise RequestError(400, f"start ({start}) must be less than end ({end})")
        if start >= size:
            raise RequestError(400, f"start {start} is beyond the log's size {size}")
        # a page is bounded: at most MAX_LOG_PAGE entries, fewer at the end of the log
        rows = await run_in_threadpool(tlog.entries, start, min(end, start + MAX_LOG_PAGE))
        return {"start": start, "end": start + len(rows), "size": size,
                "entries": [{"index": i, "leaf": base64.b64encode(leaf).decode(),
                             "proof": base64.b64encode(proof).decode()} for i, leaf, proof in rows]}

    async def generate(request: Request):
        try:
            wait = wait_param(request)
            body = await read_body(request, service.max_body)
            toks, n = service.parse_request(body)
            job = service.submit(toks, n, request.client.host if request.client else None)
        except RequestError as e:
            if e.status != 429:
                with service.lock:
                    service.counts["bad_requests"] += 1
            return error(e.status, e.message, e.headers)
        return await answer(job, wait)

    async def get_job(request: Request):
        try:
            wait = wait_param(request)
        except RequestError as e:
            return error(e.status, e.message)
        job = service.jobs.get(request.path_params["job_id"])
        if job is None:
            return error(404, "no such job (unknown id, or finished long ago and dropped)")
        return await answer(job, wait)

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.close()

    async def not_found(request, exc):
        return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")

    from starlette.exceptions import HTTPException
    app = Starlette(routes=[
        Route("/health", health, methods=["GET"]),
        Route("/model", model, methods=["GET"]),
        Route("/model/vk", model_vk, methods=["GET"]),
        Route("/generate", generate, methods=["POST"]),
        Route("/jobs/{job_id}", get_job, methods=["GET"]),
        Route("/log/head", log_head, methods=["GET"]),
        Route("/log/proof/inclusion", log_inclusion, methods=["GET"]),
        Route("/log/proof/consistency", log_consistency, methods=["GET"]),
        Route("/log/entries", log_entries, methods=["GET"]),
    ], lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.state.service = service
    return app


def serve(keydir, host="127.0.0.1", port=8000, workers=None, queue=8, log=None, max_wait=60.0,
          per_client=None, max_body=MAX_BODY, transparency_log=None, cluster=None,
          cluster_keys="shared"):
    """Run the service until interrupted (SIGINT/SIGTERM). `workers`: proving processes
    (default 1), or with `cluster` (a `--cluster` spec) proofs in flight on that cluster
    (default ceil(task slots / segments)); `cluster_keys`: how its workers get the key
    directory (`cluster.prove`'s ``keys``).

    The client a job counts against is the connection's peer address as uvicorn reports it:
    uvicorn takes X-Forwarded-For only from its trusted proxies (FORWARDED_ALLOW_IPS, by
    default 127.0.0.1 and ::1), i.e. from a reverse proxy on this machine."""
    try:
        import uvicorn
    except ImportError:
        raise ValueError("the server needs the 'serve' extra: pip install 'snarkgpt[serve]'") from None
    service = Service(keydir, workers=workers, queue=queue, log=log, max_wait=max_wait,
                      per_client=per_client, max_body=max_body, transparency_log=transparency_log,
                      cluster=cluster, cluster_keys=cluster_keys)
    app = create_app(service)
    if service.tlog is not None:
        print(f"snarkgpt serve: transparency log {service.tlog.path}: {service.tlog.size} entries, "
              f"log id {service.tlog.key.log_id}", flush=True)
    if service.cluster_skipped:
        print(f"snarkgpt serve: --cluster {cluster}: the key is one circuit (no segments), "
              "nothing to spread: proving in the local pool", flush=True)
    if service.cluster is not None:
        print(f"snarkgpt serve: connecting to the cluster {cluster} ...", flush=True)
    else:
        print(f"snarkgpt serve: building the proving key in {service.workers} worker(s) ...",
              flush=True)
    try:
        service.start()
        service.wait_ready()
    except BaseException:
        service.close()
        raise
    if service.cluster_info is not None:
        c = service.cluster_info
        pool = (f"cluster {cluster}: {c['nodes']} node(s), {c['cpus']} CPUs, {c['task_slots']} "
                f"segment task(s) of {c['task_cpus']} CPU(s) at once, {c['segments']} segments "
                f"a proof; {service.workers} proof(s) in flight; keys loaded by "
                f"{c['warmed']['tasks']} task(s) in {c['warmed']['seconds']:.1f} s, on "
                f"{'/'.join(c['warmed']['devices'])}")
    else:
        pool = f"{service.workers} worker(s)"
    print(f"snarkgpt serve: model {service.card['fingerprint']} on http://{host}:{port} "
          f"({pool}, queue {queue}, {service.per_client} job(s) per client)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
    return 0
