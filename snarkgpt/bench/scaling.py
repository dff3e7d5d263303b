"""`snarkgpt bench scaling`: how the model circuit and the prover grow with the model's shape.

The sweep varies one dimension at a time around a base configuration, on random weights
(`random:` models, seed 0):

    n_layer     layers                       1, 2, 4, 8
    n_head      attention heads              1, 2, 4, 8
    n_embd      embedding width d            16, 32, 64, 128, 256
    block_size  context T (tokens proven)    8, 16, 32, 64, 128
    scale_bits  fixed-point scale 2^s        6, 8, 10, 12   (other points: calibrate's choice)

For every point it calibrates the quantization (the report's max logit error and top-1
agreement against the float model), builds the circuit's first pass (`plan`: cheap) and
records k, rows used, the sum of the rows of every op (the work before the packed floor
planner lays families side by side), columns, lookups, degree and rows per op type. Proving
is the expensive part: with ``--prove`` (or always with ``--quick``) points are set up,
proved and verified smallest first, each in a fresh process (so its peak memory is its own),
while their predicted cost fits the time budget (``--budget`` seconds).

``--quick`` sweeps around the tiny configuration (1 layer, 1 head, d 16, T 16) and finishes
in a few minutes on 2 cores. ``--out DIR`` writes ``scaling.json`` (every point and the fits)
and, when matplotlib is installed, one PNG per swept dimension (log-log, with the fitted
growth exponents). ``--ezkl`` adds the EZKL comparison (`snarkgpt.bench.ezkl_compare`) at the
tiny configuration.

Growth: for each sweep the log-log slope of cost against the dimension (`fit_exponent`), and
over all points a least-squares split of the op rows into the terms the shapes predict
(`cost_model`): per layer L*T*d (LayerNorm, GELU, residuals, matmuls with weights),
L*d^2, L*H*T^2 (scores, softmax, attention-times-values) and T*(d + V) outside the layers.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

VOCAB = 65
BASE = {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 64, "vocab_size": VOCAB}
TINY = {"n_layer": 1, "n_head": 1, "n_embd": 16, "block_size": 16, "vocab_size": VOCAB}

GRIDS = {
    "full": {"base": BASE,
             "n_layer": [1, 2, 4, 8], "n_head": [1, 2, 4, 8], "n_embd": [16, 32, 64, 128, 256],
             "block_size": [8, 16, 32, 64, 128], "scale_bits": [6, 8, 10, 12]},
    "quick": {"base": TINY,
              "n_layer": [1, 2, 4], "n_head": [1, 2, 4], "n_embd": [8, 16, 32, 64],
              "block_size": [4, 8, 16, 32], "scale_bits": [6, 8, 10]},
    # for tests: a handful of very small points
    "test": {"base": {"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 4, "vocab_size": 16},
             "n_layer": [1, 2], "n_embd": [8, 16], "block_size": [4, 8], "scale_bits": [6]},
}
DIMS = ("n_layer", "n_head", "n_embd", "block_size", "scale_bits")
DEFAULT_BUDGET = {"quick": 150.0, "full": 1800.0, "test": 60.0}
QUICK_MAX_K = 13         # --quick proves only points this small
PROVE_MAX_K = 18         # --prove: larger points are only planned


def _say(msg: str):
    print(f"[scaling] {msg}", file=sys.stderr, flush=True)


def spec_of(cfg: dict) -> str:
    return "random:" + ",".join(f"{k}={cfg[k]}" for k in
                                ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"))


def grid_points(grid: str) -> list:
    """[(sweep, value, config, scale_bits or None)] for a grid, base first in each sweep."""
    g = GRIDS[grid]
    base = dict(g["base"])
    out = []
    for dim in DIMS:
        for v in g.get(dim, []):
            cfg, s = dict(base), None
            if dim == "scale_bits":
                s = v
            else:
                cfg[dim] = v
            if cfg["n_embd"] % cfg["n_head"]:
                continue
            out.append((dim, v, cfg, s))
    return out


# ----------------------------------------------------------------------------- one point
def _circuit(cfg: dict, scale_bits):
    """(model, settings, quant report, keygen-shaped circuit) for a random model."""
    from ..model.keys import keygen_circuit
    from ..model.quantize import calibrate, quantize_model
    from ..model.weights import load_model
    model = load_model(spec_of(cfg))
    settings, rep = calibrate(model, scale_bits=scale_bits)
    qmodel = quantize_model(model, settings)
    return model, settings, rep, keygen_circuit(qmodel, settings, cfg["block_size"])


def plan_point(cfg: dict, scale_bits=None) -> dict:
    """Calibration and circuit size of one configuration (no proving)."""
    from ..model.circuit import plan
    t = time.perf_counter()
    _, settings, rep, circuit = _circuit(cfg, scale_bits)
    cal_s = time.perf_counter() - t
    t = time.perf_counter()
    p = plan(circuit)
    plan_s = time.perf_counter() - t
    ops = dict(p["rows_per_op_type"])
    tables = ops.pop("tables (largest)", 0)
    ops.pop("total", None)
    return {
        "config": dict(cfg), "scale_bits": settings.scale_bits, "weight_bits": settings.weight_bits,
        "T": circuit.T, "k": p["k"], "rows": p["rows"], "usable_rows": p["usable_rows"],
        "op_rows_sum": int(sum(ops.values())), "table_rows": int(tables),
        "advice_columns": p["advice_columns"], "fixed_columns": p["fixed_columns"],
        "lookups": p["lookups"], "degree": p["degree"], "rows_per_op_type": ops,
        "quant": {"max_logit_error": rep.max_logit_error, "mean_logit_error": rep.mean_logit_error,
                  "top1_agreement": rep.top1_agreement},
        "calibrate_seconds": cal_s, "plan_seconds": plan_s,
    }


def prove_point(cfg: dict, scale_bits=None, verify_repeats: int = 3) -> dict:
    """Setup (SRS + keygen), one proof (by stage), verification (median of warm calls) and
    the proof size of one configuration, in this process. Peak RSS is this process's."""
    import statistics
    import warnings

    from ..model.circuit import choose_k
    from .prover import peak_rss_bytes
    from ..plonk.circuit import ConstraintSystem
    from ..plonk.keygen import keygen
    from ..plonk.prover import prove
    from ..plonk.srs import SRS, InsecureSetupWarning
    from ..plonk.verifier import verify

    _, _, _, circuit = _circuit(cfg, scale_bits)
    t = time.perf_counter()
    k = choose_k(circuit)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSetupWarning)
        srs = SRS.dev((1 << k) + 1, seed=b"snarkgpt-bench-scaling")
        srs.lagrange(k)
    cs = ConstraintSystem()
    config = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, config, k=k)
    setup_s = time.perf_counter() - t
    stages = {}
    t = time.perf_counter()
    proof = prove(pk, circuit, config, instances=circuit.instances(), stats=stages)
    prove_s = time.perf_counter() - t
    inst = circuit.instances()
    verified = bool(verify(vk, inst, proof))       # first call: kernel loading, not timed
    times = []
    for _ in range(verify_repeats):
        t = time.perf_counter()
        verify(vk, inst, proof)
        times.append(time.perf_counter() - t)
    return {"k": k, "setup_seconds": setup_s, "prove_seconds": prove_s, "stages": stages,
            "verify_ms": statistics.median(times) * 1e3, "proof_bytes": len(proof),
            "verified": verified,
            "peak_rss_bytes": peak_rss_bytes()}


def _prove_isolated(cfg: dict, scale_bits) -> dict:
    """`prove_point` in a fresh process (its own peak memory, no state from earlier points)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as ex:
        return ex.submit(prove_point, cfg, scale_bits).result()


# ----------------------------------------------------------------------------- fits
def fit_exponent(xs, ys):
    """Least-squares slope of log(y) against log(x): y ~ c x^slope. None with fewer than two
    distinct positive points."""
    pts = [(float(x), float(y)) for x, y in zip(xs, ys)
           if x is not None and y is not None and x > 0 and y > 0]
    if len({x for x, _ in pts}) < 2:
        return None
    lx = np.log([x for x, _ in pts])
    ly = np.log([y for _, y in pts])
    slope, _ = np.polyfit(lx, ly, 1)
    return float(slope)


COST_TERMS = ("L*T*d", "L*d^2", "L*H*T^2", "T*(d+V)")


def _terms(cfg: dict, T: int) -> list:
    L, H, d, V = cfg["n_layer"], cfg["n_head"], cfg["n_embd"], cfg["vocab_size"]
    return [L * T * d, L * d * d, L * H * T * T, T * (d + V)]


def cost_model(points: list, key: str = "op_rows_sum") -> dict | None:
    """Non-negative least squares of ``key`` over the points against `COST_TERMS`: the rows
    each unit of a term costs, and the largest relative residual."""
    rows = [(p, p[key]) for p in points if p.get(key)]
    if len(rows) < len(COST_TERMS):
        return None
    A = np.array([_terms(p["config"], p["T"]) for p, _ in rows], dtype=float)
    y = np.array([v for _, v in rows], dtype=float)
    # relative error: weight each point by 1/y
    Aw, yw = A / y[:, None], np.ones_like(y)
    coef = _nnls(Aw, yw)
    pred = A @ coef
    return {"terms": dict(zip(COST_TERMS, (float(c) for c in coef))),
            "max_relative_error": float(np.max(np.abs(pred - y) / y)), "points": len(rows)}


def _nnls(A, b, iters: int = 2000):
    """Small non-negative least squares (projected coordinate descent; no scipy needed)."""
    scale = np.linalg.norm(A, axis=0)
    scale[scale == 0] = 1.0
    As = A / scale
    x = np.clip(np.linalg.lstsq(As, b, rcond=None)[0], 0, None)
    G, h = As.T @ As, As.T @ b
    for _ in range(iters):
        prev = x.copy()
        for j in range(len(x)):
            if G[j, j] > 0:
                x[j] = max(0.0, x[j] + (h[j] - G[j] @ x) / G[j, j])
        if np.max(np.abs(x - prev)) < 1e-12:
            break
    return x / scale


def growth(points: list) -> dict:
    """Per swept dimension: log-log slopes of the op rows, the rows used and (where measured)
    the prove time, and rows per layer from the layer sweep."""
    out = {}
    for dim in DIMS:
        pts = sorted((p for p in points if p["sweep"] == dim), key=lambda p: p["value"])
        if len(pts) < 2:
            continue
        xs = [p["value"] for p in pts]
        g = {"op_rows": fit_exponent(xs, [p["op_rows_sum"] for p in pts]),
             "rows": fit_exponent(xs, [p["rows"] for p in pts]),
             "prove_seconds": fit_exponent(xs, [p.get("prove_seconds") for p in pts])}
        if dim == "n_layer":
            slope, _ = np.polyfit(xs, [p["op_rows_sum"] for p in pts], 1)
            g["op_rows_per_layer"] = float(slope)
        out[dim] = g
    return out


# ----------------------------------------------------------------------------- the sweep
def run(grid: str = "quick", prove: bool = False, budget: float | None = None,
        max_prove_k: int | None = None, progress=_say) -> dict:
    """Every point of ``grid`` planned; the smallest proved while they fit ``budget``."""
    t_start = time.perf_counter()
    budget = DEFAULT_BUDGET[grid] if budget is None else float(budget)
    if max_prove_k is None:
        max_prove_k = PROVE_MAX_K if (prove or grid == "full") else QUICK_MAX_K
    do_prove = (prove or grid in ("quick", "test")) and budget > 0
    cache, points = {}, []
    todo = grid_points(grid)
    for i, (dim, v, cfg, s) in enumerate(todo):
        key = (spec_of(cfg), s)
        if key not in cache:
            progress(f"plan {i + 1}/{len(todo)}: {dim}={v} ({spec_of(cfg)[7:]}"
                     + (f", scale_bits={s}" if s is not None else "") + ") ...")
            try:
                cache[key] = plan_point(cfg, s)
            except ValueError as e:       # e.g. CalibrationError at a scale that cannot work
                cache[key] = {"config": dict(cfg), "error": str(e)}
            c = cache[key]
            if "error" not in c:
                progress(f"  k={c['k']} rows={c['rows']} op rows={c['op_rows_sum']} "
                         f"({c['plan_seconds']:.1f} s)")
        points.append({"sweep": dim, "value": v, "requested_scale_bits": s, **cache[key]})

    proved = {}
    if do_prove:
        cand = sorted({k for k, c in cache.items() if "error" not in c and c["k"] <= max_prove_k},
                      key=lambda k: (cache[k]["k"], cache[k]["op_rows_sum"]))
        spent, last = 0.0, None   # last: (k, seconds) of the previous proof
        for key in cand:
            c = cache[key]
            est = 0.0 if last is None else last[1] * 2.0 ** (c["k"] - last[0])
            if spent + est > budget:
                progress(f"skip proving {key[0][7:]} (k={c['k']}): ~{est:.0f} s over the "
                         f"{budget:.0f} s budget")
                continue
            progress(f"prove {key[0][7:]}" + (f", scale_bits={key[1]}" if key[1] else "")
                     + f" (k={c['k']}) ...")
            t = time.perf_counter()
            try:
                r = _prove_isolated(c["config"], key[1])
            except Exception as e:  # noqa: BLE001 - one failed point must not end the sweep
                r = {"prove_error": f"{type(e).__name__}: {e}"}
            took = time.perf_counter() - t
            spent += took
            last = (c["k"], took)
            proved[key] = r
            if "prove_seconds" in r:
                progress(f"  setup {r['setup_seconds']:.1f} s, prove {r['prove_seconds']:.1f} s, "
                         f"verify {r['verify_ms']:.1f} ms, {r['proof_bytes']} B, "
                         f"peak {r['peak_rss_bytes'] / 2**30:.2f} GiB")
        for p in points:
            r = proved.get((spec_of(p["config"]), p["requested_scale_bits"]))
            if r:
                p.update({k: v for k, v in r.items() if k != "k"})
    ok_points = [p for p in points if "error" not in p]
    uniq = list({(spec_of(p["config"]), p["requested_scale_bits"]): p for p in ok_points}.values())
    return {
        "grid": grid, "base": GRIDS[grid]["base"], "machine": machine(), "points": points,
        "growth": growth(ok_points), "cost_model": {"op_rows_sum": cost_model(uniq),
                                                    "rows": cost_model(uniq, "rows")},
        "proved": sum(1 for p in proved.values() if "prove_seconds" in p),
        "budget_seconds": budget, "max_prove_k": max_prove_k if do_prove else None,
        "seconds": time.perf_counter() - t_start,
    }


def machine() -> dict:
    import platform
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    try:
        import numba
        threads = numba.get_num_threads()
    except Exception:  # noqa: BLE001
        threads = None
    return {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": threads, "loadavg_1min": load,
            "python": platform.python_version()}


# ----------------------------------------------------------------------------- output
def tables(res: dict) -> list:
    """Markdown tables, one per sweep (what docs/scaling.md shows)."""
    lines = []
    for dim in DIMS:
        pts = [p for p in res["points"] if p["sweep"] == dim]
        if not pts:
            continue
        lines += ["", f"### {dim}", "",
                  "| " + dim + " | config (L/H/d/T) | s | k | rows | op rows | adv cols | lookups "
                  "| max logit err | top-1 | setup s | prove s | verify ms | proof B | peak GiB |",
                  "|" + "---|" * 15]
        for p in pts:
            if "error" in p:
                lines.append(f"| {p['value']} | error: {p['error'][:60]} |" + " |" * 13)
                continue
            c = p["config"]
            f = (lambda key, fmt: fmt.format(p[key]) if p.get(key) is not None else "-")
            peak = f"{p['peak_rss_bytes'] / 2**30:.2f}" if p.get("peak_rss_bytes") else "-"
            lines.append(
                f"| {p['value']} | {c['n_layer']}/{c['n_head']}/{c['n_embd']}/{c['block_size']} "
                f"| {p['scale_bits']} | {p['k']} | {p['rows']} | {p['op_rows_sum']} "
                f"| {p['advice_columns']} | {p['lookups']} | {p['quant']['max_logit_error']:.3f} "
                f"| {100 * p['quant']['top1_agreement']:.1f}% | {f('setup_seconds', '{:.1f}')} "
                f"| {f('prove_seconds', '{:.1f}')} | {f('verify_ms', '{:.1f}')} "
                f"| {f('proof_bytes', '{}')} | {peak} |")
    g = res.get("growth", {})
    if g:
        lines += ["", "### growth exponents (log-log slopes)", "",
                  "| dimension | op rows | rows used | prove s |", "|---|---|---|---|"]
        for dim, v in g.items():
            fmt = (lambda x: "-" if x is None else f"{x:.2f}")
            lines.append(f"| {dim} | {fmt(v['op_rows'])} | {fmt(v['rows'])} | "
                         f"{fmt(v['prove_seconds'])} |")
    cm = (res.get("cost_model") or {}).get("op_rows_sum")
    if cm:
        lines += ["", "### op rows split by term (non-negative least squares)", "",
                  "| term | rows per unit |", "|---|---|"]
        lines += [f"| {t} | {c:.3f} |" for t, c in cm["terms"].items()]
        lines.append(f"\nlargest relative residual {100 * cm['max_relative_error']:.1f}% "
                     f"over {cm['points']} configurations")
    return lines


def plots(res: dict, out: str) -> list:
    """One log-log PNG per swept dimension; [] (and a message) without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plots skipped (pip install 'snarkgpt[plots]')",
              file=sys.stderr)
        return []
    written = []
    for dim in DIMS:
        pts = sorted((p for p in res["points"] if p["sweep"] == dim and "error" not in p),
                     key=lambda p: p["value"])
        if len(pts) < 2:
            continue
        xs = [p["value"] for p in pts]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for key, label, style in (("op_rows_sum", "op rows", "o-"), ("rows", "rows used", "s--")):
            ys = [p[key] for p in pts]
            slope = fit_exponent(xs, ys)
            ax.plot(xs, ys, style, label=f"{label} (slope {slope:.2f})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(dim)
        ax.set_ylabel("rows")
        tp = [(p["value"], p["prove_seconds"]) for p in pts if p.get("prove_seconds")]
        if tp:
            ax2 = ax.twinx()
            slope = fit_exponent([x for x, _ in tp], [y for _, y in tp])
            ax2.plot([x for x, _ in tp], [y for _, y in tp], "r^:",
                     label="prove s" + (f" (slope {slope:.2f})" if slope is not None else ""))
            ax2.set_yscale("log")
            ax2.set_ylabel("prove seconds")
            ax2.legend(loc="lower right", fontsize=8)
        ax.legend(loc="upper left", fontsize=8)
        b = res["base"]
        ax.set_title(f"{dim} (base L{b['n_layer']} H{b['n_head']} d{b['n_embd']} "
                     f"T{b['block_size']})", fontsize=9)
        fig.tight_layout()
        path = os.path.join(out, f"scaling-{dim}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def main(args) -> int:
    grid = getattr(args, "grid", None) or ("quick" if args.quick else "full")
    res = run(grid, prove=args.prove, budget=args.budget)
    if getattr(args, "ezkl", False):
        from . import ezkl_compare
        res["ezkl"] = ezkl_compare.run(TINY, progress=_say)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "scaling.json"), "w") as f:
            json.dump(res, f, indent=1)
        res["plots"] = plots(res, args.out)
    if args.json:
        print(json.dumps(res))
    else:
        m = res["machine"]
        print(f"snarkgpt bench scaling ({grid} grid; {m['cpu']}, {m['cores']} cores, "
              f"load {m['loadavg_1min']}; {res['seconds']:.0f} s)")
        for line in tables(res):
            print(line)
        if "ezkl" in res:
            from .ezkl_compare import format_report
            print()
            print(format_report(res["ezkl"]))
    return 0 if all(p.get("verified", True) for p in res["points"]) else 1


if __name__ == "__main__":   # pragma: no cover
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", default="quick", choices=sorted(GRIDS))
    ap.add_argument("--prove", action="store_true")
    ap.add_argument("--budget", type=float, default=None)
    a = ap.parse_args()
    print(json.dumps(run(a.grid, a.prove, a.budget), indent=1))
