"""Choosing a model's split into segments: from ``--layers-per-segment`` or a memory budget.

The prover's peak memory grows with its domain (2^k rows) times its columns: every column's
values, coefficients and coset evaluations live at once in the quotient round.
`estimate_bytes` models it as ``BYTES_PER_CELL * columns * 2^k``, with the rows from the
shapes (`segment_rows`: the matmuls' rows spread over their banks, or the softmax's) and the
constant measured on the bundled model (k = 16, 225 columns, 3.3 GB peak RSS when
proving: about 7 x 32 bytes per cell). It is an estimate, used to decide before any work
whether a split is needed and which; the figures in docs/benchmarks.md are measured.
"""
from __future__ import annotations

import math

from .memory import default_budget, format_size, parse_size
from .segments import Segment, SegmentError, split

__all__ = ["plan_segments", "estimate_bytes", "BudgetError"]

BYTES_PER_CELL = 7 * 32
COLUMNS = 200           # the banked layout's columns: 225 on the bundled model, 198 on a
                        # block at GPT-2 width (k = 21: docs/benchmarks.md)


class BudgetError(SegmentError):
    """The memory budget is too small for the smallest segment (one block)."""


def segment_rows(config, T: int, segment: Segment) -> int:
    """Rows a segment needs, from the shapes, as the banked layout stacks them: the matmuls'
    sections C.r over the matmul lanes, their sections B.r and A.Br over the product banks
    (`circuit.product_banks`: at GPT-2 width one bank holds every weight / 4 rows), or the
    softmax (two rows per attention score), whichever is tallest."""
    from snarkgpt.gadgets.matmul import DEFAULT_SLOTS as P
    from .circuit import default_mm_lanes, matmul_shapes, product_banks
    T = max(1, T)
    shapes = matmul_shapes(config, T, segment)
    lanes = default_mm_lanes(config, T, segment)
    c_rows = sum(t * m for t, _, m in shapes)
    b_rows = sum(-(-d // P) * m for _, d, m in shapes)
    a_rows = sum(-(-t // P) * d for t, d, _ in shapes)
    banks = product_banks(config, T, lanes, segment)
    sm = segment.n_blocks * config.n_head * 2 * T * T
    return max(-(-c_rows // lanes), -(-max(b_rows, a_rows) // banks), sm, 1)


def estimate_bytes(config, T: int, segment: Segment, table_bits: int = 16) -> int:
    """Estimated peak memory of proving ``segment`` (module docstring)."""
    rows = max(segment_rows(config, T, segment), 1 << table_bits)
    k = math.ceil(math.log2(rows + 16))
    return BYTES_PER_CELL * COLUMNS << k


def plan_segments(config, L: int, layers_per_segment=None, memory_budget=None,
                  progress=print, table_bits: int = 16) -> list:
    """The split for setup, from the shapes alone (before calibration or any other work):
    ``layers_per_segment`` blocks each when given; else the fewest segments whose largest
    fits ``memory_budget`` (default `default_budget`), one segment when the whole model
    fits. `BudgetError` when even one block per segment does not fit."""
    cfg = config
    n = cfg.n_layer
    if layers_per_segment is not None:
        return split(n, int(layers_per_segment))
    budget = default_budget() if memory_budget is None else parse_size(memory_budget)
    if budget <= 0:
        raise BudgetError(f"a memory budget must be positive, got {memory_budget!r}")
    T = L - 1
    bits = table_bits
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
