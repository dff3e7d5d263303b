"""Gadgets of the vocabulary chunks (snarkgpt.model.segments): a one-hot matrix of
public tokens over a range of the vocabulary, the running embedding sum, and the running
(max, argmax) over the chunks of the logits.

One-hot (`OneHotChip`)
----------------------
``a[t, j] = 1`` if ``token_t = v0 + j`` else 0, for t < T and j < n (the chunk's tokens
``[v0, v0 + n)``), laid out row-major on rows ``t n + j`` of four columns:

    tok (advice)   j (fixed: v0 + j)   a (advice)   inv (advice)

* gate ``onehot.same_token``: ``tok[+1] = tok`` inside each block of n rows, and the first
  ``tok`` of block t is copy-constrained to the token's instance cell: every row of block t
  holds token_t;
* gate ``onehot.is_zero``: ``a (tok - j) = 0`` and ``1 - a - (tok - j) inv = 0``: where
  ``tok = j`` the second gives ``a = 1``; elsewhere the first gives ``a = 0`` (and ``inv`` is
  the inverse of ``tok - j``). So ``a`` is fully determined by the public tokens and the
  fixed column ``j``.

Cost: 3 advice cells per matrix element, degree 3 (with the selector).

Running sum (`AddChip`): ``out = s + e + pe`` (or ``out = e + pe`` for the first chunk)
per element, ``pe`` in a weight column (the positional embedding on the last chunk, zero on
the others).

Running argmax (`ArgmaxMergeChip`)
----------------------------------
Head chunk c (tokens ``[v0, v1)``) runs the argmax chip over ``[M | logits_c]`` per position
(M: the running maximum of the chunks before it) and gets ``(m, i)``: the new maximum and
the first index of it, so ``i = 0`` when ``M`` is at least every logit of the chunk (ties
keep the earlier, smaller token id) and ``i = 1 + j`` when logit j of the chunk is the first
strictly greater one. The merge gate turns i into the running argmax

    z = 1 - i inv,   i z = 0,   J' = z J + (1 - z) (i + off)     (off = v0 - 1, fixed)

``z = 1`` iff ``i = 0`` (the is-zero pair), so ``J' = J`` when the earlier chunks keep the
maximum and ``J' = v0 + j`` otherwise: after the last chunk, J is the smallest token id
whose logit is the maximum over the whole vocabulary, as ``integer_forward``'s argmax.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.field import Fr
from snarkgpt.plonk.circuit import Cell
from snarkgpt.plonk.expression import Column, Selector

from .base import Assigned, ChipContext, as_values, copy_in

__all__ = ["OneHotChip", "AddChip", "ArgmaxMergeChip", "field_inverses"]


def field_inverses(v: np.ndarray) -> np.ndarray:
    """(n, 4) Montgomery limbs of 1 / v mod r for int64 ``v`` (0 where v = 0)."""
    v = np.asarray(v, dtype=np.int64).reshape(-1)
    zero = v == 0
    inv = Fr.batch_inverse(Fr.from_signed(np.where(zero, 1, v)))
    inv = np.array(inv, dtype=np.uint64).reshape(-1, 4)
    inv[zero] = 0
    return inv


@dataclass
class OneHotConfig:
    tok: Column
    a: Column
    inv: Column
    j: Column
    q: Selector
    q_same: Selector


class OneHotChip:
    """a[t, j] = [token_t == v0 + j] from public tokens (module docstring)."""

    @classmethod
    def configure(cls, ctx) -> OneHotConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            tok, a, inv = ctx.advice_pool(3)
            j = ctx.constant_column()
            q = cs.selector(ctx.named("onehot.q"))
            q_same = cs.selector(ctx.named("onehot.q_same"))
            diff = tok.cur() - j.cur()
            cs.create_gate(ctx.named("onehot.is_zero"), [
                ("a (tok - j) = 0", a.cur() * diff),
                ("a = 1 where tok = j", 1 - a.cur() - diff * inv.cur()),
            ], selector=q)
            cs.create_gate(ctx.named("onehot.same_token"),
                           [("tok[+1] = tok", tok.next() - tok.cur())], selector=q_same)
            return OneHotConfig(tok, a, inv, j, q, q_same)
        return ctx.shared(("onehot",), make)

    @classmethod
    def assign(cls, layouter, cfg: OneHotConfig, tokens, v0: int, n: int,
               token_instance: Column, instance_offset: int = 0,
               name: str = "onehot") -> Assigned:
        """(T, n) `Assigned` one-hot of ``tokens`` (T,) over token ids [v0, v0 + n), each
        token cell copy-constrained to ``token_instance`` row ``instance_offset + t``."""
        tv = np.asarray(as_values(tokens), dtype=np.int64).reshape(-1)
        if n < 1:
            raise ValueError(f"{name}: a one-hot needs at least one column, got {n}")
        T = tv.size
        ids = v0 + np.arange(n, dtype=np.int64)
        onehot = (tv[:, None] == ids[None, :]).astype(np.int64)
        diff = (tv[:, None] - ids[None, :]).reshape(-1)

        def region(reg):
            toks = reg.assign_advice_column(cfg.tok, 0, np.repeat(tv, n))
            reg.assign_fixed_column(cfg.j, 0, np.tile(ids, T))
            cells = reg.assign_advice_column(cfg.a, 0, onehot.reshape(-1))
            reg.assign_advice_column(cfg.inv, 0, field_inverses(diff))
            reg.enable_selector(cfg.q, 0, T * n)
            same = np.ones(T * n, dtype=np.int64)
            same[n - 1::n] = 0
            reg.assign_fixed_column(cfg.q_same.column, 0, same)
            for t in range(T):
                reg.constrain_instance(Cell(cfg.tok, toks.start + t * n), token_instance,
                                       instance_offset + t)
            return cells
        return Assigned(onehot, layouter.assign_region(name, region))


@dataclass
class AddConfig:
    s: Column
    e: Column
    out: Column
    pe: Column
    q: Selector
    q_first: Selector


class AddChip:
    """out = s + e + pe (q), or out = e + pe (q_first), pe a weight column."""

    @classmethod
    def configure(cls, ctx) -> AddConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            s, e, out = ctx.advice_pool(3)
            (pe,) = ctx.weight_pool(1)
            q = cs.selector(ctx.named("embed_sum.q"))
            q_first = cs.selector(ctx.named("embed_sum.q_first"))
            cs.create_gate(ctx.named("embed_sum.add"), [
                ("out = s + e + pe", out.cur() - s.cur() - e.cur() - pe.cur())], selector=q)
            cs.create_gate(ctx.named("embed_sum.first"), [
                ("out = e + pe", out.cur() - e.cur() - pe.cur())], selector=q_first)
            return AddConfig(s, e, out, pe, q, q_first)
        return ctx.shared(("embed_sum",), make)

    @classmethod
    def assign(cls, layouter, cfg: AddConfig, s, e, pe, name: str = "embed_sum") -> Assigned:
        """``s + e + pe`` (``s`` None: ``e + pe``); s, e `Assigned` (copied in), pe plain."""
        ev = as_values(e)
        pv = np.asarray(pe, dtype=np.int64).reshape(ev.shape)
        out = ev + pv + (0 if s is None else as_values(s))
        n = out.size

        def region(reg):
            if s is not None:
                cs_ = reg.assign_advice_column(cfg.s, 0, np.ascontiguousarray(as_values(s).reshape(-1)))
                copy_in(reg, s, cs_)
            ce = reg.assign_advice_column(cfg.e, 0, np.ascontiguousarray(ev.reshape(-1)))
            copy_in(reg, e, ce)
            reg.assign_fixed_column(cfg.pe, 0, np.ascontiguousarray(pv.reshape(-1)))
            reg.enable_selector(cfg.q if s is not None else cfg.q_first, 0, n)
            return reg.assign_advice_column(cfg.out, 0, np.ascontiguousarray(out.reshape(-1)))
        return Assigned(out, layouter.assign_region(name, region))


@dataclass
class MergeConfig:
    i: Column
    inv: Column
    z: Column
    jp: Column
    jn: Column
    off: Column
    q: Selector


class ArgmaxMergeChip:
    """J' = J if i = 0 else i + off (module docstring, "Running argmax")."""

    @classmethod
    def configure(cls, ctx) -> MergeConfig:
        ctx = ChipContext.of(ctx)
        cs = ctx.cs

        def make():
            i, inv, z, jp, jn = ctx.advice_pool(5)
            off = ctx.constant_column()
            q = cs.selector(ctx.named("argmax_merge.q"))
            I, Z = i.cur(), z.cur()
            cs.create_gate(ctx.named("argmax_merge"), [
                ("z = 1 - i inv", Z - 1 + I * inv.cur()),
                ("i z = 0", I * Z),
                ("J' = z J + (1 - z) (i + off)",
                 jn.cur() - Z * jp.cur() - (1 - Z) * (I + off.cur())),
            ], selector=q)
            return MergeConfig(i, inv, z, jp, jn, off, q)
        return ctx.shared(("argmax_merge",), make)

    @classmethod
    def assign(cls, layouter, cfg: MergeConfig, idx: Assigned, prev: Assigned, v0: int,
               name: str = "argmax_merge") -> Assigned:
        """The running argmax after a chunk starting at token ``v0``: ``prev`` where the
        chunk's argmax ``idx`` over [M | logits] is 0, else ``v0 + idx - 1``."""
        iv = np.asarray(as_values(idx), dtype=np.int64).reshape(-1)
        pv = np.asarray(as_values(prev), dtype=np.int64).reshape(-1)
        T = iv.size
        z = (iv == 0).astype(np.int64)
        out = np.where(z == 1, pv, v0 + iv - 1)

        def region(reg):
            ci = reg.assign_advice_column(cfg.i, 0, iv)
            copy_in(reg, idx, ci)
            reg.assign_advice_column(cfg.inv, 0, field_inverses(iv))
            reg.assign_advice_column(cfg.z, 0, z)
            cp = reg.assign_advice_column(cfg.jp, 0, pv)
            copy_in(reg, prev, cp)
            reg.assign_fixed_column(cfg.off, 0, np.full(T, v0 - 1, dtype=np.int64))
            reg.enable_selector(cfg.q, 0, T)
            return reg.assign_advice_column(cfg.jn, 0, out)
        return Assigned(out, layouter.assign_region(name, region))
