"""BN254 G1: the curve y^2 = x^3 + 3 over Fq, as NumPy arrays and Numba kernels.

Representations (all coordinates are Fq elements in Montgomery form, 4 uint64 limbs each):

* affine, shape (n, 8): x limbs then y limbs. The point at infinity is the all-zero row.
  (0, 0) is not on the curve (0 != 0 + 3), so the encoding is unambiguous.
* Jacobian, shape (n, 12): (X, Y, Z) with x = X/Z^2, y = Y/Z^3; infinity has Z = 0.
* XYZZ, shape (n, 16): (X, Y, ZZ, ZZZ) with x = X/ZZ, y = Y/ZZZ and ZZ^3 = ZZZ^2; infinity has
  ZZ = 0. XYZZ has the cheapest mixed addition (8M + 2S against 7M + 4S for Jacobian), so the
  MSM's bucket sums use it; Jacobian has the cheapest doubling (2M + 5S), so the
  double-and-add in `scalar_mul` uses that.

A single point may be passed as an (8,) row anywhere an (n, 8) array is accepted; results
then come back as (8,) too.

G1 has cofactor 1: its order is the prime r (the Fr modulus), so every point on the curve is
in the prime-order subgroup and an on-curve check is a full membership check.
"""
import numba as nb
import numpy as np

from ..field import FQ_MODULUS, FR_MODULUS, Fr, ifma
from ..field.arith import (U0, U1, eq, fq_add, fq_mul, fq_neg, fq_pow, fq_sub, is_zero, load,
                           sbb, store)
from ..field.params import FQ_ONE, FQ_P, from_limbs, to_limbs

_JIT = dict(cache=True, nogil=True)

ZERO = (U0, U0, U0, U0)
ONE = FQ_ONE
_R = 1 << 256
B3 = to_limbs(3 * _R % FQ_MODULUS)                   # the curve constant b = 3, Montgomery form
QM2 = to_limbs(FQ_MODULUS - 2)                        # Fermat inverse exponent
SQRT_EXP = to_limbs((FQ_MODULUS + 1) // 4)            # q = 3 mod 4, so sqrt(a) = a^((q+1)/4)
HALF_Q = to_limbs((FQ_MODULUS - 1) // 2)
GEN_X, GEN_Y = 1, 2

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
def aff_is_inf(x, y):
    return is_zero(x) and is_zero(y)


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


# ---- Jacobian (X, Y, Z), a = 0 ----------------------------------------------------------------
@nb.njit(**_JIT)
def jac_dbl(X, Y, Z):
    """dbl-2009-l: 2M + 5S."""
    if is_zero(Z):
        return X, Y, Z
    A = fq_sqr(X)
    B = fq_sqr(Y)
    C = fq_sqr(B)
    t = fq_sub(fq_sub(fq_sqr(fq_add(X, B)), A), C)
    D = fq_dbl(t)
    E = fq_add(fq_dbl(A), A)
    F = fq_sqr(E)
    X3 = fq_sub(F, fq_dbl(D))
    C8 = fq_dbl(fq_dbl(fq_dbl(C)))
    Y3 = fq_sub(fq_mul(E, fq_sub(D, X3)), C8)
    Z3 = fq_dbl(fq_mul(Y, Z))
    return X3, Y3, Z3


@nb.njit(**_JIT)
def jac_madd(X1, Y1, Z1, x2, y2):
    """Jacobian + affine, madd-2007-bl: 7M + 4S; handles infinity, P == Q and P == -Q."""
    if aff_is_inf(x2, y2):
        return X1, Y1, Z1
    if is_zero(Z1):
        return x2, y2, ONE
    Z1Z1 = fq_sqr(Z1)
    U2 = fq_mul(x2, Z1Z1)
    S2 = fq_mul(fq_mul(y2, Z1), Z1Z1)
    H = fq_sub(U2, X1)
    r = fq_dbl(fq_sub(S2, Y1))
    if is_zero(H):
        if is_zero(r):
            return jac_dbl(x2, y2, ONE)
        return ONE, ONE, ZERO
    HH = fq_sqr(H)
    I = fq_dbl(fq_dbl(HH))
    J = fq_mul(H, I)
    V = fq_mul(X1, I)
    X3 = fq_sub(fq_sub(fq_sqr(r), J), fq_dbl(V))
    Y3 = fq_sub(fq_mul(r, fq_sub(V, X3)), fq_dbl(fq_mul(Y1, J)))
    Z3 = fq_sub(fq_sub(fq_sqr(fq_add(Z1, H)), Z1Z1), HH)
    return X3, Y3, Z3


@nb.njit(**_JIT)
def jac_add(X1, Y1, Z1, X2, Y2, Z2):
    """add-2007-bl: 11M + 5S; handles infinity, P == Q and P == -Q."""
    if is_zero(Z1):
        return X2, Y2, Z2
    if is_zero(Z2):
        return X1, Y1, Z1
    Z1Z1 = fq_sqr(Z1)
    Z2Z2 = fq_sqr(Z2)
    U1 = fq_mul(X1, Z2Z2)
    U2 = fq_mul(X2, Z1Z1)
    S1 = fq_mul(fq_mul(Y1, Z2), Z2Z2)
    S2 = fq_mul(fq_mul(Y2, Z1), Z1Z1)
    H = fq_sub(U2, U1)
    r = fq_dbl(fq_sub(S2, S1))
    if is_zero(H):
        if is_zero(r):
            return jac_dbl(X1, Y1, Z1)
        return ONE, ONE, ZERO
    I = fq_sqr(fq_dbl(H))
    J = fq_mul(H, I)
    V = fq_mul(U1, I)
    X3 = fq_sub(fq_sub(fq_sqr(r), J), fq_dbl(V))
    Y3 = fq_sub(fq_mul(r, fq_sub(V, X3)), fq_dbl(fq_mul(S1, J)))
    Z3 = fq_mul(fq_sub(fq_sub(fq_sqr(fq_add(Z1, Z2)), Z1Z1), Z2Z2), H)
    return X3, Y3, Z3


# ---- XYZZ (X, Y, ZZ, ZZZ), a = 0 --------------------------------------------------------------
@nb.njit(**_JIT)
def xyzz_mdbl(x, y):
    """2 * affine point, mdbl-2008-s-1 (y != 0 on G1)."""
    U = fq_dbl(y)
    V = fq_sqr(U)
    W = fq_mul(U, V)
    S = fq_mul(x, V)
    xx = fq_sqr(x)
    M = fq_add(fq_dbl(xx), xx)
    X3 = fq_sub(fq_sqr(M), fq_dbl(S))
    Y3 = fq_sub(fq_mul(M, fq_sub(S, X3)), fq_mul(W, y))
    return X3, Y3, V, W


@nb.njit(**_JIT)
def xyzz_dbl(X, Y, ZZ, ZZZ):
    """dbl-2008-s-1: 6M + 4S."""
    if is_zero(ZZ):
        return X, Y, ZZ, ZZZ
    U = fq_dbl(Y)
    V = fq_sqr(U)
    W = fq_mul(U, V)
    S = fq_mul(X, V)
    xx = fq_sqr(X)
    M = fq_add(fq_dbl(xx), xx)
    X3 = fq_sub(fq_sqr(M), fq_dbl(S))
    Y3 = fq_sub(fq_mul(M, fq_sub(S, X3)), fq_mul(W, Y))
    return X3, Y3, fq_mul(V, ZZ), fq_mul(W, ZZZ)


@nb.njit(**_JIT)
def xyzz_madd(X1, Y1, ZZ1, ZZZ1, x2, y2):
    """XYZZ + affine, madd-2008-s: 8M + 2S; handles infinity, P == Q and P == -Q."""
    if aff_is_inf(x2, y2):
        return X1, Y1, ZZ1, ZZZ1
    if is_zero(ZZ1):
        return x2, y2, ONE, ONE
    U2 = fq_mul(x2, ZZ1)
    S2 = fq_mul(y2, ZZZ1)
    P = fq_sub(U2, X1)
    R = fq_sub(S2, Y1)
    if is_zero(P):
        if is_zero(R):
            return xyzz_mdbl(x2, y2)
        return ONE, ONE, ZERO, ZERO
    PP = fq_sqr(P)
    PPP = fq_mul(P, PP)
    Q = fq_mul(X1, PP)
    X3 = fq_sub(fq_sub(fq_sqr(R), PPP), fq_dbl(Q))
    Y3 = fq_sub(fq_mul(R, fq_sub(Q, X3)), fq_mul(Y1, PPP))
    return X3, Y3, fq_mul(ZZ1, PP), fq_mul(ZZZ1, PPP)


@nb.njit(**_JIT)
def xyzz_add(X1, Y1, ZZ1, ZZZ1, X2, Y2, ZZ2, ZZZ2):
    """add-2008-s: 12M + 2S; handles infinity, P == Q and P == -Q."""
    if is_zero(ZZ1):
        return X2, Y2, ZZ2, ZZZ2
    if is_zero(ZZ2):
        return X1, Y1, ZZ1, ZZZ1
    U1 = fq_mul(X1, ZZ2)
    U2 = fq_mul(X2, ZZ1)
    S1 = fq_mul(Y1, ZZZ2)
    S2 = fq_mul(Y2, ZZZ1)
    P = fq_sub(U2, U1)
    R = fq_sub(S2, S1)
    if is_zero(P):
        if is_zero(R):
            return xyzz_dbl(X1, Y1, ZZ1, ZZZ1)
        return ONE, ONE, ZERO, ZERO
    PP = fq_sqr(P)
    PPP = fq_mul(P, PP)
    Q = fq_mul(U1, PP)
    X3 = fq_sub(fq_sub(fq_sqr(R), PPP), fq_dbl(Q))
    Y3 = fq_sub(fq_mul(R, fq_sub(Q, X3)), fq_mul(S1, PPP))
    return X3, Y3, fq_mul(fq_mul(ZZ1, ZZ2), PP), fq_mul(fq_mul(ZZZ1, ZZZ2), PPP)


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


# ---------------------------------------------------------------------------------------------
# Vector kernels
# ---------------------------------------------------------------------------------------------


# Most kernels here are serial: they are cheap per point (a few products) and a parallel
# kernel costs extra compile time. The heavy ones (scalar_mul, sqrt, the MSM and fixed-base
# loops) run in parallel; their prange bodies call a serial per-element function because
# Numba's parfor analysis cannot digest nested tuples (points as tuples of limb tuples).
@nb.njit(**_JIT)
def _k_add(a, b, out, prefix):
    """out = a + b elementwise, affine, one shared inversion (Montgomery's trick)."""
    n = a.shape[0]
    acc = ONE
    for i in range(n):
        x1, y1 = aff_load(a, i)
        x2, y2 = aff_load(b, i)
        den, case = aff_den(x1, y1, x2, y2)
        store(prefix, i, acc)
        acc = fq_mul(acc, den)
    inv = fq_inv(acc)
    for i in range(n - 1, -1, -1):
        x1, y1 = aff_load(a, i)
        x2, y2 = aff_load(b, i)
        den, case = aff_den(x1, y1, x2, y2)
        invd = fq_mul(inv, load(prefix, i))
        inv = fq_mul(inv, den)
        x3, y3 = aff_finish(x1, y1, x2, y2, case, invd)
        aff_store(out, i, x3, y3)


@nb.njit(**_JIT)
def _k_neg(a, out):
    for i in range(a.shape[0]):
        x, y = aff_load(a, i)
        aff_store(out, i, x, fq_neg(y))


@nb.njit(**_JIT)
def _k_on_curve(a, out):
    for i in range(a.shape[0]):
        x, y = aff_load(a, i)
        if aff_is_inf(x, y):
            out[i] = True
        elif not (limbs_lt_q(x) and limbs_lt_q(y)):
            out[i] = False
        else:
            out[i] = eq(fq_sqr(y), fq_add(fq_mul(fq_sqr(x), x), B3))


@nb.njit(**_JIT)
def _k_to_jac(a, out):
    for i in range(a.shape[0]):
        x, y = aff_load(a, i)
        z = ONE
        if aff_is_inf(x, y):
            x, y, z = ONE, ONE, ZERO
        for k in range(4):
            out[i, k] = x[k]
            out[i, 4 + k] = y[k]
            out[i, 8 + k] = z[k]


@nb.njit(inline="always")
def _jac_load(jac, i):
    return ((jac[i, 0], jac[i, 1], jac[i, 2], jac[i, 3]),
            (jac[i, 4], jac[i, 5], jac[i, 6], jac[i, 7]),
            (jac[i, 8], jac[i, 9], jac[i, 10], jac[i, 11]))


@nb.njit(**_JIT)
def _k_jac_to_affine(jac, out, prefix):
    """Jacobian -> affine with one inversion of all the (non-zero) Z's."""
    n = jac.shape[0]
    acc = ONE
    for i in range(n):
        X, Y, Z = _jac_load(jac, i)
        store(prefix, i, acc)
        if not is_zero(Z):
            acc = fq_mul(acc, Z)
    inv = fq_inv(acc)
    for i in range(n - 1, -1, -1):
        X, Y, Z = _jac_load(jac, i)
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


@nb.njit(**_JIT)
def _k_prefix_sums(pts, out):
    """out[i] = pts[0] + ... + pts[i] in XYZZ (one running mixed addition per point)."""
    X, Y, ZZ, ZZZ = ONE, ONE, ZERO, ZERO
    for i in range(pts.shape[0]):
        x, y = aff_load(pts, i)
        X, Y, ZZ, ZZZ = xyzz_madd(X, Y, ZZ, ZZZ, x, y)
        xyzz_store(out, i, X, Y, ZZ, ZZZ)


@nb.njit(**_JIT)
def _k_scalar_mul(pts, sc, single, out, lo, hi):
    """out[i] = sc[i] * pts[i or 0] (Jacobian) for lo <= i < hi: left-to-right double-and-add
    on canonical limbs."""
    for i in range(lo, hi):
        j = 0 if single else i
        x, y = aff_load(pts, j)
        X, Y, Z = ONE, ONE, ZERO
        for li in range(3, -1, -1):
            w = sc[i, li]
            for bit in range(63, -1, -1):
                X, Y, Z = jac_dbl(X, Y, Z)
                if (w >> np.uint64(bit)) & U1:
                    X, Y, Z = jac_madd(X, Y, Z, x, y)
        for k in range(4):
            out[i, k] = X[k]
            out[i, 4 + k] = Y[k]
            out[i, 8 + k] = Z[k]


@nb.njit(**_JIT)
def _k_sqrt(a, out, ok, lo, hi):
    """out = a^((q+1)/4), ok = (out^2 == a), for rows lo..hi."""
    for i in range(lo, hi):
        v = load(a, i)
        s = fq_pow(v, SQRT_EXP)
        store(out, i, s)
        ok[i] = eq(fq_sqr(s), v)


@nb.njit(**_JIT)
def _k_rhs(x, out):
    for i in range(x.shape[0]):
        v = load(x, i)
        store(out, i, fq_add(fq_mul(fq_sqr(v), v), B3))


@nb.njit(**_JIT)
def _k_gt(a, c, out):
    for i in range(a.shape[0]):
        out[i] = limbs_gt(load(a, i), c)


@nb.njit(**_JIT)
def _k_ge_q(a, out):
    for i in range(a.shape[0]):
        out[i] = not limbs_lt_q(load(a, i))


@nb.njit(**_JIT)
def _k_mont(a, c, out):
    """out = a * c / 2^256: c = 1 leaves Montgomery form, c = 2^512 mod q enters it."""
    for i in range(a.shape[0]):
        store(out, i, fq_mul(load(a, i), c))


@nb.njit(**_JIT)
def _k_cond_neg(a, flip):
    for i in range(a.shape[0]):
        if flip[i]:
            store(a, i, fq_neg(load(a, i)))


# ---- fixed-base multiplication ----------------------------------------------------------------
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
        ad = d if d > 0 else -d
        x1, y1 = aff_load(out, i)
        x2, y2 = aff_load(table, base + ad - 1)
        if (d < 0) != (negf[i] != 0):
            y2 = fq_neg(y2)
        den, case = aff_den(x1, y1, x2, y2)
        acc = fq_mul(acc, den)
    inv = fq_inv(acc)
    # pass 2 (backward): peel off each inverse and finish that addition in place
    for i in range(hi - 1, lo - 1, -1):
        d = dig[i - lo]
        if d == 0:
            continue
        ad = d if d > 0 else -d
        x1, y1 = aff_load(out, i)
        x2, y2 = aff_load(table, base + ad - 1)
        if (d < 0) != (negf[i] != 0):
            y2 = fq_neg(y2)
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


@nb.njit(**_JIT)
def _k_fold(sc, half_r, r, out, negf, bits):
    """Canonical scalars -> (min(s, r - s), flag s > r/2, bit length of that minimum)."""
    for i in range(sc.shape[0]):
        v = load(sc, i)
        neg = limbs_gt(v, half_r)
        if neg:
            t0, b = sbb(r[0], v[0], U0)
            t1, b = sbb(r[1], v[1], b)
            t2, b = sbb(r[2], v[2], b)
            t3, b = sbb(r[3], v[3], b)
            v = (t0, t1, t2, t3)
        store(out, i, v)
        negf[i] = 1 if neg else 0
        nbits = 0
        for k in range(3, -1, -1):
            if v[k] != U0:
                x = v[k]
                nbits = 64 * k + 1
                for sh in (32, 16, 8, 4, 2, 1):          # binary search for the top bit
                    if x >> np.uint64(sh):
                        x >>= np.uint64(sh)
                        nbits += sh
                break
        bits[i] = nbits


# ---------------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------------

_HALF_R = to_limbs((FR_MODULUS - 1) // 2)
_R_LIMBS = to_limbs(FR_MODULUS)


def _threads() -> int:
    return max(1, nb.get_num_threads())


# Parallelism: the kernels are compiled with nogil=True, so plain Python threads run them
# concurrently. This avoids Numba's parallel=True machinery (and its compile time); the
# thread count follows numba.get_num_threads() / NUMBA_NUM_THREADS.
_POOL = {}


def parallel_ranges(fn, n: int, min_per_thread: int = 1, tasks: int | None = None) -> None:
    """Run fn(lo, hi) over a split of range(n) into about one piece per thread."""
    threads = _threads()
    k = tasks or max(1, min(threads, n // max(1, min_per_thread)))
    if k <= 1 or n <= 1:
        if n:
            fn(0, n)
        return
    step = -(-n // k)
    bounds = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    pool = _POOL.get(threads)
    if pool is None:
        from concurrent.futures import ThreadPoolExecutor
        pool = _POOL[threads] = ThreadPoolExecutor(max_workers=threads,
                                                   thread_name_prefix="snarkgpt-g1")
    # the calling thread takes the first piece itself (one hand-off fewer per call)
    futures = [pool.submit(fn, lo, hi) for lo, hi in bounds[1:]]
    try:
        fn(*bounds[0])
    finally:
        for f in futures:
            f.result()


def _points(a, name="points"):
    """(array (n, 8), was a single (8,) point)."""
    a = np.asarray(a)
    if a.dtype != np.uint64:
        raise TypeError(f"G1 {name}: expected uint64 limbs, got {a.dtype}")
    if a.ndim == 1 and a.shape[0] == 8:
        return np.ascontiguousarray(a.reshape(1, 8)), True
    if a.ndim != 2 or a.shape[1] != 8:
        raise ValueError(f"G1 {name}: expected shape (n, 8) or (8,), got {a.shape}")
    return np.ascontiguousarray(a), False


def _ret(out, single):
    return out[0] if single else out


def _ints_to_limbs(vals) -> np.ndarray:
    return np.array([to_limbs(v) for v in vals], dtype=np.uint64).reshape(len(vals), 4)


_MONT_ONE_RAW = (U1, U0, U0, U0)
_R2 = to_limbs(_R * _R % FQ_MODULUS)


def fq_to_canonical(a: np.ndarray) -> np.ndarray:
    """Fq Montgomery (n, 4) -> canonical limbs."""
    a = np.ascontiguousarray(a)
    out = np.empty_like(a)
    if a.shape[0]:
        _k_mont(a, _MONT_ONE_RAW, out)
    return out


def fq_from_canonical(c: np.ndarray) -> np.ndarray:
    """Canonical Fq limbs (n, 4), each < q -> Montgomery form."""
    c = np.ascontiguousarray(c)
    out = np.empty_like(c)
    if c.shape[0]:
        _k_mont(c, _R2, out)
    return out


def scalars_canonical(scalars) -> np.ndarray:
    """Scalars as canonical (n, 4) limbs in [0, r).

    An (n, 4) or (4,) uint64 array is read as Fr elements in Montgomery form (what `Fr` makes);
    a Python int or a sequence of ints is reduced mod r (so r acts as 0, -1 as r - 1)."""
    if isinstance(scalars, np.ndarray) and scalars.dtype == np.uint64:
        s = scalars.reshape(1, 4) if scalars.ndim == 1 else scalars
        if s.ndim != 2 or s.shape[1] != 4:
            raise ValueError(f"G1 scalars: expected an (n, 4) Fr array, got shape {scalars.shape}")
        return Fr.to_canonical(np.ascontiguousarray(s))
    if isinstance(scalars, (int, np.integer)):
        scalars = [scalars]
    return _ints_to_limbs([int(v) % FR_MODULUS for v in scalars])


def fold_scalars(canon: np.ndarray):
    """(min(s, r - s) limbs, uint8 flag 'took r - s', int64 bit length) for canonical scalars.

    s*P = (r - s)*(-P), so every scalar has at most 253 bits, and a small negative value
    -v (stored as r - v) becomes the small magnitude v on the negated point."""
    n = canon.shape[0]
    out = np.empty_like(canon)
    negf = np.empty(n, np.uint8)
    bits = np.empty(n, np.int64)
    if n:
        _k_fold(canon, _HALF_R, _R_LIMBS, out, negf, bits)
    return out, negf, bits


def generator() -> np.ndarray:
    """The standard generator (1, 2) as an (8,) affine row."""
    return from_affine_ints([(GEN_X, GEN_Y)])[0]


def identity(n: int | None = None) -> np.ndarray:
    """The point at infinity: an (8,) zero row, or n of them as (n, 8)."""
    return np.zeros(8 if n is None else (n, 8), dtype=np.uint64)


def is_identity(points) -> np.ndarray | bool:
    a, single = _points(points)
    r = ~a.any(axis=1)
    return bool(r[0]) if single else r


def from_affine_ints(pairs) -> np.ndarray:
    """[(x, y) or None] -> (n, 8) affine array (None is infinity). Not validated: see validate."""
    pairs = list(pairs)
    xs = [0 if p is None else int(p[0]) % FQ_MODULUS for p in pairs]
    ys = [0 if p is None else int(p[1]) % FQ_MODULUS for p in pairs]
    out = np.zeros((len(pairs), 8), dtype=np.uint64)
    if pairs:
        out[:, :4] = fq_from_canonical(_ints_to_limbs(xs))
        out[:, 4:] = fq_from_canonical(_ints_to_limbs(ys))
    return out


def to_affine_ints(points) -> list:
    """(n, 8) -> [(x, y) canonical ints, or None for infinity]."""
    a, _ = _points(points)
    inf = ~a.any(axis=1)
    xs = [from_limbs(r) for r in fq_to_canonical(a[:, :4])]
    ys = [from_limbs(r) for r in fq_to_canonical(a[:, 4:])]
    return [None if inf[i] else (xs[i], ys[i]) for i in range(len(a))]


def _is_py_ecc_point(p) -> bool:
    return p is None or (isinstance(p, tuple) and len(p) in (2, 3) and hasattr(p[0], "n"))


def from_py_ecc(points) -> np.ndarray:
    """py_ecc G1 point(s) -> affine. Accepts py_ecc.bn128 points ((x, y) or None) and
    py_ecc.optimized_bn128 points ((x, y, z), z = 0 for infinity); one point gives (8,)."""
    single = _is_py_ecc_point(points)
    pts = [points] if single else list(points)
    pairs = []
    for p in pts:
        if p is None:
            pairs.append(None)
        elif len(p) == 3:
            x, y, z = (int(c.n) for c in p)
            if z % FQ_MODULUS == 0:
                pairs.append(None)
            else:
                zi = pow(z, -1, FQ_MODULUS)
                pairs.append((x * zi % FQ_MODULUS, y * zi % FQ_MODULUS))
        else:
            pairs.append((int(p[0].n), int(p[1].n)))
    out = from_affine_ints(pairs)
    return out[0] if single else out


def to_py_ecc(points, optimized: bool = True):
    """Affine -> py_ecc points: optimized_bn128 (x, y, 1) / (1, 1, 0) by default, or
    bn128 (x, y) / None with optimized=False. One (8,) point gives one py_ecc point."""
    a, single = _points(points)
    if optimized:
        from py_ecc.optimized_bn128 import FQ
        res = [(FQ(1), FQ(1), FQ(0)) if p is None else (FQ(p[0]), FQ(p[1]), FQ(1))
               for p in to_affine_ints(a)]
    else:
        from py_ecc.bn128 import FQ
        res = [None if p is None else (FQ(p[0]), FQ(p[1])) for p in to_affine_ints(a)]
    return res[0] if single else res


def is_on_curve(points) -> np.ndarray | bool:
    """Per point: canonical coordinates and y^2 = x^3 + 3, or the point at infinity.
    (Cofactor 1: on the curve means in the order-r group.)"""
    a, single = _points(points)
    out = np.empty(a.shape[0], dtype=np.bool_)
    if a.shape[0]:
        _k_on_curve(a, out)
    return bool(out[0]) if single else out


def validate(points, name="points") -> None:
    """Raise ValueError naming the first point that is not a valid G1 element."""
    ok = np.atleast_1d(is_on_curve(points))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"G1 {name}: point {i} is not on the curve (or has non-canonical limbs)")


def equal(a, b) -> bool:
    """Affine representations are unique (canonical Montgomery limbs), so rows compare as bytes."""
    a, _ = _points(a)
    b, _ = _points(b)
    return a.shape == b.shape and bool(np.array_equal(a, b))


def neg(points) -> np.ndarray:
    a, single = _points(points)
    out = np.empty_like(a)
    if a.shape[0]:
        _k_neg(a, out)
    return _ret(out, single)


def add(a, b) -> np.ndarray:
    """Elementwise a + b on affine arrays (one batch inversion for the lot). A single point on
    either side is broadcast."""
    a, sa = _points(a, "a")
    b, sb = _points(b, "b")
    if sa and not sb:
        a = np.repeat(a, b.shape[0], axis=0)
    elif sb and not sa:
        b = np.repeat(b, a.shape[0], axis=0)
    elif a.shape != b.shape:
        raise ValueError(f"G1 add: length mismatch {a.shape[0]} vs {b.shape[0]}")
    n = a.shape[0]
    out = np.empty_like(a)
    if n:
        _k_add(a, b, out, np.empty((n, 4), np.uint64))
    return _ret(out, sa and sb)


def sub(a, b) -> np.ndarray:
    return add(a, neg(b))


def double(points) -> np.ndarray:
    return add(points, points)


def to_jacobian(points) -> np.ndarray:
    """Affine (n, 8) -> Jacobian (n, 12) with Z = 1 (infinity: (1, 1, 0))."""
    a, _ = _points(points)
    out = np.empty((a.shape[0], 12), np.uint64)
    if a.shape[0]:
        _k_to_jac(a, out)
    return out


def batch_to_affine(jac) -> np.ndarray:
    """Jacobian (n, 12) -> affine (n, 8) with one batch inversion of the Z's."""
    jac = np.ascontiguousarray(jac, dtype=np.uint64)
    if jac.ndim != 2 or jac.shape[1] != 12:
        raise ValueError(f"G1 batch_to_affine: expected (n, 12) Jacobian points, got {jac.shape}")
    n = jac.shape[0]
    out = np.empty((n, 8), np.uint64)
    if n:
        _k_jac_to_affine(jac, out, np.empty((n, 4), np.uint64))
    return out


def xyzz_to_affine(p) -> np.ndarray:
    """XYZZ (n, 16) -> affine (n, 8): one batch inversion of ZZ * ZZZ."""
    p = np.ascontiguousarray(p, dtype=np.uint64)
    if p.ndim != 2 or p.shape[1] != 16:
        raise ValueError(f"G1 xyzz_to_affine: expected (n, 16) XYZZ points, got {p.shape}")
    n = p.shape[0]
    out = np.empty((n, 8), np.uint64)
    if n:
        _k_xyzz_to_affine(p, out, np.empty((n, 4), np.uint64))
    return out


def prefix_sums(points) -> np.ndarray:
    """The running sums S_i = P_0 + ... + P_i of an (n, 8) affine array, as (n, 8) affine.

    With S in place of the points, sum_i (v_i - v_(i+1)) S_i = sum_i v_i P_i (v_n = 0): an MSM
    whose scalars are the differences of consecutive values, which a piecewise-constant
    column makes mostly zero (`plonk.keygen.commit_values`)."""
    pts, _ = _points(points)
    n = pts.shape[0]
    acc = np.empty((n, 16), np.uint64)
    if n:
        _k_prefix_sums(pts, acc)
    return xyzz_to_affine(acc)


def scalar_mul(points, scalars) -> np.ndarray:
    """Elementwise scalars[i] * points[i]. Scalars: an (n, 4) Fr Montgomery array, or Python
    int(s) reduced mod r. A single point with many scalars is broadcast (through
    fixed_base_mul when there are many); a single scalar with many points likewise."""
    a, single = _points(points)
    scalar_single = isinstance(scalars, (int, np.integer)) or (
        isinstance(scalars, np.ndarray) and scalars.ndim == 1)
    canon = scalars_canonical(scalars)
    ns = canon.shape[0]
    if single and ns > 64:
        return fixed_base_mul(a[0], canon, canonical=True)
    if ns == 1 and a.shape[0] > 1:
        canon = np.repeat(canon, a.shape[0], axis=0)
        ns = a.shape[0]
    elif not single and a.shape[0] != ns:
        raise ValueError(f"G1 scalar_mul: {a.shape[0]} points but {ns} scalars")
    jac = np.empty((ns, 12), np.uint64)
    if ns:
        parallel_ranges(lambda lo, hi: _k_scalar_mul(a, canon, single, jac, lo, hi), ns, 4)
    out = batch_to_affine(jac)
    return out[0] if (single and scalar_single) else out


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

    Signed-digit windows of width w: a table of d * 2^(w*j) * base for d = 1..2^(w-1) in each
    window j, then every result is a sum of one table entry per window, accumulated in affine
    coordinates with one shared inversion per window and chunk of scalars (about 6 Fq
    multiplications per window and scalar). Scalars as in scalar_mul (Fr Montgomery array or
    ints); canonical=True means an (n, 4) array of canonical limbs already."""
    b, _ = _points(base, "base")
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


# ---- serialization (gnark-crypto BN254 format) ------------------------------------------------
# Compressed, 32 bytes: big-endian x, two top bits of byte 0 are flags (q < 2^254 leaves them
# free): 0b10 = y is the lexicographically smallest root (y <= (q-1)/2), 0b11 = largest,
# 0b01 = infinity (all other bits zero). Uncompressed, 64 bytes: big-endian x || y with flag
# 0b00, or 0b01 followed by zeros for infinity.
_M_MASK = 0xC0
_M_UNCOMPRESSED = 0x00
_M_INFINITY = 0x40
_M_SMALLEST = 0x80
_M_LARGEST = 0xC0


def _limbs_to_be(c: np.ndarray) -> np.ndarray:
    """(n, 4) little-endian limbs -> (n, 32) big-endian bytes."""
    return np.ascontiguousarray(c[:, ::-1]).astype(">u8").view(np.uint8).reshape(-1, 32)


def _be_to_limbs(b: np.ndarray) -> np.ndarray:
    """(n, 32) big-endian bytes -> (n, 4) little-endian limbs."""
    return np.ascontiguousarray(
        np.ascontiguousarray(b).view(">u8").reshape(-1, 4)[:, ::-1]).astype(np.uint64)


def compress(points) -> bytes:
    """Points -> 32 bytes each (gnark-crypto compressed G1)."""
    a, _ = _points(points)
    n = a.shape[0]
    if n == 0:
        return b""
    inf = ~a.any(axis=1)
    xc = fq_to_canonical(a[:, :4])
    yc = fq_to_canonical(a[:, 4:])
    largest = np.empty(n, np.bool_)
    _k_gt(yc, HALF_Q, largest)
    out = _limbs_to_be(xc).copy()
    out[:, 0] |= np.where(largest, _M_LARGEST, _M_SMALLEST).astype(np.uint8)
    out[inf] = 0
    out[inf, 0] = _M_INFINITY
    return out.tobytes()


def _split(data, size, n, what):
    data = bytes(data)
    if n is not None and len(data) != size * n:
        raise ValueError(f"G1 {what}: expected {size * n} bytes for {n} points, got {len(data)}")
    if len(data) % size:
        raise ValueError(f"G1 {what}: {len(data)} bytes is not a multiple of {size} bytes per point")
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, size)


def _first(mask) -> int:
    return int(np.flatnonzero(mask)[0])


def decompress(data, n: int | None = None) -> np.ndarray:
    """32 bytes per point (gnark-crypto compressed G1) -> affine (n, 8), fully checked:
    length, flags, canonical x, x^3 + 3 a square (on curve; cofactor 1 so also in the
    subgroup), and the exact infinity encoding. Raises ValueError naming the point index."""
    raw = _split(data, 32, n, "decompress")
    m = raw.shape[0]
    out = np.zeros((m, 8), np.uint64)
    if m == 0:
        return out
    flags = raw[:, 0] & _M_MASK
    bad = flags == _M_UNCOMPRESSED
    if bad.any():
        raise ValueError(f"G1 decompress: point {_first(bad)}: flag bits 0b00 (uncompressed) "
                         "are not valid in a compressed encoding")
    inf = flags == _M_INFINITY
    if inf.any():
        body = raw[inf].copy()
        body[:, 0] &= 0x3F
        nz = body.any(axis=1)
        if nz.any():
            i = np.flatnonzero(inf)[_first(nz)]
            raise ValueError(f"G1 decompress: point {i}: non-canonical infinity encoding "
                             "(bits after the infinity flag must be zero)")
    fin = ~inf
    idx = np.flatnonzero(fin)
    if idx.size == 0:
        return out
    body = raw[fin].copy()
    body[:, 0] &= 0x3F
    xc = _be_to_limbs(body)
    big = np.empty(idx.size, np.bool_)
    _k_ge_q(xc, big)
    if big.any():
        raise ValueError(f"G1 decompress: point {idx[_first(big)]}: x is not canonical (x >= q)")
    x = fq_from_canonical(xc)
    rhs = np.empty_like(x)
    _k_rhs(x, rhs)
    y = np.empty_like(x)
    ok = np.empty(idx.size, np.bool_)
    if ifma.available():       # eight exponentiations at a time (ifma_sqrt.py)
        from .ifma_sqrt import sqrt8
        parallel_ranges(lambda lo, hi: sqrt8(rhs, y, ok, lo, hi), idx.size, 256)
    else:
        parallel_ranges(lambda lo, hi: _k_sqrt(rhs, y, ok, lo, hi), idx.size, 64)
    if not ok.all():
        raise ValueError(f"G1 decompress: point {idx[_first(~ok)]}: x is not on the curve "
                         "(x^3 + 3 is not a square in Fq)")
    yc = fq_to_canonical(y)
    is_large = np.empty(idx.size, np.bool_)
    _k_gt(yc, HALF_Q, is_large)
    want_large = flags[fin] == _M_LARGEST
    _k_cond_neg(y, is_large != want_large)
    out[idx, :4] = x
    out[idx, 4:] = y
    return out


def to_bytes_uncompressed(points) -> bytes:
    """Points -> 64 bytes each: big-endian x || y (gnark-crypto raw G1; infinity = 0x40, 0...)."""
    a, _ = _points(points)
    n = a.shape[0]
    if n == 0:
        return b""
    inf = ~a.any(axis=1)
    out = np.empty((n, 64), np.uint8)
    out[:, :32] = _limbs_to_be(fq_to_canonical(a[:, :4]))
    out[:, 32:] = _limbs_to_be(fq_to_canonical(a[:, 4:]))
    out[inf] = 0
    out[inf, 0] = _M_INFINITY
    return out.tobytes()


def from_bytes_uncompressed(data, n: int | None = None) -> np.ndarray:
    """64 bytes per point -> affine (n, 8), checked (flags, canonical coordinates, on curve)."""
    raw = _split(data, 64, n, "from_bytes_uncompressed")
    m = raw.shape[0]
    out = np.zeros((m, 8), np.uint64)
    if m == 0:
        return out
    flags = raw[:, 0] & _M_MASK
    bad = (flags != _M_UNCOMPRESSED) & (flags != _M_INFINITY)
    if bad.any():
        raise ValueError(f"G1 from_bytes_uncompressed: point {_first(bad)}: invalid flag bits")
    inf = flags == _M_INFINITY
    if inf.any():
        body = raw[inf].copy()
        body[:, 0] &= 0x3F
        nz = body.any(axis=1)
        if nz.any():
            i = np.flatnonzero(inf)[_first(nz)]
            raise ValueError(f"G1 from_bytes_uncompressed: point {i}: non-canonical infinity encoding")
    fin = np.flatnonzero(~inf)
    if fin.size == 0:
        return out
    xc = _be_to_limbs(raw[fin, :32])
    yc = _be_to_limbs(raw[fin, 32:])
    big = np.empty(fin.size, np.bool_)
    for c, name in ((xc, "x"), (yc, "y")):
        _k_ge_q(c, big)
        if big.any():
            raise ValueError(f"G1 from_bytes_uncompressed: point {fin[_first(big)]}: "
                             f"{name} is not canonical (>= q)")
    out[fin, :4] = fq_from_canonical(xc)
    out[fin, 4:] = fq_from_canonical(yc)
    ok = is_on_curve(out[fin])
    if not ok.all():
        raise ValueError(f"G1 from_bytes_uncompressed: point {fin[_first(~ok)]}: not on the curve")
    return out


class G1:
    """Namespace bundling the module functions (G1.add, G1.msm, ...)."""
    generator = staticmethod(generator)
    identity = staticmethod(identity)
    is_identity = staticmethod(is_identity)
    from_py_ecc = staticmethod(from_py_ecc)
    to_py_ecc = staticmethod(to_py_ecc)
    from_affine_ints = staticmethod(from_affine_ints)
    to_affine_ints = staticmethod(to_affine_ints)
    is_on_curve = staticmethod(is_on_curve)
    validate = staticmethod(validate)
    equal = staticmethod(equal)
    neg = staticmethod(neg)
    add = staticmethod(add)
    sub = staticmethod(sub)
    double = staticmethod(double)
    scalar_mul = staticmethod(scalar_mul)
    fixed_base_mul = staticmethod(fixed_base_mul)
    to_jacobian = staticmethod(to_jacobian)
    batch_to_affine = staticmethod(batch_to_affine)
    xyzz_to_affine = staticmethod(xyzz_to_affine)
    compress = staticmethod(compress)
    decompress = staticmethod(decompress)
    to_bytes_uncompressed = staticmethod(to_bytes_uncompressed)
    from_bytes_uncompressed = staticmethod(from_bytes_uncompressed)

    @staticmethod
    def msm(points, scalars):
        from .msm import msm
        return msm(points, scalars)
