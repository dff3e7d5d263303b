"""`snarkgpt bench quality`: what quantization costs in quality, what a proven accuracy says,
and what an auditor sees across many users' logs, on held-out tiny-shakespeare text.

Held-out windows: the last 10% of tiny-shakespeare (the bundled model trained on the first
90%, `scripts/train_bundled.py`), cut into ``--windows`` windows of ``--max-tokens`` tokens
(default: the model's block size) at evenly spaced starts, encoded with the Shakespeare
character tokenizer.

1. **Quantization error against the scale** (`scale_table`): for each scale 2^s
   (``--scale-bits``, default 6..14) the model is calibrated at that scale as `setup` would
   (`calibrate(model, scale_bits=s, max_tokens=L)`, its random calibration inputs), then the
   integer model is compared with the float model on the held-out windows, every position:
   max and mean |logit error|, top-1 agreement, and both models' next-token accuracy against
   the text; with the size of the largest lookup table, the rows a circuit must hold at
   least (the cost side of the trade-off). A scale that calibration refuses is a row that
   says why.
2. **Quantization error against the width** (`width_table`): random models (seed 0) of the
   model's shape with the width ``--widths`` (default 16..256), at three scales, on the same
   windows: max and mean |logit error| and top-1 agreement (a random model's accuracy on
   text means nothing, its agreement with its own float version does).
3. **Proven accuracy** (`proven_eval`, with ``--prove-windows N``): an eval key for the model
   (`setup --eval`, windows of ``--max-tokens`` + 1 tokens) and one `prove-eval` proof per
   held-out window for the first N windows, each verified against the key; the proven count
   against the float model's and the integer model's counts on the same windows (the
   integer model's count is what the circuit proves, so the two must agree).
4. **Audit over simulated users** (`simulated_audit`): ``--users`` users each verify a
   seeded random half of those proofs (`snarkgpt verify --log`: one audit log each), then one
   `audit` over every log with the key re-verifies every record: the fingerprints seen (one
   expected), and the distribution of the proven accuracy over the records and per user.

``--out DIR`` keeps quality.json, the eval key, the proof files and the users' logs.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_SCALES = tuple(range(6, 15))
DEFAULT_WIDTHS = (16, 32, 64, 128, 256)
WIDTH_SCALES = (8, 10, 12)
DEFAULT_WINDOWS = 32
DATA_NAME = "tinyshakespeare.txt"
DATA_ENV = "SNARKGPT_DATA"


class QualityError(ValueError):
    """Bad input (no data file, bad lists, too few tokens): reported in one line."""


def _say(msg: str):
    print(f"[quality] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- data
def data_path(path=None) -> str:
    """The tiny-shakespeare text: ``path``, else $SNARKGPT_DATA, else
    ../shared/data/tinyshakespeare.txt beside the checkout or the working folder."""
    cands = [path] if path else []
    if not path and os.environ.get(DATA_ENV):
        cands.append(os.environ[DATA_ENV])
    if not cands:
        root = Path(__file__).resolve().parents[2]
        cands += [str(root.parent / "shared" / "data" / DATA_NAME),
                  str(Path.cwd().parent / "shared" / "data" / DATA_NAME)]
    for c in cands:
        if os.path.isfile(c):
            return c
    raise QualityError(f"no tiny-shakespeare text at {' or '.join(cands)}: give --data PATH "
                       f"(or set ${DATA_ENV})")


def held_out_windows(text: str, length: int, n: int) -> list:
    """``n`` windows of ``length`` tokens from the last 10% of ``text`` (evenly spaced
    starts), as int64 arrays of the Shakespeare character tokenizer's ids."""
    from ..model.tokenizer import shakespeare_tokenizer
    if n < 1 or length < 2:
        raise QualityError(f"need at least one window of at least 2 tokens, got {n} of {length}")
    val = text[int(0.9 * len(text)):]
    ids = np.asarray(shakespeare_tokenizer().encode(val), dtype=np.int64)
    if ids.size < length:
        raise QualityError(f"the held-out text has {ids.size} tokens, fewer than a window of "
                           f"{length}")
    starts = np.linspace(0, ids.size - length, n).astype(np.int64)
    return [ids[s:s + length] for s in starts]


def parse_ints(spec, default, what: str) -> list:
    """Comma-separated positive integers (``default`` when None; [] for 'none')."""
    if spec is None:
        return list(default)
    if str(spec).strip().lower() == "none":
        return []
    try:
        vals = [int(x) for x in str(spec).split(",") if x.strip()]
    except ValueError:
        raise QualityError(f"{what} must be comma-separated integers, got {spec!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise QualityError(f"{what} must be positive integers, got {spec!r}")
    return vals


# ----------------------------------------------------------------------------- measures
def accuracy(pred, windows) -> tuple:
    """(correct, total) next-token predictions: pred[i][t] against windows[i][t + 1]."""
    correct = total = 0
    for p, w in zip(pred, windows):
        correct += int(np.count_nonzero(np.asarray(p)[: w.size - 1] == w[1:]))
        total += w.size - 1
    return correct, total


def float_predictions(model, windows) -> list:
    """The float model's greedy next token at every position of every window."""
    from ..model.float_forward import forward_many
    return [np.asarray(lg).argmax(1) for lg in forward_many(model, windows)]


def quant_point(model, windows, scale_bits, max_tokens, float_pred=None) -> dict:
    """Calibrate ``model`` at ``scale_bits`` (None: calibrate's choice) and measure the
    integer model against the float model on ``windows``: logit error, top-1 agreement,
    both accuracies, the largest table's rows."""
    from ..model.integer_forward import integer_forward
    from ..model.quantize import error_report, quantize_model, calibrate
    t = time.perf_counter()
    try:
        st, _ = calibrate(model, scale_bits=scale_bits, max_tokens=max_tokens, report=False)
    except ValueError as e:
        return {"scale_bits": scale_bits, "error": f"{type(e).__name__}: {str(e)[:200]}"}
    qm = quantize_model(model, st)
    rep = error_report(model, st, windows, qm)
    int_pred = [integer_forward(qm, w, keep_acts=False).next_tokens for w in windows]
    float_pred = float_pred if float_pred is not None else float_predictions(model, windows)
    ic, n = accuracy(int_pred, windows)
    fc, _ = accuracy(float_pred, windows)
    return {"scale_bits": st.scale_bits, "weight_bits": st.weight_bits,
            "max_logit_error": rep.max_logit_error, "mean_logit_error": rep.mean_logit_error,
            "top1_agreement": rep.top1_agreement, "positions": rep.positions,
            "integer_accuracy": ic / n, "float_accuracy": fc / n, "scored": n,
            "table_rows": st.table_rows(), "seconds": time.perf_counter() - t}


def scale_table(model, windows, scales, max_tokens, progress=_say) -> list:
    """`quant_point` at every scale of ``scales`` (and calibrate's own choice, first)."""
    fp = float_predictions(model, windows)
    rows = []
    for s in [None] + list(scales):
        progress(f"scale bits {'(calibrate)' if s is None else s} ...")
        r = quant_point(model, windows, s, max_tokens, fp)
        r["requested"] = "calibrate" if s is None else s
        rows.append(r)
    return rows


def width_table(config: dict, widths, windows, scales=WIDTH_SCALES, progress=_say) -> list:
    """`quant_point` for random models of ``config``'s shape at each width and scale."""
    from ..model.weights import load_model
    rows = []
    for d in widths:
        if d % config["n_head"]:
            rows.append({"n_embd": d, "error": f"not divisible by n_head {config['n_head']}"})
            continue
        cfg = {**config, "n_embd": d}
        model = load_model("random:" + ",".join(f"{k}={v}" for k, v in cfg.items()))
        fp = float_predictions(model, windows)
        for s in scales:
            progress(f"width {d}, scale bits {s} ...")
            r = quant_point(model, windows, s, config["block_size"], fp)
            r["n_embd"] = d
            r.pop("integer_accuracy", None)
            r.pop("float_accuracy", None)
            rows.append(r)
    return rows


def proven_eval(model_spec: str, windows, folder: str, progress=_say) -> dict:
    """An eval key for ``model_spec`` in ``folder``/keys (windows of len(windows[0])
    tokens) and one verified eval proof per window (`snarkgpt prove-eval`'s steps), with
    the float and integer models' counts on the same windows."""
    from ..model.integer_forward import integer_forward
    from ..model.keys import Prover, setup, verify_statement
    from ..model.statement import write_proof_file
    from ..model.tokenizer import shakespeare_tokenizer
    from ..model.weights import load_model
    L = int(windows[0].size)
    keydir = os.path.join(folder, "keys")
    progress(f"eval key for {model_spec}, windows of {L} tokens ...")
    t = time.perf_counter()
    card = setup(model_spec, keydir, max_tokens=L, statement="eval", progress=progress)
    setup_s = time.perf_counter() - t
    prover = Prover(keydir, progress=progress)
    model = load_model(model_spec)
    fp = float_predictions(model, windows)
    tok = shakespeare_tokenizer()
    rows = []
    os.makedirs(os.path.join(folder, "proofs"), exist_ok=True)
    for i, w in enumerate(windows):
        progress(f"prove-eval window {i + 1}/{len(windows)} ...")
        st = prover.evaluate([int(x) for x in w])
        t = time.perf_counter()
        proof = prover.prove(st)
        prove_s = time.perf_counter() - t
        valid = bool(verify_statement(prover.vk, st, proof))
        path = os.path.join(folder, "proofs", f"window-{i:03d}.sgp")
        write_proof_file(path, card["fingerprint"], st, proof, text=tok.decode(list(w)))
        fc, n = accuracy([fp[i]], [w])
        ic, _ = accuracy([integer_forward(prover.qmodel, w, keep_acts=False).next_tokens], [w])
        rows.append({"window": i, "proof": path, "valid": valid, "proven_correct": st.correct,
                     "total": st.total, "integer_correct": ic, "float_correct": fc,
                     "prove_seconds": prove_s, "proof_bytes": len(proof)})
    tot = sum(r["total"] for r in rows)
    return {"model": model_spec, "fingerprint": card["fingerprint"], "k": card["k"],
            "window_tokens": L, "windows": rows, "setup_seconds": setup_s,
            "proven_accuracy": sum(r["proven_correct"] for r in rows) / tot,
            "integer_accuracy": sum(r["integer_correct"] for r in rows) / tot,
            "float_accuracy": sum(r["float_correct"] for r in rows) / tot,
            "all_valid": all(r["valid"] for r in rows),
            "proven_equals_integer": all(r["proven_correct"] == r["integer_correct"] for r in rows)}


def simulated_audit(keydir: str, proofs: list, folder: str, users: int, seed: int = 0) -> dict:
    """``users`` users verify subsets of ``proofs`` (each `verify --log` into their own
    log: user u checks about half of the proofs, chosen by a seeded draw), then one audit of
    every log against the key: the fingerprints seen, whether the audit passed, and the
    proven accuracy of the records (over all records, and each user's mean)."""
    import base64

    from .. import audit
    from ..model.keys import load_verifier, rejection
    from ..model.statement import parse_proof_file
    if users < 1 or not proofs:
        raise QualityError("the audit needs at least one user and one proof")
    card, vk = load_verifier(keydir)
    os.makedirs(os.path.join(folder, "logs"), exist_ok=True)
    rng = np.random.default_rng(seed)
    logs, per_user = [], []
    for u in range(users):
        log = os.path.join(folder, "logs", f"user-{u:02d}.jsonl")
        if os.path.exists(log):
            os.remove(log)
        pick = sorted(rng.choice(len(proofs), size=max(1, (len(proofs) + 1) // 2), replace=False))
        accs = []
        for i in pick:
            blob = open(proofs[i], "rb").read()
            header, st, proof = parse_proof_file(blob)
            valid = rejection(vk, st, proof, fingerprint=header["fingerprint"]) is None
            audit.append(log, audit.record_for(blob, valid))
            accs.append(st.accuracy)
        logs.append(log)
        per_user.append({"user": u, "records": len(pick), "mean_accuracy": float(np.mean(accs))})
    res = audit.audit(logs, verifier=(card, vk))
    accs = []
    for log in logs:
        for rec in audit.read(log):
            _, st, _ = parse_proof_file(base64.b64decode(rec["proof"]))
            accs.append(st.accuracy)
    return {"users": users, "logs": logs, "records": res["records"], "ok": res["ok"],
            "same_model": res["same_model"], "fingerprints": res["fingerprints"],
            "reverified": sum(1 for r in res["results"] if r.get("reverified")),
            "accuracy": {"min": min(accs), "median": statistics.median(accs),
                         "mean": float(np.mean(accs)), "max": max(accs)},
            "histogram": _histogram(accs), "per_user": per_user}


def _histogram(vals, bins: int = 5) -> list:
    """[(low, high, count)] over [min, max] of ``vals`` (one bin when they are all equal)."""
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return [(lo, hi, len(vals))]
    edges = np.linspace(lo, hi, bins + 1)
    counts, _ = np.histogram(vals, edges)
    return [(float(a), float(b), int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts)]


# ----------------------------------------------------------------------------- the run
def run(model_spec="bundled", data=None, scales=DEFAULT_SCALES, widths=DEFAULT_WIDTHS,
        n_windows=DEFAULT_WINDOWS, max_tokens=None, prove_windows=0, users=8, out=None,
        progress=_say) -> dict:
    """The four measures of the module docstring (3 and 4 with ``prove_windows`` > 0)."""
    from ..model.weights import load_model
    model = load_model(model_spec)
    cfg = model.config
    if cfg.vocab_size != 65:
        raise QualityError(f"bench quality reads Shakespeare characters: the model's vocabulary "
                           f"must be the 65 characters, not {cfg.vocab_size}")
    L = cfg.block_size if max_tokens is None else int(max_tokens)
    if not 2 <= L <= cfg.block_size:
        raise QualityError(f"--max-tokens must be in [2, {cfg.block_size}], got {L}")
    if prove_windows < 0 or prove_windows > n_windows:
        raise QualityError(f"--prove-windows must be in [0, --windows = {n_windows}]")
    path = data_path(data)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    windows = held_out_windows(text, L, n_windows)
    t0 = time.perf_counter()
    res = {"model": model_spec, "config": cfg.to_dict(), "data": path, "windows": n_windows,
           "window_tokens": L, "machine": _machine()}
    res["scales"] = scale_table(model, windows, scales, L, progress)
    base = {k: getattr(cfg, k) for k in ("n_layer", "n_head", "n_embd", "block_size",
                                         "vocab_size")}
    res["widths"] = width_table(base, widths, windows, progress=progress) if widths else []
    if prove_windows:
        folder = out or tempfile.mkdtemp(prefix="snarkgpt-quality-")
        os.makedirs(folder, exist_ok=True)
        # an eval window of L + 1 tokens scores L predictions, as the forward pass sees L
        ev_windows = held_out_windows(text, min(L + 1, cfg.block_size + 1), n_windows)
        pe = proven_eval(model_spec, ev_windows[:prove_windows], folder, progress)
        res["proven"] = pe
        res["audit"] = simulated_audit(os.path.join(folder, "keys"),
                                       [w["proof"] for w in pe["windows"]], folder, users)
        if out is None:
            import shutil
            shutil.rmtree(folder, ignore_errors=True)
    res["seconds"] = time.perf_counter() - t0
    if out:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "quality.json"), "w") as f:
            json.dump(res, f, indent=1)
    return res


def _machine() -> dict:
    from .scaling import machine
    return machine()


def tables(res: dict) -> list:
    """Markdown tables of a `run` result (what docs/scaling.md shows)."""
    n = res["windows"]
    lines = [f"### Quantization error against the scale ({res['model']}, {n} held-out windows "
             f"of {res['window_tokens']} tokens)", "",
             "| scale bits s | weight bits | max logit err | mean logit err | top-1 agreement "
             "| integer accuracy | float accuracy | largest table rows |", "|" + "---|" * 8]
    for r in res["scales"]:
        s = f"{r['scale_bits']} (calibrate)" if r.get("requested") == "calibrate" else str(
            r.get("scale_bits"))
        if "error" in r:
            lines.append(f"| {s} | refused: {r['error'][:90]} |" + " |" * 6)
            continue
        lines.append(f"| {s} | {r['weight_bits']} | {r['max_logit_error']:.3f} "
                     f"| {r['mean_logit_error']:.4f} | {100 * r['top1_agreement']:.2f}% "
                     f"| {100 * r['integer_accuracy']:.2f}% | {100 * r['float_accuracy']:.2f}% "
                     f"| {r['table_rows']} |")
    if res.get("widths"):
        lines += ["", "### Quantization error against the width (random models, same windows)",
                  "", "| width d | scale bits s | max logit err | mean logit err | top-1 agreement "
                  "| largest table rows |", "|" + "---|" * 6]
        for r in res["widths"]:
            if "error" in r:
                lines.append(f"| {r['n_embd']} | {r.get('scale_bits', '-')} | refused: "
                             f"{r['error'][:80]} | | | |")
                continue
            lines.append(f"| {r['n_embd']} | {r['scale_bits']} | {r['max_logit_error']:.3f} "
                         f"| {r['mean_logit_error']:.4f} | {100 * r['top1_agreement']:.2f}% "
                         f"| {r['table_rows']} |")
    pe = res.get("proven")
    if pe:
        lines += ["", f"### Proven accuracy (prove-eval, {len(pe['windows'])} held-out windows of "
                      f"{pe['window_tokens']} tokens; eval key k = {pe['k']})", "",
                  "| window | proven correct | integer model | float model | of | verified "
                  "| prove s | proof B |", "|" + "---|" * 8]
        for r in pe["windows"]:
            lines.append(f"| {r['window']} | {r['proven_correct']} | {r['integer_correct']} "
                         f"| {r['float_correct']} | {r['total']} | {r['valid']} "
                         f"| {r['prove_seconds']:.1f} | {r['proof_bytes']} |")
        lines.append(f"| all | {100 * pe['proven_accuracy']:.2f}% | "
                     f"{100 * pe['integer_accuracy']:.2f}% | {100 * pe['float_accuracy']:.2f}% "
                     f"| | {pe['all_valid']} | | |")
    au = res.get("audit")
    if au:
        fps = ", ".join(f"{f[:16]}... x{c}" for f, c in au["fingerprints"].items())
        a = au["accuracy"]
        lines += ["", f"### Audit of {au['users']} simulated users' logs", "",
                  f"{au['records']} records, {au['reverified']} re-verified against the key; "
                  f"fingerprints: {fps}; audit {'OK' if au['ok'] else 'FAILED'}. Proven "
                  f"accuracy over the records: min {100 * a['min']:.1f}%, median "
                  f"{100 * a['median']:.1f}%, mean {100 * a['mean']:.1f}%, max "
                  f"{100 * a['max']:.1f}%.", "",
                  "| proven accuracy | records |", "|---|---|"]
        lines += [f"| {100 * lo:.1f}% - {100 * hi:.1f}% | {c} |" for lo, hi, c in au["histogram"]]
        lines += ["", "| user | records | mean proven accuracy |", "|---|---|---|"]
        lines += [f"| {u['user']} | {u['records']} | {100 * u['mean_accuracy']:.1f}% |"
                  for u in au["per_user"]]
    return lines


def main(args) -> int:
    """`snarkgpt bench quality`: exit 0 when every proof verified, the proven counts equal
    the integer model's and the audit passed; 1 otherwise."""
    n = args.windows if args.windows is not None else DEFAULT_WINDOWS
    if n < 1:
        raise QualityError(f"--windows must be at least 1, got {n}")
    res = run(args.model, data=args.data,
              scales=parse_ints(args.scale_bits, DEFAULT_SCALES, "--scale-bits"),
              widths=parse_ints(args.widths, DEFAULT_WIDTHS, "--widths"), n_windows=n,
              max_tokens=args.max_tokens, prove_windows=args.prove_windows, users=args.users,
              out=args.out)
    ok = True
    if "proven" in res:
        ok = (res["proven"]["all_valid"] and res["proven"]["proven_equals_integer"]
              and res["audit"]["ok"])
    if args.json:
        print(json.dumps(res))
    else:
        m = res["machine"]
        print(f"snarkgpt bench quality ({m['cpu']}, {m['cores']} cores; {res['seconds']:.0f} s)")
        for line in tables(res):
            print(line)
    return 0 if ok else 1
