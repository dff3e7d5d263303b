"""Fixed-point quantization of a GPT: settings, weight quantization, calibration, error report.

`QuantSettings` holds every fixed-point parameter the circuit depends on (it is serialised to
JSON and becomes part of the verifying key): the activation scale ``scale_bits`` (s), the
weight scale ``weight_bits`` (w), and the sizes of every table and clamp (exp, GELU, rsqrt,
divisions, argmax). `quantize_model` turns float weights into the integer weights the circuit
puts in fixed columns. `calibrate` chooses the settings from traced float activations on
calibration inputs, then runs the integer forward on the same inputs and widens whatever
would fail or clamp, so the settings it returns are known to prove those inputs.
`error_report` measures the integer model against the float model (logit error, top-1
agreement, logit margins at disagreements). See docs/quantization.md.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from snarkgpt.gadgets import reference as ref
from snarkgpt.gadgets.base import GadgetRangeError, bits_for
from snarkgpt.gadgets.nonlinear import FunctionSpec, gelu_spec

from .memory import MemoryBudgetError, check_alloc

__all__ = ["QuantSettings", "QuantizedModel", "quantize_model", "calibrate", "CalibrationError",
           "error_report", "QuantReport", "gelu_table_spec", "float_forward_trace",
           "default_settings", "calibration_inputs", "random_float_model", "circuit_rows_estimate",
           "default_max_table_bits", "float_trace_stats"]

SETTINGS_VERSION = 1


class CalibrationError(ValueError):
    """No fixed-point setting proves the calibration inputs."""


@dataclass(frozen=True)
class QuantSettings:
    """Fixed-point parameters of the model circuit (all in bits).

    scale_bits        s: activations, embeddings, LayerNorm gains are v / 2^s
    weight_bits       w: linear-layer weights (c_attn, c_proj, c_fc, mlp.c_proj, lm_head)
    exp_bits          exp table of 2^exp_bits rows over [-(2^exp_bits - 1), 0] / 2^s
    exp_rows          optional: the exp table trimmed to this many rows (<= 2^exp_bits),
                      over [-(exp_rows - 1), 0] / 2^s
    softmax_clamp_bits  proven spread of a causal score row (row max and exp clamp)
    softmax_div_bits  softmax row sums (divisors) up to 2^bits
    rsqrt_bits        rsqrt table over variances [1, 2^rsqrt_bits] / 2^s
    ln_clamp_bits     clamp of the variance into the rsqrt table
    ln_div_bits       LayerNorm divisors d and d 2^s up to 2^bits
    gelu_bits         GELU table over [-2^(gelu_bits-1), 2^(gelu_bits-1)) / 2^s
    gelu_rows         optional: the GELU table trimmed to this many rows (even, <= 2^gelu_bits),
                      over [-gelu_rows/2, gelu_rows/2) / 2^s
    gelu_clamp_bits   clamp of GELU inputs into the table
    gelu              "tanh" or "erf" (the model's GELU form)
    argmax_bits       proven spread max - min of a logit row (greedy argmax)
    limb_bits         limb width of range decompositions (range.u{limb_bits} table)

    A lookup table must fit the circuit's usable rows (2^k minus a few blinding rows), so a
    table of exactly 2^16 rows forces k = 17; calibration trims the exp and GELU tables to
    the domain they need (``exp_rows``, ``gelu_rows``).
    """

    scale_bits: int = 8
    weight_bits: int = 8
    exp_bits: int = 11
    softmax_clamp_bits: int = 24
    softmax_div_bits: int = 20
    rsqrt_bits: int = 12
    ln_clamp_bits: int = 24
    ln_div_bits: int = 20
    gelu_bits: int = 12
    gelu_clamp_bits: int = 13
    gelu: str = "tanh"
    argmax_bits: int = 24
    limb_bits: int = 12
    exp_rows: int | None = None
    gelu_rows: int | None = None
    version: int = SETTINGS_VERSION

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "gelu":
                if v not in ("tanh", "erf"):
                    raise ValueError(f"QuantSettings.gelu must be 'tanh' or 'erf', got {v!r}")
            elif f.name in ("exp_rows", "gelu_rows") and v is None:
                pass
            elif not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"QuantSettings.{f.name} must be a positive integer, got {v!r}")
        if self.scale_bits > 16 or self.weight_bits > 16:
            raise ValueError("scale_bits and weight_bits must be <= 16 (int64-exact products)")
        if self.exp_bits >= self.softmax_clamp_bits:
            raise ValueError("softmax_clamp_bits must exceed exp_bits")
        if self.gelu_bits > self.gelu_clamp_bits:
            raise ValueError("gelu_clamp_bits must be >= gelu_bits")
        if self.rsqrt_bits >= self.ln_clamp_bits:
            raise ValueError("ln_clamp_bits must exceed rsqrt_bits")
        if self.exp_rows is not None and not 2 <= self.exp_rows <= 1 << self.exp_bits:
            raise ValueError(f"exp_rows must be in [2, 2^exp_bits], got {self.exp_rows}")
        if self.gelu_rows is not None and (not 2 <= self.gelu_rows <= 1 << self.gelu_bits
                                           or self.gelu_rows % 2):
            raise ValueError(f"gelu_rows must be even and in [2, 2^gelu_bits], got {self.gelu_rows}")

    @property
    def exp_size(self) -> int:
        """Rows of the exp table (its domain is [-(exp_size - 1), 0])."""
        return 1 << self.exp_bits if self.exp_rows is None else self.exp_rows

    @property
    def gelu_size(self) -> int:
        """Rows of the GELU table (its domain is [-gelu_size/2, gelu_size/2))."""
        return 1 << self.gelu_bits if self.gelu_rows is None else self.gelu_rows

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "QuantSettings":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown QuantSettings fields: {sorted(unknown)}")
        if d.get("version", SETTINGS_VERSION) != SETTINGS_VERSION:
            raise ValueError(f"QuantSettings version {d.get('version')} is not supported "
                             f"(expected {SETTINGS_VERSION})")
        return cls(**d)

    @classmethod
    def from_json(cls, s: str) -> "QuantSettings":
        return cls.from_dict(json.loads(s))

    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def table_bits(self) -> int:
        """log2 of the largest table before trimming (``exp_bits``, ``gelu_bits``...)."""
        return max(self.exp_bits, self.gelu_bits, self.rsqrt_bits, self.limb_bits,
                   self.scale_bits, self.weight_bits)

    def table_rows(self) -> int:
        """Rows of the largest lookup table: the circuit's usable rows hold at least this."""
        return max(self.exp_size, self.gelu_size, 1 << self.rsqrt_bits, 1 << self.limb_bits,
                   1 << self.scale_bits, 1 << self.weight_bits)


def _gelu_erf(x):
    x = np.asarray(x, dtype=np.float64)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _gelu_tanh(x):
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_table_spec(st: QuantSettings) -> FunctionSpec:
    """The GELU lookup table of these settings (input and output at scale 2^s)."""
    s = st.scale_bits
    if st.gelu == "tanh":
        return gelu_spec(st.gelu_bits, s, s, st.gelu_rows)
    return FunctionSpec("gelu_erf", _gelu_erf, -(st.gelu_size // 2), st.gelu_bits, s, s, st.gelu_rows)


def default_settings(config, scale_bits: int = 8, weight_bits: int = 8, **kw) -> QuantSettings:
    """Settings with tables sized from the scales alone (no calibration)."""
    s = scale_bits
    exp_bits = _exp_bits(s)
    d = dict(scale_bits=s, weight_bits=weight_bits, exp_bits=exp_bits,
             softmax_clamp_bits=max(24, exp_bits + 1),
             softmax_div_bits=bits_for((config.block_size << s) + 1),
             rsqrt_bits=s + 4, ln_clamp_bits=max(24, s + 5),
             ln_div_bits=bits_for((config.n_embd << s) + 1),
             gelu_bits=s + 4, gelu_clamp_bits=s + 5, argmax_bits=24)
    d.update(kw)
    return QuantSettings(**d)


def _exp_rows(s: int) -> int:
    """Rows of the smallest exp table whose lowest entry rounds to 0 at scale 2^s (so
    clamping below the table changes nothing): (rows - 1) / 2^s >= (s + 1) ln 2."""
    return int(math.ceil((s + 1) * math.log(2) * (1 << s))) + 2


def _exp_bits(s: int) -> int:
    """The smallest power-of-two exp table of that kind (log2 rows)."""
    return bits_for(_exp_rows(s))


# ---------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------
@dataclass
class QuantizedModel:
    """Integer weights of a model under some settings. ``weights`` keys (all int64):
    ``wte`` (V, d) and ``wpe`` (block, d) at scale 2^s; ``h.{i}.ln_1``, ``h.{i}.ln_2``,
    ``ln_f`` gains (d,) at 2^s; matmul operands in (in, out) layout at scale 2^w:
    ``h.{i}.attn.c_attn`` (d, 3d) with the query columns pre-multiplied by
    1/sqrt(head_dim), ``h.{i}.attn.c_proj`` (d, d), ``h.{i}.mlp.c_fc`` (d, 4d),
    ``h.{i}.mlp.c_proj`` (4d, d), ``lm_head`` (d, V). Models with biases (``config.bias``)
    add ``{linear}.bias`` (out,) for the four linear layers of each block at the product
    scale 2^(s+w) (the query part of ``c_attn.bias`` pre-multiplied by 1/sqrt(head_dim),
    like its weights), and ``h.{i}.ln_1.bias``, ``h.{i}.ln_2.bias``, ``ln_f.bias`` (d,) at
    2^s. lm_head has no bias."""

    config: object
    settings: QuantSettings
    weights: dict
    # weights prepared for exact products, built on first use: {name: (array, operand)}
    _operands: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def operand(self, name: str):
        """``weights[name]`` prepared for `reference.exact_matmul` (its max |entry| and its
        float64 copy), made once and reused by every later forward. The cache is keyed by
        the array object: replacing ``weights[name]`` is seen, writing into it in place is
        not (quantized weights are never written to)."""
        from snarkgpt.gadgets.reference import MatmulOperand
        if isinstance(self.weights, StreamedWeights):      # cached beside the weight
            return self.weights.operand(name)
        w = self.weights[name]
        hit = self._operands.get(name)
        if hit is None or hit[0] is not w:
            check_alloc(f"{name} float64 copy", np.shape(w), np.float64)
            hit = (w, MatmulOperand(w))
            self._operands[name] = hit
        return hit[1]

    def with_settings(self, settings: QuantSettings) -> "QuantizedModel":
        """The same integer weights (and prepared operands) under other settings with the
        same scales: the weights depend on ``scale_bits`` and ``weight_bits`` alone."""
        if (settings.scale_bits, settings.weight_bits) != (self.settings.scale_bits,
                                                           self.settings.weight_bits):
            raise ValueError("with_settings keeps the weights: the scales must not change")
        qm = QuantizedModel(self.config, settings, self.weights)
        qm._operands = self._operands
        return qm

    def release_operands(self) -> None:
        """Drop the prepared operands (their float64 copies double the weights' memory)."""
        self._operands.clear()
        if isinstance(self.weights, StreamedWeights):
            self.weights.clear()


def _float_weights(model) -> dict:
    w = getattr(model, "weights", None)
    if w is None and isinstance(model, dict):
        w = model
    if w is None:
        raise TypeError("model must have .config and .weights (a dict of float arrays)")
    return w


def _model_gelu(model) -> str:
    g = getattr(model, "gelu", None) or getattr(getattr(model, "config", None), "gelu", None)
    return g if g in ("tanh", "erf") else "tanh"


def quantized_names(cfg) -> list[str]:
    """The names of a `QuantizedModel`'s weights for ``cfg``, in forward order."""
    names = ["wte", "wpe"]
    for i in range(cfg.n_layer):
        p = f"h.{i}."
        names += [p + "ln_1", p + "attn.c_attn", p + "attn.c_proj", p + "ln_2", p + "mlp.c_fc",
                  p + "mlp.c_proj"]
        if cfg.bias:
            names += [p + n + ".bias" for n in ("ln_1", "attn.c_attn", "attn.c_proj", "ln_2",
                                                 "mlp.c_fc", "mlp.c_proj")]
    names += ["ln_f"] + (["ln_f.bias"] if cfg.bias else []) + ["lm_head"]
    return names


def quantize_tensor(cfg, W, name: str, s: int, w: int) -> np.ndarray:
    """One integer weight of `QuantizedModel` (``name`` from `quantized_names`) from the
    float weights ``W`` (nanoGPT names; a dict or a `LazyWeights`), at activation scale 2^s
    and weight scale 2^w, C-contiguous int64.

    Biases (``cfg.bias``): a linear layer's bias is rounded at the scale of the exact product
    it is added to, 2^(s+w) (input 2^s times weight 2^w), so it enters before the floor
    rescale with error <= 2^-(s+w+1); a LayerNorm bias at its output scale 2^s."""
    d, hd = cfg.n_embd, cfg.n_embd // cfg.n_head

    def get(src, shape):
        if src not in W:
            raise KeyError(f"missing weight {src}")
        a = W[src]
        if np.shape(a) != tuple(shape):
            raise ValueError(f"weight {src} has shape {np.shape(a)}, expected {tuple(shape)}")
        # its float64 copy, the scaled and rounded copies, the int64 result and its layout copy
        check_alloc(f"quantize {name}", shape, np.float64, count=5)
        return np.asarray(a, dtype=np.float64)

    def q(a, bits):
        return np.ascontiguousarray(ref.quantize(a, bits, bits=32, op=f"quantize {name}"))

    def qb(a):                          # a linear bias at the product scale 2^(s+w)
        return np.ascontiguousarray(ref.quantize(a, s + w, bits=48, op=f"quantize {name}"))

    if name == "wte":
        return q(get("transformer.wte.weight", (cfg.vocab_size, d)), s)
    if name == "wpe":
        return q(get("transformer.wpe.weight", (cfg.block_size, d)), s)
    if name in ("ln_f", "ln_f.bias"):
        return q(get("transformer." + name + (".weight" if name == "ln_f" else ""), (d,)), s)
    if name == "lm_head":
        if _lm_head_is_wte(W, s, w):
            # tied to wte at the same scale: the same rounding of the same values, transposed
            check_alloc("quantize lm_head", (cfg.vocab_size, d), np.int64, count=2)
            return np.ascontiguousarray(quantize_tensor(cfg, W, "wte", s, w).T)
        src = "transformer.wte.weight" if "lm_head.weight" not in W else "lm_head.weight"
        return q(get(src, (cfg.vocab_size, d)).T, w)
    m = re.fullmatch(r"h\.(\d+)\.(ln_1|ln_2|attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)"
                     r"(\.bias)?", name)
    if m is None or int(m.group(1)) >= cfg.n_layer or (m.group(3) and not cfg.bias):
        raise KeyError(f"no quantized weight {name!r} in {cfg}")
    p, op, bias = f"transformer.h.{m.group(1)}.", m.group(2), bool(m.group(3))
    if op in ("ln_1", "ln_2"):
        return q(get(p + op + (".bias" if bias else ".weight"), (d,)), s)
    out_dim = {"attn.c_attn": 3 * d, "attn.c_proj": d, "mlp.c_fc": 4 * d, "mlp.c_proj": d}[op]
    in_dim = 4 * d if op == "mlp.c_proj" else d
    if bias:
        b = get(p + op + ".bias", (out_dim,))
        if op == "attn.c_attn":         # the query part scaled like its weights
            b = b.copy()
            b[:d] *= 1.0 / math.sqrt(hd)
        return qb(b)
    a = get(p + op + ".weight", (out_dim, in_dim))
    if op == "attn.c_attn":
        a = a.copy()
        a[:d] *= 1.0 / math.sqrt(hd)   # the query columns pre-multiplied by 1/sqrt(head_dim)
    return q(a.T, w)


def _lm_head_is_wte(W, s: int, w: int) -> bool:
    """Whether the integer lm_head is the integer wte transposed: lm_head.weight tied to the
    embedding (absent, a tied LazyWeights, or the same array) and both at one scale."""
    if s != w:
        return False
    if "lm_head.weight" not in W:
        return True
    tied = getattr(W, "tied", None)
    if tied is not None:
        return bool(tied)
    return W["lm_head.weight"] is W["transformer.wte.weight"]


class StreamedWeights(Mapping):
    """A `QuantizedModel`'s weights quantized when asked for and kept in a cache of at most
    ``cap`` bytes (least recently used first out; a tensor larger than ``cap`` is held alone
    until the next lookup), with the matmul operands (`QuantizedModel.operand`) in the same
    cache. Quantization is deterministic, so a weight quantized again is the same array:
    every consumer sees exactly what the eager dict of `quantize_model` holds. With the
    float weights a `LazyWeights`, the model's memory is the cache's, whatever its size."""

    def __init__(self, cfg, W, s: int, w: int, cap: int):
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ValueError(f"cache size must be a positive number of bytes, got {cap!r}")
        self.config, self._W, self._s, self._w, self.cap = cfg, W, s, w, cap
        self._names = quantized_names(cfg)
        self._known = set(self._names)
        self._cache: OrderedDict = OrderedDict()
        self.held = 0                    # bytes in the cache now
        self.peak = 0                    # the most it held
        self.quantized = 0               # tensors quantized (misses), for tests and stats

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._known:
            raise KeyError(name)
        return self._cached(("w", name), lambda: quantize_tensor(
            self.config, self._W, name, self._s, self._w))

    def operand(self, name: str):
        """``self[name]`` prepared for `reference.exact_matmul`, cached beside it."""
        from snarkgpt.gadgets.reference import MatmulOperand

        def make():
            a = self[name]
            check_alloc(f"{name} float64 copy", a.shape, np.float64)
            return MatmulOperand(a)
        return self._cached(("op", name), make)

    def _cached(self, key, make):
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit[0]
        if key[0] == "w":
            self.quantized += 1
        value = make()
        size = _nbytes(value)
        while self._cache and self.held + size > self.cap:     # make room, oldest first
            _, (_, n) = self._cache.popitem(last=False)
            self.held -= n
        self._cache[key] = (value, size)
        self.held += size
        self.peak = max(self.peak, self.held)
        return value

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name) -> bool:
        return name in self._known

    def clear(self) -> None:
        self._cache.clear()
        self.held = 0

    def __repr__(self):
        return (f"StreamedWeights({len(self)} tensors, {self.held} of {self.cap} bytes "
                "cached)")


def _nbytes(value) -> int:
    """A cache entry's size: an array's bytes; an operand's int64 values (kept alive by it)
    and the float64 copy it builds on first use, counted when it is cached."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    return 2 * int(value.values.nbytes)


def quantized_bytes(cfg) -> int:
    """Bytes of a whole `QuantizedModel` held eagerly, with its float64 matmul operands."""
    d, V = cfg.n_embd, cfg.vocab_size
    per_block = 12 * d * d + 4 * d + (13 * d if cfg.bias else 0)
    ints = V * d + cfg.block_size * d + cfg.n_layer * per_block + d + V * d
    mats = cfg.n_layer * 12 * d * d + V * d          # the operands' float64 copies
    return 8 * (ints + mats)


def stream_cap(cfg, budget: int | None = None) -> int | None:
    """None (quantize the whole model once and keep it) when it takes at most a quarter of
    the memory budget, else the byte cap of a `StreamedWeights` cache: an eighth of the
    budget, and at least the largest tensor with its operand twice over (so a forward pass
    never quantizes a tensor twice in a row)."""
    if budget is None:
        from .memory import current_budget
        budget = current_budget().limit
    if quantized_bytes(cfg) <= budget // 4:
        return None
    largest = 8 * 2 * max(cfg.vocab_size * cfg.n_embd, 4 * cfg.n_embd * cfg.n_embd)
    return max(budget // 8, 2 * largest)


def quantize_model(model, settings: QuantSettings, stream="auto") -> QuantizedModel:
    """Quantize ``model`` (``.config``, ``.weights``: float arrays under nanoGPT names, a
    dict or a `LazyWeights`); see `quantize_tensor` for each weight.

    ``stream``: "auto" (`stream_cap`: eager while the integer model takes at most a quarter
    of the memory budget), False (every weight now, in a dict) or a byte cap (a
    `StreamedWeights`, each weight quantized when first asked for)."""
    cfg = model.config
    W = _float_weights(model)
    s, w = settings.scale_bits, settings.weight_bits
    cap = stream_cap(cfg) if stream == "auto" else stream
    if cap is None or cap is False:
        if "lm_head.weight" in W and np.shape(W["lm_head.weight"]) != (cfg.vocab_size,
                                                                         cfg.n_embd):
            raise ValueError(f"lm_head.weight has shape {np.shape(W['lm_head.weight'])}, "
                             f"expected {(cfg.vocab_size, cfg.n_embd)}")
        out = {}
        for name in quantized_names(cfg):
            if name == "lm_head" and _lm_head_is_wte(W, s, w):
                check_alloc("quantize lm_head", (cfg.vocab_size, cfg.n_embd), np.int64)
                out[name] = np.ascontiguousarray(out["wte"].T)
            else:
                out[name] = quantize_tensor(cfg, W, name, s, w)
        return QuantizedModel(cfg, settings, out)
    for name in ("transformer.wte.weight", "transformer.wpe.weight"):   # fail early
        if name not in W:
            raise KeyError(f"missing weight {name}")
    return QuantizedModel(cfg, settings, StreamedWeights(cfg, W, s, w, int(cap)))


# ---------------------------------------------------------------------------------------
# Float reference (for calibration statistics)
# ---------------------------------------------------------------------------------------
def float_forward_trace(model, tokens, gelu: str | None = None) -> tuple[np.ndarray, dict]:
    """nanoGPT's forward in float64 (with biases when ``config.bias``): (logits (T, V), stats) with the statistics
    calibration needs: max |.| of the residual stream, LayerNorm input variances, the spread
    of causal score rows (scaled by 1/sqrt(head_dim)), pre-GELU inputs, logit spreads."""
    (logits, st), = _float_traces(model, [tokens], gelu, logits=True)
    return logits, st


_STAT_KEYS = ("resid", "var", "spread", "gelu_in", "logit_spread", "hidden")


def float_trace_stats(model, inputs, gelu: str | None = None) -> dict:
    """The statistics of `float_forward_trace` over every input (the max of each), the
    inputs run together layer by layer so that each weight is converted to float64 once;
    each input's arithmetic is that of `float_forward_trace` on it alone, so the statistics
    are the same to the bit."""
    stats = {}
    for _, st in _float_traces(model, inputs, gelu, logits=False):
        for k, v in st.items():
            stats[k] = max(stats.get(k, 0.0), v)
    return stats


def _float_traces(model, inputs, gelu, logits: bool) -> list:
    """[(logits or None, stats)] for each token sequence of ``inputs``."""
    cfg = model.config
    W = _float_weights(model)
    gelu = gelu or _model_gelu(model)
    g = _gelu_tanh if gelu == "tanh" else _gelu_erf
    d, H = cfg.n_embd, cfg.n_head
    hd = d // H
    toks = [np.asarray(t, dtype=np.int64) for t in inputs]
    rows = sum(t.size for t in toks)
    T_max = max(t.size for t in toks)
    check_alloc("float trace activations", (rows, 4 * d), np.float64, count=6)
    check_alloc("float trace attention", (H, T_max, T_max), np.float64, count=6)
    check_alloc("float trace logits", (T_max if not logits else rows, cfg.vocab_size),
                np.float64, count=3)

    def f(n):
        check_alloc(f"{n} float64 copy", np.shape(W[n]), np.float64)
        return np.asarray(W[n], dtype=np.float64)

    fb = (lambda n: f(n + ".bias")) if cfg.bias else (lambda n: 0.0)  # noqa: E731
    sts = [{k: 0.0 for k in _STAT_KEYS} for _ in toks]

    def ln(x, st, gain, bias):
        mu = x.mean(-1, keepdims=True)
        var = x.var(-1, keepdims=True)
        st["var"] = max(st["var"], float(var.max()))
        y = (x - mu) / np.sqrt(var + cfg.ln_eps) * gain + bias
        st["hidden"] = max(st["hidden"], float(np.abs(y).max()))
        return y

    # only the rows of the embeddings the tokens use, converted to float64 (the same values
    # as converting the whole tables first)
    wte, wpe = W["transformer.wte.weight"], W["transformer.wpe.weight"]
    xs = [np.asarray(wte[t], dtype=np.float64) + np.asarray(wpe[:t.size], dtype=np.float64)
          for t in toks]
    for x, st in zip(xs, sts):
        st["resid"] = float(np.abs(x).max())
    for i in range(cfg.n_layer):
        p = f"transformer.h.{i}."
        g1, b1 = f(p + "ln_1.weight"), fb(p + "ln_1")
        w_attn, b_attn = f(p + "attn.c_attn.weight"), fb(p + "attn.c_attn")
        w_proj, b_proj = f(p + "attn.c_proj.weight"), fb(p + "attn.c_proj")
        for n, (x, st) in enumerate(zip(xs, sts)):
            T = x.shape[0]
            mask = np.tril(np.ones((T, T), dtype=bool))
            h = ln(x, st, g1, b1)
            qkv = h @ w_attn.T + b_attn
            st["hidden"] = max(st["hidden"], float(np.abs(qkv).max()))
            y = np.empty((T, d))
            for j in range(H):
                q = qkv[:, j * hd:(j + 1) * hd]
                k = qkv[:, d + j * hd:d + (j + 1) * hd]
                v = qkv[:, 2 * d + j * hd:2 * d + (j + 1) * hd]
                sc = q @ k.T / math.sqrt(hd)
                m = np.where(mask, sc, -np.inf).max(1)
                mn = np.where(mask, sc, np.inf).min(1)
                st["spread"] = max(st["spread"], float((m - mn).max()))
                st["hidden"] = max(st["hidden"], float(np.abs(sc).max()))
                e = np.where(mask, np.exp(sc - m[:, None]), 0.0)
                y[:, j * hd:(j + 1) * hd] = (e / e.sum(1, keepdims=True)) @ v
            x = x + (y @ w_proj.T + b_proj)
            st["resid"] = max(st["resid"], float(np.abs(x).max()))
            xs[n] = x
        del w_attn, w_proj
        g2, b2 = f(p + "ln_2.weight"), fb(p + "ln_2")
        w_fc, b_fc = f(p + "mlp.c_fc.weight"), fb(p + "mlp.c_fc")
        w_mp, b_mp = f(p + "mlp.c_proj.weight"), fb(p + "mlp.c_proj")
        for n, (x, st) in enumerate(zip(xs, sts)):
            h = ln(x, st, g2, b2)
            a = h @ w_fc.T + b_fc
            st["gelu_in"] = max(st["gelu_in"], float(np.abs(a).max()))
            x = x + (g(a) @ w_mp.T + b_mp)
            st["resid"] = max(st["resid"], float(np.abs(x).max()))
            xs[n] = x
        del w_fc, w_mp
    gf, bf = f("transformer.ln_f.weight"), fb("transformer.ln_f")
    lm = f("lm_head.weight" if "lm_head.weight" in W else "transformer.wte.weight")
    out = []
    for x, st in zip(xs, sts):
        h = ln(x, st, gf, bf)
        lg = h @ lm.T
        st["logit_spread"] = float((lg.max(1) - lg.min(1)).max())
        out.append((lg if logits else None, st))
    return out


def _float_logits(model, tokens, gelu: str) -> np.ndarray:
    """The project's float forward when present (same GELU form), else the local one."""
    try:
        from snarkgpt.model.float_forward import forward
    except ImportError:
        forward = None
    if forward is not None:
        try:
            return np.asarray(forward(model, tokens, gelu_kind=gelu), dtype=np.float64)
        except TypeError:
            try:
                return np.asarray(forward(model, tokens), dtype=np.float64)
            except MemoryBudgetError:
                raise
            except Exception:
                pass
        except MemoryBudgetError:
            raise
        except Exception:
            pass
    return float_forward_trace(model, tokens, gelu)[0]


def _float_logits_each(model, inputs, gelu: str):
    """The float logits of each input (`_float_logits`), yielded one at a time; through
    `float_forward.forward_many` (each weight converted once) when the model suits it."""
    try:
        from snarkgpt.model.float_forward import forward_many
        gen = forward_many(model, inputs, gelu_kind=gelu)
    except MemoryBudgetError:
        raise
    except Exception:
        gen = (_float_logits(model, t, gelu) for t in inputs)
    for lg in gen:
        yield np.asarray(lg, dtype=np.float64)


def calibration_inputs(model, n: int = 4, length: int | None = None, seed: int = 0,
                       prompts=None) -> list:
    """Token sequences for calibration: the given ``prompts`` (lists of token ids or strings,
    encoded with ``model.tokenizer`` when present), else ``n`` random sequences of
    ``length`` (default block_size) tokens."""
    cfg = model.config
    if prompts:
        out = []
        tok = getattr(model, "tokenizer", None)
        for p in prompts:
            if isinstance(p, str):
                if tok is None:
                    raise ValueError("string prompts need a model with a tokenizer")
                p = tok.encode(p)
            out.append(np.asarray(p, dtype=np.int64)[: cfg.block_size])
        return out
    if length is not None and (isinstance(length, bool) or not isinstance(length, (int, np.integer))
                               or length < 1):
        raise ValueError(f"calibration length must be a positive integer, got {length!r}")
    rng = np.random.default_rng(seed)
    L = cfg.block_size if length is None else min(int(length), cfg.block_size)
    return [rng.integers(0, cfg.vocab_size, size=L) for _ in range(n)]


# ---------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------
def _choose(config, stats: dict, s: int, w: int, margin: float, gelu: str) -> QuantSettings:
    u = float(1 << s)
    exp_rows = _exp_rows(s)
    exp_bits = bits_for(exp_rows)
    # GELU table over [-g, g) holding |v| <= margin * max |input|; at least 16 rows
    gelu_rows = max(16, 2 * (int(math.ceil(margin * stats["gelu_in"] * u)) + 1))
    gelu_bits = bits_for(gelu_rows)
    spread_bits = bits_for(int(math.ceil(margin * stats["spread"] * u)) + 2)
    rsqrt_bits = max(s + 1, bits_for(int(math.ceil(margin * stats["var"] * u)) + 1))
    argmax_bits = max(24, bits_for(int(math.ceil(margin * stats["logit_spread"] * u)) + 2))
    return QuantSettings(
        scale_bits=s, weight_bits=w, exp_bits=exp_bits, exp_rows=exp_rows,
        softmax_clamp_bits=max(24, spread_bits, exp_bits + 1),
        softmax_div_bits=bits_for((config.block_size << s) + 1),
        rsqrt_bits=rsqrt_bits, ln_clamp_bits=max(24, rsqrt_bits + 1),
        ln_div_bits=bits_for((config.n_embd << s) + 1),
        gelu_bits=gelu_bits, gelu_rows=gelu_rows, gelu_clamp_bits=gelu_bits + 1, gelu=gelu,
        argmax_bits=argmax_bits)


def _wider_gelu(st: QuantSettings, clamp_step: int) -> QuantSettings:
    """The GELU table's domain doubled (a trimmed table stays trimmed)."""
    rows = None if st.gelu_rows is None else 2 * st.gelu_rows
    return replace(st, gelu_bits=st.gelu_bits + 1, gelu_rows=rows,
                   gelu_clamp_bits=st.gelu_clamp_bits + clamp_step)


def _widen(st: QuantSettings, err: GadgetRangeError | None, clamped: dict) -> QuantSettings | None:
    """The settings one step wider where the integer forward failed or clamped."""
    if err is not None:
        op = err.op
        if op.endswith(".rsqrt"):
            return replace(st, rsqrt_bits=st.rsqrt_bits + 1, ln_clamp_bits=max(st.ln_clamp_bits, st.rsqrt_bits + 2))
        if op.endswith("mlp.gelu"):
            return _wider_gelu(st, clamp_step=2)
        if op.endswith("attn.softmax"):
            return replace(st, softmax_clamp_bits=st.softmax_clamp_bits + 2,
                           softmax_div_bits=st.softmax_div_bits + 1)
        if op == "generate.argmax":
            return replace(st, argmax_bits=st.argmax_bits + 2)
        if st.scale_bits > 4:       # an overflow (layernorm input, product bound): lower s
            return replace(st, scale_bits=st.scale_bits - 1)
        return None
    for op, n in clamped.items():
        if n and op.endswith("mlp.gelu"):
            return _wider_gelu(st, clamp_step=1)
        if n and op.endswith(".rsqrt"):
            return replace(st, rsqrt_bits=st.rsqrt_bits + 1,
                           ln_clamp_bits=max(st.ln_clamp_bits, st.rsqrt_bits + 2))
    return st


@dataclass
class QuantReport:
    """Integer vs float model on the calibration inputs."""

    settings: dict
    n_inputs: int
    positions: int
    max_logit_error: float
    mean_logit_error: float
    top1_agreement: float
    disagreements: list = field(default_factory=list)   # (input, position, float margin)
    clamped: dict = field(default_factory=dict)
    float_stats: dict = field(default_factory=dict)
    attempts: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (f"{self.n_inputs} inputs, {self.positions} positions: max |logit error| "
                f"{self.max_logit_error:.4f}, mean {self.mean_logit_error:.4f}, top-1 agreement "
                f"{100 * self.top1_agreement:.2f}%"
                + (f", disagreements at float margins {[round(m, 4) for _, _, m in self.disagreements]}"
                   if self.disagreements else ""))


def error_report(model, settings: QuantSettings, inputs, qmodel: QuantizedModel | None = None,
                 float_logits=None) -> QuantReport:
    """Logit error and top-1 agreement of the integer model against the float model over
    ``inputs`` (token sequences), every position. ``float_logits``: the float model's
    logits of each input when already computed. Only one input's logits are held at a time
    (the running max and sum of the errors are kept, not the errors)."""
    from .integer_forward import integer_forward
    qm = qmodel or quantize_model(model, settings)
    err_max, err_sum, n_err, agree, total, dis, clamped = 0.0, 0.0, 0, 0, 0, [], {}
    inputs = [np.asarray(t, dtype=np.int64) for t in inputs]
    fls = _float_logits_each(model, inputs, settings.gelu) if float_logits is None else float_logits
    for n, (toks, fl) in enumerate(zip(inputs, fls)):
        check_alloc("error report logits", (toks.size, model.config.vocab_size), np.float64,
                    count=4)
        fl = np.asarray(fl, dtype=np.float64)
        res = integer_forward(qm, toks, keep_acts=False)
        e = np.abs(res.float_logits() - fl)
        err_max = max(err_max, float(e.max()))
        err_sum += float(e.sum())
        n_err += e.size
        del e
        f_top = fl.argmax(1)
        agree += int(np.count_nonzero(f_top == res.next_tokens))
        total += toks.size
        for t in np.flatnonzero(f_top != res.next_tokens):
            top2 = np.partition(fl[t], fl.shape[1] - 2)[-2:]
            dis.append((n, int(t), float(top2[1] - top2[0])))
        for k, v in res.clamped.items():
            clamped[k] = clamped.get(k, 0) + v
    return QuantReport(settings.to_dict(), len(inputs), total, err_max,
                       err_sum / n_err if n_err else 0.0, agree / max(total, 1), dis, clamped)


def circuit_rows_estimate(config, T: int | None = None) -> int:
    """Rows the model circuit needs without its tables (an estimate from the shapes: the
    tallest column bank, the matmuls, or the softmax's two broadcasts per element)."""
    from snarkgpt.gadgets.matmul import matmul_rows
    T = config.block_size - 1 if T is None else T
    T = max(1, T)
    d, H, L, V = config.n_embd, config.n_head, config.n_layer, config.vocab_size
    hd = d // H
    mm = L * (matmul_rows(T, d, 3 * d) + matmul_rows(T, d, d) + matmul_rows(T, d, 4 * d)
              + matmul_rows(T, 4 * d, d) + H * (matmul_rows(T, hd, T) + matmul_rows(T, T, hd)))
    mm += matmul_rows(T, d, V)
    sm = L * H * 2 * T * T
    return max(mm, sm)


# rows a trimmed table leaves free below 2^max_table_bits (the blinding rows and the last row)
TABLE_SLACK = 64


def default_max_table_bits(config, lo: int = 12, hi: int = 16) -> int:
    """Table size (log2 rows) that does not raise the circuit's k: the k its rows need
    anyway (`circuit_rows_estimate`, plus blinding slack), within [lo, hi]."""
    k = bits_for(circuit_rows_estimate(config) + 64)
    return int(min(hi, max(lo, k)))


def calibrate(model, inputs=None, *, scale_bits: int | None = None, weight_bits: int | None = None,
              margin: float = 2.0, max_table_bits: int | None = None, max_scale_bits: int = 12,
              max_attempts: int = 16, report: bool = True, max_tokens: int | None = None,
              stream="auto"):
    """Choose `QuantSettings` for ``model`` from calibration ``inputs`` (token sequences;
    default: 4 random sequences of ``max_tokens`` tokens, block_size when None) and return
    ``(settings, report)``. ``max_tokens`` bounds the context: given inputs are cut to
    their first ``max_tokens`` tokens, and no position past them is ever computed.

    1. trace the float forward on every input: max |residual|, LayerNorm variances,
       causal score spreads, pre-GELU inputs, logit spreads;
    2. pick the largest activation scale s <= ``max_scale_bits`` whose tables (GELU, rsqrt,
       exp) fit in 2^``max_table_bits`` rows (the exp and GELU tables, trimmed to their
       domains, in 2^``max_table_bits`` - `TABLE_SLACK`) with ``margin`` (x2 by default) on every
       range, unless ``scale_bits`` is given; w = ``weight_bits`` or s. ``max_table_bits``
       defaults to `default_max_table_bits` (the k the circuit's rows need anyway, 12..16),
       so tables do not set k for small models; the report measures the error of the
       settings chosen, whatever the table size;
    3. run the integer forward on every input: any GadgetRangeError or clamped GELU /
       variance widens the offending setting (or lowers s on an overflow) and retries;
    4. raise `CalibrationError` if no setting works within ``max_attempts``.

    Work is shared: the float trace runs once, all inputs together (each weight converted
    to float64 once); the integer weights are quantized once per pair of scales (s, w) and
    reused, with their prepared matmul operands, by every candidate that only widens a
    table; every large array is checked against the memory budget first
    (`snarkgpt.model.memory`). ``stream``: as `quantize_model` takes it.
    """
    from .integer_forward import integer_forward
    cfg = model.config
    if max_tokens is not None and (isinstance(max_tokens, bool)
                                   or not isinstance(max_tokens, (int, np.integer))
                                   or max_tokens < 1):
        raise CalibrationError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if max_table_bits is None:
        max_table_bits = default_max_table_bits(cfg)
    gelu = _model_gelu(model)
    if inputs is None:
        inputs = calibration_inputs(model, length=max_tokens)
    else:
        inputs = [np.asarray(x, dtype=np.int64) for x in inputs]
        if max_tokens is not None:
            inputs = [x[:max_tokens] for x in inputs]
    if not inputs:
        raise CalibrationError("no calibration inputs")
    stats = float_trace_stats(model, inputs, gelu)

    def fits(st: QuantSettings) -> bool:
        u = margin * (1 << st.scale_bits)
        # the trimmed tables leave room for the blinding rows, so a model whose rows need
        # k = 16 is not pushed to k = 17 by a table of exactly 2^16 rows
        return (max(st.rsqrt_bits, st.weight_bits) <= max_table_bits
                and max(st.gelu_size, st.exp_size) <= (1 << max_table_bits) - TABLE_SLACK
                and stats["resid"] * u < (1 << 24) and stats["hidden"] * u < (1 << 30))

    if scale_bits is None:
        s = max_scale_bits
        while s > 4 and not fits(_choose(cfg, stats, s, weight_bits or s, margin, gelu)):
            s -= 1
    else:
        s = scale_bits
    st = _choose(cfg, stats, s, weight_bits or s, margin, gelu)
    quantized = {}              # (s, w) -> QuantizedModel: the weights depend on the scales only

    def quantized_for(st: QuantSettings) -> QuantizedModel:
        key = (st.scale_bits, st.weight_bits)
        if key not in quantized:
            quantized.clear()   # a lower s never comes back: hold one set of weights
            quantized[key] = quantize_model(model, st, stream=stream)
        return quantized[key].with_settings(st)

    attempts = []
    for _ in range(max_attempts):
        err, clamped, qm = None, {}, None
        try:
            qm = quantized_for(st)
            for toks in inputs:
                res = integer_forward(qm, toks, keep_acts=False)
                for k, v in res.clamped.items():
                    clamped[k] = clamped.get(k, 0) + v
        except GadgetRangeError as e:
            err = e
        attempts.append({"settings": st.to_dict(), "error": None if err is None else str(err),
                         "clamped": {k: v for k, v in clamped.items() if v}})
        nxt = _widen(st, err, {k: v for k, v in clamped.items()
                               if k.endswith("mlp.gelu") or k.endswith(".rsqrt")})
        if nxt is None:
            break
        if nxt == st:
            rep = error_report(model, st, inputs, qm) if report else None
            if rep is not None:
                rep.float_stats = stats
                rep.attempts = attempts
            return st, rep
        if nxt.scale_bits == st.scale_bits:
            st = nxt
        else:
            st = _choose(cfg, stats, nxt.scale_bits, weight_bits or nxt.scale_bits, margin, gelu)
    raise CalibrationError(
        "no fixed-point settings prove the calibration inputs; attempts: "
        + "; ".join(f"{a['error'] or a['clamped']}" for a in attempts[-3:]))


def random_float_model(config, seed: int = 0, std: float = 0.2, gelu: str = "tanh",
                       bias_std: float | None = None):
    """A model object (``.config``, ``.weights``, ``.gelu``, ``.tokenizer = None``) with
    random float32 weights under nanoGPT names (gains near 1): for tests and sizing.
    Biases (``config.bias``) are N(0, ``bias_std``), default ``std / 2`` (non-zero, so
    that they are exercised)."""
    from types import SimpleNamespace
    rng = np.random.default_rng(seed)
    W = {}
    for name, shape in config.weight_shapes().items():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            W[name] = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
        elif name.endswith(".bias"):
            b_std = 0.5 * std if bias_std is None else bias_std
            W[name] = (b_std * rng.standard_normal(shape)).astype(np.float32)
        else:
            W[name] = (std * rng.standard_normal(shape)).astype(np.float32)
    return SimpleNamespace(config=config, weights=W, gelu=gelu, tokenizer=None)
