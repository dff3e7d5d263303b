"""Vanishing argument, prover side: the quotient polynomial.

Every constraint C_i (gates, lookup and permutation identities; see keygen.Layout) vanishes
on H = {omega^i} exactly when the witness satisfies it on every row, i.e. when Z_H(X) =
X^n - 1 divides the combination C(X) = sum_i y^(N-1-i) C_i(X) (y a challenge). The prover
computes h = C / Z_H. deg C <= D (n - 1) (D the largest constraint degree), so h has degree
< (D - 1) n and is fixed by its values on an extended coset of size n 2^e >= (D - 1) n.

The extended coset g <zeta> (zeta a primitive (n 2^e)-th root of unity, g = 5) is the
union of the 2^e cosets g zeta^j H. For each j we evaluate every column there (a size-n
coset NTT of its coefficients: no column is ever held on the whole extended domain), run
the compiled constraint program (a rotation by omega is a shift by one index inside the
coset), and divide by Z_H, which is the constant (g zeta^j)^n - 1 on that coset. The
interleaved values are then inverse-transformed on the extended coset to h's coefficients.

The pieces: h = sum_i X^(i n) h_i (deg h_i < n) are blinded with random b_1..b_{P-1}:
h_0' = h_0 + b_1 X^n, h_i' = h_i - b_i + b_(i+1) X^n, h_(P-1)' = h_(P-1) - b_(P-1), which
keeps sum_i x^(i n) h_i'(x) = h(x) while each committed piece (n + 1 coefficients) is
uniformly random on its own.
"""
import numpy as np

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain
from snarkgpt.field.ntt import root_of_unity

from ..expression import evaluate_rows_multi

P = FR_MODULUS


class QuotientError(ValueError):
    """The constraints do not vanish on the domain (some constraint fails on some row)."""


def quotient(program, adv_coeffs, fix_coeffs, inst_coeffs, challenges, domain: Domain,
             extension: int, pieces: int, check: bool = True, timings=None) -> np.ndarray:
    """h's coefficients, (pieces * n, 4), from the columns' coefficient arrays (each (c, n, 4))."""
    n, k = domain.n, domain.k
    e = extension.bit_length() - 1
    zeta = root_of_unity(k + e)
    g = domain.shift
    ext = np.empty((n * extension, 4), dtype=np.uint64)

    def on_coset(coeffs, s):
        out = np.empty_like(coeffs)
        for i in range(coeffs.shape[0]):
            domain.coset_ntt(coeffs[i], shift=s, out=out[i])
        return out

    for j in range(extension):
        s = g * pow(zeta, j, P) % P
        adv = on_coset(adv_coeffs, s)
        fix = on_coset(fix_coeffs, s)
        ins = on_coset(inst_coeffs, s)
        vals = evaluate_rows_multi(program, adv, fix, ins, challenges, n)[0]
        zinv = pow((pow(s, n, P) - 1) % P, -1, P)
        ext[j::extension] = Fr.scale(vals, zinv)
    big = Domain(k + e)
    h = big.coset_intt(ext, shift=g)
    if check and h[pieces * n:].any():
        raise QuotientError("the constraints do not vanish on the domain: some gate, lookup or "
                            "copy constraint fails (run MockProver(cs, assignment).report())")
    return np.ascontiguousarray(h[:pieces * n])


def blind_pieces(h: np.ndarray, n: int, pieces: int, rng=None) -> list:
    """[h_i'] as (n + 1, 4) coefficient arrays (see the module docstring)."""
    b = Fr.random(pieces + 1, rng)
    b[0] = 0
    b[pieces] = 0
    out = []
    for i in range(pieces):
        p = np.zeros((n + 1, 4), dtype=np.uint64)
        p[:n] = h[i * n:(i + 1) * n]
        p[0] = Fr.sub(p[0:1], b[i:i + 1])[0]
        p[n] = b[i + 1]
        out.append(p)
    return out
