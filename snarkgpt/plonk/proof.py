"""The proof's binary format.

    magic b"SGPF" | u16 version (little-endian)
    commitments:  C x 32 bytes, compressed G1 (gnark-crypto flags), in proof order
    evaluations:  E x 32 bytes, canonical little-endian Fr (refused if >= r)
    openings:     O x 32 bytes, compressed G1, one KZG proof per opening point

C, E and O are fixed by the verifying key (`layout.Layout`): C = advice columns + lookup
columns (m per table, h per lookup, phi per table) + permutation products + quotient pieces;
E = the opened (column, rotation) queries; O = the distinct opening points. The parser
refuses truncated or over-long input, non-canonical scalars, bad flags and points off the
curve, with a `ProofFormatError` naming the element and the byte offset.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS

MAGIC = b"SGPF"
VERSION = 1
HEADER = len(MAGIC) + 2

__all__ = ["Proof", "ProofFormatError", "MAGIC", "VERSION", "proof_size"]


class ProofFormatError(ValueError):
    """Malformed proof bytes."""


@dataclass
class Proof:
    commitments: np.ndarray   # (C, 8) affine G1
    evaluations: list         # E Python ints in [0, r)
    openings: np.ndarray      # (O, 8) affine G1
    # the evaluations' 32-byte encodings as parsed (the transcript absorbs exactly these)
    _evaluation_bytes: bytes | None = field(default=None, repr=False, compare=False)

    def evaluation_bytes(self, start: int = 0) -> bytes:
        """The canonical 32-byte little-endian encodings of evaluations[start:]."""
        if self._evaluation_bytes is not None:
            return self._evaluation_bytes[32 * start:]
        return b"".join(int(v).to_bytes(32, "little") for v in self.evaluations[start:])

    def to_bytes(self) -> bytes:
        out = [MAGIC, struct.pack("<H", VERSION)]
        if len(self.commitments):
            out.append(g1.compress(np.ascontiguousarray(self.commitments)))
        out += [int(v).to_bytes(32, "little") for v in self.evaluations]
        if len(self.openings):
            out.append(g1.compress(np.ascontiguousarray(self.openings)))
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes, num_commitments: int, num_evaluations: int,
                   num_openings: int) -> "Proof":
        data = bytes(data)
        want = proof_size(num_commitments, num_evaluations, num_openings)
        if len(data) < HEADER or data[:4] != MAGIC:
            raise ProofFormatError("proof: bad magic (not a snarkgpt proof) at byte 0")
        version = struct.unpack("<H", data[4:6])[0]
        if version != VERSION:
            raise ProofFormatError(f"proof: unsupported version {version} at byte 4 "
                                   f"(this build reads {VERSION})")
        if len(data) < want:
            raise ProofFormatError(f"proof: truncated: {len(data)} bytes, the verifying key "
                                   f"expects {want} (input ends at byte {len(data)})")
        if len(data) > want:
            raise ProofFormatError(f"proof: {len(data) - want} extra bytes after the proof "
                                   f"(at byte {want}; expected exactly {want})")
        pos = HEADER
        ev_at = pos + 32 * num_commitments
        op_at = ev_at + 32 * num_evaluations
        raw_evals = data[ev_at:op_at]
        evals = [int.from_bytes(raw_evals[i:i + 32], "little") for i in range(0, len(raw_evals), 32)]
        if evals and max(evals) >= FR_MODULUS:
            i = next(i for i, v in enumerate(evals) if v >= FR_MODULUS)
            raise ProofFormatError(f"proof: evaluation {i} at byte {ev_at + 32 * i} is not a "
                                   f"canonical scalar (>= r)")
        # the commitments and the opening proofs decompressed together (one batch of roots)
        try:
            points = g1.decompress(data[pos:ev_at] + data[op_at:], num_commitments + num_openings)
        except ValueError as e:
            _points(data, pos, num_commitments, "commitment")      # name the bad point
            _points(data, op_at, num_openings, "opening proof")
            raise ProofFormatError(f"proof: {e}") from None     # pragma: no cover
        return cls(points[:num_commitments], evals, points[num_commitments:], raw_evals)


def proof_size(num_commitments: int, num_evaluations: int, num_openings: int) -> int:
    return HEADER + 32 * (num_commitments + num_evaluations + num_openings)


def _points(data, pos, n, what):
    if n == 0:
        return np.zeros((0, 8), dtype=np.uint64)
    try:
        return g1.decompress(data[pos:pos + 32 * n], n)
    except ValueError:
        pass      # find and name the bad point below
    out = np.zeros((n, 8), dtype=np.uint64)
    for i in range(n):
        off = pos + 32 * i
        try:
            out[i] = g1.decompress(data[off:off + 32], 1)[0]
        except ValueError as e:
            msg = str(e).replace("G1 decompress: point 0: ", "")
            raise ProofFormatError(f"proof: {what} {i} at byte {off}: {msg}") from None
    return out
