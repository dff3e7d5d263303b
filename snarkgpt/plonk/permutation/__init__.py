"""The permutation (copy-constraint) argument.

keygen.py   sigma_j from the cycles of the copy constraints (identity delta^j * omega^i)
prover.py   the products z_0..z_{s-1}, one running product per chunk of equality-enabled
            columns, chained end to start
constraints.py the constraint identities that the quotient (prover) and the verifier (at x)
            check
"""
from .keygen import DELTA, build_sigmas, identity_values
from .prover import grand_products
from .constraints import permutation_constraints

__all__ = ["DELTA", "build_sigmas", "identity_values", "grand_products", "permutation_constraints"]
