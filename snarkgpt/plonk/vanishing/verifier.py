"""Vanishing argument, verifier side.

From the opened evaluations the verifier computes C(x) = sum_i y^(N-1-i) C_i(x) (every
constraint identity of keygen.Layout, evaluated by `Expression.evaluate_int`), and the value
the quotient must take: h(x) = C(x) / (x^n - 1). The committed pieces are recombined into
[H] = sum_i x^(i n) [h_i'], a commitment to H(X) = sum_i x^(i n) h_i'(X) with H(x) = h(x);
the KZG batch opening at x then proves that the prover's committed quotient really takes
that value: C(x) = h(x) Z_H(x) at a random x, hence C = h Z_H as polynomials (except with
probability deg C / r), hence every constraint holds on every row.
"""
import numpy as np

from snarkgpt.field import FR_MODULUS

P = FR_MODULUS


def expected_quotient_value(constraint_values, y: int, x: int, n: int) -> int | None:
    """h(x) = (sum_i y^(N-1-i) C_i(x)) / (x^n - 1), or None when x^n = 1."""
    acc = 0
    for c in constraint_values:
        acc = (acc * y + c) % P
    zh = (pow(x, n, P) - 1) % P
    if zh == 0:
        return None
    return acc * pow(zh, -1, P) % P


def combined_commitment(pieces: np.ndarray, x: int, n: int):
    """sum_i x^(i n) [h_i'], as a `kzg.Combination` the batch opening's MSM adds up."""
    from ..kzg import Combination
    xn = pow(x, n, P)
    return Combination(list(pieces), [pow(xn, i, P) for i in range(pieces.shape[0])])
