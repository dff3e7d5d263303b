"""Batched coset NTTs with AVX-512 IFMA against the scalar transform, in one run.

    python benchmarks/ifma_ntt.py [--k 16] [--columns 64] [--repeats 3]

For 1 and 2 threads: the median milliseconds per column of `Domain.coset_ntt_many` (eight
columns per IFMA batch) and of `Domain.coset_ntt` column by column, and their ratio. The last
line is one JSON object. Exits with status 1 where the CPU has no IFMA.
"""
import argparse
import json
import statistics
import sys
import time

import numba
import numpy as np

from snarkgpt.field import Fr, ifma
from snarkgpt.field.domain import Domain


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--columns", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if not ifma.available():
        print("this CPU has no AVX-512 IFMA (or SNARKGPT_IFMA=0)", file=sys.stderr)
        return 1
    d = Domain(args.k)
    rng = np.random.default_rng(1)
    src = np.stack([Fr.random(d.n, rng) for _ in range(args.columns)])
    out = np.empty_like(src)
    result = {"k": args.k, "columns": args.columns}
    for threads in (1, 2):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        d.coset_ntt_many(src[:8], shift=7, out=out[:8])          # compile / warm up
        d.coset_ntt(src[0], shift=7, out=out[0])
        batched, single = [], []
        for _ in range(args.repeats):
            t = time.perf_counter()
            d.coset_ntt_many(src, shift=7, out=out)
            batched.append(time.perf_counter() - t)
            t = time.perf_counter()
            for c in range(args.columns):
                d.coset_ntt(src[c], shift=7, out=out[c])
            single.append(time.perf_counter() - t)
        b = statistics.median(batched) / args.columns * 1e3
        s = statistics.median(single) / args.columns * 1e3
        print(f"{threads} thread(s): IFMA {b:.2f} ms per column, scalar {s:.2f} ms, "
              f"ratio {b / s:.2f}")
        result[f"ifma_ms_{threads}t"] = round(b, 3)
        result[f"scalar_ms_{threads}t"] = round(s, 3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
