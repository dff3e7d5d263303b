"""Copy constraints as a circuit adds them: `CopyList`.

A copy constraint is a row (position a, row a, position b, row b) of an (m, 4) int64 array,
positions indexing ``cs.permutation_columns``. Single copies are buffered and flushed in
chunks, ranges of copies arrive as chunks; the list is one array once read.
"""
from __future__ import annotations

import numpy as np

from .expression import INSTANCE

__all__ = ["CopyList"]


class CopyList:
    """The copy constraints of one witness, in the order they were added."""

    FLUSH_AT = 4096
    """Single copies buffered before they become a chunk."""

    def __init__(self):
        self._chunks: list[np.ndarray] = []
        self._pending: list[tuple[int, int, int, int]] = []
        self._array: np.ndarray | None = None      # every chunk as one array, once read

    def add(self, pos_a: int, row_a: int, pos_b: int, row_b: int) -> None:
        self._pending.append((pos_a, row_a, pos_b, row_b))
        self._array = None
        if len(self._pending) >= self.FLUSH_AT:
            self._flush()

    def add_rows(self, rows: np.ndarray) -> None:
        """Add an (m, 4) int64 array of copies (kept as it is: not to be reused)."""
        self._flush()
        self._chunks.append(rows)
        self._array = None

    def mark(self) -> int:
        """A mark of the copies so far: `shift_rows` moves only those added after it."""
        self._flush()
        return len(self._chunks)

    def shift_rows(self, mark: int, from_row: int, delta: int, columns) -> None:
        """Add ``delta`` to every row >= ``from_row`` of the copies added since ``mark``
        (a region moved), except rows of instance columns, which stay where they are
        (``columns``: the permutation columns, which the positions index)."""
        self._flush()
        if len(self._chunks) > mark:
            instance = np.array([c.kind == INSTANCE for c in columns] + [False])
            for arr in self._chunks[mark:]:
                for side in (1, 3):
                    m = (arr[:, side] >= from_row) & ~instance[arr[:, side - 1]]
                    arr[m, side] += delta
            self._array = None

    def array(self, final: bool = True) -> np.ndarray:
        """Every copy as one (m, 4) int64 array. ``final=False`` (copies that may still move)
        leaves the chunks as they are."""
        if self._array is not None:
            return self._array
        self._flush()
        copies = (np.concatenate(self._chunks) if self._chunks
                  else np.zeros((0, 4), dtype=np.int64))
        if final:
            self._array = copies
            self._chunks = [copies] if len(copies) else []
        return copies

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(np.array(self._pending, dtype=np.int64).reshape(-1, 4))
            self._pending = []
