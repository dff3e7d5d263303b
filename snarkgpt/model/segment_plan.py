"""Choosing a model's split into segments, and the width of its weight rows, from
``--layers-per-segment`` or a memory budget.

The prover's peak memory grows with its domain (2^k rows) times its columns: every column's
values, coefficients and coset evaluations live at once in the quotient round.
`estimate_bytes` models it as ``BYTES_PER_CELL * columns * 2^k``, with the rows from the
shapes (`segment_rows`: the matmuls' rows spread over their banks, the fixed weights' wide
rows, the softmax's or the GELU's) and k at least ``table_bits`` (the lookup tables, trimmed below
2^table_bits rows by calibration, set the floor). The constant was measured on the bundled
model (k = 16, 225 columns, 3.3 GB peak RSS when proving: about 7 x 32 bytes per cell) and
checked on a GPT-2-width block (docs/benchmarks.md). It is an estimate, used to decide before
any work whether a split is needed, which, and the weight width; the figures in
docs/benchmarks.md are measured.

The weight width (`gadgets.matmul`, "Wide rows"): fixed weights' section B.r holds W weights a
row instead of 4 per row over 8 columns. Where the weights set the height (a GPT-2-width
block: 7.08M weights, 2^21 rows narrow), a wider row divides the rows by W / 4 for W more
columns; `best_width` picks the width whose largest segment is estimated cheapest (None, the
narrow rows, when no width lowers k: the bundled model).
"""
from __future__ import annotations

import math

from .memory import default_budget, format_size, parse_size
from .segments import Segment, SegmentError, split

__all__ = ["plan_segments", "estimate_bytes", "segment_rows", "best_width", "BudgetError",
           "WIDTHS", "chunk_rows", "chunk_size"]

BYTES_PER_CELL = 7 * 32
COLUMNS = 200           # the banked layout's columns: 225 on the bundled model, 198 on a
                        # block at GPT-2 width (k = 21: docs/benchmarks.md)
WIDTHS = (16, 32, 64, 128, 256, 512)
"""Weight widths `best_width` weighs against the narrow rows (None)."""


class BudgetError(SegmentError):
    """The memory budget is too small for the smallest segment (one block)."""


def _check_width(weight_width) -> None:
    if weight_width is not None and (isinstance(weight_width, bool)
                                     or not isinstance(weight_width, int) or weight_width < 1):
        raise ValueError(f"weight width must be a positive integer or None, got {weight_width!r}")


def segment_rows(config, T: int, segment: Segment, weight_width: int | None = None,
                 table: bool = True, lanes: int | None = None, margin: bool = True) -> int:
    """Rows a segment needs, from the shapes, as the banked layout stacks them, whichever of
    its banks is tallest: the matmuls' sections C.r over the matmul lanes (each product whole
    in one lane; ``lanes``: `circuit.default_mm_lanes` unless given), their sections B.r and
    A.Br over the product banks (`circuit.product_banks`: narrow, at GPT-2 width one bank
    holds every weight / 4 rows), the fixed weights' wide rows (``weight_width``: ``d *
    ceil(m / W)`` per product, in their own columns), the causal softmax (two steps stacked
    over the T (T + 1) / 2 unmasked scores: T (T + 1) rows per head and block; counted as
    2 T^2 with ``margin``, the planner's safe side for long contexts), the GELU (one row per
    element of the MLP's hidden layer: 4 T d per block; the heads' split and merge gathers
    take as many in their own bank), or the embedding's table. ``margin=False``: the rows
    the circuit builds, to predict its k (`bench.cost_model`)."""
    from snarkgpt.gadgets.matmul import DEFAULT_SLOTS as P, wide_rows
    from .circuit import default_mm_lanes, matmul_shapes, product_banks, weight_products
    _check_width(weight_width)
    T = max(1, T)
    if segment.chunk:
        return chunk_rows(config, T, segment.role, segment.v1 - segment.v0, weight_width)
    shapes = matmul_shapes(config, T, segment)
    lanes = lanes or default_mm_lanes(config, T, segment)
    c_rows = sum(t * m for t, _, m in shapes)
    weights = weight_products(config, segment)
    narrow = shapes
    wide = 0
    if weight_width is not None:
        # the weight products leave the slots for the wide rows; the attention products stay
        narrow = list(shapes)
        for dm in weights:
            narrow.remove((T,) + dm)
        wide = sum(wide_rows(d, m, weight_width) for d, m in weights)
    b_rows = sum(-(-d // P) * m for _, d, m in narrow)
    a_rows = sum(-(-t // P) * d for t, d, _ in shapes)
    banks = product_banks(config, T, lanes, segment, weight_width)
    sm = segment.n_blocks * config.n_head * (2 * T * T if margin else T * (T + 1))
    # the GELU's bank: one row per hidden element (the GPT-2 blocks' tallest bank at W = 256)
    gelu = segment.n_blocks * T * 4 * config.n_embd
    # a lane holds whole products: the tallest lane is at least the largest product's C.r
    c_lane = max(-(-c_rows // lanes), max((t * m for t, _, m in shapes), default=0))
    # the whole embedding's lookup table: one row per weight of wte
    wte = config.vocab_size * config.n_embd if segment.embed and table else 0
    return max(c_lane, -(-max(b_rows, a_rows) // banks), wide, sm, gelu, wte, 1)


def chunk_rows(config, T: int, role: str, n: int, weight_width: int | None = None) -> int:
    """Rows of a vocabulary chunk of ``n`` tokens (`snarkgpt.gadgets.vocab`), its
    tallest bank: an embedding chunk's one-hot (T n rows) or running sum (T d), its product's
    sections (A.Br: ceil(T / 4) n, B.r: n ceil(d / W) wide or ceil(n / 4) d narrow); a head
    chunk's product (C.r: T n), argmax (T (n + 1) + T) or weight rows (d ceil(n / W))."""
    from snarkgpt.gadgets.matmul import DEFAULT_SLOTS as P, wide_rows
    d = config.n_embd
    if role == "embed":
        b = wide_rows(n, d, weight_width) if weight_width else -(-n // P) * d
        return max(T * n, T * d, -(-T // P) * n, b, 1)
    b = wide_rows(d, n, weight_width) if weight_width else -(-d // P) * n
    return max(T * n, T * (n + 2), -(-T // P) * d, b, 1)


def estimate_bytes(config, T: int, segment: Segment, table_bits: int = 16,
                   weight_width: int | None = None, table: bool = True) -> int:
    """Estimated peak memory of proving ``segment`` with weight rows of ``weight_width``
    (None: narrow) (module docstring); ``table=False``: without the embedding's lookup
    table."""
    rows = segment_rows(config, T, segment, weight_width, table)
    k = max(math.ceil(math.log2(rows + 16)), table_bits)
    columns = COLUMNS + (weight_width or 0)
    return BYTES_PER_CELL * columns << k


def best_width(config, T: int, segments, table_bits: int = 16) -> int | None:
    """The weight width (None: narrow rows, or one of `WIDTHS`) whose largest segment of
    blocks has the smallest `estimate_bytes` (ties: the smaller total, then the narrower
    rows): one width for every segment, which share one k (vocabulary chunks are sized to
    the blocks' k: `plan_segments`)."""
    blocks = [s for s in segments if not s.chunk] or segments

    def cost(w):
        est = [estimate_bytes(config, T, s, table_bits, w, table=False) for s in blocks]
        return max(est), sum(est)
    return min((None,) + WIDTHS, key=cost)


def _k(rows: int, table_bits: int) -> int:
    return max(math.ceil(math.log2(rows + 16)), table_bits)


CHUNK_FILL = 0.9
"""Vocabulary chunks fill at most this share of the blocks' rows (the floor planner's
packing and the blinding rows take the rest), so that they do not raise the common k."""


def chunk_size(config, T: int, role: str, k: int, weight_width=None) -> int:
    """The most tokens of a vocabulary chunk whose rows (`chunk_rows`) fit ``CHUNK_FILL``
    of 2^k (at least 1)."""
    cap = int(CHUNK_FILL * (1 << k)) - 16
    lo, hi = 1, config.vocab_size
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chunk_rows(config, T, role, mid, weight_width) <= cap:
            lo = mid
        else:
            hi = mid - 1
    return lo


def plan_segments(config, L: int, layers_per_segment=None, memory_budget=None,
                  progress=print, table_bits: int = 16, embed_chunk: int | None = None,
                  head_chunk: int | None = None, max_blocks: int | None = None) -> list:
    """The split for setup, from the shapes alone (before calibration or any other work):
    ``layers_per_segment`` blocks each when given; else the fewest segments whose largest
    fits ``memory_budget`` (default `default_budget`) at its best weight width (`best_width`),
    one segment when the whole model fits.

    Where no such split exists because the embedding (its lookup table, vocab x d rows) or
    the head (its product and argmax, about T x vocab rows) does not fit, or where
    ``embed_chunk`` / ``head_chunk`` (tokens per chunk) are given, that part goes into
    vocabulary chunks (segments.py), each sized (`chunk_size`) to the rows of the
    segments of blocks, so that every segment shares their k. ``max_blocks``: at most this
    many blocks a segment (setup plans again with fewer when the circuit it builds needs more
    rows than these estimates: `keys.setup`). `BudgetError` when even one block per segment
    does not fit."""
    cfg = config
    n = cfg.n_layer
    V = cfg.vocab_size
    T = L - 1
    bits = table_bits
    for what, size in (("embedding", embed_chunk), ("head", head_chunk)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise SegmentError(f"{what} chunk size must be a positive integer (tokens per "
                               f"chunk), got {size!r}")
    if layers_per_segment is not None:
        return split(n, int(layers_per_segment), V, embed_chunk, head_chunk)
    budget = default_budget() if memory_budget is None else parse_size(memory_budget)
    if budget <= 0:
        raise BudgetError(f"a memory budget must be positive, got {memory_budget!r}")
    top = n if max_blocks is None else max(1, min(n, int(max_blocks)))
    if embed_chunk is None and head_chunk is None:
        for per in range(top, 0, -1):
            segs = split(n, per)
            w = best_width(cfg, T, segs, bits)
            need = max(estimate_bytes(cfg, T, s, bits, w) for s in segs)
            if need <= budget:
                if len(segs) > 1:
                    progress(f"memory budget {format_size(budget)}: {len(segs)} segments of "
                             f"{per} block(s), about {format_size(need)} each"
                             + (f" (weights {w} a row)" if w else ""))
                return segs
    # vocabulary chunks: the blocks alone set k, the embedding and the head fit it
    for per in range(top, 0, -1):
        body = [s for s in split(n, per, V, 1, 1) if not s.chunk]
        w = best_width(cfg, T, body, bits)
        need = max(estimate_bytes(cfg, T, s, bits, w) for s in body)
        if need > budget:
            continue
        k = max(_k(segment_rows(cfg, T, s, w), bits) for s in body)
        whole = split(n, per)
        ec, hc = embed_chunk, head_chunk
        if ec is None and _k(segment_rows(cfg, T, whole[0], w), bits) > k:
            ec = chunk_size(cfg, T, "embed", k, w)
        if hc is None and _k(segment_rows(cfg, T, whole[-1], w), bits) > k:
            hc = chunk_size(cfg, T, "head", k, w)
        segs = split(n, per, V, ec, hc)
        progress(f"memory budget {format_size(budget)}: {len(segs)} segments: blocks {per} at a "
                 f"time, about {format_size(need)} each (k = {k})"
                 + (f", weights {w} a row" if w else "")
                 + (f"; embedding in chunks of {ec} tokens" if ec else "")
                 + (f"; head in chunks of {hc} tokens" if hc else ""))
        return segs
    segs = [s for s in split(n, 1, V, 1, 1) if not s.chunk]
    w = best_width(cfg, T, segs, bits)
    one = max(estimate_bytes(cfg, T, s, bits, w) for s in segs)
    raise BudgetError(f"memory budget {format_size(budget)} is too small: a segment of one "
                      f"block (d {cfg.n_embd}, {cfg.n_head} heads, {T} positions) needs "
                      f"about {format_size(one)} to prove; raise --memory-budget, or lower "
                      "--max-tokens")
