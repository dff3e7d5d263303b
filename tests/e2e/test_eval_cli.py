"""`snarkgpt prove-eval` end to end, in process: an eval key, a proven count of correct
next-token predictions over a public window, its verification, and every refusal (edited
count or window, altered proof bytes, another model's or a generation key, bad windows).

The model is a tiny random GPT with the 65-character tokenizer, so windows can be text."""
import contextlib
import io
import json
import struct

import numpy as np
import pytest

from snarkgpt.cli import main
from snarkgpt.model.statement import VERSION, EvalStatement, parse_proof_file

CONFIG = "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=65"
MODEL = f"random:{CONFIG},seed=1"
OTHER = f"random:{CONFIG},seed=2"
L = 5                       # an eval key's default window: block_size + 1 tokens


def run(capsys, *argv):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    return code, json.loads(out.strip().splitlines()[-1]), err


def assert_bad_input(code, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("snarkgpt: ") and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], (w, lines[0])


def quiet_main(*argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main([str(a) for a in argv])
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("eval")


def _setup(work, spec, name, *extra):
    out = work / name
    assert quiet_main("setup", "--model", spec, "--out", out, *extra)[0] == 0
    return out, json.loads((out / "card.json").read_text())


@pytest.fixture(scope="module")
def eval_keys(work):
    return _setup(work, MODEL, "keys-eval", "--eval")


@pytest.fixture(scope="module")
def gen_keys(work):
    return _setup(work, MODEL, "keys-gen")


def qmodel(spec, card):
    from snarkgpt.model.quantize import QuantSettings, quantize_model
    from snarkgpt.model.weights import load_model
    return quantize_model(load_model(spec), QuantSettings.from_json(json.dumps(card["quant_settings"])))


def next_token(qm, prefix):
    from snarkgpt.model.integer_forward import integer_forward
    return int(integer_forward(qm, np.array(prefix), np.array([len(prefix) - 1])).next_tokens[0])


@pytest.fixture(scope="module")
def window(eval_keys):
    """A full window the model predicts in part: greedy from 'R', one token replaced."""
    qm = qmodel(MODEL, eval_keys[1])
    toks = [30]
    while len(toks) < L:
        toks.append(next_token(qm, toks))
    toks[2] = (toks[2] + 1) % 65
    correct = sum(next_token(qm, toks[:t + 1]) == toks[t + 1] for t in range(L - 1))
    assert 0 < correct < L - 1
    return toks, correct


@pytest.fixture(scope="module")
def eval_proof(work, eval_keys, window):
    """(path, JSON of prove-eval) for the window given as a text file."""
    from snarkgpt.model.tokenizer import CharTokenizer
    toks, _ = window
    text = CharTokenizer(eval_keys[1]["tokenizer"]).decode(toks)
    src = work / "window.txt"
    src.write_text(text, encoding="utf-8")
    path = work / "e.sgp"
    code, out = quiet_main("prove-eval", "--keys", eval_keys[0], "--text-file", src, "--out", path,
                           "--json")
    assert code == 0
    return path, json.loads(out.strip().splitlines()[-1])


def edit_header(src, dst, **changes):
    header, _, proof = parse_proof_file(src.read_bytes())
    header.update(changes)
    hb = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    dst.write_bytes(b"SGGEN" + struct.pack("<HI", VERSION, len(hb)) + hb + proof)


def test_eval_key_card(eval_keys, gen_keys):
    card = eval_keys[1]
    assert card["statement"] == "eval" and card["max_tokens"] == L
    assert gen_keys[1]["statement"] == "generate" and gen_keys[1]["max_tokens"] == L - 1
    assert card["fingerprint"] != gen_keys[1]["fingerprint"]


def test_prove_eval_then_verify(capsys, eval_keys, window, eval_proof):
    toks, correct = window
    path, res = eval_proof
    assert res["valid"] is True and res["statement"] == "eval"
    assert res["tokens"] == toks and res["correct"] == correct and res["total"] == L - 1
    assert res["accuracy"] == pytest.approx(correct / (L - 1))
    assert res["model_fingerprint"] == eval_keys[1]["fingerprint"] and res["k"] == eval_keys[1]["k"]
    assert res["proof_bytes"] > 0 and res["prove_seconds"] > 0
    header, st, _ = parse_proof_file(path.read_bytes())
    assert header["statement"] == "eval" and st == EvalStatement(tuple(toks), L, correct)
    code, v, _ = run_json(capsys, "verify", "--keys", eval_keys[0], "--proof", path)
    assert code == 0 and v["valid"] is True
    assert (v["statement"], v["tokens"], v["correct"], v["total"]) == ("eval", toks, correct, L - 1)
    code, out, _ = run(capsys, "verify", "--keys", eval_keys[0], "--proof", path)
    assert code == 0 and out.startswith("VERIFIED")
    assert f"correct next-token predictions: {correct} of {L - 1}" in out


@pytest.mark.parametrize("change", ["count+1", "count-1", "count=total", "token", "last token",
                                    "shorter window"])
def test_edited_statements_are_rejected(capsys, work, eval_keys, window, eval_proof, change):
    toks, correct = window
    path = eval_proof[0]
    bad = work / "edited.sgp"
    edits = {"count+1": {"correct": correct + 1}, "count-1": {"correct": correct - 1},
             "count=total": {"correct": L - 1},
             "token": {"tokens": toks[:1] + [(toks[1] + 1) % 65] + toks[2:]},
             "last token": {"tokens": toks[:-1] + [(toks[-1] + 7) % 65]},
             "shorter window": {"tokens": toks[:-1], "correct": min(correct, L - 2)}}[change]
    edit_header(path, bad, **edits)
    code, v, _ = run_json(capsys, "verify", "--keys", eval_keys[0], "--proof", bad)
    assert code == 1 and v["valid"] is False and v["reason"].startswith("the proof does not verify")


def test_flipped_proof_byte_is_rejected(capsys, work, eval_keys, eval_proof):
    data = bytearray(eval_proof[0].read_bytes())
    _, _, proof = parse_proof_file(bytes(data))
    data[len(data) - len(proof) + len(proof) // 2] ^= 0x01
    bad = work / "flipped.sgp"
    bad.write_bytes(bytes(data))
    code, v, _ = run_json(capsys, "verify", "--keys", eval_keys[0], "--proof", bad)
    assert code == 1 and v["valid"] is False


def test_wrong_keys_are_rejected(capsys, work, eval_keys, gen_keys, eval_proof):
    # a generation key cannot check an eval proof
    code, v, _ = run_json(capsys, "verify", "--keys", gen_keys[0], "--proof", eval_proof[0])
    assert code == 1 and "an eval proof cannot be checked with generation keys" in v["reason"]
    # nor another model's eval key, even with the fingerprint in the header replaced
    other, card = _setup(work, OTHER, "keys-eval-other", "--eval")
    code, v, _ = run_json(capsys, "verify", "--keys", other, "--proof", eval_proof[0])
    assert code == 1 and "the proof is for model" in v["reason"]
    forged = work / "forged.sgp"
    edit_header(eval_proof[0], forged, fingerprint=card["fingerprint"])
    code, v, _ = run_json(capsys, "verify", "--keys", other, "--proof", forged)
    assert code == 1 and v["reason"].startswith("the proof does not verify")
    # an eval key cannot check a generation proof
    gen = work / "g.sgp"
    assert quiet_main("prove", "--keys", gen_keys[0], "--prompt", "RO", "--max-new-tokens", 1,
                      "--out", gen)[0] == 0
    code, v, _ = run_json(capsys, "verify", "--keys", eval_keys[0], "--proof", gen)
    assert code == 1 and "a generation proof cannot be checked with eval keys" in v["reason"]
    assert run(capsys, "verify", "--keys", gen_keys[0], "--proof", gen)[0] == 0


def test_keys_of_the_other_kind_are_refused(capsys, work, eval_keys, gen_keys):
    out = work / "never.sgp"
    code, _, err = run(capsys, "prove-eval", "--keys", gen_keys[0], "--text", "ROME", "--out", out)
    assert_bad_input(code, err, "generation key", "setup --eval")
    code, _, err = run(capsys, "prove", "--keys", eval_keys[0], "--prompt", "RO",
                       "--max-new-tokens", 1, "--out", out)
    assert_bad_input(code, err, "eval key", "prove-eval")
    assert not out.exists() and not (work / "never.sgp.tmp").exists()


@pytest.mark.parametrize("args,words", [
    (["--text", "ROMEO:"], ["6 tokens", "maximum of 5"]),
    (["--tokens", "1,2,3,4,5,6,7"], ["7 tokens", "maximum of 5"]),
    (["--text", "R"], ["at least 2"]),
    (["--text", "RO{"], ["'{'", "position 2", "not in the tokenizer"]),
    (["--tokens", "1,65"], ["token 65", "outside the vocabulary"]),
    (["--tokens", "1,x"], ["--tokens", "comma-separated"]),
    (["--text-file", "no-such-window.txt"], ["no-such-window.txt", "cannot read"]),
])
def test_bad_windows_are_refused(capsys, work, eval_keys, args, words):
    out = work / "never.sgp"
    code, _, err = run(capsys, "prove-eval", "--keys", eval_keys[0], *args, "--out", out)
    assert_bad_input(code, err, *words)
    assert not out.exists() and not (work / "never.sgp.tmp").exists()


def test_bad_output_path_and_public_keys(capsys, work, eval_keys):
    import shutil
    code, _, err = run(capsys, "prove-eval", "--keys", eval_keys[0], "--text", "ROM", "--out",
                       work / "nope" / "e.sgp")
    assert_bad_input(code, err, "does not exist")
    public = work / "keys-eval-public"
    public.mkdir()
    for name in ("card.json", "vk.bin"):
        shutil.copy(eval_keys[0] / name, public / name)
    code, _, err = run(capsys, "prove-eval", "--keys", public, "--text", "ROM", "--out", work / "p.sgp")
    assert_bad_input(code, err, "prover files missing")
    assert not (work / "p.sgp").exists()


def test_setup_eval_window_bounds(capsys, work):
    code, _, err = run(capsys, "setup", "--model", MODEL, "--out", work / "k", "--eval",
                       "--max-tokens", 6)
    assert_bad_input(code, err, "max tokens must be in [2, 5]")
    assert not (work / "k").exists()


def test_verify_log_then_audit(capsys, work, eval_keys, eval_proof):
    log = work / "eval-audit.jsonl"
    assert run(capsys, "verify", "--keys", eval_keys[0], "--proof", eval_proof[0], "--log", log)[0] == 0
    code, res, _ = run_json(capsys, "audit", log, "--keys", eval_keys[0])
    assert code == 0 and res["ok"] and res["results"][0]["reverified"] is True


def test_serve_refuses_an_eval_key(capsys, eval_keys):
    code, _, err = run(capsys, "serve", "--keys", eval_keys[0], "--port", 1)
    assert_bad_input(code, err, "eval key")


def test_inspect_shows_the_eval_circuit(capsys):
    code, out, _ = run(capsys, "inspect", "--model", MODEL, "--eval")
    assert code == 0
    for word in ("eval.score", "eval.count.next", "correct * inv = 0", "scored", "count"):
        assert word in out, word
    assert "generate.bind" not in out
    code, out, _ = run(capsys, "inspect", "--model", MODEL)
    assert code == 0 and "generate.bind" in out and "eval.score" not in out
