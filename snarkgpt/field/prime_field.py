"""`PrimeField`: the Python face of the vector kernels for one prime field.

Arrays of field elements are NumPy uint64 arrays of shape (n, 4) in Montgomery form, the
form every kernel works in. Python ints and signed fixed-point integers enter and leave only
through the conversion methods here, so no Python int ever reaches a hot loop.
"""
import os
import secrets

import numba
import numpy as np

from . import vec
from .params import FieldParams, from_limbs, to_limbs

# conversions of fewer elements than this run on one thread (the verifier's small arrays)
SERIAL_BELOW = 2048
_ONE_RAW = (np.uint64(1), np.uint64(0), np.uint64(0), np.uint64(0))


def _threads_chunks() -> int:
    return max(1, numba.get_num_threads())


class PrimeField:
    """Vector arithmetic in F_p, p < 2^254, on (n, 4) uint64 Montgomery arrays."""

    def __init__(self, params: FieldParams):
        self.params = params
        self.name = params.name
        self.modulus = params.modulus
        self.p = params.p
        self.inv = params.inv
        self.one_limbs = params.one
        self.r2 = params.r2_limbs
        self._pm2 = to_limbs(self.modulus - 2)
        self._half = to_limbs((self.modulus - 1) // 2)
        self._r_inv = pow(1 << 256, -1, self.modulus)

    def __repr__(self):
        return f"PrimeField({self.name}, modulus={self.modulus})"

    # ---- construction -------------------------------------------------------------------
    def zeros(self, n: int) -> np.ndarray:
        return np.zeros((n, 4), dtype=np.uint64)

    def ones(self, n: int) -> np.ndarray:
        out = np.empty((n, 4), dtype=np.uint64)
        out[:] = np.array(self.one_limbs, dtype=np.uint64)
        return out

    def _to_mont(self, canon, out):
        if canon.shape[0] < SERIAL_BELOW:
            vec.mont_mul_const_serial(canon, out, self.r2, self.p, self.inv)
        else:
            vec.to_mont(canon, out, self.r2, self.p, self.inv)

    def from_ints(self, values) -> np.ndarray:
        """Python ints (any sign, any size) -> Montgomery array, reducing mod p."""
        m = self.modulus
        data = b"".join((int(v) % m).to_bytes(32, "little") for v in values)
        canon = np.frombuffer(data, dtype="<u8").astype(np.uint64).reshape(-1, 4)
        out = np.empty_like(canon)
        self._to_mont(canon, out)
        return out

    def from_int(self, value: int) -> tuple:
        """One Python int -> Montgomery limb tuple (for kernel constants)."""
        return to_limbs((int(value) % self.modulus) * (1 << 256) % self.modulus)

    def to_ints(self, a: np.ndarray) -> list:
        """Montgomery array -> list of canonical Python ints in [0, p)."""
        data = self.to_canonical(a).astype("<u8").tobytes()
        return [int.from_bytes(data[i:i + 32], "little") for i in range(0, len(data), 32)]

    def to_int(self, limbs) -> int:
        """One Montgomery limb tuple/row -> canonical Python int."""
        return from_limbs(limbs) * self._r_inv % self.modulus

    def to_canonical(self, a: np.ndarray) -> np.ndarray:
        """Montgomery -> canonical little-endian limbs (still (n, 4) uint64)."""
        a = self._check(a)
        out = np.empty_like(a)
        if a.shape[0] < SERIAL_BELOW:
            vec.mont_mul_const_serial(a, out, _ONE_RAW, self.p, self.inv)
        else:
            vec.from_mont(a, out, self.p, self.inv)
        return out

    def from_canonical(self, c: np.ndarray) -> np.ndarray:
        """Canonical limbs -> Montgomery form; refuses values >= p (no silent reduction)."""
        c = self._check(c)
        bad = vec.ge_modulus(c, self.p)
        if bad >= 0:
            raise ValueError(f"{self.name}: element {bad} is not canonical (>= modulus)")
        out = np.empty_like(c)
        self._to_mont(c, out)
        return out

    def from_signed(self, x) -> np.ndarray:
        """Signed integers (|x| < 2^63) -> Montgomery; negative v becomes p - |v|."""
        x = np.ascontiguousarray(x, dtype=np.int64).reshape(-1)
        if x.size and x.min() == np.iinfo(np.int64).min:
            raise ValueError(f"{self.name}.from_signed: -2^63 is outside the supported range")
        out = np.empty((x.shape[0], 4), dtype=np.uint64)
        kernel = vec.from_i64_serial if x.shape[0] < vec.SERIAL_BELOW else vec.from_i64
        kernel(x, out, self.r2, self.p, self.inv)
        return out

    def to_signed(self, a: np.ndarray, bound: int = (1 << 63) - 1) -> np.ndarray:
        """Montgomery -> signed int64, reading values above p/2 as negative.

        Raises ValueError if any magnitude exceeds `bound`: a field element that is not a
        small signed integer is never silently truncated."""
        c = self.to_canonical(a)
        out = np.empty(c.shape[0], dtype=np.int64)
        bad = vec.canonical_to_i64(c, out, self._half, self.p, np.uint64(bound))
        if bad >= 0:
            v = from_limbs(c[bad])
            v = v - self.modulus if v > self.modulus // 2 else v
            raise ValueError(f"{self.name}.to_signed: element {bad} = {v} is outside [-{bound}, {bound}]")
        return out

    def random(self, n: int, rng=None) -> np.ndarray:
        """n uniform elements by rejection sampling of bits(p)-bit integers.

        With `rng` (a numpy Generator) the draw is reproducible; without it, it comes from
        the OS's cryptographic randomness (use that for blinding)."""
        top_mask = np.uint64((1 << (self.params.bits - 192)) - 1)
        out = np.empty((0, 4), dtype=np.uint64)
        while out.shape[0] < n:
            want = n - out.shape[0]
            m = want + want // 2 + 8
            if rng is None:
                raw = np.frombuffer(os.urandom(32 * m), dtype=np.uint64).reshape(m, 4).copy()
            else:
                raw = rng.integers(0, 2**64, size=(m, 4), dtype=np.uint64)
            raw[:, 3] &= top_mask
            ok = vec.below_modulus_mask(raw, self.p)
            out = np.concatenate([out, raw[ok][:want]])
        mont = np.empty_like(out)
        self._to_mont(out, mont)
        return mont

    def random_int(self) -> int:
        return secrets.randbelow(self.modulus)

    # ---- arithmetic -------------------------------------------------------------------
    def _check(self, a):
        a = np.ascontiguousarray(a)
        if a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] != 4:
            raise TypeError(f"{self.name}: expected an (n, 4) uint64 array, got {a.dtype} {a.shape}")
        return a

    def _pair(self, a, b):
        a, b = self._check(a), self._check(b)
        if a.shape != b.shape:
            raise ValueError(f"{self.name}: shape mismatch {a.shape} vs {b.shape}")
        return a, b

    def add(self, a, b, out=None):
        a, b = self._pair(a, b)
        out = np.empty_like(a) if out is None else out
        vec.vadd(a, b, out, self.p)
        return out

    def sub(self, a, b, out=None):
        a, b = self._pair(a, b)
        out = np.empty_like(a) if out is None else out
        vec.vsub(a, b, out, self.p)
        return out

    def neg(self, a, out=None):
        a = self._check(a)
        out = np.empty_like(a) if out is None else out
        vec.vneg(a, out, self.p)
        return out

    def mul(self, a, b, out=None):
        a, b = self._pair(a, b)
        out = np.empty_like(a) if out is None else out
        vec.vmul(a, b, out, self.p, self.inv)
        return out

    def square(self, a, out=None):
        a = self._check(a)
        out = np.empty_like(a) if out is None else out
        vec.vsquare(a, out, self.p, self.inv)
        return out

    def scale(self, a, c: int, out=None):
        """a * c for a Python-int constant c."""
        a = self._check(a)
        out = np.empty_like(a) if out is None else out
        if a.shape[0] < SERIAL_BELOW:       # a parallel launch costs more than the work
            vec.mont_mul_const_serial(a, out, self.from_int(c), self.p, self.inv)
        else:
            vec.vscale(a, self.from_int(c), out, self.p, self.inv)
        return out

    def pow(self, a, e: int, out=None):
        """a^e elementwise for a non-negative exponent e < 2^256."""
        if e < 0:
            raise ValueError("negative exponent: use inverse() first")
        a = self._check(a)
        out = np.empty_like(a) if out is None else out
        vec.vpow(a, to_limbs(e), out, self.one_limbs, self.p, self.inv)
        return out

    def inverse(self, a, out=None):
        """Elementwise inverse by batch inversion; raises ZeroDivisionError on a zero."""
        a = self._check(a)
        out = self.batch_inverse(a, out=out, allow_zero=True)
        zero = np.flatnonzero(~a.any(axis=1))
        if zero.size:
            raise ZeroDivisionError(f"{self.name}.inverse: element {zero[0]} is zero")
        return out

    def batch_inverse(self, a, out=None, allow_zero=False):
        """Montgomery's trick in parallel chunks. With allow_zero, zeros map to zero."""
        a = self._check(a)
        if not allow_zero:
            zero = np.flatnonzero(~a.any(axis=1))
            if zero.size:
                raise ZeroDivisionError(f"{self.name}.batch_inverse: element {zero[0]} is zero")
        out = np.empty_like(a) if out is None else out
        chunks = max(1, min(_threads_chunks() * 4, a.shape[0] // 1024))
        vec.batch_inverse(a, out, self.one_limbs, self._pm2, self.p, self.inv, chunks)
        return out

    def sum_by(self, a, index, m: int) -> np.ndarray:
        """[sum of the rows a[i] with index[i] == j for j < m]: rows grouped and added."""
        a = self._check(a)
        index = np.ascontiguousarray(index, dtype=np.int64)
        if index.shape != (a.shape[0],):
            raise ValueError(f"{self.name}.sum_by: {index.shape[0]} indices for {a.shape[0]} rows")
        if index.size and (index.min() < 0 or index.max() >= m):
            raise ValueError(f"{self.name}.sum_by: an index lies outside 0..{m - 1}")
        out = self.zeros(m)
        vec.scatter_add(a, index, out, self.p)
        return out

    def equal(self, a, b) -> bool:
        a, b = self._pair(a, b)
        return bool(np.array_equal(a, b))
