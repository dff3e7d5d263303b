"""Small example circuits, used by the tests and as templates for gadgets.

Each circuit has ``configure(cs) -> config`` (columns, gates, lookups), ``synthesize(config,
layouter)`` (the witness) and ``instances()`` (its public values); `build` runs both:

    cs, config, asg = build(Fibonacci(steps=10))
    MockProver(cs, asg).assert_satisfied()

* `Fibonacci`: one gate ``a + b - c``, one region per step, copy constraints between steps
  and to the public inputs/outputs (instance column).
* `RangeCheck`: values range-checked by lookups into a shared 2^8 table.
* `ProductCheck`: two phases; the vector ``c = a * b`` (elementwise, phase 0) is checked with
  a challenge r (phase 1): ``sum_i r^i (c_i - a_i b_i) = 0`` in a running-sum column.
* `MultiplyAccumulate`: ``acc' = acc + a * b`` over chunks of rows (one region per chunk,
  chunks chained by copies), inputs range-checked by lookup, result public. Vectorised: it
  is the large example (2^16 .. 2^20 rows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snarkgpt.field import FR_MODULUS, Fr

from .circuit import ConstraintSystem, synthesize
from .expression import Column, Selector

P = FR_MODULUS

__all__ = ["Fibonacci", "RangeCheck", "ProductCheck", "MultiplyAccumulate", "build"]


def build(circuit, k=None, challenges=None, rng=None, instances=None):
    """(cs, config, assignment) for an example circuit, every phase run."""
    cs = ConstraintSystem()
    config = circuit.configure(cs)
    asg = synthesize(cs, circuit, config, instances=instances, k=k, challenges=challenges, rng=rng)
    return cs, config, asg


# ---------------------------------------------------------------------------------------
@dataclass
class FibonacciConfig:
    a: Column
    b: Column
    c: Column
    q: Selector
    out: Column


class Fibonacci:
    """Rows (a_i, b_i, c_i) with a_i + b_i = c_i, b_i = a_{i+1}, c_i = b_{i+1}.

    Public: instance rows 0, 1, 2 = a_0, b_0, c_{steps-1}. Step i is region "fib.step.i" at
    row i."""

    def __init__(self, steps: int = 8, a0: int = 1, b0: int = 1):
        self.steps, self.a0, self.b0 = steps, a0, b0

    @staticmethod
    def configure(cs: ConstraintSystem) -> FibonacciConfig:
        a, b, c = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("c")
        out = cs.instance_column("out")
        for col in (a, b, c, out):
            cs.enable_equality(col)
        q = cs.selector("q_fib")
        cs.create_gate("fib", [("a + b = c", a.cur() + b.cur() - c.cur())], selector=q)
        return FibonacciConfig(a, b, c, q, out)

    def sequence(self) -> list[tuple[int, int, int]]:
        rows, a, b = [], self.a0 % P, self.b0 % P
        for _ in range(self.steps):
            rows.append((a, b, (a + b) % P))
            a, b = b, (a + b) % P
        return rows

    def instances(self):
        seq = self.sequence()
        return [[self.a0 % P, self.b0 % P, seq[-1][2]]]

    def synthesize(self, cfg: FibonacciConfig, layouter):
        prev = None
        for i, (a, b, c) in enumerate(self.sequence()):
            def step(region, a=a, b=b, c=c):
                region.enable_selector(cfg.q, 0)
                return (region.assign_advice(cfg.a, 0, a), region.assign_advice(cfg.b, 0, b),
                        region.assign_advice(cfg.c, 0, c))
            cells = layouter.assign_region(f"fib.step.{i}", step)
            if prev is None:
                layouter.constrain_instance(cells[0], cfg.out, 0)
                layouter.constrain_instance(cells[1], cfg.out, 1)
            else:
                layouter.constrain_equal(prev[1], cells[0])
                layouter.constrain_equal(prev[2], cells[1])
            prev = cells
        layouter.constrain_instance(prev[2], cfg.out, 2)


# ---------------------------------------------------------------------------------------
@dataclass
class RangeCheckConfig:
    x: Column
    y: Column
    q_x: Selector
    q_y: Selector
    table: object


class RangeCheck:
    """Values of x and y must lie in [0, 2^bits): lookups "range.x" and "range.y" share the
    table "u{bits}". x's values sit in region "range.x", y's in "range.y"."""

    def __init__(self, xs, ys=None, bits: int = 8):
        self.xs = list(xs)
        self.ys = list(ys if ys is not None else xs[::-1])
        self.bits = bits

    def configure(self, cs: ConstraintSystem) -> RangeCheckConfig:
        bits = self.bits
        x, y = cs.advice_column("x"), cs.advice_column("y")
        q_x, q_y = cs.selector("q_range_x"), cs.selector("q_range_y")
        table = cs.lookup_table(f"u{bits}", [f"u{bits}"])
        cs.lookup("range.x", [x.cur()], table, selector=q_x)
        cs.lookup("range.y", [y.cur()], table, selector=q_y)
        return RangeCheckConfig(x, y, q_x, q_y, table)

    def instances(self):
        return []

    def synthesize(self, cfg: RangeCheckConfig, layouter):
        size = 1 << self.bits
        layouter.assign_table(cfg.table.name, lambda t: t.assign_column(
            cfg.table.columns[0], np.arange(size, dtype=np.int64)))

        def region_x(region):
            region.assign_advice_column(cfg.x, 0, np.array(self.xs, dtype=np.int64))
            region.enable_selector(cfg.q_x, 0, len(self.xs))
        layouter.assign_region("range.x", region_x)

        def region_y(region):
            region.assign_advice_column(cfg.y, 0, np.array(self.ys, dtype=np.int64))
            region.enable_selector(cfg.q_y, 0, len(self.ys))
        layouter.assign_region("range.y", region_y)


# ---------------------------------------------------------------------------------------
def _powers(r: int, m: int) -> np.ndarray:
    """(m, 4): 1, r, r^2, ..., r^(m-1) in Montgomery form, by doubling blocks."""
    r_mont = Fr.from_ints([r])
    out = Fr.from_ints([1, r])[: min(m, 2)] if m else Fr.zeros(0)
    while out.shape[0] < m:
        step = out.shape[0]
        factor = Fr.mul(np.ascontiguousarray(out[-1:]), r_mont)     # r^step
        nxt = Fr.mul(out, np.repeat(factor, step, axis=0))
        out = np.concatenate([out, nxt])
    return np.ascontiguousarray(out[:m])


def _prefix_sums(x: np.ndarray) -> np.ndarray:
    """Inclusive prefix sums of an (m, 4) Fr array (log2(m) vector additions)."""
    x = x.copy()
    shift = 1
    while shift < x.shape[0]:
        x[shift:] = Fr.add(np.ascontiguousarray(x[shift:]), np.ascontiguousarray(x[:-shift]))
        shift *= 2
    return x


@dataclass
class ProductCheckConfig:
    a: Column
    b: Column
    c: Column
    rpow: Column
    acc: Column
    r: object
    q_first: Selector
    q_step: Selector
    q_last: Selector


class ProductCheck:
    """Phase 0: vectors a, b, c. Phase 1 (challenge r): rpow_i = r^i and the running sum
    acc_{i+1} = acc_i + r^i (c_i - a_i b_i), with acc_0 = 0, rpow_0 = 1 and acc_m = 0.

    Gates "product.init", "product.step" (degree 4), "product.final"; one region
    "product" of m + 1 rows. ``cs`` gets one challenge "r" after phase 0."""

    def __init__(self, a, b, c=None):
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        self.c = self.a * self.b if c is None else np.asarray(c, dtype=np.int64)

    @staticmethod
    def configure(cs: ConstraintSystem) -> ProductCheckConfig:
        a, b, c = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("c")
        r = cs.challenge(after_phase=0, name="r")
        rpow = cs.advice_column("rpow", phase=1)
        acc = cs.advice_column("acc", phase=1)
        q_first, q_step, q_last = cs.selector("q_first"), cs.selector("q_step"), cs.selector("q_last")
        cs.create_gate("product.init", [("rpow = 1", rpow.cur() - 1), ("acc = 0", acc.cur())],
                       selector=q_first)
        cs.create_gate("product.step", [
            ("rpow' = rpow * r", rpow.next() - rpow.cur() * r),
            ("acc' = acc + rpow * (c - a * b)",
             acc.next() - acc.cur() - rpow.cur() * (c.cur() - a.cur() * b.cur())),
        ], selector=q_step)
        cs.create_gate("product.final", [("sum = 0", acc.cur())], selector=q_last)
        return ProductCheckConfig(a, b, c, rpow, acc, r, q_first, q_step, q_last)

    def instances(self):
        return []

    def synthesize(self, cfg: ProductCheckConfig, layouter):
        m = len(self.a)

        def region(reg):
            a = Fr.from_signed(self.a)
            b = Fr.from_signed(self.b)
            c = Fr.from_signed(self.c)
            reg.assign_advice_column(cfg.a, 0, a)
            reg.assign_advice_column(cfg.b, 0, b)
            reg.assign_advice_column(cfg.c, 0, c)
            reg.enable_selector(cfg.q_first, 0)
            reg.enable_selector(cfg.q_step, 0, m)
            reg.enable_selector(cfg.q_last, m)

            def phase1(reg, ch):
                rpow = _powers(ch[cfg.r], m + 1)
                terms = Fr.mul(rpow[:m], Fr.sub(c, Fr.mul(a, b)))   # r^i (c_i - a_i b_i)
                acc = np.concatenate([Fr.zeros(1), _prefix_sums(terms)])
                reg.assign_advice_column(cfg.rpow, 0, rpow)
                reg.assign_advice_column(cfg.acc, 0, acc)
            reg.after_challenges(phase1, phase=1)
        layouter.assign_region("product", region)


# ---------------------------------------------------------------------------------------
@dataclass
class MacConfig:
    a: Column
    b: Column
    acc: Column
    q_mac: Selector
    q_init: Selector
    q_range: Selector
    table: object
    out: Column


class MultiplyAccumulate:
    """acc_0 = 0, acc_{i+1} = acc_i + a_i b_i; a_i, b_i in [0, 256) by lookups into "u8";
    the final acc is public (instance row 0).

    The rows are cut into chunks, one region "mac.chunk.j" each (chunk rows + 1 for the
    chunk's final acc); a chunk's first acc is copied from the previous chunk's last one."""

    def __init__(self, a, b, chunk: int = 1024):
        self.a = np.asarray(a, dtype=np.int64)
        self.b = np.asarray(b, dtype=np.int64)
        self.chunk = int(chunk)

    @classmethod
    def random(cls, rows: int, seed: int = 0, chunk: int = 1024):
        rng = np.random.default_rng(seed)
        return cls(rng.integers(0, 256, rows), rng.integers(0, 256, rows), chunk)

    @staticmethod
    def configure(cs: ConstraintSystem) -> MacConfig:
        a, b, acc = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("acc")
        out = cs.instance_column("total")
        cs.enable_equality(acc)
        cs.enable_equality(out)
        q_mac, q_init, q_range = cs.selector("q_mac"), cs.selector("q_init"), cs.selector("q_range")
        cs.create_gate("mac", [("acc' = acc + a * b", acc.next() - acc.cur() - a.cur() * b.cur())],
                       selector=q_mac)
        cs.create_gate("mac.init", [("acc = 0", acc.cur())], selector=q_init)
        table = cs.lookup_table("u8", ["u8"])
        cs.lookup("mac.range.a", [a.cur()], table, selector=q_range)
        cs.lookup("mac.range.b", [b.cur()], table, selector=q_range)
        return MacConfig(a, b, acc, q_mac, q_init, q_range, table, out)

    def accumulator(self) -> np.ndarray:
        acc = np.zeros(len(self.a) + 1, dtype=np.int64)
        np.cumsum(self.a * self.b, out=acc[1:])
        return acc

    def instances(self):
        return [[int(self.accumulator()[-1])]]

    def synthesize(self, cfg: MacConfig, layouter):
        layouter.assign_table("u8", lambda t: t.assign_column(
            cfg.table.columns[0], np.arange(256, dtype=np.int64)))
        acc = self.accumulator()
        m = len(self.a)
        prev_last = None
        for j, lo in enumerate(range(0, m, self.chunk)):
            hi = min(m, lo + self.chunk)

            def chunk(region, lo=lo, hi=hi, first=(j == 0)):
                rows = hi - lo
                region.assign_advice_column(cfg.a, 0, self.a[lo:hi])
                region.assign_advice_column(cfg.b, 0, self.b[lo:hi])
                accs = region.assign_advice_column(cfg.acc, 0, acc[lo:hi + 1])
                region.enable_selector(cfg.q_mac, 0, rows)
                region.enable_selector(cfg.q_range, 0, rows)
                if first:
                    region.enable_selector(cfg.q_init, 0)
                return accs
            accs = layouter.assign_region(f"mac.chunk.{j}", chunk)
            if prev_last is not None:
                layouter.constrain_equal(prev_last, accs[0])
            prev_last = accs[len(accs) - 1]
        layouter.constrain_instance(prev_last, cfg.out, 0)
