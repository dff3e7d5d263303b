"""The vanishing argument: the quotient h = (sum_i y^i C_i) / Z_H, committed in pieces.

prover.py   evaluate every constraint on the extended coset, divide by Z_H, split and blind
verifier.py h(x) from the constraints at x (the pieces are checked inside linearization.py's L)
"""
from .prover import blind_pieces, quotient
from .verifier import expected_quotient_value

__all__ = ["quotient", "blind_pieces", "expected_quotient_value"]
