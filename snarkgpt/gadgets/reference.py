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
    "argmax", "lookup_fn", "limbs",
]

INT_SAFE = 1 << 62


def quantize(x, scale_bits: int, bits: int = 32, op: str = "quantize") -> np.ndarray:
    """round(x * 2^s) (half away from zero is avoided: numpy rounds half to even), refusing
    results outside [-2^(bits-1), 2^(bits-1)). Error |q/2^s - x| <= 2^-(s+1)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise GadgetRangeError(op, 0, -(1 << (bits - 1)), 1 << (bits - 1), what="non-finite value")
    y = np.rint(x * float(1 << scale_bits))
    lim = float(1 << (bits - 1))
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
