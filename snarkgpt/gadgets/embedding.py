"""Token and positional embeddings: ``out[t, j] = wte[token_t, j] + wpe[pos0 + t, j]``.

Layout (chosen for cost and soundness)
--------------------------------------
The token-embedding matrix ``wte`` (V x d) is a three-column lookup table of V * d rows

    (token id v, column index j, wte[v, j])

and every output element is one row of the region:

    tok (advice)   j (fixed)   e (advice)   pe (fixed)       out (advice)
    token_t        j           wte[t, j]    wpe[pos0+t, j]   e + pe

* lookup ``{name}.lookup``: ``(tok, j, e)`` is a row of the table: since ``(v, j)`` is a key
  of the table, ``e = wte[tok, j]`` exactly; ``j`` is a fixed column, so the prover cannot
  choose which column it reads;
* gate ``{name}.same_token``: ``tok[+1] = tok`` inside each block of d rows, and the first
  ``tok`` of block t is copy-constrained to the token's cell (an instance cell for public
  tokens), so all d lookups of block t read the same token;
* gate ``{name}.add``: ``out = e + pe`` with the positional embedding in a fixed column (the
  position of row t is known: it is t + pos0).

Cost: T*d rows, 3 advice cells and 1 lookup per output element; the table has V*d rows and
3 fixed columns. A token id outside [0, V) has no table row: the witness generator refuses it
(`GadgetRangeError`) and a forged witness fails the lookup.

Alternatives considered: one table row per token holding the whole row ``(v, wte[v, 0..d-1])``
needs d + 1 table columns and d + 1 advice columns (one lookup per token, but d times the
columns, and the output would be spread over d columns); packing a row into one field
element does not fit (d * bits > 254 for d >= 16 at 16-bit values). The (v, j, value) table
keeps every column count constant and the output in one contiguous range, and its height
V*d is what a nanoGPT-size vocabulary allows (65 x 384 = 24,960 rows).

Error vs the float op: exactly the quantization of wte and wpe (the sum is exact).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.plonk.circuit import Cell
from snarkgpt.plonk.expression import Column, Selector

from .base import (Assigned, ChipContext, Cost, GadgetRangeError, as_values, check_range,
                   fill_table)

__all__ = ["EmbeddingChip", "EmbeddingConfig", "embedding_ref"]


def embedding_ref(tokens, wte, wpe=None, pos0: int = 0, op: str = "embedding") -> np.ndarray:
    """Integer reference: (T,) token ids -> (T, d) = wte[tokens] + wpe[pos0 : pos0 + T]."""
    tokens = as_values(tokens)
    wte = np.asarray(wte, dtype=np.int64)
    if tokens.ndim != 1 or tokens.size == 0:
        raise ValueError(f"{op}: tokens must be a non-empty 1-D array, got shape {tokens.shape}")
    if wte.ndim != 2:
        raise ValueError(f"{op}: wte must be (V, d), got shape {wte.shape}")
    check_range(op, tokens, 0, wte.shape[0], "token id")
    out = wte[tokens]
    if wpe is not None:
        wpe = np.asarray(wpe, dtype=np.int64)
        if wpe.ndim != 2 or wpe.shape[1] != wte.shape[1]:
            raise ValueError(f"{op}: wpe must be (n_ctx, {wte.shape[1]}), got shape {wpe.shape}")
        if pos0 < 0 or pos0 + tokens.size > wpe.shape[0]:
            raise GadgetRangeError(op, pos0 + tokens.size - 1, 0, wpe.shape[0], what="position")
        out = out + wpe[pos0: pos0 + tokens.size]
    return out


@dataclass
class EmbeddingConfig:
    name: str
    wte: np.ndarray
    tok: Column
    e: Column
    out: Column
    j: Column
    pe: Column
    q: Selector
    q_same: Selector
    table: object


class EmbeddingChip:
    """Token embedding by lookup into a (token, column, value) table, plus positional
    embedding from a fixed column (see the module docstring)."""

    COST = Cost(rows=1, advice=3, lookups=1,
                note="per output element (T*d); table of V*d rows and 3 fixed columns")

    @classmethod
    def configure(cls, ctx, wte, name: str = "wte") -> EmbeddingConfig:
        """One table per weight matrix ``wte`` (V x d), named ``name``."""
        ctx = ChipContext.of(ctx)
        cs = ctx.cs
        wte = np.asarray(wte, dtype=np.int64)
        if wte.ndim != 2 or wte.size == 0:
            raise ValueError(f"{name}: wte must be a non-empty (V, d) array, got {wte.shape}")

        def make():
            tok, e, out = ctx.advice_pool(3)
            # j, a lookup input, holds no weights; pe holds wpe: a weight column (never
            # opened), or a committed one (hiding)
            j = ctx.constant_column()
            (pe,) = ctx.weight_pool(1)
            q = cs.selector(ctx.named(f"{name}.q"))
            q_same = cs.selector(ctx.named(f"{name}.q_same"))
            # the value column holds wte: a private table column, never opened
            table = cs.lookup_table(name, [f"{name}.token", f"{name}.col", f"{name}.value"],
                                    roles=["table", "table", "weight_table"])
            V, d = wte.shape
            ctx.register_table(table, lambda: [np.repeat(np.arange(V, dtype=np.int64), d),
                                               np.tile(np.arange(d, dtype=np.int64), V),
                                               np.ascontiguousarray(wte.reshape(-1))])
            cs.lookup(ctx.named(f"{name}.lookup"), [tok.cur(), j.cur(), e.cur()], table, selector=q)
            cs.create_gate(ctx.named(f"{name}.add"), [("out = e + pe", out.cur() - e.cur() - pe.cur())],
                           selector=q)
            cs.create_gate(ctx.named(f"{name}.same_token"), [("tok[+1] = tok", tok.next() - tok.cur())],
                           selector=q_same)
            return EmbeddingConfig(name, wte, tok, e, out, j, pe, q, q_same, table)
        cfg = ctx.shared(("embedding", name), make)
        if cfg.wte.shape != wte.shape or not np.array_equal(cfg.wte, wte):
            raise ValueError(f"embedding table {name!r} was configured with other weights")
        return cfg

    @classmethod
    def assign(cls, layouter, cfg: EmbeddingConfig, tokens, wpe=None, pos0: int = 0,
               token_instance: Column | None = None, instance_offset: int = 0,
               name: str | None = None) -> Assigned:
        """(T,) token ids (array or `Assigned`) -> `Assigned` (T, d) embeddings.

        ``wpe``: optional (n_ctx, d) positional embedding (row t gets wpe[pos0 + t]).
        ``token_instance``: an equality-enabled instance column holding the public tokens
        from row ``instance_offset``; the token cells are copy-constrained to it."""
        name = name or cfg.name
        out = embedding_ref(tokens, cfg.wte, wpe, pos0, name)
        tv = as_values(tokens)
        T, d = out.shape
        n = T * d
        fill_table(layouter, cfg.table)
        e = cfg.wte[tv].reshape(-1)
        pe = (np.zeros(n, dtype=np.int64) if wpe is None
              else np.asarray(wpe, dtype=np.int64)[pos0: pos0 + T].reshape(-1))

        def region(reg):
            toks = reg.assign_advice_column(cfg.tok, 0, np.repeat(tv, d))
            reg.assign_fixed_column(cfg.j, 0, np.tile(np.arange(d, dtype=np.int64), T))
            reg.assign_advice_column(cfg.e, 0, np.ascontiguousarray(e))
            reg.assign_fixed_column(cfg.pe, 0, np.ascontiguousarray(pe))
            cells = reg.assign_advice_column(cfg.out, 0, np.ascontiguousarray(out.reshape(-1)))
            reg.enable_selector(cfg.q, 0, n)
            same = np.ones(n, dtype=np.int64)
            same[d - 1::d] = 0
            reg.assign_fixed_column(cfg.q_same.column, 0, same)
            firsts = [Cell(cfg.tok, toks.start + t * d) for t in range(T)]
            if isinstance(tokens, Assigned) and tokens.cells is not None:
                for t in range(T):
                    reg.constrain_equal(tokens.cells[t], firsts[t])
            if token_instance is not None:
                for t in range(T):
                    reg.constrain_instance(firsts[t], token_instance, instance_offset + t)
            return cells

        return Assigned(out, layouter.assign_region(name, region))
