"""Scalar limb arithmetic for the Numba kernels: 4x64-bit Montgomery form (R = 2^256).

Elements are tuples of four uint64 limbs, least significant first. Every function here is
`inline="always"` so that the vector kernels (vec.py, ntt.py, the curve code) compile to
straight-line code with the modulus folded in as constants.

The 64x64 -> 128-bit product is one LLVM `i128` multiply emitted by a Numba intrinsic: LLVM
lowers it to a single `mul`/`mulx` on x86-64, which is what makes CIOS fast from Python.
"""
import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .params import FQ_INV, FQ_P, FR_INV, FR_P

U0 = np.uint64(0)
U1 = np.uint64(1)


@intrinsic
def mul_hilo(typingctx, a, b):
    """(hi, lo) of the full 128-bit product of two uint64."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        prod = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        lo = builder.trunc(prod, ir.IntType(64))
        hi = builder.trunc(builder.lshr(prod, ir.Constant(i128, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, [hi, lo])

    return sig, codegen


@nb.njit(inline="always")
def mac(acc, a, b, carry):
    """acc + a*b + carry as (lo, hi); the sum never overflows 128 bits."""
    hi, lo = mul_hilo(a, b)
    lo2 = lo + acc
    hi += U1 if lo2 < lo else U0
    lo3 = lo2 + carry
    hi += U1 if lo3 < lo2 else U0
    return lo3, hi


@nb.njit(inline="always")
def adc(a, b, carry):
    """a + b + carry as (sum, carry_out), carry in {0, 1}."""
    s = a + b
    c = U1 if s < a else U0
    s2 = s + carry
    c += U1 if s2 < s else U0
    return s2, c


@nb.njit(inline="always")
def sbb(a, b, borrow):
    """a - b - borrow as (difference, borrow_out), borrow in {0, 1}."""
    d = a - b
    bo = U1 if a < b else U0
    d2 = d - borrow
    bo += U1 if d < borrow else U0
    return d2, bo


@nb.njit(inline="always")
def sub_if_ge(t0, t1, t2, t3, p):
    """(t0..t3) - p if that does not borrow, else (t0..t3) unchanged."""
    s0, b = sbb(t0, p[0], U0)
    s1, b = sbb(t1, p[1], b)
    s2, b = sbb(t2, p[2], b)
    s3, b = sbb(t3, p[3], b)
    if b:
        return (t0, t1, t2, t3)
    return (s0, s1, s2, s3)


@nb.njit(inline="always")
def mont_mul(a, b, p, inv):
    """a*b/2^256 mod p (CIOS). Needs a, b < p and p < 2^254, so t < 2p after the loop."""
    t0 = t1 = t2 = t3 = t4 = U0
    for i in range(4):
        ai = a[i]
        t0, c = mac(t0, ai, b[0], U0)
        t1, c = mac(t1, ai, b[1], c)
        t2, c = mac(t2, ai, b[2], c)
        t3, c = mac(t3, ai, b[3], c)
        t4 += c
        m = t0 * inv
        _, c = mac(t0, m, p[0], U0)
        t0, c = mac(t1, m, p[1], c)
        t1, c = mac(t2, m, p[2], c)
        t2, c = mac(t3, m, p[3], c)
        t3 = t4 + c
        t4 = U0
    return sub_if_ge(t0, t1, t2, t3, p)


@nb.njit(inline="always")
def add_mod(a, b, p):
    """a + b mod p (a, b < p < 2^254, so the sum never carries out of 256 bits)."""
    t0, c = adc(a[0], b[0], U0)
    t1, c = adc(a[1], b[1], c)
    t2, c = adc(a[2], b[2], c)
    t3, c = adc(a[3], b[3], c)
    return sub_if_ge(t0, t1, t2, t3, p)


@nb.njit(inline="always")
def sub_mod(a, b, p):
    """a - b mod p."""
    t0, bo = sbb(a[0], b[0], U0)
    t1, bo = sbb(a[1], b[1], bo)
    t2, bo = sbb(a[2], b[2], bo)
    t3, bo = sbb(a[3], b[3], bo)
    if bo:
        t0, c = adc(t0, p[0], U0)
        t1, c = adc(t1, p[1], c)
        t2, c = adc(t2, p[2], c)
        t3, c = adc(t3, p[3], c)
    return (t0, t1, t2, t3)


@nb.njit(inline="always")
def is_zero(a):
    return (a[0] | a[1] | a[2] | a[3]) == U0


@nb.njit(inline="always")
def neg_mod(a, p):
    """-a mod p (zero stays zero)."""
    if is_zero(a):
        return a
    return sub_mod(p, a, p)


@nb.njit(inline="always")
def double_mod(a, p):
    return add_mod(a, a, p)


@nb.njit(inline="always")
def eq(a, b):
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


@nb.njit(inline="always")
def load(arr, i):
    """Row i of an (n, 4) uint64 array as a limb tuple."""
    return (arr[i, 0], arr[i, 1], arr[i, 2], arr[i, 3])


@nb.njit(inline="always")
def store(arr, i, v):
    arr[i, 0] = v[0]
    arr[i, 1] = v[1]
    arr[i, 2] = v[2]
    arr[i, 3] = v[3]


# Field-specific shorthands with the modulus folded in as a constant.
@nb.njit(inline="always")
def fr_mul(a, b):
    return mont_mul(a, b, FR_P, FR_INV)


@nb.njit(inline="always")
def fr_add(a, b):
    return add_mod(a, b, FR_P)


@nb.njit(inline="always")
def fr_sub(a, b):
    return sub_mod(a, b, FR_P)


@nb.njit(inline="always")
def fr_neg(a):
    return neg_mod(a, FR_P)


@nb.njit(inline="always")
def fq_mul(a, b):
    return mont_mul(a, b, FQ_P, FQ_INV)


@nb.njit(inline="always")
def fq_add(a, b):
    return add_mod(a, b, FQ_P)


@nb.njit(inline="always")
def fq_sub(a, b):
    return sub_mod(a, b, FQ_P)


@nb.njit(inline="always")
def fq_neg(a):
    return neg_mod(a, FQ_P)
