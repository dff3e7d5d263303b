"""The lookup argument (logUp: one multiplicity column per table, one running sum for all).

prover.py   multiplicities m, helpers h_l = s_l / (beta + f_l) and q = m / (beta + t),
            the shared running sum phi
verifier.py the constraint identities (evaluated by the quotient and by the verifier at x)
"""
from .prover import LookupError_, lookup_columns, multiplicities, running_sum
from .verifier import compress, lookup_constraints, tagged

__all__ = ["LookupError_", "lookup_columns", "multiplicities", "running_sum", "compress",
           "lookup_constraints", "tagged"]
