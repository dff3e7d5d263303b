"""Committed columns, setup side.

Rows J = [u, n) of every committed column (u = usable rows: the last row and the blinding
rows) hold random values b_c drawn at setup. The verifying key publishes

    C_c = sum_{i < u} w_c[i] [L_i(tau)] + sum_{j in J} b_c[j] [L_j(tau)]

(a Pedersen-style commitment: uniformly random given any w_c, since some L_j(tau) != 0),
and the blinding basis P_j = [L_j(tau)]G1, j in J, over which every proof's
re-randomization is expressed. The values w_c (the model's weights) and the blinding b_c
stay with the prover: b_c is the private part a key owner must keep (without it no proof
can be made against C_c; with it and w_c, anyone can prove).
"""
from __future__ import annotations

import numpy as np

from snarkgpt.field import Fr

COMMITTED = "committed"
"""The role (`Column.role`) of a committed column: a FIXED column whose values are private."""


def committed_indices(fixed_columns) -> list[int]:
    """Indices (among the fixed columns) of the committed columns, in order."""
    return [c.index for c in fixed_columns if c.role == COMMITTED]


def blind_committed(fixed_values: np.ndarray, indices, usable: int, blinding=None,
                    rng=None) -> np.ndarray:
    """Write the setup blinding into rows [usable, n) of each committed column of
    ``fixed_values`` (in place) and return it, (len(indices), n - usable, 4) Montgomery.

    ``blinding``: the key owner's stored values (to rebuild the same key), or None to draw
    fresh ones (OS randomness unless ``rng``, a numpy Generator, is given: tests only)."""
    n = fixed_values.shape[1]
    B = n - usable
    if blinding is None:
        blinding = (np.stack([Fr.random(B, rng) for _ in indices]) if len(indices)
                    else np.zeros((0, B, 4), dtype=np.uint64))
    blinding = np.ascontiguousarray(blinding, dtype=np.uint64)
    if blinding.shape != (len(indices), B, 4):
        raise ValueError(f"committed-column blinding has shape {blinding.shape}, the key needs "
                         f"{(len(indices), B, 4)} (another circuit or k?)")
    for i, c in enumerate(indices):
        fixed_values[c][usable:] = blinding[i]
    return blinding


def blinding_basis(srs, k: int, usable: int) -> np.ndarray:
    """P_j = [L_j(tau)]G1 for the rows j in [usable, 2^k), (n - usable, 8) affine."""
    return np.ascontiguousarray(srs.lagrange(k)[usable:])
