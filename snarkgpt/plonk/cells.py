"""Assigned cells: `Cell` (one cell), `CellRange` (consecutive cells of a column) and
`RegionInfo` (a placed region: its name, rows and columns)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .expression import ADVICE, FIXED, INSTANCE, Column

__all__ = ["Cell", "CellRange", "RegionInfo", "recording"]


_RECORDING: list = []
"""The region being recorded (packed planner): cells created at or above its provisional
start follow it when it is placed (see `recording`)."""


@contextmanager
def recording(info: "RegionInfo"):
    """While a packed region's fn runs: the `Cell` / `CellRange` objects made at or above its
    provisional start keep their offset in it, so they move with it when it is placed."""
    _RECORDING.append(info)
    try:
        yield
    finally:
        _RECORDING.pop()


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
