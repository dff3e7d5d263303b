"""The integer (quantized) forward pass: exactly the computation the model circuit proves.

Every op calls the integer reference of the gadget that proves it (`snarkgpt.gadgets`), and
checks the same ranges the chip checks at witness generation, so the witness, the circuit
and this function cannot drift: if `integer_forward` succeeds on some tokens, the circuit
for those tokens builds and its honest witness satisfies every constraint.

Scales (see `QuantSettings`): activations, embeddings and LayerNorm gains at 2^s
(``scale_bits``), linear weights at 2^w (``weight_bits``). A linear layer computes the exact
product A (scale s) . W (scale w) and floor-rescales it by 2^w back to scale s; the
attention products Q.K^T and P.V (both operands at scale s) are rescaled by 2^s. The
attention scale 1/sqrt(head_dim) is folded into the query rows of c_attn before quantizing
(free: no extra op).

Biases (models with ``config.bias``): a linear layer adds its bias (at the product scale
2^(s+w)) to the exact product before the rescale, ``floor((A . W + b) / 2^w)``; a
LayerNorm adds its bias (at 2^s) after the gain, ``floor(n g / 2^s) + b``. Both are the
computation of the chips (`MatmulChip` with a bias column, `LayerNormChip`'s affine step).

Op names (keys of ``IntegerForward.acts``), per layer i:

    embed                       (T, d)   wte[token] + wpe[pos]
    h.i.ln_1                    (T, d)
    h.i.attn.qkv                (T, 3d)  ln_1 . W_attn, rescaled (q pre-scaled)
    h.i.attn.scores             (H, T, T) q_h . k_h^T, rescaled
    h.i.attn.softmax            (H, T, T) causal softmax at scale 2^s
    h.i.attn.av                 (T, d)   concat_h(P_h . v_h), rescaled
    h.i.attn.c_proj             (T, d)
    h.i.attn.residual           (T, d)   x + attn
    h.i.ln_2                    (T, d)
    h.i.mlp.c_fc                (T, 4d)
    h.i.mlp.gelu                (T, 4d)  GELU table (clamped input)
    h.i.mlp.c_proj              (T, d)
    h.i.mlp.residual            (T, d)
    ln_f                        (P, d)   only the P rows whose logits are needed
    logits                      (P, V)
    generate.argmax             (P,)     greedy next tokens (ties -> smallest index)

A value outside what a gadget proves raises `GadgetRangeError` naming the op. Values that a
chip *clamps* (GELU inputs beyond the table, variances beyond the rsqrt table, softmax
inputs below the exp table) are counted in ``IntegerForward.clamped`` so that calibration
can insist that nothing that matters was clamped.

Speed and memory: every matrix product is `reference.matmul`, the matmul chip's reference,
which computes the exact integer product with float64 BLAS where that is provably exact
(`reference.exact_matmul`); the weights are prepared for it once per quantized model
(`QuantizedModel.operand`). Only the T positions given are materialised (embedding rows
0..T-1, T x T attention), and each large array is checked against the memory budget
(`snarkgpt.model.memory`) before it is made: `MemoryBudgetError` names the op and the size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snarkgpt.gadgets import reference as ref
from snarkgpt.gadgets.base import GadgetRangeError, check_range
from snarkgpt.gadgets.embedding import embedding_ref
from snarkgpt.gadgets.fixedpoint import RESCALE_OUT_BITS
from snarkgpt.gadgets.layernorm import layernorm_ref
from snarkgpt.gadgets.residual import residual_ref
from snarkgpt.gadgets.softmax import softmax_ref

from .memory import check_alloc

__all__ = ["IntegerForward", "integer_forward", "check_tokens", "TokenError", "GadgetRangeError"]


class TokenError(ValueError):
    """Bad token input: empty prompt, token id outside the vocabulary, too many tokens."""


def check_tokens(config, tokens, n_prompt: int | None = None) -> np.ndarray:
    """Validate a token sequence (and the prompt length); returns int64 tokens."""
    try:
        t = np.asarray(tokens)
    except Exception as e:  # pragma: no cover
        raise TokenError(f"tokens must be a sequence of integers: {e}") from None
    if t.ndim != 1:
        raise TokenError(f"tokens must be a 1-D sequence, got shape {t.shape}")
    if t.size == 0:
        raise TokenError("empty prompt: at least one prompt token is needed")
    if t.dtype.kind not in "iu":
        if t.dtype.kind == "f" and np.all(np.mod(t, 1) == 0):
            t = t.astype(np.int64)
        else:
            raise TokenError(f"tokens must be integers, got dtype {t.dtype}")
    t = t.astype(np.int64)
    bad = np.flatnonzero((t < 0) | (t >= config.vocab_size))
    if bad.size:
        i = int(bad[0])
        raise TokenError(f"token {int(t[i])} at position {i} is outside the vocabulary "
                         f"[0, {config.vocab_size})")
    if t.size > config.block_size:
        raise TokenError(f"{t.size} tokens (prompt + generated) exceed block_size "
                         f"{config.block_size}")
    if n_prompt is not None:
        if n_prompt < 1:
            raise TokenError("empty prompt: n_prompt must be at least 1")
        if n_prompt > t.size:
            raise TokenError(f"n_prompt {n_prompt} exceeds the {t.size} tokens given")
    return t


@dataclass
class IntegerForward:
    """Result of `integer_forward`: ``logits`` (P, V) int64 at scale 2^s for ``positions``;
    ``next_tokens`` (P,) greedy argmax; ``acts`` {op name: int64 array}; ``clamped`` {op:
    number of clamped inputs}; ``stats`` {op: (min, max)} of the values each range-bounded
    op saw (for calibration)."""

    logits: np.ndarray
    next_tokens: np.ndarray
    positions: np.ndarray
    acts: dict = field(default_factory=dict)
    clamped: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    scale_bits: int = 0

    def float_logits(self) -> np.ndarray:
        return self.logits.astype(np.float64) / float(1 << self.scale_bits)


def _stat(stats, op, v):
    v = np.asarray(v)
    if v.size:
        lo, hi = int(v.min()), int(v.max())
        if op in stats:
            lo, hi = min(lo, stats[op][0]), max(hi, stats[op][1])
        stats[op] = (lo, hi)


def _linear(x, w, bits: int, op: str, bias=None) -> np.ndarray:
    """floor((x . w + bias) / 2^bits): the matmul chip (exact product, plus the bias when
    given) then the rescale chip. ``w``: an int64 matrix or a prepared `ref.MatmulOperand`."""
    # the product (int64), its float64 twin and the rescale's quotient and remainder
    check_alloc(op, (x.shape[0], w.shape[1]), np.int64, count=4)
    c = ref.matmul(x, w, op, bias)
    y, _ = ref.rescale(c, bits, op)
    _check_rescaled(op, y)
    return y


def _check_rescaled(op: str, y) -> None:
    """The rescale chip's output bound (its output limbs)."""
    half = 1 << (RESCALE_OUT_BITS - 1)
    check_range(op, y, -half, half, "rescaled output")


def _clamped_fn(spec, clamp_bits: int, x, op: str, stats, clamped) -> np.ndarray:
    """FunctionChip with clamp: refuse inputs outside the clamp's proven domain, count the
    clamped ones, look the clamped input up."""
    x = np.asarray(x, dtype=np.int64)
    lo, hi = spec.lo, spec.hi
    if hi - lo >= 1 << clamp_bits:
        raise ValueError(f"{op}: table domain wider than the clamp (2^{clamp_bits})")
    check_range(op, x, hi - (1 << clamp_bits) + 1, lo + (1 << clamp_bits), "clamp input")
    _stat(stats, op, x)
    n = int(np.count_nonzero((x < lo) | (x > hi)))
    clamped[op] = clamped.get(op, 0) + n
    return spec.reference(np.clip(x, lo, hi))


class _Discard(dict):
    """``acts`` when they are not kept: every entry is dropped as it is written."""

    def __setitem__(self, key, value):
        pass


def integer_forward(qmodel, tokens, positions=None, *, keep_acts: bool = True) -> IntegerForward:
    """Run the quantized model ``qmodel`` (a `QuantizedModel`) on ``tokens`` (T,).

    ``positions``: the rows whose logits (and argmax) are computed (default: all T);
    the circuit asks only for the positions whose next token is public. ``keep_acts=False``
    keeps no intermediate activation (``acts`` stays empty; calibration needs only the
    logits, the clamps and the statistics), so that a layer's arrays are freed as the next
    one runs."""
    from .quantize import gelu_table_spec

    cfg, st = qmodel.config, qmodel.settings
    W = qmodel.weights
    s, wb = st.scale_bits, st.weight_bits
    tokens = check_tokens(cfg, tokens)
    T, d, H = tokens.size, cfg.n_embd, cfg.n_head
    hd = d // H
    pos = np.arange(T) if positions is None else np.asarray(positions, dtype=np.int64)
    if pos.size == 0 or pos.min() < 0 or pos.max() >= T or np.any(np.diff(pos) != 1):
        raise ValueError(f"positions must be a non-empty contiguous range inside [0, {T})")
    acts, clamped, stats = ({} if keep_acts else _Discard()), {}, {}
    gspec = gelu_table_spec(st)
    operand = getattr(qmodel, "operand", None) or W.__getitem__
    # the largest per-layer arrays: scores, probabilities and softmax's intermediates for
    # every head (H, T, T), the MLP's (T, 4d) activations, and the logits
    check_alloc("attention scores", (H, T, T), np.int64, count=4)
    check_alloc("mlp activations", (T, 4 * d), np.int64, count=4)
    check_alloc("lm_head logits", (pos.size, cfg.vocab_size), np.int64, count=4)

    def ln(x, g, op, b=None):
        check_range(op, x, -(1 << 24), 1 << 24, "layernorm input")
        r = layernorm_ref(x, g, b, s, st.rsqrt_bits, op)
        _check_rescaled(op + ".norm", r["norm"])
        _check_rescaled(op, r["y"])
        _stat(stats, op + ".var", r["var"])
        clamped[op + ".rsqrt"] = clamped.get(op + ".rsqrt", 0) + int(np.count_nonzero(r["var"] > (1 << st.rsqrt_bits)))
        # the rsqrt chip's clamp domain
        check_range(op + ".rsqrt", r["var"], (1 << st.rsqrt_bits) - (1 << st.ln_clamp_bits) + 1,
                    1 + (1 << st.ln_clamp_bits), "variance")
        _stat(stats, op + ".norm", r["norm"])
        return r["y"]

    x = embedding_ref(tokens, W["wte"], W["wpe"], 0, "embed")
    acts["embed"] = x
    _stat(stats, "embed", x)
    mask = np.tril(np.ones((T, T), dtype=bool))
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        h1 = ln(x, W[p + "ln_1"], p + "ln_1", W.get(p + "ln_1.bias"))
        acts[p + "ln_1"] = h1
        qkv = _linear(h1, operand(p + "attn.c_attn"), wb, p + "attn.qkv", W.get(p + "attn.c_attn.bias"))
        acts[p + "attn.qkv"] = qkv
        scores = np.empty((H, T, T), dtype=np.int64)
        probs = np.empty((H, T, T), dtype=np.int64)
        av = np.empty((T, d), dtype=np.int64)
        for h in range(H):
            q = qkv[:, h * hd:(h + 1) * hd]
            k = qkv[:, d + h * hd: d + (h + 1) * hd]
            v = qkv[:, 2 * d + h * hd: 2 * d + (h + 1) * hd]
            sc = _linear(q, np.ascontiguousarray(k.T), s, p + "attn.scores")
            scores[h] = sc
            op = p + "attn.softmax"
            # the chip's proven row max and clamp: spread of each causal row < 2^clamp_bits
            masked = np.where(mask, sc, np.iinfo(np.int64).min)
            m = masked.max(axis=1)
            z = np.where(mask, sc - m[:, None], 0)
            check_range(op, z, -(1 << st.softmax_clamp_bits) + 1, 1, "score - row max")
            _stat(stats, op + ".z", z[mask])
            clamped[op] = clamped.get(op, 0) + int(np.count_nonzero(z < -(st.exp_size - 1)))
            r = softmax_ref(sc, s, st.exp_bits, True, 0, op, st.exp_rows)
            check_range(op, r["sum"], 1, (1 << st.softmax_div_bits) + 1, "row sum (divisor)")
            probs[h] = r["p"]
            av[:, h * hd:(h + 1) * hd] = _linear(r["p"], v, s, p + "attn.av")
        acts[p + "attn.scores"] = scores
        acts[p + "attn.softmax"] = probs
        acts[p + "attn.av"] = av
        a = _linear(av, operand(p + "attn.c_proj"), wb, p + "attn.c_proj", W.get(p + "attn.c_proj.bias"))
        acts[p + "attn.c_proj"] = a
        x = residual_ref(x, a, p + "attn.residual")
        acts[p + "attn.residual"] = x
        _stat(stats, p + "attn.residual", x)
        h2 = ln(x, W[p + "ln_2"], p + "ln_2", W.get(p + "ln_2.bias"))
        acts[p + "ln_2"] = h2
        f = _linear(h2, operand(p + "mlp.c_fc"), wb, p + "mlp.c_fc", W.get(p + "mlp.c_fc.bias"))
        acts[p + "mlp.c_fc"] = f
        g = _clamped_fn(gspec, st.gelu_clamp_bits, f, p + "mlp.gelu", stats, clamped)
        acts[p + "mlp.gelu"] = g
        m2 = _linear(g, operand(p + "mlp.c_proj"), wb, p + "mlp.c_proj", W.get(p + "mlp.c_proj.bias"))
        acts[p + "mlp.c_proj"] = m2
        x = residual_ref(x, m2, p + "mlp.residual")
        acts[p + "mlp.residual"] = x
        _stat(stats, p + "mlp.residual", x)
    xf = ln(x[pos], W["ln_f"], "ln_f", W.get("ln_f.bias"))
    acts["ln_f"] = xf
    logits = _linear(xf, operand("lm_head"), wb, "lm_head")
    acts["logits"] = logits
    spread = logits.max(axis=1) - logits.min(axis=1)
    _stat(stats, "generate.argmax", spread)
    check_range("generate.argmax", spread, 0, 1 << st.argmax_bits, "row spread max - min of logits")
    nxt = ref.argmax(logits)
    acts["generate.argmax"] = nxt
    return IntegerForward(logits, nxt, pos, acts if keep_acts else {}, clamped, stats, s)
