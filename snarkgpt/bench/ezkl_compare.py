"""EZKL next to snarkgpt on the same random model, machine and configuration.

Used by ``snarkgpt bench scaling --ezkl`` (and runnable alone:
``python -m snarkgpt.bench.ezkl_compare [--config n_layer=1,...]``). Where the ``ezkl``
package (and ``torch`` + ``onnx`` for the export) can be imported, it

1. builds the same random model (`random:` weights, seed 0) as a PyTorch nanoGPT and exports
   it to ONNX (input: the token ids of a block, output: the logits);
2. runs EZKL's gen-settings, calibrate-settings, compile, a local development SRS, setup,
   witness, prove and verify, timing each and measuring the peak memory of the process
   (children included);
3. runs snarkgpt's setup / prove / verify on the same configuration
   (`snarkgpt.bench.scaling.prove_point`, in a fresh process);
4. reports both side by side with the ratios EZKL / snarkgpt.

When ``ezkl`` is absent it prints ``skipped: ezkl not installed`` and returns cleanly (exit
code 0), quoting the figures measured on this kind of machine as the reference
(`REFERENCE`). EZKL needs about 9.5 GB at the tiny configuration: run it on a machine with
the memory to spare.

``--series`` runs the comparison over `SERIES` (the tiny model up to the base model) in one
run, each side of each point in a process of its own: EZKL's pipeline in a child that the
parent watches, killed when its resident memory passes ``--memory-cap`` or its time
``--point-timeout``; that outcome is a result, recorded with the step EZKL was in and the
rows (``num_rows``, ``logrows``) its settings asked for. snarkgpt's side runs at every point
whatever EZKL did, and the ratios are given where both finished. ``--out FILE`` keeps the
whole run as JSON (written atomically); the table is printed as Markdown.
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import resource
import sys
import tempfile
import time

from .sweep import write_atomic

# EZKL 23.0.5 measured on a 2-core AMD EPYC machine (see the project's anchors), nanoGPT-style
# model n_layer 1, n_head 1, n_embd 16, block_size 16, vocab 65
REFERENCE = {
    "source": "EZKL 23.0.5 measured on a 2-core AMD EPYC machine (tiny configuration)",
    "config": {"n_layer": 1, "n_head": 1, "n_embd": 16, "block_size": 16, "vocab_size": 65},
    "logrows": 17, "setup_seconds": 77.7, "prove_seconds": 113.7, "verify_ms": 170.0,
    "proving_key_bytes": 3.46e9, "peak_rss_bytes": 9.5e9, "proof_bytes": 229e3,
}
TINY = dict(REFERENCE["config"])
# the series of `--series`: the tiny model, the two sizes where EZKL ran out of memory here
# before (ANCHORS.md), and the base model
SERIES = [TINY,
          {"n_layer": 1, "n_head": 1, "n_embd": 32, "block_size": 32, "vocab_size": 65},
          {"n_layer": 2, "n_head": 2, "n_embd": 32, "block_size": 32, "vocab_size": 65},
          {"n_layer": 4, "n_head": 4, "n_embd": 64, "block_size": 64, "vocab_size": 65}]


def missing() -> str | None:
    """Why the comparison cannot run here (None when it can)."""
    for mod, why in (("ezkl", "ezkl not installed"), ("torch", "torch not installed (ONNX export)"),
                     ("onnx", "onnx not installed (ONNX export)")):
        try:
            importlib.import_module(mod)
        except ImportError:
            return why
    return None


def _call(fn, *a, **kw):
    """EZKL's Python API is synchronous for some calls and async for others, by version."""
    r = fn(*a, **kw)
    if inspect.isawaitable(r):
        r = asyncio.run(r)
    return r


def _peak_rss() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024


def torch_gpt(model):
    """A PyTorch nanoGPT (no biases, causal attention, exact GELU) holding ``model``'s float
    weights, mapping one-hot tokens (1, T, V) to logits (1, T, V) (a one-hot product rather
    than a gather: EZKL's calibration perturbs its inputs, which must stay valid)."""
    import torch
    from torch import nn
    cfg, W = model.config, model.weights

    def p(name):
        return nn.Parameter(torch.tensor(W[name], dtype=torch.float32), requires_grad=False)

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte, self.wpe = p("transformer.wte.weight"), p("transformer.wpe.weight")
            self.ln_f = p("transformer.ln_f.weight")
            self.head = p("lm_head.weight") if "lm_head.weight" in W else self.wte
            self.layers = nn.ParameterList()
            for i in range(cfg.n_layer):
                for n in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"):
                    self.layers.append(p(f"transformer.h.{i}.{n}.weight"))

        @staticmethod
        def ln(x, g):
            mu = x.mean(-1, keepdim=True)
            var = ((x - mu) ** 2).mean(-1, keepdim=True)
            return (x - mu) / torch.sqrt(var + cfg.ln_eps) * g

        def forward(self, idx):
            T = idx.shape[1]                      # idx: one-hot (1, T, V)
            H, d = cfg.n_head, cfg.n_embd
            hd = d // H
            x = idx @ self.wte + self.wpe[:T]
            keep = torch.tril(torch.ones(T, T))     # causal mask as a product: no -inf to quantize
            for i in range(cfg.n_layer):
                g1, wa, wp, g2, wf, wm = self.layers[6 * i: 6 * i + 6]
                h = self.ln(x, g1) @ wa.T
                q, k, v = h.split(d, dim=-1)
                q = q.view(1, T, H, hd).transpose(1, 2)
                k = k.view(1, T, H, hd).transpose(1, 2)
                v = v.view(1, T, H, hd).transpose(1, 2)
                att = (q @ k.transpose(-2, -1)) / (hd ** 0.5)
                e = torch.exp(att) * keep
                att = e / e.sum(-1, keepdim=True)
                y = (att @ v).transpose(1, 2).reshape(1, T, d)
                x = x + y @ wp.T
                x = x + torch.nn.functional.gelu(self.ln(x, g2) @ wf.T) @ wm.T
            return self.ln(x, self.ln_f) @ self.head.T

    return GPT().eval()


def run_ezkl(config: dict, workdir: str, progress=print, on_step=None) -> dict:
    """EZKL's pipeline on the random model of ``config``; seconds per step, sizes, peak RSS.
    ``on_step(info)``: called as each step starts, with the step's name, the seconds of the
    steps done and, once the circuit is compiled, the rows its settings ask for."""
    import ezkl
    import torch

    from ..model.weights import load_model
    from .scaling import spec_of
    model = load_model(spec_of(config))
    T = config["block_size"]
    net = torch_gpt(model)
    toks = [(7 * i + 1) % config["vocab_size"] for i in range(T)]
    idx = torch.nn.functional.one_hot(torch.tensor([toks]), config["vocab_size"]).float()
    f = {n: os.path.join(workdir, n) for n in
         ("model.onnx", "input.json", "settings.json", "model.compiled", "kzg.srs", "vk.key",
          "pk.key", "witness.json", "proof.json")}
    progress("ezkl: exporting ONNX ...")
    kw = dict(input_names=["input"], output_names=["output"], opset_version=14)
    try:   # the TorchScript exporter (torch >= 2.5 defaults to one that needs onnxscript)
        torch.onnx.export(net, idx, f["model.onnx"], dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(net, idx, f["model.onnx"], **kw)
    with open(f["input.json"], "w") as fh:
        json.dump({"input_data": [idx.reshape(-1).tolist()]}, fh)
    out, times, sizes = {}, {}, {}

    def step(name, fn, *a, **kw):
        progress(f"ezkl: {name} ...")
        if on_step is not None:
            on_step({"step": name, "steps_seconds": dict(times), **sizes})
        t = time.perf_counter()
        r = _call(fn, *a, **kw)
        times[name] = time.perf_counter() - t
        return r

    args = ezkl.PyRunArgs()
    args.input_visibility, args.output_visibility, args.param_visibility = "public", "public", "fixed"
    step("gen_settings", ezkl.gen_settings, f["model.onnx"], f["settings.json"], py_run_args=args)
    step("calibrate_settings", ezkl.calibrate_settings, f["input.json"], f["model.onnx"],
         f["settings.json"], "resources")
    step("compile_circuit", ezkl.compile_circuit, f["model.onnx"], f["model.compiled"],
         f["settings.json"])
    with open(f["settings.json"]) as fh:
        settings = json.load(fh)
    logrows = int(settings["run_args"]["logrows"])
    sizes.update({"logrows": logrows, **{k: settings[k] for k in
                                         ("num_rows", "total_assignments", "total_const_size")
                                         if k in settings}})
    step("gen_srs", ezkl.gen_srs, f["kzg.srs"], logrows)
    step("setup", ezkl.setup, f["model.compiled"], f["vk.key"], f["pk.key"], f["kzg.srs"])
    step("gen_witness", ezkl.gen_witness, f["input.json"], f["model.compiled"], f["witness.json"])
    step("prove", ezkl.prove, f["witness.json"], f["model.compiled"], f["pk.key"], f["proof.json"],
         f["kzg.srs"])
    t = time.perf_counter()
    ok = _call(ezkl.verify, f["proof.json"], f["settings.json"], f["vk.key"], f["kzg.srs"])
    out["verify_ms"] = (time.perf_counter() - t) * 1e3
    out.update({**sizes, "verified": bool(ok), "steps_seconds": times,
                "setup_seconds": times["setup"],
                "prove_seconds": times["gen_witness"] + times["prove"],
                "proving_key_bytes": os.path.getsize(f["pk.key"]),
                "proof_bytes": os.path.getsize(f["proof.json"]), "peak_rss_bytes": _peak_rss(),
                "version": getattr(ezkl, "__version__", None)})
    return out


RATIO_KEYS = ("setup_seconds", "prove_seconds", "verify_ms", "proof_bytes", "peak_rss_bytes")


def run(config: dict | None = None, progress=print) -> dict:
    """The comparison, or ``{"status": "skipped", ...}`` with the reference figures."""
    config = dict(TINY if config is None else config)
    why = missing()
    if why is not None:
        return {"status": "skipped", "reason": why, "config": config, "reference": REFERENCE}
    from .scaling import _prove_isolated
    with tempfile.TemporaryDirectory(prefix="snarkgpt-ezkl-") as d:
        try:
            ez = run_ezkl(config, d, progress=progress)
        except Exception as e:  # noqa: BLE001 - EZKL's failures are reported, not raised
            return {"status": "failed", "reason": f"ezkl: {type(e).__name__}: {e}",
                    "config": config, "reference": REFERENCE}
    progress("snarkgpt: setup, prove, verify ...")
    ours = _prove_isolated(config, None)
    ratios = {k: ez[k] / ours[k] for k in RATIO_KEYS if ez.get(k) and ours.get(k)}
    return {"status": "ok", "config": config, "ezkl": ez, "snarkgpt": ours,
            "ezkl_over_snarkgpt": ratios}


def format_report(res: dict) -> str:
    if res["status"] != "ok":
        ref = res["reference"]
        lines = [f"EZKL comparison {res['status']}: {res['reason']}",
                 f"reference ({ref['source']}): logrows {ref['logrows']}, setup "
                 f"{ref['setup_seconds']} s, prove {ref['prove_seconds']} s, verify "
                 f"{ref['verify_ms']:.0f} ms, proving key {ref['proving_key_bytes'] / 1e9:.2f} GB, "
                 f"peak RSS {ref['peak_rss_bytes'] / 1e9:.1f} GB, proof {ref['proof_bytes'] / 1e3:.0f} KB"]
        return "\n".join(lines)
    lines = [f"EZKL vs snarkgpt, {res['config']}", f"  {'':<16} {'EZKL':>12} {'snarkgpt':>12} {'ratio':>8}"]
    for k in RATIO_KEYS:
        e, o = res["ezkl"].get(k), res["snarkgpt"].get(k)
        r = res["ezkl_over_snarkgpt"].get(k)
        lines.append(f"  {k:<16} {e:>12.4g} {o:>12.4g} {r:>8.2f}" if r else f"  {k:<16} {e} {o}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the series
POLL_S = 0.5


def _rss(pid: int) -> int:
    """Resident bytes of process ``pid`` now (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def memory_cap_default() -> int:
    """85% of the memory available now: EZKL is stopped before the machine swaps."""
    from ..model.memory import available_bytes
    return int(0.85 * (available_bytes() or 16 << 30))


def ezkl_watched(config: dict, memory_cap: int, timeout: float, progress=print,
                 child=None) -> dict:
    """EZKL's pipeline (`run_ezkl`) in a child process, stopped (SIGKILL, with its process
    group) when its resident memory passes ``memory_cap`` bytes or it runs ``timeout``
    seconds: {"status": "ok" | "out of memory" | "timeout" | "failed", "step" (the step it
    was in), the rows its settings asked for, "peak_rss_sampled_bytes", "seconds", ...}.
    ``child``: the child's command before its ``--config ... --result FILE`` arguments
    (default: this module's ``ezkl-child``; tests give another)."""
    import signal
    import subprocess
    with tempfile.TemporaryDirectory(prefix="snarkgpt-ezkl-") as d:
        status = os.path.join(d, "status.json")
        result = os.path.join(d, "result.json")
        child = child or [sys.executable, "-m", "snarkgpt.bench.ezkl_compare", "ezkl-child"]
        proc = subprocess.Popen(
            [*child, "--config", json.dumps(config), "--workdir", d, "--status", status,
             "--result", result], start_new_session=True)
        t0, peak, why = time.perf_counter(), 0, None
        while proc.poll() is None:
            rss = _rss(proc.pid)
            peak = max(peak, rss)
            if rss > memory_cap:
                why = "out of memory"
            elif time.perf_counter() - t0 > timeout:
                why = "timeout"
            if why:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(POLL_S)
        seconds = time.perf_counter() - t0
        info = {}
        for path in (status, result):
            try:
                with open(path) as f:
                    info.update(json.load(f))
            except (OSError, ValueError):
                pass
    info.update({"seconds": seconds, "peak_rss_sampled_bytes": peak,
                 "memory_cap_bytes": memory_cap})
    if why is None:
        why = "ok" if proc.returncode == 0 and info.get("verified") is not None else "failed"
    info["status"] = why
    if why == "failed":
        info.setdefault("reason", f"exit code {proc.returncode}")
    progress(f"ezkl {_cfg_id(config)}: {why} after {seconds:.0f} s"
             + (f" in {info.get('step')}" if why != "ok" else ""))
    return info


def _child(config: dict, workdir: str, status: str, result: str) -> int:
    """The EZKL side of one point (`ezkl_watched`'s child): status after each step started,
    the result at the end."""
    state = {}

    def on_step(info):
        state.update(info)
        write_atomic(status, state)
    try:
        out = run_ezkl(config, workdir, progress=lambda m: print(m, file=sys.stderr, flush=True),
                       on_step=on_step)
    except Exception as e:  # noqa: BLE001 - reported to the parent
        write_atomic(status, dict(state, reason=f"{type(e).__name__}: {e}"))
        return 1
    write_atomic(result, out)
    return 0


def _cfg_id(c: dict) -> str:
    if not all(k in c for k in TINY):
        return json.dumps(c, sort_keys=True)
    return f"L{c['n_layer']}-H{c['n_head']}-d{c['n_embd']}-T{c['block_size']}-V{c['vocab_size']}"


def run_series(configs=None, memory_cap=None, timeout=3600.0, out=None, progress=print) -> dict:
    """The comparison at every config of ``configs`` (default `SERIES`), in one run: EZKL
    watched (`ezkl_watched`), then snarkgpt's `prove_point` in a fresh process, and the ratios
    EZKL / snarkgpt where both finished. Written to ``out`` (JSON) after every point."""
    from .scaling import _prove_isolated
    why = missing()
    if why is not None:
        return {"status": "skipped", "reason": why, "reference": REFERENCE}
    import ezkl
    cap = int(memory_cap or memory_cap_default())
    res = {"status": "ok", "ezkl_version": getattr(ezkl, "__version__", None),
           "memory_cap_bytes": cap, "point_timeout_s": timeout, "cpus": os.cpu_count(),
           "points": []}
    for cfg in configs or SERIES:
        progress(f"{_cfg_id(cfg)}: EZKL ...")
        ez = ezkl_watched(cfg, cap, timeout, progress)
        progress(f"{_cfg_id(cfg)}: snarkgpt setup, prove, verify ...")
        try:
            ours = _prove_isolated(cfg, None)
        except Exception as e:  # noqa: BLE001 - a result too
            ours = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
        ratios = ({k: ez[k] / ours[k] for k in RATIO_KEYS if ez.get(k) and ours.get(k)}
                  if ez["status"] == "ok" and "prove_seconds" in ours else {})
        res["points"].append({"id": _cfg_id(cfg), "config": cfg, "ezkl": ez, "snarkgpt": ours,
                              "ezkl_over_snarkgpt": ratios})
        if out:
            write_atomic(out, res)
    return res


def format_series(res: dict) -> str:
    """The series as a Markdown table."""
    if res["status"] != "ok":
        return f"EZKL series {res['status']}: {res['reason']}"
    gb = lambda b: f"{b / 1e9:.1f} GB" if b else "-"          # noqa: E731
    rows = ["| point | EZKL | rows (logrows) | EZKL setup | EZKL prove | EZKL peak | snarkgpt "
            "setup | snarkgpt prove | snarkgpt peak | prove ratio |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for p in res["points"]:
        e, o, r = p["ezkl"], p["snarkgpt"], p["ezkl_over_snarkgpt"]
        what = e["status"] if e["status"] == "ok" else f"{e['status']} in {e.get('step', '?')}"
        steps = e.get("steps_seconds", {})
        setup = e.get("setup_seconds") or steps.get("setup")
        prove = e.get("prove_seconds")
        ratio = f"{r['prove_seconds']:.1f}x" if "prove_seconds" in r else "-"
        rows.append(
            f"| {p['id']} | {what} | {e.get('num_rows', '-')} ({e.get('logrows', '-')}) | "
            f"{f'{setup:.1f} s' if setup else '-'} | {f'{prove:.1f} s' if prove else '-'} | "
            f"{gb(e.get('peak_rss_bytes') or e.get('peak_rss_sampled_bytes'))} | "
            f"{o.get('setup_seconds', 0):.1f} s | {o.get('prove_seconds', 0):.2f} s | "
            f"{gb(o.get('peak_rss_bytes'))} | "
            f"{ratio} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    import argparse
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["ezkl-child"]:
        ap = argparse.ArgumentParser(prog="python -m snarkgpt.bench.ezkl_compare ezkl-child")
        for a in ("--config", "--workdir", "--status", "--result"):
            ap.add_argument(a, required=True)
        a = ap.parse_args(argv[1:])
        return _child(json.loads(a.config), a.workdir, a.status, a.result)
    ap = argparse.ArgumentParser(prog="python -m snarkgpt.bench.ezkl_compare")
    ap.add_argument("--config", default=None, help="n_layer=..,n_head=..,n_embd=..,block_size=..,vocab_size=..")
    ap.add_argument("--series", action="store_true",
                    help="every point of SERIES (tiny to base model) in one run")
    ap.add_argument("--memory-cap", default=None,
                    help="--series: stop EZKL past this resident memory (e.g. 20G; default "
                         "85%% of the memory available)")
    ap.add_argument("--point-timeout", type=float, default=3600.0,
                    help="--series: stop EZKL after this many seconds at one point")
    ap.add_argument("--out", default=None, help="--series: write the run as JSON here")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    say = lambda m: print(m, file=sys.stderr, flush=True)     # noqa: E731
    if a.series:
        from ..model.memory import parse_size
        cap = parse_size(a.memory_cap) if a.memory_cap else None
        res = run_series(memory_cap=cap, timeout=a.point_timeout, out=a.out, progress=say)
        if res["status"] == "skipped":
            print(f"skipped: {res['reason']}")
            return 0
        print(json.dumps(res) if a.json else format_series(res))
        return 0
    cfg = None
    if a.config:
        from ..model.config import GPTConfig
        c = GPTConfig.parse(a.config).to_dict()
        cfg = {k: c[k] for k in TINY}
    res = run(cfg, progress=say)
    if res["status"] == "skipped":
        print(f"skipped: {res['reason']}")
    print(json.dumps(res) if a.json else format_report(res))
    return 1 if res["status"] == "ok" and not res["ezkl"]["verified"] else 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
