"""The BN254 extension tower Fq2 -> Fq6 -> Fq12 as Numba kernels.

    Fq2  = Fq[u]  / (u^2 + 1)
    Fq6  = Fq2[v] / (v^3 - xi),   xi = 9 + u
    Fq12 = Fq6[w] / (w^2 - v)     (so w^6 = xi)

Representation inside kernels (all Montgomery form, see snarkgpt/field/arith.py):

    Fq   : a tuple of 4 uint64 limbs
    Fq2  : (c0, c1)           = c0 + c1 u
    Fq6  : (a0, a1, a2)       = a0 + a1 v + a2 v^2           (each an Fq2)
    Fq12 : (g, h)             = g + h w                      (each an Fq6)

Outside kernels an Fq12 element is a (12, 4) uint64 array whose row 6*i + 2*j + k holds the
Fq coefficient of u^k v^j w^i; an Fq2 element is (2, 4) and an Fq6 element (6, 4) in the same
order. Each tower operation is a small Numba function on tuples; the Fq operations in them
are the straight-line LLVM intrinsics of field/arith.py.

Numba's disk cache tracks only the file a kernel is defined in; the package keys its kernel
cache on every source file that mentions numba (snarkgpt/__init__.py), so an edit here
recompiles the g2/pairing kernels too (unless NUMBA_CACHE_DIR is set by hand: then clear it).

Constants (xi, the Frobenius coefficients xi^(i(q^k-1)/6), the twist constant 3/xi) are
computed once with Python integers at import time and frozen into the kernels by Numba.
"""
import numba as nb
import numpy as np

from ..field import arith
from ..field.arith import U0, U1
from ..field.arith import load as load_fq         # row i of an (m, 4) array as an Fq
from ..field.arith import store as store_fq
from ..field.params import FQ_MODULUS as q
from ..field.params import FQ_ONE, FQ_P, to_limbs

# Every tower kernel is an ordinary (not Numba-IR-inlined) Numba function; the Fq operations
# inside are single LLVM intrinsic nodes (field/arith.py). Inlining the Fq2 layer at Numba IR
# level as well was measured: twice the compile time for no speed-up. (With the Numba-level
# limb kernels instead of the intrinsics, IR inlining through the tower took minutes.)
_inl = nb.njit(inline="always")   # only for leaf helpers that call nothing (array access)
_fn = nb.njit(nogil=True)
_JIT = dict(cache=True, nogil=True)

# BN254 curve parameter x (positive); the ate loop runs over 6x + 2.
BN_X = 4965661367192848881


# ---------------------------------------------------------------------------------------
# Reference arithmetic on Python ints (import-time constants and tests only)
# ---------------------------------------------------------------------------------------
def py_fq2_mul(a, b):
    return ((a[0] * b[0] - a[1] * b[1]) % q, (a[0] * b[1] + a[1] * b[0]) % q)


def py_fq2_pow(a, e):
    acc = (1, 0)
    for bit in bin(e)[2:]:
        acc = py_fq2_mul(acc, acc)
        if bit == "1":
            acc = py_fq2_mul(acc, a)
    return acc


def py_fq2_inv(a):
    n = pow(a[0] * a[0] + a[1] * a[1], -1, q)
    return (a[0] * n % q, -a[1] * n % q)


def naf(n: int) -> list:
    """Non-adjacent form of n > 0, least significant digit first (digits in {-1, 0, 1})."""
    out = []
    while n:
        if n & 1:
            d = 2 - (n & 3)
            n -= d
        else:
            d = 0
        out.append(d)
        n >>= 1
    return out


def mont(v: int) -> tuple:
    """Python int -> Fq Montgomery limb tuple."""
    return to_limbs((v % q) * (1 << 256) % q)


def mont2(a) -> tuple:
    return (mont(a[0]), mont(a[1]))


XI_INT = (9, 1)
TWIST_B_INT = py_fq2_mul((3, 0), py_fq2_inv(XI_INT))          # b' = 3 / xi
FROB_INT = [[py_fq2_pow(XI_INT, i * (q ** k - 1) // 6) for i in range(6)] for k in (1, 2, 3)]
assert all(c[1] == 0 for c in FROB_INT[1]), "xi^(i(q^2-1)/6) lies in Fq"

FQ_ZERO = (U0, U0, U0, U0)
FQ2_ZERO = (FQ_ZERO, FQ_ZERO)
FQ2_ONE = (FQ_ONE, FQ_ZERO)
FQ6_ZERO = (FQ2_ZERO, FQ2_ZERO, FQ2_ZERO)
FQ6_ONE = (FQ2_ONE, FQ2_ZERO, FQ2_ZERO)
FQ12_ONE = (FQ6_ONE, FQ6_ZERO)
TWIST_B = mont2(TWIST_B_INT)
TWIST_B3 = mont2((3 * TWIST_B_INT[0], 3 * TWIST_B_INT[1]))
# Frobenius coefficients by power of w: FROB1[i] = xi^(i(q-1)/6), etc.
FROB1 = tuple(mont2(c) for c in FROB_INT[0])
FROB2 = tuple(mont(c[0]) for c in FROB_INT[1])
FROB3 = tuple(mont2(c) for c in FROB_INT[2])
FQ_RAW_ONE = (U1, U0, U0, U0)                       # Montgomery-multiplying by this leaves form
FQ_HALF_LIMBS = to_limbs((q - 1) // 2)              # (q-1)/2, for "lexicographically largest"
FQ_PM2 = to_limbs(q - 2)
X_NAF = tuple(reversed(naf(BN_X)))                  # most significant digit first


# ---------------------------------------------------------------------------------------
# Fq
# ---------------------------------------------------------------------------------------
# Fq: the straight-line LLVM intrinsics of field/arith.py (one IR node each for Numba).
fq_mul = arith.fq_mul
fq_add = arith.fq_add
fq_sub = arith.fq_sub
fq_neg = arith.fq_neg
fq_pow = arith.fq_pow           # fixed 4-bit windows


@_fn
def fq_sqr(a):
    return fq_mul(a, a)


@_fn
def fq_dbl(a):
    return fq_add(a, a)


@_fn
def is_zero(a):
    return (a[0] | a[1] | a[2] | a[3]) == U0


@_fn
def eq(a, b):
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


@_fn
def fq_half(a):
    """a / 2 mod q: add q when a is odd (no overflow, a + q < 2^255), then shift right."""
    t0, t1, t2, t3 = a[0], a[1], a[2], a[3]
    if t0 & U1:
        s = t0 + FQ_P[0]
        c = U1 if s < t0 else U0
        t0 = s
        s = t1 + FQ_P[1]
        c1 = U1 if s < t1 else U0
        s2 = s + c
        c1 += U1 if s2 < s else U0
        t1 = s2
        s = t2 + FQ_P[2]
        c2 = U1 if s < t2 else U0
        s2 = s + c1
        c2 += U1 if s2 < s else U0
        t2 = s2
        t3 = t3 + FQ_P[3] + c2
    s63 = np.uint64(63)
    return ((t0 >> U1) | (t1 << s63), (t1 >> U1) | (t2 << s63), (t2 >> U1) | (t3 << s63), t3 >> U1)


@_fn
def fq_inv(a):
    """a^(q-2) (zero maps to zero)."""
    return fq_pow(a, FQ_PM2)


@_fn
def fq_to_canonical(a):
    return fq_mul(a, FQ_RAW_ONE)


@_fn
def limbs_gt(a, b):
    """a > b for 4-limb unsigned integers."""
    for i in range(3, -1, -1):
        if a[i] != b[i]:
            return a[i] > b[i]
    return False


@_fn
def fq_is_lex_largest(a):
    """True when the canonical value of a exceeds (q-1)/2 (gnark's LexicographicallyLargest)."""
    return limbs_gt(fq_to_canonical(a), FQ_HALF_LIMBS)


# ---------------------------------------------------------------------------------------
# Fq2
# ---------------------------------------------------------------------------------------
@_fn
def fq2_add(a, b):
    return (fq_add(a[0], b[0]), fq_add(a[1], b[1]))


@_fn
def fq2_sub(a, b):
    return (fq_sub(a[0], b[0]), fq_sub(a[1], b[1]))


@_fn
def fq2_neg(a):
    return (fq_neg(a[0]), fq_neg(a[1]))


@_fn
def fq2_dbl(a):
    return (fq_dbl(a[0]), fq_dbl(a[1]))


@_fn
def fq2_half(a):
    return (fq_half(a[0]), fq_half(a[1]))


@_fn
def fq2_conj(a):
    return (a[0], fq_neg(a[1]))


@_fn
def fq2_mul(a, b):
    """Karatsuba: 3 Fq products."""
    t0 = fq_mul(a[0], b[0])
    t1 = fq_mul(a[1], b[1])
    t2 = fq_mul(fq_add(a[0], a[1]), fq_add(b[0], b[1]))
    return (fq_sub(t0, t1), fq_sub(fq_sub(t2, t0), t1))


@_fn
def fq2_sqr(a):
    """Complex squaring: (a0 + a1)(a0 - a1) + 2 a0 a1 u, 2 Fq products."""
    t = fq_mul(a[0], a[1])
    return (fq_mul(fq_add(a[0], a[1]), fq_sub(a[0], a[1])), fq_dbl(t))


@_fn
def fq2_mul_fq(a, s):
    return (fq_mul(a[0], s), fq_mul(a[1], s))


@_fn
def fq_mul9(a):
    a2 = fq_dbl(a)
    a4 = fq_dbl(a2)
    return fq_add(fq_dbl(a4), a)


@_fn
def fq2_mul_xi(a):
    """(a0 + a1 u)(9 + u) = (9 a0 - a1) + (a0 + 9 a1) u."""
    return (fq_sub(fq_mul9(a[0]), a[1]), fq_add(a[0], fq_mul9(a[1])))


@_fn
def fq2_is_zero(a):
    return is_zero(a[0]) and is_zero(a[1])


@_fn
def fq2_eq(a, b):
    return eq(a[0], b[0]) and eq(a[1], b[1])


@_fn
def fq2_inv(a):
    """1 / (a0 + a1 u) = (a0 - a1 u) / (a0^2 + a1^2); zero maps to zero."""
    n = fq_add(fq_sqr(a[0]), fq_sqr(a[1]))
    ni = fq_inv(n)
    return (fq_mul(a[0], ni), fq_neg(fq_mul(a[1], ni)))


def limb_power(sqr, mul, one):
    """The function (a, e) -> a^e, e a 4-limb exponent tuple, for the group with these
    squaring, product and identity: left to right, no squaring before the top set bit."""

    @_fn
    def power(a, e):
        acc = one
        started = False
        for li in range(3, -1, -1):
            word = e[li]
            for bit in range(63, -1, -1):
                if started:
                    acc = sqr(acc)
                if (word >> np.uint64(bit)) & U1:
                    acc = mul(acc, a)
                    started = True
        return acc

    return power


fq2_pow = limb_power(fq2_sqr, fq2_mul, FQ2_ONE)     # a^e in Fq2


FQ_QM3_4 = to_limbs((q - 3) // 4)
FQ_QM1_2 = to_limbs((q - 1) // 2)


@_fn
def fq2_sqrt(a):
    """A square root of a in Fq2 (q = 3 mod 4), as (found, root).

    Algorithm 9 of Adj and Rodriguez-Henriquez, "Square root computation over even extension
    fields"; the candidate is squared back so a non-residue can never slip through."""
    a1 = fq2_pow(a, FQ_QM3_4)                       # a^((q-3)/4)
    alpha = fq2_mul(fq2_mul(a1, a1), a)             # a^((q-1)/2)
    x0 = fq2_mul(a1, a)                             # a^((q+1)/4)
    minus_one = (fq_neg(FQ_ONE), FQ_ZERO)
    if fq2_eq(alpha, minus_one):
        x = (fq_neg(x0[1]), x0[0])                  # u * x0
    else:
        b = fq2_pow(fq2_add(FQ2_ONE, alpha), FQ_QM1_2)
        x = fq2_mul(b, x0)
    return fq2_eq(fq2_sqr(x), a), x


@_fn
def fq2_is_lex_largest(a):
    """gnark's order on Fq2: compare c1, or c0 when c1 is zero."""
    if is_zero(a[1]):
        return fq_is_lex_largest(a[0])
    return fq_is_lex_largest(a[1])


# ---------------------------------------------------------------------------------------
# Fq6 = Fq2[v] / (v^3 - xi)
# ---------------------------------------------------------------------------------------
@_fn
def fq6_add(a, b):
    return (fq2_add(a[0], b[0]), fq2_add(a[1], b[1]), fq2_add(a[2], b[2]))


@_fn
def fq6_sub(a, b):
    return (fq2_sub(a[0], b[0]), fq2_sub(a[1], b[1]), fq2_sub(a[2], b[2]))


@_fn
def fq6_neg(a):
    return (fq2_neg(a[0]), fq2_neg(a[1]), fq2_neg(a[2]))


@_fn
def fq6_mul_by_v(a):
    """(a0 + a1 v + a2 v^2) v = xi a2 + a0 v + a1 v^2."""
    return (fq2_mul_xi(a[2]), a[0], a[1])


@_fn
def fq6_mul(a, b):
    """Karatsuba over Fq2: 6 Fq2 products."""
    a0, a1, a2 = a
    b0, b1, b2 = b
    t0 = fq2_mul(a0, b0)
    t1 = fq2_mul(a1, b1)
    t2 = fq2_mul(a2, b2)
    c0 = fq2_add(fq2_mul_xi(fq2_sub(fq2_sub(fq2_mul(fq2_add(a1, a2), fq2_add(b1, b2)), t1), t2)), t0)
    c1 = fq2_add(fq2_sub(fq2_sub(fq2_mul(fq2_add(a0, a1), fq2_add(b0, b1)), t0), t1), fq2_mul_xi(t2))
    c2 = fq2_add(fq2_sub(fq2_sub(fq2_mul(fq2_add(a0, a2), fq2_add(b0, b2)), t0), t2), t1)
    return (c0, c1, c2)


@_fn
def fq6_sqr(a):
    """Chung-Hasan SQR2: 2 Fq2 products and 3 Fq2 squarings."""
    a0, a1, a2 = a
    s0 = fq2_sqr(a0)
    s1 = fq2_dbl(fq2_mul(a0, a1))
    s2 = fq2_sqr(fq2_add(fq2_sub(a0, a1), a2))
    s3 = fq2_dbl(fq2_mul(a1, a2))
    s4 = fq2_sqr(a2)
    c0 = fq2_add(fq2_mul_xi(s3), s0)
    c1 = fq2_add(fq2_mul_xi(s4), s1)
    c2 = fq2_sub(fq2_sub(fq2_add(fq2_add(s1, s2), s3), s0), s4)
    return (c0, c1, c2)


@_fn
def fq6_mul_by_fq2(a, s):
    return (fq2_mul(a[0], s), fq2_mul(a[1], s), fq2_mul(a[2], s))


@_fn
def fq6_mul_by_01(a, b0, b1):
    """a * (b0 + b1 v): 5 Fq2 products."""
    a0, a1, a2 = a
    t0 = fq2_mul(a0, b0)
    t1 = fq2_mul(a1, b1)
    c0 = fq2_add(fq2_mul_xi(fq2_sub(fq2_mul(fq2_add(a1, a2), b1), t1)), t0)
    c1 = fq2_sub(fq2_sub(fq2_mul(fq2_add(a0, a1), fq2_add(b0, b1)), t0), t1)
    c2 = fq2_add(fq2_sub(fq2_mul(fq2_add(a0, a2), b0), t0), t1)
    return (c0, c1, c2)


@_fn
def fq6_inv(a):
    a0, a1, a2 = a
    c0 = fq2_sub(fq2_sqr(a0), fq2_mul_xi(fq2_mul(a1, a2)))
    c1 = fq2_sub(fq2_mul_xi(fq2_sqr(a2)), fq2_mul(a0, a1))
    c2 = fq2_sub(fq2_sqr(a1), fq2_mul(a0, a2))
    t = fq2_add(fq2_mul(a0, c0), fq2_mul_xi(fq2_add(fq2_mul(a2, c1), fq2_mul(a1, c2))))
    ti = fq2_inv(t)
    return (fq2_mul(c0, ti), fq2_mul(c1, ti), fq2_mul(c2, ti))


@_fn
def fq6_is_zero(a):
    return fq2_is_zero(a[0]) and fq2_is_zero(a[1]) and fq2_is_zero(a[2])


@_fn
def fq6_eq(a, b):
    return fq2_eq(a[0], b[0]) and fq2_eq(a[1], b[1]) and fq2_eq(a[2], b[2])


# ---------------------------------------------------------------------------------------
# Fq12 = Fq6[w] / (w^2 - v)
# ---------------------------------------------------------------------------------------
@_fn
def fq12_add(a, b):
    return (fq6_add(a[0], b[0]), fq6_add(a[1], b[1]))


@_fn
def fq12_sub(a, b):
    return (fq6_sub(a[0], b[0]), fq6_sub(a[1], b[1]))


@_fn
def fq12_neg(a):
    return (fq6_neg(a[0]), fq6_neg(a[1]))


@_fn
def fq12_conj(a):
    """a^(q^6): w -> -w. The inverse of an element of the cyclotomic subgroup."""
    return (a[0], fq6_neg(a[1]))


@_fn
def fq12_mul(a, b):
    """Karatsuba over Fq6: 3 Fq6 products (54 Fq products)."""
    t0 = fq6_mul(a[0], b[0])
    t1 = fq6_mul(a[1], b[1])
    c1 = fq6_sub(fq6_sub(fq6_mul(fq6_add(a[0], a[1]), fq6_add(b[0], b[1])), t0), t1)
    return (fq6_add(t0, fq6_mul_by_v(t1)), c1)


@_fn
def fq12_sqr(a):
    """Complex squaring over Fq6: 2 Fq6 products."""
    a0, a1 = a
    ab = fq6_mul(a0, a1)
    t = fq6_mul(fq6_add(a0, a1), fq6_add(a0, fq6_mul_by_v(a1)))
    c0 = fq6_sub(fq6_sub(t, ab), fq6_mul_by_v(ab))
    return (c0, fq6_add(ab, ab))


@_fn
def fq12_inv(a):
    a0, a1 = a
    t = fq6_sub(fq6_sqr(a0), fq6_mul_by_v(fq6_sqr(a1)))
    ti = fq6_inv(t)
    return (fq6_mul(a0, ti), fq6_neg(fq6_mul(a1, ti)))


@_fn
def fq12_mul_by_034(f, l0, l3, l4):
    """f * (l0 + l3 w + l4 w^3), the shape of a line evaluated at a G1 point (13 Fq2 products).

    In the (g, h) split the line is (l0, 0, 0) + (l3, l4, 0) w."""
    f0, f1 = f
    a = fq6_mul_by_fq2(f0, l0)
    b = fq6_mul_by_01(f1, l3, l4)
    e = fq6_mul_by_01(fq6_add(f0, f1), fq2_add(l0, l3), l4)
    c1 = fq6_sub(fq6_sub(e, a), b)
    return (fq6_add(a, fq6_mul_by_v(b)), c1)


@_fn
def fq12_frobenius(a):
    """a^q: conjugate every Fq2 coefficient and scale the w^i one by xi^(i(q-1)/6)."""
    g, h = a
    return ((fq2_conj(g[0]),
             fq2_mul(fq2_conj(g[1]), FROB1[2]),
             fq2_mul(fq2_conj(g[2]), FROB1[4])),
            (fq2_mul(fq2_conj(h[0]), FROB1[1]),
             fq2_mul(fq2_conj(h[1]), FROB1[3]),
             fq2_mul(fq2_conj(h[2]), FROB1[5])))


@_fn
def fq12_frobenius2(a):
    """a^(q^2): the Fq2 coefficients are fixed, the w^i one scaled by xi^(i(q^2-1)/6) in Fq."""
    g, h = a
    return ((g[0], fq2_mul_fq(g[1], FROB2[2]), fq2_mul_fq(g[2], FROB2[4])),
            (fq2_mul_fq(h[0], FROB2[1]), fq2_mul_fq(h[1], FROB2[3]), fq2_mul_fq(h[2], FROB2[5])))


@_fn
def fq12_frobenius3(a):
    """a^(q^3)."""
    g, h = a
    return ((fq2_conj(g[0]),
             fq2_mul(fq2_conj(g[1]), FROB3[2]),
             fq2_mul(fq2_conj(g[2]), FROB3[4])),
            (fq2_mul(fq2_conj(h[0]), FROB3[1]),
             fq2_mul(fq2_conj(h[1]), FROB3[3]),
             fq2_mul(fq2_conj(h[2]), FROB3[5])))


@_fn
def fq4_sqr(a, b):
    """(a + b s)^2 in Fq4 = Fq2[s] / (s^2 - xi), as (a^2 + xi b^2, 2ab): 3 Fq2 squarings."""
    t0 = fq2_sqr(a)
    t1 = fq2_sqr(b)
    return fq2_add(t0, fq2_mul_xi(t1)), fq2_sub(fq2_sub(fq2_sqr(fq2_add(a, b)), t0), t1)


@_fn
def fq12_cyclotomic_sqr(f):
    """Square of an element of the cyclotomic subgroup (norm 1 over Fq6 and Fq4 ...).

    Granger-Scott: view Fq12 as Fq4[w] / (w^3 - s) with s = w^3, s^2 = xi, so that
    f = A + B w + C w^2 with A = g0 + h1 s, B = h0 + g2 s, C = g1 + h2 s. For f in the
    cyclotomic subgroup, f^2 = (3A^2 - 2conj(A)) + (3 s C^2 + 2conj(B)) w + (3B^2 - 2conj(C)) w^2,
    9 Fq2 squarings in all (18 Fq products instead of 36)."""
    g, h = f
    ar, ai = fq4_sqr(g[0], h[1])
    br, bi = fq4_sqr(h[0], g[2])
    cr, ci = fq4_sqr(g[1], h[2])
    # A' = 3 A^2 - 2 conj(A)
    ng0 = fq2_add(fq2_dbl(fq2_sub(ar, g[0])), ar)
    nh1 = fq2_add(fq2_dbl(fq2_add(ai, h[1])), ai)
    # B' = 3 s C^2 + 2 conj(B);  s (cr + ci s) = xi ci + cr s
    t = fq2_mul_xi(ci)
    nh0 = fq2_add(fq2_dbl(fq2_add(t, h[0])), t)
    ng2 = fq2_add(fq2_dbl(fq2_sub(cr, g[2])), cr)
    # C' = 3 B^2 - 2 conj(C)
    ng1 = fq2_add(fq2_dbl(fq2_sub(br, g[1])), br)
    nh2 = fq2_add(fq2_dbl(fq2_add(bi, h[2])), bi)
    return ((ng0, ng1, ng2), (nh0, nh1, nh2))


@_fn
def fq12_cyclotomic_exp_x(f):
    """f^x for the BN parameter x, f in the cyclotomic subgroup (NAF of x, conj = inverse)."""
    finv = fq12_conj(f)
    acc = f
    for i in range(1, len(X_NAF)):
        acc = fq12_cyclotomic_sqr(acc)
        d = X_NAF[i]
        if d == 1:
            acc = fq12_mul(acc, f)
        elif d == -1:
            acc = fq12_mul(acc, finv)
    return acc


@_fn
def fq12_is_one(a):
    return fq6_eq(a[0], FQ6_ONE) and fq6_is_zero(a[1])


@_fn
def fq12_eq(a, b):
    return fq6_eq(a[0], b[0]) and fq6_eq(a[1], b[1])


# ---------------------------------------------------------------------------------------
# Array <-> tuple
# ---------------------------------------------------------------------------------------
@_inl
def load_fq2(a, i):
    """Rows i, i+1 of an (m, 4) array as an Fq2."""
    return (load_fq(a, i), load_fq(a, i + 1))


@_inl
def store_fq2(a, i, v):
    store_fq(a, i, v[0])
    store_fq(a, i + 1, v[1])


@_inl
def load_fq6(a, i):
    return (load_fq2(a, i), load_fq2(a, i + 2), load_fq2(a, i + 4))


@_inl
def store_fq6(a, i, v):
    store_fq2(a, i, v[0])
    store_fq2(a, i + 2, v[1])
    store_fq2(a, i + 4, v[2])


@_inl
def load_fq12(a):
    """A (12, 4) array as an Fq12 tuple."""
    return (load_fq6(a, 0), load_fq6(a, 6))


@_inl
def store_fq12(a, v):
    store_fq6(a, 0, v[0])
    store_fq6(a, 6, v[1])


# ---------------------------------------------------------------------------------------
# Vector entry points (testing and the Python API): one compiled kernel per level
# ---------------------------------------------------------------------------------------
OPS2 = {"add": 0, "sub": 1, "neg": 2, "mul": 3, "sqr": 4, "inv": 5, "conj": 6, "mul_xi": 7,
        "sqrt": 8}
OPS6 = {"add": 0, "sub": 1, "neg": 2, "mul": 3, "sqr": 4, "inv": 5, "mul_by_v": 6, "mul_by_01": 7}
OPS12 = {"add": 0, "sub": 1, "neg": 2, "mul": 3, "sqr": 4, "inv": 5, "conj": 6, "frob": 7,
         "frob2": 8, "frob3": 9, "cyc_sqr": 10, "mul_by_034": 11, "exp_x": 12}


@nb.njit(**_JIT)
def _fq2_kernel(op, a, b, out):
    """a, b, out: (n, 2, 4). Returns the number of failed square roots (op 'sqrt')."""
    fails = 0
    for i in range(a.shape[0]):
        x = load_fq2(a[i], 0)
        y = load_fq2(b[i], 0)
        if op == 0:
            r = fq2_add(x, y)
        elif op == 1:
            r = fq2_sub(x, y)
        elif op == 2:
            r = fq2_neg(x)
        elif op == 3:
            r = fq2_mul(x, y)
        elif op == 4:
            r = fq2_sqr(x)
        elif op == 5:
            r = fq2_inv(x)
        elif op == 6:
            r = fq2_conj(x)
        elif op == 7:
            r = fq2_mul_xi(x)
        else:
            ok, r = fq2_sqrt(x)
            if not ok:
                fails += 1
                r = FQ2_ZERO
        store_fq2(out[i], 0, r)
    return fails


@nb.njit(**_JIT)
def _fq6_kernel(op, a, b, out):
    """a, b, out: (n, 6, 4)."""
    for i in range(a.shape[0]):
        x = load_fq6(a[i], 0)
        y = load_fq6(b[i], 0)
        if op == 0:
            r = fq6_add(x, y)
        elif op == 1:
            r = fq6_sub(x, y)
        elif op == 2:
            r = fq6_neg(x)
        elif op == 3:
            r = fq6_mul(x, y)
        elif op == 4:
            r = fq6_sqr(x)
        elif op == 5:
            r = fq6_inv(x)
        elif op == 6:
            r = fq6_mul_by_v(x)
        else:
            r = fq6_mul_by_01(x, y[0], y[1])
        store_fq6(out[i], 0, r)


@nb.njit(**_JIT)
def _fq12_kernel(op, a, b, out):
    """a, b, out: (n, 12, 4). For 'mul_by_034' b holds the line as (l0, 0, 0; l3, l4, 0)."""
    for i in range(a.shape[0]):
        x = load_fq12(a[i])
        y = load_fq12(b[i])
        if op == 0:
            r = fq12_add(x, y)
        elif op == 1:
            r = fq12_sub(x, y)
        elif op == 2:
            r = fq12_neg(x)
        elif op == 3:
            r = fq12_mul(x, y)
        elif op == 4:
            r = fq12_sqr(x)
        elif op == 5:
            r = fq12_inv(x)
        elif op == 6:
            r = fq12_conj(x)
        elif op == 7:
            r = fq12_frobenius(x)
        elif op == 8:
            r = fq12_frobenius2(x)
        elif op == 9:
            r = fq12_frobenius3(x)
        elif op == 10:
            r = fq12_cyclotomic_sqr(x)
        elif op == 11:
            r = fq12_mul_by_034(x, y[0][0], y[1][0], y[1][1])
        else:
            r = fq12_cyclotomic_exp_x(x)
        store_fq12(out[i], r)


_WIDTH = {2: (_fq2_kernel, OPS2), 6: (_fq6_kernel, OPS6), 12: (_fq12_kernel, OPS12)}


def tower_op(op: str, a, b=None):
    """Apply one tower operation elementwise to (n, d, 4) Montgomery arrays, d in {2, 6, 12}.

    Mostly for tests and exploration; the pairing calls the scalar kernels directly. 'sqrt'
    (Fq2 only) raises ValueError if some input is not a square."""
    a = np.ascontiguousarray(a, dtype=np.uint64)
    if a.ndim == 2:
        return tower_op(op, a[None], None if b is None else np.asarray(b)[None])[0]
    kernel, ops = _WIDTH[a.shape[1]]
    b = np.zeros_like(a) if b is None else np.ascontiguousarray(b, dtype=np.uint64)
    out = np.empty_like(a)
    res = kernel(ops[op], a, b, out)
    if op == "sqrt" and res:
        raise ValueError(f"{res} of the inputs are not squares in Fq2")
    return out


# ---------------------------------------------------------------------------------------
# Conversions with Python ints (canonical coefficients, same order as the array rows)
# ---------------------------------------------------------------------------------------
def from_ints(values) -> np.ndarray:
    """Canonical coefficient ints (length 2, 6 or 12, row order) -> (d, 4) Montgomery array."""
    return np.array([mont(int(v)) for v in values], dtype=np.uint64)


def to_ints(arr) -> list:
    """(d, 4) Montgomery array -> list of canonical ints."""
    rinv = pow(1 << 256, -1, q)
    out = []
    for row in np.asarray(arr, dtype=np.uint64):
        v = sum(int(row[i]) << (64 * i) for i in range(4))
        out.append(v * rinv % q)
    return out
