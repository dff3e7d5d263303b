"""Tokenizers: characters (nanoGPT's char-level models) and GPT-2's byte-level BPE.

``CharTokenizer``, as nanoGPT's ``data/shakespeare_char/prepare.py`` builds it: the
vocabulary is the sorted list of distinct characters of the training text; a character's id
is its index. For tiny-shakespeare that is 65 characters (``'\\n'``, ``' '``, ``'!'``, ...,
``'z'``).

``BpeTokenizer``: a Hugging Face GPT-2 folder's own tokenizer, from ``tokenizer.json`` or
``vocab.json`` + ``merges.txt``, run by the ``tokenizers`` package. It keeps the files' text:
the card records it (so a verifier decodes outputs from ``card.json`` alone) and the key binds
its digest (`keyspec.tokenizer_digest`), which changes with any byte of the files.

Both refuse what they cannot represent, naming it: ``encode`` a character outside the
vocabulary (with its position), ``decode`` an id outside it. What a card records under
``tokenizer`` (a list of characters, or ``{"type": "bpe", "files": {...}}``) is turned back
into a tokenizer by ``tokenizer_from_card``; the form a model file stores, by
``tokenizer_from_json``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["CharTokenizer", "BpeTokenizer", "TokenizerError", "shakespeare_tokenizer",
           "load_folder_tokenizer", "tokenizer_from_card", "tokenizer_from_json"]

_BUNDLED = Path(__file__).resolve().parent / "bundled" / "tokenizer.json"


class TokenizerError(ValueError):
    pass


def checked_ids(ids, vocab_size: int, known=None) -> list[int]:
    """``ids`` as Python ints, each checked: an integer (not a bool, float or string), in
    ``[0, vocab_size)``, and, with ``known``, one the tokenizer can decode (``known(i)``).
    The first failure raises `TokenizerError` naming the token's position."""
    out = []
    for pos, i in enumerate(ids):
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TokenizerError(f"token at position {pos} is not an integer: {i!r}")
        i = int(i)
        if not 0 <= i < vocab_size or (known is not None and not known(i)):
            raise TokenizerError(f"token id {i} at position {pos} is not in the tokenizer's "
                                 f"{vocab_size}-token vocabulary")
        out.append(i)
    return out


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
        """The text of ``ids``; refuses a non-integer or an id outside the vocabulary."""
        return "".join(self.chars[i] for i in checked_ids(ids, self.vocab_size))

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

    def card_value(self) -> list:
        """What the card records for this tokenizer: its alphabet."""
        return list(self.chars)

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


# ----------------------------------------------------------------------------- GPT-2 BPE

BPE_FILE_SETS = (("tokenizer.json",), ("vocab.json", "merges.txt"))
_BPE_TYPE = "bpe"


class BpeTokenizer:
    """GPT-2's byte-level BPE, built from a folder's files (``files``: name -> text, either
    ``tokenizer.json`` alone or ``vocab.json`` with ``merges.txt``)."""

    def __init__(self, files: dict, source: str = "<tokenizer>"):
        if not isinstance(files, dict) or tuple(sorted(files)) not in \
                (tuple(sorted(fs)) for fs in BPE_FILE_SETS):
            got = sorted(files) if isinstance(files, dict) else files
            raise TokenizerError(f"{source}: a BPE tokenizer needs tokenizer.json, or vocab.json "
                                 f"and merges.txt; got {got!r}")
        if not all(isinstance(v, str) for v in files.values()):
            raise TokenizerError(f"{source}: tokenizer files must be text")
        self.files, self.source = dict(files), source
        self._tok = _build(self.files, source)
        vocab = self._tok.get_vocab(with_added_tokens=True)
        if not vocab:
            raise TokenizerError(f"{source}: the tokenizer's vocabulary is empty")
        self._size = max(vocab.values()) + 1
        unk = getattr(self._tok.model, "unk_token", None)
        self._unk = self._tok.token_to_id(unk) if unk else None

    @classmethod
    def from_folder(cls, folder) -> "BpeTokenizer | None":
        return load_folder_tokenizer(folder)

    @property
    def vocab_size(self) -> int:
        """One more than the largest token id (added tokens such as <|endoftext|> included)."""
        return self._size

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added). Refuses text the vocabulary does
        not cover (a character the tokenizer drops or maps to its unknown token), naming the
        character and its position, and text that would not read back as itself."""
        if not isinstance(text, str):
            raise TokenizerError(f"text to encode must be a string, got {type(text).__name__}")
        enc = self._tok.encode(text, add_special_tokens=False)
        ids = list(enc.ids)
        if self._tok.decode(ids, skip_special_tokens=False) == text and self._unk not in ids:
            return ids
        # find the culprit: the first character that does not survive a round trip alone
        # (token offsets cannot say: a dropped character is folded into a neighbour's span)
        seen = {}
        for pos, c in enumerate(text):
            if c not in seen:
                alone = self._tok.encode(c, add_special_tokens=False).ids
                seen[c] = self._unk not in alone and \
                    self._tok.decode(alone, skip_special_tokens=False) == c
            if not seen[c]:
                raise TokenizerError(f"character {c!r} (U+{ord(c):04X}) at position {pos} is not "
                                     f"in the tokenizer's {self.vocab_size}-token vocabulary")
        back = self._tok.decode(ids, skip_special_tokens=False)
        raise TokenizerError(f"the tokenizer does not read this text back as itself (it "
                             f"becomes {back[:40]!r}): not representable in its vocabulary")

    def decode(self, ids) -> str:
        """The text of ``ids``; refuses a non-integer or an id outside the vocabulary."""
        out = checked_ids(ids, self.vocab_size,
                          known=lambda i: i < self._size and self._tok.id_to_token(i) is not None)
        return self._tok.decode(out, skip_special_tokens=False)

    def card_value(self) -> dict:
        """What the card records for this tokenizer: its files' text."""
        return {"type": _BPE_TYPE, "files": dict(self.files)}

    @property
    def chars(self) -> dict:
        """The card's record of this tokenizer (``card_value``), under the attribute name
        that key setup reads from a model's tokenizer."""
        return self.card_value()

    def digest(self) -> str:
        from .keyspec import tokenizer_digest
        return tokenizer_digest(self.card_value())

    def to_json(self) -> str:
        return json.dumps(self.card_value(), sort_keys=True, ensure_ascii=True)

    def __eq__(self, other):
        return isinstance(other, BpeTokenizer) and self.files == other.files

    def __repr__(self):
        return f"BpeTokenizer({self.source!r}, vocab_size={self.vocab_size})"


def _tokenizers():
    try:
        import tokenizers
    except ImportError:
        raise TokenizerError("the 'tokenizers' package is needed for GPT-2 BPE tokenizers: "
                             "pip install tokenizers") from None
    return tokenizers


def _build(files: dict, source: str):
    """A ``tokenizers.Tokenizer`` from the files' text."""
    tk = _tokenizers()
    if "tokenizer.json" in files:
        try:
            tok = tk.Tokenizer.from_str(files["tokenizer.json"])
        except Exception as e:  # the Rust side raises plain Exception on a malformed file
            raise TokenizerError(f"{source}: tokenizer.json is not a tokenizer ({e})") from None
        if type(tok.model).__name__ != "BPE":
            raise TokenizerError(f"{source}: tokenizer.json holds a {type(tok.model).__name__} "
                                 "model, not BPE")
        return tok
    # vocab.json + merges.txt: the pipeline transformers' GPT2TokenizerFast builds from them
    try:
        vocab = json.loads(files["vocab.json"])
    except json.JSONDecodeError as e:
        raise TokenizerError(f"{source}: vocab.json is not valid JSON ({e})") from None
    if not isinstance(vocab, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
            for k, v in vocab.items()):
        raise TokenizerError(f"{source}: vocab.json must map tokens to non-negative ids")
    merges = []
    for n, line in enumerate(files["merges.txt"].splitlines(), 1):
        if not line.strip() or (n == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        if len(pair) != 2 or pair[0] + pair[1] not in vocab:
            raise TokenizerError(f"{source}: merges.txt line {n} is not a merge of two tokens "
                                 f"whose join is in vocab.json: {line[:40]!r}")
        merges.append((pair[0], pair[1]))
    try:
        tok = tk.Tokenizer(tk.models.BPE(vocab, merges, fuse_unk=False))
    except Exception as e:
        raise TokenizerError(f"{source}: vocab.json and merges.txt do not make a BPE "
                             f"tokenizer ({e})") from None
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    tok.post_processor = tk.processors.ByteLevel(trim_offsets=False)
    if "<|endoftext|>" in vocab:
        tok.add_special_tokens(["<|endoftext|>"])
    return tok


def load_folder_tokenizer(folder) -> BpeTokenizer | None:
    """The BPE tokenizer of a model folder: ``tokenizer.json`` when present (what
    transformers' fast tokenizer reads first), else ``vocab.json`` + ``merges.txt``; None when
    the folder has neither (a model used with token ids only)."""
    folder = Path(folder)
    for names in BPE_FILE_SETS:
        paths = [folder / n for n in names]
        if not all(p.exists() for p in paths):
            if any(p.exists() for p in paths):
                have = " and ".join(p.name for p in paths if p.exists())
                missing = ", ".join(p.name for p in paths if not p.exists())
                raise TokenizerError(f"{folder}: has {have} but not {missing}")
            continue
        files = {}
        for p in paths:
            try:
                # bytes, not read_text: newline translation would change what the digest covers
                files[p.name] = p.read_bytes().decode("utf-8")
            except OSError as e:
                raise TokenizerError(f"{p}: cannot read ({e.strerror or e})") from None
            except UnicodeDecodeError:
                raise TokenizerError(f"{p}: not UTF-8 text") from None
        return BpeTokenizer(files, str(folder))
    return None


def tokenizer_from_card(value):
    """The tokenizer a card records (None: none): a character list or string, or a BPE
    tokenizer's files."""
    if value is None:
        return None
    if isinstance(value, dict):
        return _from_dict(value, "the card's tokenizer")
    return CharTokenizer(value)


def tokenizer_from_json(s: str):
    """The tokenizer a model file stores (``to_json`` of either kind)."""
    try:
        d = json.loads(s)
    except json.JSONDecodeError as e:
        raise TokenizerError(f"tokenizer JSON is invalid ({e})") from None
    if not isinstance(d, dict):
        raise TokenizerError("tokenizer JSON must be an object with a 'type'")
    return _from_dict(d, "tokenizer JSON")


def _from_dict(d: dict, where: str):
    kind = d.get("type")
    if kind == "char":
        return CharTokenizer.from_json(json.dumps(d))
    if kind == _BPE_TYPE:
        if set(d) != {"type", "files"}:
            raise TokenizerError(f"{where}: a BPE record holds exactly 'type' and 'files'")
        return BpeTokenizer(d["files"], where)
    raise TokenizerError(f"{where}: unknown tokenizer type {kind!r} (expected 'char' or "
                         f"{_BPE_TYPE!r})")
