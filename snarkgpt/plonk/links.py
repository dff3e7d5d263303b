"""Link columns: one witness vector committed identically by two proofs.

A circuit split into a chain of segments (snarkgpt.model.segments) passes each boundary
tensor from one segment to the next in a *link column* (`ConstraintSystem.link_column`),
laid out on the same rows of the same domain in both. Its blinding rows are not fresh
randomness but `link_blinding(seed, name)`: a per-generation secret seed, the same for every
segment of one generation, so both proofs commit the link column to the same G1 point. The
verifier of the chain compares the two points (`link_commitments`); each proof's transcript
absorbs them in its first round (`protocol.rounds`: "links"), before any challenge. Why that
is binding and still zero knowledge: docs/protocol.md, "Segments and links".
"""
from __future__ import annotations

import hashlib

import numpy as np

from snarkgpt.field import FR_MODULUS, Fr

from .proof import Proof

__all__ = ["SEED_BYTES", "link_blinding", "link_commitments", "LinkSeedError"]

SEED_BYTES = 32


class LinkSeedError(ValueError):
    """A link seed that is missing or malformed."""


def link_blinding(seed: bytes, name: str, count: int) -> np.ndarray:
    """``count`` field elements for the blinding rows of link column ``name``: SHA-512 of
    (domain tag, seed, name, row) reduced mod r, so each is within 2^-250 of uniform and
    independent of the others for a secret uniform seed."""
    if not isinstance(seed, (bytes, bytearray)) or len(seed) != SEED_BYTES:
        raise LinkSeedError(f"a link seed is {SEED_BYTES} secret random bytes")
    tag = b"snarkgpt-link-blinding\x00" + bytes(seed) + name.encode() + b"\x00"
    return Fr.from_ints([int.from_bytes(hashlib.sha512(tag + j.to_bytes(4, "little")).digest(),
                                        "little") % FR_MODULUS for j in range(count)])


def link_commitments(vk, proof: Proof) -> dict:
    """{link column name: its commitment (8 uint64 limbs)} as the proof sends them: the
    first round's points, in the order of the key's link columns."""
    links = vk.layout.links
    return {c.name: proof.commitments[i] for i, c in enumerate(links)}
