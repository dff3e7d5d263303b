"""The eval statement's scoring gadget: how many next-token predictions are correct.

An eval proof runs the same forward pass as a generation proof (`ModelCircuit` with an
`EvalStatement`) over a public window x_0 .. x_{n-1} padded to the key's length L, and
replaces the generation binding by this region, ``eval.score``: row t (t = 0 .. T-1,
T = L - 1) holds

    next     = x_{t+1}                 copied from the instance column ``tokens``
    flag     = scored[t+1]             copied from the instance column ``scored``
                                       (1 for 1 <= t+1 < n, 0 on padding; built by the verifier)
    argmax   = argmax(logits_t)        copied from the `ArgmaxChip` output
    correct, inv                       witnesses of the is-zero test on next - argmax
    acc      = sum_{s <= t} flag_s correct_s

and the gates (every row of the region; d = next - argmax)

    correct * d = 0
    d * inv = 1 - correct
    correct * inv = 0
    acc_0 = flag_0 correct_0,   acc_t = acc_{t-1} + flag_t correct_t  (t >= 1)

d = 0 forces correct = 1 (second gate) and then inv = 0 (third); d != 0 forces correct = 0
(first) and inv = 1/d (second). So correct_t = [argmax_t == x_{t+1}] is a boolean fixed by
the public tokens and the proven argmax, inv is fixed too, and acc_{T-1} is the number of
correct predictions inside the window. acc_{T-1} is copied to row 0 of the instance column
``count``: the claimed count is part of the public statement, so a proof for one count does
not verify for another.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.field import FR_MODULUS

__all__ = ["ScoreConfig", "configure_score", "assign_score", "count_correct"]


@dataclass
class ScoreConfig:
    scored: object      # instance column: 1 where the token is a scored target
    count: object       # instance column: the number of correct predictions, at row 0
    next: object
    flag: object
    argmax: object
    correct: object
    inv: object
    acc: object
    q_all: object
    q_first: object
    q_next: object


def configure_score(cs) -> ScoreConfig:
    scored = cs.instance_column("scored")
    count = cs.instance_column("count")
    cols = {n: cs.advice_column(f"eval.{n}")
            for n in ("next", "flag", "argmax", "correct", "inv", "acc")}
    for col in (scored, count, cols["next"], cols["flag"], cols["argmax"], cols["acc"]):
        cs.enable_equality(col)
    q_all, q_first, q_next = (cs.selector(f"q_eval.{n}") for n in ("all", "first", "next"))
    nxt, flag, am, corr, inv, acc = (cols[n].cur() for n in
                                     ("next", "flag", "argmax", "correct", "inv", "acc"))
    diff = nxt - am
    cs.create_gate("eval.score", [
        ("correct * (next - argmax) = 0", corr * diff),
        ("(next - argmax) * inv = 1 - correct", diff * inv - (1 - corr)),
        ("correct * inv = 0", corr * inv),
    ], selector=q_all)
    cs.create_gate("eval.count.first", [("acc = flag * correct", acc - flag * corr)],
                   selector=q_first)
    cs.create_gate("eval.count.next", [("acc = acc' + flag * correct",
                                        acc - cols["acc"].prev() - flag * corr)], selector=q_next)
    return ScoreConfig(scored, count, cols["next"], cols["flag"], cols["argmax"], cols["correct"],
                       cols["inv"], cols["acc"], q_all, q_first, q_next)


def count_correct(tokens, scored, next_tokens) -> int:
    """The reference count: sum over t of scored[t+1] * [next_tokens[t] == tokens[t+1]]."""
    tokens, scored = np.asarray(tokens, dtype=np.int64), np.asarray(scored, dtype=np.int64)
    nt = np.asarray(next_tokens, dtype=np.int64)
    T = nt.size
    return int(np.sum(scored[1:T + 1] * (nt == tokens[1:T + 1])))


def assign_score(layouter, cfg: ScoreConfig, tokens_instance, tokens, scored, argmax,
                 name: str = "eval.score") -> int:
    """Lay out the scoring region for ``argmax`` (an `Assigned` of T indices); ``tokens`` and
    ``scored`` are the public columns' values (length >= T + 1). Returns the count."""
    T = len(argmax)
    tokens = np.asarray(tokens, dtype=np.int64)
    scored = np.asarray(scored, dtype=np.int64)
    nxt, flag = tokens[1:T + 1], scored[1:T + 1]
    am = np.asarray(argmax.values, dtype=np.int64).reshape(-1)
    diff = nxt - am
    correct = (diff == 0).astype(np.int64)
    inv = [0 if d == 0 else pow(int(d) % FR_MODULUS, FR_MODULUS - 2, FR_MODULUS) for d in diff]
    acc = np.cumsum(flag * correct)

    def region(reg):
        nxt_cells = reg.assign_advice_column(cfg.next, 0, nxt)
        flag_cells = reg.assign_advice_column(cfg.flag, 0, flag)
        am_cells = reg.assign_advice_column(cfg.argmax, 0, am)
        reg.assign_advice_column(cfg.correct, 0, correct)
        reg.assign_advice_column(cfg.inv, 0, inv)
        acc_cells = reg.assign_advice_column(cfg.acc, 0, acc)
        reg.enable_selector(cfg.q_all, 0, T)
        reg.enable_selector(cfg.q_first, 0, 1)
        if T > 1:
            reg.enable_selector(cfg.q_next, 1, T - 1)
        for t in range(T):
            reg.constrain_instance(nxt_cells[t], tokens_instance, t + 1)
            reg.constrain_instance(flag_cells[t], cfg.scored, t + 1)
        reg.constrain_equal(am_cells, argmax.cells)
        reg.constrain_instance(acc_cells[T - 1], cfg.count, 0)
    layouter.assign_region(name, region)
    return int(acc[-1])
