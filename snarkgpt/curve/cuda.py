"""BN254 G1 on a CUDA device (numba.cuda): point formulas and a bucket-method MSM.

Representations are those of g1.py: affine (n, 8) rows (x limbs, y limbs; infinity is the
all-zero row), Jacobian (X, Y, Z) with infinity Z = 0, XYZZ (X, Y, ZZ, ZZZ) with infinity
ZZ = 0; coordinates are Fq elements in Montgomery form (field/cuda.py arithmetic). The
point formulas are those of the CPU kernels, written once in formulas.py (dbl-2009-l,
madd-2007-bl, add-2007-bl, mdbl/dbl/madd/add-2008-s) and compiled here as device functions;
they handle infinity, P == Q and P == -Q.

MSM, sum_i s_i P_i (Pippenger, unsigned c-bit windows):

1. host: scalars leave Montgomery form (Fr.to_canonical) and are folded as on the CPU
   (s > r/2 becomes r - s on the negated point, g1.fold_scalars), so small negative values
   stay small; the largest bit length b fixes the number of windows, nwin = ceil(b / c);
2. `k_digits`: thread i writes the bucket id key = w * 2^c + digit_w(s_i) of every window w
   (digit 0, and points at infinity, go to the unused bucket 0 of the window);
3. counting sort by bucket id: `k_hist` counts with atomics, an exclusive prefix sum gives
   each bucket's start, `k_scatter` places the point indices (atomic cursor per bucket);
4. `k_buckets`: one thread per bucket adds its sorted range of affine points into an XYZZ
   accumulator (mixed additions);
5. `k_window_segments`: each window's 2^c buckets are cut into S segments; one thread per
   (window, segment) runs the running-sum trick over its segment, which gives
   sum (b - lo + 1) B_b and sum B_b, and shifts it to sum b B_b with a (c-bit) scalar
   multiplication by lo - 1;
6. `k_tree_level`, log2(S) launches: each window's segments summed pairwise, in parallel;
7. host: the nwin window sums W_w come back (nwin rows) and are combined as
   sum_w 2^(c w) W_w with the CPU's point kernels (g1.scalar_mul, g1.prefix_sums). On one GPU
   thread (Horner's rule) these few hundred dependent point operations took ~300 ms.

The result is the same affine point as snarkgpt.curve.msm.msm (affine form is unique).
"""
import math

import numpy as np
from numba import cuda

from ..field.cuda import (SIMULATOR, U0, U1, fq_add, fq_dbl, fq_mul, fq_sqr, fq_sub, is_zero,
                          launch, ld_off, quiet, st_off, _dev)
from ..field import Fr
from ..field.params import FQ_ONE
from . import g1
from .formulas import point_formulas
from .msm import msm_inputs

ONE = FQ_ONE
ZERO = (U0, U0, U0, U0)


@_dev
def fq_neg(a):
    return fq_sub(ZERO, a)


# ---- the point formulas (formulas.py) as device functions over the device Fq ------------------
(aff_is_inf, jac_dbl, jac_madd, jac_add,
 xyzz_mdbl, xyzz_dbl, xyzz_madd, xyzz_add) = point_formulas(
    fq_add, fq_sub, fq_mul, fq_sqr, fq_dbl, is_zero, ONE, ZERO, _dev)


@_dev
def xyzz_ld(arr, i):
    return ld_off(arr, i, 0), ld_off(arr, i, 4), ld_off(arr, i, 8), ld_off(arr, i, 12)


@_dev
def xyzz_st(arr, i, X, Y, ZZ, ZZZ):
    st_off(arr, i, 0, X)
    st_off(arr, i, 4, Y)
    st_off(arr, i, 8, ZZ)
    st_off(arr, i, 12, ZZZ)


@_dev
def xyzz_mul_small(X, Y, ZZ, ZZZ, k):
    """k * P for a non-negative machine integer k (double and add, top bit first)."""
    rX, rY, rZZ, rZZZ = ONE, ONE, ZERO, ZERO
    nb_ = 0
    t = k
    while t > 0:
        nb_ += 1
        t >>= 1
    for b in range(nb_ - 1, -1, -1):
        rX, rY, rZZ, rZZZ = xyzz_dbl(rX, rY, rZZ, rZZZ)
        if (k >> b) & 1:
            rX, rY, rZZ, rZZZ = xyzz_add(rX, rY, rZZ, rZZZ, X, Y, ZZ, ZZZ)
    return rX, rY, rZZ, rZZZ


# ---- point-op kernels (tests and small jobs) -----------------------------------------------
@_dev
def lift(x, y):
    """An affine point as (Jacobian, XYZZ): (x, y, 1) and (x, y, 1, 1); infinity (1, 1, 0)
    and (1, 1, 0, 0)."""
    if aff_is_inf(x, y):
        return (ONE, ONE, ZERO), (ONE, ONE, ZERO, ZERO)
    return (x, y, ONE), (x, y, ONE, ONE)


@cuda.jit
def k_point_ops(a, b, jac, xyzz):
    """Row i: Jacobian a+b (madd), a+b (add), 2a; XYZZ a+b (madd), a+b (add), 2a."""
    i = cuda.grid(1)
    if i < a.shape[0]:
        x1, y1 = ld_off(a, i, 0), ld_off(a, i, 4)
        x2, y2 = ld_off(b, i, 0), ld_off(b, i, 4)
        J1, Q1 = lift(x1, y1)
        J2, Q2 = lift(x2, y2)
        r = jac_madd(J1[0], J1[1], J1[2], x2, y2)
        for k in range(3):
            st_off(jac, 3 * i, 4 * k, r[k])
        r = jac_add(J1[0], J1[1], J1[2], J2[0], J2[1], J2[2])
        for k in range(3):
            st_off(jac, 3 * i + 1, 4 * k, r[k])
        r = jac_dbl(J1[0], J1[1], J1[2])
        for k in range(3):
            st_off(jac, 3 * i + 2, 4 * k, r[k])
        q = xyzz_madd(Q1[0], Q1[1], Q1[2], Q1[3], x2, y2)
        xyzz_st(xyzz, 3 * i, q[0], q[1], q[2], q[3])
        q = xyzz_add(Q1[0], Q1[1], Q1[2], Q1[3], Q2[0], Q2[1], Q2[2], Q2[3])
        xyzz_st(xyzz, 3 * i + 1, q[0], q[1], q[2], q[3])
        q = xyzz_dbl(Q1[0], Q1[1], Q1[2], Q1[3])
        xyzz_st(xyzz, 3 * i + 2, q[0], q[1], q[2], q[3])


def point_ops(a, b):
    """Affine (n, 3, 2, 8) results: [i, j, f] = (a+b madd, a+b add, 2a)[j] in format f
    (0 = via Jacobian, 1 = via XYZZ), each converted back to affine on the host."""
    a, _ = g1._points(a)
    b, _ = g1._points(b)
    n = a.shape[0]
    jac = cuda.device_array((3 * n, 12), dtype=np.uint64)
    xz = cuda.device_array((3 * n, 16), dtype=np.uint64)
    with quiet():
        k_point_ops[launch(n)](cuda.to_device(a), cuda.to_device(b), jac, xz)
        ja = g1.batch_to_affine(jac.copy_to_host())
        xa = g1.xyzz_to_affine(xz.copy_to_host())
    return np.stack([ja.reshape(n, 3, 8), xa.reshape(n, 3, 8)], axis=2)


# ---- MSM kernels -------------------------------------------------------------------------------
@cuda.jit
def k_digits(sc, pts, keys, c, nwin):
    """keys[w * n + i] = w * 2^c + (c-bit window w of scalar i); 0 digit for infinity."""
    i = cuda.grid(1)
    n = sc.shape[0]
    if i >= n:
        return
    inf = True
    for l in range(8):
        if pts[i, l] != U0:
            inf = False
    mask = (U1 << np.uint64(c)) - U1
    for w in range(nwin):
        d = 0
        if not inf:
            o = w * c
            li = o // 64
            sh = o % 64
            v = sc[i, li] >> np.uint64(sh)
            if sh + c > 64 and li < 3:
                v |= sc[i, li + 1] << np.uint64(64 - sh)
            d = np.int64(v & mask)
        keys[w * n + i] = (w << c) + d


@cuda.jit
def k_hist(keys, counts, c):
    t = cuda.grid(1)
    if t < keys.shape[0]:
        key = keys[t]
        if key & ((1 << c) - 1):
            cuda.atomic.add(counts, key, 1)


@cuda.jit
def k_scatter(keys, offs, cursor, order, n, c):
    t = cuda.grid(1)
    if t < keys.shape[0]:
        key = keys[t]
        if key & ((1 << c) - 1):
            pos = cuda.atomic.add(cursor, key, 1)
            order[offs[key] + pos] = t % n


@cuda.jit
def k_buckets(pts, negf, order, offs, counts, buckets, c):
    """Thread b: XYZZ sum of the affine points sorted into bucket b (y negated where negf)."""
    b = cuda.grid(1)
    if b >= buckets.shape[0]:
        return
    X, Y, ZZ, ZZZ = ONE, ONE, ZERO, ZERO
    if b & ((1 << c) - 1):
        start = offs[b]
        for t in range(start, start + counts[b]):
            p = order[t]
            y = ld_off(pts, p, 4)
            if negf[p]:
                y = fq_neg(y)
            X, Y, ZZ, ZZZ = xyzz_madd(X, Y, ZZ, ZZZ, ld_off(pts, p, 0), y)
    xyzz_st(buckets, b, X, Y, ZZ, ZZZ)


@cuda.jit
def k_window_segments(buckets, segs, c, S):
    """Thread w * S + s: sum over buckets b of segment s of window w of b * B_b."""
    t = cuda.grid(1)
    nwin = buckets.shape[0] >> c
    if t >= nwin * S:
        return
    w = t // S
    s = t % S
    seg = (1 << c) // S
    lo = s * seg
    base = w << c
    rX, rY, rZZ, rZZZ = ONE, ONE, ZERO, ZERO          # running sum of B_b, b >= current
    tX, tY, tZZ, tZZZ = ONE, ONE, ZERO, ZERO          # sum of the running sums
    for b in range(lo + seg - 1, lo - 1, -1):
        bX, bY, bZZ, bZZZ = xyzz_ld(buckets, base + b)
        rX, rY, rZZ, rZZZ = xyzz_add(rX, rY, rZZ, rZZZ, bX, bY, bZZ, bZZZ)
        tX, tY, tZZ, tZZZ = xyzz_add(tX, tY, tZZ, tZZZ, rX, rY, rZZ, rZZZ)
    # t = sum (b - lo + 1) B_b, r = sum B_b; want sum b B_b = t + (lo - 1) r
    if lo == 0:
        tX, tY, tZZ, tZZZ = xyzz_add(tX, tY, tZZ, tZZZ, rX, fq_neg(rY), rZZ, rZZZ)
    elif lo > 1:
        mX, mY, mZZ, mZZZ = xyzz_mul_small(rX, rY, rZZ, rZZZ, lo - 1)
        tX, tY, tZZ, tZZZ = xyzz_add(tX, tY, tZZ, tZZZ, mX, mY, mZZ, mZZZ)
    xyzz_st(segs, t, tX, tY, tZZ, tZZZ)


@cuda.jit
def k_tree_level(segs, S, stride):
    """One level of each window's pairwise sum of its S segments:
    segs[w S + s] += segs[w S + s + stride] for every s that is a multiple of 2 stride."""
    t = cuda.grid(1)
    half = S // (2 * stride)
    if t >= (segs.shape[0] // S) * half:
        return
    i = (t // half) * S + (t % half) * 2 * stride
    aX, aY, aZZ, aZZZ = xyzz_ld(segs, i)
    bX, bY, bZZ, bZZZ = xyzz_ld(segs, i + stride)
    X, Y, ZZ, ZZZ = xyzz_add(aX, aY, aZZ, aZZZ, bX, bY, bZZ, bZZZ)
    xyzz_st(segs, i, X, Y, ZZ, ZZZ)


# ---- host side ---------------------------------------------------------------------------------
def window_bits(n: int) -> int:
    """Window width c for n points: about log2(n) - 4, clamped to [4, 16]."""
    return int(min(16, max(4, math.floor(math.log2(max(n, 1))) - 4)))


def segments(c: int, nwin: int) -> int:
    """Segments per window for the bucket reduction: enough threads, >= 8 buckets each."""
    target = 4 if SIMULATOR else 65536
    s = 1
    while nwin * s * 2 <= target and (1 << c) // (s * 2) >= 8:
        s *= 2
    return s


def _max_bits(canon: np.ndarray) -> int:
    for li in range(3, -1, -1):
        top = int(canon[:, li].max()) if canon.shape[0] else 0
        if top:
            return 64 * li + top.bit_length()
    return 0


class MSMStats:
    """Sizes of the last msm() call (for benchmarks and docs)."""
    last: dict = {}


def msm(points, scalars, c: int | None = None) -> np.ndarray:
    """sum_i scalars[i] * points[i] on the device, as one affine (8,) point.

    points: (n, 8) affine G1 array (infinity rows allowed); scalars: (n, 4) Fr elements in
    Montgomery form. Same result as snarkgpt.curve.msm.msm. c: window width (default
    window_bits(n))."""
    inputs = msm_inputs(points, scalars)            # s > r/2: (r - s) on -P
    if inputs is None:
        return np.zeros(8, np.uint64)
    pts, folded, negf, _ = inputs
    n = pts.shape[0]
    bits = _max_bits(folded)
    if bits == 0:
        return np.zeros(8, np.uint64)
    c = window_bits(n) if c is None else int(c)
    if not 1 <= c <= 24:
        raise ValueError(f"msm: window width {c} outside [1, 24]")
    nwin = -(-bits // c)
    nb_ = nwin << c
    S = segments(c, nwin)
    MSMStats.last = dict(n=n, c=c, nwin=nwin, buckets=nb_, segments=S, bits=bits)
    with quiet():
        d_pts = cuda.to_device(np.ascontiguousarray(pts))
        d_sc = cuda.to_device(folded)
        d_neg = cuda.to_device(negf)
        d_keys = cuda.device_array(nwin * n, dtype=np.int64)
        k_digits[launch(n)](d_sc, d_pts, d_keys, c, nwin)
        d_counts = cuda.to_device(np.zeros(nb_, dtype=np.int32))
        k_hist[launch(nwin * n)](d_keys, d_counts, c)
        counts = d_counts.copy_to_host()
        offs = np.zeros(nb_, dtype=np.int64)
        np.cumsum(counts[:-1], out=offs[1:])
        total = int(offs[-1] + counts[-1])
        d_offs = cuda.to_device(offs)
        d_cursor = cuda.to_device(np.zeros(nb_, dtype=np.int32))
        d_order = cuda.device_array(max(total, 1), dtype=np.int64)
        k_scatter[launch(nwin * n)](d_keys, d_offs, d_cursor, d_order, n, c)
        d_buckets = cuda.device_array((nb_, 16), dtype=np.uint64)
        k_buckets[launch(nb_)](d_pts, d_neg, d_order, d_offs, d_counts, d_buckets, c)
        d_segs = cuda.device_array((nwin * S, 16), dtype=np.uint64)
        k_window_segments[launch(nwin * S)](d_buckets, d_segs, c, S)
        stride = 1
        while stride < S:
            k_tree_level[launch(nwin * S // (2 * stride))](d_segs, S, stride)
            stride *= 2
        sums = d_segs.copy_to_host()[::S]
    return combine_windows(sums, c)


def combine_windows(sums: np.ndarray, c: int) -> np.ndarray:
    """sum_w 2^(c w) W_w as one affine (8,) point, for the (nwin, 16) XYZZ window sums W_w."""
    wins = g1.xyzz_to_affine(np.ascontiguousarray(sums))
    scaled = g1.scalar_mul(wins, Fr.from_ints([1 << (c * w) for w in range(wins.shape[0])]))
    return g1.prefix_sums(scaled)[-1]
