"""BN254 Fr / Fq arithmetic and NTTs on a CUDA device, written with numba.cuda.

Same conventions as the CPU kernels (arith.py, ntt.py): an element is four uint64 limbs,
least significant first, in Montgomery form with R = 2^256; arrays are (n, 4) uint64.
Every result here is fully reduced (in [0, p)), so device and CPU outputs agree bit for bit.

Layers:

* limb primitives (`mac`, `adc`, `sbb`): the high half of a 64x64 product comes from
  `libdevice.umul64hi` (one `mul.hi.u64`; declared over int64, so cast back to uint64), the
  low half from the wrapping uint64 product;
* Montgomery arithmetic (`mont_mul`: CIOS, `add_mod`, `sub_mod`, `mont_pow`) taking the
  modulus as a constant tuple: the CPU's source (montgomery.py) compiled as device functions,
  like the row loads and stores and the bit reversal (arith.py, ntt.py); and the per-field
  wrappers `fr_*` / `fq_*` that the curve code uses;
* kernels: elementwise mul/add/sub/scale, batch inversion (one Montgomery trick per thread
  over a contiguous chunk, one Fermat exponentiation per chunk), and the radix-2 NTT;
* host wrappers taking and returning NumPy arrays (`FR_GPU.mul(a, b)`, `ntt(a)`, ...), and
  device-array versions (`ntt_device`) for callers that keep data on the device.

NTT (decimation in time, natural order in and out, w = root_of_unity(log2 n) from
generator 5, exactly as field/ntt.py):

1. a gather kernel writes x[rev(j)] to position j (x[i] = a[i], or a[-i mod n] for the
   inverse), multiplying by a constant or a per-index table on the way (n^-1, coset powers);
2. a shared-memory kernel runs the first `shared_log` stages on tiles of 2^shared_log
   elements (one thread per butterfly, `syncthreads` between stages);
3. one kernel launch per remaining stage (pair distance m = 2^s; twiddle w_(2m)^j from the
   stage-contiguous table of ntt.twiddle_table);
4. an optional elementwise multiply by a post table (the inverse coset transform).

Without a GPU, set NUMBA_ENABLE_CUDASIM=1 before numba is imported: the CUDA simulator then
runs the same kernels on the CPU (slowly; tests use n <= 64). In the simulator `umul64hi`
is replaced by a Python-int version (libdevice has no simulator implementation) and the
wrapping uint64 arithmetic's overflow warnings are silenced around launches.
"""
import math
import warnings

import numpy as np
from numba import cuda, types

from . import arith
from .montgomery import U0, U1, limb_arithmetic
from .ntt import _bitrev as ntt_bitrev
from .ntt import powers, twiddle_table
from .params import (FQ_INV, FQ_MODULUS, FQ_ONE, FQ_P, FR_INV, FR_MODULUS, FR_ONE,
                     FR_P, to_limbs)

# The simulator is chosen when numba.cuda is first imported (NUMBA_ENABLE_CUDASIM=1 then);
# ask the module we actually got rather than the (re-readable) config flag.
SIMULATOR = cuda.jit.__module__.startswith("numba.cuda.simulator")
_M64 = (1 << 64) - 1

# Device functions: NVVM inlines these small functions itself; Numba-level inlining
# (inline=True) would multiply the compile time of the point formulas.
_dev = cuda.jit(device=True)

if SIMULATOR:
    def umul64hi(a, b):
        """High 64 bits of a*b (simulator stand-in for libdevice.umul64hi)."""
        return np.uint64((int(a) * int(b)) >> 64)
else:
    from numba.cuda import libdevice

    @_dev
    def umul64hi(a, b):
        """High 64 bits of a*b (one mul.hi.u64). Numba declares libdevice's __nv_umul64hi over
        int64: without the cast back, `hi + U1` (int64 + uint64) would type as float64."""
        return np.uint64(libdevice.umul64hi(a, b))


def available() -> bool:
    """True when kernels can run: a real CUDA device, or the simulator."""
    try:
        return SIMULATOR or bool(cuda.is_available())
    except Exception:                                  # pragma: no cover - driver errors
        return False


def threads_per_block() -> int:
    # The simulator runs one Python thread per CUDA thread of a block: keep blocks small.
    return 32 if SIMULATOR else 256


def launch(n: int):
    """(blocks, threads) covering n threads."""
    tpb = threads_per_block()
    return max(1, (n + tpb - 1) // tpb), tpb


class _quiet:
    """Silences NumPy's scalar-overflow warnings of wrapping uint64 arithmetic (simulator)."""

    def __enter__(self):
        if SIMULATOR:
            self._cw = warnings.catch_warnings()
            self._cw.__enter__()
            warnings.simplefilter("ignore", RuntimeWarning)
        return self

    def __exit__(self, *exc):
        if SIMULATOR:
            self._cw.__exit__(*exc)
        return False


quiet = _quiet


# ---- limb primitives ---------------------------------------------------------------------------
@_dev
def mac(acc, a, b, carry):
    """acc + a*b + carry as (lo, hi); never overflows 128 bits."""
    lo = a * b
    hi = umul64hi(a, b)
    lo2 = lo + acc
    if lo2 < lo:
        hi += U1
    lo3 = lo2 + carry
    if lo3 < lo2:
        hi += U1
    return lo3, hi


@_dev
def adc(a, b, carry):
    s = a + b
    c = U1 if s < a else U0
    s2 = s + carry
    if s2 < s:
        c += U1
    return s2, c


@_dev
def sbb(a, b, borrow):
    d = a - b
    bo = U1 if a < b else U0
    d2 = d - borrow
    if d < borrow:
        bo += U1
    return d2, bo


# sub_if_ge, mont_mul (CIOS), add_mod, sub_mod, mont_pow: the CPU's (montgomery.py), compiled
# as device functions over the device's carry primitives above.
sub_if_ge, mont_mul, add_mod, sub_mod, mont_pow = limb_arithmetic(mac, adc, sbb, _dev)


# is_zero, ld (row i as a limb tuple), st: the CPU functions of arith.py, compiled for the device
is_zero = _dev(arith.is_zero.py_func)
ld = _dev(arith.load.py_func)
st = _dev(arith.store.py_func)


@_dev
def ld_off(arr, i, off):
    """Four limbs of row i starting at column off (points: x at 0, y at 4, ...)."""
    return (arr[i, off], arr[i, off + 1], arr[i, off + 2], arr[i, off + 3])


@_dev
def st_off(arr, i, off, v):
    arr[i, off] = v[0]
    arr[i, off + 1] = v[1]
    arr[i, off + 2] = v[2]
    arr[i, off + 3] = v[3]


# ---- per-field wrappers (the curve code uses the fq_* ones) ------------------------------------
FR_PM2 = to_limbs(FR_MODULUS - 2)
FQ_PM2 = to_limbs(FQ_MODULUS - 2)


@_dev
def fr_mul(a, b):
    return mont_mul(a, b, FR_P, FR_INV)


@_dev
def fr_add(a, b):
    return add_mod(a, b, FR_P)


@_dev
def fr_sub(a, b):
    return sub_mod(a, b, FR_P)


@_dev
def fq_mul(a, b):
    return mont_mul(a, b, FQ_P, FQ_INV)


@_dev
def fq_sqr(a):
    return mont_mul(a, a, FQ_P, FQ_INV)


@_dev
def fq_add(a, b):
    return add_mod(a, b, FQ_P)


@_dev
def fq_dbl(a):
    return add_mod(a, a, FQ_P)


@_dev
def fq_sub(a, b):
    return sub_mod(a, b, FQ_P)


# ---- kernels ----------------------------------------------------------------------------------
def _field_kernels(P, INV, ONE, PM2):
    """Elementwise and batch-inversion kernels with the modulus P folded in as a constant."""

    @cuda.jit
    def k_mul(a, b, out):
        i = cuda.grid(1)
        if i < out.shape[0]:
            st(out, i, mont_mul(ld(a, i), ld(b, i), P, INV))

    @cuda.jit
    def k_add(a, b, out):
        i = cuda.grid(1)
        if i < out.shape[0]:
            st(out, i, add_mod(ld(a, i), ld(b, i), P))

    @cuda.jit
    def k_sub(a, b, out):
        i = cuda.grid(1)
        if i < out.shape[0]:
            st(out, i, sub_mod(ld(a, i), ld(b, i), P))

    @cuda.jit
    def k_scale(a, c, out):
        """out[i] = a[i] * c[0]."""
        i = cuda.grid(1)
        if i < out.shape[0]:
            st(out, i, mont_mul(ld(a, i), ld(c, 0), P, INV))

    @cuda.jit
    def k_batch_inv(a, out, chunk):
        """Thread t inverts a[t*chunk : (t+1)*chunk] with Montgomery's trick; zeros stay zero."""
        t = cuda.grid(1)
        n = a.shape[0]
        lo = t * chunk
        if lo >= n:
            return
        hi = lo + chunk                           # not min(): its overload fails in the CUDA target
        if hi > n:
            hi = n
        acc = ONE
        for i in range(lo, hi):
            st(out, i, acc)                       # prefix product of the non-zero a[lo..i)
            x = ld(a, i)
            if not is_zero(x):
                acc = mont_mul(acc, x, P, INV)
        acc = mont_pow(acc, PM2, ONE, P, INV)
        for i in range(hi - 1, lo - 1, -1):
            x = ld(a, i)
            if is_zero(x):
                st(out, i, (U0, U0, U0, U0))
            else:
                st(out, i, mont_mul(acc, ld(out, i), P, INV))
                acc = mont_mul(acc, x, P, INV)

    return k_mul, k_add, k_sub, k_scale, k_batch_inv


def _check(a, what="input"):
    a = np.ascontiguousarray(a)
    if a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] != 4:
        raise TypeError(f"cuda: {what} must be an (n, 4) uint64 array, got {a.dtype} {a.shape}")
    return a


def to_device(a):
    """A host array on the device (device arrays pass through)."""
    if hasattr(a, "copy_to_host"):
        return a
    return cuda.to_device(np.ascontiguousarray(a))


class DeviceField:
    """Elementwise arithmetic and batch inversion of one field on the device.

    Host wrappers take and return (n, 4) uint64 NumPy arrays in Montgomery form, like
    snarkgpt.field.Fr / Fq; the `*_device` variants take and return device arrays."""

    def __init__(self, name, p, inv, one, pm2, modulus):
        self.name = name
        self.modulus = modulus
        self._k = _field_kernels(p, inv, one, pm2)

    def _binary(self, k, a, b):
        a, b = _check(a, "a"), _check(b, "b")
        if a.shape != b.shape:
            raise ValueError(f"cuda {self.name}: shapes {a.shape} and {b.shape} differ")
        n = a.shape[0]
        if n == 0:
            return np.empty_like(a)
        out = cuda.device_array((n, 4), dtype=np.uint64)
        with quiet():
            k[launch(n)](cuda.to_device(a), cuda.to_device(b), out)
            return out.copy_to_host()

    def mul(self, a, b):
        return self._binary(self._k[0], a, b)

    def add(self, a, b):
        return self._binary(self._k[1], a, b)

    def sub(self, a, b):
        return self._binary(self._k[2], a, b)

    def scale(self, a, c: int):
        """a * c for a Python int c."""
        a = _check(a)
        if a.shape[0] == 0:
            return np.empty_like(a)
        cm = np.array([to_limbs((int(c) % self.modulus) * (1 << 256) % self.modulus)],
                      dtype=np.uint64)
        out = cuda.device_array(a.shape, dtype=np.uint64)
        with quiet():
            self._k[3][launch(a.shape[0])](cuda.to_device(a), cuda.to_device(cm), out)
            return out.copy_to_host()

    def scale_device(self, d_a, d_c, d_out):
        with quiet():
            self._k[3][launch(d_a.shape[0])](d_a, d_c, d_out)
        return d_out

    def mul_device(self, d_a, d_b, d_out):
        with quiet():
            self._k[0][launch(d_a.shape[0])](d_a, d_b, d_out)
        return d_out

    def batch_inverse(self, a, chunk: int | None = None):
        """Elementwise inverses (zeros map to zero), one Montgomery trick per `chunk` rows."""
        a = _check(a)
        n = a.shape[0]
        if n == 0:
            return np.empty_like(a)
        if chunk is None:
            chunk = 4 if SIMULATOR else 64
        nthreads = (n + chunk - 1) // chunk
        out = cuda.device_array((n, 4), dtype=np.uint64)
        with quiet():
            self._k[4][launch(nthreads)](cuda.to_device(a), out, chunk)
            return out.copy_to_host()


FR_GPU = DeviceField("Fr", FR_P, FR_INV, FR_ONE, FR_PM2, FR_MODULUS)
FQ_GPU = DeviceField("Fq", FQ_P, FQ_INV, FQ_ONE, FQ_PM2, FQ_MODULUS)


# ---- NTT --------------------------------------------------------------------------------------
bitrev = _dev(ntt_bitrev.py_func)            # the CPU's bit reversal (ntt.py), on the device


@_dev
def butterfly(arr, i0, i1, w):
    u = ld(arr, i0)
    v = mont_mul(ld(arr, i1), w, FR_P, FR_INV)
    st(arr, i0, add_mod(u, v, FR_P))
    st(arr, i1, sub_mod(u, v, FR_P))


@cuda.jit
def _k_gather(src, dst, L, negate, pre, pre_mode):
    """dst[j] = x[rev(j)] * pre[.]; x[i] = src[i] (or src[-i mod n] when negate)."""
    j = cuda.grid(1)
    n = dst.shape[0]
    if j < n:
        r = bitrev(j, L)
        s = ((n - r) & (n - 1)) if negate else r
        v = ld(src, s)
        if pre_mode == 1:
            v = mont_mul(v, ld(pre, 0), FR_P, FR_INV)
        elif pre_mode == 2:
            v = mont_mul(v, ld(pre, r), FR_P, FR_INV)
        st(dst, j, v)


@cuda.jit
def _k_stage(a, tw, m):
    """One radix-2 stage at pair distance m: butterfly t works on (i0, i0 + m)."""
    t = cuda.grid(1)
    if t < a.shape[0] // 2:
        j = t % m
        i0 = (t // m) * 2 * m + j
        butterfly(a, i0, i0 + m, ld(tw, m - 1 + j))


_SHARED: dict = {}
MAX_SHARED_LOG = 9            # 2^9 elements = 16 KiB of shared memory, 256 threads a block


def _shared_kernel(lt: int):
    """Kernel running stages 1, 2, ..., 2^(lt-1) on tiles of 2^lt elements in shared memory."""
    k = _SHARED.get(lt)
    if k is not None:
        return k
    T = 1 << lt
    H = T >> 1

    @cuda.jit
    def k_tiles(a, tw):
        sh = cuda.shared.array((T, 4), dtype=types.uint64)
        tid = cuda.threadIdx.x
        base = cuda.blockIdx.x * T
        for r in range(2):
            idx = tid + r * H
            for l in range(4):
                sh[idx, l] = a[base + idx, l]
        cuda.syncthreads()
        m = 1
        while m < T:
            j = tid % m
            i0 = (tid // m) * 2 * m + j
            butterfly(sh, i0, i0 + m, ld(tw, m - 1 + j))
            cuda.syncthreads()
            m *= 2
        for r in range(2):
            idx = tid + r * H
            for l in range(4):
                a[base + idx, l] = sh[idx, l]

    _SHARED[lt] = k_tiles
    return k_tiles


_TW: dict = {}


def twiddles_device(k: int):
    """The stage-contiguous twiddle table of size 2^k (ntt.twiddle_table) on the device."""
    t = _TW.get(k)
    if t is None:
        t = _TW[k] = cuda.to_device(twiddle_table(k))
    return t


def clear_tables():
    _TW.clear()


def transform_device(d_src, d_out, *, negate=False, pre=None, post=None,
                     shared_log: int | None = None):
    """Forward NTT of device array d_src into device array d_out (must not alias).

    Same meaning as ntt.transform: x[j] = src[j] (src[-j] if negate), times pre[0] or pre[j],
    transformed, times post[i]. pre/post are device (or host) arrays. shared_log: stages run
    in shared memory (default min(log n, MAX_SHARED_LOG); 0 = global-memory stages only)."""
    n = d_src.shape[0]
    L = n.bit_length() - 1
    if n == 0 or n != 1 << L:
        raise ValueError(f"NTT length must be a power of two, got {n}")
    if shared_log is None:
        shared_log = min(L, MAX_SHARED_LOG)
    shared_log = max(0, min(int(shared_log), L))
    tw = twiddles_device(L)
    pre_mode = 0 if pre is None else (1 if pre.shape[0] == 1 else 2)
    pre_d = to_device(pre) if pre is not None else tw
    with quiet():
        _k_gather[launch(n)](d_src, d_out, L, bool(negate), pre_d, pre_mode)
        if shared_log:
            _shared_kernel(shared_log)[n >> shared_log, 1 << (shared_log - 1)](d_out, tw)
        s = shared_log
        while s < L:
            _k_stage[launch(n // 2)](d_out, tw, 1 << s)
            s += 1
    if post is not None:
        FR_GPU.mul_device(d_out, to_device(post), d_out)
    return d_out


def _host_transform(a, **kw):
    a = _check(a)
    n = a.shape[0]
    d_out = cuda.device_array((n, 4), dtype=np.uint64)
    transform_device(cuda.to_device(a), d_out, **kw)
    return d_out.copy_to_host()


def transform(a, out=None, *, negate=False, pre=None, post=None) -> np.ndarray:
    """The device version of snarkgpt.field.ntt.transform (same arguments, same result bit
    for bit): host arrays in, the result copied back into `out` (new if None)."""
    a = _check(a)
    pre = None if pre is None else _check(pre, "pre")
    post = None if post is None else _check(post, "post")
    res = _host_transform(a, negate=negate, pre=pre, post=post)
    if out is None:
        return res
    out[...] = res
    return out


def _mont(x: int) -> np.ndarray:
    return np.array([to_limbs((int(x) % FR_MODULUS) * (1 << 256) % FR_MODULUS)], dtype=np.uint64)


def ntt(a, shared_log: int | None = None) -> np.ndarray:
    """[sum_j a[j] w^(ij)]: same result as snarkgpt.field.ntt.ntt."""
    return _host_transform(a, shared_log=shared_log)


def intt(a, shared_log: int | None = None) -> np.ndarray:
    """Inverse of ntt: same result as snarkgpt.field.ntt.intt."""
    n = a.shape[0]
    return _host_transform(a, negate=True, pre=_mont(pow(n, -1, FR_MODULUS)),
                           shared_log=shared_log)


def coset_ntt(a, shift: int, shared_log: int | None = None) -> np.ndarray:
    """Evaluations on shift * <w>: same result as ntt.coset_ntt."""
    return _host_transform(a, pre=powers(shift, a.shape[0]), shared_log=shared_log)


def coset_intt(a, shift: int, shared_log: int | None = None) -> np.ndarray:
    """Inverse of coset_ntt: same result as ntt.coset_intt."""
    n = a.shape[0]
    post = powers(pow(shift, -1, FR_MODULUS), n, first=pow(n, -1, FR_MODULUS))
    return _host_transform(a, negate=True, post=post, shared_log=shared_log)


def ntt_device(d_a, d_out=None, shared_log=None):
    """Forward NTT of a device array (a new device array unless d_out is given)."""
    if d_out is None:
        d_out = cuda.device_array(d_a.shape, dtype=np.uint64)
    return transform_device(d_a, d_out, shared_log=shared_log)


def log2_ceil(n: int) -> int:
    return max(0, math.ceil(math.log2(max(n, 1))))
