from pathlib import Path

import pytest

from snarkgpt.model.tokenizer import CharTokenizer, TokenizerError, shakespeare_tokenizer

DATA = Path("/work/shared/data/tinyshakespeare.txt")


def test_shakespeare_vocabulary():
    tok = shakespeare_tokenizer()
    assert tok.vocab_size == 65
    assert tok.chars == sorted(tok.chars)
    assert tok.encode("\n !") == [0, 1, 2]
    assert tok.decode([64]) == "z"
    if DATA.exists():  # nanoGPT's prepare.py: sorted(set(text))
        assert tok == CharTokenizer.from_text(DATA.read_text(encoding="utf-8"))


def test_round_trip():
    tok = shakespeare_tokenizer()
    text = "ROMEO:\nBut, soft! what light through yonder window breaks?"
    ids = tok.encode(text)
    assert all(0 <= i < 65 for i in ids)
    assert tok.decode(ids) == text


def test_json_round_trip(tmp_path):
    tok = shakespeare_tokenizer()
    assert CharTokenizer.from_json(tok.to_json()) == tok
    tok.save(tmp_path / "t.json")
    assert CharTokenizer.load(tmp_path / "t.json") == tok


def test_unknown_character_named_with_position():
    tok = shakespeare_tokenizer()
    with pytest.raises(TokenizerError, match=r"'#'.*position 5"):
        tok.encode("Hello# world")
    with pytest.raises(TokenizerError, match="position 0"):
        tok.encode("\u00e9t\u00e9")


@pytest.mark.parametrize("bad", [[65], [-1], [0, 1, 1000], [1.5], [True]])
def test_decode_refuses_bad_ids(bad):
    with pytest.raises(TokenizerError):
        shakespeare_tokenizer().decode(bad)


@pytest.mark.parametrize("js", ["not json", "[]", '{"type": "bpe", "chars": "ab"}',
                                '{"type": "char", "chars": "aa"}', '{"type": "char", "chars": ""}'])
def test_bad_json(js):
    with pytest.raises(TokenizerError):
        CharTokenizer.from_json(js)


# ----------------------------------------------------------------------------- GPT-2 BPE

import json  # noqa: E402
import shutil  # noqa: E402

from snarkgpt.model.keyspec import tokenizer_digest  # noqa: E402
from snarkgpt.model.tokenizer import (BpeTokenizer, load_folder_tokenizer,  # noqa: E402
                                      tokenizer_from_card, tokenizer_from_json)

TINY = Path(__file__).parent / "data" / "tiny_gpt2_bpe"
TEXT = "first citizen: you know't?\nall: we know caius marcius."


@pytest.fixture(scope="module")
def bpe():
    pytest.importorskip("tokenizers")
    return load_folder_tokenizer(TINY)


def _vocab_merges(folder):
    """The tiny tokenizer as GPT-2's other file pair: vocab.json + merges.txt."""
    model = json.loads((TINY / "tokenizer.json").read_text(encoding="utf-8"))["model"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    folder.mkdir()
    (folder / "vocab.json").write_text(json.dumps(model["vocab"]), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n",
                                       encoding="utf-8")
    return folder


def test_bpe_round_trip(bpe):
    ids = bpe.encode(TEXT)
    assert bpe.vocab_size == 48 and all(0 <= i < 48 for i in ids)
    assert len(ids) < len(TEXT)                        # merges at work
    assert bpe.decode(ids) == TEXT
    assert bpe.encode("<|endoftext|>") == [0] and bpe.decode([0]) == "<|endoftext|>"


def test_bpe_from_vocab_and_merges(bpe, tmp_path):
    other = load_folder_tokenizer(_vocab_merges(tmp_path / "vm"))
    assert sorted(other.files) == ["merges.txt", "vocab.json"]
    assert other.encode(TEXT) == bpe.encode(TEXT) and other.decode(bpe.encode(TEXT)) == TEXT
    assert other.digest() != bpe.digest()              # other files, other digest


def test_bpe_refuses_what_it_cannot_represent(bpe):
    with pytest.raises(TokenizerError, match=r"'Z' \(U\+005A\) at position 5 is not in the "
                                             r"tokenizer's 48-token vocabulary"):
        bpe.encode("all: Zed")
    with pytest.raises(TokenizerError, match="position 3"):
        bpe.encode("caf\u00e9")
    for bad in ([48], [-1], [1, 2, 10**6], [1.0], [True]):
        with pytest.raises(TokenizerError):
            bpe.decode(bad)


def test_bpe_digest_stable_and_bound_to_the_files(bpe, tmp_path):
    d = tmp_path / "copy"
    shutil.copytree(TINY, d)
    same = load_folder_tokenizer(d)
    assert same.digest() == bpe.digest() == tokenizer_digest(bpe.card_value())
    assert same == bpe
    # the digest is sha256 of the canonical JSON of the files' text: pinned, so a change to
    # the fixture or to the digest's definition is seen
    import hashlib
    canon = json.dumps({"files": {"tokenizer.json": (TINY / "tokenizer.json").read_bytes()
                                  .decode()}, "type": "bpe"},
                       sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    assert bpe.digest() == hashlib.sha256(canon).hexdigest()
    # one byte more (a trailing newline) is another tokenizer file: another digest
    (d / "tokenizer.json").write_bytes((TINY / "tokenizer.json").read_bytes() + b"\n")
    changed = load_folder_tokenizer(d)
    assert changed.digest() != bpe.digest() and changed.encode(TEXT) == bpe.encode(TEXT)
    vm = _vocab_merges(tmp_path / "vm")
    before = load_folder_tokenizer(vm).digest()
    lines = (vm / "merges.txt").read_text(encoding="utf-8").splitlines()
    (vm / "merges.txt").write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    assert load_folder_tokenizer(vm).digest() != before
    # newline translation would hide a change: the files are read as bytes
    crlf = (TINY / "tokenizer.json").read_bytes().replace(b"\n", b"\r\n")
    (d / "tokenizer.json").write_bytes(crlf)
    assert load_folder_tokenizer(d).digest() != bpe.digest()


def test_char_digest_unchanged():
    """A character model's digest is the alphabet's, as before BPE support."""
    import hashlib
    chars = shakespeare_tokenizer().chars
    old = hashlib.sha256(json.dumps(list(chars), ensure_ascii=True).encode()).hexdigest()
    assert tokenizer_digest(chars) == tokenizer_digest("".join(chars)) == old
    assert tokenizer_digest(None) is None


def test_card_and_json_forms(bpe):
    assert tokenizer_from_card(None) is None
    assert tokenizer_from_card("abc") == CharTokenizer("abc")
    assert tokenizer_from_card(shakespeare_tokenizer().card_value()) == shakespeare_tokenizer()
    assert tokenizer_from_card(bpe.card_value()) == bpe
    assert tokenizer_from_json(bpe.to_json()) == bpe
    assert tokenizer_from_json(shakespeare_tokenizer().to_json()) == shakespeare_tokenizer()
    for bad in ({"type": "sentencepiece"}, {"type": "bpe"}, {"type": "bpe", "files": {}},
                {"type": "bpe", "files": {"vocab.json": "{}"}},
                {"type": "bpe", "files": {"tokenizer.json": "{}"}}):
        with pytest.raises(TokenizerError):
            tokenizer_from_card(bad)
    with pytest.raises(TokenizerError):
        tokenizer_from_json("[1]")


@pytest.mark.parametrize("vocab, merges, words", [
    ("{bad", "", "vocab.json is not valid JSON"),
    ('{"a": -1}', "", "non-negative ids"),
    ('{"a": 0, "b": 1}', "#version: 0.2\na b\n", "merges.txt line 2"),
])
def test_bad_vocab_merges(tmp_path, vocab, merges, words):
    pytest.importorskip("tokenizers")
    (tmp_path / "vocab.json").write_text(vocab)
    (tmp_path / "merges.txt").write_text(merges)
    with pytest.raises(TokenizerError, match=words):
        BpeTokenizer.from_folder(tmp_path)
