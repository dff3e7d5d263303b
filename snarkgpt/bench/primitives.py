"""`snarkgpt bench primitives`: field multiply, NTT, MSM and pairing timings.

Each figure is the median of several runs. The Fr multiply is timed as a dependent chain
(latency), next to the same CIOS algorithm in C (gcc -O3 -march=native) compiled and timed in
the same run when gcc is present, so the ratio is measured, not quoted.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import resources

import numba as nb
import numpy as np

from . import median_time, report
from ..field.arith import fr_mul
from ..field.params import FR, to_limbs
from .kernels import bench_msm, bench_ntt, bench_pairing

CHAIN = 5_000_000


@nb.njit(cache=True)
def _fr_chain(a, b, n):
    for _ in range(n):
        a = fr_mul(a, b)
    return a


def fr_mul_ns(repeats=5) -> float:
    a, b = to_limbs(FR.r * 3 % FR.modulus), to_limbs(FR.r * 5 % FR.modulus)
    return median_time(lambda: _fr_chain(a, b, CHAIN), repeats) / CHAIN * 1e9


def _modulus_defines() -> list:
    """-D flags giving montmul.c the Fr modulus limbs and -p^-1 mod 2^64 (from params.py)."""
    names = ["P0", "P1", "P2", "P3", "INV_P"]
    return [f"-D{k}={int(v):#x}ULL" for k, v in zip(names, (*FR.p, FR.inv))]


def c_fr_mul_ns(repeats=5):
    """The C baseline's dependent-multiply latency, or None when no C compiler is found."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    src = resources.files("snarkgpt.bench").joinpath("montmul.c").read_text()
    with tempfile.TemporaryDirectory() as d:
        c_path, exe = os.path.join(d, "montmul.c"), os.path.join(d, "montmul")
        with open(c_path, "w") as f:
            f.write(src)
        r = subprocess.run([cc, "-O3", "-march=native", *_modulus_defines(), "-o", exe, c_path],
                           capture_output=True)
        if r.returncode != 0:
            return None
        runs = [float(subprocess.run([exe, str(4 * CHAIN)], capture_output=True, text=True,
                                     check=True).stdout.split()[0]) for _ in range(repeats)]
    return float(np.median(runs))


def jit_compile_seconds() -> float:
    """First-call time of the main kernels in a fresh process with an empty kernel cache."""
    code = ("import time; t=time.perf_counter();"
            "from snarkgpt.bench.primitives import _warm_all; _warm_all();"
            "print(time.perf_counter()-t)")
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, NUMBA_CACHE_DIR=d)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _warm_all():
    """Call each main kernel once at a tiny size (used to time compilation)."""
    _fr_chain(to_limbs(1), to_limbs(1), 1)
    bench_ntt(4, repeats=1)
    bench_msm(4, repeats=1)
    bench_msm(4, bits=16, repeats=1)
    bench_pairing(repeats=1)


def run(quick: bool = False) -> dict:
    res = {"threads": nb.get_num_threads()}
    t0 = time.perf_counter()
    res["fr_mul_ns"] = fr_mul_ns()
    c = c_fr_mul_ns()
    if c is not None:
        res["c_fr_mul_ns"] = c
        res["fr_mul_vs_c"] = res["fr_mul_ns"] / c
    res["ntt_2^16_s"] = bench_ntt(16, repeats=7)
    res["ntt_2^20_s"] = bench_ntt(20, repeats=3 if quick else 5)
    res["ntt_2^20_latencies"] = res["ntt_2^20_s"] / (2**19 * 20 * res["fr_mul_ns"] * 1e-9)
    res["msm_2^16_s"] = bench_msm(16, repeats=5)
    res["msm_2^16_16bit_s"] = bench_msm(16, bits=16, repeats=5)
    res["msm_2^20_s"] = bench_msm(20, repeats=3)
    res["msm_2^20_16bit_s"] = bench_msm(20, bits=16, repeats=3)
    res["msm_2^20_latencies_per_point"] = res["msm_2^20_s"] / 2**20 / (res["fr_mul_ns"] * 1e-9)
    res["msm_2^20_16bit_speedup"] = res["msm_2^20_s"] / res["msm_2^20_16bit_s"]
    res["pairing_ms"] = bench_pairing(repeats=9)
    res["jit_compile_s"] = jit_compile_seconds()
    res["bench_seconds"] = time.perf_counter() - t0
    return res


def main(args) -> int:
    report(run(), args.json, "snarkgpt bench primitives (medians)")
    return 0
