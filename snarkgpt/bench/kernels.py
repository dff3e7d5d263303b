"""Timings of the field and curve kernels: NTT, MSM and pairing (medians of repeated runs).

`snarkgpt bench primitives` reports them; `snarkgpt bench prover` times one MSM of the
circuit's size next to the proof. Inputs are generated outside the timed region, and each
function runs the kernel once untimed first (compilation or loading from the disk cache).
"""
import statistics
import time

import numpy as np

from ..curve import g1, g2
from ..curve.msm import msm, random_points, random_scalars
from ..curve.pairing import pairing, pairing_check
from ..field import Fr
from ..field.domain import Domain


def _median_seconds(fn, repeats: int) -> float:
    """Median wall time of max(1, repeats) calls of fn() (no warm-up here)."""
    times = []
    for _ in range(max(1, repeats)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_ntt(k: int, repeats: int = 5) -> float:
    """Median seconds of a forward NTT of 2^k random Fr elements (twiddles prebuilt)."""
    d = Domain(k)
    a = Fr.random(1 << k, rng=np.random.default_rng(k))
    out = np.empty_like(a)
    d.ntt(a, out=out)                       # compile / warm up
    return float(_median_seconds(lambda: d.ntt(a, out=out), repeats))


_MSM_POINTS = {}


def _msm_points(n: int) -> np.ndarray:
    """Random points for the MSM timings, generated once (the largest set so far is kept and
    sliced)."""
    have = _MSM_POINTS.get("pts")
    if have is None or have.shape[0] < n:
        have = random_points(n, 12345)
        _MSM_POINTS["pts"] = have
    return have[:n]


def bench_msm(log_n: int, bits: int | None = None, repeats: int = 3, rng=0) -> float:
    """Median seconds of msm over 2^log_n random points and random scalars (`bits`-bit signed
    values, or full size when bits is None). Point generation is not timed (and is cached)."""
    n = 1 << log_n
    rng = np.random.default_rng(rng)
    pts = _msm_points(n)
    sc = random_scalars(n, bits, rng)
    msm(pts[:16], sc[:16])          # compile outside the timing
    return float(_median_seconds(lambda: msm(pts, sc), repeats))


def _pairing_points(n: int):
    """n copies of the G1 and of the G2 generator."""
    P = np.repeat(g1.generator()[None], n, axis=0)
    Q = np.repeat(g2.generator()[None], n, axis=0)
    return P, Q


def bench_pairing(repeats: int = 5) -> float:
    """Median milliseconds of one pairing e(G1, G2) (after a warm-up call)."""
    P, Q = _pairing_points(1)
    pairing(P[0], Q[0])
    return _median_seconds(lambda: pairing(P[0], Q[0]), repeats) * 1e3


def bench_pairing_check(pairs: int = 2, repeats: int = 5) -> float:
    """Median milliseconds of a `pairs`-pair pairing_check."""
    P, Q = _pairing_points(pairs)
    pairing_check(P, Q)
    return _median_seconds(lambda: pairing_check(P, Q), repeats) * 1e3
