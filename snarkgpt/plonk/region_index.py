"""Which region owns a row: `RegionIndex`, for failure reports and the region map.

Regions placed side by side share rows, so a row is looked up in a column (the region whose
shape holds that column at the row) or, without a column, in the regions' rows (the first
region, in creation order, whose rows contain it). Both lookups are vectorised over rows.
"""
from __future__ import annotations

import numpy as np

from .cells import RegionInfo
from .expression import Column

__all__ = ["RegionIndex"]


class RegionIndex:
    """Lookups over a list of placed regions (rebuilt on first use after `changed`)."""

    def __init__(self, regions: list[RegionInfo]):
        self.regions = regions
        self._by_column: dict | None = None   # column -> (starts, ends, region indices), sorted
        self._paint: np.ndarray | None = None  # row -> first region whose rows contain it

    def changed(self) -> None:
        """A region was placed: rebuild the lookups when next needed."""
        self._by_column = None
        self._paint = None

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

    def _column_index(self) -> dict:
        if self._by_column is None:
            per: dict = {}
            for r in self.regions:
                for c, (a, b) in (r.columns or {}).items():
                    per.setdefault(c, []).append((a, b, r.index))
            idx = {}
            for c, lst in per.items():
                lst.sort()
                arr = np.array(lst, dtype=np.int64).reshape(-1, 3)
                idx[c] = (arr[:, 0].copy(), arr[:, 1].copy(), arr[:, 2].copy())
            self._by_column = idx
        return self._by_column

    def _spans(self) -> np.ndarray:
        """For each row, the first region (in creation order) whose rows contain it."""
        if self._paint is None:
            top = max([r.start + r.height for r in self.regions] + [0])
            paint = np.full(top, -1, dtype=np.int64)
            for r in reversed(self.regions):
                if r.height:
                    paint[max(r.start, 0): r.start + r.height] = r.index
            self._paint = paint
        return self._paint
