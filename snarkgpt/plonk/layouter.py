"""Laying out a witness: `Layouter` (opens regions, fills tables), `Region` (assigns cells
at offsets from its start) and `TableRegion` (fills lookup-table columns from row 0).

They write into an `Assignment` (assignment.py), which places each region when its fn has
run (the floor planner: planner.py).
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

import numpy as np

from snarkgpt.field import Fr

from .cells import Cell, CellRange, RegionInfo, recording
from .errors import CircuitError
from .expression import ADVICE, FIXED, INSTANCE, TABLE_ROLES, Challenge, Column, Selector
from .planner import RegionShape

if TYPE_CHECKING:
    from .assignment import Assignment

__all__ = ["Layouter", "Region", "TableRegion"]


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
        if asg.open_region is not None:
            raise CircuitError(f"region {name!r} opened inside region {asg.open_region.name!r}")
        if asg.phase >= 0:
            raise CircuitError("regions can only be created during the first synthesis pass")
        packed = asg.floor_planner.packed
        info = RegionInfo(len(asg.regions), self.prefix + name,
                          asg.floor_planner.provisional_start(), 0, {})
        region = Region(asg, info)
        copies_mark = asg.copy_list.mark() if packed else None
        with recording(info) if packed else nullcontext():
            asg.open_region = region
            try:
                result = fn(region)
            finally:
                asg.open_region = None
        region.close()
        asg.place(region, copies_mark)
        asg.regions.append(info)
        return result

    def assign_table(self, name: str, fn):
        """Run ``fn(table_region)`` to fill lookup-table columns from row 0."""
        tr = TableRegion(self.asg, self.prefix + name)
        result = fn(tr)
        if not tr.columns:
            raise CircuitError(f"table {name!r} assigned no column")
        sizes = {c.name: tr.sizes[c] for c in tr.columns}
        if len(set(sizes.values())) != 1:
            raise CircuitError(f"table {name!r}: columns have different lengths {sizes}")
        self.asg.add_table(tr.name, tr.columns, next(iter(sizes.values())))
        return result

    def constrain_equal(self, a, b) -> None:
        """Copy constraint(s) between cells of regions already placed (see
        `Region.constrain_equal`)."""
        if isinstance(a, Cell) and isinstance(b, Cell):
            self.asg.add_copy(a, b)
        elif isinstance(a, CellRange) and isinstance(b, CellRange):
            self.asg.add_copy_range(a, b)
        else:
            raise CircuitError("constrain_equal takes two Cells or two CellRanges")

    def constrain_instance(self, cell: Cell, instance_column: Column, row: int) -> None:
        """Copy constraint between ``cell`` and row ``row`` of an instance column."""
        if instance_column.kind != INSTANCE:
            raise CircuitError(f"{instance_column.name!r} is not an instance column")
        self.asg.add_copy(cell, Cell(instance_column, int(row)))

    @property
    def phase(self) -> int:
        return 0

    def challenge_value(self, challenge: Challenge) -> int:
        if challenge.index in self.asg.challenges:
            return self.asg.challenges[challenge.index]
        raise CircuitError(f"challenge {challenge.name!r} is not known while phase 0 is "
                           "synthesized: assign cells that need it in region.after_challenges")


class Region:
    """Rows [start, start + height) of the circuit, assigned by one named operation.

    While its fn runs (phase 0) it records its ``shape`` (planner.py); callbacks registered
    with `after_challenges` assign later-phase cells inside its rows (`run_later`)."""

    def __init__(self, asg: Assignment, info: RegionInfo):
        self.asg = asg
        self.info = info
        self.shape = RegionShape()
        self._phase: int | None = 0     # the phase assigning now (None: closed)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def start(self) -> int:
        return self.info.start

    @property
    def height(self) -> int:
        return self.info.height

    def close(self) -> None:
        """The region's fn (or a callback) returned: no more cells."""
        self._phase = None

    def run_later(self, phase: int, fn, challenges) -> None:
        """Run an `after_challenges` callback ``fn(region, challenges)`` of ``phase``."""
        self._phase = phase
        fn(self, challenges)
        self.close()

    # -- bookkeeping ---------------------------------------------------------------------
    def _wrote(self, column: Column, offset: int, count: int, row: int) -> None:
        """Phase-0 bookkeeping of a write of ``count`` cells at ``offset`` (row ``row``)."""
        if self._phase != 0 or not count:
            return
        self.shape.touch(column, offset, offset + count)
        if column.kind == FIXED and column in self.asg.floor_planner.switches:
            vals = self.asg.fixed[column.index][row: row + count]
            nz = np.flatnonzero(vals.any(axis=1))
            if nz.size:
                self.shape.switch_on(self.asg.floor_planner.switches, column,
                                     offset + int(nz[0]), offset + int(nz[-1]) + 1)

    def _rows(self, offset: int, count: int, what: str) -> int:
        if offset < 0 or count < 0:
            raise CircuitError(f"region {self.name!r}: negative offset in {what}")
        row = self.info.start + offset
        end = row + count
        if self._phase is None:
            raise CircuitError(f"region {self.name!r} is closed")
        if self._phase > 0:
            if offset + count > self.info.height:
                raise CircuitError(f"region {self.name!r}: a phase-{self._phase} callback "
                                   f"assigned offset {offset + count - 1}, beyond the region's "
                                   f"height {self.info.height}; reserve rows with region.reserve()")
        else:
            lim = self.asg.row_limit()
            last = (offset + count if self.asg.floor_planner.packed else end)
            if last > lim:
                raise CircuitError(f"region {self.name!r} needs row {last - 1} but only {lim} rows "
                                   f"are usable at k = {self.asg.k}")
            self.asg.ensure_rows(end)
            if count:
                self.info.height = max(self.info.height, offset + count)
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
        later = self.shape.later_columns
        if kind == ADVICE and self._phase and later is not None and column not in later:
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
        self.asg.write(column, row, value)
        self._wrote(column, offset, 1, row)
        return Cell(column, row)

    def assign_advice_column(self, column: Column, offset: int, values) -> CellRange:
        """Assign consecutive cells from ``values``: an int64 numpy array (signed values), a
        list of ints, or an (m, 4) uint64 array of Fr Montgomery values."""
        self._check_column(column, ADVICE)
        m = len(values)
        row = self._rows(offset, m, "assign_advice_column")
        self.asg.write_vector(column, row, values)
        self._wrote(column, offset, m, row)
        return CellRange(column, row, m)

    def assign_fixed(self, column: Column, offset: int, value: int) -> Cell:
        self._check_column(column, FIXED)
        row = self._rows(offset, 1, "assign_fixed")
        self.asg.write(column, row, value)
        self._wrote(column, offset, 1, row)
        return Cell(column, row)

    def assign_fixed_column(self, column: Column, offset: int, values) -> CellRange:
        self._check_column(column, FIXED)
        m = len(values)
        row = self._rows(offset, m, "assign_fixed_column")
        self.asg.write_vector(column, row, values)
        self._wrote(column, offset, m, row)
        return CellRange(column, row, m)

    def enable_selector(self, selector: Selector, offset: int = 0, count: int = 1) -> None:
        """Set ``selector`` to 1 on ``count`` rows from ``offset``."""
        if not isinstance(selector, Selector):
            raise CircuitError("enable_selector takes a Selector")
        if selector.column.role == "usable":
            raise CircuitError("the usable-rows selector is set automatically")
        row = self._rows(offset, count, "enable_selector")
        self.asg.fixed[selector.column.index][row: row + count] = np.array(Fr.one_limbs, dtype=np.uint64)
        if self._phase == 0 and count > 0:
            self.shape.touch(selector.column, offset, offset + count)
            self.shape.switch_on(self.asg.floor_planner.switches, selector.column, offset, offset + count)

    # -- copies ------------------------------------------------------------------------
    def constrain_equal(self, a, b) -> None:
        """Copy constraint(s): two Cells, or two CellRanges of equal length (elementwise)."""
        if isinstance(a, Cell) and isinstance(b, Cell):
            self.asg.add_copy(a, b)
        elif isinstance(a, CellRange) and isinstance(b, CellRange):
            self.asg.add_copy_range(a, b)
        else:
            raise CircuitError("constrain_equal takes two Cells or two CellRanges")

    copy = constrain_equal

    def copy_advice(self, src, column: Column, offset: int):
        """Assign ``src``'s value(s) (a Cell or CellRange) into ``column`` at ``offset`` and
        constrain them equal. Returns the new Cell / CellRange."""
        asg = self.asg
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
        self.asg.add_copy(cell, Cell(instance_column, int(row)))

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
        self.shape.defer(phase, columns)
        self.asg.defer(phase, self, fn)

    # -- reading -------------------------------------------------------------------------
    def value(self, cell: Cell) -> int:
        return self.asg.value(cell.column, cell.row)

    def signed_value(self, cell: Cell) -> int:
        return self.asg.signed_value(cell.column, cell.row)

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
        owner = asg.table_of(column)
        if owner is not None and owner != self.name:
            raise CircuitError(f"table column {column.name!r} was already filled by table {owner!r}")
        if end > asg.row_limit():
            raise CircuitError(f"table {self.name!r} needs {end} rows, more than the usable rows")
        asg.ensure_rows(end)
        asg.claim_table_column(column, self.name)
        if column not in self.sizes:
            self.columns.append(column)
            self.sizes[column] = 0
        self.sizes[column] = max(self.sizes[column], end)

    def assign_cell(self, column: Column, offset: int, value: int) -> None:
        self._claim(column, offset + 1)
        self._asg.write(column, offset, value)

    def assign_column(self, column: Column, values, offset: int = 0) -> None:
        values = values if isinstance(values, np.ndarray) else list(values)
        self._claim(column, offset + len(values))
        self._asg.write_vector(column, offset, values)
