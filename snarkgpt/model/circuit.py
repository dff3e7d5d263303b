"""The model circuit: one forward pass of a quantized GPT proving a whole greedy generation.

Statement
---------
Public (one instance column ``tokens``): the prompt tokens then the generated tokens,
``tokens[0 .. n_prompt)`` and ``tokens[n_prompt .. N)``. Fixed (part of the verifying key,
so its digest is the model fingerprint): every weight (the token-embedding lookup table,
positional embeddings, LayerNorm gains, the matmul weights) and the `QuantSettings` (table
sizes, scales). Private: every activation.

The circuit runs the integer forward (`integer_forward`, op for op the same computation)
over the first ``T = N - 1`` tokens (every token but the last generated one is an input;
causal attention makes position t depend only on tokens <= t), and for every position
``t = n_prompt - 1 .. T - 1`` constrains the public token ``t + 1`` (an instance cell) to
equal the argmax of position t's logits (ties to the smallest index, `ArgmaxChip`). The
embedding's token cells are copied from the instance cells. The final LayerNorm, lm_head
and argmax are laid out only for those positions (the logits of earlier prompt positions are
not part of the statement).

Regions are named by layer and op: ``embed``, ``h.{i}.ln_1``, ``h.{i}.attn.qkv``,
``h.{i}.attn.split`` (reordering q, k^T, v per head: copies only), ``h.{i}.attn.scores``,
``h.{i}.attn.softmax``, ``h.{i}.attn.av``, ``h.{i}.attn.merge``, ``h.{i}.attn.c_proj``,
``h.{i}.attn.residual``, ``h.{i}.ln_2``, ``h.{i}.mlp.c_fc``, ``h.{i}.mlp.gelu``,
``h.{i}.mlp.c_proj``, ``h.{i}.mlp.residual``, ``ln_f``, ``lm_head``, ``generate.argmax``
(sub-regions append ``.<part>``, e.g. ``h.0.attn.softmax.exp``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.gadgets.base import Assigned, advice_pool
from snarkgpt.gadgets.embedding import EmbeddingChip
from snarkgpt.gadgets.fixedpoint import RescaleChip
from snarkgpt.gadgets.layernorm import LayerNormChip
from snarkgpt.gadgets.matmul import MatmulChip, _copy_rows
from snarkgpt.gadgets.nonlinear import FunctionChip
from snarkgpt.gadgets.range import ArgmaxChip
from snarkgpt.gadgets.residual import ResidualChip
from snarkgpt.gadgets.softmax import SoftmaxChip
from snarkgpt.plonk.circuit import Assignment, ConstraintSystem, synthesize

from .integer_forward import TokenError, check_tokens, integer_forward
from .quantize import QuantizedModel, QuantSettings, gelu_table_spec, quantize_model

__all__ = ["ModelCircuit", "ModelConfig", "GenerationMismatch", "build", "plan", "rows_per_op",
           "choose_k", "OPS"]

OPS = ("embed", "ln_1", "attn.qkv", "attn.split", "attn.scores", "attn.softmax", "attn.av",
       "attn.merge", "attn.c_proj", "attn.residual", "ln_2", "mlp.c_fc", "mlp.gelu",
       "mlp.c_proj", "mlp.residual", "ln_f", "lm_head", "generate.argmax")


class GenerationMismatch(ValueError):
    """The claimed generated tokens are not the model's greedy generation."""


@dataclass
class ModelConfig:
    tokens: object          # the instance column
    emb: object
    ln: object
    mm: object
    resc_w: object
    resc_s: object
    softmax: object
    gelu: object
    res: object
    argmax: object
    gather: object          # advice column for reordering copies


class ModelCircuit:
    """Circuit for ``tokens`` (prompt + generated) of which the first ``n_prompt`` are the
    prompt, under ``quant_settings``. ``model``: a float model (``.config``, ``.weights``)
    or a `QuantizedModel`. Raises `TokenError` for bad tokens and `GenerationMismatch`
    (with ``check=True``) when the generated tokens are not the greedy generation."""

    def __init__(self, model, quant_settings: QuantSettings, tokens, n_prompt: int,
                 check: bool = True):
        if isinstance(model, QuantizedModel):
            if model.settings != quant_settings:
                raise ValueError("the quantized model was made with other settings")
            self.qmodel = model
        else:
            self.qmodel = quantize_model(model, quant_settings)
        self.config = self.qmodel.config
        self.settings = quant_settings
        toks = check_tokens(self.config, tokens, n_prompt)
        if toks.size - n_prompt < 1:
            raise TokenError("nothing to prove: no generated token after the prompt")
        self.tokens = toks
        self.n_prompt = int(n_prompt)
        self.T = toks.size - 1
        self.positions = np.arange(self.n_prompt - 1, self.T)
        self.forward = integer_forward(self.qmodel, toks[:self.T], self.positions)
        if check:
            claimed = toks[self.n_prompt:]
            bad = np.flatnonzero(claimed != self.forward.next_tokens)
            if bad.size:
                i = int(bad[0])
                raise GenerationMismatch(
                    f"token {int(claimed[i])} at position {self.n_prompt + i} is not the greedy "
                    f"next token {int(self.forward.next_tokens[i])} of the quantized model")

    # -- the circuit interface -------------------------------------------------------------
    def instances(self):
        return [[int(t) for t in self.tokens]]

    def configure(self, cs: ConstraintSystem) -> ModelConfig:
        st = self.settings
        s, w, lb = st.scale_bits, st.weight_bits, st.limb_bits
        inst = cs.instance_column("tokens")
        cs.enable_equality(inst)
        emb = EmbeddingChip.configure(cs, self.qmodel.weights["wte"], name="wte")
        ln = LayerNormChip.configure(cs, s, st.rsqrt_bits, clamp_bits=st.ln_clamp_bits,
                                     div_bits=st.ln_div_bits, limb_bits=lb)
        mm = MatmulChip.configure(cs)
        resc_w = RescaleChip.configure(cs, w, limb_bits=lb)
        resc_s = RescaleChip.configure(cs, s, limb_bits=lb)
        sm = SoftmaxChip.configure(cs, s, st.exp_bits, st.softmax_clamp_bits,
                                   st.softmax_div_bits, lb)
        gelu = FunctionChip.configure(cs, gelu_table_spec(st), clamp_bits=st.gelu_clamp_bits,
                                      limb_bits=lb)
        res = ResidualChip.configure(cs)
        am = ArgmaxChip.configure(cs, st.argmax_bits, lb)
        gather = advice_pool(cs, 1)[0]
        return ModelConfig(inst, emb, ln, mm, resc_w, resc_s, sm, gelu, res, am, gather)

    def synthesize(self, config: ModelConfig, layouter) -> None:
        cfg, W = self.config, self.qmodel.weights
        T, d, H = self.T, cfg.n_embd, cfg.n_head
        hd = d // H
        c = config
        x = EmbeddingChip.assign(layouter, c.emb, self.tokens[:T], wpe=W["wpe"], pos0=0,
                                 token_instance=c.tokens, instance_offset=0, name="embed")
        for i in range(cfg.n_layer):
            lay = layouter.namespace(f"h.{i}")
            att = lay.namespace("attn")
            h1 = LayerNormChip.assign(lay, c.ln, x, W[f"h.{i}.ln_1"], name="ln_1")
            qkv = self._linear(att, c, h1, W[f"h.{i}.attn.c_attn"], "qkv")   # (T, 3d)
            # per-head q (T, hd), k^T (hd, T), v (T, hd): one reordering region (copies)
            idx = np.arange(T * 3 * d).reshape(T, 3 * d)
            parts = []
            for h in range(H):
                parts.append(idx[:, h * hd:(h + 1) * hd])
                parts.append(idx[:, d + h * hd:d + (h + 1) * hd].T)
                parts.append(idx[:, 2 * d + h * hd:2 * d + (h + 1) * hd])
            pieces = _gather(att, c.gather, qkv, parts, "split")
            outs = []
            for h in range(H):
                q, kt, v = pieces[3 * h: 3 * h + 3]
                sc = MatmulChip.assign(att, c.mm, q, kt, name="scores")
                sc = RescaleChip.rescale(att, c.resc_s, sc, name="scores.rescale")
                p = SoftmaxChip.assign(att, c.softmax, sc.reshape(T, T), causal=True, name="softmax")
                o = MatmulChip.assign(att, c.mm, p, v, name="av")
                outs.append(RescaleChip.rescale(att, c.resc_s, o, name="av.rescale").reshape(T, hd))
            y = _concat_cols(att, c.gather, outs, "merge")                   # (T, d)
            a = self._linear(att, c, y, W[f"h.{i}.attn.c_proj"], "c_proj")
            x = ResidualChip.assign(att, c.res, x, a, name="residual")
            mlp = lay.namespace("mlp")
            h2 = LayerNormChip.assign(lay, c.ln, x, W[f"h.{i}.ln_2"], name="ln_2")
            f = self._linear(mlp, c, h2, W[f"h.{i}.mlp.c_fc"], "c_fc")
            g = FunctionChip.assign(mlp, c.gelu, f, name="gelu")
            m2 = self._linear(mlp, c, g, W[f"h.{i}.mlp.c_proj"], "c_proj")
            x = ResidualChip.assign(mlp, c.res, x, m2, name="residual")
        p0 = self.n_prompt - 1
        xs = Assigned(x.values.reshape(T, d)[p0:], x.cells[p0 * d: T * d])
        hf = LayerNormChip.assign(layouter, c.ln, xs, W["ln_f"], name="ln_f")
        logits = self._linear(layouter, c, hf, W["lm_head"], "lm_head")
        idx, _ = ArgmaxChip.argmax(layouter, c.argmax, logits.reshape(T - p0, cfg.vocab_size),
                                   name="generate.argmax")

        def bind(reg):
            for k in range(T - p0):
                reg.constrain_instance(idx.cells[k], c.tokens, p0 + 1 + k)
        layouter.assign_region("generate.bind", bind)
        self.result = {"logits": logits.values, "next_tokens": idx.values}

    @staticmethod
    def _linear(lay, c: ModelConfig, x: Assigned, w: np.ndarray, name: str) -> Assigned:
        prod = MatmulChip.assign(lay, c.mm, x, w, fixed_b=True, name=name)
        y = RescaleChip.rescale(lay, c.resc_w, prod, name=name + ".rescale")
        return y.reshape(prod.values.shape)


def _gather(layouter, col, src: Assigned, index_arrays, name: str) -> list:
    """Copy the elements ``src.values.flat[idx]`` for each index array (any shape) into one
    contiguous region of ``col``, copy-constrained to the source cells; returns one
    `Assigned` per index array (shaped like it)."""
    flat_vals = src.values.reshape(-1)
    allidx = np.concatenate([np.asarray(ix).reshape(-1) for ix in index_arrays])

    def region(reg):
        cells = reg.assign_advice_column(col, 0, np.ascontiguousarray(flat_vals[allidx]))
        _copy_rows(reg, src.cells.column, src.cells.start + allidx, col, cells.start + np.arange(allidx.size))
        return cells
    cells = layouter.assign_region(name, region)
    out, off = [], 0
    for ix in index_arrays:
        ix = np.asarray(ix)
        out.append(Assigned(flat_vals[ix.reshape(-1)].reshape(ix.shape), cells[off: off + ix.size]))
        off += ix.size
    return out


def _concat_cols(layouter, col, parts, name: str) -> Assigned:
    """[P_0 | P_1 | ...] (T, sum widths) from (T, w_h) `Assigned` parts, by copies."""
    T = parts[0].values.shape[0]
    vals = np.concatenate([p.values for p in parts], axis=1)
    rows = []
    for p in parts:
        w = p.values.shape[1]
        rows.append((p.cells.start + np.arange(T * w)).reshape(T, w))
    src_rows = np.concatenate(rows, axis=1).reshape(-1)
    src_col = parts[0].cells.column
    if any(p.cells.column != src_col for p in parts):
        raise ValueError(f"{name}: parts live in different columns")

    def region(reg):
        cells = reg.assign_advice_column(col, 0, np.ascontiguousarray(vals.reshape(-1)))
        _copy_rows(reg, src_col, src_rows, col, cells.start + np.arange(vals.size))
        return cells
    return Assigned(vals, layouter.assign_region(name, region))


# ---------------------------------------------------------------------------------------
# Building, sizing, rows per op
# ---------------------------------------------------------------------------------------
def build(circuit: ModelCircuit, k: int | None = None, rng=None, first_pass_only: bool = False):
    """(cs, config, assignment): the constraint system and the witness (all phases, random
    challenges, unless ``first_pass_only``: phase 0 only, enough to count rows)."""
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    if first_pass_only:
        asg = Assignment.first_pass(cs, circuit, cfg, k=k)
    else:
        asg = synthesize(cs, circuit, cfg, k=k, rng=rng)
    return cs, cfg, asg


def _op_of(region: str) -> str:
    parts = region.split(".")
    if parts[0] == "h" and len(parts) >= 3:
        base = ".".join(parts[2:])
        for op in sorted(OPS, key=len, reverse=True):
            if base == op or base.startswith(op + "."):
                return f"h.{parts[1]}.{op}"
        return ".".join(parts[:3])
    for op in sorted(OPS, key=len, reverse=True):
        if region == op or region.startswith(op + "."):
            return op
    return region


def rows_per_op(asg: Assignment, by_layer: bool = True) -> dict:
    """Rows per model op (``h.2.attn.softmax``...; with ``by_layer=False`` summed over
    layers: ``attn.softmax``), from an assignment's regions, plus ``tables`` (the largest
    table) and ``total`` (rows used)."""
    out: dict = {}
    for name, rows in asg.rows_per_region().items():
        op = _op_of(name)
        if not by_layer and op.startswith("h."):
            op = op.split(".", 2)[2]
        out[op] = out.get(op, 0) + rows
    out["tables (largest)"] = max(asg.tables.values(), default=0)
    out["total"] = asg.rows_used
    return out


def plan(circuit: ModelCircuit) -> dict:
    """Rows per op, rows used and k, from a phase-0 build (no challenges, no phase 1)."""
    cs, _, asg = build(circuit, first_pass_only=True)
    return {"k": asg.k, "rows": asg.rows_used, "usable_rows": asg.usable_rows,
            "rows_per_op": rows_per_op(asg), "rows_per_op_type": rows_per_op(asg, by_layer=False),
            "advice_columns": cs.num_advice, "fixed_columns": cs.num_fixed,
            "lookups": len(cs.lookups), "degree": cs.degree()}


def choose_k(circuit: ModelCircuit) -> int:
    """The smallest k whose usable rows hold the circuit and its tables."""
    return plan(circuit)["k"]
