"""`--cluster`: segment proofs spread over a Ray cluster (docs/cluster.md).

A segmented key (`snarkgpt setup --layers-per-segment N`) proves a generation as a chain of
segment proofs that depend only on the statement, the link seed and the integer forward pass
(`Prover.prove_segment`). Here the command that runs (the *coordinator*) generates the tokens,
computes the forward pass and draws the seed once, then submits one Ray task per segment and
assembles the chain proof in segment order. Ray does the scheduling, placement by declared
CPUs and memory, and the retries of tasks whose worker died.

Cluster specs: ``local`` or ``local:N`` starts a Ray instance on this machine for the run
(N concurrent segment tasks, default 1, sharing this machine's CPUs) and stops it after;
``auto`` joins the cluster named by ``RAY_ADDRESS`` (or one started here with
``ray start --head``); anything else is an address to join (``HOST:PORT`` of a head node, or
``ray://HOST:PORT`` for Ray Client). Ray is imported only inside these functions: a command
without ``--cluster`` never imports it.

Workers read the proving key from the key directory at the same absolute path (``keys=
"shared"``, the default: shared storage, docs/cluster.md), or, with ``keys="object-store"``,
from a copy on their own node: the coordinator puts the directory's files in Ray's object
store once per run and a worker writes them to a local folder named by the verifying key's
digest the first time a task on its node needs them (`_local_keydir`). Either way a worker
builds `Prover(keydir, keep_keys=False)`, kept per worker process, which checks the rebuilt
key against the published one, and sets Numba's thread count to the task's CPUs.

The device the command was asked for (``--device``, `device.requested`) travels with each task
and is resolved on the worker's node: ``auto`` uses a GPU where that node has one, ``cuda``
fails the segment (and the command) on a node without one. `warm` builds the workers' provers
ahead of the first proof (`snarkgpt serve --cluster` does at start).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from contextlib import contextmanager

__all__ = ["ClusterError", "KEY_MODES", "SegmentFailed", "attach", "connect", "detach", "prove", "parse_spec",
           "session", "task_slots", "warm", "widened_cpus", "check_key_mode"]

CONNECT_TIMEOUT_S = 5.0     # a head node that does not accept a TCP connection in this long
MAX_RETRIES = 3             # re-runs of a segment task whose worker process died
FAULT_ENV = "SNARKGPT_CLUSTER_FAULT"    # tests: "kill:I:MARKER" or "raise:I" (see _inject)
TASK_CPUS_ENV = "SNARKGPT_TASK_CPUS"    # CPUs (and Numba threads) per task on a joined cluster
KEY_MODES = ("shared", "object-store")  # how workers get the key directory (--cluster-keys)
KEY_CACHE_ENV = "SNARKGPT_KEY_CACHE"    # a worker's folder for keys sent through the object store


class ClusterError(ValueError):
    """A cluster that cannot be used: a bad spec, an address that does not answer, Ray not
    installed, or a task that cannot be placed. Exit code 2, like every input problem."""


class SegmentFailed(ValueError):
    """A segment task that failed for a reason of its own (not a dead worker): the whole
    proof fails with that segment's error."""


def parse_spec(spec: str) -> tuple:
    """("local", N) for ``local[:N]``, ("address", ADDRESS) otherwise; checks the form only."""
    spec = (spec or "").strip()
    if not spec:
        raise ClusterError("--cluster is empty: give local, local:N, auto or a head node's "
                           "HOST:PORT")
    if spec == "local" or spec.startswith("local:"):
        n = spec[len("local:"):] if ":" in spec else "1"
        if not n.isdigit() or int(n) < 1:
            raise ClusterError(f"--cluster {spec}: the number of workers must be a positive "
                               "integer (local:2)")
        return "local", int(n)
    return "address", spec


def _host_port(address: str):
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; None for forms Ray resolves
    itself (``auto``)."""
    a = address[len("ray://"):] if address.startswith("ray://") else address
    if a == "auto":
        return None
    host, sep, port = a.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--cluster {address}: not a cluster address (HOST:PORT, "
                           "ray://HOST:PORT, auto, local or local:N)")
    return host.strip("[]"), int(port)


def _check_answers(address: str) -> None:
    """Refuse, within CONNECT_TIMEOUT_S, an address where nothing accepts a connection: Ray
    itself would keep retrying the head node for minutes."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        why = "timed out" if isinstance(e, socket.timeout) else (e.strerror or str(e))
        raise ClusterError(f"cluster at {address} does not answer ({why}): start its head node "
                           "(`ray start --head`) or check the address") from None


def _ray():
    try:
        import ray
    except ImportError:
        raise ClusterError("--cluster needs Ray: pip install 'snarkgpt[cluster]'") from None
    return ray


@contextmanager
def connect(spec: str, progress=None):
    """Connect this process to the cluster ``spec`` for the ``with`` block: a local instance
    is started and stopped; a joined cluster is only disconnected from. Yields the task CPUs
    (the CPUs each segment task declares and the Numba threads it uses)."""
    cpus = attach(spec, progress)
    try:
        yield cpus
    finally:
        detach()


def attach(spec: str, progress=None) -> int:
    """Connect this process to the cluster ``spec`` until `detach` (a long-lived coordinator
    such as `snarkgpt serve`; commands use `connect`). Returns the task CPUs. Raises
    `ClusterError` for a bad spec, an address that does not answer or Ray missing."""
    import logging
    kind, value = parse_spec(spec)
    if kind == "address":
        address = value if value != "auto" else os.environ.get("RAY_ADDRESS", "auto")
        _check_answers(address)
    # no Ray call after `detach` (a thread still finishing) may start a local instance
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    ray = _ray()
    kw = dict(logging_level=logging.ERROR, log_to_driver=False, include_dashboard=False)
    try:
        if kind == "local":
            # N workers share this machine's CPUs: each task gets its share as Numba threads
            cpus = max(1, (os.cpu_count() or 1) // value)
            ray.init(num_cpus=cpus * value, _node_ip_address="127.0.0.1", **kw)
        else:
            cpus = int(os.environ.get(TASK_CPUS_ENV, "1"))
            kw.pop("include_dashboard")
            ray.init(address=address, **kw)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterError(f"cannot use the cluster {spec!r}: {e}") from None
    if progress is not None:
        try:
            res = ray.cluster_resources()
            progress(f"cluster {spec}: {len(ray.nodes())} node(s), {res.get('CPU', 0):g} CPUs; "
                     f"{cpus} CPU(s) per segment task")
        except BaseException:
            ray.shutdown()
            raise
    return cpus


def detach() -> None:
    """Disconnect this process from its cluster (`attach`); a local instance is stopped."""
    import ray
    ray.shutdown()


def task_slots(cpus: int) -> int:
    """How many segment tasks of ``cpus`` CPUs the connected cluster runs at once (its CPUs
    now, divided by the task's; at least 1)."""
    ray = _ray()
    return max(1, int(ray.cluster_resources().get("CPU", 0)) // max(1, int(cpus)))


# -- the worker's side ---------------------------------------------------------------------

_PROVERS: dict = {}     # one Prover per key directory per worker process (built once)


def _worker_prover(keydir: str):
    """This worker's Prover for ``keydir``, rebuilt if the directory's key changed."""
    from .model.keys import KeyDirError, Prover
    vk = os.path.join(keydir, "vk.bin")
    try:
        stamp = os.stat(vk).st_mtime_ns
    except OSError:
        raise KeyDirError(f"{keydir}: no key directory on node {socket.gethostname()}: every "
                          "worker reads the proving key from the same path (shared storage, "
                          "docs/cluster.md)") from None
    got = _PROVERS.get(keydir)
    if got is None or got[0] != stamp:
        _PROVERS.clear()        # one model per worker: a proving key is large
        _PROVERS[keydir] = got = (stamp, Prover(keydir, progress=lambda *a: None,
                                                 keep_keys=False))
    return got[1]


def check_key_mode(keys: str) -> None:
    """Refuse a key transfer other than `KEY_MODES` (``--cluster-keys``)."""
    if keys not in KEY_MODES:
        raise ClusterError(f"unknown key transfer {keys!r}: use one of {', '.join(KEY_MODES)}")


def _key_cache_root() -> str:
    return os.environ.get(KEY_CACHE_ENV) or os.path.join(tempfile.gettempdir(), "snarkgpt-keys")


def _holds_key(path: str, digest: str) -> bool:
    """Whether ``path`` is a complete copy of the key whose vk.bin has SHA-256 ``digest``
    (copies appear by an atomic rename, so a folder with the right vk.bin is complete)."""
    try:
        with open(os.path.join(path, "vk.bin"), "rb") as f:
            return hashlib.sha256(f.read()).hexdigest() == digest
    except OSError:
        return False


def _local_keydir(digest: str, bundle: list) -> str:
    """This node's copy of a key directory sent through the object store: the folder
    `KEY_CACHE_ENV`/<digest>, written from ``bundle`` (``[ObjectRef of {file name: bytes as
    a uint8 array}]``, nested in a list so that Ray fetches it only when this node has no copy
    yet) into a temporary sibling renamed into place, so that two tasks on one node never see
    half a key and a crash leaves nothing a later task would read."""
    root = _key_cache_root()
    path = os.path.join(root, digest)
    if _holds_key(path, digest):
        return path
    import ray
    files = ray.get(bundle[0])
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{digest[:16]}.", dir=root)
    try:
        for name, data in files.items():
            if os.sep in name or name in ("", ".", ".."):
                raise ClusterError(f"refusing a key file named {name!r}")
            data.tofile(os.path.join(tmp, name))
        if not _holds_key(tmp, digest):
            raise ClusterError("the key sent through the object store does not match its digest")
        try:
            os.rename(tmp, path)
        except OSError:
            if not _holds_key(path, digest):    # a stale or broken copy: replace it
                shutil.rmtree(path, ignore_errors=True)
                os.rename(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _key_bundle(keydir: str):
    """(SHA-256 of vk.bin, {file name: its bytes as a uint8 array}) of a key directory's
    files, for `ray.put` (arrays travel without a copy into each task's memory)."""
    import numpy as np
    files = {}
    for name in sorted(os.listdir(keydir)):
        p = os.path.join(keydir, name)
        if os.path.isfile(p) and not name.startswith("."):
            files[name] = np.fromfile(p, dtype=np.uint8)
    if "vk.bin" not in files:
        raise ClusterError(f"{keydir}: no vk.bin to send to the workers")
    return hashlib.sha256(files["vk.bin"].tobytes()).hexdigest(), files


def _inject(fault: str | None, i: int) -> None:
    """Test-only faults (``SNARKGPT_CLUSTER_FAULT`` on the coordinator): ``kill:I:MARKER``
    kills the worker process running segment I the first time (MARKER records it, so the
    retry succeeds); ``raise:I`` makes segment I fail with an error."""
    if not fault:
        return
    parts = fault.split(":", 2)
    if len(parts) < 2 or parts[1] != str(i):
        return
    if parts[0] == "kill" and len(parts) == 3 and not os.path.exists(parts[2]):
        with open(parts[2], "w") as f:
            f.write(str(os.getpid()))
        os._exit(1)
    if parts[0] == "raise":
        raise ValueError(f"injected fault in segment {i}")


def _set_threads(cpus: int) -> str:
    """Give this worker's Numba ``cpus`` threads; returns where it runs (host, pid, node)."""
    import numba
    import ray
    numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))
    node = ray.get_runtime_context().get_node_id()
    return f"{socket.gethostname()} pid {os.getpid()} (node {node[:8]})"


def _segment_task(keydir, i, statement, seed, forward, cpus, events, fault, device="cpu"):
    """Segment i's proof (a Ray task): reports "running", proves on ``device`` (resolved on
    this node), returns the bytes."""
    import ray
    from .device import use
    where = _set_threads(cpus)
    # not waited for: a task blocked in ray.get gives its CPUs back to Ray, which would
    # then start another segment on them. An injected death waits, so that the event of the
    # attempt that dies reaches the coordinator
    sent = events.put.remote({"event": "running", "segment": i, "node": where,
                              "time": time.time()})
    if fault:
        ray.get(sent)
    _inject(fault, i)
    keydir = _task_keydir(keydir)
    t = time.perf_counter()
    with use(device) as be:
        proof = _worker_prover(keydir).prove_segment(i, statement, seed, forward)
    return {"proof": proof, "node": where, "seconds": time.perf_counter() - t, "keys": keydir,
            "device": be.name}


def _task_keydir(keydir) -> str:
    """The key directory a task reads: the shared path, or (``("object-store", digest,
    [bundle])``) this node's copy of the bundle."""
    if isinstance(keydir, tuple):
        return _local_keydir(keydir[1], keydir[2])
    return keydir


def _warm_task(keydir, cpus, device="cpu"):
    """Build this worker's Prover (model and SRS loaded, the published key's digest checked)
    ahead of its first segment, and check that ``device`` is available on its node (a Ray
    task)."""
    from .device import select
    where = _set_threads(cpus)
    be = select(device)
    t = time.perf_counter()
    _worker_prover(_task_keydir(keydir))
    return {"node": where, "seconds": time.perf_counter() - t, "device": be.name}


class _Events:
    """A tiny actor the tasks report to (their start and node): Ray's task state API needs
    the dashboard, which a cluster need not run."""

    def __init__(self):
        self.items = []

    def put(self, event):
        self.items.append(event)

    def take(self):
        out, self.items = self.items, []
        return out


# -- the coordinator's side ----------------------------------------------------------------

def _memory_bytes(prover, statement, ray) -> int:
    """The memory a segment task declares: the largest segment's estimate
    (`segment_plan.estimate_bytes`), capped at the largest node's memory so that a pessimistic
    estimate does not leave the task unschedulable (it then runs alone on that node)."""
    from .model.segment_plan import estimate_bytes
    T = max(1, prover.L - 1)
    width = prover.card.get("weight_width")
    need = max(estimate_bytes(prover.model.config, T, s, weight_width=width)
               for s in prover.segments)
    nodes = [n.get("Resources", {}).get("memory", 0) for n in ray.nodes() if n.get("Alive")]
    return int(min(need, max(nodes, default=need)))


def widened_cpus(cpus: int, mem: int, nodes: list) -> int:
    """The CPUs a segment task declares: ``cpus``, or more where memory, not CPUs, limits how
    many segments a node runs at once. ``nodes``: Ray's node records (``Resources``: ``CPU``
    and ``memory`` in bytes). On a node of C CPUs whose memory fits only m < C // cpus tasks
    of ``mem`` bytes, the CPUs it would leave idle go to the tasks it runs: C // max(1, m).
    The smallest such figure over the alive nodes, so a task still fits on every node.
    Example: GPT-2 small on `local:2` here (2 CPUs, 16 GiB of Ray memory, 9 GiB a segment):
    one segment at a time, so each gets both CPUs instead of one CPU and one idle."""
    best = []
    for n in nodes:
        if not n.get("Alive", True):
            continue
        r = n.get("Resources", {})
        c, m = int(r.get("CPU", 0)), int(r.get("memory", 0))
        if c < cpus:
            continue                    # a node that cannot run a task at all
        fit = c // cpus if mem <= 0 or m <= 0 else min(c // cpus, m // mem)
        best.append(max(cpus, c // max(1, fit)))
    return min(best) if best else cpus


def _reporter(progress, as_json: bool, n: int):
    """A function that reports one segment event: on a terminal a progress bar over the
    segments (`progress.Bar`: done of n, with how many run and wait and the latest event
    beside it; a retry printed as a line that stays), else a text line through ``progress``;
    with ``as_json``, one JSON line per event on stderr instead of the bar. Its ``close()``
    removes the bar."""
    from .progress import Bar
    bar = Bar(n, "segments", None if as_json else progress)
    state = {}                  # segment -> its latest event

    def report(event: dict):
        i = event.get("segment")
        what = event["event"]
        state[i] = what
        where = f" on {event['node']}" if event.get("node") else ""
        took = f" in {event['seconds']:.1f} s" if "seconds" in event else ""
        extra = f" (attempt {event['attempt']})" if event.get("attempt", 1) > 1 else ""
        message = f"segment {i + 1}/{n} {what}{where}{took}{extra}"
        if as_json:
            if progress is not None:
                progress(message)
            print(json.dumps(event, sort_keys=True), file=sys.stderr, flush=True)
            return
        if extra and bar.bar is not None:
            bar.note(message)   # a retry stays on the screen
        running = sum(1 for v in state.values() if v == "running")
        queued = sum(1 for v in state.values() if v == "queued")
        bar.event(message, done=what == "done",
                  status=f"{running} running, {queued} queued; segment {i + 1} {what}{where}")
    report.close = bar.close
    return report


def _tasks_keydir(keydir: str, keys: str, ray):
    """What the tasks get for the key directory: its absolute path (``keys="shared"``), or
    ``("object-store", digest, [ObjectRef of its files])`` put in the object store once."""
    keydir = os.path.abspath(keydir)
    if keys == "object-store":
        digest, files = _key_bundle(keydir)
        return ("object-store", digest, [ray.put(files)])
    return keydir


def warm(keydir: str, cpus: int, slots: int, keys: str = "shared", device=None) -> list:
    """Build the provers of up to ``slots`` worker processes of the connected cluster ahead of
    the first proof: ``slots`` tasks of ``cpus`` CPUs each load the key directory, so that a
    server's first request does not pay for the workers' start. Best effort on placement
    (Ray picks the processes; a later task may start a fresh one), strict on errors: a key
    directory a node cannot read, or ``device`` "cuda" on a node without a GPU, raises
    `ClusterError` naming it. Returns one {"node", "seconds", "device"} per task."""
    from .device import requested
    check_key_mode(keys)
    ray = _ray()
    device = device or requested()
    kd = _tasks_keydir(keydir, keys, ray)
    task = ray.remote(_warm_task)
    refs = [task.options(num_cpus=cpus, max_retries=MAX_RETRIES, retry_exceptions=False,
                         name="snarkgpt-warm").remote(kd, cpus, device)
            for _ in range(max(1, int(slots)))]
    try:
        return ray.get(refs)
    except Exception as e:  # noqa: BLE001 - every task failure is named and re-raised
        for ref in refs:
            ray.cancel(ref, force=True)
        raise ClusterError(f"a worker could not load the keys: {_task_error(e)}") from None


def prove(prover, statement, cpus: int = 1, progress=None, as_json: bool = False,
          stats=None, cancel=None, keys: str = "shared", device=None) -> bytes:
    """The proof of ``statement`` with every segment proven by a task on the connected
    cluster (`connect`): the chain proof, byte-compatible with `Prover.prove`'s. A key that
    is one circuit is proven here (nothing to spread). Raises `SegmentFailed` naming the
    first segment that failed (the other tasks are cancelled). ``cancel``: a
    `threading.Event` that, once set, stops the proof within half a second (its tasks
    cancelled; `ClusterError`), for a coordinator that shuts down. ``keys``: "shared" (the
    workers read the key directory at its path) or "object-store" (its files are put in the
    object store once for this proof and copied to each node that runs a segment).
    ``device``: where the tasks prove, resolved on each worker's node (default: the device
    this process was asked for, `device.requested`)."""
    from .device import requested
    check_key_mode(keys)
    device = device or requested()
    if prover.segments is None:
        if progress is not None:
            progress("one circuit (no segments): proving it here")
        return prover.prove(statement, stats=stats, progress=progress)
    from .model.chain import ChainProof
    from .model.keys import new_link_seed
    ray = _ray()
    prover._require(statement.kind)
    n = len(prover.segments)
    report = _reporter(progress, as_json, n)
    seed = new_link_seed()      # one seed for the chain: a retried task takes the same one
    forward = prover.forward(statement)
    _check_cancel(cancel)
    forward = ray.put(forward)  # in the object store once, for all tasks
    events = ray.remote(num_cpus=0)(_Events).remote()
    task = ray.remote(_segment_task)
    mem = _memory_bytes(prover, statement, ray)
    wide = widened_cpus(cpus, mem, ray.nodes())
    if wide != cpus and progress is not None:
        progress(f"memory fits fewer segments than CPUs allow: {wide} CPUs per segment task "
                 f"instead of {cpus}")
    cpus = wide
    keydir = _tasks_keydir(prover.keydir, keys, ray)
    fault = os.environ.get(FAULT_ENV)
    refs = {}
    for seg in prover.segments:
        i = seg.index
        refs[task.options(num_cpus=cpus, memory=mem, max_retries=MAX_RETRIES,
                          retry_exceptions=False, name=f"snarkgpt-segment-{i}").remote(
            keydir, i, statement, seed, forward, cpus, events, fault, device)] = i
        report({"event": "queued", "segment": i, "time": time.time()})
    proofs = [None] * n
    attempts = [0] * n
    pending = list(refs)
    try:
        while pending:
            _check_cancel(cancel)
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for e in ray.get(events.take.remote()):
                attempts[e["segment"]] += 1
                report(dict(e, attempt=attempts[e["segment"]]))
            for ref in done:
                i = refs[ref]
                try:
                    out = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - every task failure is named and re-raised
                    raise SegmentFailed(_failure(prover.segments[i], e)) from None
                proofs[i] = out["proof"]
                if stats is not None:
                    stats.setdefault("segments", [None] * n)[i] = out["seconds"]
                    stats.setdefault("segment_keys", [None] * n)[i] = out["keys"]
                    stats.setdefault("segment_devices", [None] * n)[i] = out["device"]
                report({"event": "done", "segment": i, "node": out["node"],
                        "seconds": out["seconds"], "time": time.time()})
    except BaseException:
        for ref in pending:     # no retry storm and no orphaned work after a failure
            ray.cancel(ref, force=True)
        raise
    finally:
        report.close()
        ray.kill(events)
    return ChainProof(proofs).to_bytes()


def _check_cancel(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise ClusterError("cancelled: the coordinator is shutting down")


def _task_error(e) -> str:
    """A failed task's error in one line, "Type: message": the task's own exception where
    Ray kept it, else Ray's (a worker that died more than MAX_RETRIES times, out of memory)."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, BaseException):
        e = cause
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[-1] if msg else ''}"


def _failure(seg, e) -> str:
    """One line naming the segment and its error (`_task_error`)."""
    return f"segment {seg.index} ({seg.describe()}) failed: {_task_error(e)}"


@contextmanager
def session(spec, progress=None, as_json: bool = False, keys: str = "shared"):
    """A function ``prove(prover, statement, stats=None) -> bytes`` for the ``with`` block:
    `Prover.prove` here when ``spec`` is None, else `prove` on the cluster ``spec`` (connected
    for the block; ``keys`` as `prove` takes it). The commands' one entry point to
    ``--cluster``."""
    check_key_mode(keys)
    if spec is None:
        yield lambda prover, st, stats=None: prover.prove(st, stats=stats, progress=progress)
        return
    with connect(spec, progress=progress) as cpus:
        yield lambda prover, st, stats=None: prove(prover, st, cpus, progress=progress,
                                                   as_json=as_json, stats=stats, keys=keys)
