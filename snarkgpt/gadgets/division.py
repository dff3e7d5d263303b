"""Floor division: by a constant, by a witness divisor, and the reciprocal N / d.

``DivChip.configure(cs, bits, limb_bits=12) -> DivConfig``
    One row per element with cells x, q, d, the limbs of r and the limbs of d - 1 - r:

        x = q d + r,   r in [0, 2^bits),   d - 1 - r in [0, 2^bits)

    so 0 <= r < d and 1 <= d <= 2^bits + r (d <= 2^bits for honest values: the divisor must
    be at most 2^bits). Gates: ``div`` (always), ``div.const`` (d = the fixed constant),
    ``div.numerator`` (x = the fixed numerator).

    ``div_const(lay, cfg, x, c, name)``: q = floor(x / c), c a positive int constant.
    ``div(lay, cfg, x, d, name)``: q = floor(x / d) for a witness d > 0 (softmax
    normalisation: d is a sum of exponentials).
    ``reciprocal(lay, cfg, d, numerator, name)``: q = floor(numerator / d), e.g.
    numerator = 2^(2s) gives 1/d at scale 2^s for d at scale 2^s.

Cost per element: 1 row, 3 + 2L advice cells, 2L lookups (L = ceil(bits / limb_bits)).
For a power-of-two constant use `RescaleChip.rescale` (1 lookup).
Error: q is the exact floor; |q - x/d| < 1 (one unit at the output scale).

Who checks q's range: as for a rescale, x = q d + r fixes q as an integer only when q is
small, so the consumer bounds q (a lookup table domain, a range check or a later rescale).
x itself is unbounded here: the relation holds in the integers whenever |q d| + r < p/2,
which the consumer's bound on q and the 2^bits bound on d and r guarantee.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .base import (Assigned, ChipContext, Cost, DEFAULT_LIMB_BITS, as_values, check_range, copy_in,
                   set_selector)
from .range import LimbDecomposition, decompose, num_limbs

__all__ = ["DivChip", "DivConfig"]


@dataclass
class DivConfig:
    bits: int
    limb_bits: int
    x: object
    q: object
    d: object
    const: object
    q_div: object
    q_const: object
    q_num: object
    dec_r: LimbDecomposition
    dec_s: LimbDecomposition


class DivChip:
    """x = q d + r with 0 <= r < d (d a constant, a witness, or x a fixed numerator)."""

    @staticmethod
    def cost(bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> Cost:
        L = num_limbs(bits, limb_bits)
        return Cost(rows=1, advice=3 + 2 * L, lookups=2 * L, note="per element")

    @classmethod
    def configure(cls, ctx, bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> DivConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            L = num_limbs(bits, limb_bits)
            cols = ctx.advice_pool(3 + 2 * L)
            x, q, d = cols[:3]
            (const,) = ctx.fixed_pool(1)
            nm = f"div.m{bits}.b{limb_bits}"
            q_div = cs.selector(ctx.named(f"q_{nm}"))
            q_const, q_num = cs.selector(ctx.named(f"q_{nm}.const")), cs.selector(ctx.named(f"q_{nm}.numerator"))
            rl = cols[3:3 + L]
            r = None
            for i, c in enumerate(rl):
                t = c.cur() * (1 << (limb_bits * i)) if i else c.cur()
                r = t if r is None else r + t
            cs.create_gate(ctx.named(nm), [("x = q d + r", x.cur() - q.cur() * d.cur() - r)], selector=q_div)
            cs.create_gate(ctx.named(f"{nm}.const"), [("d = constant", d.cur() - const.cur())], selector=q_const)
            cs.create_gate(ctx.named(f"{nm}.numerator"), [("x = numerator", x.cur() - const.cur())], selector=q_num)
            dec_r = decompose(ctx, rl, f"{nm}.r", None, bits, limb_bits, q_div)
            dec_s = decompose(ctx, cols[3 + L:3 + 2 * L], f"{nm}.d-1-r", d.cur() - 1 - r, bits,
                              limb_bits, q_div)
            return DivConfig(bits, limb_bits, x, q, d, const, q_div, q_const, q_num, dec_r, dec_s)
        return ctx.shared(("div", bits, limb_bits), make)

    @classmethod
    def _assign(cls, layouter, cfg: DivConfig, x, d, name, mode):
        cfg.dec_r.fill(layouter)
        cfg.dec_s.fill(layouter)

        def region(reg):
            if mode == "numerator":
                dv = as_values(d)
                xv = np.full(dv.shape, int(x), dtype=np.int64)
            else:
                xv = as_values(x)
                dv = np.broadcast_to(as_values(d), xv.shape)
            dv = np.ascontiguousarray(dv).reshape(-1)
            check_range(reg.name, dv, 1, (1 << cfg.bits) + 1, "divisor")
            qv, rv = ref.div_floor(xv.reshape(-1), dv, op=reg.name)
            n = dv.size
            xc = reg.assign_advice_column(cfg.x, 0, xv.reshape(-1))
            qc = reg.assign_advice_column(cfg.q, 0, qv)
            dc = reg.assign_advice_column(cfg.d, 0, dv)
            ones = np.ones(n, dtype=np.int64)
            set_selector(reg, cfg.q_div, 0, ones)
            if mode == "witness":
                copy_in(reg, x, xc)
                copy_in(reg, d, dc)
            elif mode == "const":
                copy_in(reg, x, xc)
                reg.assign_fixed_column(cfg.const, 0, dv)
                set_selector(reg, cfg.q_const, 0, ones)
            else:
                copy_in(reg, d, dc)
                reg.assign_fixed_column(cfg.const, 0, xv.reshape(-1))
                set_selector(reg, cfg.q_num, 0, ones)
            cfg.dec_r.assign(reg, 0, rv)
            cfg.dec_s.assign(reg, 0, dv - 1 - rv)
            return Assigned(qv.reshape(xv.shape), qc)
        return layouter.assign_region(name, region)

    @classmethod
    def div_const(cls, layouter, cfg: DivConfig, x, c: int, name: str = "div_const") -> Assigned:
        """floor(x / c) for a positive integer constant c <= 2^bits."""
        return cls._assign(layouter, cfg, x, int(c), name, "const")

    @classmethod
    def div(cls, layouter, cfg: DivConfig, x, d, name: str = "div") -> Assigned:
        """floor(x / d) for witness divisors 1 <= d <= 2^bits (d broadcast to x's shape)."""
        return cls._assign(layouter, cfg, x, d, name, "witness")

    @classmethod
    def reciprocal(cls, layouter, cfg: DivConfig, d, numerator: int, name: str = "reciprocal") -> Assigned:
        """floor(numerator / d), e.g. numerator = 2^(2s): 1/d at scale 2^s."""
        return cls._assign(layouter, cfg, int(numerator), d, name, "numerator")
