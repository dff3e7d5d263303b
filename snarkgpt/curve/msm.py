"""Multi-scalar multiplication sum_i s_i * P_i on BN254 G1 (Pippenger's bucket method).

Outline (docs/msm.md has the longer story):

1. Scalars leave Montgomery form and are folded: s > r/2 becomes r - s on the negated point,
   so every scalar has at most 253 bits and small negative values (r - v) are small too.
2. The points are split into groups by scalar bit length (a cost model picks at most three
   groups), so a few large scalars among many small ones do not force all windows on all
   points. Each group needs only ceil((bits + 1) / c) windows of c bits.
3. Per group, the points are split into one chunk per thread (Python threads running nogil
   kernels). Per chunk and window: signed c-bit digits d in (-2^(c-1), 2^(c-1)] (a carry
   moves to the next window), a counting sort of the points into the 2^(c-1) buckets |d|
   (negating y where d < 0), then every bucket's points are summed by a pairwise tree of
   *affine* additions that share one field inversion per tree level (Montgomery's trick):
   about 6 Fq multiplications per addition, against 10 for the cheapest projective mixed
   addition. The bucket sums are combined with the running-sum trick
   sum_b b * B_b = sum_b (B_top + ... + B_b), run in lanes of batch-affine additions for large
   windows (XYZZ for small ones), and the windows by Horner's rule (c doublings per window).
   A group of few points (fewer than _SMALL_BELOW) is split by windows instead: all windows'
   buckets share one set of tree levels, hence one inversion per level for every window
   (`_pip_small`), and each thread takes a range of windows.
4. Chunk and group results are added and converted to affine once.
"""
import math

import numba as nb
import numpy as np

from ..field import Fr, ifma
from ..field.arith import fq_mul, fq_sub, load, store
from .fixed_base import fixed_base_mul
from .g1_formulas import (_JIT, GENERATOR, ONE, ZERO, aff_den, aff_finish, aff_load, aff_store,
                          batch_add, fq_inv, xyzz_add, xyzz_dbl, xyzz_load, xyzz_madd,
                          xyzz_store, xyzz_to_affine)
from .g1_formulas import points as _points
from .ifma_buckets import bucket_trees_x16, from_x16_row, lanes_x16, to_x16, work_arrays
from .parallel import parallel_ranges
from .parallel import threads as _threads
from .scalars import fold_scalars, random_scalars

# Cost model, in units of one Fq multiplication (measured on x86-64, per window):
_SORT = 2.5        # per point: digit, histogram and the scatter into bucket order
_ADD = 8.0         # per batch-affine addition in the bucket trees (6 products + traffic)
_BUCKET = 25.0     # per bucket: XYZZ mixed add + XYZZ add of the running sum
_BUCKET_LANES = 24.0   # per bucket with batch-affine lanes (2 additions, copies, level upkeep)
# the small path (_pip_windows) shares one set of tree levels, and so the inversions, among
# all windows: per point and window, sort and tree addition together cost only about this
# (fitted to the best window widths measured for 4 to 2000 full-size scalars)
_SMALL_POINT = 2.5         # with the IFMA trees
_SMALL_POINT_SCALAR = 3.5  # with the scalar trees
_GROUP_OVERHEAD = 20000.0   # Python and thread start-up per group, in multiplications
_MAX_C = 20


@nb.njit(inline="always")
def _cond_neg(y, flip):
    """-y if flip == 1 else y (flip in {0, 1}), without a branch: the sign pattern of random
    digits is unpredictable. y != 0 here (points at infinity never reach the buckets)."""
    ny = fq_sub(ZERO, y)
    mask = np.uint64(0) - flip
    keep = ~mask
    return ((y[0] & keep) | (ny[0] & mask), (y[1] & keep) | (ny[1] & mask),
            (y[2] & keep) | (ny[2] & mask), (y[3] & keep) | (ny[3] & mask))


@nb.njit(inline="always")
def _signed(v, carry, i, half, full, dig, cnt):
    d = np.int64(v) + np.int64(carry[i])
    if d > half:
        d -= full
        carry[i] = 1
    else:
        carry[i] = 0
    dig[i] = d
    if d != 0:
        cnt[d if d > 0 else -d] += 1


@nb.njit(**_JIT)
def _window_digits(sc, lo, m, off, c, carry, dig, cnt):
    """Signed c-bit digits at bit offset `off` of sc[lo:lo+m] (carry in/out per scalar), and
    the bucket histogram. The limb index and shifts are fixed per window, so the two cases
    (window inside one limb, or straddling two) get their own loops."""
    half = np.int64(1) << (c - 1)
    full = np.int64(1) << c
    mask = (np.uint64(1) << np.uint64(c)) - np.uint64(1)
    li = off >> 6
    sh = np.uint64(off & 63)
    if li >= 4:
        for i in range(m):
            _signed(np.uint64(0), carry, i, half, full, dig, cnt)
    elif (off & 63) + c > 64 and li + 1 < 4:
        rsh = np.uint64(64 - (off & 63))
        for i in range(m):
            v = ((sc[lo + i, li] >> sh) | (sc[lo + i, li + 1] << rsh)) & mask
            _signed(v, carry, i, half, full, dig, cnt)
    else:
        for i in range(m):
            _signed((sc[lo + i, li] >> sh) & mask, carry, i, half, full, dig, cnt)


# Below _SMALL_BELOW points a group runs `_pip_small` (tree levels shared by all windows, the
# windows split between threads, from _SMALL_THREADS_FROM points on): the verifier's MSMs.
_SMALL_BELOW = 2048
_STRAUS_MAX = 12         # up to this many points, `_straus` (measured faster than buckets)
_SMALL_THREADS_FROM = 64

_LANE_WIDTH = 64          # buckets per lane in the batch-affine bucket reduction
_LANES_MIN = 1024         # below this many buckets the plain XYZZ running sum is used


@nb.njit(**_JIT)
def _bucket_reduce_lanes(sums, nb_, lane_r, lane_u, pref):
    """sum_{b=1..nb_} b * sums[b] (affine rows, zero = empty) as XYZZ, nb_ = L * K.

    The running-sum trick is sequential, so it is run in L independent lanes of K buckets,
    stepping all lanes together with batch-affine additions (two per bucket, ~12 products,
    against ~24 for the XYZZ running sum). Lane l covers buckets lK+1 .. lK+K and ends with
    R_l = sum sums[b] and U_l = sum (b - lK) sums[b]; then
    total = sum_l U_l + K * sum_l l R_l, the last sum again by running sums (in XYZZ)."""
    L = lane_r.shape[0]
    K = nb_ // L
    lane_r[:] = 0
    lane_u[:] = 0
    for t in range(K):
        batch_add(lane_r, sums, K, K - t, pref)      # R_l += sums[lK + K - t]
        batch_add(lane_u, lane_r, 1, 0, pref)        # U_l += R_l
    return _lanes_combine(lane_r, lane_u, K)


@nb.njit(inline="always")
def _lanes_combine(lane_r, lane_u, K):
    """sum_l U_l + K * sum_l l R_l (XYZZ) from the lanes' affine R_l, U_l (K a power of 2)."""
    L = lane_r.shape[0]
    UX, UY, UZZ, UZZZ = ONE, ONE, ZERO, ZERO
    RX, RY, RZZ, RZZZ = ONE, ONE, ZERO, ZERO
    TX, TY, TZZ, TZZZ = ONE, ONE, ZERO, ZERO
    for l in range(L - 1, -1, -1):
        x, y = aff_load(lane_u, l)
        UX, UY, UZZ, UZZZ = xyzz_madd(UX, UY, UZZ, UZZZ, x, y)
        if l > 0:
            x, y = aff_load(lane_r, l)
            RX, RY, RZZ, RZZZ = xyzz_madd(RX, RY, RZZ, RZZZ, x, y)
            TX, TY, TZZ, TZZZ = xyzz_add(TX, TY, TZZ, TZZZ, RX, RY, RZZ, RZZZ)
    k = K
    while k > 1:                                     # K is a power of two
        TX, TY, TZZ, TZZZ = xyzz_dbl(TX, TY, TZZ, TZZZ)
        k >>= 1
    return xyzz_add(TX, TY, TZZ, TZZZ, UX, UY, UZZ, UZZZ)


@nb.njit(inline="always")
def _bucket_trees(src, dst, cnt, start, nstart, prefix, nbuckets):
    """Sum every bucket b = 1..nbuckets (cnt[b] affine points from src[start[b]]) by a
    pairwise tree of affine additions, one shared inversion per tree level for all buckets.
    On return cnt[b] is 0 or 1 and start[b] points at the bucket's sum in the returned array
    (src or dst: the two swap roles level by level)."""
    # pairwise-tree levels: each halves every bucket, one inversion per level
    while True:
        npairs = 0
        s = 0
        for b in range(1, nbuckets + 1):
            nstart[b] = s
            s += (cnt[b] + 1) >> 1
            npairs += cnt[b] >> 1
        if npairs == 0:
            break
        acc = ONE
        j = 0
        for b in range(1, nbuckets + 1):
            base = start[b]
            for t in range(cnt[b] >> 1):
                x1, y1 = aff_load(src, base + 2 * t)
                x2, y2 = aff_load(src, base + 2 * t + 1)
                den, case = aff_den(x1, y1, x2, y2)
                store(prefix, j, acc)
                acc = fq_mul(acc, den)
                j += 1
        inv = fq_inv(acc)
        j = npairs - 1
        for b in range(nbuckets, 0, -1):
            cb = cnt[b]
            base = start[b]
            nb0 = nstart[b]
            if cb & 1:
                for q in range(8):
                    dst[nb0 + (cb >> 1), q] = src[base + cb - 1, q]
            for t in range((cb >> 1) - 1, -1, -1):
                x1, y1 = aff_load(src, base + 2 * t)
                x2, y2 = aff_load(src, base + 2 * t + 1)
                den, case = aff_den(x1, y1, x2, y2)
                invd = fq_mul(inv, load(prefix, j))
                inv = fq_mul(inv, den)
                x3, y3 = aff_finish(x1, y1, x2, y2, case, invd)
                aff_store(dst, nb0 + t, x3, y3)
                j -= 1
            cnt[b] = (cb + 1) >> 1
            start[b] = nb0
        tmp = src
        src = dst
        dst = tmp
    return src


@nb.njit(inline="always")
def _bucket_reduce_xyzz(src, cnt, start, base, nbuckets):
    """sum_{b=1..nbuckets} b * B_(base + b) by running sums in XYZZ (B empty where cnt is 0)."""
    RX, RY, RZZ, RZZZ = ONE, ONE, ZERO, ZERO
    TX, TY, TZZ, TZZZ = ONE, ONE, ZERO, ZERO
    for b in range(base + nbuckets, base, -1):
        if cnt[b]:
            x, y = aff_load(src, start[b])
            RX, RY, RZZ, RZZZ = xyzz_madd(RX, RY, RZZ, RZZZ, x, y)
        TX, TY, TZZ, TZZZ = xyzz_add(TX, TY, TZZ, TZZZ, RX, RY, RZZ, RZZZ)
    return TX, TY, TZZ, TZZZ


@nb.njit(inline="always")
def _bucket_sums(src, cnt, start, half, out):
    """out[b] = bucket b's sum (src[start[b]]) for b = 1..half, a zero row where empty."""
    for b in range(half + 1):
        if b > 0 and cnt[b]:
            for q in range(8):
                out[b, q] = src[start[b], q]
        else:
            for q in range(8):
                out[b, q] = 0


@nb.njit(**_JIT)
def _pip_chunk(pts, idx, sc, negf, lo, hi, c, nwin, out, k, vec):
    """XYZZ sum over points idx[lo:hi] of sc[i] * (+-)pts[idx[i]] into out[k].
    vec: pts are in the x16 form and the bucket trees run eight additions at a time with
    AVX-512 IFMA (ifma_buckets.py)."""
    m = hi - lo
    half = 1 << (c - 1)
    carry = np.zeros(m, np.uint8)
    dig = np.empty(m, np.int32)
    cnt = np.zeros(half + 1, np.int64)
    start = np.zeros(half + 1, np.int64)
    nstart = np.zeros(half + 1, np.int64)
    fill = np.zeros(half + 1, np.int64)
    buf_a = np.empty((m + 1, 8), np.uint64)                       # + a scratch row
    buf_b = np.empty(((m + min(m, half)) // 2 + 2, 8), np.uint64)
    prefix = np.empty((m // 2 + 1, 4), np.uint64)
    pairs, v_acc, v_prefix, v_flags, v_inv = work_arrays(m, vec)
    win = np.empty((nwin, 16), np.uint64)
    lanes = max(1, half // _LANE_WIDTH)
    sums = np.empty((half + 1 if half >= _LANES_MIN and not vec else 0, 8), np.uint64)
    lane_r = np.empty((lanes, 8), np.uint64)
    lane_u = np.empty((lanes, 8), np.uint64)
    lane_pref = np.empty((lanes, 4), np.uint64)
    work = np.empty((half + 2 + 2 * lanes if vec and half >= _LANES_MIN else 0, 8), np.uint64)
    for w in range(nwin):
        # signed digits of this window, and bucket sizes
        cnt[:] = 0
        _window_digits(sc, lo, m, w * c, c, carry, dig, cnt)
        s = 0
        for b in range(1, half + 1):
            start[b] = s
            fill[b] = s
            s += cnt[b]
        # counting sort of the points into bucket order, signs applied
        for i in range(m):
            d = dig[i]
            if d == 0:
                continue
            ad = d if d > 0 else -d
            pos = fill[ad]
            fill[ad] = pos + 1
            x, y = aff_load(pts, idx[lo + i])
            flip = np.uint64(1 if d < 0 else 0) ^ np.uint64(negf[lo + i])
            aff_store(buf_a, pos, x, _cond_neg(y, flip))
        if vec:
            src = bucket_trees_x16(buf_a, buf_b, cnt, start, nstart, pairs, v_acc, v_prefix,
                                   v_flags, v_inv, half)
        else:
            src = _bucket_trees(buf_a, buf_b, cnt, start, nstart, prefix, half)
        # sum_b b * B_b
        if vec and half >= _LANES_MIN:                # the lanes on x16 rows, vectorized
            _bucket_sums(src, cnt, start, half, work)
            lanes_x16(work, half, lanes, pairs, v_acc, v_prefix, v_flags, v_inv)
            TX, TY, TZZ, TZZZ = _lanes_combine(work[half + 1:half + 1 + lanes],
                                               work[half + 1 + lanes:half + 1 + 2 * lanes],
                                               half // lanes)
        elif vec:
            for b in range(1, half + 1):
                if cnt[b]:
                    from_x16_row(src, start[b])
            TX, TY, TZZ, TZZZ = _bucket_reduce_xyzz(src, cnt, start, 0, half)
        elif half >= _LANES_MIN:
            _bucket_sums(src, cnt, start, half, sums)
            TX, TY, TZZ, TZZZ = _bucket_reduce_lanes(sums, half, lane_r, lane_u, lane_pref)
        else:
            TX, TY, TZZ, TZZZ = _bucket_reduce_xyzz(src, cnt, start, 0, half)
        xyzz_store(win, w, TX, TY, TZZ, TZZZ)
    # Horner over the windows
    AX, AY, AZZ, AZZZ = xyzz_load(win, nwin - 1)
    for w in range(nwin - 2, -1, -1):
        for _ in range(c):
            AX, AY, AZZ, AZZZ = xyzz_dbl(AX, AY, AZZ, AZZZ)
        WX, WY, WZZ, WZZZ = xyzz_load(win, w)
        AX, AY, AZZ, AZZZ = xyzz_add(AX, AY, AZZ, AZZZ, WX, WY, WZZ, WZZZ)
    xyzz_store(out, k, AX, AY, AZZ, AZZZ)


@nb.njit(**_JIT)
def _pip_empty(out, k):
    xyzz_store(out, k, ONE, ONE, ZERO, ZERO)


def _pip_run(pts, idx, sc, negf, c, nwin, nchunks, out, vec=False):
    """Pippenger over idx/sc/negf split into nchunks pieces, one per thread; out[k] gets the
    XYZZ sum of piece k (the identity for an empty piece). vec: see _pip_chunk."""
    m = sc.shape[0]
    step = -(-m // nchunks)

    def piece(k, _):
        lo = k * step
        hi = min(m, lo + step)
        if lo < hi:
            _pip_chunk(pts, idx, sc, negf, lo, hi, c, nwin, out, k, vec)
        else:
            _pip_empty(out, k)

    parallel_ranges(piece, nchunks, tasks=nchunks) if nchunks > 1 else piece(0, 1)


@nb.njit(**_JIT)
def _all_digits(sc, c, nwin, dig):
    """dig[w, i]: the signed c-bit digit of scalar i in window w (carries run upwards)."""
    m = sc.shape[0]
    carry = np.zeros(m, np.uint8)
    cnt = np.zeros((1 << (c - 1)) + 1, np.int64)
    for w in range(nwin):
        _window_digits(sc, 0, m, w * c, c, carry, dig[w], cnt)


@nb.njit(**_JIT)
def _pip_windows(pts, idx, dig, negf, w0, w1, c, out, k, vec):
    """XYZZ sum over windows w0..w1-1 of 2^(c w) sum_i dig[w, i] (+-)pts[idx[i]] into out[k].

    For few points: the buckets of all these windows go through one set of tree levels, so
    each level costs one inversion for all windows instead of one per window (with a few
    hundred points, per-window inversions cost as much as the additions themselves).
    vec: as in _pip_chunk (x16 points, the trees eight additions at a time)."""
    m = dig.shape[1]
    half = 1 << (c - 1)
    nbk = (w1 - w0) * half           # bucket (w, |d|) is (w - w0) * half + |d|
    cnt = np.zeros(nbk + 1, np.int64)
    for w in range(w0, w1):
        base = (w - w0) * half
        for i in range(m):
            d = dig[w, i]
            if d != 0:
                cnt[base + (d if d > 0 else -d)] += 1
    start = np.zeros(nbk + 1, np.int64)
    fill = np.zeros(nbk + 1, np.int64)
    nstart = np.zeros(nbk + 1, np.int64)
    e = 0
    for b in range(1, nbk + 1):
        start[b] = e
        fill[b] = e
        e += cnt[b]
    buf_a = np.empty((e + 1, 8), np.uint64)                       # + a scratch row
    buf_b = np.empty(((e + min(e, nbk)) // 2 + 2, 8), np.uint64)
    prefix = np.empty((e // 2 + 1, 4), np.uint64)
    pairs, v_acc, v_prefix, v_flags, v_inv = work_arrays(e, vec)
    for w in range(w0, w1):
        base = (w - w0) * half
        for i in range(m):
            d = dig[w, i]
            if d == 0:
                continue
            b = base + (d if d > 0 else -d)
            pos = fill[b]
            fill[b] = pos + 1
            x, y = aff_load(pts, idx[i])
            flip = np.uint64(1 if d < 0 else 0) ^ np.uint64(negf[i])
            aff_store(buf_a, pos, x, _cond_neg(y, flip))
    if vec:
        src = bucket_trees_x16(buf_a, buf_b, cnt, start, nstart, pairs, v_acc, v_prefix,
                               v_flags, v_inv, nbk)
        for b in range(1, nbk + 1):
            if cnt[b]:
                from_x16_row(src, start[b])
    else:
        src = _bucket_trees(buf_a, buf_b, cnt, start, nstart, prefix, nbk)
    # Horner from the top window down, then the factor 2^(c w0) of the lowest one
    AX, AY, AZZ, AZZZ = ONE, ONE, ZERO, ZERO
    for w in range(w1 - 1, w0 - 1, -1):
        if w < w1 - 1:
            for _ in range(c):
                AX, AY, AZZ, AZZZ = xyzz_dbl(AX, AY, AZZ, AZZZ)
        TX, TY, TZZ, TZZZ = _bucket_reduce_xyzz(src, cnt, start, (w - w0) * half, half)
        AX, AY, AZZ, AZZZ = xyzz_add(AX, AY, AZZ, AZZZ, TX, TY, TZZ, TZZZ)
    for _ in range(c * w0):
        AX, AY, AZZ, AZZZ = xyzz_dbl(AX, AY, AZZ, AZZZ)
    xyzz_store(out, k, AX, AY, AZZ, AZZZ)


def _pip_small(pts, idx, sc, negf, c, nwin, out, vec=False):
    """Pippenger for few points (`_pip_windows`): the windows are split between the threads
    (len(out) pieces, each with its own buckets), not the points."""
    dig = np.empty((nwin, sc.shape[0]), np.int32)
    _all_digits(sc, c, nwin, dig)
    pieces = out.shape[0]
    step = -(-nwin // pieces)

    def piece(k, _):
        w0 = min(nwin, k * step)
        _pip_windows(pts, idx, dig, negf, w0, min(nwin, w0 + step), c, out, k, vec)

    parallel_ranges(piece, pieces, tasks=pieces) if pieces > 1 else piece(0, 1)


@nb.njit(**_JIT)
def _straus(pts, idx, dig, negf, c, out):
    """out[0] = XYZZ sum_i (sum_w 2^(c w) dig[w, i]) (+-)pts[idx[i]] for a handful of points
    (Straus): a table of the multiples 1..2^(c-1) of each point and c doublings per window
    shared by all points; no buckets, so nothing to pay per window but the doublings."""
    m = dig.shape[1]
    nwin = dig.shape[0]
    half = 1 << (c - 1)
    tab = np.empty((m * half, 16), np.uint64)        # row i * half + j: (j + 1) * (+-P_i)
    for i in range(m):
        x, y = aff_load(pts, idx[i])
        y = _cond_neg(y, np.uint64(negf[i]))
        TX, TY, TZZ, TZZZ = x, y, ONE, ONE
        xyzz_store(tab, i * half, TX, TY, TZZ, TZZZ)
        for j in range(1, half):
            TX, TY, TZZ, TZZZ = xyzz_madd(TX, TY, TZZ, TZZZ, x, y)
            xyzz_store(tab, i * half + j, TX, TY, TZZ, TZZZ)
    AX, AY, AZZ, AZZZ = ONE, ONE, ZERO, ZERO
    for w in range(nwin - 1, -1, -1):
        if w < nwin - 1:
            for _ in range(c):
                AX, AY, AZZ, AZZZ = xyzz_dbl(AX, AY, AZZ, AZZZ)
        for i in range(m):
            d = dig[w, i]
            if d == 0:
                continue
            BX, BY, BZZ, BZZZ = xyzz_load(tab, i * half + (d if d > 0 else -d) - 1)
            if d < 0:
                BY = fq_sub(ZERO, BY)
            AX, AY, AZZ, AZZZ = xyzz_add(AX, AY, AZZ, AZZZ, BX, BY, BZZ, BZZZ)
    xyzz_store(out, 0, AX, AY, AZZ, AZZZ)


def _straus_width(m: int, bits: int) -> int:
    """The window of `_straus` minimising the modelled cost: tables m 2^(c-1) mixed
    additions, then per window c doublings and m additions (in multiplications)."""
    return min(range(2, 8), key=lambda c: m * (1 << (c - 1)) * 10
               + _nwin(bits, c) * (10 * c + 16 * m))


@nb.njit(**_JIT)
def _xyzz_sum(parts, out):
    AX, AY, AZZ, AZZZ = ONE, ONE, ZERO, ZERO
    for k in range(parts.shape[0]):
        BX, BY, BZZ, BZZZ = xyzz_load(parts, k)
        AX, AY, AZZ, AZZZ = xyzz_add(AX, AY, AZZ, AZZZ, BX, BY, BZZ, BZZZ)
    xyzz_store(out, 0, AX, AY, AZZ, AZZZ)


def _nwin(bits: int, c: int) -> int:
    return -(-(bits + 1) // c)


def _plan(m: int, bits: int, threads: int, vec: bool = False):
    """(cost, c, chunks) minimising the modelled time of one Pippenger run over m points
    whose scalars have at most `bits` bits. A bucket tree over k points in a bucket costs
    k - 1 additions, so a window costs (points - non-empty buckets) additions; on the small
    path the additions cost little next to the buckets' running sums (see _SMALL_POINT)."""
    small = m < _SMALL_BELOW
    chunks = 1 if small or m < 512 else min(threads, max(1, m // 256))
    per = m / chunks
    best = None
    for c in range(1, _MAX_C + 1):
        nb_ = 1 << (c - 1)
        if c > 1 and nb_ > 4 * per:
            break
        if small:
            cost = _nwin(bits, c) * (per * (_SMALL_POINT if vec else _SMALL_POINT_SCALAR)
                                     + nb_ * _BUCKET)
        else:
            filled = nb_ * -math.expm1(-per / nb_)
            bucket = _BUCKET_LANES if nb_ >= _LANES_MIN else _BUCKET
            cost = _nwin(bits, c) * (per * _SORT + (per - filled) * _ADD + nb_ * bucket)
        if best is None or cost < best[0]:
            best = (cost, c, chunks)
    return best


_THRESHOLDS = (1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 128,
               160, 192, 224, 253)


def plan_groups(bits: np.ndarray, threads: int | None = None, vec: bool | None = None):
    """Split points by scalar bit length into at most three groups [(lo, hi]] (bits 0 are
    skipped) minimising the modelled total time; returns [(lo, hi, c, chunks)]. vec: whether
    the IFMA trees run (ifma.available() by default)."""
    threads = threads or _threads()
    vec = ifma.available() if vec is None else vec
    hist = np.bincount(bits, minlength=254)
    cum = np.cumsum(hist)
    maxbits = int(np.flatnonzero(hist)[-1]) if cum[-1] > hist[0] else 0
    if maxbits == 0:
        return []
    cands = sorted({t for t in _THRESHOLDS if t < maxbits} | {maxbits})
    # drop thresholds that do not separate any points
    keep = [0]
    for t in cands:
        if cum[t] != cum[keep[-1]]:
            keep.append(t)
    cands = keep[1:]
    memo = {}

    def cost(lo, hi):
        key = (lo, hi)
        if key not in memo:
            m = int(cum[hi] - cum[lo])
            memo[key] = (0.0, 0, 0) if m == 0 else _plan(m, hi, threads, vec)
        return memo[key]

    top = cands[-1]
    best = (cost(0, top)[0] + _GROUP_OVERHEAD, [(0, top)])
    for i, t1 in enumerate(cands[:-1]):
        c2 = cost(0, t1)[0] + cost(t1, top)[0] + 2 * _GROUP_OVERHEAD
        if c2 < best[0]:
            best = (c2, [(0, t1), (t1, top)])
        for t2 in cands[i + 1:-1]:
            c3 = cost(0, t1)[0] + cost(t1, t2)[0] + cost(t2, top)[0] + 3 * _GROUP_OVERHEAD
            if c3 < best[0]:
                best = (c3, [(0, t1), (t1, t2), (t2, top)])
    return [(lo, hi, cost(lo, hi)[1], cost(lo, hi)[2]) for lo, hi in best[1]]


def msm_inputs(points, scalars):
    """The checked points (n, 8) and scalars (n, 4) of an MSM, the scalars folded as
    (folded, negf, bits) by `fold_scalars` (s > r/2 becomes r - s on the negated point), or
    None when there are no points. Shared by this module and the CUDA MSM (cuda.py)."""
    pts, _ = _points(points)
    sc = np.asarray(scalars)
    if sc.dtype != np.uint64 or sc.ndim != 2 or sc.shape[1] != 4:
        raise ValueError(f"msm: scalars must be an (n, 4) uint64 Fr array, got {sc.dtype} {sc.shape}")
    if sc.shape[0] != pts.shape[0]:
        raise ValueError(f"msm: {pts.shape[0]} points but {sc.shape[0]} scalars")
    if pts.shape[0] == 0:
        return None
    return (pts,) + fold_scalars(Fr.to_canonical(np.ascontiguousarray(sc)))


# A device backend (snarkgpt.device.use) sets this to take MSMs over: offload(points, scalars)
# returns the affine point, or None to leave the work to the CPU kernels here.
offload = None


def msm(points, scalars) -> np.ndarray:
    """sum_i scalars[i] * points[i] as one affine (8,) point.

    points: (n, 8) affine G1 array (infinity rows allowed); scalars: (n, 4) Fr elements in
    Montgomery form. Zero scalars and points at infinity are skipped; small scalars (and small
    negative ones, r - v) are detected and cost only the windows they need."""
    if offload is not None:
        r = offload(points, scalars)
        if r is not None:
            return r
    inputs = msm_inputs(points, scalars)
    if inputs is None:
        return np.zeros(8, np.uint64)
    pts, folded, negf, bits = inputs
    n = pts.shape[0]
    inf = ~pts.any(axis=1)
    if inf.any():
        bits[inf] = 0
    if n <= _STRAUS_MAX:
        idx = np.flatnonzero(bits).astype(np.int64)
        if idx.size == 0:
            return np.zeros(8, np.uint64)
        maxbits = int(bits.max())
        c = _straus_width(idx.size, maxbits)
        dig = np.empty((_nwin(maxbits, c), idx.size), np.int32)
        _all_digits(np.ascontiguousarray(folded[idx]), c, dig.shape[0], dig)
        total = np.empty((1, 16), np.uint64)
        _straus(pts, idx, dig, negf[idx], c, total)
        return xyzz_to_affine(total)[0]
    vec = ifma.available()
    groups = plan_groups(bits, vec=vec)
    if not groups:
        return np.zeros(8, np.uint64)
    if vec:                 # the IFMA trees work on x16 coordinates (ifma_buckets.py)
        pts16 = np.empty_like(pts)
        to_x16(pts, pts16)
        pts = pts16
    parts = []
    for lo, hi, c, chunks in groups:
        if len(groups) == 1 and not (bits == 0).any():
            idx = np.arange(n, dtype=np.int64)
            g_sc, g_neg = folded, negf
        else:
            idx = np.flatnonzero((bits > lo) & (bits <= hi)).astype(np.int64)
            g_sc, g_neg = np.ascontiguousarray(folded[idx]), negf[idx]
        if idx.shape[0] < _SMALL_BELOW:
            pieces = min(_threads(), _nwin(hi, c)) if idx.shape[0] >= _SMALL_THREADS_FROM else 1
            out = np.empty((pieces, 16), np.uint64)
        else:
            out = np.empty((chunks, 16), np.uint64)
        if idx.shape[0] < _SMALL_BELOW:
            _pip_small(pts, idx, g_sc, g_neg, c, _nwin(hi, c), out, vec)
        else:
            _pip_run(pts, idx, g_sc, g_neg, c, _nwin(hi, c), chunks, out, vec)
        parts.append(out)
    total = np.empty((1, 16), np.uint64)
    _xyzz_sum(np.concatenate(parts), total)
    return xyzz_to_affine(total)[0]


def random_points(n: int, rng=None) -> np.ndarray:
    """n pseudo-random G1 points (multiples of the generator by random Fr scalars)."""
    rng = np.random.default_rng(rng)
    return fixed_base_mul(GENERATOR, random_scalars(n, None, rng))
