"""The public statement and the proof file container."""
import os

import pytest

from snarkgpt.model.statement import (Statement, StatementError, parse_proof_file,
                                      read_proof_file, write_proof_file)


def test_instances_pad_and_flag_generated_positions():
    st = Statement((5, 6), (7, 8, 9), 8)
    assert st.tokens() == [5, 6, 7, 8, 9, 0, 0, 0]
    assert st.gen_flags() == [0, 0, 1, 1, 1, 0, 0, 0]
    assert st.instances() == [st.tokens(), st.gen_flags()]


@pytest.mark.parametrize("prompt,output,L,msg", [
    ((), (1,), 4, "prompt is empty"),
    ((1,), (), 4, "no generated token"),
    ((1, 2, 3), (4, 5), 4, "exceeds this key's maximum of 4"),
])
def test_bad_statements(prompt, output, L, msg):
    with pytest.raises(StatementError, match=msg):
        Statement(prompt, output, L)


def test_proof_file_round_trip_and_atomic_write(tmp_path):
    st = Statement((1, 2), (3,), 4)
    path = tmp_path / "p.sgp"
    write_proof_file(path, "ab" * 32, st, b"PROOFBYTES", text="x")
    header, st2, proof = read_proof_file(path)
    assert st2 == st and proof == b"PROOFBYTES" and header["text"] == "x"
    assert header["fingerprint"] == "ab" * 32
    assert os.listdir(tmp_path) == ["p.sgp"]


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: b"XXXXX" + d[5:], "bad magic"),
    (lambda d: d[:5] + b"\x09\x00" + d[7:], "version"),
    (lambda d: d[:12], "truncated header"),
    (lambda d: d[:11] + b"X" + d[12:], "malformed header"),
    (lambda d: d[:4], "bad magic"),
])
def test_malformed_proof_files_are_refused(tmp_path, mutate, msg):
    st = Statement((1, 2), (3,), 4)
    path = tmp_path / "p.sgp"
    write_proof_file(path, "ab" * 32, st, b"PROOF")
    data = mutate(path.read_bytes())
    with pytest.raises(StatementError, match=msg):
        parse_proof_file(data)


def test_header_with_an_impossible_statement_is_refused(tmp_path):
    path = tmp_path / "p.sgp"
    write_proof_file(path, "ab" * 32, Statement((1,), (2,), 2), b"P")
    data = path.read_bytes().replace(b'"max_tokens":2', b'"max_tokens":1')
    with pytest.raises(StatementError, match="exceeds"):
        parse_proof_file(data)


def test_missing_file(tmp_path):
    with pytest.raises(StatementError, match="cannot read"):
        read_proof_file(tmp_path / "nope.sgp")
