"""The floor planner: where each region of a witness goes.

* "packed" (the default): a region's *shape* is the set of columns it occupies (advice and
  fixed columns it assigns, selectors it enables, and every column its enabled gates and
  lookups query, over the rows their rotations reach) with, per column, the offsets used.
  The region's fn runs on a provisional start above every placed region; then the region is
  placed at the lowest start where each of its columns is free (a per-column skyline of next
  free rows) and its cells, the copies it added (rows at or above the provisional start) and
  the `Cell` / `CellRange` objects made while it ran move there (they resolve their row from
  the region's start). Regions whose columns are disjoint share rows; regions sharing a
  column never overlap, and a cell a gate reads at another rotation is reserved for the
  region whose gate reads it. Cells of later phases are assigned by callbacks, so a region
  with an ``after_challenges`` callback reserves every advice column of those phases over
  its rows (or only the columns it declared).
* "single": regions are stacked one after another and never share rows.

`RegionShape` records a region's shape while its fn runs; `FloorPlanner` keeps the skyline
and chooses starts; `Assignment.place` moves the region's cells (assignment.py).
"""
from __future__ import annotations

from functools import cached_property

from .errors import CircuitError
from .expression import FIXED, Column

__all__ = ["FLOOR_PLANNERS", "DEFAULT_FLOOR_PLANNER", "FloorPlanner", "RegionShape",
           "switch_map"]

FLOOR_PLANNERS = ("packed", "single")
DEFAULT_FLOOR_PLANNER = "packed"
"""How `Layouter.assign_region` places regions: "packed" (regions whose columns are disjoint
share rows) or "single" (one region after another, never sharing rows)."""


def switch_map(cs) -> dict:
    """{fixed column: {column: (lo, hi)}}: writing a non-zero value at row i of a selector
    (or of a fixed column in a complex selector) switches on gates and lookups that query
    each column at rows i + lo .. i + hi - 1."""
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
    return out


class RegionShape:
    """The cells a region occupies, recorded while its fn runs, as offsets from its start.

    ``columns``: {column: (lo, hi)} offsets assigned, enabled or queried by its gates and
    lookups; ``written``: the offsets assigned in phase 0 (what moves when it is placed);
    ``later_phase`` / ``later_columns``: the earliest phase of its ``after_challenges``
    callbacks and the columns they declared (None: every advice column of those phases)."""

    __slots__ = ("columns", "written", "later_phase", "later_columns")

    def __init__(self):
        self.columns: dict[Column, tuple[int, int]] = {}
        self.written: dict[Column, tuple[int, int]] = {}
        self.later_phase: int | None = None
        self.later_columns: set | None = None

    def touch(self, column: Column, lo: int, hi: int, written: bool = True) -> None:
        """Offsets [lo, hi) of ``column`` belong to the region (``written``: assigned)."""
        if hi <= lo:
            return
        f = self.columns.get(column)
        self.columns[column] = (lo, hi) if f is None else (min(f[0], lo), max(f[1], hi))
        if written:
            w = self.written.get(column)
            self.written[column] = (lo, hi) if w is None else (min(w[0], lo), max(w[1], hi))

    def switch_on(self, switches: dict, column: Column, lo: int, hi: int) -> None:
        """``column`` (a selector) is non-zero somewhere in offsets [lo, hi): reserve the
        cells its gates and lookups query (``switches``: `switch_map`)."""
        if hi <= lo:
            return
        for c, (a, b) in switches.get(column, {}).items():
            self.touch(c, lo + a, hi + b - 1, written=False)

    def defer(self, phase: int, columns) -> None:
        """An ``after_challenges`` callback of ``phase`` writing ``columns`` (None: undeclared,
        every advice column of the later phases is reserved)."""
        if columns is not None:
            if self.later_phase is not None and self.later_columns is None:
                columns = None          # an earlier undeclared callback reserves everything
            else:
                columns = set(columns) | (self.later_columns or set())
        self.later_columns = columns
        self.later_phase = phase if self.later_phase is None else min(self.later_phase, phase)

    def occupied(self, cs, height: int) -> dict:
        """The shape to place: the recorded columns, plus the later-phase columns reserved over
        the region's ``height`` rows, without empty ranges."""
        foot = self.columns
        if self.later_phase is not None and height > 0:
            # cells of later phases are assigned by callbacks: reserve their columns
            for c in cs.advice_columns if self.later_columns is None else self.later_columns:
                if c.phase >= self.later_phase:
                    lo, hi = foot.get(c, (0, height))
                    foot[c] = (min(lo, 0), max(hi, height))
        return {c: ab for c, ab in foot.items() if ab[1] > ab[0]}


class FloorPlanner:
    """The rows regions occupy so far, and where the next one goes.

    ``cursor``: rows used by regions (the largest start + height); ``top`` (packed): the
    first row above every region's cells, where the next region is recorded; ``next_free``
    (packed): the skyline, {column: first free row}."""

    def __init__(self, kind: str, cs):
        if kind not in FLOOR_PLANNERS:
            raise CircuitError(f"unknown floor planner {kind!r} (one of {FLOOR_PLANNERS})")
        self.kind = kind
        self.packed = kind == "packed"
        self.cs = cs
        self.cursor = 0
        self.top = 0
        self.next_free: dict[Column, int] = {}

    @cached_property
    def switches(self) -> dict:
        """`switch_map` of the constraint system (computed once, at the first region)."""
        return switch_map(self.cs)

    def provisional_start(self) -> int:
        """Where the next region's fn runs: above every region (packed), or after the last."""
        return self.top if self.packed else self.cursor

    def lowest_start(self, shape: dict) -> int:
        """Packed: the lowest start at which every column of ``shape`` is free."""
        start = 0
        for c, (lo, hi) in shape.items():
            f = self.next_free.get(c, 0)
            if f > 0 and f - lo > start:
                start = f - lo
        return start

    def occupy(self, shape: dict, start: int, height: int) -> None:
        """A region of ``shape`` and ``height`` rows now starts at ``start``."""
        if self.packed:
            nf = self.next_free
            top = start + height
            for c, (lo, hi) in shape.items():
                if start + hi > nf.get(c, 0):
                    nf[c] = start + hi
                top = max(top, start + hi)
            self.top = max(self.top, top)
        self.cursor = max(self.cursor, start + height)
