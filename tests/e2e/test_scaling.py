"""bench scaling (a tiny grid), the growth fits, the EZKL skip, and the tutorial's and the
auditor guide's code blocks."""
import io
import json
import re
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from snarkgpt.bench import ezkl_compare, scaling
from snarkgpt.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _cli_json(argv):
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(argv)
    return rc, json.loads(buf.getvalue().strip().splitlines()[-1])


def test_scaling_quick_json_tiny_grid():
    rc, res = _cli_json(["bench", "scaling", "--quick", "--json", "--grid", "test", "--budget", "0"])
    assert rc == 0
    assert res["grid"] == "test" and res["points"]
    sweeps = {p["sweep"] for p in res["points"]}
    assert {"n_layer", "n_embd", "block_size", "scale_bits"} <= sweeps
    for p in res["points"]:
        assert "error" not in p, p
        assert p["rows"] <= 1 << p["k"] and p["k"] >= 1
        assert p["op_rows_sum"] == sum(p["rows_per_op_type"].values())
        assert p["advice_columns"] > 0 and p["lookups"] > 0
        assert 0 <= p["quant"]["top1_agreement"] <= 1 and p["quant"]["max_logit_error"] >= 0
    layers = sorted((p for p in res["points"] if p["sweep"] == "n_layer"), key=lambda p: p["value"])
    assert layers[1]["op_rows_sum"] > layers[0]["op_rows_sum"]
    assert [p for p in res["points"] if p["sweep"] == "scale_bits"][0]["scale_bits"] == 6
    assert res["growth"]["n_layer"]["op_rows_per_layer"] > 0
    assert res["cost_model"]["op_rows_sum"]["terms"].keys() == set(scaling.COST_TERMS)
    assert res["proved"] == 0 and "machine" in res


@pytest.mark.slow
def test_scaling_proves_a_point(tmp_path):
    rc, res = _cli_json(["bench", "scaling", "--json", "--grid", "test", "--prove",
                         "--budget", "1", "--out", str(tmp_path)])
    assert rc == 0 and res["proved"] == 1
    p = next(p for p in res["points"] if "prove_seconds" in p)
    assert p["verified"] and p["proof_bytes"] > 0 and p["peak_rss_bytes"] > 0
    assert set(p["stages"]) >= {"witness", "quotient"}
    assert (tmp_path / "scaling.json").exists()


def test_fit_exponent_synthetic():
    xs = [1, 2, 4, 8, 16]
    assert scaling.fit_exponent(xs, [3 * x ** 2 for x in xs]) == pytest.approx(2.0)
    assert scaling.fit_exponent(xs, [5 * x for x in xs]) == pytest.approx(1.0)
    assert scaling.fit_exponent(xs, [7.0] * 5) == pytest.approx(0.0, abs=1e-12)
    assert scaling.fit_exponent([4, 4], [1, 2]) is None
    assert scaling.fit_exponent([1, 2, 3], [1, None, 0]) is None


def test_cost_model_recovers_terms():
    truth = np.array([20.0, 0.5, 3.0, 2.0])
    pts = []
    for L, H, d, T in [(1, 1, 16, 16), (2, 1, 16, 16), (1, 2, 16, 16), (1, 1, 32, 16),
                       (1, 1, 16, 32), (4, 4, 64, 64), (2, 2, 128, 8)]:
        cfg = {"n_layer": L, "n_head": H, "n_embd": d, "block_size": T, "vocab_size": 65}
        pts.append({"config": cfg, "T": T, "op_rows_sum": float(truth @ scaling._terms(cfg, T))})
    cm = scaling.cost_model(pts)
    assert np.allclose(list(cm["terms"].values()), truth, rtol=1e-3)
    assert cm["max_relative_error"] < 1e-3


def test_ezkl_absent_is_a_clean_skip(monkeypatch, capsys):
    real = __import__("importlib").import_module

    def fake(name, *a, **kw):
        if name == "ezkl":
            raise ImportError("No module named 'ezkl'")
        return real(name, *a, **kw)
    monkeypatch.setattr(ezkl_compare.importlib, "import_module", fake)
    assert ezkl_compare.missing() == "ezkl not installed"
    res = ezkl_compare.run()
    assert res["status"] == "skipped" and res["reference"]["prove_seconds"] == 113.7
    assert ezkl_compare.main([]) == 0
    out = capsys.readouterr().out
    assert "skipped: ezkl not installed" in out and "113.7" in out


def _blocks(name):
    return re.findall(r"```python\n(.*?)```", (DOCS / name).read_text(), flags=re.S)


def _run_blocks(blocks):
    ns = {"__name__": "__doc_blocks__"}
    with redirect_stdout(io.StringIO()):
        for code in blocks:
            exec(compile(code, "<doc>", "exec"), ns)
    return ns


def test_tutorial_circuit_blocks_run():
    """Sections 1-4 (model, statement, circuit, mock prover): the quick part."""
    blocks = _blocks("tutorial.md")
    fast = [b for b in blocks[: next(i for i, b in enumerate(blocks) if "keygen(" in b)]]
    assert len(fast) >= 4
    ns = _run_blocks(fast)
    assert ns["p"]["k"] >= 10


@pytest.mark.slow
def test_tutorial_code_runs():
    """Every block of docs/tutorial.md, keygen, proof and verification included (about a
    minute on an idle 2-core machine, several on a loaded one)."""
    ns = _run_blocks(_blocks("tutorial.md"))
    assert ns["proof"]


def test_auditor_guide_code_runs():
    blocks = _blocks("auditor-guide.md")
    assert blocks
    _run_blocks(blocks)


# a stand-in for EZKL's child: reports a step and its rows as `_child` does, then behaves
FAKE_CHILD = r"""
import argparse, json, sys, time
ap = argparse.ArgumentParser()
for a in ("--config", "--workdir", "--status", "--result"):
    ap.add_argument(a)
a = ap.parse_args()
json.dump({"step": "setup", "logrows": 21, "num_rows": 1999999}, open(a.status, "w"))
how = json.loads(a.config)["how"]
if how == "grow":
    hog = [bytearray(16 << 20) for _ in range(64)]    # 1 GiB, touched
    time.sleep(30)
elif how == "sleep":
    time.sleep(30)
elif how == "fail":
    sys.exit(3)
else:
    json.dump({"verified": True, "prove_seconds": 2.0, "setup_seconds": 1.0},
              open(a.result, "w"))
"""


@pytest.mark.parametrize("how,status", [("grow", "out of memory"), ("sleep", "timeout"),
                                        ("fail", "failed"), ("ok", "ok")])
def test_ezkl_is_watched_and_its_end_recorded(how, status, tmp_path):
    """`ezkl_watched`: a child past the memory cap or the time limit is killed, and the run
    records why, in which step, and the rows its settings asked for; a child that exits
    without a result has failed; one with a result is ok."""
    script = tmp_path / "child.py"
    script.write_text(FAKE_CHILD)
    t = time.monotonic()
    res = ezkl_compare.ezkl_watched({"how": how}, memory_cap=256 << 20, timeout=5.0,
                                    progress=lambda m: None,
                                    child=[sys.executable, str(script)])
    assert time.monotonic() - t < 25
    assert res["status"] == status, res
    assert res["step"] == "setup" and res["logrows"] == 21 and res["num_rows"] == 1999999
    if how == "grow":
        assert res["peak_rss_sampled_bytes"] > 256 << 20
    if how == "fail":
        assert res["reason"] == "exit code 3"
    if how == "ok":
        assert res["prove_seconds"] == 2.0


def test_ezkl_series_absent_is_a_clean_skip_and_the_table_names_failures(monkeypatch, capsys):
    real = ezkl_compare.importlib.import_module

    def fake(name, *a, **k):
        if name == "ezkl":
            raise ImportError("No module named 'ezkl'")
        return real(name, *a, **k)
    monkeypatch.setattr(ezkl_compare.importlib, "import_module", fake)
    assert ezkl_compare.run_series()["status"] == "skipped"
    assert ezkl_compare.main(["--series"]) == 0
    assert "skipped: ezkl not installed" in capsys.readouterr().out
    table = ezkl_compare.format_series({"status": "ok", "points": [
        {"id": "L2-H2-d32-T32-V65", "ezkl": {"status": "out of memory", "step": "setup",
                                              "num_rows": 1980000, "logrows": 21,
                                              "peak_rss_sampled_bytes": 21e9},
         "snarkgpt": {"setup_seconds": 20.0, "prove_seconds": 5.0, "peak_rss_bytes": 1e9},
         "ezkl_over_snarkgpt": {}}]})
    assert "out of memory in setup | 1980000 (21)" in table and "21.0 GB" in table
