"""Square roots in Fq for point decompression, eight at a time with AVX-512 IFMA.

The verifier decompresses every point of a proof (a few hundred): each needs
y = (x^3 + 3)^((q+1)/4), about 315 dependent Montgomery products, which is latency-bound on
the scalar multiplier. Here eight exponentiations run side by side, one per vector lane,
with the 52-bit product of field/ifma.py on Fq in the x16 form (ifma_buckets.py), by the
same 4-bit fixed windows as `arith.fq_pow`.
"""
import numba as nb
import numpy as np

from ..field import ifma as _v
from ..field.arith import eq, fq_mul, load, store
from .g1 import _JIT, SQRT_EXP
from .ifma_buckets import C16, C_INV16, Q

# regs[d, 0] = regs[a, 0] * regs[b, 0] on Fq (x16 form)
_vq_mul = _v._reg_binop(lambda b, x, y: _v._emit_mont(b, x, y, Q))
_EXP = sum(int(w) << (64 * i) for i, w in enumerate(SQRT_EXP))
_NIBBLES = np.array([(_EXP >> (4 * i)) & 15 for i in range((_EXP.bit_length() + 3) // 4)][::-1],
                    dtype=np.int64)                    # most significant first
_M52 = np.uint64((1 << 52) - 1)


@nb.njit(inline="always")
def _put(regs, d, c, a):
    regs[d, 0, 0, c] = a[0] & _M52
    regs[d, 0, 1, c] = ((a[0] >> np.uint64(52)) | (a[1] << np.uint64(12))) & _M52
    regs[d, 0, 2, c] = ((a[1] >> np.uint64(40)) | (a[2] << np.uint64(24))) & _M52
    regs[d, 0, 3, c] = ((a[2] >> np.uint64(28)) | (a[3] << np.uint64(36))) & _M52
    regs[d, 0, 4, c] = a[3] >> np.uint64(16)


@nb.njit(inline="always")
def _get(regs, d, c):
    l0, l1, l2 = regs[d, 0, 0, c], regs[d, 0, 1, c], regs[d, 0, 2, c]
    l3, l4 = regs[d, 0, 3, c], regs[d, 0, 4, c]
    return (l0 | (l1 << np.uint64(52)), (l1 >> np.uint64(12)) | (l2 << np.uint64(40)),
            (l2 >> np.uint64(24)) | (l3 << np.uint64(28)), (l3 >> np.uint64(36)) | (l4 << np.uint64(16)))


@nb.njit(**_JIT)
def sqrt8(a, out, ok, lo, hi):
    """out = a^((q+1)/4), ok = (out^2 == a), for rows lo..hi (as g1._k_sqrt), eight rows
    per exponentiation."""
    regs = np.empty((17, 1, 5, 8), np.uint64)     # base^0 .. base^15, the accumulator
    for g in range(lo, hi, 8):
        for c in range(8):
            _put(regs, 1, c, fq_mul(load(a, min(g + c, hi - 1)), C16))
            _put(regs, 0, c, C16)                 # 1 in the x16 form
        for t in range(2, 16):
            _vq_mul(regs, t, t - 1, 1, 0)
        first = True
        for nib in _NIBBLES:
            if first:
                for l in range(5):
                    for c in range(8):
                        regs[16, 0, l, c] = regs[nib, 0, l, c]
                first = False
                continue
            for _ in range(4):
                _vq_mul(regs, 16, 16, 16, 0)
            if nib:
                _vq_mul(regs, 16, 16, nib, 0)
        for c in range(min(8, hi - g)):
            s = fq_mul(_get(regs, 16, c), C_INV16)
            store(out, g + c, s)
            ok[g + c] = eq(fq_mul(s, s), load(a, g + c))
