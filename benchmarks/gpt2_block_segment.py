"""One GPT-2-width transformer block as a segment proof: setup, then prove and verify.

    /usr/bin/time -v python benchmarks/gpt2_block_segment.py setup --out DIR [--width 128]
    /usr/bin/time -v python benchmarks/gpt2_block_segment.py prove --out DIR

The model is ``random:n_layer=3,n_head=12,n_embd=768,block_size=1024,vocab_size=50257``
(``--model`` to change it) at 16 tokens; the segment is the middle one (block 1: neither the
embedding nor the head, whose vocabulary-sized tables and products are another problem).
``setup`` does for that segment what ``snarkgpt setup`` does for each segment of a chain:
calibrate the whole model, cost the layouts on the segment (`circuit.layout_costs`: compact
with 2 matmul lanes, banked with 2, 3, 4), run keygen with a development SRS (no
precomputation, as setup) and write DIR/vk.bin, DIR/srs.npz and DIR/meta.json (settings,
layout, k, weight width). ``--width``: the fixed weights per wide row (gadgets/matmul.py,
"Wide rows"); ``auto`` (the default) takes `segment_plan.best_width` of the segment, ``0``
the narrow rows. ``prove``, in a new process, does what `keys.Prover` does: rebuild the
proving key against the published verifying key, prove a statement (8 seeded random prompt
tokens and 8 greedy tokens of the quantized model) with a fresh link seed, and verify the
segment proof alone five times (the first includes loading the verifier's kernels).

Prints one JSON object: the stage times in seconds, k, columns, proof bytes, verify ms, and
peak RSS (GiB, `resource.getrusage`); ``prove`` also the prover's stage times.
"""
import argparse
import gc
import json
import os
import resource
import time
import warnings

import numpy as np

SPEC = "random:n_layer=3,n_head=12,n_embd=768,block_size=1024,vocab_size=50257"
L = 16


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def setup(args, model, seg, out: dict) -> None:
    from snarkgpt.model.circuit import choose_layout, layout_costs
    from snarkgpt.model.keys import _make_srs, keygen_circuit
    from snarkgpt.model.quantize import calibrate, quantize_model
    from snarkgpt.model.segment_plan import best_width, estimate_bytes
    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.keygen import keygen
    width = (best_width(model.config, L - 1, [seg]) if args.width == "auto"
             else int(args.width) or None)
    out["weight_width"] = width
    out["estimate_GiB"] = estimate_bytes(model.config, L - 1, seg, weight_width=width) / 2 ** 30
    os.makedirs(args.out, exist_ok=True)
    t = time.perf_counter()
    settings, _ = calibrate(model, max_tokens=L)
    out["calibrate_s"] = time.perf_counter() - t
    qm = quantize_model(model, settings)
    forward = []

    def make(lay):
        c = keygen_circuit(qm, settings, L, compact=lay[0], mm_lanes=lay[1], segment=seg,
                           forward=forward[0] if forward else None, weight_width=width)
        forward[:] = [c.forward]
        return c
    t = time.perf_counter()
    costs = layout_costs(make, [(True, 2), (False, 2), (False, 3), (False, 4)])
    layout = choose_layout(costs)
    out["layout_costs"] = {str(lay): list(c) for lay, c in costs.items()}
    out["layout"] = layout
    out["layouts_s"] = time.perf_counter() - t
    circuit = make(layout)
    k = costs[layout][1]
    t = time.perf_counter()
    srs, _ = _make_srs(None, k)
    out["srs_s"] = time.perf_counter() - t
    t = time.perf_counter()
    cs = ConstraintSystem()
    config = circuit.configure(cs)
    _, vk = keygen(srs, cs, circuit, config, k=k, precompute=False,
                   statement=b"benchmarks/gpt2_block_segment.py")
    out["keygen_s"] = time.perf_counter() - t
    out.update(k=k, advice=len(vk.layout.desc.advice), fixed=len(vk.layout.desc.fixed),
               vk_bytes=len(vk.to_bytes()))
    with open(os.path.join(args.out, "vk.bin"), "wb") as f:
        f.write(vk.to_bytes())
    np.savez(os.path.join(args.out, "srs.npz"), g1=srs.g1, g2=srs.g2, lagrange=srs.lagrange(k))
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump({"settings": json.loads(settings.to_json()), "layout": layout, "k": k,
                   "weight_width": width}, f)


def prove(args, model, seg, out: dict) -> None:
    from snarkgpt.model.circuit import ModelCircuit
    from snarkgpt.model.integer_forward import integer_forward
    from snarkgpt.model.keys import keygen_circuit
    from snarkgpt.model.quantize import QuantSettings, quantize_model
    from snarkgpt.model.statement import Statement
    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.keygen import VerifyingKey, keygen
    from snarkgpt.plonk.links import SEED_BYTES
    from snarkgpt.plonk.prover import prove as plonk_prove
    from snarkgpt.plonk.srs import SRS
    from snarkgpt.plonk.verifier import verify_or_raise
    with open(os.path.join(args.out, "meta.json")) as f:
        meta = json.load(f)
    settings = QuantSettings.from_json(json.dumps(meta["settings"]))
    qm = quantize_model(model, settings)
    k, (compact, lanes), width = meta["k"], meta["layout"], meta["weight_width"]
    with open(os.path.join(args.out, "vk.bin"), "rb") as f:
        vk = VerifyingKey.from_bytes(f.read())
    z = np.load(os.path.join(args.out, "srs.npz"))
    srs = SRS(z["g1"], z["g2"], "dev", True)
    srs._lagrange[k] = z["lagrange"]
    rng = np.random.default_rng(0)
    toks = [int(x) for x in rng.integers(0, model.config.vocab_size, L // 2)]
    t = time.perf_counter()
    while len(toks) < L:
        fw = integer_forward(qm, np.array(toks), np.array([len(toks) - 1]))
        toks.append(int(fw.next_tokens[-1]))
    out["generate_s"] = time.perf_counter() - t
    statement = Statement(tuple(toks[:L // 2]), tuple(toks[L // 2:]), L)
    t = time.perf_counter()
    kc = keygen_circuit(qm, settings, L, compact=compact, mm_lanes=lanes, segment=seg,
                        weight_width=width)
    cs = ConstraintSystem()
    cs.min_blinding_rows = vk.layout.desc.n - vk.layout.desc.usable_rows - 1
    config = kc.configure(cs)
    pk, again = keygen(srs, cs, kc, config, k=k, published=vk, statement=vk.statement)
    if again.digest() != vk.digest():
        raise SystemExit("the rebuilt key is not the published one")
    out["key_rebuild_s"] = time.perf_counter() - t
    del kc, again
    gc.collect()
    out["peak_before_prove_GiB"] = _peak_gib()
    circuit = ModelCircuit(qm, settings, statement, segment=seg, compact=compact,
                           mm_lanes=lanes, weight_width=width)
    stats = {}
    t = time.perf_counter()
    proof = plonk_prove(pk, circuit, config, instances=circuit.instances(), stats=stats,
                        link_seed=os.urandom(SEED_BYTES))
    out["prove_s"] = time.perf_counter() - t
    out["prove_stages_s"] = {name: round(v, 2) for name, v in stats.items()}
    out["proof_bytes"] = len(proof)
    times = []
    for _ in range(5):
        t = time.perf_counter()
        verify_or_raise(vk, [], proof)
        times.append(time.perf_counter() - t)
    out["verify_ms"] = [round(1e3 * x, 2) for x in times]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=("setup", "prove"))
    ap.add_argument("--out", required=True, help="folder for the segment's key files")
    ap.add_argument("--model", default=SPEC)
    ap.add_argument("--width", default="auto",
                    help="weights per wide row: auto, 0 (narrow rows) or a positive integer")
    args = ap.parse_args()
    if args.width != "auto" and not (args.width.isdigit()):
        ap.error(f"--width must be auto or a non-negative integer, got {args.width!r}")
    warnings.simplefilter("ignore")
    from snarkgpt.model.segments import Segment
    from snarkgpt.model.weights import load_model
    model = load_model(args.model)
    if model.config.n_layer < 3:
        ap.error("the model needs at least 3 blocks (a middle segment)")
    seg = Segment(1, 3, 1, 2)
    out = {"stage": args.stage}
    t0 = time.perf_counter()
    (setup if args.stage == "setup" else prove)(args, model, seg, out)
    out["total_s"] = time.perf_counter() - t0
    out["peak_rss_GiB"] = _peak_gib()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
