"""Where a witness's cell values live: `ColumnStore`, the advice, fixed and instance arrays of
Fr Montgomery values, and the writes into them.

Each kind of column is one C-contiguous (num_columns, rows, 4) uint64 array in a private
anonymous mapping (`column_buffer`): pages get memory only once written, so an assignment can
reserve rows it may not use, and `keep_rows` trims the arrays in place, handing the unused
tail back to the system.
"""
from __future__ import annotations

import math
import mmap

import numpy as np

from snarkgpt.field import Fr

from .errors import CircuitError
from .expression import ADVICE, FIXED, Column

__all__ = ["ColumnStore", "column_buffer", "keep_rows", "mont_scalar", "mont_vector"]


def column_buffer(cols: int, rows: int) -> np.ndarray:
    """A zero (cols, rows, 4) uint64 array in a private anonymous mapping: its pages get
    memory only once written, and `keep_rows` can hand back the ones it no longer needs."""
    nbytes = cols * rows * 32
    if nbytes == 0 or not hasattr(mmap, "MAP_PRIVATE"):       # (no such mappings on Windows)
        return np.zeros((cols, rows, 4), dtype=np.uint64)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(buf, dtype=np.uint64).reshape(cols, rows, 4)


def keep_rows(arr: np.ndarray, n: int) -> np.ndarray:
    """The first n rows of every column of a C-contiguous (cols, rows, 4) array, as a
    C-contiguous array that reuses (and overwrites) ``arr``'s memory: ``arr`` is consumed.

    The columns are moved down in place (column i's rows go to flat offset i * n, below every
    later column's rows; numpy copies through a buffer where a column overlaps its own new
    place), which costs no new memory; copying into a
    fresh array instead takes a page fault per 4 KiB written, several times slower. The
    freed tail goes back to the system when the buffer is a `column_buffer`."""
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
    """The mmap under a `column_buffer` array (through its chain of views), else None."""
    base = arr
    while isinstance(base, np.ndarray):
        base = base.base
    if isinstance(base, memoryview):
        base = base.obj
    return base if isinstance(base, mmap.mmap) else None


def mont_scalar(value) -> np.ndarray:
    """An int -> its (4,) Montgomery limbs."""
    return np.array(Fr.from_int(int(value)), dtype=np.uint64)


def mont_vector(values) -> np.ndarray:
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


class ColumnStore:
    """The cell values of one witness and which advice cells were assigned.

    ``advice``, ``fixed``, ``instance``: (num_columns, rows, 4) uint64 arrays of Fr Montgomery
    values (``advice[i]`` is advice column i); ``advice_assigned``: (num_advice, rows) bool;
    ``rows``: their row capacity."""

    def __init__(self, num_advice: int, num_fixed: int, num_instance: int, rows: int):
        self.rows = rows
        self.advice = column_buffer(num_advice, rows)
        self.fixed = column_buffer(num_fixed, rows)
        self.instance = column_buffer(num_instance, rows)
        self.advice_assigned = np.zeros((num_advice, rows), dtype=bool)

    def of_kind(self, column: Column) -> np.ndarray:
        """The array holding the columns of ``column``'s kind."""
        if column.kind == ADVICE:
            return self.advice
        if column.kind == FIXED:
            return self.fixed
        return self.instance

    def column(self, column: Column) -> np.ndarray:
        """The (rows, 4) Montgomery array of ``column`` (a view)."""
        return self.of_kind(column)[column.index]

    # -- writing -------------------------------------------------------------------------
    def write(self, column: Column, row: int, value) -> None:
        self.of_kind(column)[column.index][row] = mont_scalar(value)
        if column.kind == ADVICE:
            self.advice_assigned[column.index, row] = True

    def write_vector(self, column: Column, row: int, values) -> int:
        """Write ``values`` (see `mont_vector`) from ``row`` on; returns how many."""
        mont = mont_vector(values)
        m = mont.shape[0]
        self.of_kind(column)[column.index][row: row + m] = mont
        if column.kind == ADVICE:
            self.advice_assigned[column.index, row: row + m] = True
        return m

    def move(self, column: Column, lo: int, hi: int, to: int) -> None:
        """Move rows [lo, hi) of ``column`` to [to, to + hi - lo), leaving zeros (and
        unassigned cells) behind; the two ranges may overlap."""
        arr = self.column(column)
        tmp = arr[lo:hi].copy()
        arr[lo:hi] = 0
        arr[to: to + hi - lo] = tmp
        if column.kind == ADVICE:
            m = self.advice_assigned[column.index]
            tmp = m[lo:hi].copy()
            m[lo:hi] = False
            m[to: to + hi - lo] = tmp

    # -- capacity ------------------------------------------------------------------------
    def grow(self, rows: int) -> None:
        """Room for at least ``rows`` rows: twice the capacity, or the next power of two."""
        if rows <= self.rows:
            return
        cap = max(self.rows * 2, 1 << math.ceil(math.log2(rows)))

        def grown(arr):
            out = column_buffer(arr.shape[0], cap)
            out[:, : self.rows] = arr
            return out

        self.advice = grown(self.advice)
        self.fixed = grown(self.fixed)
        self.instance = grown(self.instance)
        assigned = np.zeros((self.advice_assigned.shape[0], cap), dtype=bool)
        assigned[:, : self.rows] = self.advice_assigned
        self.advice_assigned = assigned
        self.rows = cap

    def shrink(self, n: int) -> None:
        """Keep the first ``n`` rows (in place: `keep_rows`)."""
        self.advice = keep_rows(self.advice, n)
        self.fixed = keep_rows(self.fixed, n)
        self.instance = keep_rows(self.instance, n)
        self.advice_assigned = np.ascontiguousarray(self.advice_assigned[:, :n])
        self.rows = n

    def resize(self, n: int) -> None:
        """Exactly ``n`` rows."""
        if n > self.rows:
            self.grow(n)
        if n != self.rows:
            self.shrink(n)
