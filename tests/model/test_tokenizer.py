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
