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

An eval key (`EvalStatement`) proves the accuracy of the model's next-token predictions over
a public window x_0 .. x_{n-1} (2 <= n <= L) with three public columns:

    tokens[t]  = the window, padded with 0 up to L
    scored[t]  = 1 where x_t is a scored target (1 <= t < n), else 0
    count[0]   = the number of t < n - 1 with argmax(logits[t]) == x_{t+1}

(`snarkgpt.model.evaluation` has the constraints.) The key's L may be block_size + 1: the
forward pass covers L - 1 positions.

Proof file (`.sgp`): magic b"SGGEN", u16 version, u32 header length, a canonical JSON header
(fingerprint, prompt and output tokens, L, text when a tokenizer is known; an eval proof's
header has ``"statement": "eval"``, the window ``tokens`` and the claimed ``correct`` count
instead of prompt and output), then the PLONK proof bytes. Files are written atomically
(temporary name, then rename).
"""
import hashlib
import json
import os
import struct
from dataclasses import dataclass

MAGIC = b"SGGEN"
VERSION = 2         # 2: keys bind the statement's parameters (keyspec); older files: set up again


class StatementError(ValueError):
    """A statement that cannot be proven or checked (bad tokens, lengths, or a bad file)."""


@dataclass(frozen=True)
class Statement:
    prompt: tuple
    output: tuple
    max_tokens: int
    kind = "generate"       # the statement kind (not a field)

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


@dataclass(frozen=True)
class EvalStatement:
    """The claim that `correct` of the model's `len(window) - 1` next-token predictions over
    `window` are right, for a key of length `max_tokens`."""
    window: tuple
    max_tokens: int
    correct: int
    kind = "eval"           # the statement kind (not a field)

    def __post_init__(self):
        n = len(self.window)
        if n < 2:
            raise StatementError(f"the window has {n} token(s): at least 2 are needed (one "
                                 "prediction)")
        if n > self.max_tokens:
            raise StatementError(f"the window has {n} tokens, more than this key's maximum of "
                                 f"{self.max_tokens}")
        if not 0 <= self.correct <= n - 1:
            raise StatementError(f"correct count {self.correct} is outside [0, {n - 1}]")

    @property
    def total(self) -> int:
        """The number of scored predictions."""
        return len(self.window) - 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.total

    # the audit log digests a statement's prompt and output: an eval statement's "prompt" is
    # its window and it has no output (the count is checked when the proof is re-verified)
    @property
    def prompt(self) -> tuple:
        return self.window

    @property
    def output(self) -> tuple:
        return ()

    def tokens(self) -> list:
        """The window padded with 0 to max_tokens."""
        return list(self.window) + [0] * (self.max_tokens - len(self.window))

    def scored_flags(self) -> list:
        n = len(self.window)
        return [1 if 1 <= t < n else 0 for t in range(self.max_tokens)]

    def instances(self) -> list:
        return [self.tokens(), self.scored_flags(), [int(self.correct)]]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tokens_digest(tokens) -> str:
    return digest(json.dumps([int(t) for t in tokens]).encode())


def write_proof_file(path, fingerprint: str, statement: Statement, proof: bytes, text=None,
                     extra=None):
    if isinstance(statement, EvalStatement):
        header = {"statement": "eval", "fingerprint": fingerprint,
                  "tokens": list(map(int, statement.window)), "correct": int(statement.correct),
                  "max_tokens": statement.max_tokens}
    else:
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


def _int(header: dict, key: str) -> int:
    """A JSON integer field (not a bool, a float or a string: no silent conversion)."""
    v = header[key]
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError(f"{key} must be an integer, got {v!r}")
    return v


def _ints(header: dict, key: str) -> tuple:
    v = header[key]
    if not isinstance(v, list) or any(not isinstance(t, int) or isinstance(t, bool) for t in v):
        raise TypeError(f"{key} must be a list of integers")
    return tuple(v)


def read_proof_file(path):
    """(header dict, Statement or EvalStatement, proof bytes); StatementError on any malformed
    input."""
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
        raise StatementError(f"{name}: proof file version {version}, this snarkgpt reads version "
                             f"{VERSION}: it was made with older keys; run `snarkgpt setup` "
                             "again and prove anew")
    if 11 + hlen > len(data):
        raise StatementError(f"{name}: truncated header ({len(data) - 11} of {hlen} bytes)")
    try:
        header = json.loads(data[11:11 + hlen])
        if not isinstance(header, dict):
            raise TypeError("the header is not a JSON object")
        kind = header.get("statement", "generate")
        if kind == "eval":
            statement = EvalStatement(_ints(header, "tokens"), _int(header, "max_tokens"),
                                      _int(header, "correct"))
        elif kind == "generate":
            statement = Statement(_ints(header, "prompt_tokens"), _ints(header, "output_tokens"),
                                  _int(header, "max_tokens"))
        else:
            raise ValueError(f"unknown statement kind {kind!r}")
        fp = header["fingerprint"]
        if not isinstance(fp, str):
            raise TypeError("fingerprint")
    except StatementError:
        raise
    except (ValueError, KeyError, TypeError) as e:
        raise StatementError(f"{name}: malformed header ({e})") from None
    return header, statement, data[11 + hlen:]
