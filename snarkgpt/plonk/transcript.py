"""Fiat-Shamir transcript over BLAKE2b (hashlib).

The prover and the verifier feed the same messages in the same order; each challenge is a
hash of everything absorbed so far, so the prover cannot choose commitments after seeing the
challenges they depend on. Every message is framed as (label, length, bytes) so that no two
different message sequences hash alike. A challenge is 64 hash bytes reduced mod r (bias
below 2^-250), and is itself absorbed so that later challenges depend on it.
"""
import hashlib
import struct

import numpy as np

from ..field import FR_MODULUS, Fq, Fr

DOMAIN_TAG = b"snarkgpt-transcript-v1"


class Transcript:
    """An append-only Fiat-Shamir transcript."""

    def __init__(self, protocol_label: bytes = b"snarkgpt"):
        self._h = hashlib.blake2b(digest_size=64)
        self._absorb(b"domain", DOMAIN_TAG + b"/" + protocol_label)

    def _absorb(self, label: bytes, data: bytes):
        self._h.update(struct.pack("<I", len(label)) + label)
        self._h.update(struct.pack("<Q", len(data)) + data)

    def absorb_bytes(self, label: str, data: bytes):
        self._absorb(label.encode(), bytes(data))

    def absorb_scalars(self, label: str, values):
        """Absorb Fr elements given as Python ints (reduced mod r) or an (n, 4) Montgomery array."""
        if isinstance(values, np.ndarray):
            data = Fr.to_canonical(values).astype("<u8").tobytes()
        else:
            data = b"".join((int(v) % FR_MODULUS).to_bytes(32, "little") for v in values)
        self._absorb(label.encode(), data)

    def absorb_bytes_as_scalars(self, label: str, data: bytes):
        """Absorb Fr elements already encoded as `absorb_scalars` writes them (32 bytes each,
        canonical little-endian, as a parsed proof holds them): the same message, no re-encoding."""
        if len(data) % 32:
            raise ValueError(f"transcript: {len(data)} bytes is not a whole number of scalars")
        self._absorb(label.encode(), bytes(data))

    def absorb_scalar(self, label: str, value: int):
        self.absorb_scalars(label, [value])

    def absorb_points(self, label: str, points: np.ndarray):
        """Absorb G1 affine points ((n, 8) or (8,) uint64, Montgomery Fq) as canonical coordinates.

        The point at infinity is the all-zero row, which maps to (0, 0): unambiguous, since
        (0, 0) is not on the curve."""
        pts = np.ascontiguousarray(points, dtype=np.uint64).reshape(-1, 4)
        data = Fq.to_canonical(pts).astype("<u8").tobytes()
        self._absorb(label.encode(), data)

    def challenge(self, label: str) -> int:
        """A challenge in Fr, bound to everything absorbed so far."""
        self._absorb(b"challenge", label.encode())
        digest = self._h.copy().digest()
        value = int.from_bytes(digest, "little") % FR_MODULUS
        self._absorb(b"challenge-value", value.to_bytes(32, "little"))
        return value

    def challenges(self, label: str, n: int) -> list:
        return [self.challenge(f"{label}[{i}]") for i in range(n)]
