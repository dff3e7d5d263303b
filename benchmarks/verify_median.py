"""Median in-process verification time of one proof file, and where the time goes.

    snarkgpt setup --model random:n_layer=4,n_head=4,n_embd=64,block_size=64,vocab_size=65,seed=1 --out base4
    snarkgpt prove --keys base4 --prompt-tokens 1,8,15,... --max-new-tokens 32 --out base4.sgp
    python benchmarks/verify_median.py --keys base4 --proof base4.sgp [--repeats 31] [--stages]

The key directory's public files and the proof file are read once; then `verify_statement`
runs `--warmup` times untimed (kernel loading) and `--repeats` times timed. The last line is
one JSON object: median_ms, min_ms, and with --stages the median milliseconds per
verification spent in each step, and in the rest ("other": transcript, array plumbing,
Python), timed by wrapping the verifier's helpers (a few microseconds per call). Medians,
not means, since a shared machine stalls now and then. Run it alternately on two checkouts
(PYTHONPATH=<checkout>) to compare them.
"""
import argparse
import collections
import json
import statistics
import time

from snarkgpt.field.domain import Domain
from snarkgpt.model.keys import load_verifier, verify_statement
from snarkgpt.model.statement import read_proof_file
from snarkgpt.plonk import kzg, verifier
from snarkgpt.plonk.compiled_program import CompiledProgram

# (module or class, function, label): the verifier's steps worth timing separately
STAGES = [
    (verifier, "parse_proof", "parse (decompress the points)"),
    (Domain, "lagranges_at", "Lagrange values"),
    (CompiledProgram, "split_array", "constraint program (A, c_s)"),
    (kzg, "msm", "batch MSM"),
    (kzg, "pairing_check", "pairing check"),
]


def _wrap(spent, module, name, label):
    fn = getattr(module, name)

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.perf_counter() - t

    setattr(module, name, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", required=True)
    ap.add_argument("--proof", required=True)
    ap.add_argument("--repeats", type=int, default=31)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--stages", action="store_true", help="also time the verifier's steps")
    args = ap.parse_args()

    _, vk = load_verifier(args.keys)
    _, statement, proof = read_proof_file(args.proof)
    for _ in range(args.warmup):
        if not verify_statement(vk, statement, proof):
            raise SystemExit("the proof does not verify with these keys")
    spent = {}                          # this call's seconds per step
    per_call = collections.defaultdict(list)
    if args.stages:
        for module, name, label in STAGES:
            _wrap(spent, module, name, label)
    times = []
    for _ in range(args.repeats):
        spent.clear()
        t = time.perf_counter()
        verify_statement(vk, statement, proof)
        times.append(time.perf_counter() - t)
        for label, v in spent.items():
            per_call[label].append(v)
        per_call["other"].append(times[-1] - sum(spent.values()))
    res = {"median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3}
    if args.stages:
        res["stages_ms"] = {k: statistics.median(v) * 1e3 for k, v in per_call.items()}
        for k, v in res["stages_ms"].items():
            print(f"  {k:<32} {v:6.2f} ms")
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
