"""The `snarkgpt` command end to end, in process: setup, prove, verify, audit, and every refusal.

Setup (keygen at the circuit's full size) is the slow part: each model is set up once per
module. The model is the smallest random GPT (no tokenizer), so prompts are token ids.
"""
import json
import os
import shutil

import numpy as np
import pytest

from snarkgpt.cli import main
from snarkgpt.model.statement import parse_proof_file, write_proof_file

CONFIG = "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8"
MODEL_A = f"random:{CONFIG},seed=1"
MODEL_B = f"random:{CONFIG},seed=2"
V, L = 8, 4
PROMPT = [1, 2]
NEW = 2


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `snarkgpt argv...`."""
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    return code, json.loads(out.strip().splitlines()[-1]), err


def assert_bad_input(code, err, *words):
    """Exit 2, one line on stderr naming the problem, no traceback."""
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snarkgpt: ") and "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("cli")


def _setup(work, spec, name):
    out = work / name
    code = main(["setup", "--model", spec, "--out", str(out), "--json"])
    assert code == 0
    return out, json.loads((out / "card.json").read_text())


@pytest.fixture(scope="module")
def keys_a(work):
    return _setup(work, MODEL_A, "keys-a")


@pytest.fixture(scope="module")
def keys_b(work):
    return _setup(work, MODEL_B, "keys-b")


@pytest.fixture(scope="module")
def proof_a(work, keys_a):
    """(path, the JSON result of `prove`) for PROMPT + NEW greedy tokens of model A."""
    import contextlib
    import io
    keydir, _ = keys_a
    path = work / "a.sgp"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["prove", "--keys", str(keydir), "--prompt-tokens", ",".join(map(str, PROMPT)),
                     "--max-new-tokens", str(NEW), "--out", str(path), "--json"])
    assert code == 0
    return path, json.loads(buf.getvalue().strip().splitlines()[-1])


def greedy(spec, card, prompt, n):
    """The quantized model's greedy continuation, computed here without the prover."""
    from snarkgpt.model.integer_forward import integer_forward
    from snarkgpt.model.quantize import QuantSettings, quantize_model
    from snarkgpt.model.weights import load_model
    settings = QuantSettings.from_json(json.dumps(card["quant_settings"]))
    qmodel = quantize_model(load_model(spec), settings)
    toks = list(prompt)
    for _ in range(n):
        fw = integer_forward(qmodel, np.array(toks), np.array([len(toks) - 1]))
        toks.append(int(fw.next_tokens[-1]))
    return toks[len(prompt):]


def flip_proof_byte(src, dst, where=0.5):
    """Copy a proof file, flipping one byte inside the PLONK proof (not the header)."""
    data = bytearray(src.read_bytes())
    _, _, proof = parse_proof_file(bytes(data))
    start = len(data) - len(proof)
    data[start + int(len(proof) * where)] ^= 0x01
    dst.write_bytes(bytes(data))


# ------------------------------------------------------------------------------ round trip

def test_setup_writes_a_key_directory(keys_a):
    keydir, card = keys_a
    assert sorted(os.listdir(keydir)) == ["card.json", "model.npz", "srs.npz", "vk.bin"]
    assert len(card["fingerprint"]) == 64 and card["max_tokens"] == L
    assert card["insecure_setup"] is True and card["tokenizer"] is None
    # the dev SRS's seed (hence its secret tau) is not published, nor kept for the prover
    assert card["srs"].startswith("dev") and "seed=" not in card["srs"]
    with np.load(keydir / "srs.npz") as z:
        assert "seed=" not in str(z["source"]) and "tau" not in z.files
    # no temporary folder left beside it
    assert not [n for n in os.listdir(keydir.parent) if n.startswith(".setup-")]


def test_prove_then_verify(capsys, work, keys_a, proof_a):
    keydir, card = keys_a
    path, res = proof_a
    assert res["model_fingerprint"] == card["fingerprint"]
    assert res["prompt_tokens"] == PROMPT and len(res["output_tokens"]) == NEW
    assert res["k"] == card["k"] and res["prove_seconds"] > 0
    assert res["proof_file_bytes"] == path.stat().st_size > res["proof_bytes"] > 0
    # the proven tokens are the quantized model's greedy tokens
    assert res["output_tokens"] == greedy(MODEL_A, card, PROMPT, NEW)
    assert not [n for n in os.listdir(work) if n.endswith(".tmp")]

    code, v, _ = run_json(capsys, "verify", "--keys", keydir, "--proof", path)
    assert code == 0 and v["valid"] is True and "reason" not in v
    for key in ("model_fingerprint", "prompt_tokens", "output_tokens", "k", "proof_bytes",
                "proof_file_bytes"):
        assert v[key] == res[key], key
    assert v["verify_ms"] > 0 and v["insecure_setup"] is True

    code, out, _ = run(capsys, "verify", "--keys", keydir, "--proof", path)
    assert code == 0 and out.splitlines()[0] == "VERIFIED" and "INSECURE" in out


def test_verify_log_then_audit(capsys, work, keys_a, proof_a):
    keydir, card = keys_a
    path, _ = proof_a
    log = work / "alice.jsonl"
    for _ in range(2):
        assert run(capsys, "verify", "--keys", keydir, "--proof", path, "--log", log)[0] == 0
    code, res, _ = run_json(capsys, "audit", log, "--keys", keydir)
    assert code == 0 and res["ok"] and res["records"] == 2
    assert res["fingerprints"] == {card["fingerprint"]: 2}
    assert all(r["reverified"] for r in res["results"])
    code, out, _ = run(capsys, "audit", log, "--fingerprint", card["fingerprint"])
    assert code == 0 and out.splitlines()[-1] == "AUDIT OK"
    # expecting another model's fingerprint fails
    code, out, _ = run(capsys, "audit", log, "--fingerprint", "ab" * 32)
    assert code == 1 and out.splitlines()[-1] == "AUDIT FAILED"


# ------------------------------------------------------------------------------ rejections

def test_tampered_proof_is_rejected(capsys, work, keys_a, proof_a):
    keydir, _ = keys_a
    path, _ = proof_a
    for i, where in enumerate((0.1, 0.5, 0.9)):
        bad = work / f"tampered{i}.sgp"
        flip_proof_byte(path, bad, where)
        code, res, _ = run_json(capsys, "verify", "--keys", keydir, "--proof", bad)
        assert code == 1 and res["valid"] is False and "does not verify" in res["reason"]
    code, out, _ = run(capsys, "verify", "--keys", keydir, "--proof", bad)
    assert code == 1 and out.startswith("REJECTED: ")


def test_edited_header_tokens_are_rejected(capsys, work, keys_a, proof_a):
    keydir, card = keys_a
    path, res = proof_a
    header, st, proof = parse_proof_file(path.read_bytes())
    from snarkgpt.model.statement import Statement
    edits = {
        "output": Statement(st.prompt, ((st.output[0] + 1) % V,) + st.output[1:], L),
        "prompt": Statement(((st.prompt[0] + 1) % V,) + st.prompt[1:], st.output, L),
        "shorter": Statement(st.prompt, st.output[:1], L),
    }
    log = work / "edited.jsonl"
    for name, edited in edits.items():
        bad = work / f"edited-{name}.sgp"
        write_proof_file(bad, header["fingerprint"], edited, proof)
        code, v, _ = run_json(capsys, "verify", "--keys", keydir, "--proof", bad, "--log", log)
        assert code == 1 and v["valid"] is False, name
    # the log keeps the rejections, and the audit reports them
    code, out, _ = run(capsys, "audit", log, "--keys", keydir)
    assert code == 1 and "recorded as invalid" in out and out.splitlines()[-1] == "AUDIT FAILED"


def test_proof_for_another_fingerprint_is_rejected(capsys, work, keys_a, proof_a):
    """A proof file labelled with another model's fingerprint: REJECTED before any pairing."""
    keydir, card = keys_a
    header, st, proof = parse_proof_file(proof_a[0].read_bytes())
    other = work / "other-model.sgp"
    write_proof_file(other, "bb" * 32, st, proof)
    code, v, _ = run_json(capsys, "verify", "--keys", keydir, "--proof", other)
    assert code == 1 and v["valid"] is False and "the proof is for model bbbb" in v["reason"]
    code, out, _ = run(capsys, "verify", "--keys", keydir, "--proof", other)
    assert code == 1 and out.startswith("REJECTED: the proof is for model")


def test_proof_against_another_models_keys_is_rejected(capsys, keys_a, keys_b, proof_a):
    keydir_b, card_b = keys_b
    path, res = proof_a
    assert card_b["fingerprint"] != keys_a[1]["fingerprint"]
    code, v, _ = run_json(capsys, "verify", "--keys", keydir_b, "--proof", path)
    assert code == 1 and v["valid"] is False and "the proof is for model" in v["reason"]
    # relabelling the proof with model B's fingerprint does not help
    header, st, proof = parse_proof_file(path.read_bytes())
    relabelled = path.parent / "relabelled.sgp"
    write_proof_file(relabelled, card_b["fingerprint"], st, proof)
    code, v, _ = run_json(capsys, "verify", "--keys", keydir_b, "--proof", relabelled)
    assert code == 1 and v["valid"] is False and "does not verify" in v["reason"]


def test_audit_of_users_served_by_different_models(capsys, work, keys_a, keys_b, proof_a):
    (keydir_a, card_a), (keydir_b, card_b) = keys_a, keys_b
    path_b = work / "b.sgp"
    code, res_b, _ = run_json(capsys, "prove", "--keys", keydir_b, "--prompt-tokens", "1,2",
                              "--max-new-tokens", 2, "--out", path_b)
    assert code == 0 and res_b["model_fingerprint"] == card_b["fingerprint"]
    alice, bob = work / "alice2.jsonl", work / "bob.jsonl"
    assert run(capsys, "verify", "--keys", keydir_a, "--proof", proof_a[0], "--log", alice)[0] == 0
    assert run(capsys, "verify", "--keys", keydir_b, "--proof", path_b, "--log", bob)[0] == 0
    assert run(capsys, "audit", alice)[0] == 0 and run(capsys, "audit", bob)[0] == 0
    code, res, _ = run_json(capsys, "audit", alice, bob)
    assert code == 1 and not res["ok"] and not res["same_model"]
    assert res["fingerprints"] == {card_a["fingerprint"]: 1, card_b["fingerprint"]: 1}
    code, out, _ = run(capsys, "audit", alice, bob)
    assert "RECORDS USED DIFFERENT MODELS" in out and out.splitlines()[-1] == "AUDIT FAILED"


def test_audit_of_logs_with_two_fingerprints(capsys, work, keys_a, proof_a):
    """Two users' logs carrying different models' fingerprints (Bob's record is a proof file
    labelled with another model, logged as checked): the audit fails without any key."""
    from snarkgpt import audit
    card_a, card_b = keys_a[1], {"fingerprint": "bb" * 32}
    header, st, proof = parse_proof_file(proof_a[0].read_bytes())
    alice, bob = work / "alice3.jsonl", work / "bob3.jsonl"
    audit.append(alice, audit.record_for(proof_a[0].read_bytes(), True))
    relabelled = work / "bob.sgp"
    write_proof_file(relabelled, card_b["fingerprint"], st, proof)
    audit.append(bob, audit.record_for(relabelled.read_bytes(), True))
    code, res, _ = run_json(capsys, "audit", alice, bob)
    assert code == 1 and not res["same_model"]
    assert set(res["fingerprints"]) == {card_a["fingerprint"], card_b["fingerprint"]}
    code, out, _ = run(capsys, "audit", alice, bob)
    assert code == 1 and "RECORDS USED DIFFERENT MODELS" in out
    # with model A's keys, Bob's record is not A's: still a failure
    code, res, _ = run_json(capsys, "audit", alice, bob, "--keys", keys_a[0])
    assert code == 1 and res["expected_fingerprint"] == card_a["fingerprint"]


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("extra,words", [
    (["--prompt-tokens", "1,9", "--max-new-tokens", "1"], ["token 9", "vocabulary"]),
    (["--prompt-tokens=-1", "--max-new-tokens", "1"], ["token -1", "vocabulary"]),
    (["--prompt-tokens", "1,x", "--max-new-tokens", "1"], ["comma-separated integers"]),
    (["--prompt-tokens", "", "--max-new-tokens", "1"], ["prompt is empty"]),
    (["--prompt-tokens", "1,2,3", "--max-new-tokens", "2"], ["exceeds", "maximum of 4"]),
    (["--prompt-tokens", "1", "--max-new-tokens", "0"], ["--max-new-tokens", "at least 1"]),
    (["--prompt-tokens", "1", "--max-new-tokens", "-3"], ["--max-new-tokens", "at least 1"]),
    (["--prompt", "hello", "--max-new-tokens", "1"], ["no tokenizer", "--prompt-tokens"]),
])
def test_prove_refuses_bad_requests(capsys, work, keys_a, extra, words):
    out = work / "never.sgp"
    code, _, err = run(capsys, "prove", "--keys", keys_a[0], "--out", out, *extra)
    assert_bad_input(code, err, *words)
    assert not out.exists()


def test_text_prompt_outside_the_tokenizer(capsys, work, keys_a):
    # a public card with a tokenizer (the 8-character alphabet of this vocabulary)
    keydir = work / "keys-tok"
    keydir.mkdir()
    card = dict(keys_a[1], tokenizer="abcdefgh")
    (keydir / "card.json").write_text(json.dumps(card))
    out = work / "never.sgp"
    code, _, err = run(capsys, "prove", "--keys", keydir, "--prompt", "abz",
                       "--max-new-tokens", 1, "--out", out)
    assert_bad_input(code, err, "'z'", "position 2", "not in the tokenizer")
    assert not out.exists()


def test_prove_fails_without_partial_files(capsys, work, keys_a):
    # the public half of a key directory (what a verifier holds) cannot prove
    keydir = work / "keys-public"
    keydir.mkdir()
    for name in ("card.json", "vk.bin"):
        shutil.copy(keys_a[0] / name, keydir / name)
    out = work / "never.sgp"
    code, _, err = run(capsys, "prove", "--keys", keydir, "--prompt-tokens", "1",
                       "--max-new-tokens", 1, "--out", out)
    assert_bad_input(code, err, "prover files missing")
    assert not out.exists() and not (work / "never.sgp.tmp").exists()
    # ... but it can verify
    assert run(capsys, "verify", "--keys", keydir, "--proof", work / "a.sgp")[0] == 0
    # an output folder that does not exist is refused before any work
    code, _, err = run(capsys, "prove", "--keys", keys_a[0], "--prompt-tokens", "1",
                       "--max-new-tokens", 1, "--out", work / "nope" / "p.sgp")
    assert_bad_input(code, err, "does not exist")


def test_missing_or_broken_keys(capsys, work, keys_a, proof_a):
    missing = work / "no-such-keys"
    for argv in (["prove", "--keys", missing, "--prompt-tokens", "1", "--max-new-tokens", 1,
                  "--out", work / "never.sgp"],
                 ["verify", "--keys", missing, "--proof", proof_a[0]],
                 ["audit", work / "alice.jsonl", "--keys", missing]):
        code, _, err = run(capsys, *argv)
        assert_bad_input(code, err, "card.json", "cannot read")
    # a verifying key that is not the one the card announces
    broken = work / "keys-broken"
    broken.mkdir()
    shutil.copy(keys_a[0] / "card.json", broken / "card.json")
    data = bytearray((keys_a[0] / "vk.bin").read_bytes())
    data[-1] ^= 1
    (broken / "vk.bin").write_bytes(bytes(data))
    code, _, err = run(capsys, "verify", "--keys", broken, "--proof", proof_a[0])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("content,words", [
    (b"", ["bad magic"]),
    (b"not a proof at all", ["bad magic"]),
    (b"SGGEN\x02\x00\xff\x00\x00\x00{}", ["truncated header"]),
    (b"SGGEN\x02\x00\x02\x00\x00\x00{}", ["malformed header"]),
])
def test_malformed_proof_file(capsys, work, keys_a, content, words):
    bad = work / "malformed.sgp"
    bad.write_bytes(content)
    code, _, err = run(capsys, "verify", "--keys", keys_a[0], "--proof", bad)
    assert_bad_input(code, err, *words)
    code, _, err = run(capsys, "verify", "--keys", keys_a[0], "--proof", work / "missing.sgp")
    assert_bad_input(code, err, "cannot read")


def test_malformed_audit_log(capsys, work):
    log = work / "garbage.jsonl"
    log.write_text("{not json\n")
    code, _, err = run(capsys, "audit", log)
    assert_bad_input(code, err, "line 1")
    code, _, err = run(capsys, "audit", work / "missing.jsonl")
    assert_bad_input(code, err, "cannot read")
    # a record whose proof is not base64 is an audit failure, not a crash
    rec = {"fingerprint": "ab" * 32, "proof": "!!!", "valid": True}
    log.write_text(json.dumps(rec) + "\n")
    code, out, _ = run(capsys, "audit", log)
    assert code == 1 and "unreadable proof" in out


@pytest.mark.parametrize("spec,words", [
    ("no-such-model.npz", ["no such file"]),
    ("random:n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=x", ["vocab_size"]),
    ("random:n_layer=1,n_head=3,n_embd=4,block_size=4,vocab_size=8", []),
])
def test_setup_refuses_bad_models_and_leaves_nothing(capsys, work, spec, words):
    out = work / "keys-never"
    before = set(os.listdir(work))
    code, _, err = run(capsys, "setup", "--model", spec, "--out", out)
    assert_bad_input(code, err, *words)
    assert not out.exists() and set(os.listdir(work)) == before


def test_setup_refuses_bad_options_before_any_work(capsys, work, keys_a):
    before = set(os.listdir(work))
    for extra, words in ((["--max-tokens", "9"], ["max tokens", "[2, 4]"]),
                         (["--max-tokens", "0"], ["max tokens"]),
                         (["--srs", work / "none.ptau"], ["none.ptau"])):
        code, _, err = run(capsys, "setup", "--model", MODEL_A, "--out", work / "keys-never",
                           *extra)
        assert_bad_input(code, err, *words)
    assert set(os.listdir(work)) == before
    # a folder that is not a key directory is never overwritten
    precious = work / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    code, _, err = run(capsys, "setup", "--model", MODEL_A, "--out", precious)
    assert_bad_input(code, err, "not a key directory")
    assert (precious / "notes.txt").read_text() == "keep me"


def test_unknown_benchmark_and_bad_bench_config(capsys):
    code, _, err = run(capsys, "bench", "model")
    assert_bad_input(code, err, "--config")
    code, _, err = run(capsys, "bench", "model", "--config", "n_layer=1,bogus")
    assert_bad_input(code, err, "bogus")


@pytest.mark.parametrize("layout", ["banked", "compact"])
def test_setup_layout_choice_round_trip(capsys, work, layout):
    """`setup --layout` forces the layout (recorded in the card with its matmul lanes); the
    prover rebuilds it from the card and the proof verifies; a layout it does not know is
    refused before any work."""
    out = work / f"layout-{layout}"
    code, card, _ = run_json(capsys, "setup", "--model", MODEL_A, "--out", out, "--layout", layout)
    assert code == 0 and card["compact_layout"] is (layout == "compact")
    assert card["mm_lanes"] >= 2
    assert json.loads((out / "card.json").read_text())["mm_lanes"] == card["mm_lanes"]
    proof = work / f"layout-{layout}.sgp"
    code, res, _ = run_json(capsys, "prove", "--keys", out, "--prompt-tokens", "1,2",
                            "--max-new-tokens", NEW, "--out", proof)
    assert code == 0
    code, v, _ = run_json(capsys, "verify", "--keys", out, "--proof", proof)
    assert code == 0 and v["valid"] is True and v["output_tokens"] == res["output_tokens"]
    with pytest.raises(SystemExit) as e:     # argparse: usage and exit 2
        main(["setup", "--model", MODEL_A, "--out", str(work / "nope"), "--layout", "wide"])
    assert e.value.code == 2 and "wide" in capsys.readouterr().err
    assert not (work / "nope").exists()
