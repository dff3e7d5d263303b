"""Montgomery arithmetic on four 64-bit limbs, written once for the CPU and the CUDA device.

Elements are tuples of four uint64 limbs, least significant first, in Montgomery form with
R = 2^256; the modulus p (a limb tuple, p < 2^254) and inv = -p^-1 mod 2^64 are arguments, so
one compiled function serves Fr and Fq. `limb_arithmetic` builds the functions from a
platform's carry primitives (mac, adc, sbb) and a decorator `jit`:

* arith.py, the CPU: the 128-bit product is one LLVM i128 multiply (an intrinsic), and jit
  is numba.njit(inline="always"), so vector kernels compile to straight-line code;
* cuda.py, a CUDA device: the high half of the product is libdevice's umul64hi, and jit is
  numba.cuda.jit(device=True).

The primitives reach the functions as closure variables, which Numba freezes as compile-time
constants like module globals: the compiled code is that of functions written out per
platform. The kernels using them are defined in other files; the package's kernel cache is
keyed on every source file that mentions numba (snarkgpt/__init__.py), as this one does, so an
edit here recompiles them.
"""
from typing import Callable, NamedTuple

import numpy as np

U0 = np.uint64(0)
U1 = np.uint64(1)


class LimbArithmetic(NamedTuple):
    """The compiled functions for one platform (unpack them, or pick them by name)."""
    sub_if_ge: Callable
    mont_mul: Callable
    add_mod: Callable
    sub_mod: Callable
    mont_pow: Callable


def limb_arithmetic(mac, adc, sbb, jit) -> LimbArithmetic:
    """sub_if_ge, mont_mul (CIOS), add_mod, sub_mod and mont_pow from the carry primitives:
    mac(acc, a, b, carry) = acc + a*b + carry as (lo, hi); adc(a, b, carry) and
    sbb(a, b, borrow) as (result, carry or borrow out)."""

    @jit
    def sub_if_ge(t0, t1, t2, t3, p):
        """(t0..t3) - p if that does not borrow, else (t0..t3) unchanged."""
        s0, b = sbb(t0, p[0], U0)
        s1, b = sbb(t1, p[1], b)
        s2, b = sbb(t2, p[2], b)
        s3, b = sbb(t3, p[3], b)
        if b != U0:
            return (t0, t1, t2, t3)
        return (s0, s1, s2, s3)

    @jit
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

    @jit
    def add_mod(a, b, p):
        """a + b mod p (a, b < p < 2^254, so the sum never carries out of 256 bits)."""
        t0, c = adc(a[0], b[0], U0)
        t1, c = adc(a[1], b[1], c)
        t2, c = adc(a[2], b[2], c)
        t3, c = adc(a[3], b[3], c)
        return sub_if_ge(t0, t1, t2, t3, p)

    @jit
    def sub_mod(a, b, p):
        """a - b mod p."""
        t0, bo = sbb(a[0], b[0], U0)
        t1, bo = sbb(a[1], b[1], bo)
        t2, bo = sbb(a[2], b[2], bo)
        t3, bo = sbb(a[3], b[3], bo)
        if bo != U0:
            t0, c = adc(t0, p[0], U0)
            t1, c = adc(t1, p[1], c)
            t2, c = adc(t2, p[2], c)
            t3, c = adc(t3, p[3], c)
        return (t0, t1, t2, t3)

    @jit
    def mont_pow(x, e, one, p, inv):
        """x^e by left-to-right square-and-multiply (top bit first); e a 4-limb exponent
        (not Montgomery), one the Montgomery form of 1."""
        acc = one
        for li in range(3, -1, -1):
            w = e[li]
            for bit in range(63, -1, -1):
                acc = mont_mul(acc, acc, p, inv)
                if (w >> np.uint64(bit)) & U1:
                    acc = mont_mul(acc, x, p, inv)
        return acc

    return LimbArithmetic(sub_if_ge, mont_mul, add_mod, sub_mod, mont_pow)
