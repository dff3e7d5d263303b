"""Fixed-point arithmetic: quantize, add/sub/neg/multiply by a constant, product + rescale.

A value ``v`` (int64) at scale ``2^s`` stands for ``v / 2^s``.

``quantize(x, s, bits=32)`` / ``dequantize(v, s)``
    float <-> int, round to nearest (error <= 2^-(s+1)); values outside
    [-2^(bits-1), 2^(bits-1)) raise GadgetRangeError.

``LinearChip.configure(cs) -> LinearConfig``  (one gate: f0 a + f1 b - c = 0, f0/f1 fixed)
    ``add(lay, cfg, a, b, name)``, ``sub(...)``, ``neg(lay, cfg, a, name)``,
    ``mul_const(lay, cfg, a, c, name)`` (c an int: c a exactly, no rescale),
    ``linear(lay, cfg, a, b, ca, cb, name)`` (ca a + cb b). Exact; 1 row, 3 cells, no lookup per
    element. The results are not range-checked here (see below).

``RescaleChip.configure(cs, scale_bits, out_bits=24, limb_bits=12) -> RescaleConfig``
    ``mul_rescale(lay, cfg, x, w, name) -> y``: y = floor(x w / 2^s) with
    x w = y 2^s + r, 0 <= r < 2^s (ONE lookup of r into ``range.u{s}``) and
    -2^(b-1) <= y < 2^(b-1), b = ``out_bits`` (y + 2^(b-1) split into ceil(b / limb_bits)
    limbs on the same row, one lookup each: 2 lookups into ``range.u12`` for b = 24).
    ``rescale(lay, cfg, v, name) -> y``: y = floor(v / 2^s), v = y 2^s + r, same lookups (for
    accumulated matmul outputs at scale 2^(2s)).
    Error against the exact real product: y/2^s is in (xw/2^(2s) - 2^-s, xw/2^(2s)], i.e.
    |error| < 2^-s (one unit in the last place, floor bias).

Why y is range-checked here
---------------------------
The gate alone pins y uniquely *as an integer* only if y is small: any other remainder
r' in [0, 2^s) gives y' = y + (r - r') / 2^s, a field element of size ~p, that satisfies
``v = y' 2^s + r'`` in Fr. Many consumers (a matmul, a residual add, the affine step of a
LayerNorm) do not bound their inputs, so the chip bounds its own output: with v pinned,
0 <= r < 2^s and |y| < 2^(b-1), the identity holds over the integers (2^(s+b) << p), so
(y, r) is the floor division and nothing else. Witness generation refuses an output outside
[-2^(b-1), 2^(b-1)) with `GadgetRangeError`, and inputs whose product leaves int64-exact
arithmetic (|x|, |w| < 2^31).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .base import (Assigned, ChipContext, Cost, DEFAULT_LIMB_BITS, as_values, check_range, copy_in,
                   fill_table, set_selector)
from .range import LimbDecomposition, decompose, num_limbs

__all__ = ["quantize", "dequantize", "LinearChip", "LinearConfig", "RescaleChip",
           "RescaleConfig", "RESCALE_OUT_BITS"]

RESCALE_OUT_BITS = 24
"""Default bound of rescale outputs: y in [-2^23, 2^23) (two 12-bit limb lookups)."""

quantize = ref.quantize
dequantize = ref.dequantize

LINEAR_LIMIT = 1 << 60


@dataclass
class LinearConfig:
    a: object
    b: object
    c: object
    f0: object
    f1: object
    q: object


class LinearChip:
    """c = f0 a + f1 b per row (add, sub, neg, multiply by a constant)."""

    COST = Cost(rows=1, advice=3, lookups=0, note="per element")

    @classmethod
    def configure(cls, ctx) -> LinearConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            a, b, c = ctx.advice_pool(3)
            f0, f1 = ctx.fixed_pool(2)
            q = cs.selector(ctx.named("q_linear"))
            cs.create_gate(ctx.named("linear"), [("c = f0 a + f1 b", f0.cur() * a.cur() + f1.cur() * b.cur() - c.cur())],
                           selector=q)
            return LinearConfig(a, b, c, f0, f1, q)
        return ctx.shared(("linear",), make)

    @classmethod
    def linear(cls, layouter, cfg: LinearConfig, a, b, ca: int, cb: int, name: str = "linear") -> Assigned:
        av = as_values(a)
        bv = as_values(b) if b is not None else np.zeros_like(av)
        bv = np.broadcast_to(bv, av.shape)

        def region(reg):
            for v in (av, bv):
                check_range(reg.name, v, -LINEAR_LIMIT, LINEAR_LIMIT, "operand")
            if abs(ca) >= 1 << 31 or abs(cb) >= 1 << 31:
                raise ValueError(f"{reg.name}: constant too large")
            out = ca * av.reshape(-1) + cb * bv.reshape(-1)
            check_range(reg.name, out, -LINEAR_LIMIT, LINEAR_LIMIT, "result")
            n = av.size
            ac = reg.assign_advice_column(cfg.a, 0, av.reshape(-1))
            bc = reg.assign_advice_column(cfg.b, 0, np.ascontiguousarray(bv).reshape(-1))
            copy_in(reg, a, ac)
            if b is not None:
                copy_in(reg, b, bc)
            cc = reg.assign_advice_column(cfg.c, 0, out)
            reg.assign_fixed_column(cfg.f0, 0, np.full(n, ca, dtype=np.int64))
            reg.assign_fixed_column(cfg.f1, 0, np.full(n, cb, dtype=np.int64))
            set_selector(reg, cfg.q, 0, np.ones(n, dtype=np.int64))
            return Assigned(out.reshape(av.shape), cc)
        return layouter.assign_region(name, region)

    @classmethod
    def add(cls, layouter, cfg, a, b, name: str = "add") -> Assigned:
        return cls.linear(layouter, cfg, a, b, 1, 1, name)

    @classmethod
    def sub(cls, layouter, cfg, a, b, name: str = "sub") -> Assigned:
        return cls.linear(layouter, cfg, a, b, 1, -1, name)

    @classmethod
    def neg(cls, layouter, cfg, a, name: str = "neg") -> Assigned:
        return cls.linear(layouter, cfg, a, None, -1, 0, name)

    @classmethod
    def mul_const(cls, layouter, cfg, a, c: int, name: str = "mul_const") -> Assigned:
        return cls.linear(layouter, cfg, a, None, int(c), 0, name)


@dataclass
class RescaleConfig:
    scale_bits: int
    x: object
    w: object
    y: object
    r: object
    q_mul: object
    q_rescale: object
    table: object
    out_bits: int = 24
    q_out: object = None
    dec: LimbDecomposition | None = None


class RescaleChip:
    """y = floor(x w / 2^s) and y = floor(v / 2^s), remainder by one lookup, output bounded
    to [-2^(b-1), 2^(b-1)) by limb lookups on the same row."""

    COST = Cost(rows=1, advice=6, lookups=3,
                note="per element (mul_rescale: x, w, y, r + 2 output limbs; rescale: v, y, r + "
                     "2 limbs); out_bits = 24: 1 remainder + 2 output-limb lookups")

    @staticmethod
    def cost(out_bits: int = 24, limb_bits: int = DEFAULT_LIMB_BITS) -> Cost:
        L = num_limbs(out_bits, limb_bits)
        return Cost(rows=1, advice=4 + L, lookups=1 + L,
                    note=f"per element; y in [-2^{out_bits - 1}, 2^{out_bits - 1}) by {L} limb lookups")

    @classmethod
    def configure(cls, ctx, scale_bits: int, out_bits: int = RESCALE_OUT_BITS,
                  limb_bits: int = DEFAULT_LIMB_BITS) -> RescaleConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            s, b = scale_bits, out_bits
            L = num_limbs(b, limb_bits)
            cols = ctx.advice_pool(4 + L)
            x, w, y, r = cols[:4]
            tag = f"s{s}" if (b, limb_bits) == (24, DEFAULT_LIMB_BITS) else f"s{s}.b{b}.l{limb_bits}"
            q_mul, q_res = cs.selector(ctx.named(f"q_mul_rescale.{tag}")), cs.selector(ctx.named(f"q_rescale.{tag}"))
            q_out = cs.selector(ctx.named(f"q_rescale_out.{tag}"))
            cs.create_gate(ctx.named(f"mul_rescale.{tag}"),
                           [("x w = y 2^s + r", x.cur() * w.cur() - y.cur() * (1 << s) - r.cur())],
                           selector=q_mul)
            cs.create_gate(ctx.named(f"rescale.{tag}"), [("v = y 2^s + r", x.cur() - y.cur() * (1 << s) - r.cur())],
                           selector=q_res)
            table = ctx.range_table(s)
            cs.lookup(ctx.named(f"rescale.{tag}.remainder"), [r.cur()], table, selector=q_mul.expr() + q_res.expr())
            dec = decompose(ctx, cols[4:], f"rescale.{tag}.out", y.cur() + (1 << (b - 1)), b,
                            limb_bits, q_out)
            return RescaleConfig(s, x, w, y, r, q_mul, q_res, table, b, q_out, dec)
        return ctx.shared(("rescale", scale_bits, out_bits, limb_bits), make)

    @classmethod
    def _assign(cls, layouter, cfg: RescaleConfig, x, w, name):
        fill_table(layouter, cfg.table)
        cfg.dec.fill(layouter)
        xv = as_values(x)

        def region(reg):
            if w is None:
                y, r = ref.rescale(xv.reshape(-1), cfg.scale_bits, op=reg.name)
                wv = np.zeros(xv.size, dtype=np.int64)
            else:
                wv = np.ascontiguousarray(np.broadcast_to(as_values(w), xv.shape)).reshape(-1)
                y, r = ref.mul_rescale(xv.reshape(-1), wv, cfg.scale_bits, op=reg.name)
            half = 1 << (cfg.out_bits - 1)
            check_range(reg.name, y, -half, half, "rescaled output")
            n = xv.size
            xc = reg.assign_advice_column(cfg.x, 0, xv.reshape(-1))
            copy_in(reg, x, xc)
            if w is not None:
                wc = reg.assign_advice_column(cfg.w, 0, wv)
                copy_in(reg, w, wc)
            yc = reg.assign_advice_column(cfg.y, 0, y)
            reg.assign_advice_column(cfg.r, 0, r)
            set_selector(reg, cfg.q_mul if w is not None else cfg.q_rescale, 0, np.ones(n, dtype=np.int64))
            set_selector(reg, cfg.q_out, 0, np.ones(n, dtype=np.int64))
            cfg.dec.assign(reg, 0, y + half)
            return Assigned(y.reshape(xv.shape), yc)
        return layouter.assign_region(name, region)

    @classmethod
    def mul_rescale(cls, layouter, cfg: RescaleConfig, x, w, name: str = "mul_rescale") -> Assigned:
        """floor(x * w / 2^s) elementwise (w broadcast to x's shape)."""
        return cls._assign(layouter, cfg, x, w, name)

    @classmethod
    def rescale(cls, layouter, cfg: RescaleConfig, v, name: str = "rescale") -> Assigned:
        """floor(v / 2^s) elementwise."""
        return cls._assign(layouter, cfg, v, None, name)
