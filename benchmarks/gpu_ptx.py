"""Compile every numba.cuda kernel to PTX without a GPU (NVVM's type checks, no run).

    CUDA_HOME=/path/with/nvvm python benchmarks/gpu_ptx.py [--cc 9.0]

Numba lowers each kernel for the given compute capability and NVVM (found under
$CUDA_HOME/nvvm, e.g. from the nvidia-nvvm wheel) turns it into PTX, so whatever the CUDA
simulator lets through but the real compiler rejects shows up here, on any machine. Device
functions are compiled for the capability asked for instead of the (absent) current device's.
Prints one line per kernel and exits non-zero if any failed.
"""
import argparse
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class _FakeDevice:
    def __init__(self, cc):
        self.compute_capability = cc


def kernels():
    """(name, python function, argument types) of every kernel in field/ and curve/cuda.py."""
    from numba import types as t
    from snarkgpt.curve import cuda as gc
    from snarkgpt.field import cuda as fc
    A2 = t.Array(t.uint64, 2, "C")
    I64 = t.Array(t.int64, 1, "C")
    I32 = t.Array(t.int32, 1, "C")
    B1 = t.Array(t.bool_, 1, "C")
    i = t.int64
    out = []
    for fname, F in (("Fr", fc.FR_GPU), ("Fq", fc.FQ_GPU)):
        k_mul, k_add, k_sub, k_scale, k_inv = F._k
        out += [(f"{fname} k_mul", k_mul, (A2, A2, A2)), (f"{fname} k_add", k_add, (A2, A2, A2)),
                (f"{fname} k_sub", k_sub, (A2, A2, A2)),
                (f"{fname} k_scale", k_scale, (A2, A2, A2)),
                (f"{fname} k_batch_inv", k_inv, (A2, A2, i))]
    out += [("_k_gather", fc._k_gather, (A2, A2, i, t.bool_, A2, i)),
            ("_k_stage", fc._k_stage, (A2, A2, i)),
            ("k_tiles 2^9", fc._shared_kernel(9), (A2, A2)),
            ("k_point_ops", gc.k_point_ops, (A2, A2, A2, A2)),
            ("k_digits", gc.k_digits, (A2, A2, I64, i, i)),
            ("k_hist", gc.k_hist, (I64, I32, i)),
            ("k_scatter", gc.k_scatter, (I64, I64, I32, I64, i, i)),
            ("k_buckets", gc.k_buckets, (A2, B1, I64, I64, I32, A2, i)),
            ("k_window_segments", gc.k_window_segments, (A2, A2, i, i)),
            ("k_tree_level", gc.k_tree_level, (A2, i, i))]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cc", default="9.0")
    ap.add_argument("--only", default=None, help="substring of the kernel names to compile")
    args = ap.parse_args()
    cc = tuple(int(x) for x in args.cc.split("."))
    from numba import cuda
    from numba.cuda import dispatcher
    dispatcher.get_current_device = lambda: _FakeDevice(cc)
    bad = 0
    for name, k, sig in kernels():
        if args.only and args.only not in name:
            continue
        t0 = time.perf_counter()
        try:
            ptx, _ = cuda.compile_ptx(k.py_func, sig, cc=cc)
            print(f"ok   {name}: {time.perf_counter() - t0:.1f}s, {len(ptx)} bytes of PTX",
                  flush=True)
        except Exception as e:                        # noqa: BLE001 - report them all
            bad += 1
            print(f"FAIL {name}: {type(e).__name__}: {str(e)[:3000]}", flush=True)
            traceback.print_exc(limit=-3)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
