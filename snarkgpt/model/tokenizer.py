"""Character tokenizer, as nanoGPT's ``data/shakespeare_char/prepare.py`` builds it.

The vocabulary is the sorted list of distinct characters of the training text; a character's
id is its index. For tiny-shakespeare that is 65 characters (``'\\n'``, ``' '``, ``'!'``,
..., ``'z'``). ``encode`` refuses characters outside the vocabulary (naming the character and
its position); ``decode`` refuses ids out of range.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["CharTokenizer", "TokenizerError", "shakespeare_tokenizer"]

_BUNDLED = Path(__file__).resolve().parent / "bundled" / "tokenizer.json"


class TokenizerError(ValueError):
    pass


class CharTokenizer:
    def __init__(self, chars):
        chars = list(chars)
        if not chars:
            raise TokenizerError("a tokenizer needs at least one character")
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise TokenizerError(f"vocabulary entries must be single characters, got {c!r}")
        if len(set(chars)) != len(chars):
            raise TokenizerError("vocabulary has repeated characters")
        self.chars = chars
        self.stoi = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """nanoGPT's prepare.py: ``chars = sorted(list(set(data)))``."""
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        out = []
        for pos, c in enumerate(text):
            i = self.stoi.get(c)
            if i is None:
                raise TokenizerError(f"character {c!r} (U+{ord(c):04X}) at position {pos} is not "
                                     f"in the tokenizer's {self.vocab_size}-character vocabulary")
            out.append(i)
        return out

    def decode(self, ids) -> str:
        out = []
        for pos, i in enumerate(ids):
            if isinstance(i, bool) or not hasattr(i, "__index__"):
                raise TokenizerError(f"token at position {pos} is not an integer: {i!r}")
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise TokenizerError(f"token id {i} at position {pos} is out of range "
                                     f"[0, {self.vocab_size})")
            out.append(self.chars[i])
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"type": "char", "chars": "".join(self.chars)}, ensure_ascii=True)

    @classmethod
    def from_json(cls, s: str) -> "CharTokenizer":
        try:
            d = json.loads(s)
        except json.JSONDecodeError as e:
            raise TokenizerError(f"tokenizer JSON is invalid ({e})") from None
        if not isinstance(d, dict) or d.get("type") != "char" or not isinstance(d.get("chars"),
                                                                               str):
            raise TokenizerError("tokenizer JSON must be {'type': 'char', 'chars': '...'}")
        return cls(d["chars"])

    def save(self, path) -> None:
        Path(path).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path) -> "CharTokenizer":
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except TokenizerError as e:
            raise TokenizerError(f"{os.fspath(path)}: {e}") from None

    def __eq__(self, other):
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __repr__(self):
        return f"CharTokenizer(vocab_size={self.vocab_size})"


# the 65 characters of tiny-shakespeare, sorted (nanoGPT's shakespeare_char vocabulary)
_SHAKESPEARE_CHARS = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def shakespeare_tokenizer() -> CharTokenizer:
    """The tiny-shakespeare character tokenizer (65 characters)."""
    if _BUNDLED.exists():
        return CharTokenizer.load(_BUNDLED)
    return CharTokenizer(_SHAKESPEARE_CHARS)
