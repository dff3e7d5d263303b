"""LayerNorm over the last axis: ``y = (x - mean) * rsqrt(var) * gain (+ bias)``.

Statement (x: T x d at scale 2^s; gain, bias: fixed weights at scale 2^s)
---------------------------------------------------------------------------
    S_t   = sum_j x[t, j]                                    (SumChip.row_sums)
    mu_t  = floor(S_t / d)        remainder in [0, d)         (DivChip.div_const)
    -2^24 <= mu_t < 2^24                                      (RangeChip: pins the quotient)
    c     = x - mu_t                                          (RowBroadcastChip)
    Q_t   = sum_j c[t, j]^2                                   (SumChip.dot)
    v_t   = floor(Q_t / (d 2^s))  remainder in [0, d 2^s)     (variance at scale 2^s)
    r_t   = RSQRT(clamp(v_t, 1, 2^rsqrt_bits))                (FunctionChip: table + clamp)
    n     = floor(c r_t / 2^s)                                (RescaleChip.mul_rescale)
    y     = floor((n gain + bias 2^s) / 2^s) = floor(n gain / 2^s) + bias   (gate + rescale)

Every division is exact with its remainder range-checked, and every quotient is bounded (the
mean by a range check, the variance by the rsqrt clamp, the rescales by their output limbs):
without the bound on mu, ``S = mu' d + r'`` also holds for mu' = mu + j/d (a field element)
and r' = r - j, and for some j the centred values x - mu' still give a small integer
variance and norm (e.g. d = 64, j = -32 shifts the mean by "half a unit"). The variance is clamped below at
one unit (2^-s), which plays the role of LayerNorm's epsilon (eps = max(eps, 2^-s) in the
float comparison); above, at 2^rsqrt_bits units.

Error bound vs the float LayerNorm of x / 2^s (measured in tests/gadgets/test_gadget_layernorm.py
for inputs with standard deviation >= 1/2 at s = 8): about 2^-s times (|n| max + 3) per
output; `layernorm_error_bound` states the bound used by the test.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.plonk.expression import Column, Selector

from . import reference as ref
from .base import (Assigned, ChipContext, DEFAULT_LIMB_BITS, as_values, check_range, copy_in,
                   set_selector)
from .division import DivChip
from .fixedpoint import RescaleChip
from .matmul import SumChip
from .range import RangeChip
from .nonlinear import FunctionChip, rsqrt_spec
from .softmax import RowBroadcastChip

__all__ = ["LayerNormChip", "LayerNormConfig", "layernorm_ref", "layernorm_float",
           "layernorm_error_bound", "MEAN_BITS"]

MEAN_BITS = 24
"""Inputs (hence means) are refused outside [-2^24, 2^24); the mean is range-checked there."""


def layernorm_float(x, gain, bias=None, eps: float = 1e-5) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps) * np.asarray(gain, dtype=np.float64)
    return y if bias is None else y + np.asarray(bias, dtype=np.float64)


def layernorm_error_bound(scale_bits: int, gain, normalized_max: float) -> float:
    """Bound on |y / 2^s - layernorm(x / 2^s)| for rows whose variance is >= 1/4 (a bound
    from the table rounding (2^-(s+1)), the variance floor, the mean floor and three floor
    rescales; see the module docstring)."""
    g = float(np.max(np.abs(np.asarray(gain, dtype=np.float64)))) / 2.0 ** scale_bits
    u = 2.0 ** -scale_bits
    return (normalized_max * 4 * u + 4 * u) * max(1.0, g) + 2 * u


def layernorm_ref(x, gain, bias, scale_bits: int, rsqrt_bits: int, op: str = "layernorm") -> dict:
    """Integer reference: every intermediate (dict) of the statement above."""
    x = as_values(x)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"{op}: x must be a non-empty (T, d) matrix, got shape {x.shape}")
    T, d = x.shape
    gain = np.asarray(gain, dtype=np.int64)
    if gain.shape != (d,):
        raise ValueError(f"{op}: gain must have shape ({d},), got {gain.shape}")
    if bias is not None:
        bias = np.asarray(bias, dtype=np.int64)
        if bias.shape != (d,):
            raise ValueError(f"{op}: bias must have shape ({d},), got {bias.shape}")
    s = scale_bits
    check_range(op, x, -(1 << MEAN_BITS), 1 << MEAN_BITS, "input")
    S = x.sum(axis=1)
    mu, _ = ref.div_floor(S, np.full(T, d), op=op)
    c = x - mu[:, None]
    Q = (c * c).sum(axis=1)
    v, _ = ref.div_floor(Q, np.full(T, d << s), op=op)
    spec = rsqrt_spec(rsqrt_bits, s, s)
    r = spec.reference(np.clip(v, 1, 1 << rsqrt_bits))
    nrm, _ = ref.mul_rescale(c, np.repeat(r[:, None], d, axis=1), s, op=op)
    b = np.zeros(d, np.int64) if bias is None else bias
    pre = nrm * gain[None, :] + (b[None, :] << s)
    y = pre >> s
    return {"sum": S, "mean": mu, "c": c, "sq": Q, "var": v, "rsqrt": r, "norm": nrm,
            "pre": pre, "y": y}


@dataclass
class LayerNormConfig:
    scale_bits: int
    rsqrt_bits: int
    sums: object
    div: object
    bcast: object
    rsqrt: object
    rescale: object
    # the second use of each row-long step, in a bank of its own (the same chip in the
    # compact layout): each bank is then as tall as one pass over the elements
    sq_sums: object
    scale_bcast: object
    out_rescale: object
    mean_range: object
    n: Column
    g: Column
    b: Column
    pre: Column
    q: Selector


class LayerNormChip:
    """LayerNorm with fixed gain and optional bias (see the module docstring)."""

    @classmethod
    def configure(cls, ctx, scale_bits: int = 8, rsqrt_bits: int = 12, clamp_bits: int = 32,
                  div_bits: int | None = None, limb_bits: int = DEFAULT_LIMB_BITS) -> LayerNormConfig:
        """``rsqrt_bits``: rsqrt table of 2^rsqrt_bits rows (variances up to 2^(rsqrt_bits - s));
        ``div_bits``: divisors up to 2^div_bits (d and d 2^s; default s + 12)."""
        ctx = ChipContext.of(ctx)
        cs = ctx.cs
        s = scale_bits
        div_bits = s + 12 if div_bits is None else div_bits

        def make():
            # inside a column bank, each step gets a sub-bank of its own (sums, div, ...), so
            # the floor planner lays the steps side by side; the steps with one row per
            # position, not per element (div, rsqrt, range: a few hundred rows), draw their
            # columns from the first rescale's bank and stack below its regions
            sums = SumChip.configure(ctx.sub_bank("sum"), dot=False)
            div = DivChip.configure(ctx.sub_bank("div", host="rescale"), div_bits, limb_bits)
            bc = RowBroadcastChip.configure(ctx.sub_bank("bcast"))
            rs = FunctionChip.configure(ctx.sub_bank("rsqrt", host="rescale"),
                                        rsqrt_spec(rsqrt_bits, s, s), clamp_bits=clamp_bits,
                                        limb_bits=limb_bits)
            resc = RescaleChip.configure(ctx.sub_bank("rescale"), s, limb_bits=limb_bits)
            mr = RangeChip.configure(ctx.sub_bank("range", host="rescale"), MEAN_BITS + 1, limb_bits)
            sq = SumChip.configure(ctx.sub_bank("sq"))
            bc2 = RowBroadcastChip.configure(ctx.sub_bank("bcast2"), op=False)
            resc2 = RescaleChip.configure(ctx.sub_bank("rescale2"), s, limb_bits=limb_bits)
            n, pre = ctx.advice_pool(2)
            g, b = ctx.weight_pool(2)
            q = cs.selector(ctx.named(f"layernorm.s{s}.q_affine"))
            cs.create_gate(ctx.named(f"layernorm.s{s}.affine"), [
                ("pre = n * gain + 2^s * bias", pre.cur() - n.cur() * g.cur() - (1 << s) * b.cur())],
                selector=q)
            return LayerNormConfig(s, rsqrt_bits, sums, div, bc, rs, resc, sq, bc2, resc2, mr,
                                   n, g, b, pre, q)
        return ctx.shared(("layernorm", s, rsqrt_bits, clamp_bits, div_bits, limb_bits), make)

    @classmethod
    def assign(cls, layouter, cfg: LayerNormConfig, x, gain, bias=None,
               name: str = "layernorm") -> Assigned:
        """y (T, d) at scale 2^s for x (T, d) (`Assigned` or array), gain (d,), bias (d,) or None."""
        r = layernorm_ref(x, gain, bias, cfg.scale_bits, cfg.rsqrt_bits, layouter.prefix + name)
        xv = as_values(x)
        T, d = xv.shape
        s = cfg.scale_bits
        lay = layouter.namespace(name)
        S = SumChip.row_sums(lay, cfg.sums, x, name="sum")
        mu = DivChip.div_const(lay, cfg.div, S, d, name="mean")
        RangeChip.check(lay, cfg.mean_range, mu, -(1 << MEAN_BITS), 1 << MEAN_BITS, name="mean.range")
        _, c = RowBroadcastChip.assign(lay, cfg.bcast, mu, d, x=x, name="center")
        Q = SumChip.dot(lay, cfg.sq_sums, c, c, name="sq")
        v = DivChip.div_const(lay, cfg.div, Q, d << s, name="var")
        rs = FunctionChip.assign(lay, cfg.rsqrt, v, name="rsqrt")
        rb, _ = RowBroadcastChip.assign(lay, cfg.scale_bcast, rs, d, name="bcast")
        nrm = RescaleChip.mul_rescale(lay, cfg.rescale, c, rb, name="norm")
        assert np.array_equal(nrm.values, r["norm"])
        gv = np.tile(np.asarray(gain, np.int64), T)
        bv = np.tile(np.zeros(d, np.int64) if bias is None else np.asarray(bias, np.int64), T)

        def region(reg):
            nc = reg.assign_advice_column(cfg.n, 0, r["norm"].reshape(-1))
            copy_in(reg, nrm, nc)
            reg.assign_fixed_column(cfg.g, 0, gv)
            reg.assign_fixed_column(cfg.b, 0, bv)
            set_selector(reg, cfg.q, 0, np.ones(T * d, dtype=np.int64))
            return Assigned(r["pre"], reg.assign_advice_column(cfg.pre, 0, r["pre"].reshape(-1)))
        pre = lay.assign_region("affine", region)
        y = RescaleChip.rescale(lay, cfg.out_rescale, pre, name="out")
        assert np.array_equal(y.values.reshape(T, d), r["y"])
        return Assigned(r["y"], y.cells)
