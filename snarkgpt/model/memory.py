"""The memory budget: a large allocation that would not fit fails before it is made, with a
message naming the op and the size, instead of an out-of-memory error that names neither.

    budget = MemoryBudget("12G")                  # or MemoryBudget() for the default
    budget.check("lm_head logits", (16, 50257), np.int64)
    check_alloc("lm_head logits", (16, 50257), np.int64)    # against the current budget

A budget bounds the memory of the whole process: an allocation of n bytes passes when the
process's resident memory (/proc/self/statm) plus n stays within it. The default budget is
``SNARKGPT_MEMORY_BUDGET`` when set (a size such as "12G"), else 75% of what this machine can
give the process: MemAvailable (/proc/meminfo) plus what the process already holds, so that
other processes and the page cache keep a quarter of it. `set_budget` replaces the current
budget (the ``--memory-budget`` option of the commands); `budget_scope` does so for a block.

Sizes (`parse_size`): a number of bytes with an optional binary unit, K, M, G or T (powers
of 1024; "KB", "KiB" and lower case are read alike): "12G", "512M", "1.5G", "800000".
"""
from __future__ import annotations

import contextlib
import math
import os
import re

import numpy as np

__all__ = ["MemoryBudget", "MemoryBudgetError", "parse_size", "format_size", "check_alloc",
           "current_budget", "set_budget", "budget_scope", "default_budget", "resident_bytes",
           "available_bytes", "ENV_VAR"]

ENV_VAR = "SNARKGPT_MEMORY_BUDGET"
DEFAULT_FRACTION = 0.75

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


class MemoryBudgetError(ValueError):
    """An allocation would exceed the memory budget (or a budget is malformed)."""


def parse_size(text) -> int:
    """Bytes of a size: an int, or a string such as "12G", "512M", "1.5G", "4096"."""
    if isinstance(text, bool):
        raise MemoryBudgetError(f"not a memory size: {text!r}")
    if isinstance(text, (int, np.integer)):
        n = int(text)
    else:
        m = _SIZE_RE.match(str(text))
        if not m:
            raise MemoryBudgetError(f"not a memory size: {text!r} (expected a number with an "
                                    "optional unit K, M, G or T, such as 12G or 512M)")
        n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if n <= 0:
        raise MemoryBudgetError(f"a memory size must be positive, got {text!r}")
    return n


def format_size(n: int) -> str:
    """"6.1 MiB", "12.0 GiB", "512 B"."""
    n = int(n)
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _meminfo(field: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_bytes() -> int | None:
    """MemAvailable (/proc/meminfo), else the physical memory, else None."""
    n = _meminfo("MemAvailable")
    if n is None:
        try:
            n = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            n = None
    return n


def resident_bytes() -> int:
    """This process's resident memory (0 where /proc/self/statm is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def default_budget() -> int:
    """``SNARKGPT_MEMORY_BUDGET`` when set, else 75% of (MemAvailable + this process's
    resident memory); 1 TiB (no practical limit) where neither can be read."""
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return parse_size(env)
        except MemoryBudgetError as e:
            raise MemoryBudgetError(f"{ENV_VAR}: {e}") from None
    avail = available_bytes()
    if avail is None:
        return 1 << 40
    return int(DEFAULT_FRACTION * (avail + resident_bytes()))


def _nbytes(shape, dtype, count: int = 1) -> int:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return math.prod(int(s) for s in shape) * np.dtype(dtype).itemsize * int(count)


def _describe(shape, dtype, count: int) -> str:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    dims = " x ".join(str(int(s)) for s in shape) or "scalar"
    return f"{count} x ({dims}) {np.dtype(dtype).name}" if count != 1 else f"{dims} {np.dtype(dtype).name}"


MIN_CHECKED = 1 << 20
"""Allocations up to this many bytes are not checked (reading /proc costs more than they do)."""


class MemoryBudget:
    """A limit on the process's memory, in bytes (``limit``: an int or a size string; None
    for `default_budget`). Allocations of at most ``min_checked`` bytes pass unchecked."""

    def __init__(self, limit=None, min_checked: int = MIN_CHECKED):
        self.limit = default_budget() if limit is None else parse_size(limit)
        self.min_checked = int(min_checked)

    def __repr__(self) -> str:
        return f"MemoryBudget({format_size(self.limit)!r})"

    def fits(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more fit (resident memory + nbytes <= limit)."""
        return resident_bytes() + int(nbytes) <= self.limit

    def check_bytes(self, op: str, nbytes: int, what: str | None = None) -> int:
        """Raise `MemoryBudgetError` unless ``nbytes`` more fit the budget; returns nbytes."""
        nbytes = int(nbytes)
        if nbytes <= self.min_checked:
            return nbytes
        used = resident_bytes()
        if used + nbytes > self.limit:
            what = what or format_size(nbytes)
            held = f", with {format_size(used)} already in use," if used else ""
            raise MemoryBudgetError(
                f"{op}: {what}{held} exceeds the memory budget of {format_size(self.limit)} "
                f"(set it with --memory-budget or {ENV_VAR}, e.g. 12G)")
        return nbytes

    def check(self, op: str, shape, dtype, count: int = 1) -> int:
        """Check an allocation of ``count`` arrays of ``shape`` and ``dtype`` (the message
        says "lm_head logits: 16 x 50257 int64 = 6.1 MiB ... exceeds the memory budget of
        12.0 GiB"); returns the bytes."""
        n = _nbytes(shape, dtype, count)
        if n <= self.min_checked:
            return n
        return self.check_bytes(op, n, f"{_describe(shape, dtype, count)} = {format_size(n)}")


_current: MemoryBudget | None = None


def current_budget() -> MemoryBudget:
    """The budget `check_alloc` uses (the default one until `set_budget`)."""
    global _current
    if _current is None:
        _current = MemoryBudget()
    return _current


def set_budget(limit) -> MemoryBudget:
    """Make ``limit`` (bytes, a size string, a `MemoryBudget`, or None for the default) the
    current budget; returns the previous one."""
    global _current
    old = current_budget()
    _current = limit if isinstance(limit, MemoryBudget) else MemoryBudget(limit)
    return old


@contextlib.contextmanager
def budget_scope(limit):
    """``with budget_scope("2G"): ...`` runs the block under that budget."""
    old = set_budget(limit)
    try:
        yield current_budget()
    finally:
        set_budget(old)


def check_alloc(op: str, shape, dtype, count: int = 1) -> int:
    """`MemoryBudget.check` against the current budget."""
    return current_budget().check(op, shape, dtype, count)
