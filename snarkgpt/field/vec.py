"""Vector kernels over (n, 4) uint64 arrays of Montgomery-form field elements.

Each kernel takes the modulus `p` (a 4-tuple of uint64) and, for products, `inv` = -p^-1 mod
2^64, so one compiled kernel serves both Fr and Fq. Loops run in parallel (`prange`) and are
cached on disk so a second process does not recompile.
"""
import numba as nb
import numpy as np

from .arith import U0, U1, add_mod, is_zero, load, mont_mul, neg_mod, sbb, store, sub_mod
from .arith import mont_pow as pow_limbs        # x^e, square-and-multiply (montgomery.py)

_JIT = dict(parallel=True, cache=True, nogil=True)


@nb.njit(**_JIT)
def vadd(a, b, out, p):
    for i in nb.prange(a.shape[0]):
        store(out, i, add_mod(load(a, i), load(b, i), p))


@nb.njit(**_JIT)
def vsub(a, b, out, p):
    for i in nb.prange(a.shape[0]):
        store(out, i, sub_mod(load(a, i), load(b, i), p))


@nb.njit(**_JIT)
def vneg(a, out, p):
    for i in nb.prange(a.shape[0]):
        store(out, i, neg_mod(load(a, i), p))


@nb.njit(**_JIT)
def vmul(a, b, out, p, inv):
    for i in nb.prange(a.shape[0]):
        store(out, i, mont_mul(load(a, i), load(b, i), p, inv))


@nb.njit(**_JIT)
def vsquare(a, out, p, inv):
    for i in nb.prange(a.shape[0]):
        x = load(a, i)
        store(out, i, mont_mul(x, x, p, inv))


@nb.njit(**_JIT)
def vscale(a, c, out, p, inv):
    """out = a * c for one constant c (a limb tuple)."""
    for i in nb.prange(a.shape[0]):
        store(out, i, mont_mul(load(a, i), c, p, inv))


@nb.njit(cache=True, nogil=True)
def scatter_add(a, index, out, p):
    """out[index[i]] += a[i] for every row i (serial: rows may share an index)."""
    for i in range(a.shape[0]):
        j = index[i]
        store(out, j, add_mod(load(out, j), load(a, i), p))


@nb.njit(**_JIT)
def vpow(a, e, out, one, p, inv):
    for i in nb.prange(a.shape[0]):
        store(out, i, pow_limbs(load(a, i), e, one, p, inv))


@nb.njit(cache=True, nogil=True)
def batch_inverse_serial(a, out, one, pm2, p, inv):
    """Montgomery's trick on one chunk: 3(n-1) products and one exponentiation.

    Zero inputs are left as zero in `out` and skipped in the running product; the
    caller decides whether zero is an error."""
    n = a.shape[0]
    acc = one
    for i in range(n):
        store(out, i, acc)            # prefix product of the non-zero a[0..i)
        x = load(a, i)
        if not is_zero(x):
            acc = mont_mul(acc, x, p, inv)
    acc = pow_limbs(acc, pm2, one, p, inv)
    for i in range(n - 1, -1, -1):
        x = load(a, i)
        if is_zero(x):
            store(out, i, (U0, U0, U0, U0))
            continue
        prefix = load(out, i)
        store(out, i, mont_mul(acc, prefix, p, inv))
        acc = mont_mul(acc, x, p, inv)


@nb.njit(parallel=True, cache=True, nogil=True)
def batch_inverse(a, out, one, pm2, p, inv, chunks):
    """Batch inversion split into `chunks` independent Montgomery tricks run in parallel."""
    n = a.shape[0]
    step = (n + chunks - 1) // chunks
    for c in nb.prange(chunks):
        lo = c * step
        hi = min(n, lo + step)
        if lo < hi:
            batch_inverse_serial(a[lo:hi], out[lo:hi], one, pm2, p, inv)


def _from_i64(x, out, r2, p, inv):
    """Signed 64-bit integers -> Montgomery form (negative v as p - |v|)."""
    for i in nb.prange(x.shape[0]):
        v = x[i]
        mag = np.uint64(-v) if v < 0 else np.uint64(v)
        m = mont_mul((mag, U0, U0, U0), r2, p, inv)
        if v < 0:
            m = neg_mod(m, p)
        store(out, i, m)


from_i64 = nb.njit(**_JIT)(_from_i64)
# the same loop on one thread: starting the parallel pool costs tens of microseconds, more
# than converting a few thousand values (witness synthesis converts many short vectors)
from_i64_serial = nb.njit(cache=True, nogil=True)(_from_i64)
SERIAL_BELOW = 1 << 13


@nb.njit(**_JIT)
def from_mont(a, out, p, inv):
    """Montgomery form -> canonical limbs (multiply by 1, i.e. divide by R)."""
    one_raw = (U1, U0, U0, U0)
    for i in nb.prange(a.shape[0]):
        store(out, i, mont_mul(load(a, i), one_raw, p, inv))


@nb.njit(cache=True, nogil=True)
def mont_mul_const_serial(a, out, c, p, inv):
    """out[i] = a[i] * c * R^-1 on one thread: to_mont (c = R^2) and from_mont (c = 1) for
    short arrays, where waking the worker threads costs more than the work."""
    for i in range(a.shape[0]):
        store(out, i, mont_mul(load(a, i), c, p, inv))


@nb.njit(**_JIT)
def to_mont(a, out, r2, p, inv):
    """Canonical limbs (< p) -> Montgomery form."""
    for i in nb.prange(a.shape[0]):
        store(out, i, mont_mul(load(a, i), r2, p, inv))


@nb.njit(**_JIT)
def canonical_to_i64(c, out, half, p, bound):
    """Canonical limbs -> signed int64 (values above p/2 are negative).

    Returns the index of the first element whose magnitude exceeds `bound`, or -1."""
    n = c.shape[0]
    bad = np.zeros(n, dtype=np.bool_)
    for i in nb.prange(n):
        x = load(c, i)
        neg = (x[3] > half[3]) or (x[3] == half[3] and (x[2] > half[2] or (x[2] == half[2] and (
            x[1] > half[1] or (x[1] == half[1] and x[0] > half[0])))))
        if neg:
            x = sub_mod(p, x, p)
        if x[1] != U0 or x[2] != U0 or x[3] != U0 or x[0] > bound:
            bad[i] = True
            out[i] = 0
        else:
            out[i] = -np.int64(x[0]) if neg else np.int64(x[0])
    for i in range(n):
        if bad[i]:
            return i
    return -1


@nb.njit(cache=True, nogil=True)
def ge_modulus(c, p):
    """Index of the first row whose value is >= p (not canonical), or -1."""
    for i in range(c.shape[0]):
        _, b = sbb(c[i, 0], p[0], U0)
        _, b = sbb(c[i, 1], p[1], b)
        _, b = sbb(c[i, 2], p[2], b)
        _, b = sbb(c[i, 3], p[3], b)
        if b == U0:
            return i
    return -1




@nb.njit(parallel=True, cache=True, nogil=True)
def below_modulus_mask(c, p):
    """Boolean mask of the rows whose value is < p."""
    out = np.empty(c.shape[0], dtype=np.bool_)
    for i in nb.prange(c.shape[0]):
        _, b = sbb(c[i, 0], p[0], U0)
        _, b = sbb(c[i, 1], p[1], b)
        _, b = sbb(c[i, 2], p[2], b)
        _, b = sbb(c[i, 3], p[3], b)
        out[i] = b != U0
    return out


@nb.njit(cache=True, nogil=True)
def count_changes(a):
    """(rows i < n - 1 with a[i] != a[i + 1], non-zero rows) of an (n, 4) array, in one pass:
    how piecewise constant a column is (`plonk.keygen.commit_values`)."""
    n = a.shape[0]
    changes = 0
    nonzero = 0
    for i in range(n):
        if a[i, 0] | a[i, 1] | a[i, 2] | a[i, 3]:
            nonzero += 1
        if i + 1 < n and (a[i, 0] != a[i + 1, 0] or a[i, 1] != a[i + 1, 1]
                          or a[i, 2] != a[i + 1, 2] or a[i, 3] != a[i + 1, 3]):
            changes += 1
    return changes, nonzero
