"""The vanishing argument: the quotient h = (sum_i y^i C_i) / Z_H, committed in pieces.

prover.py   evaluate every constraint on the extended coset, divide by Z_H, split and blind
verifier.py recombine the pieces at x and check sum_i y^i C_i(x) = h(x) (x^n - 1)
"""
from .prover import blind_pieces, quotient
from .verifier import combined_commitment, expected_quotient_value

__all__ = ["quotient", "blind_pieces", "combined_commitment", "expected_quotient_value"]
