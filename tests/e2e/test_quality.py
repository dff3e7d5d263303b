"""bench quality at tiny sizes: held-out windows, the quantization tables, proven accuracy
equal to the integer model's, the audit of simulated users' logs, and bad input."""
import json

import numpy as np
import pytest

from snarkgpt import cli
from snarkgpt.bench import quality

TINY = "random:n_layer=1,n_head=1,n_embd=8,block_size=8,vocab_size=65"
LINES = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
         "All:\nSpeak, speak.\n\nFirst Citizen:\nYou are all resolved rather to die than to famish?\n\n")


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "input.txt"
    p.write_text(LINES * 30)
    return str(p)


def test_held_out_windows_come_from_the_last_tenth(text_file):
    text = open(text_file).read()
    ws = quality.held_out_windows(text, 8, 5)
    assert len(ws) == 5 and all(w.size == 8 and w.dtype == np.int64 for w in ws)
    from snarkgpt.model.tokenizer import shakespeare_tokenizer
    val = shakespeare_tokenizer().encode(text[int(0.9 * len(text)):])
    assert list(ws[0]) == val[:8] and list(ws[-1]) == val[-8:]
    assert [list(w) for w in quality.held_out_windows(text, 8, 5)] == [list(w) for w in ws]
    with pytest.raises(quality.QualityError, match="fewer than a window"):
        quality.held_out_windows("abc" * 10, 8, 2)


def test_accuracy_counts_next_tokens():
    w = [np.array([1, 2, 3, 4])]
    assert quality.accuracy([np.array([2, 3, 0, 9])], w) == (2, 3)


def test_quality_tables_proofs_and_audit(text_file, tmp_path):
    out = tmp_path / "q"
    res = quality.run(TINY, data=text_file, scales=[8, 10], widths=[8, 16], n_windows=3,
                      max_tokens=6, prove_windows=2, users=3, out=str(out), progress=lambda m: None)
    scales = res["scales"]
    assert [r["requested"] for r in scales] == ["calibrate", 8, 10]
    for r in scales:
        assert r["max_logit_error"] >= r["mean_logit_error"] > 0
        assert 0 <= r["top1_agreement"] <= 1 and r["scored"] == 3 * 5
    assert scales[1]["scale_bits"] == 8 and scales[2]["table_rows"] >= scales[1]["table_rows"]
    widths = {(r["n_embd"], r.get("scale_bits")) for r in res["widths"]}
    assert {(8, 8), (8, 12), (16, 10)} <= widths
    pe = res["proven"]
    assert len(pe["windows"]) == 2 and pe["window_tokens"] == 7
    assert pe["all_valid"] and pe["proven_equals_integer"]
    assert all(w["total"] == 6 for w in pe["windows"])
    au = res["audit"]
    assert au["ok"] and au["same_model"] and list(au["fingerprints"]) == [pe["fingerprint"]]
    assert au["records"] == 3 and au["reverified"] == 3
    assert sum(c for _, _, c in au["histogram"]) == 3
    assert (out / "quality.json").exists() and len(list((out / "logs").iterdir())) == 3
    lines = quality.tables(res)
    assert any(line.startswith("### Audit of 3") for line in lines)
    assert any(line.startswith("### Proven accuracy (prove-eval, 2") for line in lines)


def test_cli_bad_input(text_file, tmp_path, capsys):
    base = ["bench", "quality", "--model", TINY, "--widths", "none", "--windows", "2"]
    assert cli.main(base + ["--data", str(tmp_path / "missing.txt")]) == 2
    assert "no tiny-shakespeare text" in capsys.readouterr().err
    assert cli.main(base + ["--data", text_file, "--scale-bits", "8,x"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
    assert cli.main(base + ["--data", text_file, "--prove-windows", "3"]) == 2
    assert cli.main(base + ["--data", text_file, "--max-tokens", "99"]) == 2
    assert cli.main(["bench", "quality", "--model", TINY.replace("65", "16"), "--data",
                     text_file]) == 2
    assert "65 characters" in capsys.readouterr().err
    assert cli.main(base + ["--data", text_file, "--scale-bits", "8", "--max-tokens", "4",
                            "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["window_tokens"] == 4 and len(res["scales"]) == 2 and "proven" not in res
