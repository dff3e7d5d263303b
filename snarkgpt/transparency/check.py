"""What a client or a monitor checks about the log, given what the server sent.

Nothing here trusts the server: heads are verified with the log key the model card publishes
(and that a user pinned the first time), leaves are recomputed from the proof file the user
verified, proofs are checked with the RFC 9162 algorithms. Every failure is a `LogCheckError`
whose message says what the server would have got away with.
"""
import base64
import re

from . import heads as heads_mod
from .entries import EntryError, check_entry
from .merkle import ProofError, leaf_hash, verify_consistency, verify_inclusion

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_PROOF_HASHES = 128      # a tree of 2^64 leaves needs at most 64 (+ 64 for consistency)


class LogCheckError(ValueError):
    """The server's log data does not prove what it claims: the reason."""


def card_log_key(card: dict):
    """The log's raw Ed25519 public key from a served model card, or None when the server
    announces no log. LogCheckError when the announcement is malformed."""
    info = card.get("transparency_log")
    if info is None:
        return None
    key = info.get("public_key") if isinstance(info, dict) else None
    if not isinstance(key, str) or not _HEX64.fullmatch(key):
        raise LogCheckError("the card's transparency_log.public_key is not 64 hex digits")
    if info.get("log_id") not in (None, heads_mod.log_id(bytes.fromhex(key))):
        raise LogCheckError("the card's transparency_log.log_id is not the digest of its key")
    return bytes.fromhex(key)


def hashes(path, what="proof") -> list:
    """A proof's hashes from their hex strings (at most MAX_PROOF_HASHES)."""
    if not isinstance(path, list) or len(path) > MAX_PROOF_HASHES or \
            not all(isinstance(p, str) and _HEX64.fullmatch(p) for p in path):
        raise LogCheckError(f"the {what} is not a list of at most {MAX_PROOF_HASHES} hex hashes")
    return [bytes.fromhex(p) for p in path]


def verify_head(head, public_key: bytes, fingerprint: str) -> dict:
    """The parsed head, once its signature verifies with `public_key` and it names
    `fingerprint` (a head for another model is a model change)."""
    try:
        h = heads_mod.verify(head, public_key)
    except heads_mod.HeadError as e:
        raise LogCheckError(str(e)) from None
    if h["fingerprint"] != fingerprint:
        raise LogCheckError(f"the signed tree head is for model {h['fingerprint'][:16]}..., not "
                            f"{fingerprint[:16]}...: model change")
    return h


def verify_answer(log_info, public_key: bytes, fingerprint: str, proof_file: bytes) -> dict:
    """Check that the answer whose proof file is `proof_file` is in the log: the leaf the
    server sent describes exactly that file, and its inclusion proof leads from the leaf to
    the root of a head signed by the log key for this model. Returns
    {"index", "size", "head" (as sent), "leaf" (bytes), "inclusion" (hex list)}."""
    if not isinstance(log_info, dict):
        raise LogCheckError("the answer carries no transparency log entry")
    try:
        index, leaf = log_info["index"], base64.b64decode(log_info["leaf"], validate=True)
        head_sent, path_hex = log_info["head"], log_info["inclusion"]
    except (KeyError, TypeError, ValueError) as e:
        raise LogCheckError(f"the answer's log entry is malformed ({e})") from None
    if isinstance(index, bool) or not isinstance(index, int):
        raise LogCheckError("the answer's log index is not an integer")
    head = verify_head(head_sent, public_key, fingerprint)
    try:
        check_entry(leaf, proof_file)
    except EntryError as e:
        raise LogCheckError(f"the logged leaf is not this answer: {e}") from None
    try:
        verify_inclusion(leaf_hash(leaf), index, head["size"], hashes(path_hex, "inclusion proof"),
                         bytes.fromhex(head["root"]))
    except ProofError as e:
        raise LogCheckError(f"the answer is not in the log: {e}") from None
    return {"index": index, "size": head["size"], "head": head_sent, "leaf": leaf,
            "inclusion": path_hex}


def verify_heads_consistent(old, new, path_hex):
    """Check that the parsed head `new` extends the parsed head `old` (sizes in either
    order: the proof given is from the smaller to the larger). LogCheckError "split view"
    when no append-only history joins them."""
    a, b = (old, new) if old["size"] <= new["size"] else (new, old)
    if a["size"] == 0:
        return                      # the empty tree is a prefix of every tree
    try:
        verify_consistency(a["size"], bytes.fromhex(a["root"]), b["size"],
                           bytes.fromhex(b["root"]), hashes(path_hex, "consistency proof"))
    except ProofError as e:
        raise LogCheckError(f"split view: the signed head of size {b['size']} does not extend "
                            f"the signed head of size {a['size']} ({e})") from None
