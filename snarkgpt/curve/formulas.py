"""Point formulas on a curve y^2 = x^3 + b (a = 0), written once over any field.

G1 on the CPU (g1_formulas.py, Fq), G2 (g2.py, Fq2) and G1 on a CUDA device (cuda.py, the
device Fq of field/cuda.py) use the same formulas of the Explicit-Formulas Database:

* Jacobian (X, Y, Z), x = X/Z^2, y = Y/Z^3, infinity Z = 0: dbl-2009-l (2M + 5S),
  madd-2007-bl (7M + 4S), add-2007-bl (11M + 5S);
* XYZZ (X, Y, ZZ, ZZZ), x = X/ZZ, y = Y/ZZZ, infinity ZZ = 0: mdbl-2008-s-1, dbl-2008-s-1
  (6M + 4S), madd-2008-s (8M + 2S), add-2008-s (12M + 2S).

Affine points are (x, y) with the point at infinity (0, 0) ((0, 0) is not on the curve since
b != 0). The additions handle infinity, P == Q and P == -Q. A mixed addition that meets
P == Q doubles the affine operand.

`point_formulas(...)` builds the functions for one field: it takes the field's
operations (Numba functions, intrinsics or CUDA device functions) and constants, and a
decorator `jit` that compiles each formula (numba.njit(nogil=True) on the CPU,
numba.cuda.jit(device=True) on a device). The operations reach the formulas as closure
variables, which Numba freezes as compile-time constants exactly like module globals, so the
compiled code is the same as that of formulas written out per field.

`jit` must not ask for cache=True: Numba's cache key for a closure hashes the closure's
contents, which differ in every process. The kernels that call the formulas are cached, and
they carry the formulas' compiled code with them. Those kernels are defined in other files; the package's
kernel cache is keyed on every source file that mentions numba (snarkgpt/__init__.py), as this
one does, so an edit here recompiles them.
"""
from typing import Callable, NamedTuple


class PointFormulas(NamedTuple):
    """The compiled formulas for one field (unpack them, or pick them by name)."""
    aff_is_inf: Callable
    jac_dbl: Callable
    jac_madd: Callable
    jac_add: Callable
    xyzz_mdbl: Callable
    xyzz_dbl: Callable
    xyzz_madd: Callable
    xyzz_add: Callable


def point_formulas(add, sub, mul, sqr, dbl, is_zero, one, zero, jit) -> PointFormulas:
    """aff_is_inf, jac_dbl, jac_madd, jac_add, xyzz_mdbl, xyzz_dbl, xyzz_madd, xyzz_add over
    the field with these operations.

    add/sub/mul: two elements to one; sqr/dbl: a*a and a+a; is_zero: element to bool;
    one/zero: the constants (Montgomery form); jit: the decorator compiling each function
    (each is compiled only when first used, so a caller pays only for what it calls)."""

    @jit
    def aff_is_inf(x, y):
        return is_zero(x) and is_zero(y)

    @jit
    def jac_dbl(X, Y, Z):
        """dbl-2009-l: 2M + 5S."""
        if is_zero(Z):
            return X, Y, Z
        A = sqr(X)
        B = sqr(Y)
        C = sqr(B)
        t = sub(sub(sqr(add(X, B)), A), C)
        D = dbl(t)
        E = add(dbl(A), A)
        F = sqr(E)
        X3 = sub(F, dbl(D))
        C8 = dbl(dbl(dbl(C)))
        Y3 = sub(mul(E, sub(D, X3)), C8)
        Z3 = dbl(mul(Y, Z))
        return X3, Y3, Z3

    @jit
    def jac_madd(X1, Y1, Z1, x2, y2):
        """Jacobian + affine, madd-2007-bl: 7M + 4S."""
        if aff_is_inf(x2, y2):
            return X1, Y1, Z1
        if is_zero(Z1):
            return x2, y2, one
        Z1Z1 = sqr(Z1)
        U2 = mul(x2, Z1Z1)
        S2 = mul(mul(y2, Z1), Z1Z1)
        H = sub(U2, X1)
        r = dbl(sub(S2, Y1))
        if is_zero(H):
            if is_zero(r):
                return jac_dbl(x2, y2, one)
            return one, one, zero
        HH = sqr(H)
        I4 = dbl(dbl(HH))
        J = mul(H, I4)
        V = mul(X1, I4)
        X3 = sub(sub(sqr(r), J), dbl(V))
        Y3 = sub(mul(r, sub(V, X3)), dbl(mul(Y1, J)))
        Z3 = sub(sub(sqr(add(Z1, H)), Z1Z1), HH)
        return X3, Y3, Z3

    @jit
    def jac_add(X1, Y1, Z1, X2, Y2, Z2):
        """add-2007-bl: 11M + 5S."""
        if is_zero(Z1):
            return X2, Y2, Z2
        if is_zero(Z2):
            return X1, Y1, Z1
        Z1Z1 = sqr(Z1)
        Z2Z2 = sqr(Z2)
        U1 = mul(X1, Z2Z2)
        U2 = mul(X2, Z1Z1)
        S1 = mul(mul(Y1, Z2), Z2Z2)
        S2 = mul(mul(Y2, Z1), Z1Z1)
        H = sub(U2, U1)
        r = dbl(sub(S2, S1))
        if is_zero(H):
            if is_zero(r):
                return jac_dbl(X1, Y1, Z1)
            return one, one, zero
        I = sqr(dbl(H))
        J = mul(H, I)
        V = mul(U1, I)
        X3 = sub(sub(sqr(r), J), dbl(V))
        Y3 = sub(mul(r, sub(V, X3)), dbl(mul(S1, J)))
        Z3 = mul(sub(sub(sqr(add(Z1, Z2)), Z1Z1), Z2Z2), H)
        return X3, Y3, Z3

    @jit
    def xyzz_mdbl(x, y):
        """2 * affine point, mdbl-2008-s-1 (y != 0: no point of order 2 on the curves here)."""
        U = dbl(y)
        V = sqr(U)
        W = mul(U, V)
        S = mul(x, V)
        xx = sqr(x)
        M = add(dbl(xx), xx)
        X3 = sub(sqr(M), dbl(S))
        Y3 = sub(mul(M, sub(S, X3)), mul(W, y))
        return X3, Y3, V, W

    @jit
    def xyzz_dbl(X, Y, ZZ, ZZZ):
        """dbl-2008-s-1: 6M + 4S."""
        if is_zero(ZZ):
            return X, Y, ZZ, ZZZ
        U = dbl(Y)
        V = sqr(U)
        W = mul(U, V)
        S = mul(X, V)
        xx = sqr(X)
        M = add(dbl(xx), xx)
        X3 = sub(sqr(M), dbl(S))
        Y3 = sub(mul(M, sub(S, X3)), mul(W, Y))
        return X3, Y3, mul(V, ZZ), mul(W, ZZZ)

    @jit
    def xyzz_madd(X1, Y1, ZZ1, ZZZ1, x2, y2):
        """XYZZ + affine, madd-2008-s: 8M + 2S."""
        if aff_is_inf(x2, y2):
            return X1, Y1, ZZ1, ZZZ1
        if is_zero(ZZ1):
            return x2, y2, one, one
        U2 = mul(x2, ZZ1)
        S2 = mul(y2, ZZZ1)
        P = sub(U2, X1)
        R = sub(S2, Y1)
        if is_zero(P):
            if is_zero(R):
                return xyzz_mdbl(x2, y2)
            return one, one, zero, zero
        PP = sqr(P)
        PPP = mul(P, PP)
        Q = mul(X1, PP)
        X3 = sub(sub(sqr(R), PPP), dbl(Q))
        Y3 = sub(mul(R, sub(Q, X3)), mul(Y1, PPP))
        return X3, Y3, mul(ZZ1, PP), mul(ZZZ1, PPP)

    @jit
    def xyzz_add(X1, Y1, ZZ1, ZZZ1, X2, Y2, ZZ2, ZZZ2):
        """add-2008-s: 12M + 2S."""
        if is_zero(ZZ1):
            return X2, Y2, ZZ2, ZZZ2
        if is_zero(ZZ2):
            return X1, Y1, ZZ1, ZZZ1
        U1 = mul(X1, ZZ2)
        U2 = mul(X2, ZZ1)
        S1 = mul(Y1, ZZZ2)
        S2 = mul(Y2, ZZZ1)
        P = sub(U2, U1)
        R = sub(S2, S1)
        if is_zero(P):
            if is_zero(R):
                return xyzz_dbl(X1, Y1, ZZ1, ZZZ1)
            return one, one, zero, zero
        PP = sqr(P)
        PPP = mul(P, PP)
        Q = mul(U1, PP)
        X3 = sub(sub(sqr(R), PPP), dbl(Q))
        Y3 = sub(mul(R, sub(Q, X3)), mul(S1, PPP))
        return X3, Y3, mul(mul(ZZ1, ZZ2), PP), mul(mul(ZZZ1, ZZZ2), PPP)

    return PointFormulas(aff_is_inf, jac_dbl, jac_madd, jac_add,
                         xyzz_mdbl, xyzz_dbl, xyzz_madd, xyzz_add)
