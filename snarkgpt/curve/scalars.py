"""Scalars of curve multiplications: canonical limbs, the fold s -> min(s, r - s), random ones.

A scalar is an element of Fr (r the order of G1 and G2). The kernels read it as canonical
little-endian limbs (n, 4) in [0, r), not in Montgomery form.
"""
import numba as nb
import numpy as np

from ..field import FR_MODULUS, Fr, vec
from ..field.arith import U0, load, sbb, store
from ..field.params import to_limbs
from .g1_formulas import _JIT, limbs_gt

_HALF_R = to_limbs((FR_MODULUS - 1) // 2)
_R_LIMBS = to_limbs(FR_MODULUS)


def ints_to_limbs(vals) -> np.ndarray:
    """Non-negative ints below 2^256 -> (n, 4) uint64 limbs."""
    return np.array([to_limbs(v) for v in vals], dtype=np.uint64).reshape(len(vals), 4)


def scalars_canonical(scalars, group: str = "G1") -> np.ndarray:
    """Scalars as canonical (n, 4) limbs in [0, r).

    An (n, 4) or (4,) uint64 array is read as Fr elements in Montgomery form (what `Fr` makes);
    a Python int or a sequence of ints is reduced mod r (so r acts as 0, -1 as r - 1).
    `group` names the caller in error messages."""
    if isinstance(scalars, np.ndarray) and scalars.dtype == np.uint64:
        s = scalars.reshape(1, 4) if scalars.ndim == 1 else scalars
        if s.ndim != 2 or s.shape[1] != 4:
            raise ValueError(f"{group} scalars: expected an (n, 4) Fr array, got shape "
                             f"{scalars.shape}")
        return Fr.to_canonical(np.ascontiguousarray(s))
    if isinstance(scalars, (int, np.integer)):
        scalars = [scalars]
    return ints_to_limbs([int(v) % FR_MODULUS for v in scalars])


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


def random_scalars(n: int, bits: int | None = None, rng=None) -> np.ndarray:
    """n random Fr scalars (Montgomery form): full size, or signed values with |v| < 2^bits."""
    rng = np.random.default_rng(rng)
    if bits is None or bits >= 253:
        limbs = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
        limbs[:, 3] %= np.uint64(Fr.p[3])          # below r, close to uniform
        out = np.empty_like(limbs)
        vec.to_mont(limbs, out, Fr.r2, Fr.p, Fr.inv)
        return out
    if bits <= 62:
        v = rng.integers(-(1 << bits) + 1, 1 << bits, size=n, dtype=np.int64)
        return Fr.from_signed(v)
    vals = [int(x) for x in rng.integers(0, 2**63, size=n)]
    return Fr.from_ints([(v << (bits - 63)) ^ int(rng.integers(0, 2**(bits - 63))) for v in vals])
