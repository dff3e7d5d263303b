"""Integer references of the fixed-point, range, division and lookup-function gadgets.

Plain NumPy on int64 arrays. The chips' witness generation calls these functions, and the
tests compare circuits against them, so the circuit and the reference cannot drift. Every
function checks that its inputs stay in the range where int64 arithmetic is exact and raises
`GadgetRangeError` otherwise.

Conventions: a fixed-point value ``v`` at scale ``2^s`` stands for ``v / 2^s``; floor
division rounds toward minus infinity (numpy ``//`` and ``>>``), so a remainder is always in
``[0, divisor)``.
"""
from __future__ import annotations

import numpy as np

from .base import GadgetRangeError, check_range

__all__ = [
    "quantize", "dequantize", "rescale", "mul_rescale", "div_floor", "clamp", "row_max",
    "argmax", "lookup_fn", "limbs", "max_abs", "MatmulOperand", "exact_matmul", "matmul",
    "FLOAT_EXACT",
]

INT_SAFE = 1 << 62


def quantize(x, scale_bits: int, bits: int = 32, op: str = "quantize") -> np.ndarray:
    """round(x * 2^s) (half away from zero is avoided: numpy rounds half to even), refusing
    results outside [-2^(bits-1), 2^(bits-1)). Error |q/2^s - x| <= 2^-(s+1)."""
    x = np.asarray(x, dtype=np.float64)
    y = x * float(1 << scale_bits)
    np.rint(y, out=y)
    lim = float(1 << (bits - 1))
    # the common case in two reductions, with no copy of a transposed x (a NaN or an
    # infinity fails them too and takes the checks below, which name the first bad value)
    if y.size == 0 or (y.min() >= -lim and y.max() < lim):
        return y.astype(np.int64)
    if not np.all(np.isfinite(x)):
        raise GadgetRangeError(op, 0, -(1 << (bits - 1)), 1 << (bits - 1), what="non-finite value")
    bad = np.flatnonzero((y.reshape(-1) < -lim) | (y.reshape(-1) >= lim))
    if bad.size:
        i = int(bad[0])
        raise GadgetRangeError(op, int(y.reshape(-1)[i]), -(1 << (bits - 1)), 1 << (bits - 1), i)
    return y.astype(np.int64)


def dequantize(v, scale_bits: int) -> np.ndarray:
    return np.asarray(v, dtype=np.int64).astype(np.float64) / float(1 << scale_bits)


def _check_int_safe(op, v):
    check_range(op, v, -INT_SAFE, INT_SAFE, "intermediate value")


def rescale(v, scale_bits: int, op: str = "rescale"):
    """(y, r): y = floor(v / 2^s), v = y 2^s + r, 0 <= r < 2^s."""
    v = np.asarray(v, dtype=np.int64)
    _check_int_safe(op, v)
    y = v >> scale_bits
    return y, v - (y << scale_bits)


def mul_rescale(x, w, scale_bits: int, op: str = "mul_rescale"):
    """(y, r): y = floor(x w / 2^s), x w = y 2^s + r, 0 <= r < 2^s."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    check_range(op, x, -(1 << 31), 1 << 31, "factor")
    check_range(op, w, -(1 << 31), 1 << 31, "factor")
    return rescale(x * w, scale_bits, op)


def div_floor(x, d, op: str = "div"):
    """(q, r): q = floor(x / d), x = q d + r, 0 <= r < d, for d >= 1."""
    x = np.asarray(x, dtype=np.int64)
    d = np.broadcast_to(np.asarray(d, dtype=np.int64), x.shape)
    _check_int_safe(op, x)
    check_range(op, d, 1, INT_SAFE, "divisor")
    q = x // d
    return q, x - q * d


def clamp(x, lo: int, hi: int) -> np.ndarray:
    """min(max(x, lo), hi) (inclusive bounds)."""
    return np.minimum(np.maximum(np.asarray(x, dtype=np.int64), lo), hi)


def row_max(x) -> np.ndarray:
    """Maximum of each row of a 2-D array."""
    return np.asarray(x, dtype=np.int64).max(axis=-1)


def argmax(x) -> np.ndarray:
    """Index of the maximum of each row; ties go to the smallest index."""
    return np.asarray(x, dtype=np.int64).argmax(axis=-1)


def lookup_fn(table_x: np.ndarray, table_y: np.ndarray, x) -> np.ndarray:
    """f(x) read from a table of consecutive inputs ``table_x`` (x must be in it)."""
    x = np.asarray(x, dtype=np.int64)
    return table_y[x - int(table_x[0])]


def limbs(v, bits: int, limb_bits: int) -> np.ndarray:
    """(L, n) little-endian base-2^b limbs of values v in [0, 2^bits); L = ceil(bits / b)."""
    v = np.asarray(v, dtype=np.int64).reshape(-1)
    n_limbs = max(1, -(-bits // limb_bits))
    mask = (1 << limb_bits) - 1
    return np.stack([(v >> (limb_bits * i)) & mask for i in range(n_limbs)])


# ---------------------------------------------------------------------------------------
# Exact integer matrix products at BLAS speed
# ---------------------------------------------------------------------------------------
FLOAT_EXACT = 1 << 53
"""Every integer of absolute value <= 2^53 is a float64 (53-bit significand)."""

SMALL_PRODUCT = 1 << 24
"""Products with fewer multiply-adds than this go through NumPy's int64 matmul (no BLAS,
at most a few tens of milliseconds): below it, converting the operands and waking BLAS's
threads (tens of milliseconds on a busy 2-core machine) cost as much as the product."""


def max_abs(a) -> int:
    """max |a| as a Python integer (0 for an empty array; no int64 overflow at -2^63)."""
    a = np.asarray(a)
    if a.size == 0:
        return 0
    return max(int(a.max()), -int(a.min()))


class MatmulOperand:
    """The right-hand operand B of `exact_matmul`, prepared once and reused across products
    (the weights of a linear layer): its int64 values, ``max_abs`` and, built on first use,
    the float64 copy BLAS reads and the row sums that check each product.

    The values must not be written to after the operand is made (the float64 copy and the
    row sums would go stale); arrays that change are wrapped afresh."""

    __slots__ = ("values", "max_abs", "_float", "_row_sums")

    def __init__(self, b):
        b = np.asarray(b)
        if b.dtype.kind not in "iu":
            raise TypeError(f"matmul operands are integers, got dtype {b.dtype}")
        if b.ndim != 2:
            raise ValueError(f"a matmul operand must be a matrix, got shape {b.shape}")
        self.values = b.astype(np.int64, copy=False)
        self.max_abs = max_abs(self.values)
        self._float = None
        self._row_sums = None

    @property
    def shape(self) -> tuple:
        return self.values.shape

    def float64(self) -> np.ndarray:
        if self._float is None:
            self._float = self.values.astype(np.float64)
        return self._float

    def row_sums(self) -> np.ndarray:
        """B . 1 modulo 2^64 (int64 sums wrap; the check below compares modulo 2^64)."""
        if self._row_sums is None:
            self._row_sums = self.values.sum(axis=1, dtype=np.int64)
        return self._row_sums


def _as_operand(b) -> MatmulOperand:
    return b if isinstance(b, MatmulOperand) else MatmulOperand(b)


def exact_matmul(a, b, method: str = "auto") -> np.ndarray:
    """The exact integer product ``A . B`` (int64) of int64 matrices A (T x d) and B (d x m)
    (an array or a `MatmulOperand`), through float64 BLAS where that is exact.

    Exactness. Let ``p = max|A| * max|B|`` and split the inner dimension into blocks of
    ``kb = floor(2^53 / p)`` indices. Within a block, BLAS (dgemm) forms each entry of
    ``A[:, blk] . B[blk, :]`` from the products ``A[t, k] B[k, j]`` by multiplications and
    additions (or fused multiply-adds) in whatever order and grouping its kernels choose.
    Every operand converted to float64 is an integer of absolute value <= p <= 2^53, so
    the conversion is exact; every product, and every partial sum of any subset of a
    block's kb products, is an integer of absolute value <= kb * p <= 2^53. Every integer
    of that size is a float64, and IEEE-754 operations round the exact result to a nearest
    float64, which is the result itself when it is representable: by induction over the
    operations each one is exact, so the block product equals the integer product. (This
    holds for any classical dgemm: OpenBLAS, MKL, BLIS, Accelerate; it would not for a
    Strassen-like algorithm, which none of them uses for dgemm.) The block results are
    converted to int64 (exact: integers <= 2^53) and summed in int64, exact because the
    whole product is bounded by ``d * p < 2^63`` (checked; a ValueError otherwise). When
    ``p > 2^53`` not even one product fits a float64 and NumPy's int64 matmul (exact,
    no BLAS) is used; so it is for tiny products (`SMALL_PRODUCT`) where BLAS gains
    nothing.

    Checked as well at run time, at the cost of a matrix-vector product: the row sums
    ``C . 1`` must equal ``A . (B . 1)`` modulo 2^64 (a BLAS that broke the assumption
    above would be caught here; the int64 product is then used and a RuntimeWarning says
    so).

    ``method``: "auto" (above), "float" (float64 blocks whenever p <= 2^53, whatever the
    size) or "int" (NumPy's int64 matmul)."""
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise TypeError(f"matmul operands are integers, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    op = _as_operand(b)
    if a.ndim != 2 or a.shape[1] != op.shape[0]:
        raise ValueError(f"shapes {a.shape} and {op.shape} do not match (T x d by d x m)")
    if method not in ("auto", "float", "int"):
        raise ValueError(f"method must be 'auto', 'float' or 'int', got {method!r}")
    (T, d), m = a.shape, op.shape[1]
    p = max_abs(a) * op.max_abs
    if d * p >= 1 << 63:
        raise ValueError(f"the product of a {a.shape} by a {op.shape} matrix with max|A| * "
                         f"max|B| = {p} can exceed int64")
    if p == 0 or T == 0 or m == 0:
        return np.zeros((T, m), dtype=np.int64)
    small = T * d * m < SMALL_PRODUCT and method == "auto"
    if method == "int" or p > FLOAT_EXACT or small:
        return a @ op.values
    kb = FLOAT_EXACT // p
    bf = op.float64()
    if kb >= d:
        c = (a.astype(np.float64) @ bf).astype(np.int64)
    else:
        c = np.zeros((T, m), dtype=np.int64)
        for k0 in range(0, d, kb):
            blk = slice(k0, min(d, k0 + kb))
            c += (a[:, blk].astype(np.float64) @ bf[blk]).astype(np.int64)
    if not np.array_equal(c.sum(axis=1, dtype=np.int64), a @ op.row_sums()):
        import warnings
        warnings.warn("float64 BLAS product failed its row-sum check: this BLAS does not "
                      "multiply exactly; using the int64 product", RuntimeWarning, stacklevel=2)
        return a @ op.values
    return c


def matmul(a, b, op: str = "matmul", bias=None) -> np.ndarray:
    """The matmul chip's integer reference: ``A . B`` exactly (`exact_matmul`), plus ``bias``
    (m,) on every row when given. Refuses mismatched or empty shapes (ValueError) and sizes
    whose sums could leave the range the circuit proves, ``d * max|A| * max|B| + max|bias|
    < 2^62`` (`GadgetRangeError` naming ``op``). ``b`` may be a `MatmulOperand`."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        raise TypeError("gadgets take fixed-point integers; quantize floats first")
    a = a.astype(np.int64, copy=False)
    w = _as_operand(b)
    if a.ndim != 2 or a.shape[1] != w.shape[0]:
        raise ValueError(f"{op}: shapes {a.shape} and {w.shape} do not match (T x d by d x m)")
    if a.size == 0 or w.values.size == 0:
        raise ValueError(f"{op}: empty shape {a.shape} x {w.shape}")
    bound = max_abs(a) * w.max_abs * a.shape[1]
    if bias is not None:
        bias = np.asarray(bias, dtype=np.int64)
        if bias.shape != (w.shape[1],):
            raise ValueError(f"{op}: bias has shape {bias.shape}, expected ({w.shape[1]},)")
        bound += max_abs(bias)
    if bound >= INT_SAFE:
        raise GadgetRangeError(op, bound, 0, INT_SAFE, what="d * max|A| * max|B| + max|bias|")
    c = exact_matmul(a, w)
    if bias is not None:
        c += bias[None, :]
    return c
