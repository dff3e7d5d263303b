"""Nonlinear functions by lookup: exp, GELU, rsqrt, reciprocal.

A `FunctionSpec` is a two-column table (x, f(x)) over a quantized domain of ``size``
consecutive integers starting at ``lo``: the input x is at scale ``2^in_scale``, the output
``round(f(x / 2^in_scale) * 2^out_scale)`` at scale ``2^out_scale``. ``size`` is ``2^bits``
unless ``rows`` trims the table to exactly the domain a model needs (a table of 2^16 rows
would force k = 17, one of 40,000 rows fits k = 16). The table is shared by name
(``fn.{name}.b{bits}.i{in}.o{out}``, plus ``.r{rows}`` when trimmed); the circuit's usable
rows must hold it.

Functions (domain in integer units; real domain = domain / 2^in_scale):

================  ===============================  ==========================================
spec              domain                           f
================  ===============================  ==========================================
`exp_spec`        [-(size - 1), 0]                 exp(x) (softmax: inputs are x - max <= 0)
`gelu_spec`       [-size/2, size/2)                0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))
`rsqrt_spec`      [1, 2^bits]                      1 / sqrt(x)  (layernorm, x = variance > 0)
`reciprocal_spec` [1, 2^bits]                      1 / x  (x > 0)
================  ===============================  ==========================================

Error against the float function, for an input x already at the input scale and inside the
domain: |table(x) / 2^out - f(x / 2^in)| <= 2^-(out+1) (round to nearest; `max_table_error`
measures it over the whole domain). Input quantization error is the producer's.

``FunctionChip.configure(cs, spec, clamp_bits=None, limb_bits=12) -> FunctionConfig``
``FunctionChip.assign(lay, cfg, x, name) -> y``

* without clamp (``clamp_bits=None``): ONE lookup of (x, y) per element, 1 row, 2 cells;
  an input outside the domain raises GadgetRangeError (the lookup itself proves the domain);
* with clamp: the input is first clamped to the domain by a proven comparison
  (`ClampChip` on the same row: inputs in [hi - 2^clamp_bits + 1, lo + 2^clamp_bits) are
  accepted), then looked up: 1 + 2L lookups. The extra error from clamping is the function's
  variation beyond the domain (`FunctionSpec.clamp_error`): for exp below the domain it is
  at most exp(lo / 2^in); for rsqrt and reciprocal above it at most f(hi / 2^in).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import reference as ref
from .base import (Assigned, ChipContext, Cost, DEFAULT_LIMB_BITS, as_values, check_range, copy_in,
                   fill_table, set_selector)
from .range import ClampChip, num_limbs

__all__ = ["FunctionSpec", "exp_spec", "gelu_spec", "rsqrt_spec", "reciprocal_spec",
           "gelu_float", "FunctionChip", "FunctionConfig"]


def gelu_float(x):
    """GELU, tanh form (nanoGPT / GPT-2)."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    fn: Callable
    lo: int
    bits: int
    in_scale: int
    out_scale: int
    rows: int | None = None     # table rows when fewer than 2^bits

    def __post_init__(self):
        if self.rows is not None and not 1 <= self.rows <= 1 << self.bits:
            raise ValueError(f"{self.name}: a table of {self.rows} rows does not fit 2^{self.bits}")

    @property
    def size(self) -> int:
        return 1 << self.bits if self.rows is None else self.rows

    @property
    def hi(self) -> int:
        """Largest input in the domain (inclusive)."""
        return self.lo + self.size - 1

    @property
    def key(self) -> str:
        trim = "" if self.rows is None else f".r{self.rows}"
        return f"{self.name}.b{self.bits}.i{self.in_scale}.o{self.out_scale}{trim}"

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """(xs, ys) int64: the table rows."""
        xs = np.arange(self.lo, self.lo + self.size, dtype=np.int64)
        ys = np.rint(self.fn(xs / float(1 << self.in_scale)) * float(1 << self.out_scale))
        return xs, ys.astype(np.int64)

    def reference(self, x) -> np.ndarray:
        """The integer reference f(x) for x in the domain (GadgetRangeError otherwise)."""
        x = np.asarray(x, dtype=np.int64)
        check_range(f"fn.{self.key}", x, self.lo, self.hi + 1, "input")
        xs, ys = _cached_table(self)
        return ref.lookup_fn(xs, ys, x)

    def error_bound(self) -> float:
        """Documented bound inside the domain: half a unit at the output scale."""
        return 2.0 ** -(self.out_scale + 1)

    def max_table_error(self) -> float:
        """Measured max |table(x)/2^out - f(x/2^in)| over the whole domain."""
        xs, ys = self.table()
        return float(np.max(np.abs(ys / float(1 << self.out_scale) - self.fn(xs / float(1 << self.in_scale)))))

    def clamp_error(self, x_min: float, x_max: float) -> float:
        """Max |f(x) - f(clamp(x))| for real inputs in [x_min, x_max] (sampled densely)."""
        lo, hi = self.lo / float(1 << self.in_scale), self.hi / float(1 << self.in_scale)
        xs = np.linspace(x_min, x_max, 200001)
        return float(np.max(np.abs(self.fn(xs) - self.fn(np.clip(xs, lo, hi)))))


_TABLES: dict = {}


def _cached_table(spec: FunctionSpec):
    if spec.key not in _TABLES:
        _TABLES[spec.key] = spec.table()
    return _TABLES[spec.key]


def exp_spec(bits: int, in_scale: int, out_scale: int, rows: int | None = None) -> FunctionSpec:
    """exp over [-(size - 1), 0] / 2^in_scale, size = ``rows`` or 2^bits."""
    size = 1 << bits if rows is None else rows
    return FunctionSpec("exp", np.exp, -(size - 1), bits, in_scale, out_scale, rows)


def gelu_spec(bits: int, in_scale: int, out_scale: int, rows: int | None = None) -> FunctionSpec:
    """GELU (tanh form) over [-size/2, size/2) / 2^in_scale, size = ``rows`` or 2^bits."""
    size = 1 << bits if rows is None else rows
    return FunctionSpec("gelu", gelu_float, -(size // 2), bits, in_scale, out_scale, rows)


def rsqrt_spec(bits: int, in_scale: int, out_scale: int) -> FunctionSpec:
    """1/sqrt(x) over [1, 2^bits] / 2^in_scale."""
    return FunctionSpec("rsqrt", lambda x: 1.0 / np.sqrt(x), 1, bits, in_scale, out_scale)


def reciprocal_spec(bits: int, in_scale: int, out_scale: int) -> FunctionSpec:
    """1/x over [1, 2^bits] / 2^in_scale."""
    return FunctionSpec("reciprocal", lambda x: 1.0 / np.asarray(x), 1, bits, in_scale, out_scale)


@dataclass
class FunctionConfig:
    spec: FunctionSpec
    clamp: object          # ClampConfig or None
    x: object              # the looked-up input column (the clamp's y when clamping)
    y: object
    q: object
    table: object


class FunctionChip:
    """y = f(x) by one lookup of (x, y) into the function's table (after an optional clamp)."""

    @staticmethod
    def cost(clamp_bits: int | None = None, limb_bits: int = DEFAULT_LIMB_BITS) -> Cost:
        if clamp_bits is None:
            return Cost(rows=1, advice=2, lookups=1, note="per element, input in the domain")
        c = ClampChip.cost(clamp_bits, limb_bits)
        return Cost(rows=1, advice=c.advice + 1, lookups=c.lookups + 1,
                    note=f"per element, clamped ({2 * num_limbs(clamp_bits, limb_bits)} clamp lookups)")

    @classmethod
    def configure(cls, ctx, spec: FunctionSpec, clamp_bits: int | None = None,
                  limb_bits: int = DEFAULT_LIMB_BITS) -> FunctionConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make_table():
            t = cs.lookup_table(f"fn.{spec.key}", [f"fn.{spec.key}.x", f"fn.{spec.key}.y"])
            ctx.register_table(t, lambda: list(_cached_table(spec)))
            return t

        def make():
            table = ctx.shared(("fn_table", spec.key), make_table, banked=False)
            if clamp_bits is None:
                clamp = None
                x, y = ctx.advice_pool(2)
            else:
                clamp = ClampChip.configure(ctx, clamp_bits, limb_bits)
                x = clamp.y
                y = ctx.advice_pool(clamp.num_columns + 1)[-1]
            tag = f"fn.{spec.key}" + ("" if clamp_bits is None else f".clamp{clamp_bits}.b{limb_bits}")
            q = cs.selector(ctx.named(f"q_{tag}"))
            cs.lookup(ctx.named(tag), [x.cur(), y.cur()], table, selector=q)
            return FunctionConfig(spec, clamp, x, y, q, table)
        return ctx.shared(("fn", spec.key, clamp_bits, limb_bits), make)

    @classmethod
    def assign(cls, layouter, cfg: FunctionConfig, x, name: str | None = None) -> Assigned:
        spec = cfg.spec
        name = name or spec.name
        fill_table(layouter, cfg.table)
        if cfg.clamp is not None:
            cfg.clamp.dec1.fill(layouter)
            cfg.clamp.dec2.fill(layouter)
        xv = as_values(x)

        def region(reg):
            n = xv.size
            if cfg.clamp is not None:
                _, xin = ClampChip.assign_rows(reg, cfg.clamp, 0, x, spec.lo, spec.hi)
                xin = xin.values.reshape(-1)
            else:
                check_range(reg.name, xv, spec.lo, spec.hi + 1, f"{spec.name} input")
                xin = xv.reshape(-1)
                xc = reg.assign_advice_column(cfg.x, 0, xin)
                copy_in(reg, x, xc)
            xs, ys = _cached_table(spec)
            yv = ref.lookup_fn(xs, ys, xin)
            yc = reg.assign_advice_column(cfg.y, 0, yv)
            set_selector(reg, cfg.q, 0, np.ones(n, dtype=np.int64))
            return Assigned(yv.reshape(xv.shape), yc)
        return layouter.assign_region(name, region)
