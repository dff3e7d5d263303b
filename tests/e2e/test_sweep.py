"""The resumable scaling runner (`bench scaling --resume DIR`): one process per point, one
result file per point, reruns skip recorded points, failures are recorded and the sweep goes
on, an interrupted DIR's leftovers are never read as results."""
import json
import os
import signal
import sys

import pytest

from snarkgpt import cli
from snarkgpt.bench import sweep

FAKE_CHILD = r'''
import json, os, signal, sys, time
point = json.loads(sys.argv[1])
with open(os.environ["MARKER"], "a") as f:      # one line per child started
    f.write(point["id"] + "\n")
what = point["config"].get("behaviour", "ok")
if what == "crash":
    os.kill(os.getpid(), signal.SIGKILL)
if what == "sleep":
    time.sleep(60)
if what == "error":
    out = {"ok": False, "error": "RuntimeError: injected"}
else:
    out = {"ok": True, "result": {"k": 13, "verified": True}}
with open(os.environ["SNARKGPT_SWEEP_RESULT"], "w") as f:
    json.dump(out, f)
sys.exit(1 if what == "error" else 0)
'''


def _grid(monkeypatch, name, behaviours):
    """A grid of one point per behaviour (n_layer = 1, 2, ...), for the fake child."""
    base = {"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 4, "vocab_size": 16}
    monkeypatch.setitem(sweep.GRIDS, name, {"base": base, "n_layer": list(range(1, len(behaviours) + 1))})
    real = sweep.points

    def pts(grid):
        out = real(grid)
        if grid == name:
            for p, b in zip(out, behaviours):
                p["config"]["behaviour"] = b
        return out
    monkeypatch.setattr(sweep, "points", pts)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    script = tmp_path / "child.py"
    script.write_text(FAKE_CHILD)
    marker = tmp_path / "marker"
    monkeypatch.setenv("MARKER", str(marker))
    argv = lambda p: [sys.executable, str(script), json.dumps(p)]  # noqa: E731
    started = lambda: marker.read_text().split() if marker.exists() else []  # noqa: E731
    return argv, started


def test_points_of_the_grids():
    full = sweep.points("full")
    ids = {p["id"] for p in full}
    assert "L4-H4-d64-T64-V65" in ids                    # the base point, once
    base = next(p for p in full if p["id"] == "L4-H4-d64-T64-V65")
    assert [s for s, _ in base["sweeps"]] == ["n_layer", "n_head", "n_embd", "block_size"]
    assert {"L12-H4-d64-T64-V65", "L4-H12-d64-T64-V65", "L4-H4-d768-T64-V65",
            "L4-H4-d64-T128-V65", "L4-H4-d64-T64-V65-s14",
            "L12-H12-d768-T1024-V50257-n16"} <= ids
    assert len(sweep.points("test")) == 2
    with pytest.raises(sweep.SweepError, match="unknown grid"):
        sweep.points("nope")


def test_sweep_proves_points_and_a_rerun_skips_them(tmp_path):
    d = str(tmp_path / "sw")
    res = sweep.sweep(d, "test", prove=True, progress=None)
    assert sorted(res["ran"]) == sorted(p["id"] for p in sweep.points("test"))
    assert len(res["records"]) == 2
    for rec in res["records"]:
        assert rec["status"] == "ok" and rec["exit_code"] == 0, rec
        r = rec["result"]
        assert r["verified"] and r["proof_bytes"] > 0 and r["key_bytes"] > 0 and r["segments"] == 1
        assert rec["peak_rss_bytes"] > 0 and rec["started"]
        # setup's peak and the proof's apart (Linux), each within the process's
        assert 0 < r["setup_peak_rss_bytes"] <= r["peak_rss_bytes"]
        assert 0 < r["prove_peak_rss_bytes"] <= r["peak_rss_bytes"]
        assert rec["code"] is None or len(rec["code"]["commit"]) == 40
        assert os.path.exists(os.path.join(d, "points", rec["id"] + ".json"))
    logs = {n: os.stat(os.path.join(d, "logs", n)).st_mtime_ns for n in os.listdir(os.path.join(d, "logs"))}
    again = sweep.sweep(d, "test", prove=True, progress=None)
    assert again["ran"] == [] and sorted(again["skipped"]) == sorted(res["ran"])
    # no child ran: its log would have been rewritten
    assert {n: os.stat(os.path.join(d, "logs", n)).st_mtime_ns for n in logs} == logs
    assert [r["result"]["proof_bytes"] for r in again["records"]] == \
        [r["result"]["proof_bytes"] for r in res["records"]]


def test_failures_are_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch, fake):
    argv, started = fake
    _grid(monkeypatch, "t-fail", ["error", "crash", "ok"])
    d = str(tmp_path / "sw")
    res = sweep.sweep(d, "t-fail", argv=argv, progress=None)
    by = {r["point"]["config"]["behaviour"]: r for r in res["records"]}
    assert by["error"]["status"] == "failed" and by["error"]["exit_code"] == 1
    assert by["error"]["reason"] == "RuntimeError: injected"
    assert by["crash"]["status"] == "failed" and by["crash"]["exit_code"] == -signal.SIGKILL
    assert "SIGKILL" in by["crash"]["reason"]
    assert by["crash"]["peak_rss_bytes"] > 0
    assert by["ok"]["status"] == "ok"
    assert len(started()) == 3
    # failures are results: a rerun skips them, --retry-failed runs them again
    sweep.sweep(d, "t-fail", argv=argv, progress=None)
    assert len(started()) == 3
    again = sweep.sweep(d, "t-fail", argv=argv, progress=None, retry_failed=True)
    assert len(again["ran"]) == 2 and len(started()) == 5


def test_an_impossible_config_fails_with_its_reason(tmp_path, monkeypatch):
    base = {"n_layer": 1, "n_head": 1, "n_embd": 8, "block_size": 4, "vocab_size": 16}
    monkeypatch.setitem(sweep.GRIDS, "t-heads", {"base": base, "n_head": [3, 1]})
    res = sweep.sweep(str(tmp_path / "sw"), "t-heads", prove=False, progress=None)
    bad, good = res["records"]
    assert bad["status"] == "failed" and bad["exit_code"] == 1
    assert "not divisible by n_head 3" in bad["reason"]
    assert good["status"] == "ok" and good["result"]["k"] >= 12     # plan mode: circuit size


def test_timeout_is_a_failure(tmp_path, monkeypatch, fake):
    argv, _ = fake
    _grid(monkeypatch, "t-slow", ["sleep"])
    res = sweep.sweep(str(tmp_path / "sw"), "t-slow", argv=argv, timeout=1.0, progress=None)
    (rec,) = res["records"]
    assert rec["status"] == "failed" and "timed out after 1 s" in rec["reason"]
    assert rec["seconds"] < 30


def test_an_interrupted_dir_is_cleaned_not_read(tmp_path, monkeypatch, fake):
    argv, started = fake
    _grid(monkeypatch, "t-int", ["ok", "ok"])
    d = str(tmp_path / "sw")
    first = sweep.sweep(d, "t-int", argv=argv, progress=None)
    a, b = (r["id"] for r in first["records"])
    # an interrupted run: b's result half written to its temporary file, b's file gone;
    # a child's unfinished output in work/
    os.remove(os.path.join(d, "points", b + ".json"))
    half = os.path.join(d, "points", b + ".json.tmp4242")
    with open(half, "w") as f:
        f.write('{"status": "ok", "id": "' + b)
    with open(os.path.join(d, "work", b + ".json"), "w") as f:
        f.write('{"ok": true, "res')
    res = sweep.sweep(d, "t-int", argv=argv, progress=None)
    assert res["ran"] == [b] and res["skipped"] == [a]
    assert sorted(res["cleaned"]) == sorted([os.path.join("points", b + ".json.tmp4242"),
                                             os.path.join("work", b + ".json")])
    assert not os.path.exists(half)
    assert os.listdir(os.path.join(d, "work")) == []
    assert all(r["status"] == "ok" for r in res["records"])
    # a result file that is not a whole record is run again, never read as a result
    with open(os.path.join(d, "points", a + ".json"), "w") as f:
        f.write('{"status": "o')
    res = sweep.sweep(d, "t-int", argv=argv, progress=None)
    assert res["ran"] == [a]
    assert started().count(a) == 2


def test_a_dir_of_another_sweep_is_refused(tmp_path, capsys):
    d = tmp_path / "sw"
    d.mkdir()
    (d / "sweep.json").write_text(json.dumps({"grid": "full", "mode": "prove"}))
    rc = cli.main(["bench", "scaling", "--resume", str(d), "--grid", "test"])
    assert rc == 2
    assert "holds another sweep" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert cli.main(["bench", "scaling", "--resume", str(tmp_path / "file"), "--grid", "test"]) == 2
    assert cli.main(["bench", "scaling", "--resume", str(d), "--grid", "quick"]) == 2
    assert cli.main(["bench", "scaling", "--retry-failed"]) == 2


def test_cli_plans_a_grid_in_child_processes(tmp_path, capsys):
    rc = cli.main(["bench", "scaling", "--resume", str(tmp_path / "sw"), "--grid", "test", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["mode"] == "plan" and len(res["records"]) == 2
    assert all(r["status"] == "ok" and r["result"]["op_rows_sum"] > 0 for r in res["records"])
    lines = sweep.table(res["records"], "plan")
    assert len(lines) == 4 and "L2-H1-d8-T4-V16" in lines[3]


TERM_SCRIPT = r'''
import argparse, sys
from snarkgpt.bench import sweep
pidfile = sys.argv[2]
child = "import os, time; open(%r, 'w').write(str(os.getpid())); time.sleep(120)" % pidfile
sweep._argv = lambda *a: [sys.executable, "-c", child]
args = argparse.Namespace(resume=sys.argv[1], grid="test", quick=False, prove=False, json=True,
                          point_timeout=None, retry_failed=False)
sys.exit(sweep.main(args))
'''


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_terminated_sweep_ends_its_child_and_records_nothing(tmp_path, sig):
    import subprocess
    import time
    script = tmp_path / "term.py"
    script.write_text(TERM_SCRIPT)
    d, pidfile = tmp_path / "sw", tmp_path / "child.pid"
    proc = subprocess.Popen([sys.executable, str(script), str(d), str(pidfile)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (pidfile.exists() and pidfile.read_text()) and time.time() < deadline:
        time.sleep(0.1)
    child = int(pidfile.read_text())
    proc.send_signal(sig)
    assert proc.wait(timeout=30) == (128 + sig if sig == signal.SIGTERM else -sig)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the point's child outlived the terminated sweep")
    assert os.listdir(d / "points") == []


def _rec(dim, v, prove_s, status="ok"):
    return {"id": f"{dim}{v}", "status": status, "peak_rss_bytes": 2**20 * v,
            "point": {"sweeps": [[dim, v]]},
            "result": {"prove_seconds": prove_s, "setup_seconds": 1.0, "proof_bytes": 100,
                       "key_bytes": 1000 * v}}


def test_growth_of_the_recorded_points():
    recs = [_rec("n_layer", v, 3.0 * v) for v in (1, 2, 4)] + [_rec("n_layer", 8, 1.0, "failed")]
    g = sweep.growth(recs)
    assert g["n_layer"]["prove_seconds"] == pytest.approx(1.0)
    assert g["n_layer"]["peak_rss_bytes"] == pytest.approx(1.0)
    assert g["n_layer"]["proof_bytes"] == pytest.approx(0.0, abs=1e-12)
    assert "n_head" not in g
    assert len(sweep.growth_table(g)) == 4


def test_plots_are_skipped_without_matplotlib(tmp_path, monkeypatch, capsys):
    import builtins
    real = builtins.__import__

    def no_mpl(name, *a, **kw):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_mpl)
    recs = [_rec("n_layer", v, 3.0 * v) for v in (1, 2, 4)]
    assert sweep.plots(recs, str(tmp_path / "plots")) == []
    assert "matplotlib is not installed: plots skipped" in capsys.readouterr().err


def test_plots_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    recs = [_rec("n_layer", v, 3.0 * v) for v in (1, 2, 4)]
    (path,) = sweep.plots(recs, str(tmp_path))
    assert path.endswith("sweep-n_layer.png") and os.path.getsize(path) > 0
