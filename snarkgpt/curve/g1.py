"""BN254 G1: the curve y^2 = x^3 + 3 over Fq, as NumPy arrays and Numba kernels.

Points are affine (n, 8) uint64 rows: x limbs then y limbs, Fq in Montgomery form; the point
at infinity is the all-zero row. Jacobian (n, 12) and XYZZ (n, 16) arrays appear where a
kernel hands back projective results (g1_formulas.py describes the three forms and holds the
point formulas). A single point may be passed as an (8,) row anywhere an (n, 8) array is
accepted; results then come back as (8,) too.

G1 has cofactor 1: its order is the prime r (the Fr modulus), so every point on the curve is
in the prime-order subgroup and an on-curve check is a full membership check.

Module layout: g1_formulas.py (formulas, rows, conversions to affine), scalars.py (scalar
limbs and folding), parallel.py (threads), fixed_base.py and msm.py (the many-scalar
multiplications) sit below this module, which is the Python face of G1.
"""
import numba as nb
import numpy as np

from ..field import FQ_MODULUS, ifma
from ..field.arith import U0, U1, eq, fq_add, fq_mul, fq_neg, fq_pow, load, store
from ..field.params import from_limbs, to_limbs
from .fixed_base import fixed_base_mul
from .g1_formulas import (_JIT, _R, B3, GENERATOR, HALF_Q, ONE, SQRT_EXP, ZERO, aff_is_inf,
                          aff_load, aff_store, batch_add, batch_to_affine, fq_sqr, jac_dbl,
                          jac_madd, jac_store, limbs_gt, limbs_lt_q, xyzz_madd, xyzz_store,
                          xyzz_to_affine)
from .g1_formulas import points as _points
from .ifma_sqrt import sqrt8
from .msm import msm
from .parallel import parallel_ranges
from .scalars import fold_scalars  # noqa: F401  (part of the G1 API)
from .scalars import ints_to_limbs as _ints_to_limbs
from .scalars import scalars_canonical

# ---------------------------------------------------------------------------------------------
# Vector kernels
# ---------------------------------------------------------------------------------------------
# Most kernels here are serial: they are cheap per point (a few products) and a parallel
# kernel costs extra compile time. The heavy ones (scalar_mul, sqrt, the MSM and fixed-base
# loops) run in parallel threads (parallel.py); their bodies call a serial per-element
# function because Numba's parfor analysis cannot digest nested tuples (points as tuples of
# limb tuples).


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
        jac_store(out, i, x, y, z)


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
        jac_store(out, i, X, Y, Z)


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


# ---------------------------------------------------------------------------------------------
# Python API
# ---------------------------------------------------------------------------------------------


def _ret(out, single):
    return out[0] if single else out


_MONT_ONE_RAW = (U1, U0, U0, U0)
_R2 = to_limbs(_R * _R % FQ_MODULUS)


def _mont(a: np.ndarray, c) -> np.ndarray:
    """a * c / 2^256 row by row (`_k_mont`)."""
    a = np.ascontiguousarray(a)
    out = np.empty_like(a)
    if a.shape[0]:
        _k_mont(a, c, out)
    return out


def fq_to_canonical(a: np.ndarray) -> np.ndarray:
    """Fq Montgomery (n, 4) -> canonical limbs."""
    return _mont(a, _MONT_ONE_RAW)


def fq_from_canonical(c: np.ndarray) -> np.ndarray:
    """Canonical Fq limbs (n, 4), each < q -> Montgomery form."""
    return _mont(c, _R2)


def generator() -> np.ndarray:
    """The standard generator (1, 2) as an (8,) affine row."""
    return GENERATOR.copy()


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
    out = a.copy()
    if n:
        batch_add(out, b, 1, 0, np.empty((n, 4), np.uint64))     # out += b
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


def _infinity_rows(raw, flags, what: str, why: str = "") -> np.ndarray:
    """The rows flagged as infinity; raises ValueError naming the first one whose other bits
    are not all zero."""
    inf = flags == _M_INFINITY
    if inf.any():
        body = raw[inf].copy()
        body[:, 0] &= 0x3F
        nz = body.any(axis=1)
        if nz.any():
            i = np.flatnonzero(inf)[_first(nz)]
            raise ValueError(f"G1 {what}: point {i}: non-canonical infinity encoding{why}")
    return inf


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
    inf = _infinity_rows(raw, flags, "decompress",
                         " (bits after the infinity flag must be zero)")
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
    inf = _infinity_rows(raw, flags, "from_bytes_uncompressed")
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
    msm = staticmethod(msm)
