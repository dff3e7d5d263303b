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

from .montgomery import U0, U1, limb_arithmetic
from .params import FQ_INV, FQ_MODULUS, FQ_ONE, FR_INV, FR_MODULUS, to_limbs


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


# sub_if_ge, mont_mul (CIOS), add_mod, sub_mod, mont_pow: written once for the CPU and the
# CUDA device in montgomery.py, here over the carry primitives above.
sub_if_ge, mont_mul, add_mod, sub_mod, mont_pow = limb_arithmetic(mac, adc, sbb,
                                                                  nb.njit(inline="always"))


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


# ---- straight-line versions, emitted as LLVM IR ----------------------------------------------
# The Numba-level kernels above compile into loops with branchy carries (~18 ns per Fr
# multiply). The intrinsics below emit the same arithmetic as straight-line LLVM IR with the
# modulus folded in: product-scanning (Comba) Montgomery multiplication with a 192-bit column
# accumulator, 256-bit additions as LLVM i256 (lowered to add/adc chains), and conditional
# subtractions as `select` (no branch). About 12 ns per dependent multiply here. Numba sees
# each as one opaque node, which also keeps compile times of big kernels (the pairing) short.
_I64 = ir.IntType(64)
_I128 = ir.IntType(128)
_I192 = ir.IntType(192)
_I256 = ir.IntType(256)
_LIMBS = types.UniTuple(types.uint64, 4)


def _c64(v: int):
    return ir.Constant(_I64, int(v))


def _c256(v: int):
    return ir.Constant(_I256, int(v))


def _limbs(builder, tup):
    return [builder.extract_value(tup, i) for i in range(4)]


def _pack(builder, limbs):
    """Four i64 limbs -> one i256."""
    v = builder.zext(limbs[0], _I256)
    for i in range(1, 4):
        v = builder.or_(v, builder.shl(builder.zext(limbs[i], _I256), _c256(64 * i)))
    return v


def _unpack(builder, v):
    """One i256 -> four i64 limbs."""
    return [builder.trunc(builder.lshr(v, _c256(64 * i)), _I64) if i else builder.trunc(v, _I64)
            for i in range(4)]


def _emit_product(builder, a, b):
    """The 128-bit product of two i64 values, widened to i192."""
    return builder.zext(builder.mul(builder.zext(a, _I128), builder.zext(b, _I128)), _I192)


def emit_mont(builder, a, b, modulus: int, inv: int):
    """Montgomery product a*b/2^256 mod p on limb lists, left in [0, 2p).

    Product scanning: column c of a*b + m*p is summed in a 192-bit accumulator (at most 8
    products of 128 bits plus the carry: < 2^132), the reduction digit m_c = (column low word)
    * (-1/p mod 2^64) clears it, and the accumulator shifts down one word per column. The
    result (a*b + m*p) / 2^256 is below a*b/2^256 + p < b + p < 2p for any 256-bit a, b < p."""
    p = [_c64(int(v)) for v in to_limbs(modulus)]
    inv_c = _c64(int(inv))
    shift = ir.Constant(_I192, 64)
    acc = ir.Constant(_I192, 0)
    m, out = [], []
    for col in range(7):
        for j in range(max(0, col - 3), min(col, 3) + 1):
            acc = builder.add(acc, _emit_product(builder, a[j], b[col - j]))
        for j in range(max(0, col - 3), min(col, 4)):
            acc = builder.add(acc, _emit_product(builder, m[j], p[col - j]))
        if col < 4:
            m.append(builder.mul(builder.trunc(acc, _I64), inv_c))
            acc = builder.add(acc, _emit_product(builder, m[col], p[0]))
        else:
            out.append(builder.trunc(acc, _I64))
        acc = builder.lshr(acc, shift)
    out.append(builder.trunc(acc, _I64))
    return out


def emit_csub(builder, v, q: int):
    """v - q if v >= q else v, on i256 (a select, no branch)."""
    qc = _c256(q)
    return builder.select(builder.icmp_unsigned("<", v, qc), v, builder.sub(v, qc))


def limb_intrinsic(nargs, body, nout=4):
    """An intrinsic over `nargs` 4-limb tuples returning `nout` limbs; body(builder, [limb
    lists]) returns a list of i64 values."""
    ret = types.UniTuple(types.uint64, nout)

    def codegen(context, builder, signature, args):
        out = body(builder, [_limbs(builder, a) for a in args])
        return context.make_tuple(builder, ret, out)

    if nargs == 1:
        def typer(typingctx, a):
            return ret(_LIMBS), codegen
    elif nargs == 2:
        def typer(typingctx, a, b):
            return ret(_LIMBS, _LIMBS), codegen
    else:
        def typer(typingctx, a, b, c):
            return ret(_LIMBS, _LIMBS, _LIMBS), codegen
    return intrinsic(typer)


class FieldOps:
    """Straight-line intrinsics for one modulus: mul, mul_lazy, add, sub, neg, normalize."""

    def __init__(self, modulus: int, inv):
        q, q2 = modulus, 2 * modulus

        def mul_lazy(builder, args):
            return emit_mont(builder, args[0], args[1], q, inv)

        def mul(builder, args):
            return _unpack(builder, emit_csub(builder, _pack(builder, mul_lazy(builder, args)), q))

        def add(builder, args):
            s = builder.add(_pack(builder, args[0]), _pack(builder, args[1]))
            return _unpack(builder, emit_csub(builder, s, q))

        def sub(builder, args):
            a, b = _pack(builder, args[0]), _pack(builder, args[1])
            d = builder.sub(a, b)
            d = builder.select(builder.icmp_unsigned("<", a, b), builder.add(d, _c256(q)), d)
            return _unpack(builder, d)

        def neg(builder, args):
            a = _pack(builder, args[0])
            zero = builder.icmp_unsigned("==", a, _c256(0))
            return _unpack(builder, builder.select(zero, a, builder.sub(_c256(q), a)))

        def normalize(builder, args):
            v = emit_csub(builder, _pack(builder, args[0]), q2)
            return _unpack(builder, emit_csub(builder, v, q))

        self.mul_lazy = limb_intrinsic(2, mul_lazy)
        self.mul = limb_intrinsic(2, mul)
        self.add = limb_intrinsic(2, add)
        self.sub = limb_intrinsic(2, sub)
        self.neg = limb_intrinsic(1, neg)
        self.normalize = limb_intrinsic(1, normalize)


FR_OPS = FieldOps(FR_MODULUS, FR_INV)
FQ_OPS = FieldOps(FQ_MODULUS, FQ_INV)

# Field-specific shorthands with the modulus folded in as a constant (a, b < p; results < p).
fr_mul = FR_OPS.mul
fr_add = FR_OPS.add
fr_sub = FR_OPS.sub
fr_neg = FR_OPS.neg
fq_mul = FQ_OPS.mul
fq_add = FQ_OPS.add
fq_sub = FQ_OPS.sub
fq_neg = FQ_OPS.neg


@nb.njit(inline="always")
def fq_pow(x, e):
    """x^e in Fq (Montgomery in and out) for a 4-limb exponent tuple e (not Montgomery), by
    fixed 4-bit windows: a 254-bit exponent costs about 252 squarings and 74 products (14 of
    them for the table x^2..x^15), against about 127 products bit by bit. Fermat inversion
    and the square root of decompression are such powers. 0^e = 0 for e != 0; x^0 = 1."""
    table = np.empty((16, 4), np.uint64)
    store(table, 1, x)
    for i in range(2, 16):
        store(table, i, fq_mul(load(table, i - 1), x))
    acc = FQ_ONE
    started = False
    for li in range(3, -1, -1):
        word = e[li]
        for nib in range(15, -1, -1):
            if started:
                acc = fq_mul(acc, acc)
                acc = fq_mul(acc, acc)
                acc = fq_mul(acc, acc)
                acc = fq_mul(acc, acc)
            d = (word >> np.uint64(4 * nib)) & np.uint64(15)
            if d != U0:
                acc = fq_mul(acc, load(table, d)) if started else load(table, d)
                started = True
    return acc
