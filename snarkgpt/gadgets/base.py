"""Shared conventions for gadgets ("chips").

A gadget is a *chip*: a class with

* ``configure(ctx, ...) -> Config`` (a classmethod): creates or reuses columns, gates,
  lookups and tables, in a `ChipContext` (or a bare ConstraintSystem: its root context).
  Configuring the same chip twice with the same parameters in the same bank returns the same
  config (cached by a key, see `ChipContext.shared`), so configuring is cheap and idempotent;
* ``assign(layouter, config, inputs..., name=...) -> outputs``: lays out whole vectors at
  once (vectorised numpy; no Python loop per cell) in one region named ``name`` under the
  layouter's namespace (``layouter.namespace("h.2").namespace("attn")`` + ``"softmax"``
  gives cells reported as ``h.2.attn.softmax``);
* ``COST``: a `Cost` per element (rows, advice cells, lookups), read by the gadget catalogue.

Values
------
Values are signed fixed-point integers: an int64 numpy array ``v`` standing for ``v / 2^s``,
embedded in Fr (a negative ``v`` is ``p - |v|``). Every gadget has an integer reference in
plain NumPy (`snarkgpt.gadgets.reference`) which its witness assignment calls, so circuit and
reference cannot drift, and a stated error bound against the float operation.

Inputs and outputs of chips are `Assigned` vectors: int64 ``values`` (any shape; the cells
hold them in C order) and the ``cells`` (a `CellRange` of an equality-enabled column) that
hold them. Passing an `Assigned` to a chip copies (permutation-constrains) its cells into the
chip's input column; passing a bare numpy array assigns a fresh, unconstrained witness (use
`constrain` later, or for circuit inputs).

Ranges
------
A value beyond what a gadget proves is refused at witness generation with
`GadgetRangeError` (a ValueError) naming the op (the region name), the offending value and
the allowed range. Nothing is ever silently reduced modulo the field.

Columns and tables
------------------
Chips configure through a `ChipContext`: the constraint system, the layout modes (compact,
committed weights), the current column bank, and the column pools and configs that every
chip configured on the system shares. ``configure`` takes the context (or a bare
ConstraintSystem, which stands for its root context, ``cs.chip_context``). Chips draw their
advice columns from one shared pool (``ctx.advice_pool``: columns ``g.0``, ``g.1``, ... all
equality-enabled), since regions are stacked vertically a column serves many chips. A
context in a column bank (``ctx.in_bank("sm")``) gives chips a pool of their own (columns
``sm.g0``, ``sm.gf0``, ...; selectors, gates, lookups and cached configs named or keyed under
the bank, see ``ctx.named``), so the packed floor planner can place their regions beside
those of chips in other banks instead of above them. Tables stay global. Range tables
``range.u{b}`` = [0, 2^b) are shared by name (``ctx.range_table``) and filled once per
witness (`fill_table`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from snarkgpt.plonk.circuit import Cell, CellRange, ConstraintSystem, Layouter

__all__ = [
    "GadgetRangeError", "Assigned", "Cost", "check_range", "ChipContext", "ChipState",
    "fill_table", "copy_in", "as_values", "root_layouter", "bits_for", "constrain",
    "set_selector", "DEFAULT_LIMB_BITS", "hold_weights", "Cells", "copy_cells", "add_copies",
]

DEFAULT_LIMB_BITS = 12
"""Default limb width of range decompositions: lookups into ``range.u12`` (4096 rows)."""


class GadgetRangeError(ValueError):
    """A value is outside the range a gadget proves.

    Attributes: ``op`` (the region name), ``value`` (the first offending value), ``index``
    (its flat position), ``lo``, ``hi`` (the allowed half-open range [lo, hi))."""

    def __init__(self, op: str, value: int, lo: int, hi: int, index: int | None = None,
                 what: str = "value"):
        self.op, self.value, self.lo, self.hi, self.index = op, int(value), int(lo), int(hi), index
        where = f" at index {index}" if index is not None else ""
        super().__init__(f"{op}: {what} {int(value)}{where} is outside the proven range "
                         f"[{int(lo)}, {int(hi)})")


def check_range(op: str, values, lo: int, hi: int, what: str = "value") -> None:
    """Raise `GadgetRangeError` unless every value lies in [lo, hi)."""
    v = np.asarray(values)
    if v.size == 0:
        return
    flat = v.reshape(-1)
    bad = np.flatnonzero((flat < lo) | (flat >= hi))
    if bad.size:
        i = int(bad[0])
        raise GadgetRangeError(op, int(flat[i]), lo, hi, i, what)


def bits_for(n: int) -> int:
    """Smallest m with 2^m >= n (n >= 1)."""
    return max(0, int(n - 1).bit_length())


@dataclass(frozen=True)
class Cost:
    """Cost of a gadget per element: circuit rows, advice cells and lookups. ``note`` says
    what an element is and what is extra (per row of a matrix, per limb, ...)."""

    rows: float
    advice: int
    lookups: int
    note: str = ""

    def as_dict(self) -> dict:
        return {"rows": self.rows, "advice": self.advice, "lookups": self.lookups,
                "note": self.note}


class Cells:
    """Cells at arbitrary places, for values gathered from several regions (a causal
    softmax's output: its unmasked entries from the division, the masked ones all from one
    cell proven zero): element i is row ``rows[i]`` of column ``columns[which[i]]``. Rows
    are absolute, so only cells of regions already placed can be gathered."""

    __slots__ = ("columns", "which", "rows")

    def __init__(self, columns, which, rows):
        self.columns = tuple(columns)
        self.which = np.asarray(which, dtype=np.int64).reshape(-1)
        self.rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if self.which.shape != self.rows.shape:
            raise ValueError("Cells: which and rows differ in length")

    @classmethod
    def gather(cls, parts) -> "Cells":
        """Concatenate ``parts``: CellRanges, Cells, or (CellRange or Cell, count) pairs (a
        cell repeated)."""
        columns, which, rows = [], [], []

        def col_index(c):
            if c not in columns:
                columns.append(c)
            return columns.index(c)
        for part in parts:
            if isinstance(part, tuple):
                cell, count = part
                which.append(np.full(count, col_index(cell.column)))
                rows.append(np.full(count, cell.row))
            elif isinstance(part, CellRange):
                which.append(np.full(len(part), col_index(part.column)))
                rows.append(part.rows())
            else:
                remap = np.array([col_index(c) for c in part.columns], dtype=np.int64)
                which.append(remap[part.which] if part.columns else part.which)
                rows.append(part.rows)
        if not rows:
            return cls((), [], [])
        return cls(columns, np.concatenate(which), np.concatenate(rows))

    def take(self, idx) -> "Cells":
        idx = np.asarray(idx, dtype=np.int64)
        return Cells(self.columns, self.which[idx], self.rows[idx])

    def __len__(self):
        return self.rows.size

    def __getitem__(self, i) -> Cell:
        return Cell(self.columns[int(self.which[i])], int(self.rows[i]))


def copy_cells(region, src, idx, column, rows) -> None:
    """Copy constraints: element ``idx[i]`` of ``src`` (a CellRange or `Cells`) equals row
    ``rows[i]`` of ``column`` (vectorised)."""
    cs = region.asg.cs
    idx = np.asarray(idx, dtype=np.int64).reshape(-1)
    if isinstance(src, CellRange):
        pos_a, rows_a = cs.permutation_position(src.column), src.start + idx
    else:
        pos = np.array([cs.permutation_position(c) for c in src.columns], dtype=np.int64)
        pos_a, rows_a = pos[src.which[idx]], src.rows[idx]
    add_copies(region, pos_a, rows_a, cs.permutation_position(column), rows)


def add_copies(region, pos_a, rows_a, pos_b, rows_b) -> None:
    """Register copy constraints between (permutation position, row) pairs, in one chunk."""
    rows_a = np.asarray(rows_a, dtype=np.int64).reshape(-1)
    rows_b = np.asarray(rows_b, dtype=np.int64).reshape(-1)
    if rows_a.shape != rows_b.shape:
        raise ValueError("copy between cell lists of different lengths")
    arr = np.empty((rows_a.size, 4), dtype=np.int64)
    arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3] = pos_a, rows_a, pos_b, rows_b
    region.asg.add_copy_rows(arr)


@dataclass
class Assigned:
    """Values held in circuit cells: ``values`` (int64, any shape, C order) and ``cells``
    (a CellRange, or `Cells`, of the same size)."""

    values: np.ndarray
    cells: CellRange

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=np.int64)
        if self.cells is not None and len(self.cells) != self.values.size:
            raise ValueError(f"{self.values.size} values but {len(self.cells)} cells")

    @property
    def shape(self):
        return self.values.shape

    def __len__(self):
        return self.values.size

    def reshape(self, *shape) -> "Assigned":
        return Assigned(self.values.reshape(*shape), self.cells)


def as_values(x) -> np.ndarray:
    """int64 values of an `Assigned` or an array-like."""
    if isinstance(x, Assigned):
        return x.values
    a = np.asarray(x)
    if a.dtype.kind == "f":
        raise TypeError("gadgets take fixed-point integers; quantize floats first")
    return a.astype(np.int64)


def copy_in(region, src, dst: CellRange) -> None:
    """Constrain ``dst`` equal to ``src``'s cells if ``src`` is `Assigned`."""
    if isinstance(src, Assigned) and src.cells is not None:
        if isinstance(src.cells, Cells):
            copy_cells(region, src.cells, np.arange(len(dst)), dst.column, dst.rows())
        else:
            region.constrain_equal(src.cells, dst)


def constrain(layouter: Layouter, a: Assigned, b: Assigned) -> None:
    """Copy constraints between two assigned vectors of the same size."""
    layouter.constrain_equal(a.cells, b.cells)


@dataclass
class ChipState:
    """What the chips configured on one constraint system share, whatever their bank."""

    configs: dict = field(default_factory=dict)
    """Configs made by `ChipContext.shared`: {(bank, key): config}, {key: config} unbanked."""
    advice_pools: dict = field(default_factory=dict)       # pool bank -> [advice columns]
    fixed_pools: dict = field(default_factory=dict)        # pool bank -> [fixed columns]
    weight_pools: dict = field(default_factory=dict)       # pool bank -> [committed columns]
    constant_columns: dict = field(default_factory=dict)   # pool bank -> {reserved fixed columns}
    table_fills: dict = field(default_factory=dict)        # table name -> fill() (`fill_table`)


@dataclass(frozen=True)
class ChipContext:
    """Where chips configure: a constraint system, its layout modes and a column bank.

    ``compact``: the column banks are off (`in_bank` keeps this context): every chip shares
    the default columns and stacks in rows. Fewer columns, more rows: cheaper where tables,
    not rows, set k (small models), and smaller proofs (one evaluation per column).
    ``committed_weights``: the model's weights that chips configure (matmul weights and
    biases, LayerNorm gains and biases, positional embeddings) go in committed columns
    (`ConstraintSystem.committed_column`: hidden behind a commitment in the verifying key)
    instead of fixed ones of role "weight".
    ``bank``: the column bank chips configure into (None: the shared pool); ``pool``: the
    bank whose column pools they draw from (`in_bank`'s ``columns``; None: the shared pool).
    ``state``: the pools and configs, shared by every context of the constraint system.

    The root context of a constraint system (`create`, or `of` a bare system) is held by
    ``cs.chip_context``; contexts in banks derive from it (`in_bank`)."""

    cs: ConstraintSystem
    compact: bool = False
    committed_weights: bool = False
    bank: str | None = None
    pool: str | None = None
    state: ChipState = field(default_factory=ChipState, repr=False, compare=False)

    @classmethod
    def create(cls, cs: ConstraintSystem, *, compact: bool = False,
               committed_weights: bool = False) -> "ChipContext":
        """The root context of ``cs``, with these modes (chips configured on ``cs`` before,
        with the bare system, must have had the same ones)."""
        ctx = cls(cs, bool(compact), bool(committed_weights))
        root = cs.chip_context
        if root is None:
            cs.chip_context = ctx
            return ctx
        if (root.compact, root.committed_weights) != (ctx.compact, ctx.committed_weights):
            raise ValueError("chips were configured on this constraint system with other modes "
                             f"(compact={root.compact}, committed_weights={root.committed_weights})")
        return root

    @classmethod
    def of(cls, cs_or_ctx) -> "ChipContext":
        """What a chip's ``configure`` was given: a context as it is, or a ConstraintSystem's
        root context (created with the default modes on first use)."""
        if isinstance(cs_or_ctx, ChipContext):
            return cs_or_ctx
        if cs_or_ctx.chip_context is None:
            return cls.create(cs_or_ctx)
        return cs_or_ctx.chip_context

    def in_bank(self, name: str | None, columns: str | None = None) -> "ChipContext":
        """The context for chips configured into their own columns, bank ``name``: its
        pools give the bank's columns (``{bank}.g{i}``, ``{bank}.gf{i}``), `named` prefixes
        ``{bank}.`` and `shared` keys configs by bank. Banks nest (``sm`` then ``max``:
        ``sm.max``); ``None`` (or the compact layout) keeps this context.

        columns: the full name of another bank whose column pools this bank draws from (its
        selectors, gates and configs stay its own): a bank of few rows then stacks below the
        host's regions instead of adding columns that stay mostly empty (every column costs
        the prover the same, full or not)."""
        if self.compact or name is None:
            return self
        bank = name if self.bank is None else f"{self.bank}.{name}"
        return replace(self, bank=bank, pool=columns if columns is not None else bank)

    def sub_bank(self, name: str, host: str | None = None) -> "ChipContext":
        """For one step of a chip made of several: inside a bank, the step's own sub-bank
        ``{bank}.{name}``, drawing its columns from sibling step ``host``'s sub-bank if given
        (a step of few rows stacks below a taller one); outside any bank, this context."""
        if self.bank is None:
            return self
        return self.in_bank(name, columns=None if host is None else f"{self.bank}.{host}")

    def named(self, name: str) -> str:
        """``name`` under the current column bank (unchanged outside any bank)."""
        return name if self.bank is None else f"{self.bank}.{name}"

    def shared(self, key, factory, banked: bool = True):
        """``factory()`` once per constraint system, column bank (unless ``banked=False``:
        tables) and ``key``; later calls return the cached result."""
        configs = self.state.configs
        if banked:
            key = (self.bank, key)
        if key not in configs:
            configs[key] = factory()
        return configs[key]

    # -- columns ---------------------------------------------------------------------------
    def advice_pool(self, n: int) -> list:
        """The first ``n`` shared, equality-enabled phase-0 advice columns ``g.0 .. g.{n-1}``
        (of the pool bank: ``{bank}.g0 ..``)."""
        b = self.pool
        pool = self.state.advice_pools.setdefault(b, [])
        while len(pool) < n:
            col = self.cs.advice_column(f"g.{len(pool)}" if b is None else f"{b}.g{len(pool)}")
            self.cs.enable_equality(col)
            pool.append(col)
        return pool[:n]

    def fixed_pool(self, n: int) -> list:
        """The first ``n`` shared fixed columns ``gf.0 ..`` (per-row constants of gadgets; of
        the pool bank: ``{bank}.gf0 ..``)."""
        b = self.pool
        pool = self.state.fixed_pools.setdefault(b, [])
        while len(pool) < n:
            pool.append(self.cs.fixed_column(f"gf.{len(pool)}" if b is None else f"{b}.gf{len(pool)}"))
        return pool[:n]

    def weight_column(self, name: str):
        """A dedicated column for weights: a fixed column of role "weight" (keygen linearizes
        it, so no proof opens it: plonk/linearization.py), or a committed column with
        ``committed_weights``."""
        if self.committed_weights:
            return self.cs.committed_column(name)
        return self.cs.fixed_column(name, role="weight")

    def weight_pool(self, n: int) -> list:
        """Shared columns for per-row weights: the first ``n`` columns of `fixed_pool` (the
        shared constants) that no chip reserved with `constant_column`, marked as holding
        weights (`hold_weights`: keygen linearizes them, no proof opens them); with
        ``committed_weights``, a pool of committed columns ``wc.0 ..`` (``{bank}.wc0 ..``)."""
        b = self.pool
        if not self.committed_weights:
            reserved = self.state.constant_columns.setdefault(b, set())
            m = n
            while True:
                cols = [c for c in self.fixed_pool(m) if c not in reserved]
                if len(cols) >= n:
                    return [hold_weights(c) for c in cols[:n]]
                m += n - len(cols)
        pool = self.state.weight_pools.setdefault(b, [])
        while len(pool) < n:
            pool.append(self.cs.committed_column(f"wc.{len(pool)}" if b is None else f"{b}.wc{len(pool)}"))
        return pool[:n]

    def constant_column(self):
        """The first column of `fixed_pool` that holds no weights, reserved so that
        `weight_pool` never hands it out: for a constant that must not share a monomial with
        a weight column, such as a lookup input (the logUp helpers multiply lookup inputs
        together and with table columns, and two private columns in one monomial cannot both
        be linearized)."""
        reserved = self.state.constant_columns.setdefault(self.pool, set())
        m = 1
        while True:
            free = [c for c in self.fixed_pool(m) if c.role == "fixed"]
            if free:
                reserved.add(free[0])
                return free[0]
            m += 1

    # -- tables ----------------------------------------------------------------------------
    def range_table(self, bits: int):
        """The shared one-column table ``range.u{bits}`` = [0, 2^bits)."""
        def make():
            t = self.cs.lookup_table(f"range.u{bits}", [f"range.u{bits}"])
            self.register_table(t, lambda: [np.arange(1 << bits, dtype=np.int64)])
            return t
        return self.shared(("range_table", bits), make, banked=False)

    def register_table(self, table, fill) -> None:
        """Record how to fill ``table``: ``fill()`` -> list of int64 arrays, one per column."""
        self.state.table_fills[table.name] = fill


def hold_weights(column):
    """Mark a shared fixed column (of `ChipContext.fixed_pool`) as holding weights: its role
    becomes "weight" (in the verifying key's description), so keygen linearizes it and no
    proof ever opens an evaluation of it. The column still serves other chips' constants.
    Committed columns are left as they are (hiding already). Returns the column."""
    if column.role == "fixed":
        column.role = "weight"
    elif column.role not in ("weight", "committed"):
        raise ValueError(f"{column.name!r} is a {column.role} column: it cannot hold weights")
    return column


def root_layouter(layouter: Layouter) -> Layouter:
    return Layouter(layouter.asg)


def fill_table(layouter: Layouter, table) -> None:
    """Fill ``table`` in this witness unless it is already filled."""
    asg = layouter.asg
    if table.name in asg.tables:
        return
    cols = ChipContext.of(asg.cs).state.table_fills[table.name]()

    def go(t):
        for c, v in zip(table.columns, cols):
            t.assign_column(c, v)
    root_layouter(layouter).assign_table(table.name, go)


def set_selector(region, selector, offset: int, mask) -> None:
    """Vectorised selector assignment: ``mask`` (0/1 array) from ``offset``."""
    region.assign_fixed_column(selector.column, offset, np.asarray(mask, dtype=np.int64))
