"""Fixed-base multiplication on G1: many scalars times one point (keygen, the SRS, tests).

Signed-digit windows of width w: a table of d * 2^(w*j) * base for d = 1..2^(w-1) in each
window j, then every result is a sum of one table entry per window, accumulated in affine
coordinates with one shared inversion per window and chunk of scalars (about 6 Fq
multiplications per window and scalar).
"""
import numba as nb
import numpy as np

from ..field.arith import fq_mul, fq_neg, load, store
from .g1_formulas import (_JIT, ONE, ZERO, aff_den, aff_finish, aff_load, aff_store, fq_inv,
                          points, xyzz_dbl, xyzz_madd, xyzz_store, xyzz_to_affine)
from .parallel import parallel_ranges
from .scalars import fold_scalars, scalars_canonical


@nb.njit(**_JIT)
def _fb_bases(b, w, nwin, out):
    """out[j] = 2^(w*j) * b[0] as XYZZ, for j < nwin."""
    x, y = aff_load(b, 0)
    X, Y, ZZ, ZZZ = x, y, ONE, ONE
    for j in range(nwin):
        xyzz_store(out, j, X, Y, ZZ, ZZZ)
        for _ in range(w):
            X, Y, ZZ, ZZZ = xyzz_dbl(X, Y, ZZ, ZZZ)


@nb.njit(**_JIT)
def _fb_table(bases_aff, half, out):
    """out[j * half + d - 1] = d * base_j (XYZZ), d = 1..half."""
    for j in range(bases_aff.shape[0]):
        x, y = aff_load(bases_aff, j)
        X, Y, ZZ, ZZZ = ONE, ONE, ZERO, ZERO
        for d in range(half):
            X, Y, ZZ, ZZZ = xyzz_madd(X, Y, ZZ, ZZZ, x, y)
            xyzz_store(out, j * half + d, X, Y, ZZ, ZZZ)


@nb.njit(inline="always")
def _digit(sc, i, off, w, carry_in):
    """Window bits of limbs sc[i] at bit offset `off`, width w (< 64), plus carry."""
    li = off >> 6
    sh = off & 63
    v = np.uint64(0)
    if li < 4:
        v = sc[i, li] >> np.uint64(sh)
        if sh + w > 64 and li + 1 < 4:
            v |= sc[i, li + 1] << np.uint64(64 - sh)
    v &= (np.uint64(1) << np.uint64(w)) - np.uint64(1)
    return np.int64(v) + carry_in


@nb.njit(inline="always")
def _fb_operands(out, table, base, negf, dig, i, lo):
    """The addition out[i] + T[|digit|] of `_fb_chunk` (the entry negated as the signs ask)."""
    d = dig[i - lo]
    x1, y1 = aff_load(out, i)
    x2, y2 = aff_load(table, base + (d if d > 0 else -d) - 1)
    if (d < 0) != (negf[i] != 0):
        y2 = fq_neg(y2)
    return x1, y1, x2, y2


@nb.njit(**_JIT)
def _fb_chunk(table, half, w, j, sc, negf, lo, hi, out, carry, prefix, dig):
    """Window j for scalars lo..hi: out[i] += T_j[digit_j(i)], batch-affine (one inversion)."""
    full = 2 * half
    base = j * half
    # pass 1: signed digits, and the running product of the denominators
    acc = ONE
    for i in range(lo, hi):
        d = _digit(sc, i, j * w, w, np.int64(carry[i]))
        if d > half:
            d -= full
            carry[i] = 1
        else:
            carry[i] = 0
        dig[i - lo] = d
        store(prefix, i - lo, acc)
        if d == 0:
            continue
        x1, y1, x2, y2 = _fb_operands(out, table, base, negf, dig, i, lo)
        den, case = aff_den(x1, y1, x2, y2)
        acc = fq_mul(acc, den)
    inv = fq_inv(acc)
    # pass 2 (backward): peel off each inverse and finish that addition in place
    for i in range(hi - 1, lo - 1, -1):
        if dig[i - lo] == 0:
            continue
        x1, y1, x2, y2 = _fb_operands(out, table, base, negf, dig, i, lo)
        den, case = aff_den(x1, y1, x2, y2)
        invd = fq_mul(inv, load(prefix, i - lo))
        inv = fq_mul(inv, den)
        x3, y3 = aff_finish(x1, y1, x2, y2, case, invd)
        aff_store(out, i, x3, y3)


@nb.njit(**_JIT)
def _fb_range(table, half, w, nwin, sc, negf, out, lo, hi, chunk):
    """Scalars lo..hi, window-major: the window's table slice (2^(w-1) points) stays in cache
    while every scalar of the range visits it; each window goes in chunks (one inversion each)."""
    m = hi - lo
    carry = np.zeros(sc.shape[0], np.uint8)
    prefix = np.empty((min(chunk, m), 4), np.uint64)
    dig = np.empty(min(chunk, m), np.int64)
    for i in range(lo, hi):
        aff_store(out, i, ZERO, ZERO)
    for j in range(nwin):
        for a in range(lo, hi, chunk):
            _fb_chunk(table, half, w, j, sc, negf, a, min(hi, a + chunk), out, carry, prefix, dig)


def _fb_width(n: int, maxbits: int) -> int:
    """Window width minimising n*windows*(batch-affine add) + table build."""
    best, best_w = None, 2
    for w in range(2, 17):
        nwin = -(-(maxbits + 1) // w)
        # per window and scalar ~7 multiplications; table entries ~20 to build; a window's
        # table slice beyond the L2 cache (~1 MiB = 2^14 points) makes the lookups misses
        miss = 0.0 if w <= 15 else 8.0
        cost = n * nwin * (7.0 + miss) + nwin * (1 << (w - 1)) * 20.0
        if best is None or cost < best:
            best, best_w = cost, w
    return best_w


def fixed_base_mul(base, scalars, canonical: bool = False) -> np.ndarray:
    """scalars[i] * base for one affine base point and many scalars -> affine (n, 8).

    Scalars as in g1.scalar_mul (Fr Montgomery array or ints); canonical=True means an (n, 4)
    array of canonical limbs already."""
    b, _ = points(base, "base")
    if b.shape[0] != 1:
        raise ValueError("G1 fixed_base_mul: expected one base point")
    canon = np.ascontiguousarray(scalars, dtype=np.uint64) if canonical else scalars_canonical(scalars)
    n = canon.shape[0]
    out = np.zeros((n, 8), np.uint64)
    if n == 0 or not b.any():
        return out
    folded, negf, bits = fold_scalars(canon)
    maxbits = int(bits.max())
    if maxbits == 0:
        return out
    w = _fb_width(n, maxbits)
    nwin = -(-(maxbits + 1) // w)
    half = 1 << (w - 1)
    bases = np.empty((nwin, 16), np.uint64)
    _fb_bases(b, w, nwin, bases)
    table_x = np.empty((nwin * half, 16), np.uint64)
    _fb_table(xyzz_to_affine(bases), half, table_x)
    table = xyzz_to_affine(table_x)
    parallel_ranges(lambda lo, hi: _fb_range(table, half, w, nwin, folded, negf, out, lo, hi, 4096),
                    n, min_per_thread=256)
    return out
