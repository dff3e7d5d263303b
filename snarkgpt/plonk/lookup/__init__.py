"""The lookup argument (logUp, one multiplicity column and one running sum per table).

prover.py   multiplicities m, helpers h_l = s_l / (beta + f_l), running sum phi
verifier.py the constraint identities (evaluated by the quotient and by the verifier at x)
"""
from .prover import LookupError_, lookup_columns, multiplicities
from .verifier import compress, lookup_constraints

__all__ = ["LookupError_", "lookup_columns", "multiplicities", "compress", "lookup_constraints"]
