"""The float reference forward pass: nanoGPT's GPT in NumPy (float64 by default).

    x = wte[tokens] + wpe[0:T]
    for each layer:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))
    logits = lm_head(ln_f(x))

* attention: causal, ``softmax(q k^T / sqrt(head_dim))`` per head, heads concatenated, c_proj;
* mlp: c_fc -> GELU -> c_proj;
* LayerNorm: biased variance, ``eps = config.ln_eps``, optional bias (``config.bias``);
* GELU: ``model.gelu == "erf"`` is the exact ``0.5 x (1 + erf(x / sqrt 2))`` of PyTorch's
  ``nn.GELU()`` (nanoGPT); ``"tanh"`` is GPT-2's ``gelu_new``
  ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``.

``forward(model, tokens, trace=d)`` fills ``d`` with every intermediate activation by name
(see ``TRACE_NAMES``), which the quantization calibration reads.
"""
from __future__ import annotations

import math

import numpy as np

from .config import GPTConfig
from .memory import check_alloc

__all__ = ["forward", "forward_many", "generate_greedy", "gelu", "layer_norm", "softmax", "trace_names",
           "ForwardError"]


class ForwardError(ValueError):
    pass


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x: np.ndarray, kind: str = "erf") -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if kind == "erf":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if kind == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    raise ForwardError(f"unknown GELU kind {kind!r} (expected 'erf' or 'tanh')")


def layer_norm(x, weight, bias=None, eps=1e-5, *, stats: dict | None = None):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    if stats is not None:
        stats["mean"], stats["var"] = mean[..., 0], var[..., 0]
    y = (x - mean) / np.sqrt(var + eps) * weight
    return y + bias if bias is not None else y


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=axis, keepdims=True)


def trace_names(config: GPTConfig) -> list[str]:
    """Names ``forward(..., trace=d)`` fills, in execution order.

    Shapes (T tokens, d = n_embd, H = n_head):
      embed (T,d) token + position embedding
      h.{i}.ln_1 (T,d); h.{i}.ln_1.var (T,)  LayerNorm output and the variance it divided by
      h.{i}.attn.qkv (T,3d)                  c_attn output, q|k|v
      h.{i}.attn.scores (H,T,T)              q k^T / sqrt(head_dim); masked (future) entries 0
      h.{i}.attn.softmax (H,T,T)             causal softmax (future entries 0)
      h.{i}.attn.y (T,d)                     heads merged, before c_proj
      h.{i}.attn.out (T,d)                   c_proj output
      h.{i}.attn.resid (T,d)                 x after the attention residual add
      h.{i}.ln_2, h.{i}.ln_2.var
      h.{i}.mlp.fc (T,4d)                    c_fc output (GELU input)
      h.{i}.mlp.gelu (T,4d)
      h.{i}.mlp.out (T,d)                    c_proj output
      h.{i}.mlp.resid (T,d)                  x after the MLP residual add (the layer output)
      ln_f (T,d); ln_f.var (T,)
      logits (T,vocab)
    """
    names = ["embed"]
    for i in range(config.n_layer):
        p = f"h.{i}."
        names += [p + n for n in ("ln_1", "ln_1.var", "attn.qkv", "attn.scores", "attn.softmax",
                                  "attn.y", "attn.out", "attn.resid", "ln_2", "ln_2.var",
                                  "mlp.fc", "mlp.gelu", "mlp.out", "mlp.resid")]
    return names + ["ln_f", "ln_f.var", "logits"]


def _unpack(model, weights, gelu_kind):
    from .weights import validate_weights
    if isinstance(getattr(model, "config", None), GPTConfig) and hasattr(model, "weights"):
        # a Model, or any object with .config, .weights and optionally .gelu
        cfg, w = model.config, (weights if weights is not None else model.weights)
        g = gelu_kind or getattr(model, "gelu", None) or "erf"
        if "lm_head.weight" not in w:
            w = validate_weights(cfg, w)
    elif isinstance(model, GPTConfig):
        if weights is None:
            raise ForwardError("forward(config, ...) needs weights=")
        cfg, w, g = model, weights, gelu_kind or "erf"
        if "lm_head.weight" not in w:
            w = validate_weights(cfg, w)
    else:
        raise ForwardError(f"forward needs a Model or a GPTConfig, got {type(model).__name__}")
    return cfg, w, g


def _check_tokens(tokens, cfg: GPTConfig) -> np.ndarray:
    t = np.asarray(tokens)
    if t.ndim != 1:
        raise ForwardError(f"tokens must be a 1-D sequence, got shape {t.shape}")
    if t.size == 0:
        raise ForwardError("tokens must not be empty")
    if t.dtype.kind not in "iu":
        raise ForwardError(f"tokens must be integers, got dtype {t.dtype}")
    if t.size > cfg.block_size:
        raise ForwardError(f"{t.size} tokens exceed block_size {cfg.block_size}")
    bad = np.flatnonzero((t < 0) | (t >= cfg.vocab_size))
    if bad.size:
        raise ForwardError(f"token id {int(t[bad[0]])} at position {int(bad[0])} is out of range "
                           f"[0, {cfg.vocab_size})")
    return t.astype(np.int64)


def forward(model, tokens, *, weights: dict | None = None, gelu_kind: str | None = None,
            trace: dict | None = None, dtype=np.float64) -> np.ndarray:
    """Logits ``(T, vocab_size)`` for ``tokens`` (1-D ints, 1 <= T <= block_size).

    ``model`` is a ``Model`` (its weights and GELU flag are used; any object with ``.config``,
    ``.weights`` and optionally ``.gelu`` works) or a ``GPTConfig`` together with ``weights=``. ``gelu_kind`` overrides the model's GELU flag. ``trace``, when a dict,
    receives every intermediate activation (see ``trace_names``).
    """
    cfg, w, gk = _unpack(model, weights, gelu_kind)
    t = _check_tokens(tokens, cfg)
    return next(_forward_many(cfg, w, gk, [t], [trace], dtype))


def forward_many(model, inputs, *, weights: dict | None = None, gelu_kind: str | None = None,
                 dtype=np.float64):
    """The logits of `forward` for each token sequence of ``inputs``, yielded one input at a
    time. The inputs run together layer by layer, so each weight is converted to ``dtype``
    once for all of them; each input's arithmetic is that of `forward` on it alone (the
    same logits to the bit)."""
    cfg, w, gk = _unpack(model, weights, gelu_kind)
    toks = [_check_tokens(t, cfg) for t in inputs]
    return _forward_many(cfg, w, gk, toks, [None] * len(toks), dtype)


def _forward_many(cfg, w, gk, toks, traces, dtype):
    d, H = cfg.n_embd, cfg.n_head
    hd = cfg.head_dim
    rows = sum(t.size for t in toks)
    T_max = max(t.size for t in toks)
    # the largest arrays: the lm_head weight's copy, the logits, the attention and MLP
    # activations (a trace keeps every activation)
    check_alloc("float forward lm_head copy", (cfg.vocab_size, d), dtype)
    check_alloc("float forward logits", (T_max, cfg.vocab_size), dtype, count=2)
    n_keep = cfg.n_layer if any(tr is not None for tr in traces) else 1
    check_alloc("float forward attention", (H, T_max, T_max), dtype, count=4 * n_keep)
    check_alloc("float forward activations", (rows, 4 * d), dtype, count=4 * n_keep)
    W = lambda name: w[name].astype(dtype)  # noqa: E731
    B = (lambda name: w[name].astype(dtype)) if cfg.bias else (lambda name: None)

    def lin(x, wt, b):
        y = x @ wt.T
        return y + b if b is not None else y

    def ln(x, g, b):
        st = {}
        y = layer_norm(x, g, b, cfg.ln_eps, stats=st)
        return y, st["var"]

    # only the embedding rows in use are converted (the same values as converting the
    # tables first): no vocabulary- or block_size-sized copy
    xs = []
    for t, trace in zip(toks, traces):
        x = w["transformer.wte.weight"][t].astype(dtype) + w["transformer.wpe.weight"][:t.size].astype(dtype)
        if trace is not None:
            trace["embed"] = x
        xs.append(x)
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        s = f"h.{i}."
        g1, b1 = W(p + "ln_1.weight"), B(p + "ln_1.bias")
        w_attn, b_attn = W(p + "attn.c_attn.weight"), B(p + "attn.c_attn.bias")
        w_proj, b_proj = W(p + "attn.c_proj.weight"), B(p + "attn.c_proj.bias")
        g2, b2 = W(p + "ln_2.weight"), B(p + "ln_2.bias")
        w_fc, b_fc = W(p + "mlp.c_fc.weight"), B(p + "mlp.c_fc.bias")
        w_mp, b_mp = W(p + "mlp.c_proj.weight"), B(p + "mlp.c_proj.bias")
        for n, (x, trace) in enumerate(zip(xs, traces)):
            rec = trace.__setitem__ if trace is not None else (lambda name, v: None)
            T = x.shape[0]
            mask = np.tril(np.ones((T, T), dtype=bool))
            h, var = ln(x, g1, b1)
            rec(s + "ln_1", h)
            rec(s + "ln_1.var", var)
            qkv = lin(h, w_attn, b_attn)
            rec(s + "attn.qkv", qkv)
            q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(T, H, hd).transpose(1, 0, 2)
                       for j in range(3))
            scores = (q @ k.transpose(0, 2, 1)) * (1.0 / math.sqrt(hd))
            if trace is not None:
                rec(s + "attn.scores", np.where(mask, scores, 0.0).astype(dtype))
            att = softmax(np.where(mask, scores, -np.inf), axis=-1).astype(dtype)
            rec(s + "attn.softmax", att)
            y = (att @ v).transpose(1, 0, 2).reshape(T, d)
            rec(s + "attn.y", y)
            a = lin(y, w_proj, b_proj)
            rec(s + "attn.out", a)
            x = x + a
            rec(s + "attn.resid", x)
            h, var = ln(x, g2, b2)
            rec(s + "ln_2", h)
            rec(s + "ln_2.var", var)
            f = lin(h, w_fc, b_fc)
            rec(s + "mlp.fc", f)
            g = gelu(f, gk).astype(dtype)
            rec(s + "mlp.gelu", g)
            m = lin(g, w_mp, b_mp)
            rec(s + "mlp.out", m)
            x = x + m
            rec(s + "mlp.resid", x)
            xs[n] = x
        del w_attn, w_proj, w_fc, w_mp
    gf, bf = W("transformer.ln_f.weight"), B("transformer.ln_f.bias")
    lm = W("lm_head.weight")
    for n, trace in enumerate(traces):
        h, var = ln(xs[n], gf, bf)
        xs[n] = None                # one input's logits at a time
        logits = h @ lm.T
        if trace is not None:
            trace["ln_f"], trace["ln_f.var"], trace["logits"] = h, var, logits
        yield logits


def generate_greedy(model, prompt_tokens, max_new_tokens: int, *,
                    weights: dict | None = None, gelu_kind: str | None = None) -> list[int]:
    """Greedy decoding; returns the whole sequence (prompt + new tokens), like nanoGPT's
    ``generate``. Ties go to the lowest token id (``np.argmax``).

    The whole sequence must fit in one context window (``len(prompt) + max_new_tokens <=
    block_size``): a generation proof covers it with a single forward pass, so no cropping.
    """
    cfg, w, gk = _unpack(model, weights, gelu_kind)
    seq = [int(x) for x in _check_tokens(prompt_tokens, cfg)] if len(prompt_tokens) else None
    if seq is None:
        raise ForwardError("the prompt must have at least one token")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) \
            or max_new_tokens < 0:
        raise ForwardError(f"max_new_tokens must be a non-negative integer, got "
                           f"{max_new_tokens!r}")
    if len(seq) + max_new_tokens > cfg.block_size:
        raise ForwardError(f"prompt ({len(seq)} tokens) + max_new_tokens ({max_new_tokens}) "
                           f"exceeds block_size {cfg.block_size}")
    for _ in range(max_new_tokens):
        logits = forward(cfg, seq, weights=w, gelu_kind=gk)
        seq.append(int(np.argmax(logits[-1])))
    return seq
