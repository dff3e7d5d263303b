"""A log entry: the leaf (a small canonical record) and the proof file it names.

The leaf is the canonical JSON of the record `snarkgpt verify --log` writes, less the proof
itself and the verdict:

    {"fingerprint", "prompt_digest", "output_digest", "proof_digest", "time"}

The proof file is stored beside the leaf and bound to it by `proof_digest` (SHA-256 of the
file), so a leaf stays a few hundred bytes while a monitor can still fetch every proof and
re-verify it. `time` is the server's UTC clock when the answer was logged (ISO 8601).
"""
import datetime
import json

from ..model.statement import StatementError, digest, parse_proof_file, tokens_digest
from .heads import canonical

LEAF_FIELDS = ("fingerprint", "prompt_digest", "output_digest", "proof_digest", "time")


class EntryError(ValueError):
    """A leaf that is malformed or does not describe the proof file it is paired with."""


def make_leaf(proof_file: bytes, time=None) -> bytes:
    """The leaf for an issued proof file."""
    header, st, _ = parse_proof_file(proof_file)
    time = time or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    return canonical({"fingerprint": header["fingerprint"],
                      "prompt_digest": tokens_digest(st.prompt),
                      "output_digest": tokens_digest(st.output),
                      "proof_digest": digest(proof_file), "time": time})


def parse_leaf(leaf: bytes) -> dict:
    """The leaf's fields, after checking it is exactly the canonical encoding of a record
    with LEAF_FIELDS (one leaf, one byte string: no second encoding of the same record)."""
    try:
        rec = json.loads(leaf)
    except (ValueError, UnicodeDecodeError):
        raise EntryError("the leaf is not JSON") from None
    if not isinstance(rec, dict) or sorted(rec) != sorted(LEAF_FIELDS) or \
            not all(isinstance(rec[f], str) for f in LEAF_FIELDS):
        raise EntryError(f"the leaf must be an object of the strings {', '.join(LEAF_FIELDS)}")
    if canonical(rec) != leaf:
        raise EntryError("the leaf is not in canonical form")
    return rec


def check_entry(leaf: bytes, proof_file: bytes):
    """(leaf record, header, statement, proof) when the leaf describes exactly this proof
    file: the file's digest, its fingerprint and the digests of its prompt and output tokens.
    EntryError names the first field that differs."""
    rec = parse_leaf(leaf)
    if digest(proof_file) != rec["proof_digest"]:
        raise EntryError("the proof file's digest is not the leaf's proof_digest")
    try:
        header, st, proof = parse_proof_file(proof_file, "the logged proof")
    except StatementError as e:
        raise EntryError(str(e)) from None
    if header["fingerprint"] != rec["fingerprint"]:
        raise EntryError("the leaf's fingerprint is not the proof file's")
    if tokens_digest(st.prompt) != rec["prompt_digest"] or \
            tokens_digest(st.output) != rec["output_digest"]:
        raise EntryError("the leaf's prompt/output digests are not the proof file's")
    return rec, header, st, proof
