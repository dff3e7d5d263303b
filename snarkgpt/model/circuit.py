"""The model circuit: one forward pass of a quantized GPT proving a whole greedy generation.

Statement
---------
Public (one instance column ``tokens``): the prompt tokens then the generated tokens,
``tokens[0 .. n_prompt)`` and ``tokens[n_prompt .. N)``. Fixed (part of the verifying key,
so its digest is the model fingerprint): every weight (the token-embedding lookup table,
positional embeddings, LayerNorm gains, the matmul weights, and the linear and LayerNorm
biases of models with biases) and the `QuantSettings` (table sizes, scales). Private: every
activation.

The circuit runs the integer forward (`integer_forward`, op for op the same computation)
over the first ``T = N - 1`` tokens (every token but the last generated one is an input;
causal attention makes position t depend only on tokens <= t), and for every position
``t = n_prompt - 1 .. T - 1`` constrains the public token ``t + 1`` (an instance cell) to
equal the argmax of position t's logits (ties to the smallest index, `ArgmaxChip`). The
embedding's token cells are copied from the instance cells. The final LayerNorm, lm_head
and argmax are laid out only for those positions (the logits of earlier prompt positions are
not part of the statement).

With an `EvalStatement` (an eval key) the same body proves a model's accuracy over a public
window: the generation binding is replaced by the ``eval.score`` region
(`snarkgpt.model.evaluation`), which counts the positions t whose argmax equals the public
token t + 1 and exposes the count in the instance column ``count``. Generation circuits are
unchanged by this mode (same columns, gates and regions, hence the same keys).

Regions are named by layer and op: ``embed``, ``h.{i}.ln_1``, ``h.{i}.attn.qkv``,
``h.{i}.attn.split`` (reordering q, k^T, v per head: copies only), ``h.{i}.attn.scores``,
``h.{i}.attn.softmax``, ``h.{i}.attn.av``, ``h.{i}.attn.merge``, ``h.{i}.attn.c_proj``,
``h.{i}.attn.residual``, ``h.{i}.ln_2``, ``h.{i}.mlp.c_fc``, ``h.{i}.mlp.gelu``,
``h.{i}.mlp.c_proj``, ``h.{i}.mlp.residual``, ``ln_f``, ``lm_head``, ``generate.argmax``
(sub-regions append ``.<part>``, e.g. ``h.0.attn.softmax.exp``).

Columns: every op family is configured in a column bank of its own (``emb``, ``ln``,
``mm0``, ``sm``, ``gelu``, ``res``, ``argmax``, ``gather``; LayerNorm and softmax give each
of their steps a sub-bank, ``ln.sum``, ``sm.exp``, ...), so the packed floor planner lays
the regions of different families side by side: the circuit's height is that of the
tallest family, not the sum of all (`plan` reports rows per op; they add up to more than
the rows used). Banks of few rows draw their columns from a taller bank and stack below its
regions (the embedding and argmax below the residual adds; LayerNorm's per-position steps
below its first rescale; the causal softmax's paired steps): every column costs the
prover the same, however full. The matmuls (the tallest family) hold 4 values a row in
sections B.r and A.Br (`snarkgpt.gadgets.matmul`), which stack in their own columns of as
few product banks as `product_banks` allows (the base model: one, shared by 4 lanes). With a
``weight_width`` W (setup's choice, `segment_plan.best_width`, recorded in the card), the
fixed weights' section B.r holds W weights a row in W weight columns of one product bank
("Wide rows" in `snarkgpt.gadgets.matmul`): at GPT-2 width a block's 7.08M weights take
55,296 rows at W = 128 instead of 1,769,472.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass

import numpy as np

from snarkgpt.gadgets.base import Assigned, ChipContext, copy_in
from snarkgpt.gadgets.embedding import EmbeddingChip
from snarkgpt.gadgets.fixedpoint import RescaleChip
from snarkgpt.gadgets.layernorm import LayerNormChip
from snarkgpt.gadgets.matmul import DEFAULT_SLOTS, MatmulChip, _copy_rows
from snarkgpt.gadgets.nonlinear import FunctionChip
from snarkgpt.gadgets.range import ArgmaxChip
from snarkgpt.gadgets.residual import ResidualChip
from snarkgpt.gadgets.softmax import SoftmaxChip
from snarkgpt.gadgets.vocab import AddChip, ArgmaxMergeChip, OneHotChip
from snarkgpt.plonk.circuit import Assignment, ConstraintSystem, synthesize

from .integer_forward import TokenError, check_tokens, integer_forward
from .quantize import QuantizedModel, QuantSettings, gelu_table_spec, quantize_model
from .evaluation import assign_score, configure_score, count_correct
from .segments import Segment, segment_instances
from .statement import EvalStatement, Statement

__all__ = ["ModelCircuit", "ModelConfig", "GenerationMismatch", "EvalMismatch", "build", "plan",
           "rows_per_op", "choose_k", "OPS", "weight_products"]

OPS = ("embed", "ln_1", "attn.qkv", "attn.split", "attn.scores", "attn.softmax", "attn.av",
       "attn.merge", "attn.c_proj", "attn.residual", "ln_2", "mlp.c_fc", "mlp.gelu",
       "mlp.c_proj", "mlp.residual", "ln_f", "lm_head", "generate.argmax")


WEIGHT_MODES = ("fixed", "committed")
"""Where the weights sit: fixed columns (the verifying key commits them, binding but not
hiding) or committed columns (a hiding commitment in the key, re-randomized per proof)."""


class GenerationMismatch(ValueError):
    """The claimed generated tokens are not the model's greedy generation."""


class EvalMismatch(ValueError):
    """The claimed count of correct predictions is not the model's."""


@dataclass(kw_only=True)     # built by keyword: a dozen fields of one type
class ModelConfig:
    tokens: object          # the instance column (None in a segment with neither end)
    emb: object             # None in a segment without the embedding
    ln: object
    mm: object              # matmul lanes: [(MatmulConfig, rescale 2^w, rescale 2^s)]
    softmax: object
    gelu: object
    res: object
    argmax: object
    gather: object          # advice column for reordering copies
    gen: object             # instance column: 1 where the token is generated
    bind: tuple             # advice columns (next token, gen flag, argmax) of generate.bind
    q_bind: object
    score: object = None    # eval statements: the `ScoreConfig` (gen is then its `scored`)
    link_in: object = None  # a segment's link columns (segments.py): its input residual
    link_out: object = None  # ... and its output residual


@dataclass(kw_only=True)
class ChunkConfig:
    """The columns of a vocabulary chunk (`ModelCircuit._configure_chunk`)."""
    tokens: object
    mm: object
    rescale: object = None
    link_in: object = None
    link_out: object = None
    onehot: object = None
    add: object = None
    ln: object = None
    argmax: object = None
    gather: object = None
    merge: object = None
    gen: object = None
    bind: tuple = None
    q_bind: object = None
    score: object = None


class ModelCircuit:
    """Circuit for ``tokens`` (prompt + generated) of which the first ``n_prompt`` are the
    prompt, under ``quant_settings``. ``model``: a float model (``.config``, ``.weights``)
    or a `QuantizedModel`. Raises `TokenError` for bad tokens and `GenerationMismatch`
    (with ``check=True``) when the generated tokens are not the greedy generation."""

    def __init__(self, model, quant_settings: QuantSettings, tokens, n_prompt: int | None = None,
                 check: bool = True, mm_lanes: int | None = None, compact: bool = False,
                 weights: str = "fixed", segment: Segment | None = None, forward=None,
                 weight_width: int | None = None):
        if weights not in WEIGHT_MODES:
            raise ValueError(f"weights must be one of {WEIGHT_MODES}, got {weights!r}")
        self.weights = weights
        if isinstance(model, QuantizedModel):
            if model.settings != quant_settings:
                raise ValueError("the quantized model was made with other settings")
            self.qmodel = model
        else:
            self.qmodel = quantize_model(model, quant_settings)
        self.config = self.qmodel.config
        self.settings = quant_settings
        # the part of the forward pass this circuit proves (segments.py): all of it by default
        self.segment = Segment.whole(self.config.n_layer) if segment is None else segment
        if isinstance(tokens, (Statement, EvalStatement)):
            statement = tokens
        else:
            toks = np.asarray(tokens, dtype=np.int64).reshape(-1)
            if n_prompt is None:
                raise TypeError("ModelCircuit needs a Statement, or tokens and n_prompt")
            if n_prompt < 1:
                raise TokenError("empty prompt: at least one prompt token is needed")
            if toks.size - n_prompt < 1:
                raise TokenError("nothing to prove: no generated token after the prompt")
            statement = Statement(tuple(toks[:n_prompt].tolist()), tuple(toks[n_prompt:].tolist()),
                                  int(toks.size))
        self.statement = statement
        self.kind = statement.kind
        if self.kind == "eval":
            # the forward pass covers L - 1 positions: an eval window may be block_size + 1 long
            toks = _check_eval_tokens(self.config, statement.tokens())
            self.gen = np.array(statement.scored_flags(), dtype=np.int64)
            self.n_prompt = None
        else:
            toks = check_tokens(self.config, statement.tokens(), statement.n_prompt)
            self.gen = np.array(statement.gen_flags(), dtype=np.int64)
            self.n_prompt = statement.n_prompt
        self.tokens = toks
        self.T = toks.size - 1
        seg = self.segment
        self.mm_lanes = (default_mm_lanes(self.config, self.T, seg) if mm_lanes is None
                         else int(mm_lanes))
        self.compact = bool(compact)
        # fixed weights' section B.r in wide rows of this many weights (gadgets/matmul.py,
        # "Wide rows"); None: the narrow slots
        if weight_width is not None and (isinstance(weight_width, bool)
                                         or not isinstance(weight_width, (int, np.integer))
                                         or weight_width < 1):
            raise ValueError(f"weight width must be a positive integer or None, got {weight_width!r}")
        self.weight_width = None if weight_width is None else int(weight_width)
        self.positions = np.arange(self.T)
        # a chain computes the forward pass once and hands it to every segment
        self.forward = (integer_forward(self.qmodel, toks[:self.T], self.positions)
                        if forward is None else forward)
        # the matmuls' lanes (`_lane`), planned from the shapes when synthesize starts
        self._mm_sizes = matmul_c_sizes(self.config, self.T, seg)
        self._lanes: list | None = None
        self._next_mm = 0
        self.result: dict | None = None     # set by synthesize: logits, next tokens (count)
        if check and self.kind == "eval":
            n = count_correct(toks, self.gen, self.forward.next_tokens)
            if n != statement.correct:
                raise EvalMismatch(f"the claimed count {statement.correct} is not the quantized "
                                   f"model's {n} correct predictions over the window")
        elif check:
            gen_pos = np.flatnonzero(self.gen[1:])          # positions t whose next token is generated
            claimed = toks[gen_pos + 1]
            bad = np.flatnonzero(claimed != self.forward.next_tokens[gen_pos])
            if bad.size:
                t = int(gen_pos[bad[0]])
                raise GenerationMismatch(
                    f"token {int(toks[t + 1])} at position {t + 1} is not the greedy "
                    f"next token {int(self.forward.next_tokens[t])} of the quantized model")

    # -- the circuit interface -------------------------------------------------------------
    def instances(self):
        """The public values of this circuit (a segment: the statement's columns it reads,
        `segments.segment_instances`)."""
        if self.segment.count == 1:
            return self.statement.instances()
        return segment_instances(self.segment, self.statement, self.instance_names())

    def instance_names(self) -> list:
        """The names of this circuit's instance columns, in order."""
        seg = self.segment
        if not (seg.embed or seg.head):
            return []
        if not seg.head:
            return ["tokens"]
        return ["tokens", "scored", "count"] if self.kind == "eval" else ["tokens", "gen"]

    def configure(self, cs: ConstraintSystem) -> ModelConfig:
        st = self.settings
        s, w, lb = st.scale_bits, st.weight_bits, st.limb_bits
        seg = self.segment
        if seg.chunk:
            return self._configure_chunk(cs)
        inst = None
        if seg.embed or seg.head:
            inst = cs.instance_column("tokens")
            cs.enable_equality(inst)
        # every op family configures into its own column bank (`ChipContext.in_bank`), so the
        # packed floor planner lays their regions side by side; matmuls alternate over
        # `mm_lanes` banks. In the compact layout (`choose_layout`) the banks are off: fewer
        # columns, more rows. weights="committed": matmul weights and biases, LayerNorm gains
        # and biases and the positional embedding in committed columns
        # (docs/committed-weights.md)
        ctx = ChipContext.create(cs, compact=self.compact,
                                 committed_weights=self.weights == "committed")
        # the embedding and the argmax (one row per position and embedding or vocabulary
        # entry: a few thousand rows) draw their columns from the residual adds' bank and
        # stack below its regions (`in_bank`'s ``columns``)
        emb = None
        if seg.embed:
            emb = EmbeddingChip.configure(ctx.in_bank("emb", columns="res"),
                                          self.qmodel.weights["wte"], name="wte")
        ln = LayerNormChip.configure(ctx.in_bank("ln"), s, st.rsqrt_bits, clamp_bits=st.ln_clamp_bits,
                                     div_bits=st.ln_div_bits, limb_bits=lb)
        # sections B.r and A.Br of the matmuls (about a quarter of their rows) in banks of
        # their own, as few as keep them no taller than the rest (`product_banks`)
        # (with a weight width: one bank, whose wide section holds every fixed weight)
        W = self.weight_width
        products = [MatmulChip.configure_products(ctx.in_bank(f"mmp{j}"), width=W)
                    for j in range(product_banks(self.config, self.T, self.mm_lanes, seg, W))]
        mm = []
        for lane in range(self.mm_lanes):
            lane_ctx = ctx.in_bank(f"mm{lane}")
            # a model with biases: one fixed bias column per lane (docs/quantization.md)
            mm.append((MatmulChip.configure(lane_ctx, bias=bool(self.config.bias),
                                            products=products[lane % len(products)], width=W),
                       RescaleChip.configure(lane_ctx, w, limb_bits=lb),
                       RescaleChip.configure(lane_ctx, s, limb_bits=lb)))
        sm = gelu = res = am = None
        if seg.n_blocks:
            sm = SoftmaxChip.configure(ctx.in_bank("sm"), s, st.exp_bits, st.softmax_clamp_bits,
                                       st.softmax_div_bits, lb, exp_rows=st.exp_rows)
            gelu = FunctionChip.configure(ctx.in_bank("gelu"), gelu_table_spec(st),
                                          clamp_bits=st.gelu_clamp_bits, limb_bits=lb)
            res = ResidualChip.configure(ctx.in_bank("res"))
        if seg.head:
            am = ArgmaxChip.configure(ctx.in_bank("argmax", columns="res"), st.argmax_bits, lb)
        gather = ctx.in_bank("gather").advice_pool(1)[0]
        # a segment's residual stream in and out (segments.py, plonk/links.py)
        link_in = cs.link_column(seg.link_in) if seg.link_in else None
        link_out = cs.link_column(seg.link_out) if seg.link_out else None
        if not seg.head:
            return ModelConfig(tokens=inst, emb=emb, ln=ln, mm=mm, softmax=sm, gelu=gelu, res=res,
                               argmax=am, gather=gather, gen=None, bind=None, q_bind=None,
                               link_in=link_in, link_out=link_out)
        if self.kind == "eval":
            # eval statement: instance columns scored, count and the `eval.score` region
            # (snarkgpt.model.evaluation) instead of the generation binding
            score = configure_score(cs)
            return ModelConfig(tokens=inst, emb=emb, ln=ln, mm=mm, softmax=sm, gelu=gelu,
                               res=res, argmax=am, gather=gather, gen=score.scored, bind=None,
                               q_bind=None, score=score, link_in=link_in)
        gen = cs.instance_column("gen")
        cs.enable_equality(gen)
        bind = tuple(cs.advice_column(f"bind.{n}") for n in ("next", "gen", "argmax"))
        for col in bind:
            cs.enable_equality(col)
        q_bind = cs.selector("q_bind")
        nxt, flag, am_idx = (col.cur() for col in bind)
        cs.create_gate("generate.bind", [("gen * (next - argmax) = 0", flag * (nxt - am_idx))],
                       selector=q_bind)
        return ModelConfig(tokens=inst, emb=emb, ln=ln, mm=mm, softmax=sm, gelu=gelu, res=res,
                           argmax=am, gather=gather, gen=gen, bind=bind, q_bind=q_bind,
                           link_in=link_in)

    def synthesize(self, config: ModelConfig, layouter) -> None:
        cfg, W = self.config, self.qmodel.weights
        T, d, H = self.T, cfg.n_embd, cfg.n_head
        hd = d // H
        c = config
        seg = self.segment
        if seg.chunk:
            return self._synthesize_chunk(config, layouter)
        self._lanes = lane_plan(self._mm_sizes, len(c.mm))
        self._next_mm = 0
        if seg.embed:
            x = EmbeddingChip.assign(layouter, c.emb, self.tokens[:T], wpe=W["wpe"], pos0=0,
                                     token_instance=c.tokens, instance_offset=0, name="embed")
        else:
            x = _link_in(layouter, c.link_in, self.residual(seg.start))
        for i in range(seg.start, seg.stop):
            lay = layouter.namespace(f"h.{i}")
            att = lay.namespace("attn")
            h1 = LayerNormChip.assign(lay, c.ln, x, W[f"h.{i}.ln_1"], W.get(f"h.{i}.ln_1.bias"),
                                      name="ln_1")
            qkv = self._linear(att, c, h1, W[f"h.{i}.attn.c_attn"], "qkv",
                               W.get(f"h.{i}.attn.c_attn.bias"))                  # (T, 3d)
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
                mm, _, resc_s = self._lane(c, T, hd, T)
                sc = MatmulChip.assign(att, mm, q, kt, name="scores", rescale=resc_s)
                p = SoftmaxChip.assign(att, c.softmax, sc.reshape(T, T), causal=True, name="softmax")
                mm, _, resc_s = self._lane(c, T, T, hd)
                o = MatmulChip.assign(att, mm, p, v, name="av", rescale=resc_s)
                outs.append(o.reshape(T, hd))
            y = _concat_cols(att, c.gather, outs, "merge")                   # (T, d)
            a = self._linear(att, c, y, W[f"h.{i}.attn.c_proj"], "c_proj",
                             W.get(f"h.{i}.attn.c_proj.bias"))
            x = ResidualChip.assign(att, c.res, x, a, name="residual")
            mlp = lay.namespace("mlp")
            h2 = LayerNormChip.assign(lay, c.ln, x, W[f"h.{i}.ln_2"], W.get(f"h.{i}.ln_2.bias"),
                                      name="ln_2")
            f = self._linear(mlp, c, h2, W[f"h.{i}.mlp.c_fc"], "c_fc", W.get(f"h.{i}.mlp.c_fc.bias"))
            g = FunctionChip.assign(mlp, c.gelu, f, name="gelu")
            m2 = self._linear(mlp, c, g, W[f"h.{i}.mlp.c_proj"], "c_proj",
                              W.get(f"h.{i}.mlp.c_proj.bias"))
            x = ResidualChip.assign(mlp, c.res, x, m2, name="residual")
        if not seg.head:
            _link_out(layouter, c.link_out, x)
            self.result = {"residual": x.values}
            return
        # every position may precede a generated token (the statement's gen flags are public
        # and chosen by the verifier), so the logits and argmax are laid out for all of them
        hf = LayerNormChip.assign(layouter, c.ln, x, W["ln_f"], W.get("ln_f.bias"), name="ln_f")
        logits = self._linear(layouter, c, hf, W["lm_head"], "lm_head")
        idx, _ = ArgmaxChip.argmax(layouter, c.argmax, logits.reshape(T, cfg.vocab_size),
                                   name="generate.argmax")
        if c.score is not None:
            count = assign_score(layouter, c.score, c.tokens, self.tokens, self.gen, idx)
            self.result = {"logits": logits.values, "next_tokens": idx.values, "correct": count}
            return

        self._bind(layouter, c, idx)
        self.result = {"logits": logits.values, "next_tokens": idx.values}

    def _bind(self, layouter, c, idx: Assigned) -> None:
        """Region ``generate.bind``: the public next tokens where the flags say generated
        equal the argmax ``idx`` of their positions."""
        T = self.T

        def bind(reg):
            """Row t: next = tokens[t+1], gen = gen[t+1] (both copied from the instance) and
            argmax = position t's argmax (copied); the gate enforces gen * (next - argmax) = 0."""
            nxt, flag, am_col = c.bind
            nxt_cells = reg.assign_advice_column(nxt, 0, self.tokens[1:T + 1])
            gen_cells = reg.assign_advice_column(flag, 0, self.gen[1:T + 1])
            am_cells = reg.assign_advice_column(am_col, 0, np.asarray(idx.values, dtype=np.int64))
            reg.enable_selector(c.q_bind, 0, T)
            for t in range(T):
                reg.constrain_instance(nxt_cells[t], c.tokens, t + 1)
                reg.constrain_instance(gen_cells[t], c.gen, t + 1)
                reg.constrain_equal(am_cells[t], idx.cells[t])
        layouter.assign_region("generate.bind", bind)

    # -- vocabulary chunks (segments.py; gadgets/vocab.py) ----------------------------------
    def _configure_chunk(self, cs: ConstraintSystem) -> "ChunkConfig":
        """The columns of an embedding or head chunk: one matmul lane (the chunk's product by
        its rows of wte, or columns of lm_head, as fixed weights), the one-hot and the
        running sum (embedding), or the final LayerNorm (first head chunk), the argmax, its
        merge with the running argmax (later head chunks) and the binding (last)."""
        st = self.settings
        w, lb = st.weight_bits, st.limb_bits
        seg = self.segment
        inst = None
        if seg.embed or seg.head:
            inst = cs.instance_column("tokens")
            cs.enable_equality(inst)
        ctx = ChipContext.create(cs, compact=self.compact,
                                 committed_weights=self.weights == "committed")
        W = self.weight_width
        products = MatmulChip.configure_products(ctx.in_bank("mmp0"), width=W)
        lane = ctx.in_bank("mm0")
        mm = MatmulChip.configure(lane, bias=False, products=products, width=W)
        c = ChunkConfig(tokens=inst, mm=mm)
        c.link_in = cs.link_column(seg.link_in) if seg.link_in else None
        c.link_out = cs.link_column(seg.link_out) if seg.link_out else None
        if seg.role == "embed":
            c.onehot = OneHotChip.configure(ctx.in_bank("onehot"))
            c.add = AddChip.configure(ctx.in_bank("res"))
            return c
        c.rescale = RescaleChip.configure(lane, w, limb_bits=lb)
        if seg.v0 == 0:
            c.ln = LayerNormChip.configure(ctx.in_bank("ln"), st.scale_bits, st.rsqrt_bits,
                                           clamp_bits=st.ln_clamp_bits, div_bits=st.ln_div_bits,
                                           limb_bits=lb)
        c.argmax = ArgmaxChip.configure(ctx.in_bank("argmax"), st.argmax_bits, lb)
        if seg.v0 > 0:
            c.gather = ctx.in_bank("gather").advice_pool(1)[0]
            c.merge = ArgmaxMergeChip.configure(ctx.in_bank("merge", columns="argmax"))
        if not seg.head:
            return c
        if self.kind == "eval":
            c.score = configure_score(cs)
            c.gen = c.score.scored
            return c
        c.gen = cs.instance_column("gen")
        cs.enable_equality(c.gen)
        c.bind = tuple(cs.advice_column(f"bind.{n}") for n in ("next", "gen", "argmax"))
        for col in c.bind:
            cs.enable_equality(col)
        c.q_bind = cs.selector("q_bind")
        nxt, flag, am_idx = (col.cur() for col in c.bind)
        cs.create_gate("generate.bind", [("gen * (next - argmax) = 0", flag * (nxt - am_idx))],
                       selector=c.q_bind)
        return c

    def _synthesize_chunk(self, c: "ChunkConfig", layouter) -> None:
        cfg, W = self.config, self.qmodel.weights
        T, d = self.T, cfg.n_embd
        seg = self.segment
        v0, v1 = seg.v0, seg.v1
        n = v1 - v0
        toks = self.tokens[:T]
        if seg.role == "embed":
            wte = np.asarray(W["wte"])
            a = OneHotChip.assign(layouter, c.onehot, toks, v0, n, c.tokens, 0, name="embed.onehot")
            e = MatmulChip.assign(layouter, c.mm, a, wte[v0:v1], fixed_b=True, name="embed.wte")
            s = None
            if v0 > 0:
                prev = np.where((toks < v0)[:, None], wte[np.minimum(toks, wte.shape[0] - 1)], 0)
                (s,) = _link_in_parts(layouter, c.link_in, [prev])
            last = v1 == seg.vocab
            pe = np.asarray(W["wpe"])[:T] if last else np.zeros((T, d), dtype=np.int64)
            x = AddChip.assign(layouter, c.add, s, e.reshape(T, d), pe, name="embed.sum")
            _link_out_parts(layouter, c.link_out, [x])
            self.result = {"residual": x.values} if last else {"embed_sum": x.values}
            return
        acts = self.forward.acts
        if v0 == 0:
            x = _link_in(layouter, c.link_in, self.residual(cfg.n_layer))
            hf = LayerNormChip.assign(layouter, c.ln, x, W["ln_f"], W.get("ln_f.bias"), name="ln_f")
            M = J = None
        else:
            seen = np.asarray(acts["logits"])[:T, :v0]
            hf, M, J = _link_in_parts(layouter, c.link_in, [
                np.asarray(acts["ln_f"])[:T], seen.max(axis=1), seen.argmax(axis=1)])
        logits = MatmulChip.assign(layouter, c.mm, hf, np.asarray(W["lm_head"])[:, v0:v1],
                                   fixed_b=True, name="lm_head", rescale=c.rescale)
        logits = logits.reshape(T, n)
        if M is None:
            J, mx = ArgmaxChip.argmax(layouter, c.argmax, logits, name="generate.argmax")
        else:
            X = _concat_cols(layouter, c.gather, [M.reshape(T, 1), logits], "generate.running")
            idx, mx = ArgmaxChip.argmax(layouter, c.argmax, X, name="generate.argmax")
            J = ArgmaxMergeChip.assign(layouter, c.merge, idx, J, v0, name="generate.merge")
        if not seg.head:
            _link_out_parts(layouter, c.link_out, [hf, mx, J])
            self.result = {"logits": logits.values, "max": mx.values, "argmax": J.values}
            return
        if c.score is not None:
            count = assign_score(layouter, c.score, c.tokens, self.tokens, self.gen, J)
            self.result = {"logits": logits.values, "next_tokens": J.values, "correct": count}
            return
        self._bind(layouter, c, J)
        self.result = {"logits": logits.values, "next_tokens": J.values}

    def residual(self, b: int) -> np.ndarray:
        """The residual stream entering block b (T, d), from the integer forward."""
        acts = self.forward.acts
        return acts["embed"] if b == 0 else acts[f"h.{b - 1}.mlp.residual"]

    def _lane(self, c: ModelConfig, T: int, d: int, m: int):
        """The next matmul's lane from `lane_plan` (a function of the shapes only, so keygen
        and proving lay out the same circuit)."""
        n = self._next_mm
        if n >= len(self._mm_sizes) or self._mm_sizes[n] != T * m:
            raise AssertionError(f"matmul {n} of shape ({T}, {d}) x ({d}, {m}) is not in the lane plan")
        self._next_mm += 1
        return c.mm[self._lanes[n]]

    def _linear(self, lay, c: ModelConfig, x: Assigned, w: np.ndarray, name: str,
                bias=None) -> Assigned:
        """floor((x . w + bias) / 2^w): weights and bias (when the model has one) in fixed
        columns of the lane's matmul, rescale fused into its C.r rows."""
        mm, resc_w, _ = self._lane(c, x.values.shape[0], w.shape[0], w.shape[1])
        return MatmulChip.assign(lay, mm, x, w, fixed_b=True, name=name, rescale=resc_w,
                                 bias=bias)


def default_mm_lanes(config, T: int, segment: Segment | None = None) -> int:
    """Matmul lanes (column banks for section C.r and the fused rescales, one row per entry
    of a product: the tallest part of a transformer's circuit) so that each is about as
    tall as the other banks (the softmax's and the GELU's, one row per element), within
    [2, 8]. `choose_layout` also tries other counts."""
    T = max(1, T)
    c_rows = sum(matmul_c_sizes(config, T, segment))
    other = max(_blocks(config, segment) * T * max(config.n_head * T, 4 * config.n_embd), 1)
    return int(min(8, max(2, -(-c_rows // other))))


def _blocks(config, segment: Segment | None) -> int:
    return config.n_layer if segment is None else segment.n_blocks


def matmul_shapes(config, T: int, segment: Segment | None = None) -> list:
    """(T, d, m) of every matmul ((T, d) x (d, m)) of the forward pass (of ``segment``'s
    part of it), in circuit order."""
    d, H = config.n_embd, config.n_head
    if segment is not None and segment.chunk:
        return [(T,) + dm for dm in weight_products(config, segment)]
    hd = d // H
    layer = [(d, 3 * d)] + [(hd, T), (T, hd)] * H + [(d, d), (d, 4 * d), (4 * d, d)]
    head = segment is None or segment.head
    return [(T, k, m) for k, m in layer * _blocks(config, segment)
            + ([(d, config.vocab_size)] if head else [])]


def weight_products(config, segment: Segment | None = None) -> list:
    """(d, m) of every product by fixed weights of the forward pass (of ``segment``'s part of
    it): per block c_attn, attn.c_proj, c_fc, mlp.c_proj; then lm_head with the head."""
    d = config.n_embd
    if segment is not None and segment.chunk:     # a vocabulary chunk: wte rows or lm_head columns
        n = segment.v1 - segment.v0
        return [(n, d)] if segment.role == "embed" else [(d, n)]
    head = segment is None or segment.head
    return ([(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)] * _blocks(config, segment)
            + ([(d, config.vocab_size)] if head else []))


def matmul_c_sizes(config, T: int, segment: Segment | None = None) -> list:
    """Rows of section C.r (T m) of every matmul of the forward pass, in circuit order."""
    return [t * m for t, _, m in matmul_shapes(config, T, segment)]


def lane_plan(sizes, lanes: int) -> list:
    """The lane of each matmul: largest first onto the least loaded lane (LPT), so the
    lanes end up about equally tall."""
    load, out = [0] * lanes, [0] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        j = int(np.argmin(load))
        out[i] = j
        load[j] += sizes[i]
    return out


def product_banks(config, T: int, mm_lanes: int, segment: Segment | None = None,
                  weight_width: int | None = None) -> int:
    """Banks of matmul sections B.r and A.Br (each section stacks in its own columns of the
    bank): as few as keep them no taller than the other families (a matmul lane's section
    C.r, the softmax's and GELU's banks), and at most one per two lanes (where the weights
    dwarf the activations, the products set the height whatever the count). Every bank
    costs about 28 columns, full or not. With a ``weight_width`` one bank: its wide section
    holds every fixed weight, its slots only the activations (gadgets/matmul.py, "Wide
    rows"), and every bank has its own challenge, which the wide section must share."""
    if weight_width is not None:
        return 1
    P = DEFAULT_SLOTS
    shapes = matmul_shapes(config, T, segment)
    b_rows = sum(-(-d // P) * m for _, d, m in shapes)
    a_rows = sum(-(-t // P) * d for t, d, _ in shapes)
    lane = -(-sum(matmul_c_sizes(config, T, segment)) // mm_lanes)
    other = _blocks(config, segment) * T * max(config.n_head * T, 4 * config.n_embd)
    need = -(-max(b_rows, a_rows) // max(lane, other, 1))
    return max(1, min(need, mm_lanes // 2))


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


def _link_in(layouter, col, values: np.ndarray) -> Assigned:
    """A segment's input residual (T, d) on rows 0 .. T d - 1 of its link column, row-major:
    the neighbour before it wrote the same values there (`_link_out`)."""
    vals = np.ascontiguousarray(values, dtype=np.int64)

    def region(reg):
        return reg.assign_advice_column(col, 0, vals.reshape(-1))
    cells = layouter.assign_region("link.in", region)
    _check_link_rows(cells, col)
    return Assigned(vals, cells)


def _link_out(layouter, col, x: Assigned) -> None:
    """A segment's output residual copied onto rows 0 .. T d - 1 of its link column."""
    flat = np.ascontiguousarray(x.values.reshape(-1), dtype=np.int64)

    def region(reg):
        cells = reg.assign_advice_column(col, 0, flat)
        _copy_rows(reg, x.cells.column, x.cells.start + np.arange(flat.size), col,
                   cells.start + np.arange(flat.size))
        return cells
    _check_link_rows(layouter.assign_region("link.out", region), col)


def _link_in_parts(layouter, col, parts) -> list:
    """Several tensors laid end to end (each row-major) from row 0 of a link column, as
    the neighbour before wrote them (`_link_out_parts`); one `Assigned` per part."""
    vals = [np.ascontiguousarray(p, dtype=np.int64) for p in parts]
    flat = np.concatenate([v.reshape(-1) for v in vals])

    def region(reg):
        return reg.assign_advice_column(col, 0, flat)
    cells = layouter.assign_region("link.in", region)
    _check_link_rows(cells, col)
    out, off = [], 0
    for v in vals:
        out.append(Assigned(v, cells[off: off + v.size]))
        off += v.size
    return out


def _link_out_parts(layouter, col, parts) -> None:
    """`Assigned` tensors copied end to end (each row-major) onto a link column from row 0."""
    flat = np.concatenate([np.asarray(p.values, dtype=np.int64).reshape(-1) for p in parts])

    def region(reg):
        cells = reg.assign_advice_column(col, 0, flat)
        off = 0
        for p in parts:
            n = p.values.size
            copy_in(reg, p, cells[off: off + n])
            off += n
        return cells
    _check_link_rows(layouter.assign_region("link.out", region), col)


def _check_link_rows(cells, col) -> None:
    """Both neighbours must lay a link out from row 0 (the link column holds nothing else)."""
    if cells.start != 0:          # pragma: no cover - a floor-planner change would show here
        raise AssertionError(f"link column {col.name!r} starts at row {cells.start}, not 0")


def _concat_cols(layouter, col, parts, name: str) -> Assigned:
    """[P_0 | P_1 | ...] (T, sum widths) from (T, w_h) `Assigned` parts (each in any
    column), by copies."""
    T = parts[0].values.shape[0]
    vals = np.concatenate([p.values for p in parts], axis=1)
    W = vals.shape[1]

    def region(reg):
        cells = reg.assign_advice_column(col, 0, np.ascontiguousarray(vals.reshape(-1)))
        c0 = 0
        for p in parts:
            w = p.values.shape[1]
            dst = (np.arange(T)[:, None] * W + c0 + np.arange(w)[None, :]).reshape(-1)
            _copy_rows(reg, p.cells.column, p.cells.start + np.arange(T * w), col,
                       cells.start + dst)
            c0 += w
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


def layout_cost(circuit: "ModelCircuit") -> tuple:
    """(cost, k, columns) of a circuit's layout, from a phase-0 build as in `plan`: the
    prover's work grows with the number of committed and transformed columns times the rows,
    2^k (a lookup adds a helper and a multiplicity column, an equality column a grand-product
    share)."""
    cs, _, asg = build(circuit, first_pass_only=True)
    cols = cs.num_advice + cs.num_fixed + 2 * len(cs.lookups) + len(cs.permutation_columns)
    k = asg.k
    # A phase-0 build keeps its later phases' callbacks, which hold their regions, which hold
    # the assignment: a reference cycle. Its column buffers (2 GB for the base model's
    # compact candidate) would then wait for the cyclic collector while the next candidates
    # are built, and setup's peak memory would be the sum of all of them.
    del cs, asg
    gc.collect()
    return cols << k, k, cols


def layout_candidates(config, T: int) -> list:
    """Layouts ``(compact, mm_lanes)`` worth costing for a forward pass over T positions:
    compact, and banked with 2 matmul lanes, the default (`default_mm_lanes`) and one more."""
    lanes = default_mm_lanes(config, T)
    return [(True, 2)] + [(False, n) for n in sorted({2, lanes, min(8, lanes + 1)})]


def layout_costs(make_circuit, candidates) -> dict:
    """{layout: layout_cost(make_circuit(layout))} for each ``(compact, mm_lanes)``."""
    return {lay: layout_cost(make_circuit(lay)) for lay in candidates}


def choose_layout(costs: dict) -> tuple:
    """The cheapest layout ``(compact, mm_lanes)`` of `layout_costs` (ties: the first).

    Small models, whose k is set by their tables rather than their rows, prove faster and
    with smaller proofs compact (1 layer, embd 16: 4.8 s / 12 KB against 5.7 s / 32 KB);
    large ones need the banks, and enough matmul lanes, to keep k down (the base model at
    64 tokens: k = 16 with 4 lanes, k = 17 with 2)."""
    return min(costs, key=lambda lay: costs[lay][0])


def _check_eval_tokens(config, tokens) -> np.ndarray:
    """An eval statement's padded tokens: the first L - 1 are the forward pass's input (at
    most block_size), the last only a target; all in the vocabulary."""
    toks = np.asarray(tokens, dtype=np.int64).reshape(-1)
    if toks.size < 2:
        raise TokenError("an eval window needs at least 2 tokens")
    check_tokens(config, toks[:-1])
    if not 0 <= int(toks[-1]) < config.vocab_size:
        raise TokenError(f"token {int(toks[-1])} at position {toks.size - 1} is outside the "
                         f"vocabulary [0, {config.vocab_size})")
    return toks
