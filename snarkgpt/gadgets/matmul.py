"""Matrix products checked with Freivalds' test, dot products and row sums.

Statement
---------
`matmul` proves ``C = A . B`` over the integers for an advice matrix ``A`` (T x d) and a
matrix ``B`` (d x m) that is either advice (attention: ``Q . K^T``, ``P . V``) or fixed
weights (projections; the weights sit in a fixed column, so they are part of the verifying
key and the model fingerprint). ``C`` is the exact integer product, at scale ``2^(2s)`` when
``A`` and ``B`` are at scale ``2^s``; the caller rescales it (one range lookup per element,
`snarkgpt.gadgets.fixedpoint`).

Layout (three sections in their own columns, P = ``slots``; B.r in region
``<name>.products.b``, A.Br in ``<name>.products.a``, C.r in ``<name>``: the planner stacks
each section in its own columns, and a model can give sections B.r and A.Br a column bank
of their own, shared by several lanes of section C.r: `MatmulChip.configure_products`)
-------------------------------------------------------------------------------------------
Phase 0 (committed before the challenge ``r``): ``x`` holds C (row-major, one entry a row);
``b0 .. b{P-1}`` (advice) or ``w0 .. w{P-1}`` (fixed: the weights, part of the verifying
key) hold B, P rows of B side by side; ``a0 .. a{P-1}`` hold A, P rows of A side by side.
Phase 1 (after ``r``): ``acc`` (section C.r), ``accb0..`` (B.r), ``va, acca0..`` (A.Br).

    section  rows            slot i of row (g, j) / (h, k)     acc_i (running value)
    C . r    T * m           x = C[t, j]                      sum_{j'<=j} r^(j-j') C[t, j']
    B . r    ceil(d/P) * m   B[g P + i, j]                    sum_{j'<=j} r^(j-j') B[gP+i, j']
    A . Br   ceil(T/P) * d   A[h P + i, k], va = Br[k] (copy) sum_{k'<=k} Br[k'] A[hP+i, k']

Sections C.r and B.r evaluate their rows as polynomials in r by Horner's rule, so the last
row of a block holds ``sum_j r^(m-1-j) row[j]``: the challenge enters the gates as a
constant, and no column of powers of r is committed (each would be a full-size phase-1
commitment: five of them in the base model). Rows of B (of A) past d (past T) are zero
padding: their running values are never copied anywhere, so they cannot affect any check.
Gates (each block starts with a "first" row, the other rows are "step" rows; a section's
running values share its selector pair):

* ``matmul.c.first/step``: ``acc = x`` / ``acc = r * acc[-1] + x``;
* ``matmul.b.adv.*`` / ``matmul.b.fix.*``: the same for each ``accb_i`` over ``b_i`` / ``w_i``;
* ``matmul.a.first/step``: ``acca_i = va * a_i`` / ``acca_i = acca_i[-1] + va * a_i``;
* copies: ``va`` at row (h, k) equals the last ``accb_{k mod P}`` of group ``k div P``
  (``Br[k] = sum_j r^(m-1-j) B[k, j]``); the last ``acc`` of block t of section C.r
  (``sum_j r^(m-1-j) C[t, j]``) equals the last ``acca_{t mod P}`` of group ``t div P``
  (``A[t] . Br``).

Cost: ``max(ceil(d/P) m, T m, ceil(T/P) d)`` rows (`matmul_rows`) of 3P + 1 phase-0 and
2P + 2 phase-1 advice columns, P fixed weight columns and 8 selectors, plus
``ceil(T/P) d + T`` copies, against ``T*d*m`` multiplication rows for the naive running sums
(a T x d by d x d product at T = d = 64: 4,096 rows instead of 262,144).

Soundness
---------
All of A, B and C are fixed before ``r`` exists: A and C (and B when advice) are phase-0
advice columns, committed by the prover before the transcript squeezes the phase-1
challenge ``r``; a fixed B is in the verifying key. The gates then force, with no freedom
left to the prover: the last ``accb_i`` of group g of B.r is
``Br[gP + i] = sum_j r^(m-1-j) B[gP + i, j]``, computed from B's own cells (fixed B is not
trusted: it is read from the fixed columns by the ``w`` gates); the copies put exactly those
values in ``va`` of section A.Br, whose slot i of group h then ends in ``A[hP + i] . Br``;
the final copy asserts ``sum_j r^(m-1-j) C[t, j] = sum_j r^(m-1-j) (A B)[t, j]`` for every
row t. If ``C != A B`` over Fr, some row t has a non-zero polynomial
``D_t(X) = sum_j (C - A B)[t, j] X^(m-1-j)`` of degree <= m - 1,
and it vanishes at the uniformly random ``r`` with probability <= (m - 1) / |Fr|; over the
T rows the check passes a wrong C with probability <= T (m - 1) / |Fr| < 2^-240 for any
realistic size (and a union bound over every matmul of the model that shares ``r``).
Equality over Fr is equality over the integers because every entry is bounded: the
witness generator refuses inputs with ``d * max|A| * max|B| >= 2^62`` (`GadgetRangeError`),
and A and B themselves come range-checked from the gadgets that produced them, so no sum
can wrap modulo the 254-bit prime.

Wide rows (fixed weights)
-------------------------
A config made with ``width=W`` (`MatmulChip.configure_products`) lays a fixed B's section
B.r out differently: not P rows of B side by side, each with its own running value, but W
consecutive entries of one row of B in W weight columns ``ww0 .. ww{W-1}`` and one phase-1
running value ``accw``. Row (k, s), s < q = ceil(m/W), holds ``B'[k, sW .. sW + W - 1]``
where ``B'[k] = (0^pad, B[k])`` is row k of B after ``pad = qW - m`` leading zeros. Gates
(selectors ``q_wide_first`` on s = 0, ``q_wide_step`` on s > 0):

* ``matmul.b.wide.first``: ``accw = sum_i r^(W-1-i) ww_i``;
* ``matmul.b.wide.step``: ``accw = r^W accw[-1] + sum_i r^(W-1-i) ww_i``.

So ``accw`` on row (k, s) is Horner's rule over ``B'[k, 0 .. sW + W - 1]``, and on the last
row of block k, ``sum_j r^(qW-1-j) B'[k, j] = sum_j r^(m-1-j) B[k, j] = Br[k]`` (leading
zeros add nothing): the value the narrow layout ends group k div P of slot k mod P with. The
copy into ``va`` of section A.Br then reads row (k, q - 1) of ``accw``; sections A.Br and C.r
are unchanged, so the soundness argument above holds word for word (the weights are fixed,
``accw`` has no freedom left on any row of the region, and only those last rows are copied
anywhere). Advice B (attention) keeps the narrow slots. Cost: ``d * ceil(m/W)`` rows
(`wide_rows`) of W fixed weight columns and one advice column, against ``ceil(d/P) * m``
rows of P fixed and P advice columns: at W = 64 a GPT-2-width block's 7.08M weights take
110,592 rows instead of 1,769,472. The weight columns stay linearized (each appears in one
monomial with a challenge power and a selector only), so no proof opens them; the gates'
degree is the narrow ones'.

Bias
----
A config made with ``bias=True`` (`MatmulChip.configure`) has one more fixed column,
``bias``, and proves ``C = A . B + bias`` (a linear layer's bias, added to every row at C's
scale, so that the fused rescale floors ``A . B + bias`` exactly). Row (t, j) of section C.r
holds ``bias[j]`` in that column and its gates run over ``x - bias`` instead of ``x``:

* ``matmul.c.first/step``: ``acc = x - bias`` / ``acc = r * acc[-1] + (x - bias)``.

So the last ``acc`` of block t is ``sum_j r^(m-1-j) (C - bias)[t, j]``, and Freivalds' check above
proves ``C - bias = A . B`` with the same error probability. The bias cells are fixed (in the
verifying key: the fingerprint covers them), C is phase-0 advice committed before ``r``, so
no cell is left free; products without a bias on a biased config (the attention products)
get zeros in the column. Cost: one fixed column per config, no rows, no copies, no lookups,
the same gate degree; a config made without ``bias`` is exactly the unbiased one. The bound
above becomes ``d * max|A| * max|B| + max|bias| < 2^62``.

Dot products and row sums (`dot`, `row_sums`) are small phase-0 running sums in their own
columns: ``acc = acc[-1] + x * y`` / ``acc = acc[-1] + x``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.field import Fr
from snarkgpt.plonk.circuit import CellRange
from snarkgpt.plonk.expression import Column, Selector

from . import reference as ref
from .base import (Assigned, ChipContext, Cost, GadgetRangeError, add_copies, as_values,
                   check_range, copy_cells, copy_in, fill_table, set_selector)

__all__ = [
    "MatmulChip", "MatmulConfig", "SumChip", "SumConfig", "matmul_ref", "dot_ref",
    "row_sums_ref", "matmul_rows", "naive_matmul_rows", "GadgetRangeError", "WideConfig",
    "wide_rows",
]

_INT_LIMIT = 1 << 62


def _bound_error(op: str, bound: int, what: str):
    raise GadgetRangeError(op, bound, 0, _INT_LIMIT, what=what)


def _assign_input(region, column: Column, offset: int, x) -> CellRange:
    """Assign x's values (C order) at ``offset``; copy-constrain them to x's cells."""
    flat = np.ascontiguousarray(as_values(x).reshape(-1))
    cells = region.assign_advice_column(column, offset, flat)
    copy_in(region, x, cells)
    return cells


# ---------------------------------------------------------------------------------------
# Field helpers (vectorised; Montgomery (n, 4) arrays)
# ---------------------------------------------------------------------------------------
def _block_horner(x: np.ndarray, block: int, r: int) -> np.ndarray:
    """Inside consecutive blocks of ``block`` rows of an (n, 4) array, the running values of
    Horner's rule ``y[j] = r * y[j-1] + x[j]`` (``y[0] = x[0]``), i.e.
    ``y[j] = sum_{j'<=j} r^(j-j') x[j']`` (r = 1: running sums): log2(block) doubling steps,
    each adding the values s rows up times r^s (after the step, y[j] sums the last 2s terms)."""
    nb = x.shape[0] // block
    y = x.reshape(nb, block, 4).copy()
    s, rs = 1, r % Fr.modulus
    while s < block:
        a = np.ascontiguousarray(y[:, s:]).reshape(-1, 4)
        b = np.ascontiguousarray(y[:, :-s]).reshape(-1, 4)
        y[:, s:] = Fr.add(a, Fr.scale(b, rs)).reshape(nb, block - s, 4)
        s, rs = 2 * s, rs * rs % Fr.modulus
    return y.reshape(-1, 4)


def _enable_blocks(reg, q_first: Selector, q_step: Selector, offset: int, blocks: int, size):
    """First/step selectors for ``blocks`` consecutive blocks of ``size`` rows (vectorised;
    ``size`` may also be an array of ``blocks`` block lengths, each >= 1)."""
    sizes = np.broadcast_to(np.asarray(size, dtype=np.int64), (blocks,))
    first = np.zeros(int(sizes.sum()), dtype=np.int64)
    first[np.cumsum(sizes) - sizes] = 1
    reg.assign_fixed_column(q_first.column, offset, first)
    if sizes.max(initial=0) > 1:
        reg.assign_fixed_column(q_step.column, offset, 1 - first)


def _copy_rows(reg, col_a: Column, rows_a, col_b: Column, rows_b):
    """Copy constraints between rows_a of col_a and rows_b of col_b (vectorised)."""
    cs = reg.asg.cs
    add_copies(reg, cs.permutation_position(col_a), rows_a, cs.permutation_position(col_b), rows_b)


# ---------------------------------------------------------------------------------------
# Freivalds matmul
# ---------------------------------------------------------------------------------------
def _horner_first(accs, xs):
    return [(f"acc{i} = x{i}", a.cur() - xx) for i, (a, xx) in enumerate(zip(accs, xs))]


def _horner_step(accs, xs, r):
    return [(f"acc{i} = r * acc{i}[-1] + x{i}", a.cur() - r * a.prev() - xx)
            for i, (a, xx) in enumerate(zip(accs, xs))]


def _acc_first(accs, v, xs):
    return [(f"acc{i} = v * x{i}", a.cur() - v.cur() * xx.cur())
            for i, (a, xx) in enumerate(zip(accs, xs))]


def _acc_step(accs, v, xs):
    return [(f"acc{i} = acc{i}[-1] + v * x{i}", a.cur() - a.prev() - v.cur() * xx.cur())
            for i, (a, xx) in enumerate(zip(accs, xs))]


def matmul_ref(a, b, op: str = "matmul", bias=None) -> np.ndarray:
    """Integer reference: the exact product ``A . B`` (int64), plus ``bias`` (m,) on every
    row when given; refuses sizes that could overflow (`reference.matmul`: blocked float64
    at BLAS speed, proven exact)."""
    return ref.matmul(as_values(a), b.values if isinstance(b, Assigned) else b, op, bias)


DEFAULT_SLOTS = 4
"""Values per row in sections B.r and A.Br (parallel columns; see the module docstring)."""


def matmul_rows(T: int, d: int, m: int, slots: int = DEFAULT_SLOTS) -> int:
    """Rows of the Freivalds layout for a (T x d) by (d x m) product: its three sections lie
    side by side, so the height is the tallest, ``max(ceil(d/P) m, T m, ceil(T/P) d)``."""
    P = slots
    return max(-(-d // P) * m, T * m, -(-T // P) * d)


def naive_matmul_rows(T: int, d: int, m: int) -> int:
    """Rows of a naive running-sum matmul (one multiply-accumulate row per term)."""
    return T * d * m


@dataclass
class WideConfig:
    """Section B.r of fixed weights in wide rows: W weight columns and one running value
    (module docstring, "Wide rows")."""
    width: int
    w: list                 # W fixed weight columns: B[k, s W + i - pad] in slot i of row (k, s)
    acc: Column             # phase 1: Horner's rule over the row's weights, then the block's
    q_first: Selector
    q_step: Selector


def wide_rows(d: int, m: int, width: int) -> int:
    """Rows of fixed B's section B.r in wide rows: ``d * ceil(m / W)``."""
    return d * -(-m // width)


@dataclass
class MatmulConfig:
    slots: int
    r: object
    x: Column             # C (phase 0; the fused rescale reads it)
    accc: Column          # section C.r: Horner's rule over C's rows
    xb: list              # section B.r: P advice columns (advice B) ...
    wb: list              # ... or P fixed columns (fixed B)
    accb: list
    xa: list              # section A.Br: P advice columns of A
    va: Column            # Br[k], copied
    acca: list
    q_c_first: Selector
    q_c_step: Selector
    q_adv_first: Selector
    q_adv_step: Selector
    q_fix_first: Selector
    q_fix_step: Selector
    q_a_first: Selector
    q_a_step: Selector
    bias: Column | None = None   # fixed: bias[j] on row (t, j) of section C.r (biased configs)
    wide: "WideConfig | None" = None   # fixed B's section B.r, W weights a row ("Wide rows")

    # name kept from the one-column layout: section C.r's phase-1 column
    @property
    def acc(self) -> Column:
        return self.accc


class MatmulChip:
    """C = A . B (+ a fixed bias per column) checked by Freivalds' test (see the module
    docstring)."""

    COST = Cost(rows=1, advice=8, lookups=0,
                note="per entry of C (T*m rows; sections B.r and A.Br beside it hold 4 entries "
                     "a row: ceil(d/4)*m and ceil(T/4)*d rows); ceil(T/4)*d + T copies")

    @classmethod
    def configure(cls, ctx, slots: int = DEFAULT_SLOTS, bias: bool = False,
                  products: dict | None = None, width: int | None = None) -> MatmulConfig:
        """``bias=True``: one more fixed column, ``bias``, read by the C.r gates (see "Bias"
        in the module docstring); without it the configuration is unchanged.

        ``products``: sections B.r and A.Br (their columns, gates and the challenge r) from
        `configure_products`, made in another column bank: several configs (lanes of
        section C.r) can then share them, and the floor planner packs each part in its
        own columns. By default they are made in the current bank.

        ``width``: fixed weights' section B.r in wide rows of ``width`` weights (module
        docstring, "Wide rows"); None: in the P slots, as advice B."""
        ctx = ChipContext.of(ctx)
        if products is None:
            products = cls.configure_products(ctx, slots, width)
        if products["slots"] != slots:
            raise ValueError(f"products made with {products['slots']} slots, not {slots}")
        pw = products["wide"].width if products["wide"] is not None else None
        if pw != width:
            raise ValueError(f"products made with weight width {pw}, not {width}")
        key = ("matmul", slots, width, products["bank"]) + (("bias",) if bias else ())
        return ctx.shared(key, lambda: cls._configure(ctx, products, bias))

    @staticmethod
    def configure_products(ctx, slots: int = DEFAULT_SLOTS, width: int | None = None) -> dict:
        """Sections B.r and A.Br of a matmul and its challenge r, in the current column bank
        (once per bank): a dict for `configure`'s ``products``. ``width``: fixed weights'
        section B.r in wide rows of that many weights (module docstring, "Wide rows")."""
        ctx = ChipContext.of(ctx)
        if width is not None and (isinstance(width, bool) or not isinstance(width, int)
                                  or width < 1):
            raise ValueError(f"a weight width must be a positive integer, got {width!r}")
        key = ("matmul.products", slots) + (() if width is None else ("wide", width))
        return ctx.shared(key, lambda: MatmulChip._configure_products(ctx, slots, width))

    @staticmethod
    def _configure_products(ctx: ChipContext, P: int, width: int | None = None) -> dict:
        if P < 1:
            raise ValueError("slots must be >= 1")
        cs = ctx.cs
        p = "matmul"
        r = cs.challenge(after_phase=0, name=ctx.named(f"{p}.r"))
        xb = [cs.advice_column(ctx.named(f"{p}.b{i}")) for i in range(P)]
        xa = [cs.advice_column(ctx.named(f"{p}.a{i}")) for i in range(P)]
        # fixed B in P slots, unless it has wide rows of its own (then no slot weight column)
        wb = [ctx.weight_column(ctx.named(f"{p}.w{i}")) for i in range(P)] if width is None else []
        accb = [cs.advice_column(ctx.named(f"{p}.accb{i}"), phase=1) for i in range(P)]
        va = cs.advice_column(ctx.named(f"{p}.va"), phase=1)
        acca = [cs.advice_column(ctx.named(f"{p}.acca{i}"), phase=1) for i in range(P)]
        for c in xb + xa + [va] + accb + acca:
            cs.enable_equality(c)
        names = ("adv_first", "adv_step") + (("fix_first", "fix_step") if width is None else ()) \
            + ("a_first", "a_step")
        sel = {n: cs.selector(ctx.named(f"{p}.q_{n}")) for n in names}
        for kind, xs in (("adv", xb),) + ((("fix", wb),) if width is None else ()):
            cur = [c.cur() for c in xs]
            cs.create_gate(ctx.named(f"{p}.b.{kind}.first"), _horner_first(accb, cur),
                           selector=sel[f"{kind}_first"])
            cs.create_gate(ctx.named(f"{p}.b.{kind}.step"), _horner_step(accb, cur, r),
                           selector=sel[f"{kind}_step"])
        cs.create_gate(ctx.named(f"{p}.a.first"), _acc_first(acca, va, xa), selector=sel["a_first"])
        cs.create_gate(ctx.named(f"{p}.a.step"), _acc_step(acca, va, xa), selector=sel["a_step"])
        wide = None if width is None else MatmulChip._configure_wide(ctx, width, r)
        sel.setdefault("fix_first", None)
        sel.setdefault("fix_step", None)
        return dict(slots=P, bank=ctx.bank, r=r, xb=xb, wb=wb, accb=accb, xa=xa,
                    va=va, acca=acca, wide=wide, **{f"q_{n}": q for n, q in sel.items()})

    @staticmethod
    def _configure_wide(ctx: ChipContext, W: int, r) -> WideConfig:
        """Fixed weights' section B.r in wide rows (module docstring, "Wide rows"): W weight
        columns, one phase-1 running value ``accw`` and the gates

        * ``matmul.b.wide.first``: ``accw = sum_i r^(W-1-i) w_i``;
        * ``matmul.b.wide.step``: ``accw = r^W accw[-1] + sum_i r^(W-1-i) w_i``,

        both by Horner's rule over the row (the challenge r is a constant of the gates: their
        degree is that of the narrow rows' gates)."""
        cs = ctx.cs
        p = "matmul"
        ws = [ctx.weight_column(ctx.named(f"{p}.ww{i}")) for i in range(W)]
        acc = cs.advice_column(ctx.named(f"{p}.accw"), phase=1)
        cs.enable_equality(acc)
        q_first = cs.selector(ctx.named(f"{p}.q_wide_first"))
        q_step = cs.selector(ctx.named(f"{p}.q_wide_step"))
        first = ws[0].cur()
        step = acc.prev() * r + ws[0].cur()
        for w in ws[1:]:
            first = first * r + w.cur()
            step = step * r + w.cur()
        cs.create_gate(ctx.named(f"{p}.b.wide.first"),
                       [("accw = sum_i r^(W-1-i) w_i", acc.cur() - first)], selector=q_first)
        cs.create_gate(ctx.named(f"{p}.b.wide.step"),
                       [("accw = r^W accw[-1] + sum_i r^(W-1-i) w_i", acc.cur() - step)],
                       selector=q_step)
        return WideConfig(W, ws, acc, q_first, q_step)

    @staticmethod
    def _configure(ctx: ChipContext, pr: dict, bias: bool = False) -> MatmulConfig:
        """Section C.r (and the bias column) in the current bank, over ``pr``'s challenge."""
        cs = ctx.cs
        p = "matmul"
        r = pr["r"]
        x = ctx.advice_pool(1)[0]
        bcol = ctx.weight_column(ctx.named(f"{p}.bias")) if bias else None
        accc = cs.advice_column(ctx.named(f"{p}.acc"), phase=1)
        cs.enable_equality(accc)
        sel = {n: cs.selector(ctx.named(f"{p}.q_{n}")) for n in ("c_first", "c_step")}

        if bcol is None:
            c_first, c_step = _horner_first([accc], [x.cur()]), _horner_step([accc], [x.cur()], r)
        else:
            # x holds C + bias; Horner's rule runs over x - bias = (A . B)[t, j]
            xc = x.cur() - bcol.cur()
            c_first = [("acc0 = x0 - bias", accc.cur() - xc)]
            c_step = [("acc0 = r * acc0[-1] + (x0 - bias)", accc.cur() - r * accc.prev() - xc)]
        cs.create_gate(ctx.named(f"{p}.c.first"), c_first, selector=sel["c_first"])
        cs.create_gate(ctx.named(f"{p}.c.step"), c_step, selector=sel["c_step"])
        return MatmulConfig(pr["slots"], r, x, accc, pr["xb"], pr["wb"], pr["accb"],
                            pr["xa"], pr["va"], pr["acca"], sel["c_first"], sel["c_step"],
                            *(pr[f"q_{n}"] for n in ("adv_first", "adv_step", "fix_first",
                                                      "fix_step", "a_first", "a_step")),
                            bias=bcol, wide=pr["wide"])

    @classmethod
    def assign(cls, layouter, cfg: MatmulConfig, a, b, *, fixed_b: bool = False,
               name: str = "matmul", claimed_c=None, rescale=None, bias=None) -> Assigned:
        """C = A . B (exact integers, scale 2^(2s)) proven by Freivalds' test.

        ``a``: (T, d) int array or `Assigned` (its cells are copied into the region). ``b``:
        (d, m); with ``fixed_b=True`` plain fixed weights, else advice (array or
        `Assigned`). ``claimed_c`` replaces the product in the witness (attack tests: the
        phase-1 cells are then computed honestly from the wrong C, so only Freivalds' check
        can catch it).

        ``rescale``: a `RescaleConfig` (scale 2^s'): the product is floor-rescaled on the rows
        of section C.r itself (``C = y 2^s' + r``, remainder and output-limb lookups in the
        rescale chip's columns, which the matmul does not use) and ``y = floor(C / 2^s')`` is
        returned instead of C: no separate rescale region, no copies.

        ``bias``: (m,) plain integers (weights, at C's scale) for a config made with
        ``bias=True``: C is then ``A . B + bias`` (every row), the bias in the config's fixed
        ``bias`` column; with ``rescale``, ``floor((A . B + bias) / 2^s')``."""
        if fixed_b and isinstance(b, Assigned):
            raise ValueError(f"{name}: fixed_b=True takes plain weights, not assigned cells")
        if bias is not None:
            if cfg.bias is None:
                raise ValueError(f"{name}: a bias needs a matmul config made with bias=True")
            if isinstance(bias, Assigned):
                raise ValueError(f"{name}: the bias takes plain weights, not assigned cells")
        av, bv = as_values(a), as_values(b)
        c_vals = matmul_ref(av, bv, name, bias)
        if claimed_c is not None:
            claimed_c = np.asarray(claimed_c, dtype=np.int64)
            if claimed_c.shape != c_vals.shape:
                raise ValueError(f"{name}: claimed_c has shape {claimed_c.shape}, not {c_vals.shape}")
            c_vals = claimed_c
        T, d = av.shape
        m = bv.shape[1]
        P = cfg.slots
        bias_v = np.zeros(m, np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
        gb, ga = -(-d // P), -(-T // P)          # groups of P rows of B, of P rows of A
        # section B.r: row g*m + j, slot i holds B[g*P + i, j]; section A.Br: row h*d + k,
        # slot i holds A[h*P + i, k] (zero past the last row of B or A)
        bpad = np.zeros((gb * P, m), dtype=np.int64)
        bpad[:d] = bv
        b_slots = bpad.reshape(gb, P, m).transpose(1, 0, 2).reshape(P, gb * m)
        apad = np.zeros((ga * P, d), dtype=np.int64)
        apad[:T] = av
        a_slots = apad.reshape(ga, P, d).transpose(1, 0, 2).reshape(P, ga * d)
        # the slot cell of each element: B[k, j] -> (slot k % P, row (k // P) m + j), etc.
        kk, jj = np.meshgrid(np.arange(d), np.arange(m), indexing="ij")
        b_slot, b_row = (kk % P).reshape(-1), ((kk // P) * m + jj).reshape(-1)
        tt, kk2 = np.meshgrid(np.arange(T), np.arange(d), indexing="ij")
        a_slot, a_row = (tt % P).reshape(-1), ((tt // P) * d + kk2).reshape(-1)

        def copy_slots(reg, src, slot, row, cols):
            """Copy constraints from ``src``'s cells (an `Assigned`) into the slot columns."""
            if isinstance(src, Assigned) and src.cells is not None:
                for i in range(P):
                    sel_i = np.flatnonzero(slot == i)
                    copy_cells(reg, src.cells, sel_i, cols[i], reg.start + row[sel_i])

        br_box = []                 # Br, from section B.r's phase 1 to section A.Br's

        wide = cfg.wide if fixed_b else None

        def section_b_wide(reg):
            """Fixed B's section B.r in wide rows: row (k, s) holds B[k, sW - pad .. sW - pad +
            W - 1] (``pad`` leading zeros make each row of B a whole number of wide rows, and
            leave Horner's value unchanged); ``accw`` ends row k's block with Br[k]."""
            W = wide.width
            q = -(-m // W)
            bw = np.zeros((d, q * W), dtype=np.int64)
            bw[:, q * W - m:] = bv
            slots = bw.reshape(d * q, W)
            cells = [reg.assign_fixed_column(wide.w[i], 0, np.ascontiguousarray(slots[:, i]))
                     for i in range(W)]
            _enable_blocks(reg, wide.q_first, wide.q_step, 0, d, q)

            def phase1(reg, ch):
                r = ch[cfg.r] % Fr.modulus
                u = Fr.from_signed(np.ascontiguousarray(slots[:, 0]))
                for i in range(1, W):
                    u = Fr.add(Fr.scale(u, r), Fr.from_signed(np.ascontiguousarray(slots[:, i])))
                acc = _block_horner(u, q, pow(r, W, Fr.modulus))
                reg.assign_advice_column(wide.acc, 0, acc)
                br_box.append(np.ascontiguousarray(acc[q - 1::q]))        # Br[k], k < d
            reg.after_challenges(phase1, phase=1, columns=[wide.acc])
            return cells[0]             # its start is the region's, once placed

        def br_cells(k):
            """(column, rows) of Br[k] for each k of the array ``k`` in section B.r, per
            column: [(column, mask of k, rows)]."""
            if wide is not None:
                q = -(-m // wide.width)
                return [(wide.acc, np.ones(k.size, bool), b_start + k * q + q - 1)]
            return [(cfg.accb[i], k % P == i, b_start + (k[k % P == i] // P) * m + m - 1)
                    for i in range(P)]

        def section_b(reg):
            """Section B.r: B's slots and their running sums against r."""
            if wide is not None:
                return section_b_wide(reg)
            if fixed_b:
                cells = [reg.assign_fixed_column(cfg.wb[i], 0, np.ascontiguousarray(b_slots[i]))
                         for i in range(P)]
                _enable_blocks(reg, cfg.q_fix_first, cfg.q_fix_step, 0, gb, m)
            else:
                cells = [reg.assign_advice_column(cfg.xb[i], 0, np.ascontiguousarray(b_slots[i]))
                         for i in range(P)]
                _enable_blocks(reg, cfg.q_adv_first, cfg.q_adv_step, 0, gb, m)
                copy_slots(reg, b, b_slot, b_row, cfg.xb)
            b_m = [Fr.from_signed(np.ascontiguousarray(b_slots[i])) for i in range(P)]

            def phase1(reg, ch):
                accb = [_block_horner(b_m[i], m, ch[cfg.r]) for i in range(P)]
                for i in range(P):
                    reg.assign_advice_column(cfg.accb[i], 0, accb[i])
                # Br[k] = last acc of block k // P in slot k % P
                br_box.append(np.stack([accb[k % P][(k // P) * m + m - 1] for k in range(d)]))
            reg.after_challenges(phase1, phase=1, columns=list(cfg.accb))
            return cells[0]             # its start is the region's, once placed

        def section_a(reg):
            """Section A.Br: A's slots and their running sums against Br (copied from B.r)."""
            a_cells = [reg.assign_advice_column(cfg.xa[i], 0, np.ascontiguousarray(a_slots[i]))
                       for i in range(P)]
            _enable_blocks(reg, cfg.q_a_first, cfg.q_a_step, 0, ga, d)
            copy_slots(reg, a, a_slot, a_row, cfg.xa)
            a_m = [Fr.from_signed(np.ascontiguousarray(a_slots[i])) for i in range(P)]

            def phase1(reg, ch):
                va = np.ascontiguousarray(np.tile(br_box.pop(), (ga, 1)))
                reg.assign_advice_column(cfg.va, 0, va)
                for i in range(P):
                    acca = _block_horner(Fr.mul(va, a_m[i]), d, 1)       # running sums
                    reg.assign_advice_column(cfg.acca[i], 0, acca)
            reg.after_challenges(phase1, phase=1, columns=[cfg.va, *cfg.acca])
            # copies (registered in phase 0: the permutation does not depend on the witness):
            # va at row (h, k) of section A.Br <- Br[k] (section B.r is placed already)
            k = np.tile(np.arange(d), ga)
            for col, mask, rows in br_cells(k):
                _copy_rows(reg, col, rows, cfg.va, reg.start + np.flatnonzero(mask))
            return a_cells[0]

        def section_c(reg):
            """Section C.r (and the fused rescale); its last running sums copied to A.Br's."""
            c_flat = np.ascontiguousarray(c_vals.reshape(-1))
            c_cells = reg.assign_advice_column(cfg.x, 0, c_flat)
            if cfg.bias is not None:        # zeros when this product has no bias
                reg.assign_fixed_column(cfg.bias, 0, np.ascontiguousarray(np.tile(bias_v, T)))
            _enable_blocks(reg, cfg.q_c_first, cfg.q_c_step, 0, T, m)
            if rescale is not None:
                c_cells = _fused_rescale(reg, cfg, rescale, 0, c_flat)
            start = reg.start
            # section C.r runs over C - bias = A . B (the bias column is fixed)
            c_m = Fr.from_signed(c_flat - np.tile(bias_v, T))

            def phase1(reg, ch):
                reg.assign_advice_column(cfg.accc, 0, _block_horner(c_m, m, ch[cfg.r]))
            reg.after_challenges(phase1, phase=1, columns=[cfg.accc])
            # C[t] . r == A[t] . Br (section A.Br is placed already: its rows are final)
            t = np.arange(T)
            for i in range(P):
                ti = t[t % P == i]
                _copy_rows(reg, cfg.acca[i], ab_start + (ti // P) * d + d - 1, cfg.accc,
                           start + ti * m + m - 1)
            return c_cells

        if rescale is not None:
            fill_table(layouter, rescale.table)
            rescale.dec.fill(layouter)
        # three regions, so that the planner packs each in its own columns (sections B.r and
        # A.Br stack independently, and may live in another column bank than section C.r:
        # `configure_products`)
        b_start = layouter.assign_region(name + ".products.b", section_b).start
        ab_start = layouter.assign_region(name + ".products.a", section_a).start
        cells = layouter.assign_region(name, section_c)
        if rescale is not None:
            y, _ = ref.rescale(c_vals, rescale.scale_bits, op=layouter.prefix + name)
            return Assigned(y, cells)
        return Assigned(c_vals, cells)


def _fused_rescale(reg, cfg: MatmulConfig, rc, offset: int, c_flat: np.ndarray):
    """y = floor(C / 2^s) on the rows of section C.r (C is in the rescale's ``x`` column)."""
    if rc.x != cfg.x:
        raise ValueError("the rescale config does not read the matmul's x column")
    y, r = ref.rescale(c_flat, rc.scale_bits, op=reg.name)
    half = 1 << (rc.out_bits - 1)
    check_range(reg.name, y, -half, half, "rescaled output")
    n = c_flat.size
    yc = reg.assign_advice_column(rc.y, offset, y)
    reg.assign_advice_column(rc.r, offset, r)
    ones = np.ones(n, dtype=np.int64)
    set_selector(reg, rc.q_rescale, offset, ones)
    set_selector(reg, rc.q_out, offset, ones)
    rc.dec.assign(reg, offset, y + half)
    return yc


# ---------------------------------------------------------------------------------------
# Dot products and row sums (phase 0)
# ---------------------------------------------------------------------------------------
def dot_ref(x, y, op: str = "dot") -> np.ndarray:
    """Row-wise dot products of (R, n) arrays (1-D inputs: shape (1,))."""
    x, y = as_values(x), as_values(y)
    if x.shape != y.shape or x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{op}: shapes {x.shape} and {y.shape} must be equal, 1-D or 2-D, non-empty")
    bound = int(np.abs(x).max()) * int(np.abs(y).max()) * x.shape[-1]
    if bound >= _INT_LIMIT:
        _bound_error(op, bound, "n * max|x| * max|y|")
    return (x * y).reshape(-1, x.shape[-1]).sum(axis=-1)


def row_sums_ref(x, op: str = "row_sums") -> np.ndarray:
    """Row sums of an (R, n) array (1-D: shape (1,))."""
    x = as_values(x)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{op}: expected a non-empty (R, n) array, got shape {x.shape}")
    bound = int(np.abs(x).max()) * x.shape[-1]
    if bound >= _INT_LIMIT:
        _bound_error(op, bound, "n * max|x|")
    return x.reshape(-1, x.shape[-1]).sum(axis=-1)


@dataclass
class SumConfig:
    x: Column
    y: Column | None                # y and the dot selectors: None for row sums only
    acc: Column
    out: Column
    q_dot_first: Selector | None
    q_dot_step: Selector | None
    q_sum_first: Selector
    q_sum_step: Selector


class SumChip:
    """Row sums ``out[i] = sum_j x[i, j]`` and row-wise dot products ``out[i] = sum_j
    x[i, j] y[i, j]`` by running sums in phase 0: ``acc = acc[-1] + x (* y)`` inside each
    block of n rows (``acc = x (* y)`` on a block's first row); the block totals are copied
    to the ``out`` column at the top of the region so the result is one contiguous range."""

    COST = Cost(rows=1, advice=3, lookups=0, note="per input element (+1 copy per row of the input)")

    @classmethod
    def configure(cls, ctx, dot: bool = True) -> SumConfig:
        """``dot=False``: row sums only (no y column, which they would leave empty; every
        column costs the prover and the proof the same, full or not). Outside a column bank
        (shared columns) the full config serves both."""
        ctx = ChipContext.of(ctx)
        dot = dot or ctx.bank is None
        return ctx.shared(("sum", dot), lambda: cls._configure(ctx, dot))

    @staticmethod
    def _configure(ctx: ChipContext, dot: bool = True) -> SumConfig:
        cs = ctx.cs
        p = "sum"
        sel = {n: cs.selector(ctx.named(f"{p}.q_{n}")) for n in
               (("dot_first", "dot_step") if dot else ()) + ("sum_first", "sum_step")}
        if not dot:
            x, acc, out = ctx.advice_pool(3)
            y = None
            sel["dot_first"] = sel["dot_step"] = None
        else:
            x, y, acc, out = ctx.advice_pool(4)
            cs.create_gate(ctx.named(f"{p}.dot.first"), [("acc = x * y", acc.cur() - x.cur() * y.cur())],
                           selector=sel["dot_first"])
            cs.create_gate(ctx.named(f"{p}.dot.step"), [
                ("acc = acc[-1] + x * y", acc.cur() - acc.prev() - x.cur() * y.cur())],
                selector=sel["dot_step"])
        cs.create_gate(ctx.named(f"{p}.sum.first"), [("acc = x", acc.cur() - x.cur())], selector=sel["sum_first"])
        cs.create_gate(ctx.named(f"{p}.sum.step"), [("acc = acc[-1] + x", acc.cur() - acc.prev() - x.cur())],
                       selector=sel["sum_step"])
        return SumConfig(x, y, acc, out, sel["dot_first"], sel["dot_step"], sel["sum_first"],
                         sel["sum_step"])

    @classmethod
    def _running(cls, layouter, cfg: SumConfig, x, y, name: str, lengths=None) -> Assigned:
        xv = as_values(x)
        if lengths is not None:
            lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
            if lengths.size == 0 or lengths.min() < 1 or xv.ndim != 1 or xv.size != lengths.sum():
                raise ValueError(f"{name}: ragged rows need a flat input of sum(lengths) values "
                                 f"and lengths >= 1")
            bound = int(np.abs(xv).max()) * int(lengths.max())
            if bound >= _INT_LIMIT:
                _bound_error(name, bound, "n * max|x|")
            ends = np.cumsum(lengths) - 1
            out = np.add.reduceat(xv, ends + 1 - lengths)
            # running sums within each row (int64 wraps alike on both sides: exact)
            acc = np.cumsum(xv) - np.repeat(np.cumsum(out) - out, lengths)
            R, n = lengths.size, lengths
        else:
            n = xv.shape[-1] if xv.ndim else 0
            if y is None:
                out = row_sums_ref(xv, name)
                prods = xv.reshape(-1, n)
            else:
                yv = as_values(y)
                if yv.shape != xv.shape:
                    raise ValueError(f"{name}: shapes {xv.shape} and {yv.shape} differ")
                out = dot_ref(xv, yv, name)
                prods = (xv * yv).reshape(-1, n)
            R = prods.shape[0]
            acc = np.cumsum(prods, axis=1).reshape(-1)
            ends = np.arange(R) * n + (n - 1)

        if y is not None and cfg.y is None:
            raise ValueError(f"{name}: a row-sums-only config (dot=False) takes no y")

        def region(reg):
            _assign_input(reg, cfg.x, 0, x)
            if y is not None:
                _assign_input(reg, cfg.y, 0, y)
                _enable_blocks(reg, cfg.q_dot_first, cfg.q_dot_step, 0, R, n)
            else:
                _enable_blocks(reg, cfg.q_sum_first, cfg.q_sum_step, 0, R, n)
            reg.assign_advice_column(cfg.acc, 0, acc)
            cells = reg.assign_advice_column(cfg.out, 0, out)
            _copy_rows(reg, cfg.acc, reg.start + ends, cfg.out, cells.rows())
            return cells

        cells = layouter.assign_region(name, region)
        shape = (R,) if lengths is not None else xv.shape[:-1] if xv.ndim == 2 else (1,)
        return Assigned(out.reshape(shape), cells)

    @classmethod
    def row_sums(cls, layouter, cfg: SumConfig, x, name: str = "row_sums", lengths=None) -> Assigned:
        """(R, n) -> (R,) row sums; a 1-D input gives shape (1,). With ``lengths`` (R,):
        rows of those lengths, laid end to end in the flat input x (ragged rows)."""
        return cls._running(layouter, cfg, x, None, name, lengths)

    @classmethod
    def dot(cls, layouter, cfg: SumConfig, x, y, name: str = "dot") -> Assigned:
        """(R, n), (R, n) -> (R,) row-wise dot products; 1-D inputs give shape (1,)."""
        return cls._running(layouter, cfg, x, y, name)
