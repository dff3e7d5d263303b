"""Square roots in Fq for point decompression, eight at a time with AVX-512 IFMA.

The verifier decompresses every point of a proof (a few hundred): each needs
y = (x^3 + 3)^((q+1)/4), about 315 dependent Montgomery products, which is latency-bound on
the scalar multiplier. Here eight exponentiations run side by side, one per vector lane,
with the 52-bit product of field/ifma.py on Fq in the x16 form (ifma_buckets.py), by the
same 4-bit fixed windows as `arith.fq_pow`.
"""
import numba as nb
import numpy as np

from ..field import FQ_MODULUS
from ..field import ifma as _v
from ..field.arith import eq, fq_mul, load, store
from .g1_formulas import _JIT, SQRT_EXP
from .ifma_buckets import C16, C_INV16

# regs[d, 0] = regs[a, 0] * regs[b, 0] on Fq (x16 form)
_vq_mul = _v._reg_binop(lambda b, x, y: _v._emit_mont(b, x, y, FQ_MODULUS))
_EXP = sum(int(w) << (64 * i) for i, w in enumerate(SQRT_EXP))
_NIBBLES = np.array([(_EXP >> (4 * i)) & 15 for i in range((_EXP.bit_length() + 3) // 4)][::-1],
                    dtype=np.int64)                    # most significant first


@nb.njit(**_JIT)
def sqrt8(a, out, ok, lo, hi):
    """out = a^((q+1)/4), ok = (out^2 == a), for rows lo..hi (as g1._k_sqrt), eight rows
    per exponentiation."""
    regs = np.empty((17, 1, 5, 8), np.uint64)     # base^0 .. base^15, the accumulator
    for g in range(lo, hi, 8):
        for c in range(8):
            _v.lane_set(regs[1, 0], c, fq_mul(load(a, min(g + c, hi - 1)), C16))
            _v.lane_set(regs[0, 0], c, C16)       # 1 in the x16 form
        for t in range(2, 16):
            _vq_mul(regs, t, t - 1, 1, 0)
        regs[16] = regs[_NIBBLES[0]]
        for nib in _NIBBLES[1:]:
            for _ in range(4):
                _vq_mul(regs, 16, 16, 16, 0)
            if nib:
                _vq_mul(regs, 16, 16, nib, 0)
        for c in range(min(8, hi - g)):
            s = fq_mul(_v.lane_get(regs[16, 0], c), C_INV16)
            store(out, g + c, s)
            ok[g + c] = eq(fq_mul(s, s), load(a, g + c))
