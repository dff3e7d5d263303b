"""Residual adds: ``z = x + y`` elementwise for two assigned activations of the same shape.

Gate ``residual.add``: ``q * (z - x - y) = 0`` on one row per element (3 shared advice
columns, one selector). The sum is exact (no rescale: both inputs are at the same scale
2^s); its magnitude grows by at most one bit, and the refusal bound is |z| < 2^62 so the
sum can never wrap in Fr. Error vs the float op: none beyond the inputs' own quantization.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.plonk.expression import Column, Selector

from .base import (Assigned, ChipContext, Cost, GadgetRangeError, as_values, copy_in)

__all__ = ["ResidualChip", "ResidualConfig", "residual_ref"]

_LIMIT = 1 << 62


def residual_ref(x, y, op: str = "residual") -> np.ndarray:
    """Integer reference: x + y (same shape), refusing sums with |z| >= 2^62."""
    x, y = as_values(x), as_values(y)
    if x.shape != y.shape:
        raise ValueError(f"{op}: shapes {x.shape} and {y.shape} differ")
    if x.size == 0:
        raise ValueError(f"{op}: empty input")
    for v in (x, y):
        big = np.abs(v) >= _LIMIT // 2
        if big.any():
            i = int(np.flatnonzero(big.reshape(-1))[0])
            raise GadgetRangeError(op, int(v.reshape(-1)[i]), -_LIMIT // 2 + 1, _LIMIT // 2, i)
    return x + y


@dataclass
class ResidualConfig:
    x: Column
    y: Column
    z: Column
    q: Selector


class ResidualChip:
    """z = x + y elementwise."""

    COST = Cost(rows=1, advice=3, lookups=0, note="per element")

    @classmethod
    def configure(cls, ctx) -> ResidualConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            x, y, z = ctx.advice_pool(3)
            q = cs.selector(ctx.named("residual.q"))
            cs.create_gate(ctx.named("residual.add"), [("z = x + y", z.cur() - x.cur() - y.cur())], selector=q)
            return ResidualConfig(x, y, z, q)
        return ctx.shared(("residual",), make)

    @classmethod
    def assign(cls, layouter, cfg: ResidualConfig, x, y, name: str = "residual") -> Assigned:
        z = residual_ref(x, y, name)
        n = z.size

        def region(reg):
            cx = reg.assign_advice_column(cfg.x, 0, np.ascontiguousarray(as_values(x).reshape(-1)))
            cy = reg.assign_advice_column(cfg.y, 0, np.ascontiguousarray(as_values(y).reshape(-1)))
            copy_in(reg, x, cx)
            copy_in(reg, y, cy)
            reg.enable_selector(cfg.q, 0, n)
            return reg.assign_advice_column(cfg.z, 0, np.ascontiguousarray(z.reshape(-1)))

        return Assigned(z, layouter.assign_region(name, region))
