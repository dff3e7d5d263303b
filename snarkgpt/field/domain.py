"""Evaluation domains: the multiplicative subgroup H = {w^i} of Fr of size n = 2^k.

A polynomial of degree < n is stored either by its n coefficients or by its n values on
H; `Domain.ntt` / `Domain.intt` convert between the two in O(n log n). Coset transforms
evaluate on g*H (g = 5 by default, which lies outside every 2-power subgroup), which is
where a PLONK prover evaluates the quotient, on a larger domain from `Domain.extend`.
"""
import numba as nb
import numpy as np

from . import Fr
from . import ifma as _ifma
from . import ntt as _ntt
from .arith import load as _ld
from .arith import store as _st
from .ntt import inverse, mul, sub
from .params import FR_GENERATOR, FR_ONE, FR_TWO_ADICITY
from .params import FR_MODULUS as P
from .poly import inner_product


@nb.njit(cache=True, nogil=True)
def _lagrange_chunk(w, x, c, out, lo, hi):
    """out[i] = c * w[i] / (x - w[i]) for lo <= i < hi, with one inversion (Montgomery's
    trick: prefix products forward, then peel one factor per step backward)."""
    acc = FR_ONE
    for i in range(lo, hi):
        _st(out, i, acc)                      # product of the denominators before i
        acc = mul(acc, sub(x, _ld(w, i)))
    inv = inverse(acc)
    for i in range(hi - 1, lo - 1, -1):
        wi = _ld(w, i)
        d = sub(x, wi)
        di = mul(inv, _ld(out, i))            # 1 / (x - w[i])
        inv = mul(inv, d)
        _st(out, i, mul(mul(di, wi), c))


@nb.njit(cache=True, nogil=True, parallel=True)
def _lagrange_basis(w, x, c, out, chunks):
    n = w.shape[0]
    step = (n + chunks - 1) // chunks
    for t in nb.prange(chunks):
        lo = t * step
        hi = min(n, lo + step)
        if lo < hi:
            _lagrange_chunk(w, x, c, out, lo, hi)


# Tables shared by every Domain of a size: (k, shift) -> (shift^i, n^-1 shift^-i), and
# k -> [omega^i]. The coset cache keeps the most recently used few.
_COSET_TABLES: dict = {}
_COSET_CACHE_SIZE = 8       # the quotient's 3 cosets, plain and times 16, and spares
_ELEMENTS: dict = {}


# A device backend (snarkgpt.device.use) sets this to take transforms over: offload(a, out,
# **kw) takes ntt.transform's arguments (a: one (n, 4) column, or (c, n, 4) columns with out
# given) and returns the result, or None to leave the work to the CPU kernels here.
offload = None


def _transform(a, out=None, **kw):
    """ntt.transform, or the device's when a backend is in use and takes this size."""
    if offload is not None:
        r = offload(a, out, **kw)
        if r is not None:
            return r
    return _ntt.transform(a, out, **kw)


def clear_caches():
    """Drop the cached coset and element tables of all domains (and the NTT plans)."""
    _COSET_TABLES.clear()
    _ELEMENTS.clear()
    _ntt.clear_plans()


class Domain:
    """The subgroup of Fr of size n = 2^k (0 <= k <= 28) and transforms on it and its cosets.

    Attributes: k, n, omega (a primitive n-th root of unity, a Python int), omega_inv,
    n_inv (1/n mod p), shift (the default coset generator, 5). Arrays are (n, 4) uint64 Fr
    arrays in Montgomery form; transforms return new arrays unless inplace=True (then the
    result is written back into the argument, which is also returned) or out= is given."""

    def __init__(self, k: int):
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
            raise TypeError(f"Domain: k must be an int, got {type(k).__name__}")
        k = int(k)
        if not 0 <= k <= FR_TWO_ADICITY:
            raise ValueError(f"Domain: k = {k} outside [0, {FR_TWO_ADICITY}] "
                             f"(Fr has 2-adicity {FR_TWO_ADICITY})")
        self.k = k
        self.n = 1 << k
        self.omega = _ntt.root_of_unity(k)
        self.omega_inv = pow(self.omega, -1, P)
        self.n_inv = pow(self.n, -1, P)
        self.shift = FR_GENERATOR
        self._n_inv_arr = Fr.from_ints([self.n_inv])

    @classmethod
    def of_size(cls, n: int) -> "Domain":
        """The domain of exactly n elements (n a power of two)."""
        if n < 1 or n & (n - 1):
            raise ValueError(f"Domain size must be a power of two, got {n}")
        return cls(n.bit_length() - 1)

    def __repr__(self):
        return f"Domain(k={self.k}, n={self.n})"

    def __eq__(self, other):
        return isinstance(other, Domain) and other.k == self.k

    def __hash__(self):
        return hash(("Domain", self.k))

    def __len__(self):
        return self.n

    # ---- tables ----------------------------------------------------------------------
    @property
    def plan(self) -> "_ntt.Plan":
        """The cached transform plan (decomposition and twiddle tables) for this size."""
        return _ntt.get_plan(self.k)

    def _coset_tables(self, shift: int, factor: int = 1):
        """(factor * shift^i, n^-1 * shift^-i) for i < n, cached for a few (shift, factor)."""
        shift %= P
        if shift == 0:
            raise ValueError("coset shift must be non-zero")
        key = (self.k, shift, factor % P)
        t = _COSET_TABLES.pop(key, None)
        if t is None:
            fwd = _ntt.powers(shift, self.n, first=factor % P)
            inv = _ntt.powers(pow(shift, -1, P), self.n, first=self.n_inv)
            t = (fwd, inv)
            while len(_COSET_TABLES) >= _COSET_CACHE_SIZE:
                _COSET_TABLES.pop(next(iter(_COSET_TABLES)))
        _COSET_TABLES[key] = t                     # most recently used last
        return t

    def elements(self) -> np.ndarray:
        """[omega^i for i < n] as a new Fr array."""
        return self._all_elements().copy()

    def element(self, i: int) -> int:
        """omega^i as a Python int."""
        return pow(self.omega, i % self.n, P)

    # ---- transforms ------------------------------------------------------------------
    def _check(self, a, what: str) -> np.ndarray:
        if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] != 4:
            raise TypeError(f"Domain.{what}: expected an (n, 4) uint64 Fr array, got "
                            f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
        if a.shape[0] != self.n:
            raise ValueError(f"Domain.{what}: length {a.shape[0]} does not match domain size "
                             f"{self.n} (pad or extend first)")
        return np.ascontiguousarray(a)

    def _run(self, arg, what, inplace, out, **kw):
        a = self._check(arg, what)
        if inplace:
            arg[...] = _transform(a, **kw)
            return arg
        if out is not None:
            self._check(out, what)
            if not out.flags.c_contiguous:
                raise ValueError(f"Domain.{what}: out must be C-contiguous")
        return _transform(a, out, **kw)

    def ntt(self, coeffs: np.ndarray, inplace: bool = False, out=None) -> np.ndarray:
        """Evaluations [p(omega^i) for i < n] of the polynomial with these n coefficients."""
        return self._run(coeffs, "ntt", inplace, out)

    def intt(self, evals: np.ndarray, inplace: bool = False, out=None) -> np.ndarray:
        """Coefficients of the polynomial of degree < n taking these values on the domain."""
        return self._run(evals, "intt", inplace, out, negate=True, pre=self._n_inv_arr)

    def coset_ntt(self, coeffs: np.ndarray, shift: int | None = None, inplace: bool = False,
                  out=None) -> np.ndarray:
        """Evaluations [p(shift * omega^i) for i < n] (default shift: the generator 5)."""
        fwd, _ = self._coset_tables(self.shift if shift is None else shift)
        return self._run(coeffs, "coset_ntt", inplace, out, pre=fwd)

    def coset_intt(self, evals: np.ndarray, shift: int | None = None, inplace: bool = False,
                   out=None) -> np.ndarray:
        """Coefficients of the polynomial of degree < n with values evals[i] at shift*omega^i."""
        _, inv = self._coset_tables(self.shift if shift is None else shift)
        return self._run(evals, "coset_intt", inplace, out, negate=True, post=inv)

    # ---- many columns at once ------------------------------------------------------------
    def _run_many(self, cols, what, out, **kw):
        """Apply one transform to every column of a (c, n, 4) array (or a list of (n, 4)
        arrays), eight columns at a time with AVX-512 IFMA where the CPU has it (ifma.py;
        same results as the one-column transforms), else one column at a time."""
        if isinstance(cols, np.ndarray) and cols.ndim == 3:
            src = cols
        else:
            src = np.stack([self._check(c, what) for c in cols]) if len(cols) else \
                np.zeros((0, self.n, 4), dtype=np.uint64)
        if src.dtype != np.uint64 or src.ndim != 3 or src.shape[1:] != (self.n, 4):
            raise ValueError(f"Domain.{what}: expected (c, {self.n}, 4) uint64 columns, got "
                             f"{src.dtype} {src.shape}")
        src = np.ascontiguousarray(src)
        if out is None:
            out = np.empty_like(src)
        elif (out.shape != src.shape or out.dtype != np.uint64 or not out.flags.c_contiguous
              or np.shares_memory(out, src)):
            raise ValueError(f"Domain.{what}: out must be a C-contiguous uint64 array of shape "
                             f"{src.shape} that does not overlap the input")
        if offload is not None and offload(src, out, **kw) is not None:
            return out
        if src.shape[0] >= _ifma.MIN_COLUMNS and self.k >= 1 and _ifma.available():
            return _ifma.transform_many(src, out, **kw)
        for i in range(src.shape[0]):
            _ntt.transform(src[i], out[i], **kw)
        return out

    def ntt_many(self, coeffs, out=None) -> np.ndarray:
        """`ntt` of every column of a (c, n, 4) array (or list of columns): a (c, n, 4) array."""
        return self._run_many(coeffs, "ntt_many", out)

    def intt_many(self, evals, out=None) -> np.ndarray:
        """`intt` of every column."""
        return self._run_many(evals, "intt_many", out, negate=True, pre=self._n_inv_arr)

    def coset_ntt_many(self, coeffs, shift: int | None = None, out=None,
                       factor: int = 1) -> np.ndarray:
        """`coset_ntt` of every column, each value times ``factor`` (free: it is folded into
        the table of shift powers; the quotient asks for 16, see field/ifma.py)."""
        fwd, _ = self._coset_tables(self.shift if shift is None else shift, factor)
        return self._run_many(coeffs, "coset_ntt_many", out, pre=fwd)

    def coset_intt_many(self, evals, shift: int | None = None, out=None) -> np.ndarray:
        """`coset_intt` of every column."""
        _, inv = self._coset_tables(self.shift if shift is None else shift)
        return self._run_many(evals, "coset_intt_many", out, negate=True, post=inv)

    def extend(self, factor: int) -> "Domain":
        """The domain of size n * factor (factor a power of two), e.g. for quotient evaluation."""
        if factor < 1 or factor & (factor - 1):
            raise ValueError(f"Domain.extend: factor must be a power of two, got {factor}")
        return Domain(self.k + factor.bit_length() - 1)

    # ---- evaluation at a point --------------------------------------------------------
    def vanishing_at(self, x: int) -> int:
        """Z_H(x) = x^n - 1."""
        return (pow(x % P, self.n, P) - 1) % P

    def index_of(self, x: int) -> int | None:
        """i with omega^i == x, or None if x is not in the domain."""
        x %= P
        if pow(x, self.n, P) != 1:
            return None
        target = np.array(Fr.from_int(x), dtype=np.uint64)
        return int(np.flatnonzero((self._all_elements() == target).all(axis=1))[0])

    def _all_elements(self):
        w = _ELEMENTS.get(self.k)
        if w is None:
            w = _ELEMENTS[self.k] = _ntt.powers(self.omega, self.n)
        return w

    def lagrange_basis_at(self, x: int) -> np.ndarray:
        """[L_i(x) for i < n] where L_i is 1 at omega^i and 0 on the rest of the domain.

        Off the domain L_i(x) = omega^i * (x^n - 1) / (n * (x - omega^i)), with one batch
        inversion; on the domain the result is the unit vector."""
        x %= P
        j = self.index_of(x)
        if j is not None:
            out = Fr.zeros(self.n)
            out[j] = Fr.one_limbs
            return out
        w = self._all_elements()
        out = np.empty_like(w)
        chunks = max(1, min(self.n // 1024, 8 * nb.get_num_threads()))
        c = self.vanishing_at(x) * self.n_inv % P
        _lagrange_basis(w, Fr.from_int(x), Fr.from_int(c), out, chunks)
        return out

    def evaluate_lagrange(self, evals: np.ndarray, x: int) -> int:
        """p(x) for the polynomial of degree < n with values evals on the domain (barycentric:
        p(x) = (x^n - 1)/n * sum_i evals[i] * omega^i / (x - omega^i))."""
        evals = self._check(evals, "evaluate_lagrange")
        x %= P
        j = self.index_of(x)
        if j is not None:
            return Fr.to_int(evals[j])
        return inner_product(evals, self.lagrange_basis_at(x))

    def lagranges_at(self, rows, x: int) -> np.ndarray:
        """[L_i(x) for i in rows] as an Fr array, with one inversion and O(len(rows)) work
        (the verifier's form: it never builds the n domain elements). Rows may repeat and
        come in any order; on the domain, x = omega^j, L_i(x) is 1 for i = j and 0 otherwise."""
        x %= P
        ws, prev, wi = [], 0, 1
        for i in rows:     # omega^i stepped from the previous row (rows mostly come in runs)
            i = int(i) % self.n
            wi = wi * self.omega % P if i == prev + 1 else pow(self.omega, i, P)
            ws.append(wi)
            prev = i
        z = self.vanishing_at(x)
        if z == 0:
            return Fr.from_ints([int(w == x) for w in ws])
        w = Fr.from_ints(ws)
        out = np.empty_like(w)
        if ws:
            _lagrange_chunk(w, Fr.from_int(x), Fr.from_int(z * self.n_inv % P), out, 0, len(ws))
        return out

    def lagrange_first_at(self, x: int) -> int:
        """L_0(x) = (x^n - 1) / (n (x - 1)) (1 at x = 1, 0 elsewhere on the domain)."""
        return self._lagrange_at(0, x)

    def lagrange_last_at(self, x: int) -> int:
        """L_(n-1)(x), the Lagrange polynomial of omega^(n-1) = omega^-1."""
        return self._lagrange_at(self.n - 1, x)

    def lagrange_at(self, i: int, x: int) -> int:
        """L_i(x) for one index i, as a Python int."""
        return self._lagrange_at(i % self.n, x)

    def _lagrange_at(self, i: int, x: int) -> int:
        x %= P
        wi = self.element(i)
        if x == wi:
            return 1
        z = self.vanishing_at(x)
        if z == 0:
            return 0
        return wi * z % P * self.n_inv % P * pow(x - wi, -1, P) % P
