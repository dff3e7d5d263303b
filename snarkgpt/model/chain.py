"""A chain of segment proofs: one key and one proof for a model split into segments.

`ChainKey` is the verifying key of a segmented model: the card's bound parameters (`keyspec`,
with the list of segments) and the segment verifying keys in order. Its digest, the model
fingerprint, is SHA-256 over both; each segment key binds the chain's parameters by digest
and its own place (index, count, blocks) in its ``statement`` bytes, so a segment key cannot
be moved to another place or another chain without changing the fingerprint.

A chain proof (`ChainProof`) holds one PLONK proof per segment, in order. `verify` checks:

1. the count: one proof per segment;
2. each segment's proof against its key and its public values (`segments.segment_instances`:
   the prompt in the first segment, the next tokens and flags in the last), with every
   check but the final pairing equation;
3. every link: segment i's ``link.{b}`` commitment equals segment i + 1's (the same
   residual stream, committed with the same blinding: plonk/links.py);
4. one pairing equation for all segments (`kzg.check_pairings`), the pairs weighted by
   scalars drawn from a hash of the key and every proof.

A segment from another generation fails (3) (other values or another link seed), from another
key or model fails (2) (its transcript starts with its key's digest), swapped or missing
segments fail (1) or (2) (each key proves only its own blocks, or vocabulary chunk).
"""
from __future__ import annotations

import hashlib
import json

from ..plonk.description import KeyFormatError, Reader, Writer
from ..plonk.proof import ProofFormatError
from . import keyspec
from .segments import Segment, SegmentError, check_chain, segment_instances

__all__ = ["ChainKey", "ChainProof", "ChainError", "verify", "segment_statement", "CHAIN_KEY_MAGIC"]

CHAIN_KEY_MAGIC = b"SGCK"
CHAIN_KEY_VERSION = 1
CHAIN_PROOF_MAGIC = b"SGCP"
CHAIN_PROOF_VERSION = 1
SEGMENT_FORMAT = "snarkgpt-segment/1"


class ChainError(ValueError):
    """A chain proof that does not verify (the message names the segment and the check)."""


def segment_statement(spec_bytes: bytes, segment: Segment) -> bytes:
    """A segment key's statement bytes: the chain's parameters (by digest) and its place."""
    return keyspec.encode({"format": SEGMENT_FORMAT,
                           "chain": hashlib.sha256(spec_bytes).hexdigest(),
                           "segment": segment.to_dict()})


class ChainKey:
    """The verifying key of a segmented model (see the module docstring). Quacks like a
    `VerifyingKey` where callers only name the model: ``digest()``, ``statement`` (the
    bound parameters), ``k``, ``srs_digest``."""

    def __init__(self, spec_bytes: bytes, vks: list):
        self.statement = bytes(spec_bytes)
        self.vks = list(vks)
        spec = keyspec.decode(self.statement)
        try:
            self.segments = [Segment.from_dict(d) for d in spec.get("segments") or []]
            check_chain(self.segments, spec["config"]["n_layer"], spec["config"].get("vocab_size"))
        except SegmentError as e:
            raise KeyFormatError(f"chain key: {e}") from None
        if len(self.segments) != len(self.vks) or len(self.vks) < 2:
            raise KeyFormatError(f"chain key: {len(self.vks)} segment keys for "
                                 f"{len(self.segments)} segments (a chain has at least 2)")
        first = self.vks[0]
        for seg, vk in zip(self.segments, self.vks):
            if vk.statement != segment_statement(self.statement, seg):
                raise KeyFormatError(f"chain key: segment {seg.index}'s key is not bound to this "
                                     "chain at this place")
            if (vk.k, vk.srs_digest, vk.layout.desc.usable_rows) != (
                    first.k, first.srs_digest, first.layout.desc.usable_rows):
                raise KeyFormatError(f"chain key: segment {seg.index} has another domain or setup "
                                     "than segment 0 (links need one domain, the folded pairing "
                                     "one setup)")
            links = sorted(c.name for c in vk.layout.links)
            want = sorted(n for n in (seg.link_in, seg.link_out) if n)
            if links != want:
                raise KeyFormatError(f"chain key: segment {seg.index} has link columns {links}, "
                                     f"its place needs {want}")
        self.k = first.k
        self.srs_digest = first.srs_digest
        self.kzg = first.kzg
        self._digest = hashlib.sha256(b"snarkgpt-chain-key/1\x00" + self.statement + b"".join(
            vk.digest() for vk in self.vks)).digest()

    def digest(self) -> bytes:
        return self._digest

    def to_bytes(self) -> bytes:
        w = Writer()
        w.raw(CHAIN_KEY_MAGIC)
        w.u16(CHAIN_KEY_VERSION)
        w.u32(len(self.statement))
        w.raw(self.statement)
        w.u32(len(self.vks))
        for vk in self.vks:
            b = vk.to_bytes()
            w.u32(len(b))
            w.raw(b)
        return w.bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ChainKey":
        from ..plonk.keygen import VerifyingKey
        r = Reader(data, what="chain key")
        if r.take(4, "magic") != CHAIN_KEY_MAGIC:
            r.fail("not a chain key")
        version = r.u16("version")
        if version != CHAIN_KEY_VERSION:
            r.fail(f"unsupported version {version} (this build reads {CHAIN_KEY_VERSION})")
        spec = r.take(r.count("statement length"), "statement")
        vks = []
        for i in range(r.count("segments")):
            raw = r.take(r.count(f"segment {i} key length"), f"segment {i} key")
            try:
                vks.append(VerifyingKey.from_bytes(raw))
            except KeyFormatError as e:
                raise KeyFormatError(f"chain key, segment {i}: {e}") from None
        r.end()
        try:
            return cls(spec, vks)
        except keyspec.KeySpecError as e:
            raise KeyFormatError(f"chain key: {e}") from None


def is_chain_key(data: bytes) -> bool:
    return bytes(data[:4]) == CHAIN_KEY_MAGIC


class ChainProof:
    """The segment proofs of one generation, in chain order."""

    def __init__(self, proofs: list):
        self.proofs = [bytes(p) for p in proofs]

    def to_bytes(self) -> bytes:
        w = Writer()
        w.raw(CHAIN_PROOF_MAGIC)
        w.u16(CHAIN_PROOF_VERSION)
        w.u32(len(self.proofs))
        for p in self.proofs:
            w.u32(len(p))
            w.raw(p)
        return w.bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ChainProof":
        r = Reader(data, error=ProofFormatError, what="chain proof")
        if r.take(4, "magic") != CHAIN_PROOF_MAGIC:
            r.fail("not a chain proof (a proof for an unsplit key?)")
        version = r.u16("version")
        if version != CHAIN_PROOF_VERSION:
            r.fail(f"unsupported version {version} (this build reads {CHAIN_PROOF_VERSION})")
        proofs = [r.take(r.count(f"segment {i} proof length"), f"segment {i} proof")
                  for i in range(r.count("segments"))]
        r.end()
        return cls(proofs)


def _fold_weights(key: ChainKey, proof: ChainProof) -> list:
    """Scalars for the folded pairing check, fixed by the key and every proof (so by every
    pairing input): 1, then SHA-512 of (key, proofs, i) mod r."""
    from ..field import FR_MODULUS
    h = hashlib.sha256(b"snarkgpt-chain-fold/1\x00" + key.digest())
    for p in proof.proofs:
        h.update(len(p).to_bytes(4, "little") + p)
    seed = h.digest()
    return [1] + [int.from_bytes(hashlib.sha512(seed + i.to_bytes(4, "little")).digest(),
                                 "little") % FR_MODULUS for i in range(1, len(proof.proofs))]


def verify(key: ChainKey, statement, proof_bytes: bytes) -> None:
    """Raise `ChainError` naming the segment and the check that fails (module docstring),
    `ProofFormatError` for a malformed proof."""
    import numpy as np

    from ..plonk import kzg
    from ..plonk.links import link_commitments
    from ..plonk.verifier import VerificationError, parse_proof, verify_or_raise
    proof = ChainProof.from_bytes(proof_bytes)
    n = len(key.segments)
    if len(proof.proofs) != n:
        raise ChainError(f"the proof has {len(proof.proofs)} segment proofs, the key {n} segments")
    pairs, prev_out = [], None
    for seg, vk, raw in zip(key.segments, key.vks, proof.proofs):
        names = [c.name for c in vk.layout.desc.instance]
        try:
            inst = segment_instances(seg, statement, names)
            parsed = parse_proof(vk, raw)
            pairs.append(verify_or_raise(vk, inst, parsed, defer_pairing=True))
            links = link_commitments(vk, parsed)
        except SegmentError as e:
            raise ChainError(f"segment {seg.index} ({seg.describe()}): {e}") from None
        except (VerificationError, ProofFormatError) as e:
            raise ChainError(f"segment {seg.index} ({seg.describe()}) does not verify: {e}") from None
        if prev_out is not None and not np.array_equal(prev_out, links[seg.link_in]):
            raise ChainError(f"link {seg.link_in} between segments {seg.index - 1} and {seg.index} "
                             "does not match: the segments do not prove one forward pass")
        prev_out = links[seg.link_out] if seg.link_out else None
    if not kzg.check_pairings(pairs, key.kzg, weights=_fold_weights(key, proof)):
        # name the segment (one pairing each, only on the way to a rejection)
        bad = [s.index for s, pair in zip(key.segments, pairs) if not kzg.check_pairings([pair], key.kzg)]
        where = f"segment {bad[0]} ({key.segments[bad[0]].describe()})" if bad else "some segment"
        raise ChainError(f"{where} does not verify: its opening proofs fail the pairing check "
                         "(a commitment, an evaluation or an opening proof is wrong, or some "
                         "constraint fails)")


def describe(key: ChainKey) -> list:
    """Per segment: index, blocks, vocabulary range (a chunk; else None), k, columns and rows
    (for `snarkgpt inspect`)."""
    out = []
    for seg, vk in zip(key.segments, key.vks):
        d = vk.layout.desc
        out.append({"index": seg.index, "part": seg.describe(), "blocks": [seg.start, seg.stop],
                    "vocab": [seg.v0, seg.v1] if seg.chunk else None,
                    "k": d.k, "rows": d.n, "usable_rows": d.usable_rows,
                    "advice_columns": len(d.advice), "fixed_columns": len(d.fixed),
                    "instance_columns": [c.name for c in d.instance],
                    "links": [c.name for c in vk.layout.links],
                    "fingerprint": vk.digest().hex()})
    return out


def spec_json(key: ChainKey) -> dict:
    return json.loads(key.statement)
