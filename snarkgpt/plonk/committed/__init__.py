"""Committed columns: values fixed at setup, hidden behind a commitment published once.

A committed column (`ConstraintSystem.committed_column`) is assigned like a fixed column
(the values do not depend on the witness and are the same in every proof), but the
verifying key holds a *hiding* commitment to it instead of a binding-only one, and every
proof re-randomizes the committed polynomial before opening it. See
docs/committed-weights.md for the protocol and its soundness and zero-knowledge argument.

keygen.py    blinding rows at setup (the private part), the public blinding basis
prover.py    per-proof re-randomization D_c and the proof of knowledge of its representation
verifier.py  checking that proof; C_c + D_c is the column's commitment in that proof
"""
from .keygen import COMMITTED, blind_committed, blinding_basis, committed_indices

__all__ = ["COMMITTED", "blind_committed", "blinding_basis", "committed_indices"]
