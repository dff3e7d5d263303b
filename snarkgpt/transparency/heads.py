"""Signed tree heads: the log's Ed25519 statement "the log for model F has N entries, root R".

A head is the canonical JSON object

    {"log_id": hex SHA-256 of the log's public key, "fingerprint": the model's fingerprint,
     "size": N, "root": hex MTH of the first N entries, "time": milliseconds since 1970}

signed with the provider's Ed25519 key over HEAD_CONTEXT + those bytes (the context keeps a
head's signature from being read as a signature of anything else). On the wire and in the
users' logs a head is that object plus "signature" (base64). Naming the fingerprint binds the
log key to the model: a head signed for another model's log is another statement, and a
monitor that sees two fingerprints under one key reports a model change.

`cryptography` is imported inside the functions that need it, so a client that talks to a
server without a log needs no more than the standard library.
"""
import base64
import hashlib
import json
import os
import re

HEAD_CONTEXT = b"snarkgpt transparency log tree head v1\n"
HEAD_FIELDS = ("log_id", "fingerprint", "size", "root", "time")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class HeadError(ValueError):
    """A tree head that is malformed, signed by another key, or whose signature is wrong."""


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def log_id(public_key: bytes) -> str:
    """The log's name: the SHA-256 of its raw 32-byte Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()


def parse(head) -> dict:
    """The head's fields (with its signature as bytes), after checking every type: a dict with
    exactly HEAD_FIELDS and "signature". HeadError names what is wrong."""
    if not isinstance(head, dict):
        raise HeadError("a tree head must be a JSON object")
    missing = [f for f in HEAD_FIELDS + ("signature",) if f not in head]
    extra = sorted(set(head) - set(HEAD_FIELDS) - {"signature"})
    if missing or extra:
        raise HeadError(f"tree head fields: missing {missing}, unexpected {extra}")
    for f in ("log_id", "fingerprint", "root"):
        if not isinstance(head[f], str) or not _HEX64.fullmatch(head[f]):
            raise HeadError(f"tree head {f} must be 64 lowercase hex digits")
    for f in ("size", "time"):
        if isinstance(head[f], bool) or not isinstance(head[f], int) or head[f] < 0:
            raise HeadError(f"tree head {f} must be a non-negative integer")
    try:
        sig = base64.b64decode(head["signature"], validate=True)
    except (TypeError, ValueError):
        raise HeadError("tree head signature is not base64") from None
    if len(sig) != 64:
        raise HeadError("tree head signature is not 64 bytes (Ed25519)")
    return dict(head, signature=sig)


def signed_bytes(head: dict) -> bytes:
    return HEAD_CONTEXT + canonical({f: head[f] for f in HEAD_FIELDS})


def verify(head, public_key: bytes) -> dict:
    """Check that `head` is well formed, names this key's log and carries its valid Ed25519
    signature; returns the parsed head. HeadError otherwise (a head signed by another key
    is refused by its log_id before the signature is tried)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    h = parse(head)
    if h["log_id"] != log_id(public_key):
        raise HeadError(f"the tree head names log {h['log_id'][:16]}..., not this log "
                        f"({log_id(public_key)[:16]}...): signed by another key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(h["signature"], signed_bytes(h))
    except InvalidSignature:
        raise HeadError(f"the tree head of size {h['size']} has a bad signature") from None
    return h


class SigningKey:
    """The provider's Ed25519 key for one log (private; the public half goes in the card)."""

    def __init__(self, private_key):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        self._key = private_key
        self.public_key = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.log_id = log_id(self.public_key)

    def sign_head(self, fingerprint: str, size: int, root: bytes, time_ms: int) -> dict:
        head = {"log_id": self.log_id, "fingerprint": fingerprint, "size": int(size),
                "root": root.hex(), "time": int(time_ms)}
        sig = self._key.sign(signed_bytes(head))
        return dict(head, signature=base64.b64encode(sig).decode())

    @classmethod
    def load_or_create(cls, path) -> "SigningKey":
        """The key in `path` (PKCS#8 PEM), made there on first use: written to a temporary
        file, flushed to disk and linked into place, mode 0600, so a crash leaves either no
        key or a whole one, and a key never replaces another."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption,
                                                                  PrivateFormat,
                                                                  load_pem_private_key)
        path = os.fspath(path)
        if os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    key = load_pem_private_key(f.read(), password=None)
            except (OSError, ValueError, TypeError) as e:
                raise HeadError(f"{path}: not a readable Ed25519 private key ({e})") from None
            if not isinstance(key, Ed25519PrivateKey):
                raise HeadError(f"{path}: not an Ed25519 private key")
            return cls(key)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        tmp = f"{path}.tmp-{os.getpid()}"
        if os.path.exists(tmp):         # left by a crashed process that had our pid
            os.unlink(tmp)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)          # never replaces a key another process just made
        except FileExistsError:
            return cls.load_or_create(path)
        finally:
            os.unlink(tmp)
        fsync_dir(path)
        return cls(key)


def fsync_dir(path):
    """Make a rename or link in `path`'s folder durable."""
    fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
