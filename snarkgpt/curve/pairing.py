"""The optimal ate pairing on BN254, e: G1 x G2 -> GT (a subgroup of Fq12^*).

    e(P, Q) = ( f_{6x+2,Q}(P) * l_{[6x+2]Q, pi(Q)}(P) * l_{[6x+2]Q + pi(Q), -pi^2(Q)}(P) )^((q^12-1)/r)

Miller loop: 6x + 2 in non-adjacent form (66 digits, 22 non-zero), most significant first.
The running point T = [k]Q stays on the twist E'(Fq2) in homogeneous projective coordinates
(X : Y : Z), x = X/Z, y = Y/Z, so no inversion is needed. Each step returns the line through
T (tangent, or chord to +-Q) evaluated at P = (xP, yP); on the untwisted curve it has the form

    l = l0 + l3 w + l4 w^3        (l0, l3, l4 in Fq2; the "034" sparse shape of tower.py)

with factors that lie in Fq2 dropped: the final exponentiation sends them to 1. The line's
coefficients depend on P only as l0 = c0 yP and l3 = c3 xP, so the loop is split in two:
`g2_lines` walks T and records (c0, c3, l4) for every step, `miller_loop_lines` evaluates the
recorded lines at P. A verifier pairs with the same G2 points every time, and their lines are
computed once per process (`prepare_g2`). Several pairs
share one Miller loop (a single squaring of f per step), and the product of their Miller values
takes ONE final exponentiation: that is `multi_pairing` and `pairing_check`.

Final exponentiation, (q^12 - 1)/r = (q^6 - 1)(q^2 + 1) * (q^4 - q^2 + 1)/r:
  easy part: f^(q^6-1) = conj(f)/f, then ^(q^2+1) with one Frobenius; the result is in the
  cyclotomic subgroup, where inversion is conjugation and squaring is the cheap
  Granger-Scott squaring;
  hard part: (q^4 - q^2 + 1)/r = l0 + l1 q + l2 q^2 + l3 q^3 with l3 = 1, l2 = 6x^2 + 1,
  l1 = -36x^3 - 18x^2 - 12x + 1, l0 = -36x^3 - 30x^2 - 18x - 2, by the vectorial addition
  chain of Scott, Benger, Charlemagne, Dominguez Perez and Kachisa (three exponentiations by
  x, 13 multiplications, 4 squarings). This exponent is exactly (q^4-q^2+1)/r (the
  Fuentes-Castaneda chain raises to a multiple of it and costs the same here), so the values
  agree with py_ecc's `pairing` bit for bit.

GT elements are (12, 4) uint64 arrays of Fq Montgomery limbs; row 6*i + 2*j + k is the
coefficient of u^k v^j w^i in the tower of tower.py (Fq2 = Fq[u]/(u^2+1),
Fq6 = Fq2[v]/(v^3-(9+u)), Fq12 = Fq6[w]/(w^2-v)). `gt_to_py_ecc` maps to py_ecc's
Fq[w]/(w^12 - 18 w^6 + 82), where the same w is used and u = w^6 - 9.

Inputs: G1 points as (8,) / (n, 8) affine rows (g1.py), G2 points as (16,) / (n, 16)
(g2.py); the point at infinity (all-zero row) on either side makes that pair contribute 1.
Points are checked to be canonical and on their curves. G2 subgroup membership is NOT checked
here (it costs a scalar multiplication): G2 points from `g2.decompress` or an SRS loader are
already checked; use g2.in_subgroup for others.
"""
import numba as nb
import numpy as np

from ..field.params import FQ_MODULUS as q
from ..field.params import FQ_ONE, to_limbs
from ..field.params import FR_MODULUS as r
from . import g1
from . import g2 as _g2
from . import tower as T
from .tower import (FQ12_ONE, FROB1, FROB2, TWIST_B3, _fn, fq12_conj, fq12_cyclotomic_exp_x,
                    fq12_cyclotomic_sqr, fq12_frobenius, fq12_frobenius2, fq12_frobenius3,
                    fq12_inv, fq12_is_one, fq12_mul, fq12_mul_by_034, fq12_sqr, fq2_add, fq2_conj,
                    fq2_dbl, fq2_half, fq2_mul, fq2_mul_fq, fq2_neg, fq2_sqr, fq2_sub, load_fq12,
                    store_fq12)

_JIT = dict(cache=True, nogil=True)
LOOP_NAF = tuple(reversed(T.naf(6 * T.BN_X + 2)))        # most significant digit first


# ---------------------------------------------------------------------------------------
# Miller loop steps (T on the twist in homogeneous projective coordinates)
# ---------------------------------------------------------------------------------------
@_fn
def doubling_step(X, Y, Z):
    """T -> 2T and the tangent line at T, as (X3, Y3, Z3, c0, c3, c4): the line at P is
    c0 yP + c3 xP w + c4 w^3.

    Costello-Lange-Naehrig formulas: with A = XY/2, B = Y^2, C = Z^2, E = 3b'C, F = 3E,
    G = (B + F)/2, H = (Y + Z)^2 - B - C = 2YZ, I = E - B, J = X^2:
    2T = (A(B - F), G^2 - 3E^2, BH) and the line (times -2YZ) is -H yP + 3J xP w + I w^3."""
    A = fq2_half(fq2_mul(X, Y))
    B = fq2_sqr(Y)
    C = fq2_sqr(Z)
    E = fq2_mul(C, TWIST_B3)
    F = fq2_add(fq2_dbl(E), E)
    G = fq2_half(fq2_add(B, F))
    H = fq2_sub(fq2_sqr(fq2_add(Y, Z)), fq2_add(B, C))
    I = fq2_sub(E, B)
    J = fq2_sqr(X)
    E2 = fq2_sqr(E)
    X3 = fq2_mul(A, fq2_sub(B, F))
    Y3 = fq2_sub(fq2_sqr(G), fq2_add(fq2_dbl(E2), E2))
    Z3 = fq2_mul(B, H)
    return X3, Y3, Z3, fq2_neg(H), fq2_add(fq2_dbl(J), J), I


@_fn
def addition_step(X, Y, Z, xQ, yQ):
    """T -> T + Q (Q affine) and the line through T and Q, as (X3, Y3, Z3, c0, c3, c4) (see
    doubling_step).

    theta = Y - yQ Z, lam = X - xQ Z (the slope is theta/lam); C = theta^2, D = lam^2,
    E = lam^3, F = Z C, G = X D, H = E + F - 2G: T + Q = (lam H, theta(G - H) - Y E, Z E), and
    the line (times lam) is lam yP - theta xP w + (theta xQ - lam yQ) w^3."""
    theta = fq2_sub(Y, fq2_mul(yQ, Z))
    lam = fq2_sub(X, fq2_mul(xQ, Z))
    C = fq2_sqr(theta)
    D = fq2_sqr(lam)
    E = fq2_mul(lam, D)
    F = fq2_mul(Z, C)
    G = fq2_mul(X, D)
    H = fq2_sub(fq2_add(E, F), fq2_dbl(G))
    X3 = fq2_mul(lam, H)
    Y3 = fq2_sub(fq2_mul(theta, fq2_sub(G, H)), fq2_mul(Y, E))
    Z3 = fq2_mul(Z, E)
    l4 = fq2_sub(fq2_mul(theta, xQ), fq2_mul(lam, yQ))
    return X3, Y3, Z3, lam, fq2_neg(theta), l4


@nb.njit(inline="always")
def _ld(a, i, k):
    return (a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3])


@nb.njit(inline="always")
def _ld2(a, i, k):
    return (_ld(a, i, k), _ld(a, i, k + 4))


@nb.njit(inline="always")
def _st2(a, i, k, v):
    for j in range(4):
        a[i, k + j] = v[0][j]
        a[i, k + 4 + j] = v[1][j]


# lines per G2 point: one per doubling, one per non-zero NAF digit, two Frobenius lines
N_LINES = len(LOOP_NAF) - 1 + sum(1 for d in LOOP_NAF[1:] if d != 0) + 2
LINE_LIMBS = 24             # (c0, c3, c4), three Fq2 elements


@nb.njit(inline="always")
def _put_line(out, k, s, l0, l3, l4):
    _st2(out, k, LINE_LIMBS * s, l0)
    _st2(out, k, LINE_LIMBS * s + 8, l3)
    _st2(out, k, LINE_LIMBS * s + 16, l4)


@_fn
def g2_lines(Q, out):
    """out[k]: every line of the Miller loop of the G2 point Q[k] (affine, finite), in loop
    order, each as three Fq2 coefficients (c0, c3, c4) with l(P) = c0 yP + c3 xP w + c4 w^3.

    The coefficients depend on Q alone, so a fixed G2 point's lines are computed once
    (`prepare_g2`) and each pairing with it costs only the Fq12 work and two Fq2 x Fq
    products per line."""
    one = FQ_ONE
    zero = (np.uint64(0), np.uint64(0), np.uint64(0), np.uint64(0))
    for k in range(Q.shape[0]):
        xQ = _ld2(Q, k, 0)
        yQ = _ld2(Q, k, 8)
        X, Y, Z = xQ, yQ, (one, zero)
        s = 0
        for i in range(1, len(LOOP_NAF)):
            X, Y, Z, l0, l3, l4 = doubling_step(X, Y, Z)
            _put_line(out, k, s, l0, l3, l4)
            s += 1
            d = LOOP_NAF[i]
            if d != 0:
                X, Y, Z, l0, l3, l4 = addition_step(X, Y, Z, xQ, yQ if d > 0 else fq2_neg(yQ))
                _put_line(out, k, s, l0, l3, l4)
                s += 1
        # the two Frobenius-twisted additions: T + pi(Q), then the line to -pi^2(Q)
        x1 = fq2_mul(fq2_conj(xQ), FROB1[2])
        y1 = fq2_mul(fq2_conj(yQ), FROB1[3])
        x2 = fq2_mul_fq(xQ, FROB2[2])
        y2 = fq2_neg(fq2_mul_fq(yQ, FROB2[3]))
        X, Y, Z, l0, l3, l4 = addition_step(X, Y, Z, x1, y1)
        _put_line(out, k, s, l0, l3, l4)
        _, _, _, l0, l3, l4 = addition_step(X, Y, Z, x2, y2)
        _put_line(out, k, s + 1, l0, l3, l4)


@nb.njit(inline="always")
def _mul_lines(f, P, lines, s):
    """f times line s of every pair, each evaluated at its G1 point."""
    for k in range(P.shape[0]):
        o = LINE_LIMBS * s
        f = fq12_mul_by_034(f, fq2_mul_fq(_ld2(lines, k, o), _ld(P, k, 4)),
                            fq2_mul_fq(_ld2(lines, k, o + 8), _ld(P, k, 0)),
                            _ld2(lines, k, o + 16))
    return f


@_fn
def miller_loop_lines(P, lines):
    """Product over the pairs of the Miller values f_{6x+2,Q}(P) * (two Frobenius lines),
    from the G1 points P (n, 8) and their G2 points' lines (`g2_lines`). Returns an Fq12
    tuple. One squaring of f per step serves every pair."""
    f = FQ12_ONE
    s = 0
    for i in range(1, len(LOOP_NAF)):
        if i > 1:
            f = fq12_sqr(f)
        f = _mul_lines(f, P, lines, s)
        s += 1
        if LOOP_NAF[i] != 0:
            f = _mul_lines(f, P, lines, s)
            s += 1
    f = _mul_lines(f, P, lines, s)
    return _mul_lines(f, P, lines, s + 1)


@_fn
def final_exponentiation(f):
    """f^((q^12 - 1)/r): easy part, then the hard part of Scott et al. (see module doc)."""
    t = fq12_mul(fq12_conj(f), fq12_inv(f))          # f^(q^6 - 1)
    f = fq12_mul(fq12_frobenius2(t), t)              # ^(q^2 + 1): now in the cyclotomic subgroup
    fx = fq12_cyclotomic_exp_x(f)
    fx2 = fq12_cyclotomic_exp_x(fx)
    fx3 = fq12_cyclotomic_exp_x(fx2)
    y0 = fq12_mul(fq12_mul(fq12_frobenius(f), fq12_frobenius2(f)), fq12_frobenius3(f))
    y1 = fq12_conj(f)
    y2 = fq12_frobenius2(fx2)
    y3 = fq12_conj(fq12_frobenius(fx))
    y4 = fq12_conj(fq12_mul(fx, fq12_frobenius(fx2)))
    y5 = fq12_conj(fx2)
    y6 = fq12_conj(fq12_mul(fx3, fq12_frobenius(fx3)))
    # y0 * y1^2 * y2^6 * y3^12 * y4^18 * y5^30 * y6^36
    t0 = fq12_mul(fq12_mul(fq12_cyclotomic_sqr(y6), y4), y5)
    t1 = fq12_mul(fq12_mul(y3, y5), t0)
    t0 = fq12_mul(t0, y2)
    t1 = fq12_mul(fq12_cyclotomic_sqr(t1), t0)
    t1 = fq12_cyclotomic_sqr(t1)
    t0 = fq12_mul(t1, y1)
    t1 = fq12_mul(t1, y0)
    t0 = fq12_cyclotomic_sqr(t0)
    return fq12_mul(t0, t1)


@nb.njit(**_JIT)
def _k_lines(Q, out):
    g2_lines(Q, out)


@nb.njit(**_JIT)
def _k_pairing(P, lines, mode, out):
    """mode 0: Miller loop only; 1: Miller loop and final exponentiation. Writes (12, 4)."""
    f = miller_loop_lines(P, lines)
    if mode == 1:
        f = final_exponentiation(f)
    store_fq12(out, f)
    return fq12_is_one(f)


@nb.njit(**_JIT)
def _k_final_exp(a, out):
    store_fq12(out, final_exponentiation(load_fq12(a)))


# a^e for a in the cyclotomic subgroup (so in particular GT), e a 4-limb integer
_cyclotomic_pow = T.limb_power(fq12_cyclotomic_sqr, fq12_mul, FQ12_ONE)


@nb.njit(**_JIT)
def _k_gt_pow(a, e, out):
    store_fq12(out, _cyclotomic_pow(load_fq12(a), e))


# ---------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------
def _g1(a):
    a = np.asarray(a)
    if a.dtype != np.uint64:
        raise TypeError(f"pairing: G1 points must be uint64 limbs, got {a.dtype}")
    a = a.reshape(1, 8) if a.ndim == 1 else a
    if a.ndim != 2 or a.shape[1] != 8:
        raise ValueError(f"pairing: expected G1 points of shape (n, 8) or (8,), got {a.shape}")
    return np.ascontiguousarray(a)


def _prepare(g1_points, g2_points):
    """Validated (P, Q) arrays of the pairs with neither point at infinity."""
    P = _g1(g1_points)
    Q, _ = _g2._points(g2_points, "G2 points")
    if P.shape[0] != Q.shape[0]:
        raise ValueError(f"pairing: {P.shape[0]} G1 points but {Q.shape[0]} G2 points")
    bad = np.flatnonzero(~g1.is_on_curve(P))           # infinity counts as on the curve
    if bad.size:
        raise ValueError(f"pairing: G1 point {int(bad[0])} is not on the curve (or not canonical)")
    ok2 = _g2.is_on_curve(Q)
    if not np.all(ok2):
        raise ValueError(f"pairing: G2 point {int(np.flatnonzero(~ok2)[0])} is not on the twist "
                         "(or not canonical)")
    keep = P.any(axis=1) & Q.any(axis=1)
    return np.ascontiguousarray(P[keep]), np.ascontiguousarray(Q[keep])


def gt_one() -> np.ndarray:
    """The identity of GT as a (12, 4) array."""
    out = np.zeros((12, 4), np.uint64)
    out[0] = np.array(FQ_ONE, np.uint64)
    return out


# G2 point (its 128 bytes) -> its Miller-loop lines. A verifier pairs with the same two
# points every time ([1]G2 and [tau]G2 of its key), so their lines are computed once.
_LINES: dict = {}
_LINES_CACHE_SIZE = 16


def prepare_g2(Q) -> np.ndarray:
    """The Miller-loop lines (`g2_lines`) of finite, validated G2 points Q (n, 16), one row of
    N_LINES * LINE_LIMBS limbs per point, each point's computed once and kept (a few)."""
    rows = []
    for point in Q:
        key = point.tobytes()
        lines = _LINES.get(key)
        if lines is None:
            lines = np.empty((1, N_LINES * LINE_LIMBS), np.uint64)
            _k_lines(np.ascontiguousarray(point.reshape(1, 16)), lines)
            if len(_LINES) >= _LINES_CACHE_SIZE:
                _LINES.pop(next(iter(_LINES)))
            _LINES[key] = lines
        rows.append(lines)
    if not rows:
        return np.zeros((0, N_LINES * LINE_LIMBS), np.uint64)
    return np.concatenate(rows)


def _run(P, Q, mode):
    out = np.empty((12, 4), np.uint64)
    if P.shape[0] == 0:
        return gt_one(), True
    is_one = _k_pairing(P, prepare_g2(Q), mode, out)
    return out, bool(is_one)


def pairing(p1, q2) -> np.ndarray:
    """e(p1, q2) for one G1 point (8,) and one G2 point (16,): a (12, 4) GT element."""
    P, Q = _prepare(p1, q2)
    if P.shape[0] > 1:
        raise ValueError("pairing: one point on each side expected (use multi_pairing)")
    return _run(P, Q, 1)[0]


def miller_loop_value(g1_points, g2_points) -> np.ndarray:
    """The product of the Miller values (no final exponentiation), for experiments."""
    P, Q = _prepare(g1_points, g2_points)
    return _run(P, Q, 0)[0]


def final_exp(f) -> np.ndarray:
    """f^((q^12-1)/r) for a (12, 4) Fq12 element."""
    out = np.empty((12, 4), np.uint64)
    _k_final_exp(np.ascontiguousarray(f, dtype=np.uint64), out)
    return out


def _split_pairs(pairs):
    if isinstance(pairs, tuple) and len(pairs) == 2 and isinstance(pairs[0], np.ndarray) \
            and pairs[0].ndim == 2 and pairs[0].shape[1] == 8:
        return pairs
    pairs = list(pairs)
    if not pairs:
        return np.zeros((0, 8), np.uint64), np.zeros((0, 16), np.uint64)
    g1s = np.stack([_g1(p).reshape(8) for p, _ in pairs])
    g2s = np.stack([np.asarray(qq, np.uint64).reshape(16) for _, qq in pairs])
    return g1s, g2s


def multi_pairing(pairs) -> np.ndarray:
    """prod_i e(P_i, Q_i) with one shared Miller loop and ONE final exponentiation.

    `pairs`: an iterable of (G1 point (8,), G2 point (16,)), or a tuple (G1 (n, 8), G2 (n, 16))."""
    P, Q = _prepare(*_split_pairs(pairs))
    return _run(P, Q, 1)[0]


def pairing_check(g1_points, g2_points) -> bool:
    """True iff prod_i e(g1_points[i], g2_points[i]) == 1 (what a KZG verifier asks)."""
    P, Q = _prepare(g1_points, g2_points)
    return _run(P, Q, 1)[1]


def gt_mul(a, b) -> np.ndarray:
    return T.tower_op("mul", a, b)


def gt_inv(a) -> np.ndarray:
    """Inverse in GT (conjugation: GT lies in the cyclotomic subgroup)."""
    return T.tower_op("conj", a)


def gt_pow(a, e: int) -> np.ndarray:
    """a^e for a in GT (e any int; reduced mod r since GT has order r)."""
    out = np.empty((12, 4), np.uint64)
    _k_gt_pow(np.ascontiguousarray(a, dtype=np.uint64), to_limbs(int(e) % r), out)
    return out


def gt_eq(a, b) -> bool:
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def gt_is_one(a) -> bool:
    return gt_eq(a, gt_one())


def gt_to_py_ecc(x, optimized: bool = True):
    """A (12, 4) Fq12 element -> py_ecc's FQ12 (modulus w^12 - 18 w^6 + 82).

    Both towers use the same w (w^6 = 9 + u), so the coefficient a + b u of u^k v^j w^i,
    i.e. of w^(2j + i), becomes (a - 9b) w^(2j+i) + b w^(2j+i+6) since u = w^6 - 9.
    optimized=True gives py_ecc.optimized_bn128's FQ12 class, else py_ecc.bn128's."""
    if optimized:
        from py_ecc.fields import optimized_bn128_FQ12 as FQ12
    else:
        from py_ecc.fields import bn128_FQ12 as FQ12
    ints = T.to_ints(x)
    c = [0] * 12
    for i in range(2):
        for j in range(3):
            a, b = ints[6 * i + 2 * j], ints[6 * i + 2 * j + 1]
            e = 2 * j + i
            c[e] = (c[e] + a - 9 * b) % q
            c[e + 6] = (c[e + 6] + b) % q
    return FQ12(c)


def gt_from_py_ecc(x) -> np.ndarray:
    """The inverse of gt_to_py_ecc: coefficient c_e of w^e (e < 12) -> tower rows."""
    c = [int(v) % q for v in x.coeffs]
    ints = [0] * 12
    for e in range(6):
        # c_e w^e + c_{e+6} w^(e+6) = (c_e + 9 c_{e+6}) w^e + c_{e+6} u w^e
        i, j = e % 2, e // 2
        ints[6 * i + 2 * j] = (c[e] + 9 * c[e + 6]) % q
        ints[6 * i + 2 * j + 1] = c[e + 6]
    return T.from_ints(ints)
