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

from .memory import default_budget, format_size, parse_size
from .segments import Segment, SegmentError, split

__all__ = ["plan_segments", "estimate_bytes", "BudgetError"]

BYTES_PER_CELL = 7 * 32
COLUMNS = 225           # the banked layout's columns (bundled model); a segment has about as many
LANES = 4


class BudgetError(SegmentError):
    """The memory budget is too small for the smallest segment (one block)."""


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
    if budget <= 0:
        raise BudgetError(f"a memory budget must be positive, got {memory_budget!r}")
    T = L - 1
    bits = settings.table_bits
    bits = bits() if callable(bits) else int(bits)
    for per in range(n, 0, -1):
        segs = split(n, per)
        need = max(estimate_bytes(cfg, T, s, bits) for s in segs)
        if need <= budget:
            if len(segs) > 1:
                progress(f"memory budget {format_size(budget)}: {len(segs)} segments of "
                         f"{per} block(s), about {format_size(need)} each")
            return segs
    one = max(estimate_bytes(cfg, T, s, bits) for s in split(n, 1))
    raise BudgetError(f"memory budget {format_size(budget)} is too small: a segment of one "
                      f"block (with the head: lm_head {cfg.n_embd} x {cfg.vocab_size}) needs "
                      f"about {format_size(one)} to prove; raise --memory-budget, or lower "
                      "--max-tokens")
