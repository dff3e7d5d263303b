"""`snarkgpt bench scaling --fit DIR`: a per-segment cost model fitted on a sweep's results,
checked on held-back points and extrapolated to GPT-2 small, medium and large.

Circuit size from the shapes (`circuit_shape`: no calibration, no circuit build of the
model but the compact check below for the smallest ones, no proving): the split setup
makes (`segment_plan.plan_segments` under a memory budget, vocabulary chunks included, the
weight width `segment_plan.best_width`), each segment's rows (`segment_rows`: the
planner's row model, GELU bank included, without its margin on the causal softmax: the
T (T + 1) rows a head the circuit builds where the planner counts 2 T^2), one common k
for every segment (the tallest segment's rows plus the blinding rows, at least the lookup
tables' floor, `table_bits`) and these column counts:

* the planner's columns (`segment_plan.COLUMNS` plus the weight width); *cells* = those
  columns x 2^k, the size setup splits by;
* the layout's columns as setup's layout choice counts them (`circuit.layout_cost`: advice +
  fixed + 2 per lookup + the equality columns), for the number of matmul lanes setup would
  pick (`layout_columns`, measured on a tiny circuit of that many lanes, plus the weight
  width; the lanes chosen as setup does, the cheapest of 2, the default and one more by
  layout cells at their own k); *layout cells* = those columns x 2^k. The prover's work and
  memory are per committed or transformed column per row, so the prove time follows layout
  cells: one lane more adds 25 to 69 columns (382 to 476 from 2 to 4 lanes) and 10-30% of
  proving time at the same k, which the planner's constant columns do not see. For a
  circuit of one segment at the tables' floor, setup's compact layout where it would pick
  it (`_compact_cost`: the first pass setup itself makes, seconds at such sizes; 171-183
  columns at a higher k);
* each kind of segment's own layout columns (`_roles`): a segment of blocks' measured on a
  tiny model's whole circuit and its first, middle and last segments (`block_columns`: a
  chain's segments, without the embedding's table or the argmax, have 7-28 columns fewer),
  a vocabulary chunk's on a tiny model's chunks (`chunk_columns`: 71-73 for an embedding
  chunk, 99-219 for a head chunk), plus the weight width, so each segment is priced by its
  own cells;
* the proving key's coset cache (`coset_cache_bytes`): the fixed columns' values on the
  quotient's cosets, which the key keeps between proofs up to `FIXED_COSET_CACHE_BYTES`
  (1.0-1.3 GiB at k = 16) and recomputes per proof above it (k >= 17): a candidate size for
  the memory; and the same values counted as work (`_coset_cells`, cells of those columns
  on every coset): "coset precompute" where the key keeps them (done when the key is built
  or loaded: a key rebuild's work), "coset recompute" where it does not (each proof's
  quotient redoes them: the quotient stage takes 3-4 s at k = 16 and 10-12 s at k = 17 on
  the base model's shapes, a step the layout cells alone smooth over);
* a segment's proof bytes, counted on the tiny circuit's verifying key of its layout
  (`layout_proof_bytes`: commitments, evaluations and openings, 32 bytes each).

The cost model (`fit`) is linear in one or two sizes of a segment, each constant fitted by
non-negative least squares on relative error over the training points:

    prove seconds per segment       a_prove   * layout cells of that kind of segment
                                      (+ c_prove * its coset recompute) + b_prove
    key rebuild seconds per segment a_rebuild * layout cells of that kind of segment
                                      (+ c_rebuild * its coset precompute) + b_rebuild
    peak memory of a proof (GiB)    a_memory  * cells + b_memory   (cells or layout cells,
                                      with or without the coset cache)
    proof bytes                     a_proof * (counted proof bytes x segments of blocks)
                                      + a_chunk * vocabulary chunks          (no fixed part)

(the fit uses a chain's mean sizes a segment; `predict` also prices each kind,
``by_role``). The bracketed sizes are candidates (`CHOICES`): `evaluate` keeps, for each
measure, the sizes of least leave-one-out error on the training points alone.

The measured values come from the records of `snarkgpt bench scaling --prove --resume DIR`
(one JSON per point in DIR/points; several DIRs, runs of the same grid: each point's median
over them, `merge_runs`): the mean of ``segment_seconds``; the key rebuild is
``prover_load_seconds`` for a point of one segment, and for a chain the prove time not spent
in the segments' proofs (rebuilding each segment's proving key, one at a time, and the
forward pass), per segment; the proof's peak RSS (``prove_peak_rss_bytes``: from the key
directory's load to the proof, without setup, whose layout choice can peak higher; records
without it give the process's peak); the proof's bytes.

Held-back points (`held_back`) are chosen by a rule fixed before any fit: the smallest and
the largest value of every swept dimension. They are never used to fit.

The extrapolation (`extrapolate`) plans GPT-2 small, medium and large (vocabulary 50,257,
16 tokens) under a memory budget (12 GiB by default), predicts each kind of segment's cost
on the machine the records came from, and the makespan on a Ray cluster of N workers:
segments are independent, each worker proves one segment at a time (rebuilding its proving
key, as the cluster path does) and is as fast as that machine, so the makespan is the
longest worker's total when the segments are handed out longest first onto the least loaded
worker (`makespan`) plus the coordinator's overhead (`COORDINATOR_SECONDS`).

A second extrapolation is anchored on a measured GPT-2 small chain (`_anchor`: the sweep's
own GPT-2 small point when it has one whose split the model re-plans, else `EXTERNAL`'s
`ANCHOR`): each kind of segment (block segments, embedding chunks, head chunks) and the key
rebuild scaled by measured / predicted on that run (`anchor_factors`).
"""
from __future__ import annotations

import functools
import glob
import json
import math
import os
import sys

import numpy as np

__all__ = ["CostModelError", "circuit_shape", "segment_rows", "table_bits", "load_records",
           "merge_runs", "held_back", "fit", "predict", "evaluate", "extrapolate",
           "anchor_factors", "makespan", "against",
           "report", "main",
           "GPT2_SIZES", "WORKERS", "TRAIN_BUDGET", "BUDGET", "GOAL"]

TRAIN_BUDGET = "14G"
"""Memory budget under which the sweep's splits are re-planned. The records do not name the
budget their runs had (3/4 of the memory available when each point started, on a 23 GB
machine); 14 GiB reproduces every recorded split of the full grid."""
BUDGET = "12G"
"""Memory budget of the extrapolation's splits."""
TABLE_ROWS_PER_SCALE = 9
"""The largest lookup table (exp or GELU, trimmed to its domain) of a random model has about
9 x 2^s rows at scale s (docs/scaling.md, quantization error against the width: 36,911 rows at
s = 12). Calibrate's own scale keeps the tables within 2^16 rows."""
DEFAULT_TABLE_BITS = 16
COORDINATOR_SECONDS = 5.0
"""Coordinator overhead of a cluster proof: starting or joining Ray (4.2-6.2 s measured for a
local instance, docs/benchmarks.md). The forward pass on the coordinator is not included."""
WORKERS = (1, 2, 4, 8, 16)
GOAL = 0.15
GPT2_SIZES = {"gpt2-small": (12, 12, 768), "gpt2-medium": (24, 16, 1024),
              "gpt2-large": (36, 20, 1280)}
GPT2_VOCAB, GPT2_TOKENS = 50257, 16
MEASURES = ("prove", "rebuild", "memory", "proof")
UNITS = {"prove": "s", "rebuild": "s", "memory": "GiB", "proof": "B"}

# Out-of-grid checks: GPT-2-width segments measured by hand (docs/benchmarks.md, "GPT-2
# width"), on the same 2-core machine, shared.
EXTERNAL = [
    {"id": "gpt2-width block (W=128)",
     "what": "block 1 of random:n_layer=3,n_head=12,n_embd=768,V=50257, 16 tokens, alone",
     "config": {"n_layer": 3, "n_head": 12, "n_embd": 768, "block_size": 1024,
                "vocab_size": 50257},
     "max_tokens": 16, "segment": {"index": 1, "count": 3, "start": 1, "stop": 2},
     "weight_width": 128,
     "measured": {"k": 16, "segments": 1, "prove": 23.9, "rebuild": 7.4, "memory": 4.05,
                  "proof": 13318}},
    {"id": "gpt2-small blocks, V=65",
     "what": "random:n_layer=12,n_head=12,n_embd=768,V=65, 16 tokens, --memory-budget 6G",
     "config": {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024,
                "vocab_size": 65},
     "max_tokens": 16, "budget": "6G",
     "measured": {"k": 16, "segments": 12, "prove": 283.0 / 12, "rebuild": (388.4 - 283.0) / 12,
                  "memory": 4552808 / 2**20, "proof": 160738}},
    {"id": "gpt2-small, V=50257",
     "what": "random:n_layer=12,n_head=12,n_embd=768,V=50257, 16 tokens, --memory-budget 12G",
     "config": {"n_layer": 12, "n_head": 12, "n_embd": 768, "block_size": 1024,
                "vocab_size": 50257},
     "max_tokens": 16, "budget": "12G",
     "measured": {"k": 17, "segments": 20, "prove": 273.5 / 20, "rebuild": (465.6 - 273.5) / 20,
                  "memory": 8238924 / 2**20, "proof": 147762},
     # mean proving seconds of a segment of each kind: 6 segments of 2 blocks, 7 embedding
     # chunks, 7 head chunks (159.6, 50.5 and 63.4 s in all)
     "roles": {"blocks": 159.6 / 6, "embed": 50.5 / 7, "head": 63.4 / 7}},
]
ANCHOR = "gpt2-small, V=50257"
"""The out-of-grid check whose per-kind segment times anchor the second extrapolation."""


class CostModelError(ValueError):
    """Bad input (a results folder without usable records): one line, exit code 2."""


# ----------------------------------------------------------------------------- circuit size
def _silent(_msg):
    pass


def _gpt_config(config: dict):
    from ..model.config import GPTConfig
    return GPTConfig(**{k: int(config[k]) for k in ("n_layer", "n_head", "n_embd", "block_size",
                                                    "vocab_size")})


def table_bits(scale_bits=None) -> int:
    """log2 of the rows the lookup tables need at scale ``scale_bits`` (None: calibrate's
    choice, which keeps them within 2^16): the k no circuit of that scale goes below."""
    if scale_bits is None:
        return DEFAULT_TABLE_BITS
    from ..model.quantize import TABLE_SLACK
    return max(12, math.ceil(math.log2(TABLE_ROWS_PER_SCALE * (1 << int(scale_bits))
                                       + TABLE_SLACK)))


def segment_rows(config, T: int, segment, weight_width=None, lanes=None) -> int:
    """Rows a segment needs as the banked layout stacks them with ``lanes`` matmul lanes
    (default: `default_mm_lanes`): the planner's own model, `segment_plan.segment_rows`,
    without its margin on the softmax (the rows the circuit builds)."""
    from ..model.segment_plan import segment_rows as rows
    return rows(config, T, segment, weight_width, lanes=lanes, margin=False)


TINY = "random:n_layer=1,n_head=1,n_embd=16,block_size=4"
"""The tiny random model the layout's columns, proof bytes and coset cache are counted on."""


def _key_circuit(spec: str, L: int, scale_bits=None):
    """``make(**kw)``: `keys.keygen_circuit` of the model ``spec`` (a `load_model` spec:
    "random:n_layer=..,...") quantized for ``L`` tokens at ``scale_bits`` (None: calibrate's
    choice), as setup builds it; ``kw``: the layout (compact, mm_lanes, segment,
    weight_width)."""
    import warnings
    from ..model.keys import keygen_circuit
    from ..model.quantize import calibrate, quantize_model
    from ..model.weights import load_model
    from ..plonk.srs import InsecureSetupWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSetupWarning)
        model = load_model(spec)
        settings, _ = calibrate(model, max_tokens=L, scale_bits=scale_bits)
        qmodel = quantize_model(model, settings)
    return lambda **kw: keygen_circuit(qmodel, settings, L, **kw)


@functools.lru_cache(maxsize=None)
def _layout_counts(lanes: int, compact: bool = False) -> dict:
    """{"advice", "fixed", "lookups", "equality"} of the banked layout with ``lanes`` matmul
    lanes (``compact``: of the compact layout), from the first pass of a tiny random model's
    circuit (a tenth of a second), and from that circuit's proving key (a few seconds, at
    its own small k) the columns kept on the quotient's cosets ("coset_columns": fixed,
    permutation sigma and the 4 virtual columns), how many cosets ("pieces") and the bytes
    of one proof ("proof_bytes": `plonk.proof.proof_size` of its commitments, evaluations
    and openings, which the layout fixes)."""
    import warnings
    from ..model.circuit import build
    from ..plonk.circuit import ConstraintSystem
    from ..plonk.keygen import keygen
    from ..plonk.proof import proof_size
    from ..plonk.srs import SRS
    circuit = _key_circuit(TINY + ",vocab_size=16", 4)(mm_lanes=int(lanes),
                                                        compact=bool(compact))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")            # the development SRS's warning
        cs, _, asg = build(circuit, first_pass_only=True)
        counts = {"advice": cs.num_advice, "fixed": cs.num_fixed, "lookups": len(cs.lookups),
                  "equality": len(cs.permutation_columns)}
        k = asg.k
        del asg
        cs = ConstraintSystem()
        config = circuit.configure(cs)
        srs = SRS.dev((1 << k) + 1, seed=b"snarkgpt-cost-model")
        pk, _ = keygen(srs, cs, circuit, config, k=k, precompute=False)
    counts["coset_columns"] = (pk.fixed_coeffs.shape[0] + pk.sigma_coeffs.shape[0]
                               + pk.virtual_coeffs.shape[0])
    counts["pieces"] = pk.layout.quotient_pieces
    lay = pk.vk.layout
    counts["proof_bytes"] = proof_size(lay.commitment_count(), lay.evaluation_count(),
                                       len(lay.rotations))
    return counts


def layout_columns(lanes: int, compact: bool = False) -> int:
    """The columns `circuit.layout_cost` counts for the banked layout with ``lanes`` matmul
    lanes (advice + fixed + 2 per lookup + equality columns; ``compact``: the compact
    layout's), measured on the first pass of a tiny random model's circuit (the count hardly
    depends on the model: 382 to 394 for 2 lanes from 1 to 4 heads). Wide weight rows add
    their width."""
    c = _layout_counts(lanes, compact)
    return c["advice"] + c["fixed"] + 2 * c["lookups"] + c["equality"]


def layout_proof_bytes(lanes: int, weight_width=None, compact: bool = False) -> int:
    """Bytes of one segment's proof in that layout: counted on the tiny circuit's verifying
    key (`_layout_counts`), plus one evaluation (32 bytes) per wide weight column."""
    return _layout_counts(lanes, compact)["proof_bytes"] + 32 * (weight_width or 0)


def coset_cache_bytes(lanes: int, weight_width, k: int, compact: bool = False) -> int:
    """Bytes of the fixed columns' values on the quotient's cosets that the proving key keeps
    between proofs (`plonk.vanishing.prover.fixed_polys`: the fixed columns, the wide weight
    columns among them, the permutation's sigma and the 4 virtual columns, on each of the
    quotient's cosets of 2^k rows, 32 bytes a value), or 0 where they would exceed
    `FIXED_COSET_CACHE_BYTES` and each proof recomputes them instead: at k = 16 about
    1.0-1.3 GiB of a proof's peak, from k = 17 on nothing (but for the compact layout's
    fewer columns)."""
    from ..plonk.vanishing.prover import FIXED_COSET_CACHE_BYTES
    c = _layout_counts(lanes, compact)
    size = ((c["coset_columns"] + (weight_width or 0)) << k) * 32 * c["pieces"]
    return size if size <= FIXED_COSET_CACHE_BYTES else 0


@functools.lru_cache(maxsize=None)
def _compact_cost(spec: str, L: int, scale_bits, weight_width) -> tuple:
    """(k, layout columns) of the compact layout of the model ``spec`` (a random model's)
    over ``L`` tokens: the first pass setup itself makes to choose it (calibration and a
    phase-0 build, seconds for the small models it is asked of)."""
    from ..model.circuit import layout_cost
    make = _key_circuit(spec, L, scale_bits)
    _, k, cols = layout_cost(make(compact=True, mm_lanes=2, weight_width=weight_width))
    return k, cols


@functools.lru_cache(maxsize=None)
def _chunk_base_columns(wide: bool) -> dict:
    """{(role, position): columns less the weight width} of a tiny model's three chunks of
    each role (position 0: first, 1: middle, 2: last)."""
    from ..model.circuit import layout_cost
    from ..model.segments import split
    w = 16 if wide else None
    make = _key_circuit(TINY + ",vocab_size=24", 4)
    out, seen = {}, {}
    for seg in split(1, 1, vocab=24, embed_chunk=8, head_chunk=8):
        if seg.chunk:
            pos = seen[seg.role] = seen.get(seg.role, -1) + 1
            out[(seg.role, pos)] = layout_cost(make(segment=seg, weight_width=w))[2] - (w or 0)
    return out


@functools.lru_cache(maxsize=None)
def _block_base_columns(lanes: int, wide: bool) -> dict:
    """{(embed, head): columns less the weight width} of a segment of blocks that holds the
    embedding (``embed``) and the head (``head``) or not, in the banked layout with
    ``lanes`` matmul lanes, measured like `layout_columns` on a 3-block tiny model whole and
    split one block a segment (narrow, 2 lanes: 382 whole, 362 first, 354 middle, 375
    last)."""
    from ..model.circuit import layout_cost
    from ..model.segments import split
    w = 16 if wide else None
    make = _key_circuit(TINY.replace("n_layer=1", "n_layer=3") + ",vocab_size=16", 4)
    out = {(True, True): layout_cost(make(mm_lanes=lanes, weight_width=w))[2] - (w or 0)}
    for seg in split(3, 1):
        out[(seg.embed, seg.head)] = layout_cost(make(segment=seg, mm_lanes=lanes,
                                                      weight_width=w))[2] - (w or 0)
    return out


def block_columns(lanes: int, embed: bool = True, head: bool = True, weight_width=None) -> int:
    """The columns `circuit.layout_cost` counts for a segment of blocks in the banked layout
    with ``lanes`` matmul lanes (`_block_base_columns`) plus the weight width (the same at
    any width of model): a whole circuit's (``embed`` and ``head``), or a chain's first
    (the embedding, no head), middle or last segment's, 2-7% narrower than a whole circuit
    (no embedding table, no argmax)."""
    base = _block_base_columns(int(lanes), weight_width is not None)
    return base[(bool(embed), bool(head))] + (weight_width or 0)


def chunk_columns(role: str, chunks: int, weight_width=None) -> list:
    """The columns `circuit.layout_cost` counts for each of a role's ``chunks`` vocabulary
    chunks (``role`` "embed" or "head"), measured like `layout_columns` on a tiny model's
    first, middle and last chunk, plus the weight width (the same at any width of model):
    the first head chunk also holds the final LayerNorm and the last the argmax's merge
    (narrow: embedding 71, 73, 73; head 219, 99, 106). Far fewer than a segment of blocks,
    so a chunk proves in a fraction of a block segment's time at the same k."""
    if role not in ("embed", "head"):
        raise ValueError(f"a vocabulary chunk's role is 'embed' or 'head', got {role!r}")
    base = _chunk_base_columns(weight_width is not None)
    w = weight_width or 0
    if chunks == 1:       # first and last at once
        return [base[(role, 0)] + base[(role, 2)] - base[(role, 1)] + w]
    return [base[(role, 0)] + w] + [base[(role, 1)] + w] * (chunks - 2) + [base[(role, 2)] + w]


def _layout(cfg, T: int, segs: list, w, floor: int, scale_bits=None) -> dict:
    """The layout setup would pick for ``segs`` (weight width ``w``, table floor ``floor``):
    of the lane counts setup tries (`circuit.layout_candidates`: 2, the default and one
    more), the one with the fewest layout cells at its own k; and for a circuit of one
    segment whose banked layout sits at the tables' floor, the compact layout where it is
    cheaper (`_compact_cost`: small models, whose k the tables set, prove faster compact).
    {"lanes" ("compact" for the compact layout), "compact", "layout_k", "layout_columns",
    "layout_cells", "coset_cache" (GiB), "segment_proof_bytes"}."""
    from ..model.circuit import layout_candidates
    from .scaling import spec_of

    def candidate(lanes, compact, k, cols):
        return {"lanes": "compact" if compact else lanes, "compact": compact, "layout_k": k,
                "layout_columns": cols, "layout_cells": cols << k,
                "coset_cache": coset_cache_bytes(lanes, w, k, compact) / 2**30,
                "segment_proof_bytes": layout_proof_bytes(lanes, w, compact)}

    best = None
    for lanes in [n for compact, n in layout_candidates(cfg, T) if not compact]:
        k = max(max(math.ceil(math.log2(segment_rows(cfg, T, s, w, lanes) + 16)) for s in segs),
                floor)
        cols = block_columns(lanes, weight_width=w)
        if best is None or cols << k < best["layout_cells"]:
            best = candidate(lanes, False, k, cols)
    whole = len(segs) == 1 and segs[0].embed and segs[0].head and not segs[0].chunk
    if whole and best["layout_k"] == floor:
        k, cols = _compact_cost(spec_of(vars(cfg)), T + 1, scale_bits, w)
        k = max(k, floor)
        if cols << k < best["layout_cells"]:
            best = candidate(2, True, k, cols)
    return best


def circuit_shape(config: dict, max_tokens=None, scale_bits=None, memory_budget=BUDGET) -> dict:
    """The circuit size setup would build for ``config`` (a dict of n_layer, n_head, n_embd,
    block_size, vocab_size) proving ``max_tokens`` tokens (default: the block size) at scale
    ``scale_bits`` (None: calibrate's choice) under ``memory_budget``, from the shapes alone:
    {"segments", "parts", "weight_width", "k", "columns", "cells"} (cells of one segment;
    every segment shares k), and the layout's {"lanes", "layout_k", "layout_columns",
    "layout_cells"} (`_layout`: the k setup would build at with those lanes).
    `segment_plan.BudgetError` when one block does not fit."""
    from ..model.segment_plan import COLUMNS, best_width, plan_segments
    cfg = _gpt_config(config)
    L = int(max_tokens or cfg.block_size)
    T = L - 1
    segs = plan_segments(cfg, L, memory_budget=memory_budget, progress=_silent)
    w = best_width(cfg, T, segs)
    floor = table_bits(scale_bits)
    k = max(max(math.ceil(math.log2(segment_rows(cfg, T, s, w) + 16)) for s in segs), floor)
    columns = COLUMNS + (w or 0)
    roles = {}
    for s in segs:
        key = s.role or "blocks"
        roles[key] = roles.get(key, 0) + 1
    lay = _layout(cfg, T, segs, w, floor, scale_bits)
    ends = [(s.embed, s.head) for s in segs if not s.chunk]
    return {"segments": len(segs), "parts": roles,
            "blocks_per_segment": max(s.n_blocks for s in segs), "weight_width": w, "k": k,
            "columns": columns, "cells": columns << k, **lay, **_roles(roles, lay, w, ends)}


def _roles(parts: dict, lay: dict, w, block_ends=None) -> dict:
    """Each kind of segment's layout columns (the mean over its role's segments: chunks by
    `chunk_columns`, segments of blocks by `block_columns` from ``block_ends``, each one's
    (holds the embedding, holds the head); None: whole circuits), its sizes at the chain's
    common k ("role_sizes": {role: {"layout_cells", "coset_precompute", "coset_recompute"}},
    `_coset_cells`) and the mean of each size over the chain's segments: {"role_columns",
    "role_cells", "role_sizes", "mean_layout_cells", "mean_coset_precompute",
    "mean_coset_recompute"}."""
    def blocks():
        if not block_ends or lay.get("compact"):
            return lay["layout_columns"]
        return sum(block_columns(lay["lanes"], e, h, w) for e, h in block_ends) / len(block_ends)

    cols = {role: blocks() if role == "blocks"
            else sum(chunk_columns(role, parts[role], w)) / parts[role] for role in parts}
    cells = {role: c * (1 << lay["layout_k"]) for role, c in cols.items()}
    sizes = {role: {"layout_cells": cells[role],
                    **_coset_cells(lay, w, cols[role])} for role in parts}
    n = sum(parts.values())
    return {"role_columns": cols, "role_cells": cells, "role_sizes": sizes,
            **{"mean_" + f: sum(parts[r] * sizes[r][f] for r in parts) / n
               for f in ("layout_cells", "coset_precompute", "coset_recompute")}}


def _coset_cells(lay: dict, w, columns: float) -> dict:
    """Values of the fixed-kind columns (fixed, sigma and virtual) on the quotient's cosets of
    a segment of ``columns`` layout columns in the layout ``lay`` (its coset columns taken in
    proportion to the tiny circuit's, `_layout_counts`): {"coset_precompute": those cells
    where the proving key keeps them (`FIXED_COSET_CACHE_BYTES`: computed once when the key
    is built or loaded, so a key rebuild's work), "coset_recompute": where it does not (each
    proof's quotient recomputes them: at k = 16 the quotient takes 3-4 s a proof, at k = 17
    10-12 s)}, the other 0."""
    from ..plonk.vanishing.prover import FIXED_COSET_CACHE_BYTES
    compact = bool(lay.get("compact"))
    lanes = 2 if compact else int(lay["lanes"])
    c = _layout_counts(lanes, compact)
    whole = layout_columns(lanes, compact) + (w or 0)
    values = ((c["coset_columns"] + (w or 0)) * columns / whole * (1 << lay["layout_k"])
              * c["pieces"])
    kept = values * 32 <= FIXED_COSET_CACHE_BYTES
    return {"coset_precompute": values if kept else 0.0,
            "coset_recompute": 0.0 if kept else values}


# ----------------------------------------------------------------------------- records
def _measured(rec: dict) -> dict:
    r = rec["result"]
    n = int(r["segments"])
    seg = [float(x) for x in r["segment_seconds"]]
    if n > 1:
        rebuild = (float(r["prove_seconds"]) - sum(seg)) / n
    else:
        rebuild = float(r.get("prover_load_seconds") or 0.0)
    return {"k": int(r["k"]), "segments": n, "prove": sum(seg) / len(seg), "rebuild": rebuild,
            "segment_seconds": seg,
            # the proof's own peak where the record has it (setup's layout choice can peak
            # higher, and a worker proving with a made key does not run it)
            "memory": float(r.get("prove_peak_rss_bytes") or rec.get("peak_rss_bytes")
                            or r["peak_rss_bytes"]) / 2**30,
            "memory_phase": "prove" if r.get("prove_peak_rss_bytes") else "process",
            "proof": float(r["proof_bytes"]), "compact": bool(r.get("compact_layout")),
            "lanes": r.get("mm_lanes")}


def load_records(d: str) -> list:
    """The proved points of a sweep folder (DIR/points/*.json of `bench scaling --prove
    --resume DIR`): [{"id", "config", "max_tokens", "scale_bits", "sweeps", "measured"}].
    `CostModelError` when DIR has no readable record of a proved point."""
    if not os.path.isdir(d):
        raise CostModelError(f"{d}: no such folder (give the DIR of `snarkgpt bench scaling "
                             "--prove --resume DIR`)")
    files = sorted(glob.glob(os.path.join(d, "points", "*.json")))
    if not files:
        raise CostModelError(f"{d}: no point records (expected {os.path.join(d, 'points')}/"
                             "<point>.json from `snarkgpt bench scaling --prove --resume DIR`)")
    out = []
    for path in files:
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, ValueError) as e:
            raise CostModelError(f"{path}: not a point record ({e})") from None
        if not isinstance(rec, dict) or rec.get("status") != "ok" or rec.get("mode") != "prove":
            continue
        try:
            pt = rec["point"]
            out.append({"id": rec["id"], "config": dict(pt["config"]),
                        "max_tokens": pt.get("max_tokens"), "scale_bits": pt.get("scale_bits"),
                        "sweeps": [tuple(s) for s in pt.get("sweeps", [])],
                        "measured": _measured(rec)})
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            raise CostModelError(f"{path}: a proved point without {e}") from None
    if len(out) < 3:
        raise CostModelError(f"{d}: {len(out)} proved point(s) recorded; the fit needs at "
                             "least 3")
    return out


def merge_runs(runs: list) -> list:
    """One record per point from several runs of the same sweep (each a `load_records`
    list): the median over the runs of each per-segment time (``prove``, ``rebuild`` and each
    segment's seconds, where the runs split the point alike), the proof's peak memory where a
    run measured it apart from setup's (else the median process peak), the proof's bytes of
    the first run (a circuit's proof has one size). A point missing from some runs keeps the
    runs that have it; "runs" says how many."""
    import statistics
    by_id = {}
    for recs in runs:
        for r in recs:
            by_id.setdefault(r["id"], []).append(r)
    out = []
    for pid, recs in by_id.items():
        ms = [r["measured"] for r in recs]
        m = dict(ms[0])
        for key in ("prove", "rebuild"):
            m[key] = statistics.median(x[key] for x in ms)
        if len({len(x["segment_seconds"]) for x in ms}) == 1:
            m["segment_seconds"] = [statistics.median(v) for v in
                                    zip(*(x["segment_seconds"] for x in ms))]
        apart = [x["memory"] for x in ms if x.get("memory_phase") == "prove"]
        m["memory"] = statistics.median(apart or [x["memory"] for x in ms])
        m["memory_phase"] = "prove" if apart else "process"
        out.append({**recs[0], "measured": m, "runs": len(recs)})
    return out


def held_back(records: list) -> set:
    """Ids held back from the fit, by a rule fixed beforehand: for every swept dimension with
    at least three proved points, its smallest and its largest value."""
    by_dim = {}
    for r in records:
        for dim, value in r["sweeps"]:
            if value is not None:
                by_dim.setdefault(dim, []).append((value, r["id"]))
    out = set()
    for pts in by_dim.values():
        if len(pts) >= 3:
            pts.sort()
            out |= {pts[0][1], pts[-1][1]}
    return out


# ----------------------------------------------------------------------------- the fit
def _nnls_relative(x, y, intercept: bool = True):
    """(a..., b) >= 0 minimizing sum(((x . a + b) - y) / y)^2; ``x``: one row of features
    per point (or one feature per point); ``intercept=False``: b = 0."""
    from .scaling import _nnls
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.ndim == 1:
        x = x[:, None]
    if intercept:
        x = np.concatenate([x, np.ones((len(y), 1))], axis=1)
    coef = [float(c) for c in _nnls(x / y[:, None], np.ones_like(y))]
    return (coef[:-1], coef[-1]) if intercept else (coef, 0.0)


FEATURES = {"prove": ("mean_layout_cells",), "rebuild": ("mean_layout_cells",),
            "memory": ("cells",), "proof": ("block_proof", "chunks")}
"""The sizes each measure is linear in, by default (module docstring): cells in millions
(for the time of a segment, its own layout cells: the mean over a chain's segments, whose
chunks have far fewer columns than its blocks; for the memory, the planner's cells of a
segment); for the proof, the bytes of one segment's proof in its layout, counted on a tiny
circuit (`layout_proof_bytes`, kB), summed over the segments of blocks, and the vocabulary
chunks (small circuits, about 3.4 KB a proof). `evaluate` chooses each measure's in
`CHOICES` by leave-one-out error over the training points."""
CHOICES = {"prove": (("mean_layout_cells",), ("mean_layout_cells", "mean_coset_recompute")),
           "rebuild": (("mean_layout_cells",), ("mean_layout_cells", "mean_coset_precompute")),
           "memory": (("cells",), ("cells", "coset_cache"), ("layout_cells",),
                      ("layout_cells", "coset_cache"))}
"""Candidate sizes of a measure: for the times, the layout cells alone or with the coset
work (`_coset_cells`: recomputed by each proof, precomputed by a key rebuild); for the
memory, the planner's cells or the layout's, with or without the proving key's coset cache
(GiB). Chosen on the training points alone (`loo_errors`)."""
NO_FIXED_PART = ("proof",)
"""Measures fitted without a fixed part: a chain's proof is its segments' proofs and nothing
else."""
PER_SEGMENT = ("prove", "rebuild")
"""Measures of one segment, priced for each kind of segment by its own layout cells."""


def _features(shape: dict, names) -> list:
    out = []
    for f in names:
        if f == "block_proof":                                # kB
            x = shape["parts"].get("blocks", 0) * shape["segment_proof_bytes"] / 1e3
        elif f == "chunks":
            x = shape["parts"].get("embed", 0) + shape["parts"].get("head", 0)
        elif f == "coset_cache":
            x = shape[f]                                      # GiB
        else:
            x = shape[f] / 1e6
        out.append(float(x))
    return out


def fit(points: list, features=None) -> dict:
    """Constants of the cost model (module docstring) fitted on ``points`` (each with a
    "shape" from `circuit_shape` and its "measured" values), each measure on its
    ``features`` (default `FEATURES`): {measure: {"a": {feature: coefficient}, "b": fixed
    part}}; at least two points."""
    if len(points) < 2:
        raise CostModelError(f"the fit needs at least 2 training points, got {len(points)}")
    features = {**FEATURES, **(features or {})}
    out = {}
    for m in MEASURES:
        xs = [_features(p["shape"], features[m]) for p in points]
        ys = [max(p["measured"][m], 1e-9) for p in points]
        a, b = _nnls_relative(xs, ys, intercept=m not in NO_FIXED_PART)
        out[m] = {"a": dict(zip(features[m], a)), "b": b}
    return out


def loo_errors(points: list, measure: str, features: tuple) -> list:
    """Relative errors of ``measure`` on each of ``points`` predicted by a fit on the others
    (leave one out), with ``features``: how well a choice of sizes generalizes, judged on the
    training points alone."""
    out = []
    for i, p in enumerate(points):
        c = fit(points[:i] + points[i + 1:], {measure: features})
        pred = predict(c, p["shape"])[measure]
        out.append((pred - p["measured"][measure]) / p["measured"][measure])
    return out


def predict(constants: dict, shape: dict) -> dict:
    """Predicted {prove, rebuild (seconds per segment, the mean over a chain's segments),
    memory (GiB), proof (bytes)} of a circuit of ``shape``, and "by_role": {measure: {kind
    of segment: seconds}} for the prove and rebuild of each kind ("blocks", "embed",
    "head") by its own layout cells."""
    out = {}
    for m in MEASURES:
        a = constants[m]["a"]
        out[m] = sum(c * x for c, x in zip(a.values(), _features(shape, a))) + constants[m]["b"]
    out["by_role"] = {m: {role: sum(c * sizes[f.removeprefix("mean_")] / 1e6
                                    for f, c in constants[m]["a"].items()) + constants[m]["b"]
                          for role, sizes in shape["role_sizes"].items()}
                      for m in PER_SEGMENT}
    return out


def evaluate(records: list, train_budget=TRAIN_BUDGET, holdout=None) -> dict:
    """Shapes of every record (re-planned under ``train_budget``), the fit on the points not
    held back (``holdout``: ids; default `held_back`), with each measure of `CHOICES` on the
    sizes of least leave-one-out error over those points ("selection"), and each point's
    prediction and relative error, ((predicted - measured) / measured)."""
    holdout = held_back(records) if holdout is None else set(holdout)
    pts = []
    for r in records:
        shape = circuit_shape(r["config"], r["max_tokens"], r["scale_bits"], train_budget)
        measured = dict(r["measured"])
        seconds = measured.get("segment_seconds") or []
        if len(shape["parts"]) > 1 and len(seconds) == shape["segments"]:
            # a chain's segments in plan order: embedding chunks, blocks, head chunks
            roles, i = {}, 0
            for role in ("embed", "blocks", "head"):
                n = shape["parts"].get(role, 0)
                if n:
                    roles[role] = sum(seconds[i:i + n]) / n
                    i += n
            measured["roles"] = roles
        pts.append({**r, "measured": measured, "shape": shape,
                    "held_back": r["id"] in holdout})
    train = [p for p in pts if not p["held_back"]]
    chosen, selection = {}, {}
    for m, options in CHOICES.items():
        if len(train) < 3:
            break
        for f in options:
            e = loo_errors(train, m, f)
            selection[(m, f)] = {"rms": float(np.sqrt(np.mean(np.square(e)))),
                                 "max": float(np.max(np.abs(e)))}
        chosen[m] = min(options, key=lambda f: selection[(m, f)]["rms"])
    constants = fit(train, chosen)
    for p in pts:
        p["predicted"] = predict(constants, p["shape"])
        p["error"] = {m: (p["predicted"][m] - p["measured"][m]) / p["measured"][m]
                      for m in MEASURES if p["measured"][m]}
        p["within_goal"] = all(abs(p["error"].get(m, 0.0)) <= GOAL
                               for m in ("prove", "memory", "proof"))
    external = []
    for e in EXTERNAL:
        external.append(_external(e, constants))
    return {"constants": constants, "points": pts, "external": external,
            "summary": _summary(pts),
            "train_budget": train_budget, "goal": GOAL,
            "selection": [{"measure": m, "features": list(f), **v}
                          for (m, f), v in selection.items()]}


def against(ev: dict, records: list) -> dict:
    """The fitted model (``ev``: `evaluate`'s) against the records of another run of the same
    grid (`load_records`), none of which it was fitted on: each point's prediction and
    relative error on that run's measurements, held-back and training points marked as in
    the fit, and how many are within `GOAL` on prove time, peak memory and proof size at
    once: {"points", "summary"}."""
    known = {p["id"]: p for p in ev["points"]}
    out = []
    for r in records:
        p = known.get(r["id"])
        shape = p["shape"] if p else circuit_shape(r["config"], r["max_tokens"],
                                                   r["scale_bits"], ev["train_budget"])
        pred = predict(ev["constants"], shape)
        ms = r["measured"]
        err = {m: (pred[m] - ms[m]) / ms[m] for m in MEASURES if ms[m]}
        out.append({"id": r["id"], "held_back": bool(p and p["held_back"]), "shape": shape,
                    "measured": ms, "predicted": pred, "error": err,
                    "within_goal": all(abs(err.get(m, 0.0)) <= GOAL
                                       for m in ("prove", "memory", "proof"))})
    return {"points": out, "summary": _summary(out)}


def _summary(points: list) -> dict:
    """{"train", "held_back"}: each set's largest |error| per measure, its points and how
    many are within `GOAL` on prove time, peak memory and proof size at once."""
    out = {}
    for name, flag in (("train", False), ("held_back", True)):
        group = [p for p in points if p["held_back"] == flag]
        out[name] = {m: max((abs(p["error"][m]) for p in group if m in p["error"]),
                            default=None) for m in MEASURES}
        out[name]["points"] = len(group)
        out[name]["within_goal"] = sum(p["within_goal"] for p in group)
    return out


def _external(e: dict, constants: dict) -> dict:
    from ..model.segment_plan import COLUMNS
    from ..model.segments import Segment
    if "segment" in e:
        cfg = _gpt_config(e["config"])
        seg = Segment(**e["segment"])
        w = e["weight_width"]
        k = max(math.ceil(math.log2(segment_rows(cfg, e["max_tokens"] - 1, seg, w) + 16)),
                DEFAULT_TABLE_BITS)
        lay = _layout(cfg, e["max_tokens"] - 1, [seg], w, DEFAULT_TABLE_BITS)
        shape = {"segments": 1, "weight_width": w, "k": k, "columns": COLUMNS + w,
                 "cells": (COLUMNS + w) << k, "parts": {"blocks": 1}, "blocks_per_segment": 1,
                 **lay, **_roles({"blocks": 1}, lay, w, [(seg.embed, seg.head)])}
    else:
        shape = circuit_shape(e["config"], e["max_tokens"], None, e["budget"])
    pred = predict(constants, shape)
    err = {m: (pred[m] - e["measured"][m]) / e["measured"][m] for m in MEASURES}
    return {**e, "shape": shape, "predicted": pred, "error": err}


# ----------------------------------------------------------------------------- extrapolation
def anchor_factors(check: dict) -> dict:
    """Measured / predicted for each kind of segment ("blocks", "embed", "head": proving
    seconds, each kind priced by its own layout cells) and for the key rebuild (the mean
    over the chain), from a measured chain with per-kind times (a proved point's
    ``measured["roles"]``, or an out-of-grid check's ``roles``): the factors that make the
    model reproduce that run."""
    pred = check["predicted"]
    roles = check["measured"].get("roles") or check.get("roles")
    out = {role: t / pred["by_role"]["prove"][role] for role, t in roles.items()}
    out["rebuild"] = check["measured"]["rebuild"] / pred["rebuild"]
    return out


def _anchor(ev: dict):
    """The measured chain the anchored extrapolation rests on: the proved point with
    vocabulary chunks whose split the model reproduces (the sweep's GPT-2 small), else the
    out-of-grid check `ANCHOR`."""
    for p in ev["points"]:
        if p["measured"].get("roles") and len(p["measured"]["roles"]) > 1:
            return p
    return next((e for e in ev["external"] if e["id"] == ANCHOR), None)


def makespan(seconds, workers: int) -> float:
    """Seconds until ``workers`` workers, each proving one segment at a time, have proved
    segments of the given ``seconds``, handed out longest first to the least loaded worker
    (ceil(segments / workers) waves when all cost alike)."""
    load = [0.0] * max(1, int(workers))
    for t in sorted(seconds, reverse=True):
        i = min(range(len(load)), key=load.__getitem__)
        load[i] += t
    return max(load)


def extrapolate(constants: dict, budget=BUDGET, workers=WORKERS,
                coordinator=COORDINATOR_SECONDS, sizes=None, anchor=None) -> list:
    """GPT-2 small, medium and large (vocabulary 50,257, 16 tokens) planned under ``budget``
    (where one block does not fit it, the smallest budget in whole GiB that fits, and the
    refusal): segments, predicted cost per segment, total on one machine (segments one after
    another) and the makespan on a cluster of N workers for each N in ``workers``.
    ``anchor`` (`anchor_factors`): also the same with each kind of segment's proving time
    and the key rebuild scaled by its factor ("anchored")."""
    from ..model.memory import format_size, parse_size
    from ..model.segment_plan import BudgetError
    out = []
    for name, (L, H, d) in (sizes or GPT2_SIZES).items():
        cfg = {"n_layer": L, "n_head": H, "n_embd": d, "block_size": 1024,
               "vocab_size": GPT2_VOCAB}
        used, refused = budget, None
        try:
            shape = circuit_shape(cfg, GPT2_TOKENS, None, budget)
        except BudgetError as e:
            refused = str(e)
            gib = math.ceil(parse_size(budget) / 2**30)
            while True:
                gib += 1
                try:
                    shape = circuit_shape(cfg, GPT2_TOKENS, None, f"{gib}G")
                    break
                except BudgetError:
                    if gib > 1024:
                        raise
            used = f"{gib}G"
        pred = predict(constants, shape)
        by = pred["by_role"]
        kinds = {role: by["prove"][role] + by["rebuild"][role] for role in shape["parts"]}
        segs = [kinds[role] for role, count in shape["parts"].items() for _ in range(count)]
        cluster = {N: makespan(segs, N) + coordinator for N in workers}
        row = {"model": name, "config": cfg, "max_tokens": GPT2_TOKENS,
               "budget": format_size(parse_size(used)), "refused": refused,
               "shape": shape, "predicted": pred, "per_kind_seconds": kinds,
               "per_segment_seconds": sum(segs) / len(segs),
               "sequential_seconds": sum(segs), "cluster_seconds": cluster,
               "coordinator_seconds": coordinator}
        if anchor:
            kinds = {role: by["prove"][role] * anchor.get(role, 1.0)
                     + by["rebuild"][role] * anchor["rebuild"] for role in shape["parts"]}
            segs = [kinds[role] for role, count in shape["parts"].items()
                    for _ in range(count)]
            row["anchored"] = {"per_kind_seconds": kinds, "sequential_seconds": sum(segs),
                               "cluster_seconds": {N: makespan(segs, N) + coordinator
                                                   for N in workers}}
        out.append(row)
    return out


# ----------------------------------------------------------------------------- output
def _pct(x):
    return "-" if x is None else f"{100 * x:+.0f}%"


def report(ev: dict, ext: list) -> list:
    """Markdown tables: the constants, every point's prediction (held-back points first),
    the out-of-grid checks and the extrapolation."""
    c = ev["constants"]
    lines = ["### Constants (fitted on the training points; cells in millions)", "",
             "| measure | per unit of each size (cells: per million) | fixed |",
             "|---|---|---|"]
    for m in MEASURES:
        unit = UNITS[m]
        per = ", ".join(f"{v:.4g} per {f.replace('_', ' ')}" for f, v in c[m]["a"].items())
        lines.append(f"| {m} ({unit}) | {per} | {c[m]['b']:.4g} |")
    if ev.get("selection"):
        lines += ["", "### Sizes chosen by leave-one-out error over the training points", "",
                  "| measure | sizes | rms | largest | chosen |", "|---|---|---|---|---|"]
        for row in ev["selection"]:
            used = tuple(c[row["measure"]]["a"]) == tuple(row["features"])
            lines.append(f"| {row['measure']} | {' + '.join(row['features'])} | "
                         f"{100 * row['rms']:.1f}% | {100 * row['max']:.0f}% | "
                         f"{'yes' if used else ''} |")
    lines += ["", f"### Every point (re-planned under a {ev['train_budget']} budget; error = "
                  "(predicted - measured) / measured)", "",
              "| point | set | k pred / rec | lanes pred / rec | segments pred / rec | layout "
              "Mcells | Mcells | prove s/seg pred / meas | err | rebuild s/seg pred / meas | err "
              "| peak GiB pred / meas | err | proof B pred / meas | err | within 15% |",
              "|" + "---|" * 17]
    order = sorted(ev["points"], key=lambda p: (not p["held_back"], p["shape"]["cells"], p["id"]))
    for p in order:
        s, ms, pr, er = p["shape"], p["measured"], p["predicted"], p["error"]
        kk = f"{s['layout_k']} / {ms['k']}" + ("" if s["layout_k"] == ms["k"] else " *")
        ll = (f"{s['lanes']} / {ms['lanes']}" + ("" if s["lanes"] == ms["lanes"] else " *")
              if ms.get("lanes") and not ms["compact"] else f"{s['lanes']} / -")
        nn = f"{s['segments']} / {ms['segments']}" + ("" if s["segments"] == ms["segments"]
                                                      else " *")
        lines.append(
            f"| {p['id']}{' (compact)' if ms['compact'] else ''} | "
            f"{'held back' if p['held_back'] else 'train'} | {kk} | {ll} | {nn} "
            f"| {s['layout_cells'] / 1e6:.1f} | {s['cells'] / 1e6:.1f} "
            f"| {pr['prove']:.1f} / {ms['prove']:.1f} | {_pct(er.get('prove'))} "
            f"| {pr['rebuild']:.1f} / {ms['rebuild']:.1f} | {_pct(er.get('rebuild'))} "
            f"| {pr['memory']:.2f} / {ms['memory']:.2f} | {_pct(er.get('memory'))} "
            f"| {pr['proof']:,.0f} / {ms['proof']:,.0f} | {_pct(er.get('proof'))} "
            f"| {'yes' if p['within_goal'] else 'no'} |")
    sm = ev["summary"]
    lines += ["", "| set | points | within 15% (prove, peak, proof) | largest |err| prove | "
                  "rebuild | peak | proof |", "|---|---|---|---|---|---|---|"]
    for name in ("train", "held_back"):
        g = sm[name]
        lines.append(f"| {name.replace('_', ' ')} | {g['points']} | {g['within_goal']} | "
                     + " | ".join("-" if g[m] is None else f"{100 * g[m]:.0f}%"
                                  for m in MEASURES) + " |")
    lines += ["", "### Out-of-grid checks (GPT-2 width, docs/benchmarks.md; never fitted; per "
                  "segment: means over a chain's segments)", "",
              "| check | k pred / meas | segments pred / meas | prove s/seg pred / meas | err | "
              "rebuild s/seg pred / meas | err | peak GiB pred / meas | err | proof B pred / meas "
              "| err |", "|" + "---|" * 11]
    for e in ev["external"]:
        s, ms, pr, er = e["shape"], e["measured"], e["predicted"], e["error"]
        lines.append(
            f"| {e['id']} | {s['layout_k']} / {ms['k']} | {s['segments']} / {ms['segments']} "
            f"| {pr['prove']:.1f} / {ms['prove']:.1f} | {_pct(er['prove'])} "
            f"| {pr['rebuild']:.1f} / {ms['rebuild']:.1f} | {_pct(er['rebuild'])} "
            f"| {pr['memory']:.2f} / {ms['memory']:.2f} | {_pct(er['memory'])} "
            f"| {pr['proof']:,.0f} / {ms['proof']:,.0f} | {_pct(er['proof'])} |")
    if ext:
        workers = list(ext[0]["cluster_seconds"])
        lines += ["", "### Extrapolation: GPT-2 at 16 tokens (vocabulary 50,257)", "",
                  "| model | budget | segments (embed chunks + block segments x blocks + head "
                  "chunks) | W | k | lanes | layout Mcells/seg | Mcells/seg | prove s/seg | "
                  "rebuild s/seg | peak GiB/worker | proof B | one machine, s |",
                  "|" + "---|" * 13]
        for x in ext:
            s, pr, parts = x["shape"], x["predicted"], x["shape"]["parts"]
            split = (f"{s['segments']} ({parts.get('embed', 0)} + {parts.get('blocks', 0)} x "
                     f"{s['blocks_per_segment']} + {parts.get('head', 0)})")
            lines.append(
                f"| {x['model']} | {x['budget']}{' (12 GiB refused)' if x['refused'] else ''} "
                f"| {split} | {s['weight_width'] or '-'} | {s['layout_k']} | {s['lanes']} "
                f"| {s['layout_cells'] / 1e6:.1f} | {s['cells'] / 1e6:.1f} "
                f"| {pr['prove']:.1f} | {pr['rebuild']:.1f} | {pr['memory']:.1f} "
                f"| {pr['proof']:,.0f} | {x['sequential_seconds']:,.0f} |")
        lines += ["", f"Makespan on a Ray cluster of N workers, seconds (ceil(segments / N) x "
                      f"(prove + rebuild) + {ext[0]['coordinator_seconds']:.0f} s):", "",
                  "| model | " + " | ".join(f"N = {n}" for n in workers) + " |",
                  "|---|" + "---|" * len(workers)]
        for x in ext:
            lines.append(f"| {x['model']} | " + " | ".join(
                f"{x['cluster_seconds'][n]:,.0f}" for n in workers) + " |")
        if ext[0].get("anchored"):
            f = ev.get("anchor") or {}
            lines += ["", "Anchored on the measured GPT-2 small chain (measured / predicted: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in f.items())
                      + "), seconds per segment with its key rebuild, and the makespan:", "",
                      "| model | block segment | embedding chunk | head chunk | one machine | "
                      + " | ".join(f"N = {n}" for n in workers) + " |",
                      "|---|---|---|---|---|" + "---|" * len(workers)]
            for x in ext:
                a = x["anchored"]
                kinds = a["per_kind_seconds"]
                lines.append(f"| {x['model']} | {kinds['blocks']:.1f} | {kinds['embed']:.1f} "
                             f"| {kinds['head']:.1f} | {a['sequential_seconds']:,.0f} | "
                             + " | ".join(f"{a['cluster_seconds'][n]:,.0f}" for n in workers)
                             + " |")
        for x in ext:
            if x["refused"]:
                lines.append(f"\n{x['model']}: {x['refused']}")
    return lines


def report_against(ag: dict) -> list:
    """Markdown: the fit's predictions against another run's measurements (`against`)."""
    lines = [f"### Against {ag['dir']} (a run the model was not fitted on; error = "
             "(predicted - measured) / measured)", "",
             "| point | set | prove s/seg pred / meas | err | peak GiB pred / meas | err | "
             "proof B pred / meas | err | within 15% |", "|" + "---|" * 9]
    order = sorted(ag["points"], key=lambda p: (not p["held_back"], p["shape"]["cells"],
                                                p["id"]))
    for p in order:
        ms, pr, er = p["measured"], p["predicted"], p["error"]
        lines.append(
            f"| {p['id']} | {'held back' if p['held_back'] else 'train'} | "
            f"{pr['prove']:.1f} / {ms['prove']:.1f} | {_pct(er.get('prove'))} | "
            f"{pr['memory']:.2f} / {ms['memory']:.2f} | {_pct(er.get('memory'))} | "
            f"{pr['proof']:,.0f} / {ms['proof']:,.0f} | {_pct(er.get('proof'))} | "
            f"{'yes' if p['within_goal'] else 'no'} |")
    lines += ["", "| set | points | within 15% (prove, peak, proof) | largest |err| prove | "
                  "peak | proof |", "|---|---|---|---|---|---|"]
    for name in ("train", "held_back"):
        sm = ag["summary"][name]
        lines.append(f"| {name.replace('_', ' ')} | {sm['points']} | {sm['within_goal']} | "
                     f"{_pct(sm['prove'])} | {_pct(sm['memory'])} | {_pct(sm['proof'])} |")
    return lines


def _json_ready(ev: dict, ext: list) -> dict:
    def clean(obj):
        if isinstance(obj, dict):
            return {str(k): clean(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [clean(v) for v in obj]
        return obj
    return clean({"fit": ev, "extrapolation": ext})


def plot(ev: dict, path: str) -> str | None:
    """A log-log PNG of predicted against measured prove seconds per segment, training and
    held-back points apart, with the 15% band; None (and a message on stderr) without
    matplotlib (the `plots` extra)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: plot skipped (pip install 'snarkgpt[plots]')",
              file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    pts = ev["points"]
    for held, style, label in ((False, "o", "training"), (True, "s", "held back")):
        xs = [p["measured"]["prove"] for p in pts if p["held_back"] == held]
        ys = [p["predicted"]["prove"] for p in pts if p["held_back"] == held]
        ax.plot(xs, ys, style, label=label, alpha=0.8)
    lo = min(min(p["measured"]["prove"], p["predicted"]["prove"]) for p in pts) * 0.8
    hi = max(max(p["measured"]["prove"], p["predicted"]["prove"]) for p in pts) * 1.25
    line = np.array([lo, hi])
    ax.plot(line, line, "k-", lw=0.8, label="predicted = measured")
    ax.fill_between(line, line * (1 - GOAL), line * (1 + GOAL), color="grey", alpha=0.2,
                    label=f"within {100 * GOAL:.0f}%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("measured prove seconds per segment")
    ax.set_ylabel("predicted (layout cells)")
    ax.set_title("per-segment cost model: prove time", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(args) -> int:
    """`snarkgpt bench scaling --fit DIR`: print the fit, every point's prediction and the
    extrapolation (``--json``: one JSON object); with ``--out OUT``, also the plot
    OUT/cost-model.png. Exit 0; 2 on a folder without records."""
    dirs = args.fit if isinstance(args.fit, (list, tuple)) else [args.fit]
    records = merge_runs([load_records(d) for d in dirs])
    ev = evaluate(records, getattr(args, "train_budget", None) or TRAIN_BUDGET)
    budget = getattr(args, "memory_budget", None) or BUDGET
    check = _anchor(ev)
    ev["anchor"] = None if check is None else anchor_factors(check)
    ev["anchor_point"] = None if check is None else check["id"]
    ext = extrapolate(ev["constants"], budget, anchor=ev["anchor"])
    out = getattr(args, "out", None)
    if out:
        written = plot(ev, os.path.join(out, "cost-model.png"))
        if written:
            print(f"plot: {written}", file=sys.stderr)
    other = getattr(args, "against", None)
    if other:
        ev["against"] = {"dir": other, **against(ev, load_records(other))}
    if getattr(args, "json", False):
        print(json.dumps(_json_ready(ev, ext)))
    else:
        runs = f" (the median of {len(dirs)} runs)" if len(dirs) > 1 else ""
        print(f"snarkgpt bench scaling --fit {' '.join(dirs)}: {len(records)} proved "
              f"points{runs}, "
              f"{ev['summary']['held_back']['points']} held back (the smallest and largest "
              "value of each sweep)")
        for line in report(ev, ext):
            print(line)
        if other:
            print()
            for line in report_against(ev["against"]):
                print(line)
    return 0


if __name__ == "__main__":   # pragma: no cover
    import argparse
    ap = argparse.ArgumentParser(prog="python -m snarkgpt.bench.cost_model")
    ap.add_argument("fit", metavar="DIR", nargs="+")
    ap.add_argument("--memory-budget", default=BUDGET)
    ap.add_argument("--train-budget", default=TRAIN_BUDGET)
    ap.add_argument("--json", action="store_true")
    try:
        sys.exit(main(ap.parse_args()))
    except CostModelError as e:
        print(f"snarkgpt: {e}", file=sys.stderr)
        sys.exit(2)
