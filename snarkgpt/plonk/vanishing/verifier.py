"""Vanishing argument, verifier side.

From the opened evaluations the verifier computes C(x) = sum_i y^(N-1-i) C_i(x) (every
constraint identity of layout.Layout), and the value the quotient must take:
h(x) = C(x) / (x^n - 1). The committed pieces recombine into [H] = sum_i x^(i n) [h_i'], a
commitment to H(X) = sum_i x^(i n) h_i'(X). The verifier folds them, scaled by
-(x^n - 1), into the linearization commitment (linearization.py), whose opening at x proves
C(x) = H(x) Z_H(x) at a random x, hence C = h Z_H as polynomials (except with probability
deg C / r), hence every constraint holds on every row. `expected_quotient_value` is the
same identity without linearization: the prover's own check uses it.
"""

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
