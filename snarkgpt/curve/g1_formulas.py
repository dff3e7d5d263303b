"""G1 on the CPU, the Numba layer below g1.py, msm.py, fixed_base.py and the IFMA modules.

Representations (all coordinates are Fq elements in Montgomery form, 4 uint64 limbs each):

* affine, shape (n, 8): x limbs then y limbs. The point at infinity is the all-zero row.
  (0, 0) is not on the curve (0 != 0 + 3), so the encoding is unambiguous.
* Jacobian, shape (n, 12): (X, Y, Z) with x = X/Z^2, y = Y/Z^3; infinity has Z = 0.
* XYZZ, shape (n, 16): (X, Y, ZZ, ZZZ) with x = X/ZZ, y = Y/ZZZ and ZZ^3 = ZZZ^2; infinity has
  ZZ = 0. XYZZ has the cheapest mixed addition (8M + 2S against 7M + 4S for Jacobian), so the
  MSM's bucket sums use it; Jacobian has the cheapest doubling (2M + 5S), so the
  double-and-add in `g1.scalar_mul` uses that.

Here: the Fq helpers, the point formulas of formulas.py over Fq (jac_*, xyzz_*), the affine
addition split around its inversion (aff_den / aff_finish, for Montgomery's trick), row loads
and stores, and the batch conversions to affine that every caller shares.
"""
import numba as nb
import numpy as np

from ..field.arith import U0, eq, fq_add, fq_mul, fq_pow, fq_sub, is_zero, load, sbb, store
from ..field.params import FQ_MODULUS, FQ_ONE, FQ_P, to_limbs
from .formulas import point_formulas
from .rows import point_rows

_JIT = dict(cache=True, nogil=True)

ZERO = (U0, U0, U0, U0)
ONE = FQ_ONE
_R = 1 << 256
B3 = to_limbs(3 * _R % FQ_MODULUS)                   # the curve constant b = 3, Montgomery form
QM2 = to_limbs(FQ_MODULUS - 2)                        # Fermat inverse exponent
SQRT_EXP = to_limbs((FQ_MODULUS + 1) // 4)            # q = 3 mod 4, so sqrt(a) = a^((q+1)/4)
HALF_Q = to_limbs((FQ_MODULUS - 1) // 2)
GEN_X, GEN_Y = 1, 2
# the generator (1, 2) as an affine row
GENERATOR = np.array(to_limbs(GEN_X * _R % FQ_MODULUS) + to_limbs(GEN_Y * _R % FQ_MODULUS),
                     dtype=np.uint64)

# Fq arithmetic: the straight-line LLVM intrinsics of field/arith.py (Comba Montgomery
# product, i256 add/sub). Each is one opaque node for Numba, which keeps the point formulas
# quick to compile.


@nb.njit(inline="always")
def fq_sqr(a):
    return fq_mul(a, a)


@nb.njit(inline="always")
def fq_dbl(a):
    return fq_add(a, a)


@nb.njit(inline="always")
def fq_inv(a):
    """a^-1 by Fermat (a != 0): a^(q-2) by 4-bit windows (arith.fq_pow)."""
    return fq_pow(a, QM2)


# ---- the point formulas (formulas.py) over Fq: jac_dbl, jac_madd (Jacobian + affine),
# jac_add; xyzz_mdbl (2 * affine), xyzz_dbl, xyzz_madd (XYZZ + affine), xyzz_add ------------
(aff_is_inf, jac_dbl, jac_madd, jac_add,
 xyzz_mdbl, xyzz_dbl, xyzz_madd, xyzz_add) = point_formulas(
    fq_add, fq_sub, fq_mul, fq_sqr, fq_dbl, is_zero, ONE, ZERO, nb.njit(nogil=True))


# ---- rows ------------------------------------------------------------------------------------
@nb.njit(inline="always")
def aff_load(arr, i):
    return ((arr[i, 0], arr[i, 1], arr[i, 2], arr[i, 3]),
            (arr[i, 4], arr[i, 5], arr[i, 6], arr[i, 7]))


@nb.njit(inline="always")
def aff_store(arr, i, x, y):
    arr[i, 0] = x[0]
    arr[i, 1] = x[1]
    arr[i, 2] = x[2]
    arr[i, 3] = x[3]
    arr[i, 4] = y[0]
    arr[i, 5] = y[1]
    arr[i, 6] = y[2]
    arr[i, 7] = y[3]


@nb.njit(inline="always")
def jac_load(jac, i):
    return ((jac[i, 0], jac[i, 1], jac[i, 2], jac[i, 3]),
            (jac[i, 4], jac[i, 5], jac[i, 6], jac[i, 7]),
            (jac[i, 8], jac[i, 9], jac[i, 10], jac[i, 11]))


@nb.njit(inline="always")
def jac_store(out, i, X, Y, Z):
    for k in range(4):
        out[i, k] = X[k]
        out[i, 4 + k] = Y[k]
        out[i, 8 + k] = Z[k]


@nb.njit(inline="always")
def xyzz_load(arr, i):
    return ((arr[i, 0], arr[i, 1], arr[i, 2], arr[i, 3]),
            (arr[i, 4], arr[i, 5], arr[i, 6], arr[i, 7]),
            (arr[i, 8], arr[i, 9], arr[i, 10], arr[i, 11]),
            (arr[i, 12], arr[i, 13], arr[i, 14], arr[i, 15]))


@nb.njit(inline="always")
def xyzz_store(arr, i, X, Y, ZZ, ZZZ):
    for k in range(4):
        arr[i, k] = X[k]
        arr[i, 4 + k] = Y[k]
        arr[i, 8 + k] = ZZ[k]
        arr[i, 12 + k] = ZZZ[k]


# ---- affine addition around one shared inversion --------------------------------------------
# Affine addition P + Q split around the inversion of its denominator, so that many additions
# can share one inversion (Montgomery's trick). `aff_den` returns the denominator and a case:
#   0: general, den = x2 - x1         1: doubling (P == Q), den = 2*y1
#   2: P is infinity, result Q         3: Q is infinity, result P
#   4: P == -Q, result infinity
# Cases 2-4 use den = 1 so they do not disturb the shared product. y1 = 0 never occurs on a
# valid point (r is odd, so G1 has no point of order 2).
@nb.njit(inline="always")
def aff_den(x1, y1, x2, y2):
    if aff_is_inf(x1, y1):
        return ONE, 2
    if aff_is_inf(x2, y2):
        return ONE, 3
    if eq(x1, x2):
        if eq(y1, y2):
            return fq_dbl(y1), 1
        return ONE, 4
    return fq_sub(x2, x1), 0


@nb.njit(inline="always")
def aff_finish(x1, y1, x2, y2, case, inv):
    """P + Q given `inv` = 1/den from `aff_den` (3M in the general case)."""
    if case == 0:
        lam = fq_mul(fq_sub(y2, y1), inv)
    elif case == 1:
        xx = fq_sqr(x1)
        lam = fq_mul(fq_add(fq_dbl(xx), xx), inv)
    elif case == 2:
        return x2, y2
    elif case == 3:
        return x1, y1
    else:
        return ZERO, ZERO
    x3 = fq_sub(fq_sub(fq_sqr(lam), x1), x2)
    y3 = fq_sub(fq_mul(lam, fq_sub(x1, x3)), y1)
    return x3, y3


@nb.njit(**_JIT)
def batch_add(acc, src, stride, off, pref):
    """acc[l] += src[l * stride + off] for every row l of acc, affine, one shared inversion
    (pref: an (len(acc), 4) scratch array for the prefix products)."""
    n = acc.shape[0]
    prod = ONE
    for l in range(n):
        x1, y1 = aff_load(acc, l)
        x2, y2 = aff_load(src, l * stride + off)
        den, case = aff_den(x1, y1, x2, y2)
        store(pref, l, prod)
        prod = fq_mul(prod, den)
    inv = fq_inv(prod)
    for l in range(n - 1, -1, -1):
        x1, y1 = aff_load(acc, l)
        x2, y2 = aff_load(src, l * stride + off)
        den, case = aff_den(x1, y1, x2, y2)
        invd = fq_mul(inv, load(pref, l))
        inv = fq_mul(inv, den)
        x3, y3 = aff_finish(x1, y1, x2, y2, case, invd)
        aff_store(acc, l, x3, y3)


# ---- limb comparisons ------------------------------------------------------------------------
@nb.njit(inline="always")
def limbs_gt(a, b):
    """a > b for canonical limb tuples."""
    for k in range(3, -1, -1):
        if a[k] != b[k]:
            return a[k] > b[k]
    return False


@nb.njit(inline="always")
def limbs_lt_q(a):
    _, b = sbb(a[0], FQ_P[0], U0)
    _, b = sbb(a[1], FQ_P[1], b)
    _, b = sbb(a[2], FQ_P[2], b)
    _, b = sbb(a[3], FQ_P[3], b)
    return b != U0


# ---- batch conversions to affine --------------------------------------------------------------
@nb.njit(**_JIT)
def _k_jac_to_affine(jac, out, prefix):
    """Jacobian -> affine with one inversion of all the (non-zero) Z's."""
    n = jac.shape[0]
    acc = ONE
    for i in range(n):
        X, Y, Z = jac_load(jac, i)
        store(prefix, i, acc)
        if not is_zero(Z):
            acc = fq_mul(acc, Z)
    inv = fq_inv(acc)
    for i in range(n - 1, -1, -1):
        X, Y, Z = jac_load(jac, i)
        if is_zero(Z):
            aff_store(out, i, ZERO, ZERO)
            continue
        zi = fq_mul(inv, load(prefix, i))
        inv = fq_mul(inv, Z)
        zi2 = fq_sqr(zi)
        aff_store(out, i, fq_mul(X, zi2), fq_mul(Y, fq_mul(zi2, zi)))


@nb.njit(**_JIT)
def _k_xyzz_to_affine(p, out, prefix):
    """XYZZ -> affine: invert t = ZZ*ZZZ for all points at once; 1/ZZ = ZZZ/t, 1/ZZZ = ZZ/t."""
    n = p.shape[0]
    acc = ONE
    for i in range(n):
        X, Y, ZZ, ZZZ = xyzz_load(p, i)
        store(prefix, i, acc)
        if not is_zero(ZZ):
            acc = fq_mul(acc, fq_mul(ZZ, ZZZ))
    inv = fq_inv(acc)
    for i in range(n - 1, -1, -1):
        X, Y, ZZ, ZZZ = xyzz_load(p, i)
        if is_zero(ZZ):
            aff_store(out, i, ZERO, ZERO)
            continue
        t = fq_mul(ZZ, ZZZ)
        ti = fq_mul(inv, load(prefix, i))
        inv = fq_mul(inv, t)
        aff_store(out, i, fq_mul(X, fq_mul(ZZZ, ti)), fq_mul(Y, fq_mul(ZZ, ti)))


def _to_affine(kernel, p, width: int, what: str, kind: str) -> np.ndarray:
    """(n, width) points -> (n, 8) affine by `kernel` (one of the two above)."""
    p = np.ascontiguousarray(p, dtype=np.uint64)
    if p.ndim != 2 or p.shape[1] != width:
        raise ValueError(f"G1 {what}: expected (n, {width}) {kind} points, got {p.shape}")
    n = p.shape[0]
    out = np.empty((n, 8), np.uint64)
    if n:
        kernel(p, out, np.empty((n, 4), np.uint64))
    return out


def batch_to_affine(jac) -> np.ndarray:
    """Jacobian (n, 12) -> affine (n, 8) with one batch inversion of the Z's."""
    return _to_affine(_k_jac_to_affine, jac, 12, "batch_to_affine", "Jacobian")


def xyzz_to_affine(p) -> np.ndarray:
    """XYZZ (n, 16) -> affine (n, 8): one batch inversion of ZZ * ZZZ."""
    return _to_affine(_k_xyzz_to_affine, p, 16, "xyzz_to_affine", "XYZZ")


def points(a, name="points"):
    """(array (n, 8), was a single (8,) point) for an affine G1 argument."""
    return point_rows(a, 8, "G1", name)
