"""The lookup argument (logUp: one multiplicity column per table, one running sum for all).

prover.py   multiplicities m, helper columns h_k (each a signed sum of a few fractions
            s_l / (beta + f_l) and -m_g / (beta + t_g)), the shared running sum phi
constraints.py the fractions, their packing into helpers, and the constraint identities
            (evaluated by the quotient and by the verifier at x: shared by both sides)
"""
from .prover import LookupInputError, helper_columns, multiplicities, running_sum
from .constraints import compress, fractions, helper_degree, lookup_constraints, pack_fractions, tagged

__all__ = ["LookupInputError", "helper_columns", "multiplicities", "running_sum", "compress",
           "fractions", "helper_degree", "lookup_constraints", "pack_fractions", "tagged"]
