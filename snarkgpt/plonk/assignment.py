"""The witness of one circuit execution: `Assignment` (cell values, copies, regions, tables
and challenge values), and `synthesize`.

Writing a witness (two phases, halo2's challenge API)
-----------------------------------------------------
A circuit object has ``synthesize(config, layouter)`` (see examples.py). It is called once.
Inside, ``layouter.assign_region(name, fn)`` calls ``fn(region)`` right away; the region
assigns cells at offsets relative to its start and is as tall as the largest offset it used
(or ``region.reserve(h)``). Every cell belongs to the region that assigned it; the region's
name is what failures report (a later layer uses names of model ops such as
``h.2.attn.softmax``; ``layouter.namespace("h.2")`` prefixes names). Where regions go is the
floor planner's choice (``Assignment.planner``: planner.py). Rows computed inside ``fn`` from
``region.start`` or its cells are only meaningful for copies and cells made inside ``fn``
(they move with the region); the region's final rows are known once ``assign_region``
returns. Regions are found by (column, row): ``asg.region_of(row, column)``,
``RegionInfo.columns``.

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

What the prover reads
---------------------
* values: ``asg.advice`` / ``asg.fixed`` / ``asg.instance``: (num_columns, n, 4) arrays of
  Fr Montgomery values (``asg.advice[i]`` is column i, an (n, 4) array), with ``asg.n``,
  ``asg.k``, ``asg.usable_rows``; the rows from usable_rows on are the prover's (blinding)
  and are zero here;
* copies: ``asg.copies``, an (m, 4) int64 array of (column position, row, column position,
  row), positions indexing ``cs.permutation_columns``;
* phases: ``asg.challenges`` maps challenge index -> int.
"""
from __future__ import annotations

import numpy as np

from snarkgpt.field import Fr

from .cells import Cell, CellRange, RegionInfo
from .column_store import ColumnStore, mont_scalar, mont_vector
from .constraint_system import ConstraintSystem
from .copies import CopyList
from .errors import CircuitError
from .expression import INSTANCE, Challenge, Column, signed
from .layouter import Layouter, Region
from .planner import DEFAULT_FLOOR_PLANNER, FloorPlanner
from .region_index import RegionIndex

__all__ = ["Assignment", "synthesize"]


class Assignment:
    """All cell values of one circuit execution, plus copies, regions and challenges.

    Attributes (see the module docstring for how the prover uses them):
      cs, k, n, usable_rows, blinding_rows
      advice, fixed, instance: (num_columns, n, 4) uint64 arrays of Fr Montgomery values;
                               ``asg.advice[i]`` is advice column i
      advice_assigned: (num_advice, n) bool, which advice cells were assigned
      regions: [RegionInfo] in creation order (start, height, columns); tables: {table name: rows}
      planner: "packed" or "single" (planner.py)
      copies: (m, 4) int64 (perm position, row, perm position, row)
      instance_values: the public inputs as lists of ints (one list per instance column)
      challenges: {challenge index: int}; phase: the last completed phase

    Its parts: ``store`` (the value arrays, column_store.py), ``copy_list`` (copies.py),
    ``floor_planner`` (where regions go, planner.py) and ``region_index`` (which region owns
    a row, region_index.py).
    """

    def __init__(self, cs: ConstraintSystem, k: int | None = None, instances=None,
                 planner: str | None = None):
        self.cs = cs
        self.floor_planner = FloorPlanner(planner if planner is not None else DEFAULT_FLOOR_PLANNER, cs)
        self.k = k
        self.n = None if k is None else 1 << k
        self.blinding_rows = cs.blinding_rows
        self.usable_rows = None if k is None else self.n - self.blinding_rows - 1
        if k is not None and self.usable_rows <= 0:
            raise CircuitError(f"k = {k} leaves no usable rows")
        # The packed planner writes each region above all others first (rows >= its top), then
        # moves it down; near the top of a full circuit that scratch runs past n. With k known,
        # reserve n more rows up front: a `column_buffer` maps no memory for untouched pages,
        # so the reserve costs memory only where a region lands in it, and no regrowth copies
        # every column (_close_first_pass trims the arrays to n rows in place).
        rows = 1024 if k is None else self.n * (2 if self.floor_planner.packed else 1)
        self.store = ColumnStore(cs.num_advice, cs.num_fixed, cs.num_instance, rows)
        self.regions: list[RegionInfo] = []
        self.region_index = RegionIndex(self.regions)
        self.tables: dict[str, int] = {}
        self._table_columns: dict[Column, str] = {}     # table column -> its table's name
        self._table_groups: list[tuple[str, list[Column], int]] = []
        self.rows_used = 0
        self.open_region: Region | None = None           # the region whose fn is running
        self.copy_list = CopyList()
        self.challenges: dict[int, int] = {}
        self.phase = -1
        self._deferred: dict[int, list] = {}             # phase -> [(region, fn)]
        self._complete = False
        self.instance_values: list[list[int]] = [[] for _ in cs.instance_columns]
        if instances is not None:
            self.set_instances(instances)

    # -- the values (held by the store) ----------------------------------------------------
    @property
    def advice(self) -> np.ndarray:
        return self.store.advice

    @advice.setter
    def advice(self, value):       # the prover drops the arrays it no longer needs
        self.store.advice = value

    @property
    def fixed(self) -> np.ndarray:
        return self.store.fixed

    @fixed.setter
    def fixed(self, value):
        self.store.fixed = value

    @property
    def instance(self) -> np.ndarray:
        return self.store.instance

    @instance.setter
    def instance(self, value):
        self.store.instance = value

    @property
    def advice_assigned(self) -> np.ndarray:
        return self.store.advice_assigned

    @property
    def planner(self) -> str:
        """The floor planner: "packed" or "single" (planner.py)."""
        return self.floor_planner.kind

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
            if len(vals) > self.store.rows and self.k is None:
                self.ensure_rows(len(vals))
            if len(vals) > self.row_limit():
                raise CircuitError(f"instance column {i} has {len(vals)} values, more than the "
                                   f"{self.row_limit()} usable rows")
            self.instance[i][:] = 0
            if vals:
                self.instance[i][:len(vals)] = mont_vector(vals)

    def row_limit(self) -> int:
        """Rows that may be assigned now."""
        if self.usable_rows is not None:
            return self.usable_rows
        return 1 << 40

    def ensure_rows(self, rows: int) -> None:
        """Room for ``rows`` rows in the store, which grows only while n is unknown (or in the
        packed planner's first pass, for its scratch rows above n)."""
        if rows <= self.store.rows:
            return
        scratch = self.phase < 0 and self.floor_planner.packed
        if (self.k is not None or self.n is not None) and not scratch:
            raise CircuitError(f"the circuit needs {rows} rows but only {self.usable_rows} are "
                               f"usable at k = {self.k}")
        self.store.grow(rows)

    def _close_first_pass(self):
        rows = max([self.floor_planner.cursor] + list(self.tables.values())
                   + [len(v) for v in self.instance_values])
        self.rows_used = rows
        if self.k is None:
            self.k = self.cs.minimum_k(rows)
            self.n = 1 << self.k
            self.usable_rows = self.n - self.blinding_rows - 1
        elif rows > self.usable_rows:
            raise CircuitError(f"the circuit needs {rows} rows but only {self.usable_rows} are "
                               f"usable at k = {self.k}")
        self.store.resize(self.n)           # (the packed planner's scratch rows are empty now)
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

    # -- later phases ----------------------------------------------------------------------
    def defer(self, phase: int, region: Region, fn) -> None:
        """Run ``fn(region, challenges)`` in ``phase`` (see `Region.after_challenges`)."""
        self._deferred.setdefault(phase, []).append((region, fn))

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
            region.run_later(phase, fn, ChallengeView(self.cs, self.challenges))
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

        last = max([self.cs.num_phases - 1] + list(self._deferred)
                   + [c.after_phase + 1 for c in self.cs.challenges])
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
        if self._complete:
            return
        usable = self.cs.usable_selector(create=False)
        if usable is not None:
            arr = self.fixed[usable.column.index]
            arr[:] = 0
            arr[: self.usable_rows] = np.array(Fr.one_limbs, dtype=np.uint64)
        self._complete = True

    @property
    def is_complete(self) -> bool:
        """True once every phase ran and every challenge has a value."""
        return self._complete

    # -- writing (used by the layouter's regions) ------------------------------------------
    def write(self, column: Column, row: int, value) -> None:
        self.store.write(column, row, value)

    def write_vector(self, column: Column, row: int, values) -> int:
        return self.store.write_vector(column, row, values)

    def set_cell(self, column: Column, row: int, value: int) -> None:
        """Overwrite one cell (for tests and audits: tamper with a witness)."""
        self.store.column(column)[row] = mont_scalar(value)

    # -- copies ------------------------------------------------------------------------------
    def add_copy(self, a: Cell, b: Cell) -> None:
        pa = self.cs.permutation_position(a.column)
        pb = self.cs.permutation_position(b.column)
        self.copy_list.add(pa, a.row, pb, b.row)

    def add_copy_range(self, a: CellRange, b: CellRange) -> None:
        if len(a) != len(b):
            raise CircuitError(f"copy between ranges of different lengths {len(a)} and {len(b)}")
        pa = self.cs.permutation_position(a.column)
        pb = self.cs.permutation_position(b.column)
        arr = np.empty((len(a), 4), dtype=np.int64)
        arr[:, 0] = pa
        arr[:, 1] = a.rows()
        arr[:, 2] = pb
        arr[:, 3] = b.rows()
        self.copy_list.add_rows(arr)

    def add_copy_rows(self, rows: np.ndarray) -> None:
        """Copies given as an (m, 4) int64 array (perm position, row, perm position, row)."""
        self.copy_list.add_rows(rows)

    @property
    def copies(self) -> np.ndarray:
        """(m, 4) int64 rows (perm position a, row a, perm position b, row b)."""
        return self.copy_list.array(final=self.open_region is None)  # an open region may still move

    # -- reading ---------------------------------------------------------------------------
    def column_values(self, column: Column) -> np.ndarray:
        """The (n, 4) Montgomery array of ``column``."""
        return self.store.column(column)

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

    def advice_columns_of_phase(self, phase: int) -> list[np.ndarray]:
        """The (n, 4) value arrays of the advice columns of ``phase`` (views)."""
        return [self.advice[c.index] for c in self.cs.advice_columns_of_phase(phase)]

    # -- placement (used by the layouter) --------------------------------------------------
    def place(self, region: Region, copies_mark: int | None) -> None:
        """Choose the start of a region whose fn has run (packed: the lowest row at which every
        column of its shape is free), move its cells and its copies (those added after
        ``copies_mark``) there, and record its columns."""
        info = region.info
        h = info.height
        shape = region.shape.occupied(self.cs, h)
        planner = self.floor_planner
        if planner.packed:
            start = planner.lowest_start(shape)
            lim = self.row_limit()
            if start + h > lim:
                raise CircuitError(f"region {info.name!r} needs row {start + h - 1} but only {lim} "
                                   f"rows are usable at k = {self.k}")
            if start != info.start:
                self._move(region, info.start, start, copies_mark)
            info.start = start
        planner.occupy(shape, info.start, h)
        info.columns = {c: (info.start + lo, info.start + hi) for c, (lo, hi) in shape.items()}
        self.region_index.changed()

    def _move(self, region: Region, s0: int, start: int, copies_mark: int) -> None:
        """Move a region's phase-0 cells and its copies from start ``s0`` to ``start``."""
        written = region.shape.written
        self.ensure_rows(max([start + hi for _, hi in written.values()], default=0))
        for c, (lo, hi) in written.items():
            self.store.move(c, s0 + lo, s0 + hi, start + lo)
        self.copy_list.shift_rows(copies_mark, s0, start - s0, self.cs.permutation_columns)

    # -- tables (used by the layouter) ------------------------------------------------------
    def claim_table_column(self, column: Column, table: str) -> None:
        """``column`` holds (part of) lookup table ``table`` (a column serves one table)."""
        self._table_columns[column] = table

    def add_table(self, name: str, columns: list[Column], size: int) -> None:
        """Table ``name`` fills rows [0, size) of ``columns``."""
        self.tables[name] = size
        self._table_groups.append((name, list(columns), size))

    def table_of(self, column: Column) -> str | None:
        """The name of the table that filled ``column``, if any."""
        return self._table_columns.get(column)

    # -- regions ---------------------------------------------------------------------------
    def regions_of_rows(self, rows, column: Column | None = None) -> np.ndarray:
        """Index into ``regions`` of the region owning each row (-1: none). With ``column``:
        the region whose shape holds that column at the row (regions placed side by side
        share rows); without: the first region whose rows contain the row."""
        return self.region_index.regions_of_rows(rows, column)

    def region_map(self, column: Column | None = None) -> np.ndarray:
        """(n,) int64: for each row (of ``column``), the index in ``regions`` of the region
        owning it (-1: none). Region names: ``[r.name for r in asg.regions]``."""
        return self.regions_of_rows(np.arange(self.n if self.n is not None else self.store.rows), column)

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
        return (f"Assignment(k={self.k}, rows used {self.floor_planner.cursor}, "
                f"{len(self.regions)} regions, {len(self.copies)} copies, phase {self.phase})")


class ChallengeView:
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


def synthesize(cs: ConstraintSystem, circuit, config=None, instances=None, k=None,
               challenges=None, rng=None, planner: str | None = None) -> Assignment:
    """Every phase at once: first pass, then later phases with the given challenge values
    (mapping Challenge or index -> int) or uniformly random ones (``rng``: a numpy
    Generator for reproducible draws). For the mock prover and tests; a prover interleaves
    commitments with `Assignment.run_phase` instead."""
    asg = Assignment.first_pass(cs, circuit, config, instances, k, planner=planner)
    asg.complete(challenges, rng)
    return asg
