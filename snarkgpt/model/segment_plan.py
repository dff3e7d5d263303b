"""Choosing a model's split into segments: from ``--layers-per-segment`` or a memory budget.

The prover's peak memory grows with its domain (2^k rows) times its columns: every column's
values, coefficients and coset evaluations live at once in the quotient round.
`estimate_bytes` models it as ``BYTES_PER_CELL * columns * 2^k``, with the rows from the
shapes (`circuit_rows_estimate`: the matmuls' rows spread over the lanes, or the softmax's)
and the constant measured on the bundled model (k = 16, 225 columns, 3.3 GB peak RSS when
proving: about 7 x 32 bytes per cell). It is an estimate, used to decide before any work
whether a split is needed and which; the figures in docs/benchmarks.md are measured.
"""
from __future__ import annotations

import math

from .segments import Segment, SegmentError, split

__all__ = ["plan_segments", "estimate_bytes", "default_budget", "parse_size", "BudgetError"]

BYTES_PER_CELL = 7 * 32
COLUMNS = 225           # the banked layout's columns (bundled model); a segment has about as many
LANES = 4


class BudgetError(SegmentError):
    """The memory budget is too small for the smallest segment (one block)."""


def parse_size(text) -> int:
    """Bytes from "12G", "512M", "3.5GB", "1000000" (powers of 1024)."""
    if isinstance(text, int):
        return text
    t = str(text).strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if t[-1:] in "KMGT" else t)
    except ValueError:
        raise BudgetError(f"not a memory size: {text!r} (use e.g. 12G or 512M)") from None
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"a memory budget must be positive, got {text!r}")
    return int(value * mult)


def default_budget() -> int:
    """Three quarters of the memory available now (/proc/meminfo), or 4 GiB where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 * 3 // 4
    except OSError:
        pass
    return 4 << 30


def segment_rows(config, T: int, segment: Segment) -> int:
    """Rows a segment needs, from the shapes: its matmuls over `LANES` lanes, or its softmax
    (two rows per attention score), whichever is taller."""
    from snarkgpt.gadgets.matmul import matmul_rows
    d, H, V = config.n_embd, config.n_head, config.vocab_size
    hd = d // H
    T = max(1, T)
    block = (matmul_rows(T, d, 3 * d) + matmul_rows(T, d, d) + matmul_rows(T, d, 4 * d)
             + matmul_rows(T, 4 * d, d) + H * (matmul_rows(T, hd, T) + matmul_rows(T, T, hd)))
    mm = segment.n_blocks * block + (matmul_rows(T, d, V) if segment.head else 0)
    sm = segment.n_blocks * H * 2 * T * T
    return max(-(-mm // LANES), sm, 1)


def estimate_bytes(config, T: int, segment: Segment, table_bits: int = 16) -> int:
    """Estimated peak memory of proving ``segment`` (module docstring)."""
    rows = max(segment_rows(config, T, segment), 1 << table_bits)
    k = math.ceil(math.log2(rows + 16))
    return BYTES_PER_CELL * COLUMNS << k


def plan_segments(qmodel, settings, L: int, statement: str, weights: str,
                  layers_per_segment=None, memory_budget=None, progress=print) -> list:
    """The split for setup: ``layers_per_segment`` blocks each when given; else the fewest
    segments whose largest fits ``memory_budget`` (default `default_budget`), one segment
    when the whole model fits. `BudgetError` when even one block per segment does not fit,
    before any work."""
    cfg = qmodel.config
    n = cfg.n_layer
    if layers_per_segment is not None:
        return split(n, int(layers_per_segment))
    budget = default_budget() if memory_budget is None else parse_size(memory_budget)
    T = L - 1
    bits = settings.table_bits
    bits = bits() if callable(bits) else int(bits)
    for per in range(n, 0, -1):
        segs = split(n, per)
        need = max(estimate_bytes(cfg, T, s, bits) for s in segs)
        if need <= budget:
            if len(segs) > 1:
                progress(f"memory budget {budget / 2**30:.1f} GiB: {len(segs)} segments of "
                         f"{per} block(s), about {need / 2**30:.1f} GiB each")
            return segs
    one = max(estimate_bytes(cfg, T, s, bits) for s in split(n, 1))
    raise BudgetError(f"memory budget {budget / 2**30:.2f} GiB is too small: a segment of one "
                      f"block (with the head: lm_head {cfg.n_embd} x {cfg.vocab_size}) needs "
                      f"about {one / 2**30:.1f} GiB to prove; raise --memory-budget, or lower "
                      "--max-tokens")
