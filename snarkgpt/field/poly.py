"""Polynomial helpers on coefficient arrays over Fr.

A polynomial p(X) = sum_i c[i] X^i is an (n, 4) uint64 Fr array c (Montgomery form, lowest
degree first). Points and results that are single field elements are Python ints.
"""
import numba as nb
import numpy as np

from . import Fr
from .arith import load as _ld
from .arith import store as _st
from .ntt import powers, root_of_unity
from .ntt import add as _fadd
from .ntt import mul as _fmul
from .params import FR_MODULUS as P

_JIT = dict(cache=True, nogil=True)
_PJIT = dict(cache=True, nogil=True, parallel=True)
_ZERO = (np.uint64(0),) * 4


def _arr(a, what="poly") -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] != 4:
        raise TypeError(f"{what}: expected an (n, 4) uint64 Fr array, got "
                        f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    return np.ascontiguousarray(a)


def _chunks(n: int) -> int:
    return max(1, min(n // 4096, 8 * nb.get_num_threads()))


# ---- kernels ------------------------------------------------------------------------------
@nb.njit(**_PJIT)
def _horner_chunks(c, x, step, out):
    """out[j] = sum_{i in chunk j} c[i] x^(i - start_j), one Horner run per chunk."""
    n = c.shape[0]
    for j in nb.prange(out.shape[0]):
        lo = j * step
        hi = min(n, lo + step)
        acc = _ZERO
        for i in range(hi - 1, lo - 1, -1):
            acc = _fadd(_fmul(acc, x), _ld(c, i))
        _st(out, j, acc)


@nb.njit(inline="always")
def _dot(a, b, lo, hi):
    acc = _ZERO
    for i in range(lo, hi):
        acc = _fadd(acc, _fmul(_ld(a, i), _ld(b, i)))
    return acc


@nb.njit(**_PJIT)
def _dot_chunks(a, b, step, out):
    n = a.shape[0]
    for j in nb.prange(out.shape[0]):
        _st(out, j, _dot(a, b, j * step, min(n, j * step + step)))


@nb.njit(**_JIT)
def _dot_serial(a, b, out):
    _st(out, 0, _dot(a, b, 0, a.shape[0]))


@nb.njit(**_JIT)
def _synthetic_division(c, z, q):
    """q = (p(X) - p(z)) / (X - z); returns p(z). q has len(c) - 1 rows."""
    n = c.shape[0]
    acc = _ld(c, n - 1)
    for i in range(n - 2, -1, -1):
        _st(q, i, acc)
        acc = _fadd(_fmul(acc, z), _ld(c, i))
    return acc


@nb.njit(**_PJIT)
def _axpy(out, a, c):
    """out[i] += c * a[i] for i < len(a)."""
    for i in nb.prange(a.shape[0]):
        _st(out, i, _fadd(_ld(out, i), _fmul(_ld(a, i), c)))


@nb.njit(**_PJIT)
def _mul_periodic(a, t, out):
    """out[i] = a[i] * t[i mod len(t)]."""
    f = t.shape[0]
    for i in nb.prange(a.shape[0]):
        _st(out, i, _fmul(_ld(a, i), _ld(t, i % f)))


# ---- evaluation ---------------------------------------------------------------------------
def evaluate(coeffs: np.ndarray, x: int) -> int:
    """p(x) = sum_i coeffs[i] x^i, by Horner's rule (chunks run in parallel and are joined
    with powers of x)."""
    c = _arr(coeffs, "evaluate")
    n = c.shape[0]
    if n == 0:
        return 0
    chunks = _chunks(n)
    step = -(-n // chunks)
    chunks = -(-n // step)
    part = np.empty((chunks, 4), dtype=np.uint64)
    _horner_chunks(c, Fr.from_int(x), step, part)
    xs = pow(x % P, step, P)
    acc = 0
    for v in reversed(Fr.to_ints(part)):
        acc = (acc * xs + v) % P
    return acc


def inner_product(a: np.ndarray, b: np.ndarray) -> int:
    """sum_i a[i] * b[i] for two Fr arrays of the same length."""
    a, b = _arr(a, "inner_product"), _arr(b, "inner_product")
    if a.shape != b.shape:
        raise ValueError(f"inner_product: shape mismatch {a.shape} vs {b.shape}")
    n = a.shape[0]
    if n == 0:
        return 0
    chunks = _chunks(n)
    step = -(-n // chunks)
    part = np.empty((-(-n // step), 4), dtype=np.uint64)
    if chunks == 1:         # a parallel launch costs more than a short product
        _dot_serial(a, b, part)
    else:
        _dot_chunks(a, b, step, part)
    return sum(Fr.to_ints(part)) % P


def evaluate_many(polys, x: int) -> list:
    """[p(x) for p in polys]: the powers of x are computed once and each value is an inner
    product with them (parallel within each polynomial)."""
    polys = [_arr(p, "evaluate_many") for p in polys]
    if not polys:
        return []
    xp = powers(x, max(p.shape[0] for p in polys))
    return [inner_product(p, xp[:p.shape[0]]) if p.shape[0] else 0 for p in polys]


# ---- division -----------------------------------------------------------------------------
def divide_by_linear(coeffs: np.ndarray, z: int) -> np.ndarray:
    """The quotient q(X) = (p(X) - p(z)) / (X - z), of length len(p) - 1 (synthetic division).

    For a constant or empty p the quotient is the zero polynomial, returned as one zero row."""
    q, _ = divide_by_linear_with_value(coeffs, z)
    return q


def divide_by_linear_with_value(coeffs: np.ndarray, z: int):
    """(q, p(z)) with q(X) (X - z) + p(z) = p(X)."""
    c = _arr(coeffs, "divide_by_linear")
    n = c.shape[0]
    if n <= 1:
        return Fr.zeros(1), (Fr.to_int(c[0]) if n else 0)
    q = np.empty((n - 1, 4), dtype=np.uint64)
    r = _synthetic_division(c, Fr.from_int(z), q)
    return q, Fr.to_int(r)


# ---- combinations -------------------------------------------------------------------------
def pad(coeffs: np.ndarray, n: int) -> np.ndarray:
    """A copy of coeffs zero-extended to length n (n >= len(coeffs))."""
    c = _arr(coeffs, "pad")
    if n < c.shape[0]:
        raise ValueError(f"pad: cannot pad length {c.shape[0]} down to {n}")
    out = np.zeros((n, 4), dtype=np.uint64)
    out[:c.shape[0]] = c
    return out


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a + b; the result has length max(len(a), len(b))."""
    return linear_combination([a, b], [1, 1])


def sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b; the result has length max(len(a), len(b))."""
    return linear_combination([a, b], [1, -1])


def scale(a: np.ndarray, c: int) -> np.ndarray:
    """c * a for a Python-int constant c."""
    return Fr.scale(_arr(a, "scale"), c)


def linear_combination(polys, scalars) -> np.ndarray:
    """sum_j scalars[j] * polys[j]; polys may differ in length, the result has the longest."""
    polys = [_arr(p, "linear_combination") for p in polys]
    scalars = list(scalars)
    if len(polys) != len(scalars):
        raise ValueError(f"linear_combination: {len(polys)} polynomials but {len(scalars)} scalars")
    n = max((p.shape[0] for p in polys), default=0)
    out = np.zeros((max(n, 1), 4), dtype=np.uint64)[:n]
    for p, s in zip(polys, scalars):
        if p.shape[0]:
            _axpy(out, p, Fr.from_int(s))
    return out


# ---- vanishing polynomial on a coset ----------------------------------------------------
def _coset_vanishing_ints(n: int, size: int, shift: int) -> list:
    if n < 1 or n & (n - 1) or size % n or (size // n) & (size // n - 1):
        raise ValueError(f"coset vanishing values: need powers of two with n | size, got {n}, {size}")
    f = size // n
    wf = root_of_unity(f.bit_length() - 1)
    gn = pow(shift % P, n, P)
    vals = [(gn * pow(wf, i, P) - 1) % P for i in range(f)]
    if any(v == 0 for v in vals):
        raise ZeroDivisionError("coset meets the subgroup: Z_H vanishes on it")
    return vals


def coset_vanishing_values(n: int, size: int, shift: int = 5) -> np.ndarray:
    """Z_H(X) = X^n - 1 on the coset shift * <w_size> (size = n * f): the values repeat with
    period f, and entry i is shift^n * w_f^i - 1; returns these f values."""
    return Fr.from_ints(_coset_vanishing_ints(n, size, shift))


def divide_by_vanishing(evals: np.ndarray, n: int, shift: int = 5) -> np.ndarray:
    """evals[i] / Z_H(shift * w^i) for evaluations on a coset of size len(evals) = n * f,
    where Z_H = X^n - 1 (the quotient step of a PLONK prover)."""
    e = _arr(evals, "divide_by_vanishing")
    t = Fr.from_ints([pow(v, -1, P) for v in _coset_vanishing_ints(n, e.shape[0], shift)])
    out = np.empty_like(e)
    _mul_periodic(e, t, out)
    return out


def mul_by_vanishing(evals: np.ndarray, n: int, shift: int = 5) -> np.ndarray:
    """evals[i] * Z_H(shift * w^i) for evaluations on a coset of size len(evals) = n * f."""
    e = _arr(evals, "mul_by_vanishing")
    t = coset_vanishing_values(n, e.shape[0], shift)
    out = np.empty_like(e)
    _mul_periodic(e, t, out)
    return out
