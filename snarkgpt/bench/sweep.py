"""`snarkgpt bench scaling --resume DIR [--prove]`: the scaling grid, one process per point,
resumable.

Every point of a grid (`points`) runs in a child process of its own
(``python -m snarkgpt.bench.sweep child ...``), so that a crash, an out-of-memory kill or a
timeout ends that point only: the sweep records it as the point's failure, with the reason
(the child's own error line, or the signal that ended it), the exit code and the child's peak
memory (the kernel's ``ru_maxrss`` of the child, from ``wait4``), and goes on with the next.

With ``--prove`` a point is `snarkgpt bench model` on its random model (setup with keys
written to disk, one proof, verification, the tampered-proof checks, the key directory's
size, peak memory), split into segments where the default memory budget (or
``--memory-budget`` / ``--layers-per-segment``) asks for it; without it, a point is the
circuit's plan and the quantization report (`scaling.plan_point`: cheap).

Results live in DIR, one file per point, ``DIR/points/<point id>.json``, each written to a
temporary file, fsynced and renamed into place (then the folder fsynced): a file there is a
whole result or absent. A rerun with the same DIR skips every point that has one (failures
included; ``--retry-failed`` runs those again) and removes what an interrupted run left
(temporary files, a child's unfinished result). ``DIR/sweep.json`` names the grid and the
mode; a DIR made for another grid or mode is refused. ``DIR/logs/<point id>.log`` keeps each
child's output; ``DIR/summary.json`` the table of every point after each run. ``--out
PLOTS`` draws one PNG per swept dimension when matplotlib (the ``plots`` extra) is
installed, and says it skipped them otherwise.

Grids (`GRIDS`): ``full`` is the study's grid around the base model (4 layers, 4 heads, width
64, context 64, vocabulary 65): layers 1-12, heads 1-12, width 16-768, context 8-128, scale
bits 6-14, plus GPT-2 small's shape (16 tokens); ``small`` is five small points around the
tiny model for a run of minutes on two cores; ``test`` is two tiny points.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

VOCAB = 65
BASE = {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 64, "vocab_size": VOCAB}
TINY = {"n_layer": 1, "n_head": 1, "n_embd": 16, "block_size": 16, "vocab_size": VOCAB}
GPT2_SMALL = {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024, "vocab_size": 50257}

GRIDS = {
    "full": {"base": BASE,
             "n_layer": [1, 2, 4, 8, 12], "n_head": [1, 2, 4, 8, 12],
             "n_embd": [16, 32, 64, 128, 256, 512, 768], "block_size": [8, 16, 32, 64, 128],
             "scale_bits": [6, 8, 10, 12, 14],
             # GPT-2 small's shape on random weights, a 16-token statement (8 + 8)
             "extra": [("gpt2-small", GPT2_SMALL, None, 16)]},
    "small": {"base": TINY, "n_layer": [1, 2], "n_embd": [16, 32], "block_size": [8, 16],
              "scale_bits": [8]},
    "test": {"base": {"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 4, "vocab_size": 16},
             "n_layer": [1, 2]},
}
DIMS = ("n_layer", "n_head", "n_embd", "block_size", "scale_bits")
CHILD_TIMEOUT_GRACE = 5.0


class SweepError(ValueError):
    """Bad input (an unknown grid, a DIR made for another sweep): reported in one line."""


def _say(msg: str):
    print(f"[sweep] {msg}", file=sys.stderr, flush=True)


def point_id(cfg: dict, scale_bits=None, max_tokens=None) -> str:
    """A point's name, also its file name: L4-H4-d64-T64-V65[-s10][-n16]."""
    pid = (f"L{cfg['n_layer']}-H{cfg['n_head']}-d{cfg['n_embd']}-T{cfg['block_size']}"
           f"-V{cfg['vocab_size']}")
    if scale_bits is not None:
        pid += f"-s{scale_bits}"
    if max_tokens is not None:
        pid += f"-n{max_tokens}"
    return pid


def points(grid: str) -> list:
    """The distinct points of ``grid``, each {"id", "config", "scale_bits", "max_tokens",
    "sweeps": [[dimension, value], ...]} (the base point belongs to every sweep). A point
    whose heads do not divide its width stays in the grid: its run fails and says why."""
    if grid not in GRIDS:
        raise SweepError(f"unknown grid {grid!r}: use one of {', '.join(sorted(GRIDS))}")
    g = GRIDS[grid]
    out = {}

    def add(sweep, value, cfg, s, n):
        pid = point_id(cfg, s, n)
        p = out.setdefault(pid, {"id": pid, "config": dict(cfg), "scale_bits": s,
                                 "max_tokens": n, "sweeps": []})
        p["sweeps"].append([sweep, value])

    for dim in DIMS:
        for v in g.get(dim, []):
            cfg, s = dict(g["base"]), None
            if dim == "scale_bits":
                s = v
            else:
                cfg[dim] = v
            add(dim, v, cfg, s, None)
    for name, cfg, s, n in g.get("extra", []):
        add(name, None, cfg, s, n)
    return list(out.values())


# op rows per unit of each term of `scaling.COST_TERMS`, fitted on the plan-only full grid
# (docs/scaling.md): the order in which a sweep runs its points, cheapest first
ORDER_COEF = (30.1, 2.2, 8.9, 5.4)


def estimated_rows(point: dict) -> float:
    """The op rows the cost model predicts for a point (its order in the sweep)."""
    from .scaling import _terms
    cfg = point["config"]
    T = (point.get("max_tokens") or cfg["block_size"]) - 1
    return float(sum(c * t for c, t in zip(ORDER_COEF, _terms(cfg, max(T, 1)))))


# ----------------------------------------------------------------------------- files
def write_atomic(path: str, obj) -> None:
    """Write ``obj`` as JSON to ``path`` so that the file is either absent or whole: a
    temporary file beside it, fsynced, renamed over it, then the folder fsynced."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: str):
    """A result file's JSON, or None when it is unreadable (it is then run again)."""
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("status") in ("ok", "failed") else None


def clean(d: str) -> list:
    """Remove what an interrupted run left in sweep folder ``d``: temporary files and the
    children's unfinished results. Returns the names removed."""
    removed = []
    for sub in ("points", "work"):
        folder = os.path.join(d, sub)
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if sub == "work" or ".tmp" in name:
                os.remove(os.path.join(folder, name))
                removed.append(os.path.join(sub, name))
    return removed


def _open_dir(d: str, grid: str, mode: str) -> None:
    """Create sweep folder ``d`` or check that it belongs to this grid and mode."""
    if os.path.exists(d) and not os.path.isdir(d):
        raise SweepError(f"{d} exists and is not a folder")
    for sub in ("points", "work", "logs"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    manifest = os.path.join(d, "sweep.json")
    want = {"grid": grid, "mode": mode}
    if os.path.exists(manifest):
        try:
            with open(manifest) as f:
                have = json.load(f)
        except (OSError, ValueError):
            have = None
        if not isinstance(have, dict) or {k: have.get(k) for k in want} != want:
            raise SweepError(f"{d} holds another sweep ({have}), not grid {grid!r} in mode "
                             f"{mode!r}: use another --resume folder")
    else:
        write_atomic(manifest, {**want, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})


# ----------------------------------------------------------------------------- one point
def run_point(point: dict, mode: str, layers_per_segment=None, memory_budget=None) -> dict:
    """One point in this process: `bench.model.run` (mode "prove") or `scaling.plan_point`
    (mode "plan")."""
    cfg = point["config"]
    if cfg["n_embd"] % cfg["n_head"]:
        raise ValueError(f"n_embd {cfg['n_embd']} is not divisible by n_head {cfg['n_head']}")
    if mode == "plan":
        from .scaling import plan_point
        return plan_point(cfg, point.get("scale_bits"))
    from .model import run
    from .scaling import spec_of
    res = run(spec_of(cfg), max_tokens=point.get("max_tokens"), progress=_say,
              layers_per_segment=layers_per_segment, memory_budget=memory_budget,
              scale_bits=point.get("scale_bits"))
    res.pop("cluster", None)
    return res


def _child(argv) -> int:
    """The child's entry: run one point, write {"ok", "result" | "error"} to --result."""
    import argparse
    import traceback
    ap = argparse.ArgumentParser(prog="python -m snarkgpt.bench.sweep child")
    ap.add_argument("--point", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--mode", choices=("prove", "plan"), default="prove")
    ap.add_argument("--layers-per-segment", type=int, default=None)
    ap.add_argument("--memory-budget", default=None)
    a = ap.parse_args(argv)
    point = json.loads(a.point)
    try:
        res = run_point(point, a.mode, a.layers_per_segment, a.memory_budget)
        from .prover import peak_rss_bytes
        res.setdefault("peak_rss_bytes", peak_rss_bytes())
        out, code = {"ok": True, "result": res}, 0
        if a.mode == "prove" and not (res.get("verified") and res.get("tampered_rejected", True)
                                      and res.get("wrong_output_rejected", True)):
            out = {"ok": False, "result": res, "error": "the proof did not verify, or a "
                                                        "tampered proof was accepted"}
            code = 1
    except BaseException as e:  # noqa: BLE001 - every failure is the point's result
        traceback.print_exc()
        out, code = {"ok": False, "error": f"{type(e).__name__}: {e}"}, 1
    write_atomic(a.result, out)
    return code


def _argv(point: dict, result: str, mode: str, layers_per_segment, memory_budget) -> list:
    argv = [sys.executable, "-m", "snarkgpt.bench.sweep", "child", "--point", json.dumps(point),
            "--result", result, "--mode", mode]
    if layers_per_segment is not None:
        argv += ["--layers-per-segment", str(layers_per_segment)]
    if memory_budget is not None:
        argv += ["--memory-budget", str(memory_budget)]
    return argv


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to kill it when the sweep process dies (even by
    SIGKILL), so that no point runs on unrecorded beside a resumed sweep."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):               # not Linux: the sweep's handlers only
        pass


def run_isolated(point: dict, d: str, mode: str = "prove", timeout: float | None = None,
                 layers_per_segment=None, memory_budget=None, argv=None) -> dict:
    """Run one point in a child process and return its record: status "ok" or "failed",
    reason, exit code, wall seconds, the child's peak memory (ru_maxrss from wait4, and the
    child's own VmHWM when it reported one) and the result. ``argv``: the child's command
    (default: this module's child entry)."""
    result = os.path.join(d, "work", point["id"] + ".json")
    log = os.path.join(d, "logs", point["id"] + ".log")
    if os.path.exists(result):
        os.remove(result)
    argv = argv or _argv(point, result, mode, layers_per_segment, memory_budget)
    load = _loadavg()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    version = code_version()
    t = time.perf_counter()
    timed_out = threading.Event()
    with open(log, "wb") as logf:
        proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent,
                                env={**os.environ, "SNARKGPT_SWEEP_RESULT": result})

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill) if timeout else None
        if timer:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:          # interrupted: end the child, leave the point unrecorded
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise
        finally:
            if timer:
                timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t
    code = proc.returncode
    rec = {"id": point["id"], "point": point, "mode": mode, "exit_code": code,
           "seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024,
           "loadavg_1min_before": load, "loadavg_1min_after": _loadavg(),
           "started": started, "code": version,
           "log": os.path.relpath(log, d)}
    out = _read_child(result)
    if out is not None and out.get("result") is not None:
        rec["result"] = out["result"]
        if out["result"].get("peak_rss_bytes"):
            rec["peak_rss_bytes"] = out["result"]["peak_rss_bytes"]
    if code == 0 and out is not None and out.get("ok"):
        rec.update(status="ok", reason=None)
    else:
        if timed_out.is_set():
            reason = f"timed out after {timeout:.0f} s (killed)"
        elif code < 0:
            reason = (f"killed by {_signal_name(-code)}"
                      + (" (out of memory?)" if -code == signal.SIGKILL else ""))
        elif out is not None and out.get("error"):
            reason = out["error"]
        else:
            reason = f"exit code {code} without a result; last output: {_tail(log)!r}"
        rec.update(status="failed", reason=reason)
    if os.path.exists(result):
        os.remove(result)
    return rec


def _read_child(path: str):
    try:
        with open(path) as f:
            out = json.load(f)
        return out if isinstance(out, dict) else None
    except (OSError, ValueError):
        return None


def _tail(path: str, n: int = 300) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode(errors="replace").strip().splitlines()[-1:][0]
    except (OSError, IndexError):
        return ""


def code_version() -> dict | None:
    """The checkout the points run from: its commit and whether tracked files differ from it
    (None outside a git checkout)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=30, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain",
                                "--untracked-files=no"], capture_output=True, text=True,
                               timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "modified_files": dirty.count("\n") + 1 if dirty else 0}


def _loadavg():
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


# ----------------------------------------------------------------------------- the sweep
def sweep(d: str, grid: str = "small", prove: bool = True, timeout: float | None = None,
          retry_failed: bool = False, layers_per_segment=None, memory_budget=None,
          progress=_say, argv=None) -> dict:
    """Run every point of ``grid`` not yet recorded in folder ``d`` (module docstring),
    cheapest first (`estimated_rows`).
    Returns {"grid", "mode", "dir", "ran", "skipped", "cleaned", "records"}; ``argv``: a
    function point -> the child's command (tests)."""
    from ..progress import steps
    say = progress or (lambda msg: None)
    mode = "prove" if prove else "plan"
    pts = points(grid)
    # cheapest first, so that an interrupted sweep has the most points done
    order = sorted(pts, key=lambda p: (estimated_rows(p), p["id"]))
    _open_dir(d, grid, mode)
    cleaned = clean(d)
    if cleaned:
        say(f"removed {len(cleaned)} unfinished file(s) of an interrupted run")
    def recorded(p):
        rec = _read(os.path.join(d, "points", p["id"] + ".json"))
        return rec is not None and (rec["status"] == "ok" or not retry_failed)
    skipped = [p["id"] for p in order if recorded(p)]
    todo = [p for p in order if p["id"] not in skipped]
    if skipped:
        say(f"{len(skipped)} of {len(order)} points already recorded in {d}: skipped")
    ran = []
    for p in steps(todo, f"{mode} points", progress, describe=lambda p: p["id"], unit="point"):
        path = os.path.join(d, "points", p["id"] + ".json")
        rec = run_isolated(p, d, mode, timeout, layers_per_segment, memory_budget,
                           argv=argv(p) if argv else None)
        write_atomic(path, rec)
        ran.append(p["id"])
        say(f"{p['id']}: {rec['status']}"
                 + (f" ({rec['reason']})" if rec["reason"] else f" in {rec['seconds']:.1f} s"))
    records = collect(d, pts)
    summary = {"grid": grid, "mode": mode, "dir": d, "ran": ran, "skipped": skipped,
               "cleaned": cleaned, "machine": _machine(), "records": records}
    write_atomic(os.path.join(d, "summary.json"), summary)
    return summary


def collect(d: str, pts: list) -> list:
    """The recorded result of every point of ``pts`` found in ``d`` (grid order)."""
    out = []
    for p in pts:
        rec = _read(os.path.join(d, "points", p["id"] + ".json"))
        if rec is not None:
            out.append(rec)
    return out


def _machine() -> dict:
    from .scaling import machine
    return machine()


def table(records: list, mode: str) -> list:
    """Markdown lines: one row per point."""
    if mode == "plan":
        lines = ["| point | sweeps | status | s | k | rows | op rows | max logit err | top-1 "
                 "| peak GiB | seconds | reason |", "|" + "---|" * 12]
    else:
        lines = ["| point | sweeps | status | s | k | segments | setup s | prove s | verify ms "
                 "| proof B | key B | peak GiB | seconds | reason |", "|" + "---|" * 14]
    for rec in records:
        r = rec.get("result") or {}
        sweeps = ", ".join(f"{a}={b}" if b is not None else a for a, b in rec["point"]["sweeps"])
        peak = f"{rec['peak_rss_bytes'] / 2**30:.2f}" if rec.get("peak_rss_bytes") else "-"
        reason = (rec.get("reason") or "").replace("|", "/")[:80]

        def f(key, fmt="{}"):
            v = r.get(key)
            return "-" if v is None else fmt.format(v)
        head = f"| {rec['id']} | {sweeps} | {rec['status']} | {f('scale_bits')} | {f('k')} "
        if mode == "plan":
            q = r.get("quant") or {}
            lines.append(head + f"| {f('rows')} | {f('op_rows_sum')} | "
                         + (f"{q['max_logit_error']:.3f} | {100 * q['top1_agreement']:.1f}% "
                            if q else "- | - ")
                         + f"| {peak} | {rec['seconds']:.1f} | {reason} |")
        else:
            lines.append(head + f"| {f('segments')} | {f('setup_seconds', '{:.1f}')} "
                         f"| {f('prove_seconds', '{:.1f}')} | {f('verify_ms', '{:.1f}')} "
                         f"| {f('proof_bytes')} | {f('key_bytes')} | {peak} "
                         f"| {rec['seconds']:.1f} | {reason} |")
    return lines


GROWTH_KEYS = ("setup_seconds", "prove_seconds", "peak_rss_bytes", "proof_bytes", "key_bytes")


def _sweep_series(records: list, dim: str, key: str) -> list:
    """[(value of ``dim``, ``key``)] over the ok points of the sweep of ``dim``."""
    out = []
    for rec in records:
        if rec["status"] != "ok":
            continue
        for sweep_dim, v in rec["point"]["sweeps"]:
            y = rec.get(key) if key == "peak_rss_bytes" else (rec.get("result") or {}).get(key)
            if sweep_dim == dim and y is not None:
                out.append((v, y))
    return sorted(out)


def growth(records: list) -> dict:
    """Per swept dimension with two or more ok points: the log-log slope of setup time,
    prove time, peak memory, proof size and key size against the dimension
    (`scaling.fit_exponent`)."""
    from .scaling import fit_exponent
    out = {}
    for dim in DIMS:
        fits = {}
        for key in GROWTH_KEYS:
            pts = _sweep_series(records, dim, key)
            fits[key] = fit_exponent([x for x, _ in pts], [y for _, y in pts])
        if any(v is not None for v in fits.values()):
            out[dim] = fits
    return out


def growth_table(g: dict) -> list:
    """Markdown lines of `growth`."""
    if not g:
        return []
    fmt = (lambda x: "-" if x is None else f"{x:.2f}")
    lines = ["", "| dimension | " + " | ".join(GROWTH_KEYS) + " |", "|" + "---|" * 6]
    for dim, fits in g.items():
        lines.append(f"| {dim} | " + " | ".join(fmt(fits[k]) for k in GROWTH_KEYS) + " |")
    return lines


def plots(records: list, out: str) -> list:
    """One log-log PNG per swept dimension (prove and setup seconds, peak memory, proof
    size); [] and a message on stderr when matplotlib (the `plots` extra) is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plots skipped (pip install 'snarkgpt[plots]')",
              file=sys.stderr)
        return []
    os.makedirs(out, exist_ok=True)
    written = []
    for dim in DIMS:
        series = {k: _sweep_series(records, dim, k) for k in GROWTH_KEYS}
        if len(series["prove_seconds"]) < 2:
            continue
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for key, style in (("prove_seconds", "o-"), ("setup_seconds", "s--")):
            xs, ys = zip(*series[key])
            ax.plot(xs, ys, style, label=key.replace("_", " "))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(dim)
        ax.set_ylabel("seconds")
        ax2 = ax.twinx()
        for key, style, scale in (("peak_rss_bytes", "r^:", 2**30), ("proof_bytes", "gv:", 2**30)):
            if series[key]:
                xs, ys = zip(*series[key])
                ax2.plot(xs, [y / scale for y in ys], style,
                         label=("peak GiB" if key == "peak_rss_bytes" else "proof GiB"))
        ax2.set_yscale("log")
        ax2.set_ylabel("GiB")
        ax.legend(loc="upper left", fontsize=8)
        ax2.legend(loc="lower right", fontsize=8)
        ax.set_title(f"proved points, {dim} sweep", fontsize=9)
        fig.tight_layout()
        path = os.path.join(out, f"sweep-{dim}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def main(args) -> int:
    """`snarkgpt bench scaling --resume DIR`: exit 0 when every point of the grid is
    recorded as ok, 1 when any failed."""
    grid = getattr(args, "grid", None) or ("small" if args.quick else "full")
    if grid not in GRIDS:
        raise SweepError(f"--resume runs the grids {', '.join(sorted(GRIDS))}, not {grid!r}")
    def stop(signum, frame):    # a terminated sweep ends its running child too (run_isolated)
        raise SystemExit(128 + signum)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        res = sweep(args.resume, grid, prove=args.prove,
                    timeout=getattr(args, "point_timeout", None),
                    retry_failed=getattr(args, "retry_failed", False),
                    layers_per_segment=getattr(args, "layers_per_segment", None),
                    memory_budget=getattr(args, "memory_budget", None))
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    failed = [r["id"] for r in res["records"] if r["status"] != "ok"]
    res["growth"] = growth(res["records"])
    if getattr(args, "out", None):
        res["plots"] = plots(res["records"], args.out)
    if args.json:
        print(json.dumps(res))
    else:
        m = res["machine"]
        print(f"snarkgpt bench scaling --resume {args.resume} ({grid} grid, {res['mode']}; "
              f"{m['cpu']}, {m['cores']} cores): {len(res['ran'])} run, {len(res['skipped'])} "
              f"already recorded, {len(failed)} failed")
        for line in table(res["records"], res["mode"]):
            print(line)
        if res["growth"]:
            print("\ngrowth exponents (log-log slopes over each sweep's ok points):")
            for line in growth_table(res["growth"]):
                print(line)
    return 1 if failed else 0


if __name__ == "__main__":   # pragma: no cover - the child entry
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        sys.exit(_child(sys.argv[2:]))
    print("usage: python -m snarkgpt.bench.sweep child --point JSON --result PATH", file=sys.stderr)
    sys.exit(2)
