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

# EZKL 23.0.5 measured on a 2-core AMD EPYC machine (see the project's anchors), nanoGPT-style
# model n_layer 1, n_head 1, n_embd 16, block_size 16, vocab 65
REFERENCE = {
    "source": "EZKL 23.0.5 measured on a 2-core AMD EPYC machine (tiny configuration)",
    "config": {"n_layer": 1, "n_head": 1, "n_embd": 16, "block_size": 16, "vocab_size": 65},
    "logrows": 17, "setup_seconds": 77.7, "prove_seconds": 113.7, "verify_ms": 170.0,
    "proving_key_bytes": 3.46e9, "peak_rss_bytes": 9.5e9, "proof_bytes": 229e3,
}
TINY = dict(REFERENCE["config"])


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


def run_ezkl(config: dict, workdir: str, progress=print) -> dict:
    """EZKL's pipeline on the random model of ``config``; seconds per step, sizes, peak RSS."""
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
    out, times = {}, {}

    def step(name, fn, *a, **kw):
        progress(f"ezkl: {name} ...")
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
        logrows = int(json.load(fh)["run_args"]["logrows"])
    step("gen_srs", ezkl.gen_srs, f["kzg.srs"], logrows)
    step("setup", ezkl.setup, f["model.compiled"], f["vk.key"], f["pk.key"], f["kzg.srs"])
    step("gen_witness", ezkl.gen_witness, f["input.json"], f["model.compiled"], f["witness.json"])
    step("prove", ezkl.prove, f["witness.json"], f["model.compiled"], f["pk.key"], f["proof.json"],
         f["kzg.srs"])
    t = time.perf_counter()
    ok = _call(ezkl.verify, f["proof.json"], f["settings.json"], f["vk.key"], f["kzg.srs"])
    out["verify_ms"] = (time.perf_counter() - t) * 1e3
    out.update({"logrows": logrows, "verified": bool(ok), "steps_seconds": times,
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


def main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m snarkgpt.bench.ezkl_compare")
    ap.add_argument("--config", default=None, help="n_layer=..,n_head=..,n_embd=..,block_size=..,vocab_size=..")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    cfg = None
    if a.config:
        from ..model.config import GPTConfig
        c = GPTConfig.parse(a.config).to_dict()
        cfg = {k: c[k] for k in TINY}
    res = run(cfg, progress=lambda m: print(m, file=sys.stderr, flush=True))
    if res["status"] == "skipped":
        print(f"skipped: {res['reason']}")
    print(json.dumps(res) if a.json else format_report(res))
    return 1 if res["status"] == "ok" and not res["ezkl"]["verified"] else 0


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
