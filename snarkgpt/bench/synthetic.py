"""A synthetic circuit shaped like ML work, for `snarkgpt bench prover`.

Per row: 8 pairs of small signed values (a_j, b_j), an accumulator
    acc' = acc + sum_j a_j * b_j                 (gate "mac", degree 3 with its selector)
chained across regions by copy constraints and published as the last instance value; a_0 and
b_0 range-checked by lookups into one shared table of 2^t values (t = 16 when the circuit has
room, else the largest power of two that fits the usable rows); and one second-phase column
f' = f * r + a_0 that uses a verifier challenge r (like a Freivalds check). 17 phase-0 advice
columns of small values, 1 phase-1 column.
"""
from dataclasses import dataclass

import numpy as np

from ..field import Fr, FR_MODULUS
from ..plonk.circuit import ConstraintSystem
from ..plonk.expression import Column, Selector

PAIRS = 8
CHUNK = 4096


@dataclass
class SyntheticConfig:
    a: list
    b: list
    acc: Column
    f: Column
    r: object
    q_mac: Selector
    q_init: Selector
    q_range: Selector
    q_fold: Selector
    q_fold_init: Selector
    table: object
    out: Column


class SyntheticCircuit:
    """`rows` rows of the MAC/lookup/challenge workload with values of `bits` bits."""

    def __init__(self, rows: int, table_bits: int, bits: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        lo, hi = -(1 << (bits - 1)), 1 << (bits - 1)
        self.rows = rows
        self.table_bits = table_bits
        self.a = rng.integers(lo, hi, size=(PAIRS, rows))
        self.b = rng.integers(lo, hi, size=(PAIRS, rows))
        # the range-checked pair is non-negative and below the table size
        self.a[0] = rng.integers(0, 1 << min(bits, table_bits), rows)
        self.b[0] = rng.integers(0, 1 << min(bits, table_bits), rows)

    @classmethod
    def for_k(cls, k: int, seed: int = 0) -> "SyntheticCircuit":
        """The largest instance that fills a 2^k-row circuit (each chunk takes one extra row)."""
        usable = ConstraintSystem().usable_rows(k)
        chunks = -(-usable // (CHUNK + 1))
        return cls(usable - chunks, table_bits=min(16, usable.bit_length() - 1), seed=seed)

    def configure(self, cs: ConstraintSystem) -> SyntheticConfig:
        a = [cs.advice_column(f"a{j}") for j in range(PAIRS)]
        b = [cs.advice_column(f"b{j}") for j in range(PAIRS)]
        acc = cs.advice_column("acc")
        out = cs.instance_column("total")
        cs.enable_equality(acc)
        cs.enable_equality(out)
        q_mac, q_init, q_range = cs.selector("q_mac"), cs.selector("q_init"), cs.selector("q_range")
        dot = a[0].cur() * b[0].cur()
        for j in range(1, PAIRS):
            dot = dot + a[j].cur() * b[j].cur()
        cs.create_gate("mac", [("acc' = acc + a.b", acc.next() - acc.cur() - dot)], selector=q_mac)
        cs.create_gate("mac.init", [("acc = 0", acc.cur())], selector=q_init)
        table = cs.lookup_table("range", ["range"])
        cs.lookup("range.a0", [a[0].cur()], table, selector=q_range)
        cs.lookup("range.b0", [b[0].cur()], table, selector=q_range)
        r = cs.challenge(after_phase=0, name="r")
        f = cs.advice_column("fold", phase=1)
        q_fold, q_fold_init = cs.selector("q_fold"), cs.selector("q_fold_init")
        cs.create_gate("fold", [("f' = f * r + a0", f.next() - f.cur() * r - a[0].cur())], selector=q_fold)
        cs.create_gate("fold.init", [("f = 0", f.cur())], selector=q_fold_init)
        return SyntheticConfig(a, b, acc, f, r, q_mac, q_init, q_range, q_fold, q_fold_init, table, out)

    def accumulator(self) -> np.ndarray:
        acc = np.zeros(self.rows + 1, dtype=np.int64)
        np.cumsum((self.a * self.b).sum(axis=0), out=acc[1:])
        return acc

    def instances(self):
        return [[int(self.accumulator()[-1])]]

    def synthesize(self, cfg: SyntheticConfig, layouter):
        size = 1 << self.table_bits
        layouter.assign_table("range", lambda t: t.assign_column(
            cfg.table.columns[0], np.arange(size, dtype=np.int64)))
        acc = self.accumulator()
        m = self.rows
        fold = {}

        def fold_values(r):
            """f_0 = 0, f_{i+1} = f_i r + a0_i (computed once, sliced per chunk)."""
            if r not in fold:
                vals, x = [0] * (m + 1), 0
                for i, v in enumerate(self.a[0].tolist()):
                    x = (x * r + v) % FR_MODULUS
                    vals[i + 1] = x
                fold[r] = Fr.from_ints(vals)
            return fold[r]

        prev = None
        for j, lo in enumerate(range(0, m, CHUNK)):
            hi = min(m, lo + CHUNK)

            def chunk(region, lo=lo, hi=hi, first=(j == 0)):
                rows = hi - lo
                for col, vals in zip(cfg.a, self.a):
                    region.assign_advice_column(col, 0, vals[lo:hi])
                for col, vals in zip(cfg.b, self.b):
                    region.assign_advice_column(col, 0, vals[lo:hi])
                accs = region.assign_advice_column(cfg.acc, 0, acc[lo:hi + 1])
                region.enable_selector(cfg.q_mac, 0, rows)
                region.enable_selector(cfg.q_range, 0, rows)
                region.enable_selector(cfg.q_fold, 0, rows)
                if first:
                    region.enable_selector(cfg.q_init, 0)
                    region.enable_selector(cfg.q_fold_init, 0)
                def phase1(region, ch):
                    region.assign_advice_column(cfg.f, 0, fold_values(ch[cfg.r])[lo:hi + 1])
                region.after_challenges(phase1, phase=1)
                return accs
            accs = layouter.assign_region(f"mac.chunk.{j}", chunk)
            if prev is not None:
                layouter.constrain_equal(prev, accs[0])
            prev = accs[len(accs) - 1]
        layouter.constrain_instance(prev, cfg.out, 0)
