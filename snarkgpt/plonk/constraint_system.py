"""The constraint system: the columns, gates, lookups, copy-enabled columns and challenges
of a circuit.

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

What the prover reads
---------------------
1. gates: ``cs.gate_polynomials()`` -> [GatePolynomial(gate, name, expression)] where
   ``expression`` is already ``selector * constraint``; ``cs.compile_gates()`` compiles all of
   them into one multi-output `Program` for `evaluate_rows_multi` (on a coset: stride).
2. lookups: ``cs.lookups`` (name, inputs, table expressions, selector expression, table key)
   and ``cs.lookup_groups()`` -> {table key: [Lookup]} (lookups sharing a table).
3. permutation: ``cs.permutation_columns`` (the equality-enabled columns, in order).
4. phases: ``cs.num_phases``, ``column.phase``, ``cs.advice_columns_of_phase(p)``,
   ``cs.challenges_after(p)``.
The witness side (values, copies, challenge values) is the `Assignment` (assignment.py).
"""
from __future__ import annotations

import math

from .constraints import Gate, GatePolynomial, Lookup, Table, constraint_list
from .degree import choose_degree
from .errors import CircuitError
from .expression import ADVICE, FIXED, INSTANCE, LINK, TABLE_ROLES, Challenge, Column, Selector, as_expr
from .row_program import compile_expressions

__all__ = ["ConstraintSystem", "BLINDING_ROWS", "MIN_K"]

BLINDING_ROWS = 5
"""Rows at the end of the domain that the prover fills with random values (zero knowledge).

Each advice polynomial is opened at most at 3 points (typical rotations -1, 0, 1), the
permutation/lookup running columns at 3 (x, wx, w^last x); one more random row than there
are openings keeps the opened values independent of the witness, plus one for the quotient.
halo2 uses the same count, max(3, queries per column) + 2."""

MIN_K = 4


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
        self._compiled: dict = {}          # gate polynomials and programs, until a change
        self.k: int | None = None          # set by the latest Assignment (first pass)
        self.num_rows: int | None = None   # rows used by the latest Assignment
        self.min_blinding_rows = 0          # a chain's common blinding rows (`blinding_rows`)
        self.chip_context = None
        """The gadget layer's state on this system (`snarkgpt.gadgets.base.ChipContext`: its
        layout modes and shared column pools), set by the first chip configured on it. The
        proof system never reads it."""

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

    def link_column(self, name: str) -> Column:
        """A phase-0 witness column shared with a neighbouring circuit (a segment of a chain,
        docs/protocol.md "Segments and links"): equality-enabled, committed in the proof's
        first round, before any challenge, with blinding rows derived from the proof's link
        seed and the column's name, so two circuits that lay out the same values in
        same-named link columns of one domain commit to the same point."""
        i = len(self.advice_columns)
        col = Column(ADVICE, i, self._name(name, None, "link column"), phase=0, role=LINK)
        self.advice_columns.append(col)
        self.enable_equality(col)
        self._changed()
        return col

    @property
    def link_columns(self) -> list[Column]:
        return [c for c in self.advice_columns if c.role == LINK]

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

    def is_equality_enabled(self, column: Column) -> bool:
        return column in self._perm_pos

    def permutation_position(self, column: Column) -> int:
        try:
            return self._perm_pos[column]
        except KeyError:
            raise CircuitError(f"{column.kind} column {column.name!r} is not equality-enabled: "
                               f"call cs.enable_equality({column.name}) when configuring") from None

    def usable_selector(self, create: bool = True) -> Selector | None:
        """The built-in selector that is 1 on every usable row (used by gates and lookups
        declared without a selector). Created on first use (``create=False``: None until
        then)."""
        if self._usable is None and create:
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
        items = constraint_list(constraints, name)
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
        self._compiled = {}

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
        if "polys" not in self._compiled:
            out = []
            for g in self.gates:
                for i, (n, c) in enumerate(zip(g.constraint_names, g.constraints)):
                    out.append(GatePolynomial(g, i, n, c, g.selector * c))
            self._compiled["polys"] = out
        return list(self._compiled["polys"])

    def compile_gates(self):
        """(Program, [GatePolynomial]): all gate polynomials as one multi-output program."""
        if "all" not in self._compiled:
            polys = self.gate_polynomials()
            self._compiled["all"] = (compile_expressions([p.expression for p in polys]), polys)
        return self._compiled["all"]

    def compile_gate(self, gate: Gate):
        """Program with one output per constraint of ``gate`` (selector included)."""
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
        """max(BLINDING_ROWS, queries per advice column + 2, ``min_blinding_rows``): see
        `BLINDING_ROWS`. A link column's polynomial is opened by two proofs (both
        neighbours), so it needs twice its queries + 2 (docs/protocol.md, "Segments and
        links"); a chain sets ``min_blinding_rows`` so that all its segments share one
        domain layout."""
        q = self.max_queries_per_advice_column()
        links = 2 * q + 2 if self.link_columns else 0
        return max(BLINDING_ROWS, q + 2, links, self.min_blinding_rows)

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
