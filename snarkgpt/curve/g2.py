"""BN254 G2: the sextic twist E': y^2 = x^3 + 3/(9+u) over Fq2, as NumPy arrays and Numba kernels.

Representation: an affine point is a (16,) uint64 row, x.c0, x.c1, y.c0, y.c1 (4 Montgomery
limbs each, x = x.c0 + x.c1 u); n points are an (n, 16) array. The point at infinity is the
all-zero row ((0, 0) is not on E' since b' != 0). Functions accept (16,) or (n, 16) and give
back the same shape. Inside kernels points are Jacobian (X, Y, Z) over Fq2, x = X/Z^2,
y = Y/Z^3, infinity Z = 0.

E'(Fq2) has order r * c with the cofactor c = 2q - r (a 254-bit number coprime to r), so a
point on E' need not lie in the order-r group G2. `in_subgroup` decides membership with the
endomorphism psi = (twist)^-1 o Frobenius o twist:

    P in G2  <=>  psi(P) == [6x^2] P        (x the BN parameter; q = 6x^2 mod r)

Why this is exact: psi satisfies psi^2 - t psi + q = 0 on all of E' (t = 6x^2 + 1 the trace), so
psi(P) = [l]P with l = 6x^2 forces [l^2 - t l + q] P = 0. Writing P = P_r + P_c with P_c of
order dividing c, the component P_c has order dividing gcd(l^2 - t l + q, c), which is 1 for
BN254 (checked below at import), so P_c = 0. The cost is one 127-bit scalar multiplication
instead of the 254-bit [r]P == 0 test (kept as method="order" for cross-checking).

Compressed serialization follows gnark-crypto (64 bytes per point): x.c1 then x.c0, each 32
bytes big-endian, with flags in the top two bits of the first byte: 0b10 y is the smaller
root, 0b11 y is the larger root, 0b01 the point at infinity (everything else zero). "Larger"
compares y.c1, or y.c0 when y.c1 = 0, against (q-1)/2, as gnark's LexicographicallyLargest.
"""
import numba as nb
import numpy as np

from ..field import Fr
from ..field.params import FQ_MODULUS as q
from ..field.params import FQ_R2, to_limbs
from ..field.params import FR_MODULUS as r
from . import tower as T
from .formulas import point_formulas
from .rows import point_rows
from .scalars import ints_to_limbs as _ints_to_limbs
from .scalars import scalars_canonical as _scalars_canonical
from .tower import (FQ2_ONE, FQ2_ZERO, FROB1, TWIST_B, _fn, fq2_add, fq2_conj, fq2_dbl, fq2_eq,
                    fq2_inv, fq2_is_lex_largest, fq2_is_zero, fq2_mul, fq2_neg, fq2_sqr, fq2_sqrt,
                    fq2_sub, fq_mul, limbs_gt)

_JIT = dict(cache=True, nogil=True)
BN_X = T.BN_X
COFACTOR = 2 * q - r
PSI_EIGEN = 6 * BN_X * BN_X                  # psi acts on G2 as multiplication by q = 6x^2 (mod r)
_TRACE = 6 * BN_X * BN_X + 1


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


assert q % r == PSI_EIGEN % r
assert _gcd(PSI_EIGEN * PSI_EIGEN - _TRACE * PSI_EIGEN + q, COFACTOR) == 1, "psi test must be exact"

GEN_INTS = (
    10857046999023057135944570762232829481370756359578518086990519993285655852781,
    11559732032986387107991004021392285783925812861821192530917403151452391805634,
    8495653923123431417604973247489272438418190587263600148770280649306958101930,
    4082367875863433681332203403145435568316851327593401208105741076214120093531,
)

PSI_EIGEN_LIMBS = to_limbs(PSI_EIGEN)
R_LIMBS = to_limbs(r)
QM1_LIMBS = to_limbs(q - 1)
PSI_X = FROB1[2]                             # xi^((q-1)/3)
PSI_Y = FROB1[3]                             # xi^((q-1)/2)

FLAG_MASK = 0b11 << 6
FLAG_SMALLEST = 0b10 << 6
FLAG_LARGEST = 0b11 << 6
FLAG_INFINITY = 0b01 << 6


# ---------------------------------------------------------------------------------------
# Point kernels (Jacobian over Fq2, a = 0): the formulas of formulas.py over Fq2
# ---------------------------------------------------------------------------------------
_F = point_formulas(fq2_add, fq2_sub, fq2_mul, fq2_sqr, fq2_dbl, fq2_is_zero, FQ2_ONE, FQ2_ZERO,
                    _fn)
aff_is_inf = _F.aff_is_inf
jac_double = _F.jac_dbl         # dbl-2009-l
jac_madd = _F.jac_madd          # Jacobian + affine, madd-2007-bl


@_fn
def jac_to_affine(X, Y, Z):
    if fq2_is_zero(Z):
        return FQ2_ZERO, FQ2_ZERO
    zi = fq2_inv(Z)
    zi2 = fq2_sqr(zi)
    return fq2_mul(X, zi2), fq2_mul(Y, fq2_mul(zi2, zi))


@_fn
def scalar_mul_affine(x, y, e):
    """[e](x, y) as Jacobian, e a 4-limb canonical integer (left-to-right double-and-add;
    not constant time: G2 scalars here are public or used once at setup)."""
    X, Y, Z = FQ2_ONE, FQ2_ONE, FQ2_ZERO
    started = False
    for li in range(3, -1, -1):
        word = e[li]
        for bit in range(63, -1, -1):
            if started:
                X, Y, Z = jac_double(X, Y, Z)
            if (word >> np.uint64(bit)) & np.uint64(1):
                X, Y, Z = jac_madd(X, Y, Z, x, y)
                started = True
    return X, Y, Z


@_fn
def aff_on_curve(x, y):
    """y^2 == x^3 + b' (the point at infinity is not handled here)."""
    return fq2_eq(fq2_sqr(y), fq2_add(fq2_mul(fq2_sqr(x), x), TWIST_B))


@_fn
def fq_lt_q(a):
    return not limbs_gt(a, QM1_LIMBS)


@_fn
def aff_canonical(x, y):
    return fq_lt_q(x[0]) and fq_lt_q(x[1]) and fq_lt_q(y[0]) and fq_lt_q(y[1])


@_fn
def psi(x, y):
    """The endomorphism psi of E': (conj(x) xi^((q-1)/3), conj(y) xi^((q-1)/2))."""
    return fq2_mul(fq2_conj(x), PSI_X), fq2_mul(fq2_conj(y), PSI_Y)


@_fn
def in_subgroup_psi(x, y):
    if aff_is_inf(x, y):
        return True
    X, Y, Z = scalar_mul_affine(x, y, PSI_EIGEN_LIMBS)
    if fq2_is_zero(Z):
        return False
    px, py = psi(x, y)
    z2 = fq2_sqr(Z)
    return fq2_eq(X, fq2_mul(px, z2)) and fq2_eq(Y, fq2_mul(py, fq2_mul(z2, Z)))


@_fn
def in_subgroup_order(x, y):
    if aff_is_inf(x, y):
        return True
    _, _, Z = scalar_mul_affine(x, y, R_LIMBS)
    return fq2_is_zero(Z)


@nb.njit(inline="always")
def _load_pt(a, i):
    """Row i of an (n, 16) array as affine (x, y) over Fq2."""
    return (((a[i, 0], a[i, 1], a[i, 2], a[i, 3]), (a[i, 4], a[i, 5], a[i, 6], a[i, 7])),
            ((a[i, 8], a[i, 9], a[i, 10], a[i, 11]), (a[i, 12], a[i, 13], a[i, 14], a[i, 15])))


@nb.njit(inline="always")
def _store_pt(out, i, x, y):
    for k in range(4):
        out[i, k] = x[0][k]
        out[i, 4 + k] = x[1][k]
        out[i, 8 + k] = y[0][k]
        out[i, 12 + k] = y[1][k]


# ---------------------------------------------------------------------------------------
# Vector kernels
# ---------------------------------------------------------------------------------------
@nb.njit(**_JIT)
def _k_add(a, b, out):
    for i in range(a.shape[0]):
        x1, y1 = _load_pt(a, i)
        x2, y2 = _load_pt(b, i)
        if aff_is_inf(x1, y1):
            _store_pt(out, i, x2, y2)
        elif aff_is_inf(x2, y2):
            _store_pt(out, i, x1, y1)
        else:
            X, Y, Z = jac_madd(x1, y1, FQ2_ONE, x2, y2)
            x, y = jac_to_affine(X, Y, Z)
            _store_pt(out, i, x, y)


@nb.njit(**_JIT)
def _k_neg(a, out):
    for i in range(a.shape[0]):
        x, y = _load_pt(a, i)
        _store_pt(out, i, x, fq2_neg(y))


@nb.njit(**_JIT)
def _k_scalar_mul(a, scalars, single, out):
    """out[i] = scalars[i] * a[0 if single else i]; scalars canonical (n, 4) limbs."""
    for i in range(scalars.shape[0]):
        j = 0 if single else i
        x, y = _load_pt(a, j)
        if aff_is_inf(x, y):
            _store_pt(out, i, FQ2_ZERO, FQ2_ZERO)
            continue
        e = (scalars[i, 0], scalars[i, 1], scalars[i, 2], scalars[i, 3])
        X, Y, Z = scalar_mul_affine(x, y, e)
        x, y = jac_to_affine(X, Y, Z)
        _store_pt(out, i, x, y)


@nb.njit(**_JIT)
def _k_check(a, what, out):
    """what 0: canonical and on the curve (or infinity); 1: psi subgroup test; 2: [r]P == 0."""
    for i in range(a.shape[0]):
        x, y = _load_pt(a, i)
        if what == 0:
            out[i] = aff_is_inf(x, y) or (aff_canonical(x, y) and aff_on_curve(x, y))
        elif what == 1:
            out[i] = in_subgroup_psi(x, y)
        else:
            out[i] = in_subgroup_order(x, y)


@nb.njit(**_JIT)
def _k_psi(a, out):
    for i in range(a.shape[0]):
        x, y = _load_pt(a, i)
        if aff_is_inf(x, y):
            _store_pt(out, i, x, y)
        else:
            px, py = psi(x, y)
            _store_pt(out, i, px, py)


@nb.njit(**_JIT)
def _k_decompress(xs, largest, out, status):
    """xs: (n, 2, 4) canonical x (c0, c1) limbs; largest: (n,) uint8 flag. Writes affine points
    and a status per point: 0 ok, 1 x^3 + b' has no square root in Fq2, 2 not in G2."""
    for i in range(xs.shape[0]):
        x0 = fq_mul((xs[i, 0, 0], xs[i, 0, 1], xs[i, 0, 2], xs[i, 0, 3]), FQ_R2)
        x1 = fq_mul((xs[i, 1, 0], xs[i, 1, 1], xs[i, 1, 2], xs[i, 1, 3]), FQ_R2)
        x = (x0, x1)
        rhs = fq2_add(fq2_mul(fq2_sqr(x), x), TWIST_B)
        ok, y = fq2_sqrt(rhs)
        if not ok:
            status[i] = 1
            _store_pt(out, i, FQ2_ZERO, FQ2_ZERO)
            continue
        if fq2_is_lex_largest(y) != (largest[i] != 0):
            y = fq2_neg(y)
        _store_pt(out, i, x, y)
        status[i] = 0 if in_subgroup_psi(x, y) else 2


@nb.njit(**_JIT)
def _k_lex_largest(a, out):
    for i in range(a.shape[0]):
        x, y = _load_pt(a, i)
        out[i] = fq2_is_lex_largest(y)


# ---------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------
def _points(a, name="points"):
    """(array (n, 16), was a single (16,) point)."""
    return point_rows(a, 16, "G2", name)


def _ret(out, single):
    if single:
        return bool(out[0]) if out.dtype == np.bool_ else out[0]
    return out


def _map(kernel, points):
    """kernel(a, out) over the rows of points into an array like them (one point, one row)."""
    a, single = _points(points)
    out = np.empty_like(a)
    if a.shape[0]:
        kernel(a, out)
    return _ret(out, single)


def from_affine_ints(coords) -> np.ndarray:
    """[(x.c0, x.c1, y.c0, y.c1), ...] canonical ints -> (n, 16); None gives infinity.
    No validity check (use is_on_curve / in_subgroup)."""
    rows = []
    for c in coords:
        if c is None:
            rows.append(np.zeros(16, np.uint64))
        else:
            rows.append(np.array([T.mont(int(v)) for v in c], np.uint64).reshape(16))
    return np.array(rows, np.uint64).reshape(len(rows), 16)


def to_affine_ints(points) -> list:
    """(n, 16) or (16,) -> [(x.c0, x.c1, y.c0, y.c1) canonical ints, or None for infinity]."""
    a, _ = _points(points)
    out = []
    for row in a:
        if not row.any():
            out.append(None)
        else:
            out.append(tuple(T.to_ints(row.reshape(4, 4))))
    return out


def generator() -> np.ndarray:
    """The standard G2 generator (the one of EIP-197 / py_ecc) as a (16,) row."""
    return from_affine_ints([GEN_INTS])[0]


def identity(n: int | None = None) -> np.ndarray:
    """The point at infinity: a (16,) zero row, or n of them as (n, 16)."""
    return np.zeros(16 if n is None else (n, 16), dtype=np.uint64)


def is_identity(points):
    a, single = _points(points)
    r = ~a.any(axis=1)
    return bool(r[0]) if single else r


def _is_py_ecc_point(p) -> bool:
    return p is None or (isinstance(p, tuple) and len(p) in (2, 3) and hasattr(p[0], "coeffs"))


def from_py_ecc(points) -> np.ndarray:
    """py_ecc G2 point(s) -> affine. Accepts py_ecc.bn128 points ((x, y) or None) and
    py_ecc.optimized_bn128 points ((x, y, z), z = 0 for infinity); one point gives (16,)."""
    single = _is_py_ecc_point(points)
    pts = [points] if single else list(points)
    coords = []
    for p in pts:
        if p is None:
            coords.append(None)
            continue
        if len(p) == 3:
            z = [int(c) for c in p[2].coeffs]
            if z == [0, 0]:
                coords.append(None)
                continue
            zi = T.py_fq2_inv(z)
            x = T.py_fq2_mul([int(c) for c in p[0].coeffs], zi)
            y = T.py_fq2_mul([int(c) for c in p[1].coeffs], zi)
        else:
            x = [int(c) for c in p[0].coeffs]
            y = [int(c) for c in p[1].coeffs]
        coords.append((x[0], x[1], y[0], y[1]))
    out = from_affine_ints(coords)
    return out[0] if single else out


def to_py_ecc(points, optimized: bool = True):
    """Affine -> py_ecc points: optimized_bn128 (x, y, 1) / (1, 1, 0) by default, or bn128
    (x, y) / None with optimized=False. One (16,) point gives one py_ecc point."""
    a, single = _points(points)
    if optimized:
        from py_ecc.fields import optimized_bn128_FQ2 as FQ2
    else:
        from py_ecc.fields import bn128_FQ2 as FQ2
    out = []
    for c in to_affine_ints(a):
        if c is None:
            out.append((FQ2.one(), FQ2.one(), FQ2.zero()) if optimized else None)
        else:
            x, y = FQ2([c[0], c[1]]), FQ2([c[2], c[3]])
            out.append((x, y, FQ2.one()) if optimized else (x, y))
    return out[0] if single else out


def is_on_curve(points):
    """Per point: canonical coordinates (< q) and y^2 = x^3 + 3/(9+u), or infinity.
    Being on E' does NOT imply being in G2; see in_subgroup."""
    a, single = _points(points)
    out = np.empty(a.shape[0], np.bool_)
    if a.shape[0]:
        _k_check(a, 0, out)
    return _ret(out, single)


def in_subgroup(points, method: str = "psi"):
    """Per point: in the order-r group G2 (infinity included). Assumes the points are on E'
    (check is_on_curve first). method="psi" tests psi(P) == [6x^2]P (see the module doc);
    method="order" tests [r]P == 0, twice the work, for cross-checking."""
    a, single = _points(points)
    what = {"psi": 1, "order": 2}[method]
    out = np.empty(a.shape[0], np.bool_)
    if a.shape[0]:
        _k_check(a, what, out)
    return _ret(out, single)


def neg(points) -> np.ndarray:
    return _map(_k_neg, points)


def add(a, b) -> np.ndarray:
    """Elementwise a + b on affine arrays (any case: doubling, P + (-P), infinity). A single
    point on either side is broadcast."""
    a, sa = _points(a, "a")
    b, sb = _points(b, "b")
    if sa and not sb:
        a = np.repeat(a, b.shape[0], axis=0)
    elif sb and not sa:
        b = np.repeat(b, a.shape[0], axis=0)
    if a.shape != b.shape:
        raise ValueError(f"G2 add: shapes {a.shape} and {b.shape} differ")
    out = np.empty_like(a)
    if a.shape[0]:
        _k_add(a, b, out)
    return _ret(out, sa and sb)


def double(points) -> np.ndarray:
    return add(points, points)


def sub(a, b) -> np.ndarray:
    return add(a, neg(b))


def psi_map(points) -> np.ndarray:
    """The endomorphism psi (acts on G2 as multiplication by q mod r)."""
    return _map(_k_psi, points)


def scalars_canonical(scalars) -> np.ndarray:
    """Scalars as canonical (n, 4) limbs in [0, r): an (n, 4)/(4,) uint64 array is read as Fr
    Montgomery elements; Python ints are reduced mod r (the G1 convention, scalars.py)."""
    return _scalars_canonical(scalars, "G2")


def scalar_mul(points, scalars, *, reduce: bool = True) -> np.ndarray:
    """Elementwise scalars[i] * points[i]. Scalars: an (n, 4) Fr Montgomery array, or Python
    int(s) reduced mod r. With reduce=False, Python ints are used as given (0 <= k < 2^256),
    which matters only for points outside G2. A single point with many scalars, or a single
    scalar with many points, is broadcast."""
    a, single = _points(points)
    scalar_single = isinstance(scalars, (int, np.integer)) or (
        isinstance(scalars, np.ndarray) and scalars.ndim == 1)
    if not reduce and not isinstance(scalars, np.ndarray):
        vals = [int(scalars)] if isinstance(scalars, (int, np.integer)) else [int(v) for v in scalars]
        canon = _ints_to_limbs(vals)
    else:
        canon = scalars_canonical(scalars)
    ns = canon.shape[0]
    pts_single = a.shape[0] == 1
    if ns == 1 and a.shape[0] > 1:
        canon = np.repeat(canon, a.shape[0], axis=0)
        ns = a.shape[0]
    elif not pts_single and a.shape[0] != ns:
        raise ValueError(f"G2 scalar_mul: {a.shape[0]} points but {ns} scalars")
    out = np.empty((ns, 16), np.uint64)
    if ns:
        _k_scalar_mul(a, canon, pts_single, out)
    return out[0] if (single and scalar_single) else out


def random(n: int | None = None, rng=None) -> np.ndarray:
    """Random G2 points (generator times random scalars; rng a numpy Generator for
    reproducibility)."""
    k = 1 if n is None else n
    pts = scalar_mul(generator(), Fr.random(k, rng=rng))
    return pts.reshape(k, 16)[0] if n is None else pts.reshape(k, 16)


# ---------------------------------------------------------------------------------------
# gnark-crypto compressed serialization
# ---------------------------------------------------------------------------------------
def compress(points) -> bytes:
    """Points -> 64 bytes each (gnark-crypto compressed G2: x.c1 || x.c0 big-endian, flags in
    the top two bits). Points are taken as valid (on E', canonical)."""
    a, _ = _points(points)
    n = a.shape[0]
    if n == 0:
        return b""
    largest = np.empty(n, np.bool_)
    _k_lex_largest(a, largest)
    out = bytearray()
    for i, c in enumerate(to_affine_ints(a)):
        if c is None:
            out += bytes([FLAG_INFINITY]) + bytes(63)
            continue
        b = bytearray(c[1].to_bytes(32, "big") + c[0].to_bytes(32, "big"))
        b[0] |= FLAG_LARGEST if largest[i] else FLAG_SMALLEST
        out += b
    return bytes(out)


def decompress(data, n: int | None = None) -> np.ndarray:
    """64 bytes per point (gnark-crypto compressed G2) -> affine (n, 16), fully checked: the
    exact length (64 * n when n is given, else a multiple of 64), the flags, canonical
    x.c1 and x.c0 (< q), x^3 + b' a square in Fq2 (on the curve), membership in G2, and the
    exact infinity encoding. Raises ValueError naming the problem and the point index."""
    data = bytes(data)
    if n is not None:
        if len(data) != 64 * n:
            raise ValueError(f"G2 decompress: expected {64 * n} bytes for {n} points, got {len(data)}")
    elif len(data) % 64:
        raise ValueError(f"G2 decompress: {len(data)} bytes is not a multiple of 64")
    count = len(data) // 64
    xs = np.zeros((count, 2, 4), np.uint64)
    largest = np.zeros(count, np.uint8)
    inf = np.zeros(count, np.bool_)
    for i in range(count):
        chunk = data[64 * i: 64 * (i + 1)]
        flag = chunk[0] & FLAG_MASK
        if flag == FLAG_INFINITY:
            if chunk[0] != FLAG_INFINITY or any(chunk[1:]):
                raise ValueError(f"G2 decompress: point {i}: non-canonical infinity encoding")
            inf[i] = True
            continue
        if flag not in (FLAG_SMALLEST, FLAG_LARGEST):
            raise ValueError(f"G2 decompress: point {i}: invalid flags 0b{flag >> 6:02b} "
                             "(not a compressed point)")
        c1 = int.from_bytes(bytes([chunk[0] & ~FLAG_MASK & 0xFF]) + chunk[1:32], "big")
        c0 = int.from_bytes(chunk[32:64], "big")
        if c1 >= q:
            raise ValueError(f"G2 decompress: point {i}: x.c1 is not canonical (>= q)")
        if c0 >= q:
            raise ValueError(f"G2 decompress: point {i}: x.c0 is not canonical (>= q)")
        xs[i, 0] = to_limbs(c0)
        xs[i, 1] = to_limbs(c1)
        largest[i] = flag == FLAG_LARGEST
    out = np.zeros((count, 16), np.uint64)
    status = np.zeros(count, np.int64)
    idx = np.flatnonzero(~inf)
    if idx.size:
        sub_out = np.zeros((idx.size, 16), np.uint64)
        sub_status = np.zeros(idx.size, np.int64)
        _k_decompress(np.ascontiguousarray(xs[idx]), np.ascontiguousarray(largest[idx]),
                      sub_out, sub_status)
        out[idx] = sub_out
        status[idx] = sub_status
    bad = np.flatnonzero(status)
    if bad.size:
        i = int(bad[0])
        why = "not on the curve (x^3 + b' is not a square in Fq2)" if status[i] == 1 \
            else "on the curve but not in the order-r subgroup G2"
        raise ValueError(f"G2 decompress: point {i}: {why}")
    return out
