"""The public statement of a generation proof, and the proof file that carries it.

A key is made for one model and one maximum length L (at most the model's block size). The
statement "the committed model, run greedily on `prompt`, produced `output`" becomes two
public instance columns of length L:

    tokens[t]  = prompt + output, padded with 0 up to L
    gen[t]     = 1 where tokens[t] is a generated token (n_prompt <= t < n_prompt + n_new),
                 else 0

The circuit runs one forward pass over positions 0 .. L-2 and, at every position t, enforces
gen[t+1] * (tokens[t+1] - argmax(logits[t])) = 0. The verifier builds both columns itself
from the prompt and output it is shown, so one verifying key (one fingerprint) serves every
prompt and output length. Padding positions come after the text and, attention being causal,
cannot influence it.

Proof file (`.sgp`): magic b"SGGEN", u16 version, u32 header length, a canonical JSON header
(fingerprint, prompt and output tokens, L, text when a tokenizer is known), then the PLONK
proof bytes. Files are written atomically (temporary name, then rename).
"""
import hashlib
import json
import os
import struct
from dataclasses import dataclass

MAGIC = b"SGGEN"
VERSION = 1


class StatementError(ValueError):
    """A statement that cannot be proven or checked (bad tokens, lengths, or a bad file)."""


@dataclass(frozen=True)
class Statement:
    prompt: tuple
    output: tuple
    max_tokens: int

    def __post_init__(self):
        if len(self.prompt) < 1:
            raise StatementError("the prompt is empty: at least one token is needed")
        if len(self.output) < 1:
            raise StatementError("nothing to prove: no generated token")
        n = len(self.prompt) + len(self.output)
        if n > self.max_tokens:
            raise StatementError(f"prompt ({len(self.prompt)}) + new tokens ({len(self.output)}) = {n} "
                                 f"exceeds this key's maximum of {self.max_tokens} tokens")

    @property
    def n_prompt(self) -> int:
        return len(self.prompt)

    @property
    def n_new(self) -> int:
        return len(self.output)

    def tokens(self) -> list:
        """prompt + output padded with 0 to max_tokens."""
        toks = list(self.prompt) + list(self.output)
        return toks + [0] * (self.max_tokens - len(toks))

    def gen_flags(self) -> list:
        n0, n1 = self.n_prompt, self.n_prompt + self.n_new
        return [1 if n0 <= t < n1 else 0 for t in range(self.max_tokens)]

    def instances(self) -> list:
        return [self.tokens(), self.gen_flags()]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tokens_digest(tokens) -> str:
    return digest(json.dumps([int(t) for t in tokens]).encode())


def write_proof_file(path, fingerprint: str, statement: Statement, proof: bytes, text=None,
                     extra=None):
    header = {"fingerprint": fingerprint, "prompt_tokens": list(map(int, statement.prompt)),
              "output_tokens": list(map(int, statement.output)),
              "max_tokens": statement.max_tokens}
    if text is not None:
        header["text"] = text
    if extra:
        header.update(extra)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    data = MAGIC + struct.pack("<HI", VERSION, len(hb)) + hb + proof
    path = os.fspath(path)
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_proof_file(path):
    """(header dict, Statement, proof bytes); StatementError on any malformed input."""
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise StatementError(f"{path}: cannot read: {e.strerror}") from None
    return parse_proof_file(data, str(path))


def parse_proof_file(data: bytes, name="<proof>"):
    if len(data) < 11 or data[:5] != MAGIC:
        raise StatementError(f"{name}: not a snarkgpt proof file (bad magic)")
    version, hlen = struct.unpack("<HI", data[5:11])
    if version != VERSION:
        raise StatementError(f"{name}: unsupported proof file version {version}")
    if 11 + hlen > len(data):
        raise StatementError(f"{name}: truncated header ({len(data) - 11} of {hlen} bytes)")
    try:
        header = json.loads(data[11:11 + hlen])
        statement = Statement(tuple(int(t) for t in header["prompt_tokens"]),
                              tuple(int(t) for t in header["output_tokens"]),
                              int(header["max_tokens"]))
        fp = header["fingerprint"]
        if not isinstance(fp, str):
            raise TypeError("fingerprint")
    except StatementError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise StatementError(f"{name}: malformed header ({e})") from None
    return header, statement, data[11 + hlen:]
