"""The eval statement: the proven count of correct next-token predictions equals the integer
forward's, and every way of claiming another count is caught (edited public values, tampered
witness cells, a coordinated false witness, a false claim refused before proving)."""
import json
import struct

import numpy as np
import pytest

from snarkgpt.model.circuit import EvalMismatch, ModelCircuit, build
from snarkgpt.model.integer_forward import TokenError, integer_forward
from snarkgpt.model.keys import eval_statement, keygen_circuit
from snarkgpt.model.quantize import calibrate, quantize_model
from snarkgpt.model.statement import (EvalStatement, Statement, StatementError, parse_proof_file,
                                      write_proof_file)
from snarkgpt.model.weights import load_model
from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import assert_tampering_detected, region_cells

SPEC = "random:n_layer=1,n_head=1,n_embd=16,block_size=8,vocab_size=65,seed=5"
L = 9                       # an eval key may be block_size + 1 long: 8 predictions


def reference_count(qm, window):
    """Correct predictions, each from its own prefix (no padding, no circuit code)."""
    return sum(int(integer_forward(qm, np.array(window[:t + 1]), np.array([t])).next_tokens[0])
               == window[t + 1] for t in range(len(window) - 1))


def greedy(qm, prompt, n_new):
    toks = list(prompt)
    for _ in range(n_new):
        toks.append(int(integer_forward(qm, np.array(toks), np.array([len(toks) - 1])).next_tokens[0]))
    return toks


@pytest.fixture(scope="module")
def model():
    m = load_model(SPEC)
    st, _ = calibrate(m, report=False)
    qm = quantize_model(m, st)
    # a window the model predicts in part: a greedy run with two tokens replaced
    full = greedy(qm, [7, 20], L - 2)
    full[3] = (full[3] + 1) % 65
    full[6] = (full[6] + 3) % 65
    return m, st, qm, full


def built(qm, st, window, correct=None, check=True):
    es = EvalStatement(tuple(window), L, reference_count(qm, window) if correct is None else correct)
    circ = ModelCircuit(qm, st, es, check=check)
    cs, _, asg = build(circ, rng=np.random.default_rng(0))
    return es, circ, cs, asg


@pytest.fixture(scope="module")
def short(model):
    """A window shorter than the key (padded), with its circuit and witness."""
    _, st, qm, full = model
    return built(qm, st, full[:7])


@pytest.mark.parametrize("n", [2, 7, L])
def test_proven_count_equals_the_integer_forward(model, n):
    _, st, qm, full = model
    window = full[:n]
    ref = reference_count(qm, window)
    es, circ, cs, asg = built(qm, st, window)
    MockProver(cs, asg).assert_satisfied()
    assert circ.result["correct"] == es.correct == ref
    assert eval_statement(qm, window, L) == es
    assert es.instances() == [window + [0] * (L - n), [0] + [1] * (n - 1) + [0] * (L - n), [ref]]
    if n == L:
        assert 0 < ref < n - 1, "the test window should be predicted in part"


def test_edited_count_is_rejected(model, short):
    es, _, cs, asg = short
    toks, flags, (c,) = es.instances()
    for other in {c - 1, c + 1, 0, es.total} - {c}:
        assert MockProver(cs, asg, instances=[toks, flags, [other]]).verify(), other


def test_edited_window_or_flags_are_rejected(model, short):
    es, _, cs, asg = short
    toks, flags, count = es.instances()
    n = len(es.window)
    for pos in (0, 3, n - 1, n):          # a context token, a middle one, the last target, padding
        bad = list(toks)
        bad[pos] = (bad[pos] + 1) % 65
        assert MockProver(cs, asg, instances=[bad, flags, count]).verify(), pos
    for pos in (1, n - 1, n):             # unscore a target, score a padding position
        f = list(flags)
        f[pos] = 1 - f[pos]
        assert MockProver(cs, asg, instances=[toks, f, count]).verify(), pos


def _score_cells(asg):
    info = next(r for r in asg.regions if r.name == "eval.score")
    cols = {c.name: c for c in asg.cs.advice_columns if c.name.startswith("eval.")}
    return info.start, cols


def test_every_scoring_cell_is_pinned(short):
    _, _, cs, asg = short
    start, cols = _score_cells(asg)
    cells = [c for c in region_cells(asg, "eval.score") if c.column.name.startswith("eval.")]
    assert sorted(cols) == ["eval." + n for n in sorted(("next", "flag", "argmax", "correct",
                                                         "inv", "acc"))]
    assert len(cells) == 6 * (L - 1) and {c.row for c in cells} == set(range(start, start + L - 1))
    assert assert_tampering_detected(cs, asg, cells) == len(cells)


def _set(asg, col, row, value):
    asg.set_cell(col, row, value)


def test_a_coordinated_false_count_is_rejected(model, short):
    """Claim one more (or one fewer) correct prediction with every cell made consistent with
    the claim except the is-zero test: the scoring gate catches it."""
    es, circ, cs, asg = short
    start, col = _score_cells(asg)
    toks, flags, (c,) = es.instances()
    nt = circ.result["next_tokens"]
    n = len(es.window)
    right = [t for t in range(n - 1) if nt[t] == es.window[t + 1]]
    wrong = [t for t in range(n - 1) if nt[t] != es.window[t + 1]]
    assert right and wrong
    for t, new_correct, delta in [(wrong[0], 1, +1), (right[0], 0, -1)]:
        saved = {(name, r): asg.value(col[name], start + r)
                 for name in ("eval.correct", "eval.inv", "eval.acc") for r in range(L - 1)}
        try:
            _set(asg, col["eval.correct"], start + t, new_correct)
            for inv in (0, 1, 5):
                _set(asg, col["eval.inv"], start + t, inv)
                for r in range(t, L - 1):
                    _set(asg, col["eval.acc"], start + r, saved[("eval.acc", r)] + delta)
                failures = MockProver(cs, asg, instances=[toks, flags, [c + delta]]).verify()
                assert failures and all("eval.score" in str(f) for f in failures), failures
        finally:
            for (name, r), v in saved.items():
                _set(asg, col[name], start + r, v)
    MockProver(cs, asg).assert_satisfied()


def test_a_false_claim_is_refused_then_rejected(model):
    _, st, qm, full = model
    window = full[:6]
    c = reference_count(qm, window)
    with pytest.raises(EvalMismatch, match=f"claimed count {c + 1}"):
        built(qm, st, window, correct=c + 1)
    *_, cs, asg = built(qm, st, window, correct=c + 1, check=False)
    assert MockProver(cs, asg).verify()


def test_generation_circuit_is_unchanged_by_the_eval_mode(model):
    _, st, qm, _ = model
    gen = ConstraintSystem()
    keygen_circuit(qm, st, 8).configure(gen)
    ev = ConstraintSystem()
    keygen_circuit(qm, st, L, statement="eval").configure(ev)
    assert [c.name for c in gen.instance_columns] == ["tokens", "gen"]
    assert [c.name for c in ev.instance_columns] == ["tokens", "scored", "count"]
    gen_gates = {g.name for g in gen.gates}
    ev_gates = {g.name for g in ev.gates}
    assert "generate.bind" in gen_gates and not any(n.startswith("eval.") for n in gen_gates)
    assert {"eval.score", "eval.count.first", "eval.count.next"} <= ev_gates
    assert "generate.bind" not in ev_gates
    # everything before the statement's binding is the same circuit
    assert gen_gates - {"generate.bind"} == ev_gates - {"eval.score", "eval.count.first",
                                                        "eval.count.next"}


@pytest.mark.parametrize("window,max_tokens,correct,match", [
    ((1,), 4, 0, "at least 2"),
    ((1, 2, 3, 4, 5), 4, 0, "more than this key's maximum of 4"),
    ((1, 2, 3), 4, 3, "outside"),
    ((1, 2, 3), 4, -1, "outside"),
])
def test_bad_eval_statements(window, max_tokens, correct, match):
    with pytest.raises(StatementError, match=match):
        EvalStatement(window, max_tokens, correct)


def test_bad_windows_are_refused(model):
    _, st, qm, _ = model
    with pytest.raises(TokenError, match="outside the vocabulary"):
        ModelCircuit(qm, st, EvalStatement((1, 65), L, 0))
    with pytest.raises(TokenError, match="outside the vocabulary"):
        ModelCircuit(qm, st, EvalStatement((1, -1, 2), L, 0))
    with pytest.raises(TokenError, match="exceed block_size"):
        ModelCircuit(qm, st, EvalStatement(tuple(range(L + 1)), L + 1, 0))


def test_eval_proof_file_round_trip(tmp_path):
    es = EvalStatement((5, 6, 7), 4, 1)
    path = tmp_path / "e.sgp"
    write_proof_file(path, "ab" * 32, es, b"PROOF", text="abc")
    data = path.read_bytes()
    header, st, proof = parse_proof_file(data)
    assert st == es and st.kind == "eval" and proof == b"PROOF"
    assert header["statement"] == "eval" and header["correct"] == 1 and header["text"] == "abc"
    assert (st.prompt, st.output, st.total, st.accuracy) == ((5, 6, 7), (), 2, 0.5)
    # generation files carry no statement field (their format is unchanged)
    write_proof_file(tmp_path / "g.sgp", "ab" * 32, Statement((1,), (2,), 4), b"P")
    assert b'"statement"' not in (tmp_path / "g.sgp").read_bytes()
    for change, match in [({"correct": True}, "malformed"), ({"correct": 3}, "outside"),
                          ({"statement": "eva1"}, "unknown statement kind"),
                          ({"tokens": [5]}, "at least 2")]:
        with pytest.raises(StatementError, match=match):
            parse_proof_file(edit_header(data, **change))


def edit_header(data: bytes, **changes) -> bytes:
    """A proof file with header fields changed (the proof bytes kept)."""
    header, _, proof = parse_proof_file(data)
    header.update(changes)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return data[:5] + data[5:7] + struct.pack("<I", len(hb)) + hb + proof


@pytest.mark.slow
def test_prove_verify_round_trip(model, short):
    from snarkgpt.testing import prove_round_trip
    es, circ, _, asg = short
    _, _, check = prove_round_trip(circ, srs_size=(1 << asg.k) + 1)
    toks, flags, (c,) = es.instances()
    assert not check([toks, flags, [c + 1]])
    bad = list(toks)
    bad[len(es.window) - 1] = (bad[len(es.window) - 1] + 1) % 65
    assert not check([bad, flags, [c]])
