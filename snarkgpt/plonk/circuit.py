"""The constraint system, the layouter and the witness (`Assignment`).

A circuit is a matrix of field elements with n = 2^k rows and three kinds of columns:

* advice columns: the private witness, each assigned in a *phase* (0, 1, ...). The prover
  commits to every phase-p column before the challenges "after phase p" are squeezed; those
  challenges may then be used by gates and lookups and by the witness of later phases;
* fixed columns: known to the verifier (selectors, lookup tables, constants, weights);
* instance columns: the public inputs and outputs.

Constraints
-----------
* gates: named lists of named polynomial constraints (`Expression`s with rotations), each
  multiplied by a selector; a gate constraint must vanish on every usable row;
* copy constraints: equalities between cells of equality-enabled columns (the permutation
  argument);
* lookups: a tuple of input expressions must, on every row where the lookup's selector is
  non-zero, equal some row of a table (a tuple of table expressions over the usable rows).
  Lookups with the same table share one table (and one multiplicity column).

Rows
----
The last rows of the domain are not usable by the circuit (zero knowledge):

    rows [0, usable_rows)              the circuit's rows
    row  usable_rows                   the "last" row (l_last of the permutation and lookup
                                       running products/sums), not usable
    rows (usable_rows, n)              `blinding_rows` rows of random values put there by
                                       the prover (BLINDING_ROWS = 5 unless some advice
                                       column is queried at more than 3 rotations, see
                                       `ConstraintSystem.blinding_rows`)

so ``usable_rows = n - blinding_rows - 1``.

Writing a witness (two phases, halo2's challenge API)
-----------------------------------------------------
A circuit object has ``synthesize(config, layouter)`` (see examples.py). It is called once.
Inside, ``layouter.assign_region(name, fn)`` calls ``fn(region)`` right away; the region
assigns cells at offsets relative to its start and is as tall as the largest offset it used
(or ``region.reserve(h)``). Every cell belongs to the region that assigned it; the region's
name is what failures report (a later layer uses names of model ops such as
``h.2.attn.softmax``; ``layouter.namespace("h.2")`` prefixes names).

Floor planners (``Assignment.planner``, default `DEFAULT_FLOOR_PLANNER`):

* "packed": a region's *shape* is the set of columns it occupies (advice and fixed columns
  it assigns, selectors it enables, and every column its enabled gates and lookups query,
  over the rows their rotations reach) with, per column, the offsets used. ``fn`` runs on a
  provisional start above every placed region; then the region is placed at the lowest start
  where each of its columns is free (a per-column skyline of next free rows) and its cells,
  the copies it added (rows at or above the provisional start) and the `Cell` / `CellRange`
  objects made while it ran move there (they resolve their row from the region's start).
  Regions whose columns are disjoint share rows; regions sharing a column never overlap,
  and a cell a gate reads at another rotation is reserved for the region whose gate reads
  it. Cells of later phases are assigned by callbacks, so a region with an
  ``after_challenges`` callback reserves every advice column of those phases over its rows.
  Rows computed inside ``fn`` from ``region.start`` or its cells are only meaningful for
  copies and cells made inside ``fn`` (they move with the region); the region's final rows
  are known once ``assign_region`` returns.
* "single": regions are stacked one after another and never share rows.

Regions are found by (column, row): ``asg.region_of(row, column)``, ``RegionInfo.columns``.

Cells of later-phase advice columns usually depend on challenges. A region registers them
with ``region.after_challenges(fn, phase=1)``: ``fn(region, challenges)`` runs once the
challenges squeezed after phase ``phase - 1`` are known (``challenges[ch]`` is an int). It
may assign only inside the rows the region already occupies, and only advice columns of
phase >= ``phase``. The phase-0 values it needs are simply captured by the closure, so the
expensive witness computation runs once.

    asg = Assignment.first_pass(cs, circuit, config, instances)   # phase 0, fixes n
    ... prover commits asg.advice_columns_of_phase(0) ...
    asg.run_phase(1, {r: value_from_transcript})                   # deferred callbacks
    ...                                                            # (asg.complete() when done)

or, for the mock prover and tests, ``synthesize(cs, circuit, config)`` which samples every
challenge at random (or takes them from ``challenges=``).

What the prover reads (everything is a plain attribute or method)
-----------------------------------------------------------------
1. gates: ``cs.gate_polynomials()`` -> [GatePolynomial(gate, name, expression)] where
   ``expression`` is already ``selector * constraint``; ``cs.compile_gates()`` compiles all of
   them into one multi-output `Program` for `evaluate_rows_multi` (on a coset: stride).
2. lookups: ``cs.lookups`` (name, inputs, table expressions, selector expression, table key)
   and ``cs.lookup_groups()`` -> {table key: [Lookup]} (lookups sharing a table).
3. permutation: ``cs.permutation_columns`` (the equality-enabled columns, in order) and
   ``asg.copies``: an (m, 4) int64 array of (column position, row, column position, row),
   positions indexing ``cs.permutation_columns``.
4. values: ``asg.advice`` / ``asg.fixed`` / ``asg.instance``: (num_columns, n, 4) arrays of
   Fr Montgomery values (``asg.advice[i]`` is column i, an (n, 4) array), with ``asg.n``, ``asg.k``, ``asg.usable_rows``; the rows
   from usable_rows on are the prover's (blinding) and are zero here.
5. phases: ``cs.num_phases``, ``column.phase``, ``cs.advice_columns_of_phase(p)``,
   ``cs.challenges_after(p)``; ``asg.challenges`` maps challenge index -> int.
"""
from __future__ import annotations

import math
import mmap
from dataclasses import dataclass

import numpy as np

from snarkgpt.field import Fr

from .expression import (ADVICE, FIXED, INSTANCE, TABLE_ROLES, Challenge, Column, Expression, Selector,
                         as_expr, compile_expressions, signed)

BLINDING_ROWS = 5
"""Rows at the end of the domain that the prover fills with random values (zero knowledge).

Each advice polynomial is opened at most at 3 points (typical rotations -1, 0, 1), the
permutation/lookup running columns at 3 (x, wx, w^last x); one more random row than there
are openings keeps the opened values independent of the witness, plus one for the quotient.
halo2 uses the same count, max(3, queries per column) + 2."""

MIN_K = 4

FLOOR_PLANNERS = ("packed", "single")
DEFAULT_FLOOR_PLANNER = "packed"
"""How `Layouter.assign_region` places regions: "packed" (regions whose columns are disjoint
share rows) or "single" (one region after another, never sharing rows)."""

__all__ = [
    "FLOOR_PLANNERS", "DEFAULT_FLOOR_PLANNER", "BLINDING_ROWS", "ConstraintSystem", "Gate", "GatePolynomial", "Lookup", "Table",
    "Layouter", "Region", "TableRegion", "Cell", "CellRange", "Assignment", "RegionInfo",
    "synthesize", "CircuitError",
]


class CircuitError(Exception):
    """A mistake in a circuit's configuration or witness assignment."""


# ---------------------------------------------------------------------------------------
# Gates, lookups, tables
# ---------------------------------------------------------------------------------------
@dataclass
class Gate:
    """A named gate: every constraint, times the selector, vanishes on every usable row."""

    name: str
    constraint_names: list[str]
    constraints: list[Expression]
    selector: Expression           # a selector query, or any expression switching it on
    selector_obj: Selector | None  # the Selector, when the gate has a simple selector

    def polynomials(self) -> list[Expression]:
        return [self.selector * c for c in self.constraints]

    def degree(self) -> int:
        return max((p.degree() for p in self.polynomials()), default=0)


@dataclass
class GatePolynomial:
    gate: Gate
    index: int          # position of the constraint in its gate
    name: str           # the constraint's name
    constraint: Expression
    expression: Expression  # selector * constraint: what must vanish


@dataclass
class Table:
    """A lookup table made of dedicated fixed columns, filled with `Layouter.assign_table`."""

    name: str
    columns: list[Column]

    def exprs(self) -> list[Expression]:
        return [c.cur() for c in self.columns]


@dataclass
class Lookup:
    """On every usable row where ``selector`` != 0, the tuple ``inputs`` equals some row of
    ``table`` (a tuple of expressions evaluated on the usable rows)."""

    name: str
    inputs: list[Expression]
    table: list[Expression]
    selector: Expression
    selector_obj: Selector | None
    table_name: str
    table_key: tuple

    def input_degree(self) -> int:
        return max(e.degree() for e in self.inputs)

    def table_degree(self) -> int:
        return max(e.degree() for e in self.table)

    def degree(self) -> int:
        """Constraint degree under the logUp layout assumed by `ConstraintSystem.degree`:

        a helper h = s / (beta + f) for this lookup alone, with f = sum_j theta^j f_j the
        compressed input tuple, constrained by  l_active * (h * (beta + f) - s) = 0  -> deg(f) + 2;
        for its table, m / (beta + t) alone:  l_active * (h' * (beta + t) - m) = 0   -> deg(t) + 2;
        one running sum: l_active * (phi(wX) - phi(X) - sum h) = 0                 -> 2.
        l_active = 1 - l_last - l_blind has degree 1. So max(d, e) + 2, at least 3. A proof
        of higher degree packs several fractions into one helper (`lookup.constraints`)."""
        d = max(self.input_degree() + 1, self.selector.degree())
        return max(3, d + 1, self.table_degree() + 2)


def _constraint_list(constraints, gate_name):
    """[(name, expr)] from a list of exprs / (name, expr) pairs / a dict."""
    if isinstance(constraints, dict):
        items = list(constraints.items())
    else:
        if isinstance(constraints, (Expression, tuple)) and not isinstance(constraints, list):
            constraints = [constraints]
        items = []
        for i, c in enumerate(constraints):
            if isinstance(c, tuple):
                if len(c) != 2 or not isinstance(c[0], str):
                    raise CircuitError(f"gate {gate_name!r}: constraints are exprs or (name, expr)")
                items.append((c[0], c[1]))
            else:
                items.append((None, c))
    out = []
    for i, (n, e) in enumerate(items):
        e = as_expr(e)
        out.append((n if n is not None else (str(e) if len(items) == 1 else f"#{i}: {e}"), e))
    if not out:
        raise CircuitError(f"gate {gate_name!r} has no constraints")
    return out


# ---------------------------------------------------------------------------------------
# The constraint system
# ---------------------------------------------------------------------------------------
# prover cost model for `choose_degree`, in units of one size-n NTT: a full-size MSM of n
# random scalars (a grand product, a lookup helper, a quotient piece) costs about MSM_COST of
# them (measured on the 2-core development machine: 22 at 2^12, 35 at 2^14, 21 at 2^16, 18
# at 2^17, 16 at 2^18); one column on one quotient coset costs about COSET_COST (its coset NTT
# and its share of the constraint evaluation). Calibrated on the base model at 2^16: a grand
# product or helper costs 65-95 ms to build and commit, a column on a coset 9 ms at degree 4
# and 12 ms at degree 5 (a longer constraint program), so degree 4 proved in 45 s and degree
# 5 in 53 s, which COSET_COST = 1.5 had ranked the other way round
# (protocol v5 commits the products of sparsely copied chunks from their few changes, which
# this model does not count; re-measured on the base model after that, degree 5 proved as
# fast as degree 4 within the noise and verified slower: docs/benchmarks.md)
MSM_COST = 25.0
COSET_COST = 3.0


def choose_degree(circuit_degree: int, permutation_columns: int, other_columns: int,
                  lookup_helpers=None) -> int:
    """The constraint degree D >= the circuit's to prove at, by estimated prover cost.

    The permutation packs D - 2 columns per grand product, so a higher D means fewer
    full-size grand-product commitments (ceil(M / (D - 2)) MSMs), but D - 1 quotient pieces
    and D - 1 quotient cosets over every column (vanishing/prover.py). ``other_columns``:
    every column the quotient evaluates besides the grand products and the lookup helpers
    (advice, multiplicities, phi, fixed, sigma, virtual); ``lookup_helpers(D)``: the number
    of logUp helper columns at degree D (a higher D packs more fractions into each; they
    are full-size commitments too)."""
    base = max(3, circuit_degree)
    M = permutation_columns

    def cost(D):
        z = -(-M // (D - 2)) if M else 0
        z += lookup_helpers(D) if lookup_helpers is not None else 0
        return (z + D - 1) * MSM_COST + (D - 1) * (other_columns + z) * COSET_COST

    return min(range(base, base + 3), key=lambda D: (cost(D), D))


class ConstraintSystem:
    """Columns, gates, lookups, copies-enabled columns and challenges of one circuit."""

    def __init__(self):
        self.advice_columns: list[Column] = []
        self.fixed_columns: list[Column] = []
        self.instance_columns: list[Column] = []
        self.selectors: list[Selector] = []
        self.challenges: list[Challenge] = []
        self.gates: list[Gate] = []
        self.lookups: list[Lookup] = []
        self.tables: list[Table] = []
        self.permutation_columns: list[Column] = []
        self._perm_pos: dict[Column, int] = {}
        self._names: dict[str, object] = {}
        self._usable: Selector | None = None
        self._compiled = None
        self.k: int | None = None          # set by the latest Assignment (first pass)
        self.num_rows: int | None = None   # rows used by the latest Assignment

    # -- columns ---------------------------------------------------------------------------
    def _name(self, name, default, obj_kind):
        name = name if name is not None else default
        if name in self._names:
            raise CircuitError(f"name {name!r} is already used ({self._names[name]})")
        self._names[name] = obj_kind
        return name

    def advice_column(self, name: str | None = None, phase: int = 0) -> Column:
        """A witness column assigned in ``phase`` (0 = before any challenge)."""
        if phase < 0:
            raise CircuitError("phase must be >= 0")
        i = len(self.advice_columns)
        col = Column(ADVICE, i, self._name(name, f"advice_{i}", "advice column"), phase=phase)
        self.advice_columns.append(col)
        self._changed()
        return col

    def fixed_column(self, name: str | None = None, role: str = "fixed") -> Column:
        i = len(self.fixed_columns)
        col = Column(FIXED, i, self._name(name, f"fixed_{i}", f"{role} column"), role=role)
        self.fixed_columns.append(col)
        self._changed()
        return col

    def committed_column(self, name: str | None = None) -> Column:
        """A column fixed at setup whose values stay private: assigned like a fixed column
        (`Region.assign_fixed_column`), the same in every proof, but the verifying key holds
        a hiding commitment to it and each proof re-randomizes it (plonk/committed/,
        docs/committed-weights.md). Its rows from ``usable_rows`` on are random, as an
        advice column's are."""
        return self.fixed_column(name if name is not None else f"committed_{len(self.fixed_columns)}",
                                 role="committed")

    @property
    def committed_columns(self) -> list[Column]:
        return [c for c in self.fixed_columns if c.role == "committed"]

    def instance_column(self, name: str | None = None) -> Column:
        i = len(self.instance_columns)
        col = Column(INSTANCE, i, self._name(name, f"instance_{i}", "instance column"))
        self.instance_columns.append(col)
        self._changed()
        return col

    def selector(self, name: str | None = None) -> Selector:
        """A simple selector (its own fixed column of 0/1, set by `Region.enable_selector`)."""
        name = name if name is not None else f"q_{len(self.selectors)}"
        sel = Selector(self.fixed_column(name, role="selector"))
        self.selectors.append(sel)
        return sel

    def table_column(self, name: str | None = None, role: str = "table") -> Column:
        """A fixed column reserved for lookup tables (assigned by `Layouter.assign_table`).
        ``role``: "table", or "weight_table" for a table column holding model weights (keygen
        then never lets a proof open it: plonk/linearization.py)."""
        if role not in TABLE_ROLES:
            raise CircuitError(f"table column role must be one of {TABLE_ROLES}, not {role!r}")
        return self.fixed_column(name if name is not None else f"table_{len(self.fixed_columns)}",
                                 role=role)

    def lookup_table(self, name: str, columns, roles=None) -> Table:
        """A named table of ``columns`` new table columns (an int, or a list of names).
        ``roles``: one role per column ("table" or "weight_table"; default all "table")."""
        names = [f"{name}.{i}" for i in range(columns)] if isinstance(columns, int) else list(columns)
        if any(t.name == name for t in self.tables):
            raise CircuitError(f"table {name!r} already exists")
        roles = ["table"] * len(names) if roles is None else list(roles)
        if len(roles) != len(names):
            raise CircuitError(f"table {name!r}: {len(roles)} roles for {len(names)} columns")
        t = Table(name, [self.table_column(n, r) for n, r in zip(names, roles)])
        self.tables.append(t)
        return t

    def challenge(self, after_phase: int = 0, name: str | None = None) -> Challenge:
        """A challenge squeezed after every advice column of ``after_phase`` is committed."""
        i = len(self.challenges)
        ch = Challenge(i, after_phase, self._name(name, f"challenge_{i}", "challenge"))
        self.challenges.append(ch)
        self._changed()
        return ch

    def enable_equality(self, column: Column) -> None:
        """Allow copy constraints on ``column`` (it joins the permutation argument)."""
        if not isinstance(column, Column):
            raise CircuitError("enable_equality takes a Column")
        if column not in self._perm_pos:
            self._perm_pos[column] = len(self.permutation_columns)
            self.permutation_columns.append(column)

    def permutation_position(self, column: Column) -> int:
        try:
            return self._perm_pos[column]
        except KeyError:
            raise CircuitError(f"{column.kind} column {column.name!r} is not equality-enabled: "
                               f"call cs.enable_equality({column.name}) when configuring") from None

    def usable_selector(self) -> Selector:
        """The built-in selector that is 1 on every usable row (used by gates and lookups
        declared without a selector). Created on first use."""
        if self._usable is None:
            self._usable = Selector(self.fixed_column("q_usable", role="usable"))
        return self._usable

    # -- constraints -----------------------------------------------------------------------
    def _selector_expr(self, selector):
        if selector is None:
            sel = self.usable_selector()
            return sel.expr(), sel
        if isinstance(selector, Selector):
            return selector.expr(), selector
        return as_expr(selector), None

    def create_gate(self, name: str, constraints, selector=None) -> Gate:
        """A named gate. ``constraints``: a list of Expressions or (name, Expression) pairs, or
        a dict name -> Expression. ``selector``: a Selector, an expression (a complex
        selector), or None for "every usable row"."""
        if any(g.name == name for g in self.gates):
            raise CircuitError(f"gate {name!r} already exists")
        items = _constraint_list(constraints, name)
        sel_expr, sel = self._selector_expr(selector)
        self._check_expr_columns([e for _, e in items] + [sel_expr], f"gate {name!r}")
        gate = Gate(name, [n for n, _ in items], [e for _, e in items], sel_expr, sel)
        self.gates.append(gate)
        self._changed()
        return gate

    def lookup(self, name: str, inputs, table, selector=None) -> Lookup:
        """Every usable row where ``selector`` != 0 must have ``inputs`` (a list of
        expressions) equal to a row of ``table`` (a `Table`, a list of table columns, or a
        list of expressions). Lookups into the same table share it."""
        if any(lk.name == name for lk in self.lookups):
            raise CircuitError(f"lookup {name!r} already exists")
        inputs = [as_expr(e) for e in (inputs if isinstance(inputs, (list, tuple)) else [inputs])]
        if isinstance(table, Table):
            tname, texprs = table.name, table.exprs()
        else:
            items = table if isinstance(table, (list, tuple)) else [table]
            texprs = [c.cur() if isinstance(c, Column) else as_expr(c) for c in items]
            named = [t for t in self.tables if [str(e) for e in t.exprs()] == [str(e) for e in texprs]]
            tname = named[0].name if named else "(" + ", ".join(str(e) for e in texprs) + ")"
        if len(inputs) != len(texprs):
            raise CircuitError(f"lookup {name!r}: {len(inputs)} inputs but the table has "
                               f"{len(texprs)} columns")
        sel_expr, sel = self._selector_expr(selector)
        self._check_expr_columns(inputs + texprs + [sel_expr], f"lookup {name!r}")
        key = tuple(str(e) for e in texprs)
        lk = Lookup(name, inputs, texprs, sel_expr, sel, tname, key)
        self.lookups.append(lk)
        self._changed()
        return lk

    def _check_expr_columns(self, exprs, what):
        cols = {ADVICE: self.advice_columns, FIXED: self.fixed_columns, INSTANCE: self.instance_columns}
        for e in exprs:
            for q in e.queries():
                c = q.column
                if c.index >= len(cols[c.kind]) or cols[c.kind][c.index].name != c.name:
                    raise CircuitError(f"{what} uses column {c.name!r} of another constraint system")
            for ch in e.challenges():
                if ch.index >= len(self.challenges):
                    raise CircuitError(f"{what} uses challenge {ch.name!r} of another constraint system")

    def _changed(self):
        self._compiled = None

    # -- phases ----------------------------------------------------------------------------
    @property
    def num_phases(self) -> int:
        """Number of advice phases (1 + the largest phase of an advice column)."""
        return 1 + max((c.phase for c in self.advice_columns), default=0)

    def advice_columns_of_phase(self, phase: int) -> list[Column]:
        return [c for c in self.advice_columns if c.phase == phase]

    def challenges_after(self, phase: int) -> list[Challenge]:
        return [c for c in self.challenges if c.after_phase == phase]

    # -- counts ----------------------------------------------------------------------------
    @property
    def num_advice(self) -> int:
        return len(self.advice_columns)

    @property
    def num_fixed(self) -> int:
        return len(self.fixed_columns)

    @property
    def num_instance(self) -> int:
        return len(self.instance_columns)

    # -- the prover's view -----------------------------------------------------------------
    def gate_polynomials(self) -> list[GatePolynomial]:
        """Every gate constraint times its selector, in gate order (the same objects on
        every call until the constraint system changes)."""
        if self._compiled is None:
            self._compiled = {}
        if "polys" not in self._compiled:
            out = []
            for g in self.gates:
                for i, (n, c) in enumerate(zip(g.constraint_names, g.constraints)):
                    out.append(GatePolynomial(g, i, n, c, g.selector * c))
            self._compiled["polys"] = out
        return list(self._compiled["polys"])

    def compile_gates(self):
        """(Program, [GatePolynomial]): all gate polynomials as one multi-output program."""
        if self._compiled is None:
            self._compiled = {}
        if "all" not in self._compiled:
            polys = self.gate_polynomials()
            self._compiled["all"] = (compile_expressions([p.expression for p in polys]), polys)
        return self._compiled["all"]

    def compile_gate(self, gate: Gate):
        """Program with one output per constraint of ``gate`` (selector included)."""
        if self._compiled is None:
            self._compiled = {}
        key = ("gate", gate.name)
        if key not in self._compiled:
            self._compiled[key] = compile_expressions(gate.polynomials())
        return self._compiled[key]

    def lookup_groups(self) -> dict[tuple, list[Lookup]]:
        """Lookups grouped by the table they read (in first-use order)."""
        groups: dict[tuple, list[Lookup]] = {}
        for lk in self.lookups:
            groups.setdefault(lk.table_key, []).append(lk)
        return groups

    # -- degree and sizes ------------------------------------------------------------------
    def max_queries_per_advice_column(self) -> int:
        rots: dict[int, set] = {}
        exprs = [p.expression for p in self.gate_polynomials()]
        for lk in self.lookups:
            exprs += lk.inputs + lk.table + [lk.selector]
        for e in exprs:
            for q in e.queries():
                if q.column.kind == ADVICE:
                    rots.setdefault(q.column.index, set()).add(q.rotation)
                elif q.column.role == "committed":     # opened like advice (re-randomized)
                    rots.setdefault(("committed", q.column.index), set()).add(q.rotation)
        return max((len(r) for r in rots.values()), default=1)

    @property
    def blinding_rows(self) -> int:
        """max(BLINDING_ROWS, queries per advice column + 2): see `BLINDING_ROWS`."""
        return max(BLINDING_ROWS, self.max_queries_per_advice_column() + 2)

    def gate_degree(self) -> int:
        return max((g.degree() for g in self.gates), default=0)

    def lookup_degree(self) -> int:
        return max((lk.degree() for lk in self.lookups), default=0)

    def degree(self) -> int:
        """Largest constraint degree the prover must support:
        max(3, gate degrees (selector included), lookup degrees (see `Lookup.degree`)).

        The permutation argument adapts to it: with degree D it multiplies D - 2 columns per
        grand-product chunk, constraint l_active * (z(wX) prod(a_j + beta*delta^j*X + gamma)
        - z(X) prod(a_j + beta*sigma_j + gamma)) of degree (D - 2) + 2 = D."""
        return max(3, self.gate_degree(), self.lookup_degree())

    def proving_degree(self) -> int:
        """The degree keygen will prove at (`choose_degree`, counting every equality column:
        keygen then drops those without copies, so this may overestimate)."""
        m = len(self.permutation_columns)
        G = len(self.lookup_groups())
        others = self.num_advice + G + (1 if G else 0) + self.num_fixed + m + 4
        return choose_degree(self.degree(), m, others, self.num_lookup_helpers)

    def num_lookup_helpers(self, degree: int) -> int:
        """logUp helper columns at this proof degree (`lookup.constraints.pack_fractions`)."""
        from .lookup.constraints import lookup_groups, pack_fractions
        return len(pack_fractions(lookup_groups(self.lookup_groups().values()), degree))

    def permutation_chunk_size(self) -> int:
        return max(1, self.proving_degree() - 2)

    def num_permutation_products(self) -> int:
        m = len(self.permutation_columns)
        return 0 if m == 0 else -(-m // self.permutation_chunk_size())

    def minimum_k(self, rows_needed: int) -> int:
        """Smallest k with rows_needed usable rows (plus the last row and blinding rows)."""
        total = rows_needed + self.blinding_rows + 1
        return max(MIN_K, math.ceil(math.log2(max(total, 2))))

    def usable_rows(self, k: int) -> int:
        return (1 << k) - self.blinding_rows - 1

    def cost(self, k: int) -> dict:
        """Estimated proof cost at 2^k rows, under the logUp and permutation layouts
        described in `Lookup.degree` and `degree`."""
        d = self.proving_degree()
        groups = self.lookup_groups()
        # m per table; the helpers (a few fractions each); one running sum phi
        lookup_commitments = (len(groups) + self.num_lookup_helpers(d)
                              + (1 if groups else 0))
        perm = self.num_permutation_products()
        quotient = d - 1
        prover_commitments = self.num_advice + lookup_commitments + perm + quotient
        n = 1 << k
        return {
            "k": k,
            "n": n,
            "degree": d,
            "quotient_cosets": d - 1,
            "extended_size": n * (d - 1),
            "advice_commitments": self.num_advice,
            "lookup_commitments": lookup_commitments,
            "permutation_products": perm,
            "quotient_pieces": quotient,
            "prover_commitments": prover_commitments,
            "verifying_key_commitments": self.num_fixed + len(self.permutation_columns),
            "msm_points": prover_commitments * n,
            "ntt_size_total": (self.num_advice + self.num_fixed + self.num_instance
                               + lookup_commitments + perm) * n * (d - 1),
        }

    def __repr__(self):
        return (f"ConstraintSystem({self.num_advice} advice, {self.num_fixed} fixed, "
                f"{self.num_instance} instance, {len(self.gates)} gates, "
                f"{len(self.lookups)} lookups, degree {self.degree()})")


# ---------------------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------------------
_RECORDING: list = []
"""The region being recorded (packed planner): cells created at or below its provisional
start follow it when it is placed."""


class Cell:
    """One assigned cell: a column and an absolute row.

    A cell of a region that is still being recorded (see `Layouter.assign_region`) keeps its
    offset in the region and resolves ``row`` from the region's start, so it stays right
    once the region is placed."""

    __slots__ = ("column", "_row", "_info")

    def __init__(self, column: Column, row: int, _info: "RegionInfo | None" = None):
        row = int(row)
        if _info is None and _RECORDING and column.kind != INSTANCE:
            rec = _RECORDING[-1]
            if row >= rec.start:
                _info, row = rec, row - rec.start
        self.column = column
        self._row = row
        self._info = _info

    @property
    def row(self) -> int:
        return self._row if self._info is None else self._info.start + self._row

    def __eq__(self, other):
        return (isinstance(other, Cell) and self.column == other.column
                and self.row == other.row)

    def __hash__(self):
        return hash((self.column, self.row))

    def __repr__(self):
        return f"Cell(column={self.column!r}, row={self.row})"

    def __str__(self):
        return f"{self.column.name}[row {self.row}]"


class CellRange:
    """Consecutive cells of one column: rows start .. start + length - 1 (``start`` resolves
    lazily, like `Cell.row`)."""

    __slots__ = ("column", "_start", "length", "_info")

    def __init__(self, column: Column, start: int, length: int,
                 _info: "RegionInfo | None" = None):
        start = int(start)
        if _info is None and _RECORDING and column.kind != INSTANCE:
            rec = _RECORDING[-1]
            if start >= rec.start:
                _info, start = rec, start - rec.start
        self.column = column
        self._start = start
        self.length = int(length)
        self._info = _info

    @property
    def start(self) -> int:
        return self._start if self._info is None else self._info.start + self._start

    def __eq__(self, other):
        return (isinstance(other, CellRange) and self.column == other.column
                and self.start == other.start and self.length == other.length)

    def __hash__(self):
        return hash((self.column, self.start, self.length))

    def __repr__(self):
        return f"CellRange(column={self.column!r}, start={self.start}, length={self.length})"

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        if isinstance(i, slice):
            lo, hi, step = i.indices(self.length)
            if step != 1:
                raise IndexError("CellRange slices must be contiguous")
            return CellRange(self.column, self._start + lo, max(0, hi - lo), self._info)
        if i < 0:
            i += self.length
        if not 0 <= i < self.length:
            raise IndexError(i)
        return Cell(self.column, self._start + i, self._info)

    def rows(self) -> np.ndarray:
        s = self.start
        return np.arange(s, s + self.length, dtype=np.int64)

    def __iter__(self):
        col, s, info = self.column, self._start, self._info
        return (Cell(col, s + i, info) for i in range(self.length))


@dataclass(eq=False)
class RegionInfo:
    """A placed region: rows [start, start + height) of the columns in ``columns``
    ({Column: (first row, end row)}, absolute, end exclusive: what the region assigned,
    enabled, or reserved for the cells its gates and lookups query)."""

    index: int
    name: str
    start: int
    height: int = 0
    columns: dict = None

    def column_names(self) -> list[str]:
        """Names of the columns of the region's shape: advice, fixed, instance, by index."""
        order = {ADVICE: 0, FIXED: 1, INSTANCE: 2}
        cols = sorted(self.columns or {}, key=lambda c: (order[c.kind], c.index))
        return [c.name for c in cols]


# ---------------------------------------------------------------------------------------
# Column buffers
# ---------------------------------------------------------------------------------------
def _column_buffer(cols: int, rows: int) -> np.ndarray:
    """A zero (cols, rows, 4) uint64 array in a private anonymous mapping: its pages get
    memory only once written, and `_keep_rows` can hand back the ones it no longer needs."""
    nbytes = cols * rows * 32
    if nbytes == 0 or not hasattr(mmap, "MAP_PRIVATE"):       # (no such mappings on Windows)
        return np.zeros((cols, rows, 4), dtype=np.uint64)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype=np.uint64).reshape(cols, rows, 4)


def _keep_rows(arr: np.ndarray, n: int) -> np.ndarray:
    """The first n rows of every column of a C-contiguous (cols, rows, 4) array, as a
    C-contiguous array that reuses (and overwrites) ``arr``'s memory: ``arr`` is consumed.

    The columns are moved down in place (column i's rows go to flat offset i * n, below every
    later column's rows; numpy copies through a buffer where a column overlaps its own new
    place), which costs no new memory; copying into a
    fresh array instead takes a page fault per 4 KiB written, several times slower. The
    freed tail goes back to the system when the buffer is a `_column_buffer`."""
    cols, rows = arr.shape[0], arr.shape[1]
    if rows == n or cols == 0 or not arr.flags.c_contiguous or not arr.flags.writeable:
        return np.ascontiguousarray(arr[:, :n])
    flat = arr.reshape(-1)
    step, keep = rows * 4, n * 4
    for i in range(1, cols):
        flat[i * keep:(i + 1) * keep] = flat[i * step:i * step + keep]
    out = flat[:cols * keep].reshape(cols, n, 4)
    buf = _mapping(arr)
    if buf is not None and hasattr(buf, "madvise") and hasattr(mmap, "MADV_DONTNEED"):
        start = -(-out.nbytes // mmap.PAGESIZE) * mmap.PAGESIZE
        if start < len(buf):
            buf.madvise(mmap.MADV_DONTNEED, start, len(buf) - start)
    return out


def _mapping(arr: np.ndarray):
    """The mmap under a `_column_buffer` array (through its chain of views), else None."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, mmap.mmap) else None


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------
def _mont_scalar(value) -> np.ndarray:
    return np.array(Fr.from_int(int(value)), dtype=np.uint64)


def _mont_vector(values) -> np.ndarray:
    """int64 array / list of ints / (m, 4) uint64 Montgomery array -> (m, 4) Montgomery."""
    if isinstance(values, np.ndarray):
        if values.dtype == np.uint64 and values.ndim == 2 and values.shape[1] == 4:
            return values
        if values.dtype.kind in "iub" and values.ndim == 1:
            if values.dtype == np.uint64 and values.size and values.max() >= 1 << 63:
                return Fr.from_ints([int(v) for v in values])
            return Fr.from_signed(values.astype(np.int64))
        if values.dtype == object and values.ndim == 1:
            return Fr.from_ints([int(v) for v in values])
        raise CircuitError(f"cannot assign an array of dtype {values.dtype} and shape {values.shape}")
    vals = [int(v) for v in values]
    if vals and all(-(1 << 62) < v < 1 << 62 for v in vals):
        return Fr.from_signed(np.array(vals, dtype=np.int64))
    return Fr.from_ints(vals)


# ---------------------------------------------------------------------------------------
# Assignment: the witness
# ---------------------------------------------------------------------------------------
class Assignment:
    """All cell values of one circuit execution, plus copies, regions and challenges.

    Attributes (see the module docstring for how the prover uses them):
      cs, k, n, usable_rows, blinding_rows
      advice, fixed, instance: (num_columns, n, 4) uint64 arrays of Fr Montgomery values;
                               ``asg.advice[i]`` is advice column i
      advice_assigned: (num_advice, n) bool, which advice cells were assigned
      regions: [RegionInfo] in creation order (start, height, columns); tables: {table name: rows}
      planner: "packed" or "single" (see the module docstring)
      copies: (m, 4) int64 (perm position, row, perm position, row)
      instance_values: the public inputs as lists of ints (one list per instance column)
      challenges: {challenge index: int}; phase: the last completed phase
    """

    def __init__(self, cs: ConstraintSystem, k: int | None = None, instances=None,
                 planner: str | None = None):
        self.cs = cs
        self.planner = planner if planner is not None else DEFAULT_FLOOR_PLANNER
        if self.planner not in FLOOR_PLANNERS:
            raise CircuitError(f"unknown floor planner {self.planner!r} (one of {FLOOR_PLANNERS})")
        self.k = k
        self.n = None if k is None else 1 << k
        self.blinding_rows = cs.blinding_rows
        self.usable_rows = None if k is None else self.n - self.blinding_rows - 1
        if k is not None and self.usable_rows <= 0:
            raise CircuitError(f"k = {k} leaves no usable rows")
        # The packed planner writes each region above all others first (rows >= _top), then
        # moves it down; near the top of a full circuit that scratch runs past n. With k known,
        # reserve n more rows up front: a `_column_buffer` maps no memory for untouched pages,
        # so the reserve costs memory only where a region lands in it, and no regrowth copies
        # every column (_close_first_pass trims the arrays to n rows in place).
        self._cap = 1024 if k is None else self.n * (2 if self.planner == "packed" else 1)
        self.advice = _column_buffer(cs.num_advice, self._cap)
        self.fixed = _column_buffer(cs.num_fixed, self._cap)
        self.instance = _column_buffer(cs.num_instance, self._cap)
        self.advice_assigned = np.zeros((cs.num_advice, self._cap), dtype=bool)
        self.regions: list[RegionInfo] = []
        self._region_starts = None
        self.tables: dict[str, int] = {}
        self._table_columns: dict[Column, str] = {}
        self._table_groups: list[tuple[str, list[Column], int]] = []
        self._cursor = 0               # rows used by regions (max start + height)
        self._top = 0                  # packed planner: first row above every region's cells
        self._next_free: dict[Column, int] = {}
        self._switch = None
        self._col_index = None
        self._span_paint = None
        self.rows_used = 0
        self._open_region = None
        self._copy_chunks: list[np.ndarray] = []
        self._copy_pending: list[tuple[int, int, int, int]] = []
        self._copies = None
        self.challenges: dict[int, int] = {}
        self.phase = -1
        self._deferred: dict[int, list] = {}
        self.complete_ = False
        self.instance_values: list[list[int]] = [[] for _ in cs.instance_columns]
        if instances is not None:
            self.set_instances(instances)

    # -- building ------------------------------------------------------------------------
    @classmethod
    def first_pass(cls, cs, circuit, config=None, instances=None, k=None,
                   planner: str | None = None) -> "Assignment":
        """Run the circuit's synthesize once (phase 0), then fix n. Later phases: run_phase.
        ``planner``: "packed" or "single" (default `DEFAULT_FLOOR_PLANNER`, or the
        circuit's ``floor_planner`` attribute)."""
        if instances is None and hasattr(circuit, "instances"):
            instances = circuit.instances()
        if planner is None:
            planner = getattr(circuit, "floor_planner", None)
        asg = cls(cs, k=k, instances=instances, planner=planner)
        layouter = Layouter(asg)
        if callable(circuit) and not hasattr(circuit, "synthesize"):
            circuit(layouter)
        elif config is None:
            circuit.synthesize(layouter)
        else:
            circuit.synthesize(config, layouter)
        asg._close_first_pass()
        return asg

    def set_instances(self, instances):
        if len(instances) != self.cs.num_instance:
            raise CircuitError(f"{len(instances)} instance columns given, the circuit has "
                               f"{self.cs.num_instance}")
        self.instance_values = [[int(v) for v in col] for col in instances]
        for i, vals in enumerate(self.instance_values):
            if len(vals) > self._cap and self.k is None:
                self._grow(len(vals))
            if len(vals) > self._limit():
                raise CircuitError(f"instance column {i} has {len(vals)} values, more than the "
                                   f"{self._limit()} usable rows")
            self.instance[i][:] = 0
            if vals:
                self.instance[i][:len(vals)] = _mont_vector(vals)

    def _limit(self) -> int:
        """Rows that may be assigned now."""
        if self.usable_rows is not None:
            return self.usable_rows
        return 1 << 40

    def _grow(self, rows: int):
        if rows <= self._cap:
            return
        if (self.k is not None or self.n is not None) and not (self.phase < 0 and self.planner == "packed"):
            raise CircuitError(f"the circuit needs {rows} rows but only {self.usable_rows} are "
                               f"usable at k = {self.k}")
        cap = max(self._cap * 2, 1 << math.ceil(math.log2(rows)))

        def grow(arr):
            out = _column_buffer(arr.shape[0], cap)
            out[:, : self._cap] = arr
            return out

        self.advice = grow(self.advice)
        self.fixed = grow(self.fixed)
        self.instance = grow(self.instance)
        m = np.zeros((self.cs.num_advice, cap), dtype=bool)
        m[:, : self._cap] = self.advice_assigned
        self.advice_assigned = m
        self._cap = cap

    def _close_first_pass(self):
        rows = max([self._cursor] + list(self.tables.values())
                   + [len(v) for v in self.instance_values])
        self.rows_used = rows
        if self.k is None:
            self.k = self.cs.minimum_k(rows)
            self.n = 1 << self.k
            self.usable_rows = self.n - self.blinding_rows - 1
            if self.n > self._cap:
                self._grow_exact(self.n)
            elif self.n < self._cap:
                self._shrink(self.n)
        elif rows > self.usable_rows:
            raise CircuitError(f"the circuit needs {rows} rows but only {self.usable_rows} are "
                               f"usable at k = {self.k}")
        elif self._cap != self.n:
            self._shrink(self.n)            # the packed planner's scratch rows, now empty
        # pad each table with its first row, so that unassigned rows add no new entry
        for name, cols, size in self._table_groups:
            if size == 0:
                raise CircuitError(f"table {name!r} is empty")
            for c in cols:
                arr = self.fixed[c.index]
                arr[size:self.usable_rows] = arr[0]
        self.phase = 0
        self.cs.k, self.cs.num_rows = self.k, rows
        self._maybe_complete()

    def _grow_exact(self, n):
        saved_k, saved_n = self.k, self.n
        self.k = self.n = None
        self._grow(n)
        self.k, self.n = saved_k, saved_n
        if self._cap != n:
            self._shrink(n)

    def _shrink(self, n):
        self.advice = _keep_rows(self.advice, n)
        self.fixed = _keep_rows(self.fixed, n)
        self.instance = _keep_rows(self.instance, n)
        self.advice_assigned = np.ascontiguousarray(self.advice_assigned[:, :n])
        self._cap = n

    def run_phase(self, phase: int, challenges) -> None:
        """Give the challenges squeezed after phase ``phase - 1`` (mapping Challenge or
        index -> int; more may be given) and run the callbacks of phase ``phase``."""
        if phase != self.phase + 1:
            raise CircuitError(f"phase {phase} cannot run now: the last completed phase is {self.phase}")
        given = {(c.index if isinstance(c, Challenge) else int(c)): int(v)
                 for c, v in dict(challenges or {}).items()}
        for ch in self.cs.challenges:
            if ch.after_phase <= phase - 1 and ch.index not in self.challenges:
                if ch.index not in given:
                    raise CircuitError(f"challenge {ch.name!r} (after phase {ch.after_phase}) "
                                       f"needs a value to run phase {phase}")
                self.challenges[ch.index] = given[ch.index] % Fr.modulus
        for region, fn in self._deferred.pop(phase, []):
            region._phase = phase
            fn(region, _ChallengeView(self.cs, self.challenges))
            region._phase = None
        self.phase = phase
        self._maybe_complete()

    def complete(self, challenges=None, rng=None) -> None:
        """Run every remaining phase, taking challenge values from ``challenges`` (mapping
        Challenge or index -> int) or sampling them uniformly (``rng``: numpy Generator)."""
        given = {(c.index if isinstance(c, Challenge) else int(c)): int(v)
                 for c, v in dict(challenges or {}).items()}

        def value(ch):
            if ch.index in given:
                return given[ch.index]
            if rng is not None:
                return int(Fr.to_int(Fr.random(1, rng)[0]))
            return Fr.random_int()

        last = max([self.cs.num_phases - 1] + list(self._deferred) + [c.after_phase + 1 for c in self.cs.challenges])
        while self.phase < last:
            p = self.phase + 1
            vals = {ch.index: value(ch) for ch in self.cs.challenges
                    if ch.after_phase == p - 1 and ch.index not in self.challenges}
            self.run_phase(p, vals)
        self._maybe_complete()

    def _maybe_complete(self):
        pending = any(self._deferred.values())
        missing = [c for c in self.cs.challenges if c.index not in self.challenges]
        if not pending and not missing and self.phase >= self.cs.num_phases - 1:
            self._finalize()

    def _finalize(self):
        if self.complete_:
            return
        usable = self.cs._usable
        if usable is not None:
            arr = self.fixed[usable.column.index]
            arr[:] = 0
            arr[: self.usable_rows] = np.array(Fr.one_limbs, dtype=np.uint64)
        self.complete_ = True

    @property
    def is_complete(self) -> bool:
        """True once every phase ran and every challenge has a value."""
        return self.complete_

    # -- cell writing (used by Region) -----------------------------------------------------
    def _columns_of(self, column: Column):
        if column.kind == ADVICE:
            return self.advice
        if column.kind == FIXED:
            return self.fixed
        return self.instance

    def _write(self, column: Column, row: int, value):
        self._columns_of(column)[column.index][row] = _mont_scalar(value)
        if column.kind == ADVICE:
            self.advice_assigned[column.index, row] = True

    def _write_vector(self, column: Column, row: int, values) -> int:
        mont = _mont_vector(values)
        m = mont.shape[0]
        self._columns_of(column)[column.index][row: row + m] = mont
        if column.kind == ADVICE:
            self.advice_assigned[column.index, row: row + m] = True
        return m

    def _add_copy(self, a: Cell, b: Cell):
        pa = self.cs.permutation_position(a.column)
        pb = self.cs.permutation_position(b.column)
        self._copy_pending.append((pa, a.row, pb, b.row))
        self._copies = None
        if len(self._copy_pending) >= 4096:
            self._flush_copies()

    def _add_copy_range(self, a: CellRange, b: CellRange):
        if len(a) != len(b):
            raise CircuitError(f"copy between ranges of different lengths {len(a)} and {len(b)}")
        pa = self.cs.permutation_position(a.column)
        pb = self.cs.permutation_position(b.column)
        arr = np.empty((len(a), 4), dtype=np.int64)
        arr[:, 0] = pa
        arr[:, 1] = a.rows()
        arr[:, 2] = pb
        arr[:, 3] = b.rows()
        self._flush_copies()
        self._copy_chunks.append(arr)
        self._copies = None

    def _flush_copies(self):
        if self._copy_pending:
            self._copy_chunks.append(np.array(self._copy_pending, dtype=np.int64).reshape(-1, 4))
            self._copy_pending = []

    @property
    def copies(self) -> np.ndarray:
        """(m, 4) int64 rows (perm position a, row a, perm position b, row b)."""
        if self._copies is None:
            self._flush_copies()
            copies = (np.concatenate(self._copy_chunks) if self._copy_chunks
                      else np.zeros((0, 4), dtype=np.int64))
            if self._open_region is not None:
                return copies          # the open region's copies may still move
            self._copies = copies
            self._copy_chunks = [self._copies] if len(self._copies) else []
        return self._copies

    # -- reading ---------------------------------------------------------------------------
    def column_values(self, column: Column) -> np.ndarray:
        """The (n, 4) Montgomery array of ``column``."""
        return self._columns_of(column)[column.index]

    def value(self, column: Column, row: int) -> int:
        """Canonical int in [0, r)."""
        return Fr.to_int(self.column_values(column)[row])

    def signed_value(self, column: Column, row: int) -> int:
        return signed(self.value(column, row))

    def signed_values(self, column: Column, start: int = 0, length: int | None = None) -> np.ndarray:
        """int64 values of a column slice (raises if some value is not a small integer)."""
        arr = self.column_values(column)
        end = arr.shape[0] if length is None else start + length
        return Fr.to_signed(np.ascontiguousarray(arr[start:end]))

    def set_cell(self, column: Column, row: int, value: int) -> None:
        """Overwrite one cell (for tests and audits: tamper with a witness)."""
        self._columns_of(column)[column.index][row] = _mont_scalar(value)

    def advice_columns_of_phase(self, phase: int) -> list[np.ndarray]:
        """The (n, 4) value arrays of the advice columns of ``phase`` (views)."""
        return [self.advice[c.index] for c in self.cs.advice_columns_of_phase(phase)]

    # -- placement (used by Layouter) ------------------------------------------------------
    def _switch_map(self) -> dict:
        """{fixed column: {column: (lo, hi)}}: writing a non-zero value at row i of a selector
        (or of a fixed column in a complex selector) switches on gates and lookups that query
        each column at rows i + lo .. i + hi - 1."""
        if self._switch is None:
            cs = self.cs
            items = [(g.selector, g.constraints) for g in cs.gates]
            items += [(lk.selector, lk.inputs) for lk in cs.lookups]
            out: dict = {}
            for sel, exprs in items:
                sq = [q for q in sel.queries() if q.column.kind == FIXED and q.column.role != "usable"]
                if not sq:
                    continue
                rots: dict = {}
                for e in list(exprs) + [sel]:
                    for q in e.queries():
                        lo, hi = rots.get(q.column, (q.rotation, q.rotation))
                        rots[q.column] = (min(lo, q.rotation), max(hi, q.rotation))
                smin, smax = min(q.rotation for q in sq), max(q.rotation for q in sq)
                for q in sq:
                    d = out.setdefault(q.column, {})
                    for c, (lo, hi) in rots.items():
                        a, b = lo - smax, hi - smin + 1
                        if c in d:
                            a, b = min(a, d[c][0]), max(b, d[c][1])
                        d[c] = (a, b)
            self._switch = out
        return self._switch

    def _place(self, region: "Region", n_chunks: int | None) -> None:
        """Choose the start of a region whose fn has run (packed: the lowest row at which every
        column of its shape is free, from a per-column skyline), move its cells and copies
        there, and record its columns."""
        info = region._info
        h = info.height
        foot = region._foot
        if region._later is not None and h > 0:
            # cells of later phases are assigned by callbacks: reserve their columns
            later = region._later_cols
            for c in self.cs.advice_columns if later is None else later:
                if c.phase >= region._later:
                    lo, hi = foot.get(c, (0, h))
                    foot[c] = (min(lo, 0), max(hi, h))
        foot = {c: ab for c, ab in foot.items() if ab[1] > ab[0]}
        if self.planner == "packed":
            s0 = info.start
            nf = self._next_free
            start = 0
            for c, (lo, hi) in foot.items():
                f = nf.get(c, 0)
                if f > 0 and f - lo > start:
                    start = f - lo
            lim = self._limit()
            if start + h > lim:
                raise CircuitError(f"region {info.name!r} needs row {start + h - 1} but only {lim} "
                                   f"rows are usable at k = {self.k}")
            if start != s0:
                self._relocate(region, s0, start, n_chunks)
            info.start = start
            top = start + h
            for c, (lo, hi) in foot.items():
                if start + hi > nf.get(c, 0):
                    nf[c] = start + hi
                top = max(top, start + hi)
            self._top = max(self._top, top)
        start = info.start
        info.columns = {c: (start + lo, start + hi) for c, (lo, hi) in foot.items()}
        self._cursor = max(self._cursor, start + h)
        self._col_index = None
        self._span_paint = None

    def _relocate(self, region: "Region", s0: int, start: int, n_chunks: int) -> None:
        delta = start - s0
        self._grow(max([start + hi for _, hi in region._written.values()], default=0))
        for c, (lo, hi) in region._written.items():
            arr = self._columns_of(c)[c.index]
            tmp = arr[s0 + lo: s0 + hi].copy()
            arr[s0 + lo: s0 + hi] = 0
            arr[start + lo: start + hi] = tmp
            if c.kind == ADVICE:
                m = self.advice_assigned[c.index]
                tmp = m[s0 + lo: s0 + hi].copy()
                m[s0 + lo: s0 + hi] = False
                m[start + lo: start + hi] = tmp
        self._flush_copies()
        if len(self._copy_chunks) > n_chunks:
            inst = np.array([c.kind == INSTANCE for c in self.cs.permutation_columns] + [False])
            for arr in self._copy_chunks[n_chunks:]:
                for side in (1, 3):
                    m = (arr[:, side] >= s0) & ~inst[arr[:, side - 1]]
                    arr[m, side] += delta
            self._copies = None

    # -- regions ---------------------------------------------------------------------------
    def _column_index(self) -> dict:
        if self._col_index is None:
            per: dict = {}
            for r in self.regions:
                for c, (a, b) in (r.columns or {}).items():
                    per.setdefault(c, []).append((a, b, r.index))
            idx = {}
            for c, lst in per.items():
                lst.sort()
                arr = np.array(lst, dtype=np.int64).reshape(-1, 3)
                idx[c] = (arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy())
            self._col_index = idx
        return self._col_index

    def _spans(self) -> np.ndarray:
        """For each row, the first region (in creation order) whose rows contain it."""
        if self._span_paint is None:
            top = max([r.start + r.height for r in self.regions] + [0])
            paint = np.full(top, -1, dtype=np.int64)
            for r in reversed(self.regions):
                if r.height:
                    paint[max(r.start, 0): r.start + r.height] = r.index
            self._span_paint = paint
        return self._span_paint

    def regions_of_rows(self, rows, column: Column | None = None) -> np.ndarray:
        """Index into ``regions`` of the region owning each row (-1: none). With ``column``:
        the region whose shape holds that column at the row (regions placed side by side
        share rows); without: the first region whose rows contain the row."""
        rows = np.asarray(rows, dtype=np.int64)
        if not self.regions:
            return np.full(rows.shape, -1, dtype=np.int64)
        if column is not None:
            idx = self._column_index().get(column)
            if idx is not None:
                st, en, ix = idx
                i = np.searchsorted(st, rows, side="right") - 1
                j = np.maximum(i, 0)
                ok = (i >= 0) & (rows < en[j])
                return np.where(ok, ix[j], -1)
        paint = self._spans()
        ok = (rows >= 0) & (rows < paint.shape[0])
        return np.where(ok, paint[np.clip(rows, 0, max(paint.shape[0] - 1, 0))] if paint.size else -1, -1)

    def region_map(self, column: Column | None = None) -> np.ndarray:
        """(n,) int64: for each row (of ``column``), the index in ``regions`` of the region
        owning it (-1: none). Region names: ``[r.name for r in asg.regions]``."""
        return self.regions_of_rows(np.arange(self.n if self.n is not None else self._cap), column)

    def region_of(self, row: int, column: Column | None = None) -> str | None:
        """Name of what assigned ``row`` (of ``column``): a region, a table, an instance."""
        if column is not None:
            if column in self._table_columns:
                return f"table {self._table_columns[column]}"
            if column.kind == INSTANCE:
                return "instance"
        if self.usable_rows is not None and row >= self.usable_rows:
            return "(unusable rows)"
        i = int(self.regions_of_rows([row], column)[0])
        return self.regions[i].name if i >= 0 else None

    def rows_per_region(self) -> dict[str, int]:
        """Total height of the regions of each name, in first-use order (regions placed side
        by side each count their own height)."""
        out: dict[str, int] = {}
        for r in self.regions:
            out[r.name] = out.get(r.name, 0) + r.height
        return out

    def columns_per_region(self) -> dict[str, list[str]]:
        """Names of the columns the regions of each name occupy, in first-use order."""
        out: dict[str, dict] = {}
        for r in self.regions:
            d = out.setdefault(r.name, {})
            for name in r.column_names():
                d[name] = None
        return {k: list(v) for k, v in out.items()}

    def __repr__(self):
        return (f"Assignment(k={self.k}, rows used {self._cursor}, {len(self.regions)} regions, "
                f"{len(self.copies)} copies, phase {self.phase})")


class _ChallengeView:
    """Challenge values for deferred callbacks: ``ch[challenge]`` -> int."""

    def __init__(self, cs, values):
        self._cs = cs
        self._values = values

    def __getitem__(self, ch):
        idx = ch.index if isinstance(ch, Challenge) else int(ch)
        if idx not in self._values:
            name = self._cs.challenges[idx].name
            raise CircuitError(f"challenge {name!r} is not known in this phase")
        return self._values[idx]

    def __contains__(self, ch):
        return (ch.index if isinstance(ch, Challenge) else int(ch)) in self._values

    def mont(self, ch) -> tuple:
        """The value as a Montgomery limb tuple (for kernels)."""
        return Fr.from_int(self[ch])


# ---------------------------------------------------------------------------------------
# Layouter and regions
# ---------------------------------------------------------------------------------------
class Layouter:
    """Places regions (see `Assignment.planner`: "packed" puts a region at the lowest rows
    where its columns are free, "single" stacks regions one after another) and tables at
    row 0 of their columns."""

    def __init__(self, asg: Assignment, prefix: str = ""):
        self.asg = asg
        self.prefix = prefix
        self.cs = asg.cs

    def namespace(self, name: str) -> "Layouter":
        """A layouter whose region names are prefixed by ``name.``."""
        return Layouter(self.asg, f"{self.prefix}{name}.")

    def assign_region(self, name: str, fn):
        """Run ``fn(region)`` on a new region, then place it; returns what fn returns.

        Packed planner: fn runs on a provisional start above every placed region (so rows it
        computes from ``region.start`` or from its cells, and copies it adds, are rows of
        this region only); then the region moves to the lowest start where its columns are
        free, with its cells, its copies and the `Cell` / `CellRange` objects it made."""
        asg = self.asg
        if asg._open_region is not None:
            raise CircuitError(f"region {name!r} opened inside region {asg._open_region.name!r}")
        if asg.phase >= 0:
            raise CircuitError("regions can only be created during the first synthesis pass")
        packed = asg.planner == "packed"
        info = RegionInfo(len(asg.regions), self.prefix + name, asg._top if packed else asg._cursor, 0, {})
        region = Region(asg, info)
        n_chunks = None
        if packed:
            asg._flush_copies()
            n_chunks = len(asg._copy_chunks)
            _RECORDING.append(info)
        asg._open_region = region
        try:
            result = fn(region)
        finally:
            asg._open_region = None
            if packed:
                _RECORDING.pop()
        region._phase = None
        asg._place(region, n_chunks)
        asg.regions.append(info)
        return result

    def assign_table(self, name: str, fn):
        """Run ``fn(table_region)`` to fill lookup-table columns from row 0."""
        asg = self.asg
        tr = TableRegion(asg, self.prefix + name)
        result = fn(tr)
        if not tr.columns:
            raise CircuitError(f"table {name!r} assigned no column")
        sizes = {c.name: tr.sizes[c] for c in tr.columns}
        if len(set(sizes.values())) != 1:
            raise CircuitError(f"table {name!r}: columns have different lengths {sizes}")
        size = next(iter(sizes.values()))
        asg.tables[tr.name] = size
        asg._table_groups.append((tr.name, list(tr.columns), size))
        return result

    def constrain_equal(self, a, b) -> None:
        """Copy constraint(s) between cells of regions already placed (see
        `Region.constrain_equal`)."""
        if isinstance(a, Cell) and isinstance(b, Cell):
            self.asg._add_copy(a, b)
        elif isinstance(a, CellRange) and isinstance(b, CellRange):
            self.asg._add_copy_range(a, b)
        else:
            raise CircuitError("constrain_equal takes two Cells or two CellRanges")

    def constrain_instance(self, cell: Cell, instance_column: Column, row: int) -> None:
        """Copy constraint between ``cell`` and row ``row`` of an instance column."""
        if instance_column.kind != INSTANCE:
            raise CircuitError(f"{instance_column.name!r} is not an instance column")
        self.asg._add_copy(cell, Cell(instance_column, int(row)))

    @property
    def phase(self) -> int:
        return 0

    def challenge_value(self, challenge: Challenge) -> int:
        if challenge.index in self.asg.challenges:
            return self.asg.challenges[challenge.index]
        raise CircuitError(f"challenge {challenge.name!r} is not known while phase 0 is "
                           "synthesized: assign cells that need it in region.after_challenges")


class Region:
    """Rows [start, start + height) of the circuit, assigned by one named operation."""

    def __init__(self, asg: Assignment, info: RegionInfo):
        self._asg = asg
        self._info = info
        self._phase = 0
        self._foot: dict = {}      # shape: column -> (lo, hi) offsets (assigned or queried)
        self._written: dict = {}   # column -> (lo, hi) offsets assigned in phase 0
        self._later = None         # the earliest phase of an after_challenges callback
        self._later_cols = None    # the columns those callbacks declared (None: every one)

    def _touch(self, column: Column, lo: int, hi: int, written: bool = True) -> None:
        if hi <= lo:
            return
        f = self._foot.get(column)
        self._foot[column] = (lo, hi) if f is None else (min(f[0], lo), max(f[1], hi))
        if written:
            w = self._written.get(column)
            self._written[column] = (lo, hi) if w is None else (min(w[0], lo), max(w[1], hi))

    def _switched(self, column: Column, lo: int, hi: int) -> None:
        """``column`` (a selector) is non-zero somewhere in offsets [lo, hi): reserve the
        cells its gates and lookups query."""
        if hi <= lo:
            return
        for c, (a, b) in self._asg._switch_map().get(column, {}).items():
            self._touch(c, lo + a, hi + b - 1, written=False)

    def _wrote(self, column: Column, offset: int, count: int, row: int) -> None:
        """Phase-0 bookkeeping of a write of ``count`` cells at ``offset`` (row ``row``)."""
        if self._phase != 0 or not count:
            return
        self._touch(column, offset, offset + count)
        if column.kind == FIXED and column in self._asg._switch_map():
            vals = self._asg.fixed[column.index][row: row + count]
            nz = np.flatnonzero(vals.any(axis=1))
            if nz.size:
                self._switched(column, offset + int(nz[0]), offset + int(nz[-1]) + 1)

    @property
    def name(self) -> str:
        return self._info.name

    @property
    def start(self) -> int:
        return self._info.start

    @property
    def height(self) -> int:
        return self._info.height

    def _rows(self, offset: int, count: int, what: str) -> int:
        if offset < 0 or count < 0:
            raise CircuitError(f"region {self.name!r}: negative offset in {what}")
        row = self._info.start + offset
        end = row + count
        if self._phase is None:
            raise CircuitError(f"region {self.name!r} is closed")
        if self._phase > 0:
            if offset + count > self._info.height:
                raise CircuitError(f"region {self.name!r}: a phase-{self._phase} callback "
                                   f"assigned offset {offset + count - 1}, beyond the region's "
                                   f"height {self._info.height}; reserve rows with region.reserve()")
        else:
            lim = self._asg._limit()
            last = (offset + count if self._asg.planner == "packed" else end)
            if last > lim:
                raise CircuitError(f"region {self.name!r} needs row {last - 1} but only {lim} rows "
                                   f"are usable at k = {self._asg.k}")
            self._asg._grow(end)
            if count:
                self._info.height = max(self._info.height, offset + count)
        return row

    def _check_column(self, column: Column, kind: str):
        if column.kind != kind:
            raise CircuitError(f"{column.name!r} is a {column.kind} column, not {kind}")
        if kind == FIXED and column.role in TABLE_ROLES + ("usable",):
            raise CircuitError(f"{column.name!r} is a {column.role} column: fill tables with "
                               "layouter.assign_table")
        if kind == ADVICE and self._phase and column.phase < self._phase:
            raise CircuitError(f"region {self.name!r}: advice column {column.name!r} (phase "
                               f"{column.phase}) is already committed in phase {self._phase}")
        if kind == ADVICE and self._phase and self._later_cols is not None \
                and column not in self._later_cols:
            raise CircuitError(f"region {self.name!r}: column {column.name!r} was not declared in "
                               "after_challenges(columns=...), so its rows were not reserved")

    def reserve(self, height: int) -> None:
        """Make the region at least ``height`` rows tall (rows for later-phase cells)."""
        if height > 0:
            self._rows(0, height, "reserve")

    # -- assignments -------------------------------------------------------------------
    def assign_advice(self, column: Column, offset: int, value: int) -> Cell:
        self._check_column(column, ADVICE)
        row = self._rows(offset, 1, "assign_advice")
        self._asg._write(column, row, value)
        self._wrote(column, offset, 1, row)
        return Cell(column, row)

    def assign_advice_column(self, column: Column, offset: int, values) -> CellRange:
        """Assign consecutive cells from ``values``: an int64 numpy array (signed values), a
        list of ints, or an (m, 4) uint64 array of Fr Montgomery values."""
        self._check_column(column, ADVICE)
        m = len(values)
        row = self._rows(offset, m, "assign_advice_column")
        self._asg._write_vector(column, row, values)
        self._wrote(column, offset, m, row)
        return CellRange(column, row, m)

    def assign_fixed(self, column: Column, offset: int, value: int) -> Cell:
        self._check_column(column, FIXED)
        row = self._rows(offset, 1, "assign_fixed")
        self._asg._write(column, row, value)
        self._wrote(column, offset, 1, row)
        return Cell(column, row)

    def assign_fixed_column(self, column: Column, offset: int, values) -> CellRange:
        self._check_column(column, FIXED)
        m = len(values)
        row = self._rows(offset, m, "assign_fixed_column")
        self._asg._write_vector(column, row, values)
        self._wrote(column, offset, m, row)
        return CellRange(column, row, m)

    def enable_selector(self, selector: Selector, offset: int = 0, count: int = 1) -> None:
        """Set ``selector`` to 1 on ``count`` rows from ``offset``."""
        if not isinstance(selector, Selector):
            raise CircuitError("enable_selector takes a Selector")
        if selector.column.role == "usable":
            raise CircuitError("the usable-rows selector is set automatically")
        row = self._rows(offset, count, "enable_selector")
        self._asg.fixed[selector.column.index][row: row + count] = np.array(Fr.one_limbs, dtype=np.uint64)
        if self._phase == 0 and count > 0:
            self._touch(selector.column, offset, offset + count)
            self._switched(selector.column, offset, offset + count)

    # -- copies ------------------------------------------------------------------------
    def constrain_equal(self, a, b) -> None:
        """Copy constraint(s): two Cells, or two CellRanges of equal length (elementwise)."""
        if isinstance(a, Cell) and isinstance(b, Cell):
            self._asg._add_copy(a, b)
        elif isinstance(a, CellRange) and isinstance(b, CellRange):
            self._asg._add_copy_range(a, b)
        else:
            raise CircuitError("constrain_equal takes two Cells or two CellRanges")

    copy = constrain_equal

    def copy_advice(self, src, column: Column, offset: int):
        """Assign ``src``'s value(s) (a Cell or CellRange) into ``column`` at ``offset`` and
        constrain them equal. Returns the new Cell / CellRange."""
        asg = self._asg
        if isinstance(src, CellRange):
            vals = np.ascontiguousarray(asg.column_values(src.column)[src.start: src.start + src.length])
            dst = self.assign_advice_column(column, offset, vals)
        else:
            dst = self.assign_advice(column, offset, asg.value(src.column, src.row))
        self.constrain_equal(src, dst)
        return dst

    def constrain_instance(self, cell: Cell, instance_column: Column, row: int) -> None:
        if instance_column.kind != INSTANCE:
            raise CircuitError(f"{instance_column.name!r} is not an instance column")
        self._asg._add_copy(cell, Cell(instance_column, int(row)))

    # -- later phases --------------------------------------------------------------------
    def after_challenges(self, fn, phase: int = 1, columns=None) -> None:
        """Run ``fn(region, challenges)`` in ``phase`` (once the challenges squeezed after
        phase ``phase - 1`` are known). It may assign advice columns of phase >= ``phase``
        within the region's rows.

        ``columns``: the later-phase columns ``fn`` writes. The packed planner must reserve
        them before they are written; declared, only they are reserved (and writing another
        column is an error); undeclared, every advice column of those phases is reserved over
        the region's rows, which keeps regions with callbacks from sharing rows."""
        if phase < 1:
            raise CircuitError("after_challenges needs phase >= 1")
        if self._phase != 0:
            raise CircuitError("after_challenges must be called during the first pass")
        if columns is not None:
            columns = list(columns)
            early = [c.name for c in columns if c.kind != ADVICE or c.phase < phase]
            if early:
                raise CircuitError(f"after_challenges(columns=...): {early} are not advice "
                                   f"columns of phase >= {phase}")
            if self._later is not None and self._later_cols is None:
                columns = None          # an earlier undeclared callback reserves everything
            else:
                columns = set(columns) | (self._later_cols or set())
        elif self._later is not None:
            columns = None
        self._later_cols = columns
        self._later = phase if self._later is None else min(self._later, phase)
        self._asg._deferred.setdefault(phase, []).append((self, fn))

    # -- reading -------------------------------------------------------------------------
    def value(self, cell: Cell) -> int:
        return self._asg.value(cell.column, cell.row)

    def signed_value(self, cell: Cell) -> int:
        return self._asg.signed_value(cell.column, cell.row)

    def __repr__(self):
        return f"Region({self.name!r}, rows {self.start}..{self.start + self.height - 1})"


class TableRegion:
    """Fills lookup-table columns from row 0 (see `Layouter.assign_table`)."""

    def __init__(self, asg: Assignment, name: str):
        self._asg = asg
        self.name = name
        self.columns: list[Column] = []
        self.sizes: dict[Column, int] = {}

    def _claim(self, column: Column, end: int):
        asg = self._asg
        if column.kind != FIXED or column.role not in TABLE_ROLES:
            raise CircuitError(f"{column.name!r} is not a table column (cs.table_column / cs.lookup_table)")
        owner = asg._table_columns.get(column)
        if owner is not None and owner != self.name:
            raise CircuitError(f"table column {column.name!r} was already filled by table {owner!r}")
        if end > asg._limit():
            raise CircuitError(f"table {self.name!r} needs {end} rows, more than the usable rows")
        asg._grow(end)
        asg._table_columns[column] = self.name
        if column not in self.sizes:
            self.columns.append(column)
            self.sizes[column] = 0
        self.sizes[column] = max(self.sizes[column], end)

    def assign_cell(self, column: Column, offset: int, value: int) -> None:
        self._claim(column, offset + 1)
        self._asg._write(column, offset, value)

    def assign_column(self, column: Column, values, offset: int = 0) -> None:
        values = values if isinstance(values, np.ndarray) else list(values)
        self._claim(column, offset + len(values))
        self._asg._write_vector(column, offset, values)


def synthesize(cs: ConstraintSystem, circuit, config=None, instances=None, k=None,
               challenges=None, rng=None, planner: str | None = None) -> Assignment:
    """Every phase at once: first pass, then later phases with the given challenge values
    (mapping Challenge or index -> int) or uniformly random ones (``rng``: a numpy
    Generator for reproducible draws). For the mock prover and tests; a prover interleaves
    commitments with `Assignment.run_phase` instead."""
    asg = Assignment.first_pass(cs, circuit, config, instances, k, planner=planner)
    asg.complete(challenges, rng)
    return asg
