"""Committed columns, prover side: re-randomize, prove the re-randomization is well formed.

For every committed column c the prover draws fresh values b'_c for the rows J = [u, n)
and uses, in this proof only, the polynomial

    w'_c(X) = w_c(X) + sum_{j in J} delta_c[j] L_j(X),     delta_c = b'_c - b_c,

which equals the committed w_c on every row < u (so every constraint reads the same values)
and whose rows J are fresh random values. It sends D_c = sum_j delta_c[j] P_j; the verifier
uses C_c + D_c = [w'_c(tau)] as the column's commitment. Then, Fiat-Shamir through the
transcript, a proof that every D_c lies in the span of the P_j (Okamoto's proof of
knowledge of a representation, batched over the columns with a challenge alpha):

    absorb D_1..D_C;  alpha;  d* = sum_c alpha^(c-1) delta_c
    s random in F^B;  A = sum_j s_j P_j;  absorb A;  e;  z = s + e d*;  absorb z

The verifier checks sum_j z_j P_j = A + e sum_c alpha^(c-1) D_c. Messages: C + 1 points
and B = n - u scalars per proof.
"""
from __future__ import annotations

import numpy as np

from snarkgpt.curve.msm import msm
from snarkgpt.field import Fr

__all__ = ["rerandomize", "RepresentationProof", "basis_coeffs"]


def rerandomize(pk, rng=None):
    """Fresh rows J for every committed column, written into ``pk.fixed_values`` and
    ``pk.fixed_coeffs`` (in place: a proving key with committed columns serves one proof
    at a time). Returns (delta (C, B, 4), D (C, 8))."""
    idx = pk.committed
    u = pk.layout.desc.usable_rows
    basis = pk.vk.blinding_basis
    B = basis.shape[0]
    deltas = np.zeros((len(idx), B, 4), dtype=np.uint64)
    D = np.zeros((len(idx), 8), dtype=np.uint64)
    for i, c in enumerate(idx):
        fresh = Fr.random(B, rng)
        deltas[i] = Fr.sub(fresh, pk.committed_blinding[i])
        pk.fixed_values[c][u:] = fresh
        pk.domain.intt(pk.fixed_values[c], out=pk.fixed_coeffs[c])
        D[i] = msm(basis, deltas[i])
    return deltas, D


def _fold(rows: np.ndarray, alpha: int) -> np.ndarray:
    """sum_c alpha^c rows[c] (Horner), rows (C, B, 4)."""
    acc = rows[-1].copy()
    for c in range(rows.shape[0] - 2, -1, -1):
        acc = Fr.add(Fr.scale(acc, alpha), rows[c])
    return acc


class RepresentationProof:
    """The batched proof of knowledge, in its two rounds (protocol.py: committed.pok.A after
    alpha, committed.pok.z after e): A = sum_j s_j P_j for a random s, then z = s + e d*."""

    def __init__(self, pk, deltas: np.ndarray, alpha: int, rng=None):
        basis = pk.vk.blinding_basis
        self.dstar = _fold(deltas, alpha)
        self.s = Fr.random(basis.shape[0], rng)
        self.A = msm(basis, self.s)

    def responses(self, e: int) -> list:
        """z = s + e d*, as Python ints."""
        return Fr.to_ints(Fr.add(self.s, Fr.scale(self.dstar, e)))


def basis_coeffs(pk) -> list:
    """Coefficients of L_j, j in [u, n) (opened at x with the values L_j(x), which checks
    that the key's P_j are these polynomials' commitments); kept on the key."""
    if pk.basis_coeffs is None:
        n, u = pk.layout.desc.n, pk.layout.desc.usable_rows
        one = np.array(Fr.one_limbs, dtype=np.uint64)
        pk.basis_coeffs = []
        for j in range(u, n):
            e = np.zeros((n, 4), dtype=np.uint64)
            e[j] = one
            pk.basis_coeffs.append(pk.domain.intt(e))
    return pk.basis_coeffs
