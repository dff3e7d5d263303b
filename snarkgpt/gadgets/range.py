"""Range checks, comparisons, clamp, row maximum and argmax.

All of them reduce to one primitive, a *limb decomposition*: a value ``d`` (a degree <= 2
expression over the row's cells) is proven to lie in ``[0, 2^m)`` by

    d = sum_i limb_i 2^(b i),   limb_i in [0, 2^b) for i < L-1,  limb_{L-1} in [0, 2^t)

with ``L = ceil(m / b)`` limb cells on the same row, a gate for the sum, and ONE lookup per
limb into the shared table ``range.u{b}`` (``range.u{t}`` for the top limb, t = m - b(L-1)).
With m <= b that is one cell and one lookup per checked value.

Chips (every ``configure`` is cached on the ConstraintSystem by its parameters):

``RangeChip.configure(cs, bits, limb_bits=12)``
    ``check(layouter, cfg, x, lo, hi, name)``: x in [lo, hi) (hi - lo <= 2^bits); one
    decomposition if hi - lo = 2^bits, two (x - lo and hi - 1 - x) otherwise.
    ``assert_ge(layouter, cfg, a, b, name, strict=False)``: a - b in [0, 2^bits) (a > b with
    ``strict``: a - b - 1 in [0, 2^bits)). Both raise GadgetRangeError when the claim is
    false for the honest values.
``ClampChip.configure(cs, bits, limb_bits=12)``
    ``assign(layouter, cfg, x, lo, hi, name) -> y`` with y = min(max(x, lo), hi), proven:
    flags below/above, y = below lo + above hi + (1 - below - above) x, and
    d1 = below ? lo - 1 - x : x - lo,  d2 = above ? x - hi - 1 : hi - x, both in [0, 2^bits).
    Proven input domain: [hi - 2^bits + 1, lo + 2^bits); inputs beyond it are refused.
``ArgmaxChip.configure(cs, bits, limb_bits=12)``
    ``argmax(layouter, cfg, X, name) -> (index, max)`` and ``row_max(...) -> max`` for each
    row of a (T, d) matrix. Layout: row t of X is a strip of d circuit rows with cells
    x (the element), m (the row maximum, equal on the whole strip), a (1 while i < j, then
    0: a boolean, non-increasing, a_{d-1} = 0), c (running count of a, so c_{d-1} = j) and
    the limbs of m - x_i - a_i in [0, 2^bits). Hence m >= x_i for all i, m > x_i for i < j,
    and e_i (m - x_i) = 0 with e_i = a_{i-1} - a_i the one-hot indicator of j: m = x_j.
    So j is the SMALLEST index of a maximum (ties go to the smallest index). The max uses
    the same layout (no product of differences, no field arithmetic). The outputs are copied
    into a contiguous block of T rows after the strips (one column for m, one for j).
    Requirement: the spread max - min of every row is < 2^bits.

Who bounds what: these chips prove relations between small integers relative to each other
(differences), so they are sound whatever the magnitudes of the inputs as field elements.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import reference as ref
from .base import (Assigned, ChipContext, Cost, DEFAULT_LIMB_BITS, GadgetRangeError, as_values,
                   check_range, copy_in, fill_table, set_selector)

__all__ = ["LimbDecomposition", "RangeChip", "RangeConfig", "ClampChip", "ClampConfig",
           "ArgmaxChip", "ArgmaxConfig"]


# ---------------------------------------------------------------------------------------
@dataclass
class LimbDecomposition:
    """Proves ``expr`` in [0, 2^bits) with limb cells ``columns`` on the same row."""

    bits: int
    limb_bits: int
    columns: list
    tables: list

    @property
    def num_limbs(self) -> int:
        return len(self.columns)

    def assign(self, region, offset: int, d: np.ndarray) -> list:
        """Assign the limbs of ``d`` (values in [0, 2^bits)) from ``offset``."""
        lv = ref.limbs(d, self.bits, self.limb_bits)
        return [region.assign_advice_column(c, offset, lv[i]) for i, c in enumerate(self.columns)]

    def fill(self, layouter) -> None:
        for t in self.tables:
            fill_table(layouter, t)


def decompose(ctx, columns, name: str, expr, bits: int, limb_bits: int, selector) -> LimbDecomposition:
    """Configure a decomposition of ``expr`` into ``len(columns)`` limbs: a gate
    ``name.limbs`` and one lookup ``name.limb{i}`` per limb, all switched by ``selector``."""
    ctx = ChipContext.of(ctx)
    cs = ctx.cs
    n = max(1, -(-bits // limb_bits))
    if len(columns) != n:
        raise ValueError(f"{name}: {bits} bits in limbs of {limb_bits} need {n} columns")
    total = None
    for i, c in enumerate(columns):
        term = c.cur() * (1 << (limb_bits * i)) if i else c.cur()
        total = term if total is None else total + term
    if expr is not None:      # None: the limbs themselves are the value's only cells
        cs.create_gate(ctx.named(f"{name}.limbs"), [(f"{name}: value = sum of limbs", expr - total)],
                       selector=selector)
    tables = []
    for i, c in enumerate(columns):
        tb = limb_bits if i < n - 1 else bits - limb_bits * (n - 1)
        t = ctx.range_table(tb)
        cs.lookup(ctx.named(f"{name}.limb{i}"), [c.cur()], t, selector=selector)
        tables.append(t)
    return LimbDecomposition(bits, limb_bits, list(columns), tables)


def num_limbs(bits: int, limb_bits: int) -> int:
    return max(1, -(-bits // limb_bits))


# ---------------------------------------------------------------------------------------
@dataclass
class RangeConfig:
    bits: int
    limb_bits: int
    x: object
    y: object
    cx: object
    cy: object
    off: object
    q: object
    dec: LimbDecomposition


class RangeChip:
    """cx x + cy y + off in [0, 2^bits) per row (cx, cy, off fixed per row)."""

    @staticmethod
    def cost(bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> Cost:
        L = num_limbs(bits, limb_bits)
        return Cost(rows=2, advice=2 * (2 + L), lookups=2 * L,
                    note="per value checked in [lo, hi); half when hi - lo = 2^bits or for a comparison")

    @classmethod
    def configure(cls, ctx, bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> RangeConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            L = num_limbs(bits, limb_bits)
            cols = ctx.advice_pool(2 + L)
            cx, cy, off = ctx.fixed_pool(3)
            q = cs.selector(ctx.named(f"q_range.m{bits}.b{limb_bits}"))
            x, y = cols[0], cols[1]
            expr = cx.cur() * x.cur() + cy.cur() * y.cur() + off.cur()
            dec = decompose(ctx, cols[2:], f"range.m{bits}.b{limb_bits}", expr, bits, limb_bits, q)
            return RangeConfig(bits, limb_bits, x, y, cx, cy, off, q, dec)
        return ctx.shared(("range", bits, limb_bits), make)

    @staticmethod
    def _rows(layouter, cfg: RangeConfig, name: str, blocks):
        """blocks: list of (x, y, cx, cy, off) with x, y Assigned or arrays."""
        cfg.dec.fill(layouter)
        out = []

        def region(reg):
            off = 0
            for x, y, cx, cy, c0 in blocks:
                xv = as_values(x).reshape(-1)
                yv = as_values(y).reshape(-1) if y is not None else np.zeros_like(xv)
                n = xv.size
                d = cx * xv + cy * yv + c0
                check_range(reg.name, d, 0, 1 << cfg.bits, "difference")
                xc = reg.assign_advice_column(cfg.x, off, xv)
                yc = reg.assign_advice_column(cfg.y, off, yv)
                copy_in(reg, x, xc)
                if y is not None:
                    copy_in(reg, y, yc)
                for col, v in ((cfg.cx, cx), (cfg.cy, cy), (cfg.off, c0)):
                    reg.assign_fixed_column(col, off, np.full(n, v, dtype=np.int64))
                set_selector(reg, cfg.q, off, np.ones(n, dtype=np.int64))
                cfg.dec.assign(reg, off, d)
                out.append(Assigned(xv, xc))
                off += n
        layouter.assign_region(name, region)
        return out

    @classmethod
    def check(cls, layouter, cfg: RangeConfig, x, lo: int, hi: int, name: str = "range") -> Assigned:
        """Prove lo <= x < hi for every element. Returns the checked cells."""
        if not 0 < hi - lo <= 1 << cfg.bits:
            raise ValueError(f"{name}: range [{lo}, {hi}) is wider than 2^{cfg.bits}")
        xv = as_values(x)
        try:
            check_range(name, xv, lo, hi)
        except GadgetRangeError as e:
            raise GadgetRangeError(layouter.prefix + name, e.value, lo, hi, e.index) from None
        blocks = [(x, None, 1, 0, -lo)]
        if hi - lo != 1 << cfg.bits:
            blocks.append((x, None, -1, 0, hi - 1))
        return cls._rows(layouter, cfg, name, blocks)[0]

    @classmethod
    def assert_ge(cls, layouter, cfg: RangeConfig, a, b, name: str = "compare", strict: bool = False):
        """Prove a >= b (a > b if strict) elementwise, with a - b < 2^bits."""
        av, bv = as_values(a), as_values(b)
        d = av - bv - (1 if strict else 0)
        try:
            check_range(name, d, 0, 1 << cfg.bits, "difference")
        except GadgetRangeError as e:
            raise GadgetRangeError(layouter.prefix + name, e.value, 0, 1 << cfg.bits, e.index,
                                   "a - b" + (" - 1" if strict else "")) from None
        cls._rows(layouter, cfg, name, [(a, b, 1, -1, -1 if strict else 0)])


# ---------------------------------------------------------------------------------------
@dataclass
class ClampConfig:
    bits: int
    limb_bits: int
    x: object
    y: object
    below: object
    above: object
    lo: object
    hi: object
    q: object
    dec1: LimbDecomposition
    dec2: LimbDecomposition

    @property
    def num_columns(self) -> int:
        return 4 + 2 * self.dec1.num_limbs


class ClampChip:
    """y = min(max(x, lo), hi), proven (see the module docstring)."""

    @staticmethod
    def cost(bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> Cost:
        L = num_limbs(bits, limb_bits)
        return Cost(rows=1, advice=4 + 2 * L, lookups=2 * L, note="per element")

    @classmethod
    def configure(cls, ctx, bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> ClampConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            L = num_limbs(bits, limb_bits)
            cols = ctx.advice_pool(4 + 2 * L)
            x, y, bl, ab = cols[:4]
            lo, hi = ctx.fixed_pool(2)
            q = cs.selector(ctx.named(f"q_clamp.m{bits}.b{limb_bits}"))
            X, B, A = x.cur(), bl.cur(), ab.cur()
            cs.create_gate(ctx.named(f"clamp.m{bits}.b{limb_bits}"), [
                ("below is boolean", B * (1 - B)),
                ("above is boolean", A * (1 - A)),
                ("not both", B * A),
                ("y = clamp(x)", y.cur() - B * lo.cur() - A * hi.cur() - (1 - B - A) * X),
            ], selector=q)
            d1 = (1 - 2 * B) * (X - lo.cur()) - B
            d2 = (1 - 2 * A) * (hi.cur() - X) - A
            dec1 = decompose(ctx, cols[4:4 + L], f"clamp.m{bits}.b{limb_bits}.low", d1, bits, limb_bits, q)
            dec2 = decompose(ctx, cols[4 + L:4 + 2 * L], f"clamp.m{bits}.b{limb_bits}.high", d2,
                             bits, limb_bits, q)
            return ClampConfig(bits, limb_bits, x, y, bl, ab, lo, hi, q, dec1, dec2)
        return ctx.shared(("clamp", bits, limb_bits), make)

    @staticmethod
    def domain(cfg: ClampConfig, lo: int, hi: int) -> tuple[int, int]:
        """Inputs the clamp proves: [hi - 2^bits + 1, lo + 2^bits)."""
        return hi - (1 << cfg.bits) + 1, lo + (1 << cfg.bits)

    @classmethod
    def witness(cls, cfg: ClampConfig, op: str, x, lo: int, hi: int):
        if hi - lo >= 1 << cfg.bits:
            raise ValueError(f"{op}: clamp bounds [{lo}, {hi}] are wider than 2^{cfg.bits}")
        xv = as_values(x).reshape(-1)
        dlo, dhi = cls.domain(cfg, lo, hi)
        check_range(op, xv, dlo, dhi, "clamp input")
        below = (xv < lo).astype(np.int64)
        above = (xv > hi).astype(np.int64)
        y = ref.clamp(xv, lo, hi)
        d1 = np.where(below == 1, lo - 1 - xv, xv - lo)
        d2 = np.where(above == 1, xv - hi - 1, hi - xv)
        return xv, y, below, above, d1, d2

    @classmethod
    def assign_rows(cls, reg, cfg: ClampConfig, offset: int, x, lo: int, hi: int):
        """Lay the clamp of x in region ``reg`` from ``offset``; returns (x cells, y)."""
        xv, y, below, above, d1, d2 = cls.witness(cfg, reg.name, x, lo, hi)
        n = xv.size
        xc = reg.assign_advice_column(cfg.x, offset, xv)
        copy_in(reg, x, xc)
        yc = reg.assign_advice_column(cfg.y, offset, y)
        reg.assign_advice_column(cfg.below, offset, below)
        reg.assign_advice_column(cfg.above, offset, above)
        reg.assign_fixed_column(cfg.lo, offset, np.full(n, lo, dtype=np.int64))
        reg.assign_fixed_column(cfg.hi, offset, np.full(n, hi, dtype=np.int64))
        set_selector(reg, cfg.q, offset, np.ones(n, dtype=np.int64))
        cfg.dec1.assign(reg, offset, d1)
        cfg.dec2.assign(reg, offset, d2)
        return xc, Assigned(y.reshape(as_values(x).shape), yc)

    @classmethod
    def assign(cls, layouter, cfg: ClampConfig, x, lo: int, hi: int, name: str = "clamp") -> Assigned:
        cfg.dec1.fill(layouter)
        cfg.dec2.fill(layouter)
        return layouter.assign_region(name, lambda reg: cls.assign_rows(reg, cfg, 0, x, lo, hi)[1])


# ---------------------------------------------------------------------------------------
@dataclass
class ArgmaxConfig:
    bits: int
    limb_bits: int
    x: object
    m: object
    a: object
    c: object
    q_all: object
    q_first: object
    q_next: object
    q_last: object
    dec: LimbDecomposition


class ArgmaxChip:
    """Row maximum and argmax (smallest index among ties) of a (T, d) matrix."""

    @staticmethod
    def cost(bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> Cost:
        L = num_limbs(bits, limb_bits)
        return Cost(rows=1, advice=4 + L, lookups=L,
                    note="per matrix element; plus 1 row and 2 copies per matrix row (outputs)")

    @classmethod
    def configure(cls, ctx, bits: int, limb_bits: int = DEFAULT_LIMB_BITS) -> ArgmaxConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            L = num_limbs(bits, limb_bits)
            cols = ctx.advice_pool(4 + L)
            x, m, a, c = cols[:4]
            nm = f"argmax.m{bits}.b{limb_bits}"
            q_all, q_first = cs.selector(ctx.named(f"q_{nm}.all")), cs.selector(ctx.named(f"q_{nm}.first"))
            q_next, q_last = cs.selector(ctx.named(f"q_{nm}.next")), cs.selector(ctx.named(f"q_{nm}.last"))
            A, M, X = a.cur(), m.cur(), x.cur()
            cs.create_gate(ctx.named(f"{nm}.all"), [("a is boolean", A * (1 - A))], selector=q_all)
            cs.create_gate(ctx.named(f"{nm}.first"), [
                ("c = a", c.cur() - A),
                ("x = m where the index is 0", (1 - A) * (M - X)),
            ], selector=q_first)
            step = a.prev() - A
            cs.create_gate(ctx.named(f"{nm}.next"), [
                ("m is constant on the row", M - m.prev()),
                ("a is non-increasing", step * (step - 1)),
                ("x = m at the index", step * (M - X)),
                ("c' = c + a", c.cur() - c.prev() - A),
            ], selector=q_next)
            cs.create_gate(ctx.named(f"{nm}.last"), [("a = 0 at the end", A)], selector=q_last)
            dec = decompose(ctx, cols[4:], nm, M - X - A, bits, limb_bits, q_all)
            return ArgmaxConfig(bits, limb_bits, x, m, a, c, q_all, q_first, q_next, q_last, dec)
        return ctx.shared(("argmax", bits, limb_bits), make)

    @classmethod
    def _assign(cls, layouter, cfg: ArgmaxConfig, X, name: str, lengths=None):
        xv = as_values(X)
        if lengths is None:
            if xv.ndim != 2 or xv.shape[1] < 1:
                raise ValueError(f"{name}: argmax takes a (T, d) matrix")
            lengths = np.full(xv.shape[0], xv.shape[1], dtype=np.int64)
        else:
            lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
            if lengths.size == 0 or lengths.min() < 1 or int(lengths.sum()) != xv.size:
                raise ValueError(f"{name}: row lengths {lengths.tolist()} do not split "
                                 f"{xv.size} values into non-empty rows")
        flat = xv.reshape(-1)
        T, n = lengths.size, flat.size
        cfg.dec.fill(layouter)
        # row t is flat[starts[t] : starts[t] + lengths[t]]; pos is the index inside the row
        starts = np.cumsum(lengths) - lengths
        row_of = np.repeat(np.arange(T), lengths)
        pos = np.arange(n) - starts[row_of]
        m = np.maximum.reduceat(flat, starts)
        j = np.minimum.reduceat(np.where(flat == m[row_of], pos, n), starts)  # first maximum
        a = (pos < j[row_of]).astype(np.int64)
        c = np.minimum(pos + 1, j[row_of])                  # running count of a
        spread = m[row_of] - flat
        last = starts + lengths - 1

        def region(reg):
            try:
                check_range(reg.name, spread, 0, 1 << cfg.bits, "max - x")
            except GadgetRangeError as e:
                raise GadgetRangeError(reg.name, e.value, 0, 1 << cfg.bits, e.index,
                                       "row spread max - x") from None
            xc = reg.assign_advice_column(cfg.x, 0, flat)
            copy_in(reg, X, xc)
            mc = reg.assign_advice_column(cfg.m, 0, m[row_of])
            reg.assign_advice_column(cfg.a, 0, a)
            cc = reg.assign_advice_column(cfg.c, 0, c)
            set_selector(reg, cfg.q_all, 0, np.ones(n, dtype=np.int64))
            set_selector(reg, cfg.q_first, 0, (pos == 0).astype(np.int64))
            set_selector(reg, cfg.q_next, 0, (pos != 0).astype(np.int64))
            set_selector(reg, cfg.q_last, 0, (pos == lengths[row_of] - 1).astype(np.int64))
            cfg.dec.assign(reg, 0, spread - a)
            # outputs: a contiguous block of T rows after the strips, copied from each
            # strip's last row
            m_out = reg.assign_advice_column(cfg.m, n, m)
            j_out = reg.assign_advice_column(cfg.c, n, j)
            for t in range(T):
                reg.constrain_equal(mc[last[t]], m_out[t])
                reg.constrain_equal(cc[last[t]], j_out[t])
            return Assigned(j, j_out), Assigned(m, m_out)
        return layouter.assign_region(name, region)

    @classmethod
    def argmax(cls, layouter, cfg: ArgmaxConfig, X, name: str = "argmax"):
        """(index, max) per row, as Assigned vectors of length T."""
        return cls._assign(layouter, cfg, X, name)

    @classmethod
    def row_max(cls, layouter, cfg: ArgmaxConfig, X, name: str = "max", lengths=None) -> Assigned:
        """Proven maximum of each row (length-T Assigned).

        ``lengths``: rows of different lengths, laid end to end in ``X`` (its values in row
        order; row t is the next ``lengths[t]`` of them): one region for all of them, as
        for a causal mask's prefixes (`SoftmaxChip`)."""
        return cls._assign(layouter, cfg, X, name, lengths)[1]
