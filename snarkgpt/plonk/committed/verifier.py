"""Committed columns, verifier side: the representation proof of the re-randomizations.

See prover.py for the messages. Checks sum_j z_j P_j - A - e sum_c alpha^(c-1) D_c = O
(one small MSM) and returns {fixed column index: C_c + D_c}, the commitments the openings
of this proof are checked against. The P_j themselves are checked in the batch opening at
x: each is opened to L_j(x), which the verifier computes (verifier.py)."""
from __future__ import annotations

import numpy as np

from snarkgpt.curve import g1
from snarkgpt.curve.msm import msm
from snarkgpt.field import FR_MODULUS, Fr

__all__ = ["check_representation", "CommittedColumnError"]


class CommittedColumnError(Exception):
    """The re-randomization of the committed columns is not proven well formed."""


def check_representation(vk, D: np.ndarray, A: np.ndarray, z, alpha: int, e: int) -> dict:
    """The representation proof's check, with the messages D, A, z and the challenges alpha,
    e of its rounds (protocol.py). Returns {fixed column index: C_c + D_c}."""
    idx = vk.layout.committed
    basis = vk.blinding_basis
    C = len(idx)
    scal = [int(v) for v in z] + [FR_MODULUS - 1]
    ai = 1
    for _ in range(C):
        scal.append(-e * ai % FR_MODULUS)
        ai = ai * alpha % FR_MODULUS
    pts = np.ascontiguousarray(np.concatenate([basis, A.reshape(1, 8), D]))
    if not g1.is_identity(msm(pts, Fr.from_ints(scal))):
        raise CommittedColumnError("the committed columns' re-randomization proof does not "
                                   "verify (D is not a blinding-row offset: the proof does not "
                                   "use the committed values)")
    return {c: g1.add(vk.fixed_commitments[c], D[i]) for i, c in enumerate(idx)}
