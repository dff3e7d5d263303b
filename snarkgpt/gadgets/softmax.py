"""Causal softmax over the rows of an attention-score matrix, and row broadcasting.

Statement
---------
For scores ``X`` (T x n, scale 2^s) and the causal mask ``M[t, j] = 1 if j <= t + offset``
(``causal=False``: all ones; every row's unmasked entries are a prefix of it, of length
``L_t``), `SoftmaxChip.assign` proves, over the unmasked entries (t, j < L_t) only,

    m_t   = max_{j < L_t} X[t, j]                              (ArgmaxChip.row_max)
    z     = X - m_t                       in [-(E - 1), 0] after a proven clamp (E: exp table
                                          rows, 2^exp_bits unless ``exp_rows`` trims it)
    e     = EXP(z)                        exp table, e = round(exp(z / 2^s) 2^s)  (FunctionChip)
    num   = 2^s e
    S_t   = sum_{j < L_t} e[t, j]                                 (SumChip.row_sums, ragged)
    P     = floor(num / S_t)              exact floor division, remainder in [0, S_t) (DivChip)
    0 <= P < 2^(s+1)                      range check (RangeChip, one row): bounds the quotient

and every masked output ``P[t, j]`` (j >= L_t) is one cell proven zero: a row of the
``mask`` gate (``em = f e``, ``num = 2^s em``) with the fixed ``f = 0``. The output is an
`Assigned` whose `Cells` point at the division's quotients and at that cell, so a
consumer (the attention's ``P . V``) copies every entry, masked or not, from a proven
cell. The output ``P`` (scale 2^s) is thus a function of X alone. The masked entries cost
no rows: a causal softmax lays out T (T + 1) / 2 entries, not T^2.

Layout: regions "<name>.max.t" (one per row, over its unmasked prefix), "<name>.sub"
(RowBroadcastChip: z = x - m over ragged rows), "<name>.exp" (FunctionChip with clamp),
"<name>.mask" (em = f e and num = 2^s em, one gate; f = 1 but for the zero cell's row),
"<name>.sum", "<name>.bcast" (S broadcast to each entry), "<name>.div", "<name>.range".
Inside a column bank each step has a sub-bank of its own; the pairs (sub, bcast),
(exp, div) and (sum, range) share columns, one stacked below the other, since each step
of a causal softmax is about half as tall as the scores matrix.

Error bound vs the float softmax of the dequantized input X / 2^s (`softmax_error_bound`):
with eps = 2^-(s+1) (table rounding) + exp(-(E - 1) / 2^s) (clamp), every
|e/2^s - exp(z/2^s)| <= eps and S/2^s >= 1 - eps (the maximum contributes exp(0)), so

    |P / 2^s - softmax| <= 2^-s + (1 + n) eps / (1 - eps).

The integer reference `softmax_ref` is what the witness uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.plonk.expression import Column, Selector

from . import reference as ref
from .base import (Assigned, Cells, ChipContext, Cost, DEFAULT_LIMB_BITS, as_values, check_range,
                   copy_cells, copy_in, set_selector)
from .division import DivChip
from .matmul import SumChip, _copy_rows
from .nonlinear import FunctionChip, exp_spec
from .range import ArgmaxChip, RangeChip

__all__ = ["RowBroadcastChip", "RowBroadcastConfig", "SoftmaxChip", "SoftmaxConfig",
           "softmax_ref", "softmax_float", "softmax_error_bound", "causal_mask"]


# ---------------------------------------------------------------------------------------
@dataclass
class RowBroadcastConfig:
    x: Column | None            # x, out, f, q_op: None for a broadcast-only config
    b: Column
    out: Column | None
    f: Column | None
    q_op: Selector | None
    q_same: Selector


class RowBroadcastChip:
    """``b[t, j] = v[t]`` (a row vector broadcast along rows, copied once per row and kept
    constant by ``b[+1] = b`` inside each row) and ``out = f * (x - b)`` with a fixed
    per-element factor f (1, or the causal mask)."""

    COST = Cost(rows=1, advice=3, lookups=0, note="per element, + 1 copy per row (and 1 per element for x)")

    @classmethod
    def configure(cls, ctx, op: bool = True) -> RowBroadcastConfig:
        """``op=False``: the broadcast alone (column b and its gate): no x, out or f columns,
        which a broadcast without ``x`` would leave empty (every column costs the prover and
        the proof the same, full or not). Outside a column bank (shared columns) the full
        config serves both."""
        ctx = ChipContext.of(ctx)
        cs = ctx.cs
        op = op or ctx.bank is None

        def make():
            if not op:
                (b,) = ctx.advice_pool(1)
                q_same = cs.selector(ctx.named("bcast.q_same"))
                cs.create_gate(ctx.named("bcast.same"), [("b[+1] = b", b.next() - b.cur())], selector=q_same)
                return RowBroadcastConfig(None, b, None, None, None, q_same)
            x, b, out = ctx.advice_pool(3)
            (f,) = ctx.fixed_pool(1)
            q_op, q_same = cs.selector(ctx.named("bcast.q_op")), cs.selector(ctx.named("bcast.q_same"))
            cs.create_gate(ctx.named("bcast.sub"), [("out = f * (x - b)", out.cur() - f.cur() * (x.cur() - b.cur()))],
                           selector=q_op)
            cs.create_gate(ctx.named("bcast.same"), [("b[+1] = b", b.next() - b.cur())], selector=q_same)
            return RowBroadcastConfig(x, b, out, f, q_op, q_same)
        return ctx.shared(("row_broadcast", op), make)

    @classmethod
    def assign(cls, layouter, cfg: RowBroadcastConfig, v, n, x=None, f=None,
               name: str = "bcast"):
        """Broadcast v (T,) to rows of n entries: (T, n), or, for an array ``n`` of T row
        lengths (each >= 1), ragged rows laid end to end (flat). With ``x`` (of that shape):
        also ``out = f (x - b)`` (f: 0/1 array, default ones). Returns (broadcast, out or
        None) as `Assigned`."""
        vv = as_values(v).reshape(-1)
        T = vv.size
        ragged = np.ndim(n) > 0
        lengths = np.asarray(n, dtype=np.int64).reshape(-1) if ragged else np.full(T, int(n))
        if lengths.size != T or (T and lengths.min() < 1):
            raise ValueError(f"{name}: {T} values need {T} row lengths >= 1")
        shape = (int(lengths.sum()),) if ragged else (T, int(n))
        N = int(lengths.sum())
        ends = np.cumsum(lengths) - 1
        bv = np.repeat(vv, lengths)
        same = np.ones(N, dtype=np.int64)
        same[ends] = 0

        def region(reg):
            bc = reg.assign_advice_column(cfg.b, 0, bv)
            set_selector(reg, cfg.q_same, 0, same)
            if isinstance(v, Assigned) and v.cells is not None:
                copy_cells(reg, v.cells, np.arange(T), cfg.b, bc.start + ends + 1 - lengths)
            out = None
            if x is not None:
                if cfg.x is None:
                    raise ValueError(f"{reg.name}: a broadcast-only config (op=False) takes no x")
                xv = as_values(x)
                if xv.shape != shape:
                    raise ValueError(f"{reg.name}: x has shape {xv.shape}, expected {shape}")
                fv = np.ones(shape, np.int64) if f is None else np.asarray(f, np.int64)
                ov = fv * (xv - bv.reshape(shape))
                xc = reg.assign_advice_column(cfg.x, 0, xv.reshape(-1))
                copy_in(reg, x, xc)
                reg.assign_fixed_column(cfg.f, 0, fv.reshape(-1))
                set_selector(reg, cfg.q_op, 0, np.ones(N, dtype=np.int64))
                out = Assigned(ov, reg.assign_advice_column(cfg.out, 0, ov.reshape(-1)))
            return Assigned(bv.reshape(shape), bc), out
        return layouter.assign_region(name, region)


# ---------------------------------------------------------------------------------------
def causal_mask(T: int, n: int, offset: int = 0) -> np.ndarray:
    """M[t, j] = 1 if j <= t + offset else 0 (int64)."""
    return (np.arange(n)[None, :] <= np.arange(T)[:, None] + offset).astype(np.int64)


def softmax_float(x, mask=None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if mask is not None:
        x = np.where(np.asarray(mask) == 1, x, -np.inf)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_error_bound(scale_bits: int, exp_bits: int, n: int, exp_rows: int | None = None) -> float:
    """Bound on |P / 2^s - softmax(X / 2^s)| (see the module docstring)."""
    s = scale_bits
    size = (1 << exp_bits) if exp_rows is None else exp_rows
    eps = 2.0 ** -(s + 1) + np.exp(-(size - 1) / 2.0 ** s)
    return 2.0 ** -s + (1 + n) * eps / (1 - eps)


def softmax_ref(x, scale_bits: int, exp_bits: int, causal: bool = True, offset: int = 0,
                op: str = "softmax", exp_rows: int | None = None) -> dict:
    """Integer reference: every intermediate (dict: max, z, e, em, sum, num, p) for scores x
    (T, n) at scale 2^s."""
    x = as_values(x)
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"{op}: scores must be a non-empty (T, n) matrix, got shape {x.shape}")
    T, n = x.shape
    mask = causal_mask(T, n, offset) if causal else np.ones((T, n), np.int64)
    if not mask.any(axis=1).all():
        raise ValueError(f"{op}: a row has no unmasked entry (offset {offset})")
    check_range(op, x, -(1 << 40), 1 << 40, "score")
    m = np.where(mask == 1, x, np.iinfo(np.int64).min).max(axis=1)
    z = mask * (x - m[:, None])
    spec = exp_spec(exp_bits, scale_bits, scale_bits, exp_rows)
    e = spec.reference(np.maximum(z, spec.lo))
    em = mask * e
    S = em.sum(axis=1)
    num = em << scale_bits
    p, _ = ref.div_floor(num.reshape(-1), np.repeat(S, n), op=op)
    return {"mask": mask, "max": m, "z": z, "e": e, "em": em, "sum": S, "num": num,
            "p": p.reshape(T, n)}


@dataclass
class SoftmaxConfig:
    scale_bits: int
    exp_bits: int
    exp_rows: int | None
    clamp_bits: int
    argmax: object
    bcast: RowBroadcastConfig
    bcast_sum: RowBroadcastConfig
    exp: object
    sums: object
    div: object
    rng: object
    e: Column
    f: Column
    em: Column
    num: Column
    q: Selector


class SoftmaxChip:
    """Causal softmax with proven max, clamped exp table, exact normalisation."""

    @staticmethod
    def cost(n: int) -> Cost:
        return Cost(rows=8, advice=0, lookups=0,
                    note=f"about 8 regions of one row per element (max, sub, exp+clamp, mask, sum, "
                         f"broadcast, div, range) for rows of {n}; see the catalogue for measured counts")

    @classmethod
    def configure(cls, ctx, scale_bits: int = 8, exp_bits: int | None = None,
                  clamp_bits: int = 24, div_bits: int | None = None,
                  limb_bits: int = DEFAULT_LIMB_BITS, exp_rows: int | None = None) -> SoftmaxConfig:
        """``exp_bits``: exp table of 2^exp_bits rows (default s + 4: inputs down to -16), or
        ``exp_rows`` <= 2^exp_bits rows (inputs down to -(exp_rows - 1) / 2^s);
        ``div_bits``: divisors (row sums) up to 2^div_bits (default s + 12: rows up to 4096);
        ``clamp_bits``: spread of the scores the clamp and the row max accept."""
        ctx = ChipContext.of(ctx)
        cs = ctx.cs
        s = scale_bits
        exp_bits = s + 4 if exp_bits is None else exp_bits
        div_bits = s + 12 if div_bits is None else div_bits

        def make():
            # inside a column bank, each step gets a sub-bank of its own (max, sub, exp, ...),
            # so the floor planner lays the steps side by side. A causal softmax lays out
            # about half of each row, so pairs of steps share columns, one stacked below the
            # other (``host``): together they are as tall as one step over every entry
            am = ArgmaxChip.configure(ctx.sub_bank("max"), clamp_bits, limb_bits)
            bc = RowBroadcastChip.configure(ctx.sub_bank("bcast"))
            bc_sum = RowBroadcastChip.configure(ctx.sub_bank("bcast_sum", host="bcast"), op=False)
            ex = FunctionChip.configure(ctx.sub_bank("exp"), exp_spec(exp_bits, s, s, exp_rows),
                                        clamp_bits=clamp_bits, limb_bits=limb_bits)
            sums = SumChip.configure(ctx.sub_bank("sum"), dot=False)
            div = DivChip.configure(ctx.sub_bank("div", host="exp"), div_bits, limb_bits)
            rng = RangeChip.configure(ctx.sub_bank("range", host="sum"), s + 1, limb_bits)
            e, em, num = ctx.advice_pool(3)
            (f,) = ctx.fixed_pool(1)
            q = cs.selector(ctx.named(f"softmax.s{s}.q_mask"))
            cs.create_gate(ctx.named(f"softmax.s{s}.mask"), [
                ("em = f * e", em.cur() - f.cur() * e.cur()),
                ("num = 2^s * em", num.cur() - (1 << s) * em.cur()),
            ], selector=q)
            return SoftmaxConfig(s, exp_bits, exp_rows, clamp_bits, am, bc, bc_sum, ex, sums, div, rng, e, f,
                                 em, num, q)
        return ctx.shared(("softmax", s, exp_bits, exp_rows, clamp_bits, div_bits, limb_bits), make)

    @classmethod
    def assign(cls, layouter, cfg: SoftmaxConfig, x, causal: bool = True, offset: int = 0,
               name: str = "softmax") -> Assigned:
        """Probabilities (T, n) at scale 2^s for scores x (T, n) (an `Assigned` or array)."""
        r = softmax_ref(x, cfg.scale_bits, cfg.exp_bits, causal, offset, layouter.prefix + name,
                        cfg.exp_rows)
        xv = as_values(x)
        T, n = xv.shape
        mask = r["mask"]
        lengths = mask.sum(axis=1)          # every row's unmasked entries are a prefix
        keep = np.flatnonzero(mask.reshape(-1))
        masked = keep.size < mask.size
        if not isinstance(x, Assigned):
            x = _place(layouter, cfg, xv, name + ".in")
        lay = layouter.namespace(name)
        # 1. row maxima over the unmasked prefix of each row (one region, rows end to end)
        xk = Assigned(xv.reshape(-1)[keep], Cells.gather([x.cells]).take(keep) if masked else x.cells)
        m_cells = ArgmaxChip.row_max(lay, cfg.argmax, xk, name="max", lengths=lengths)
        # 2. z = x - m over the unmasked entries only, rows laid end to end
        _, z = RowBroadcastChip.assign(lay, cfg.bcast, m_cells, lengths, x=xk, name="sub")
        # 3. e = exp(clamp(z))
        e = FunctionChip.assign(lay, cfg.exp, z, name="exp")
        ek = r["e"].reshape(-1)[keep]
        assert np.array_equal(e.values, ek)
        # 4. em = e, num = 2^s e (f = 1); with a mask, one more row with f = 0 makes em a
        # cell proven zero, the source of every masked output
        N = keep.size
        fv = np.ones(N + masked, np.int64)
        fv[N:] = 0
        ev = np.concatenate([ek, np.zeros(int(masked), np.int64)])
        emv, numv = fv * ev, (fv * ev) << cfg.scale_bits

        def region(reg):
            ec = reg.assign_advice_column(cfg.e, 0, ev)
            copy_in(reg, e, ec[:N])
            reg.assign_fixed_column(cfg.f, 0, fv)
            set_selector(reg, cfg.q, 0, np.ones(fv.size, dtype=np.int64))
            emc = reg.assign_advice_column(cfg.em, 0, emv)
            numc = reg.assign_advice_column(cfg.num, 0, numv)
            return Assigned(emv[:N], emc[:N]), Assigned(numv[:N], numc[:N]), emc
        em, num, em_all = lay.assign_region("mask", region)
        # 5. row sums, broadcast, exact division, bound on the quotient
        S = SumChip.row_sums(lay, cfg.sums, em, name="sum", lengths=lengths)
        Sb, _ = RowBroadcastChip.assign(lay, cfg.bcast_sum, S, lengths, name="bcast")
        p = DivChip.div(lay, cfg.div, num, Sb, name="div")
        assert np.array_equal(p.values, r["p"].reshape(-1)[keep])
        RangeChip.check(lay, cfg.rng, p, 0, 1 << (cfg.scale_bits + 1), name="range")
        if not masked:
            return Assigned(r["p"], p.cells)
        # the output matrix: unmasked entries from the division, masked ones the zero cell
        src = np.full(mask.size, N, dtype=np.int64)
        src[keep] = np.arange(N)
        cells = Cells.gather([p.cells, (em_all[N], 1)]).take(src)
        return Assigned(r["p"], cells)


def _place(layouter, cfg: SoftmaxConfig, values, name) -> Assigned:
    """Assign plain input values (unconstrained witness) in one column."""
    col = cfg.e
    cells = layouter.assign_region(name, lambda reg: reg.assign_advice_column(col, 0, values.reshape(-1)))
    return Assigned(values, cells)
