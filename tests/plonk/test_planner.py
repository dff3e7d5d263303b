"""The packed floor planner: regions using disjoint columns share rows, regions sharing a
column (or a cell a gate queries) never overlap, cells/copies/instance constraints follow a
region when it is placed, and the mock prover names the region owning a failing cell."""
import numpy as np
import pytest

from snarkgpt.plonk.circuit import (Cell, CircuitError, ConstraintSystem, synthesize)
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck, build
from snarkgpt.plonk.describe import describe, format_text
from snarkgpt.plonk.mock import MockProver


def two_gate_cs():
    cs = ConstraintSystem()
    a, b, c = (cs.advice_column(n) for n in "abc")
    x, y, z = (cs.advice_column(n) for n in "xyz")
    out = cs.instance_column("out")
    for col in (a, b, c, x, y, z, out):
        cs.enable_equality(col)
    q_add, q_mul = cs.selector("q_add"), cs.selector("q_mul")
    cs.create_gate("add", [("a + b = c", a.cur() + b.cur() - c.cur())], selector=q_add)
    cs.create_gate("mul", [("x * y = z", x.cur() * y.cur() - z.cur())], selector=q_mul)
    return cs, (a, b, c, x, y, z, out, q_add, q_mul)


def add_region(cols, vals, q):
    a, b, c = cols

    def fn(r):
        va, vb = np.asarray(vals[0]), np.asarray(vals[1])
        r.assign_advice_column(a, 0, va)
        r.assign_advice_column(b, 0, vb)
        r.enable_selector(q, 0, len(va))
        return r.assign_advice_column(c, 0, va + vb)
    return fn


def test_disjoint_regions_share_rows():
    cs, (a, b, c, x, y, z, out, q_add, q_mul) = two_gate_cs()

    def circuit(layouter):
        s = layouter.assign_region("sum", add_region((a, b, c), ([1, 2, 3], [4, 5, 6]), q_add))
        p = layouter.assign_region("prod", _mul_region(x, y, z, q_mul, [2, 3], [5, 7]))
        assert s.start == 0 and p.start == 0
        return s, p

    asg = synthesize(cs, circuit)
    assert [(r.name, r.start, r.height) for r in asg.regions] == [("sum", 0, 3), ("prod", 0, 2)]
    assert asg.rows_used == 3
    assert asg.regions[1].column_names() == ["x", "y", "z", "q_mul"]
    assert asg.region_of(1, a) == "sum" and asg.region_of(1, z) == "prod"
    assert asg.region_of(2, z) is None
    assert asg.signed_values(z, 0, 2).tolist() == [10, 21]
    assert asg.signed_values(c, 0, 3).tolist() == [5, 7, 9]
    MockProver(cs, asg).assert_satisfied()
    # the single-pass planner stacks them
    single = synthesize(cs, circuit_single(a, b, c, x, y, z, q_add, q_mul), planner="single")
    assert [(r.start, r.height) for r in single.regions] == [(0, 3), (3, 2)]


def _mul_region(x, y, z, q, xs, ys):
    def fn(r):
        xs_, ys_ = np.asarray(xs), np.asarray(ys)
        r.assign_advice_column(x, 0, xs_)
        r.assign_advice_column(y, 0, ys_)
        r.enable_selector(q, 0, len(xs_))
        return r.assign_advice_column(z, 0, xs_ * ys_)
    return fn


def circuit_single(a, b, c, x, y, z, q_add, q_mul):
    def circuit(layouter):
        layouter.assign_region("sum", add_region((a, b, c), ([1, 2, 3], [4, 5, 6]), q_add))
        layouter.assign_region("prod", _mul_region(x, y, z, q_mul, [2, 3], [5, 7]))
    return circuit


def test_regions_sharing_a_column_never_overlap():
    cs, (a, b, c, x, y, z, out, q_add, q_mul) = two_gate_cs()

    def circuit(layouter):
        layouter.assign_region("s0", add_region((a, b, c), ([1, 2], [3, 4]), q_add))
        layouter.assign_region("p0", _mul_region(x, y, z, q_mul, [1, 2, 3, 4], [1, 1, 1, 1]))
        # uses a (shared with s0) and x (shared with p0): above both
        layouter.assign_region("ax", lambda r: (r.assign_advice(a, 0, 7), r.assign_advice(x, 1, 8)))
        # uses only b: right above s0, beside p0
        layouter.assign_region("b", lambda r: r.assign_advice(b, 0, 9))

    asg = synthesize(cs, circuit)
    starts = {r.name: (r.start, r.height) for r in asg.regions}
    assert starts == {"s0": (0, 2), "p0": (0, 4), "ax": (3, 2), "b": (2, 1)}
    # no column is claimed twice at the same row
    seen = {}
    for r in asg.regions:
        for col, (lo, hi) in r.columns.items():
            for row in range(lo, hi):
                assert (col, row) not in seen, (col.name, row, r.name, seen[(col, row)])
                seen[(col, row)] = r.name
    assert asg.signed_value(a, 3) == 7 and asg.signed_value(x, 4) == 8 and asg.signed_value(b, 2) == 9
    MockProver(cs, asg).assert_satisfied()


def test_a_gate_querying_the_next_row_reserves_that_cell():
    cs = ConstraintSystem()
    acc, u = cs.advice_column("acc"), cs.advice_column("u")
    q = cs.selector("q_step")
    cs.create_gate("step", [("acc' = acc + u", acc.next() - acc.cur() - u.cur())], selector=q)

    def circuit(layouter):
        def chain(r):
            r.assign_advice_column(acc, 0, np.array([1, 3, 6]))
            r.assign_advice_column(u, 0, np.array([2, 3]))
            r.enable_selector(q, 0, 2)          # rows 0, 1: reads acc at rows 1, 2
        layouter.assign_region("chain", chain)

        def tail(r):
            r.enable_selector(q, 0, 1)          # reads acc at offset 1, never assigns it
            r.assign_advice(u, 0, 5)
            r.assign_advice(acc, 0, 6)
        layouter.assign_region("tail", tail)
        # a region that only assigns acc must go above tail's reserved acc cell
        layouter.assign_region("acc_only", lambda r: r.assign_advice(acc, 0, 11))

    asg = synthesize(cs, circuit)
    regions = {r.name: r for r in asg.regions}
    assert regions["chain"].start == 0
    tail = regions["tail"]
    assert tail.start == 3 and tail.height == 1
    assert tail.columns[acc] == (3, 5)          # offset 1 of acc is reserved
    assert regions["acc_only"].start == 5
    assert asg.rows_used == 6
    # the tail gate reads acc at row 4, which no region assigned: the mock prover says so
    failures = MockProver(cs, asg).verify()
    kinds = {(f.kind, f.name, f.row, f.region) for f in failures}
    assert ("unassigned", "step", 3, "tail") in kinds
    assert all(f.region == "tail" for f in failures)


def test_copies_and_instances_across_packed_regions():
    cs, (a, b, c, x, y, z, out, q_add, q_mul) = two_gate_cs()

    def circuit(layouter):
        s = layouter.assign_region("sum", add_region((a, b, c), ([1, 2, 3], [4, 5, 6]), q_add))

        def prod(r):
            # copies made inside the region, from a placed region and to its own cells
            xs = r.copy_advice(s, x, 0)                       # x = a + b
            ys = r.assign_advice_column(y, 0, np.array([2, 2, 2]))
            r.enable_selector(q_mul, 0, 3)
            zs = r.assign_advice_column(z, 0, np.array([10, 14, 18]))
            own = Cell(z, r.start + 2)                        # a cell made from region.start
            r.constrain_instance(own, out, 1)
            assert ys[0].row == r.start
            return zs
        p = layouter.assign_region("prod", prod)
        layouter.constrain_instance(p[0], out, 0)
        return s, p

    class Circ:
        def synthesize(self, layouter):
            self.res = circuit(layouter)

        def instances(self):
            return [[10, 18]]

    circ = Circ()
    asg = synthesize(cs, circ)
    s, p = circ.res
    assert s.start == 0 and p.start == 0 and p[2].row == 2       # placed beside "sum"
    assert asg.signed_values(x, 0, 3).tolist() == [5, 7, 9]
    MockProver(cs, asg).assert_satisfied()
    copies = {tuple(r) for r in asg.copies.tolist()}
    px, pc = cs.permutation_position(x), cs.permutation_position(c)
    pz, po = cs.permutation_position(z), cs.permutation_position(out)
    assert {(pc, i, px, i) for i in range(3)} <= copies
    assert (pz, 2, po, 1) in copies and (pz, 0, po, 0) in copies
    # a wrong public value is reported against the right cell and region
    bad = MockProver(cs, asg, instances=[[10, 19]]).verify()
    assert [(f.kind, f.row, f.region) for f in bad] == [("instance", 2, "prod")]


def test_mock_names_the_region_of_a_tampered_cell():
    cs, (a, b, c, x, y, z, out, q_add, q_mul) = two_gate_cs()

    def circuit(layouter):
        layouter.assign_region("sum", add_region((a, b, c), ([1, 2, 3], [4, 5, 6]), q_add))
        layouter.assign_region("prod", _mul_region(x, y, z, q_mul, [2, 3, 4], [5, 7, 1]))

    asg = synthesize(cs, circuit)
    assert [r.start for r in asg.regions] == [0, 0]
    asg.set_cell(z, 1, 22)
    failures = MockProver(cs, asg).verify()
    assert [(f.kind, f.name, f.row, f.region) for f in failures] == [("gate", "mul", 1, "prod")]
    assert {cell.column: cell.region for cell in failures[0].cells} == {
        "x": "prod", "y": "prod", "z": "prod"}
    asg.set_cell(z, 1, 21)
    asg.set_cell(c, 1, 8)
    failures = MockProver(cs, asg).verify()
    assert [(f.kind, f.name, f.row, f.region) for f in failures] == [("gate", "add", 1, "sum")]


def test_later_phase_cells_and_examples():
    for circ in (Fibonacci(steps=6), RangeCheck([1, 2, 250]), ProductCheck([1, 2, 3], [4, 5, 6]),
                 MultiplyAccumulate(np.arange(100) % 7, np.arange(100) % 5, chunk=40)):
        cs, _, asg = build(circ, rng=np.random.default_rng(0))
        MockProver(cs, asg).assert_satisfied()
        cs2, _, single = _build_single(circ)
        assert asg.rows_used <= single.rows_used


def _build_single(circ):
    cs = ConstraintSystem()
    config = circ.configure(cs)
    asg = synthesize(cs, circ, config, rng=np.random.default_rng(0), planner="single")
    return cs, config, asg


def test_packed_with_a_fixed_k_and_limits():
    cs, (a, b, c, x, y, z, out, q_add, q_mul) = two_gate_cs()

    def circuit(layouter):
        for i in range(4):
            layouter.assign_region(f"s{i}", add_region((a, b, c), ([1] * 2, [2] * 2), q_add))
            layouter.assign_region(f"p{i}", _mul_region(x, y, z, q_mul, [1] * 2, [2] * 2))

    asg = synthesize(cs, circuit, k=4)          # 10 usable rows; stacked it would need 16
    assert asg.rows_used == 8 and asg.advice.shape[1] == 16
    MockProver(cs, asg).assert_satisfied()
    with pytest.raises(CircuitError):
        synthesize(cs, circuit, k=4, planner="single")
    with pytest.raises(CircuitError):
        synthesize(cs, circuit, planner="nope")


def test_inspect_reports_columns_per_region():
    cs, (a, b, c, x, y, z, out, q_add, q_mul) = two_gate_cs()
    asg = synthesize(cs, circuit_single(a, b, c, x, y, z, q_add, q_mul))
    d = describe(cs, asg)
    assert d["layout"]["planner"] == "packed"
    assert d["rows_per_region"] == {"sum": 3, "prod": 2}
    assert d["regions"][1] == {"name": "prod", "start": 0, "rows": 2,
                               "columns": ["x", "y", "z", "q_mul"]}
    assert d["columns_per_region"]["sum"] == ["a", "b", "c", "q_add"]
    text = format_text(d)
    assert "q_mul" in text and "planner packed" in text


class _TwoLaterRegions:
    """Two regions, each with a phase-0 column and a phase-1 column written by a callback."""

    def __init__(self, declare: bool, cheat: bool = False):
        self.declare, self.cheat = declare, cheat

    def configure(self, cs):
        a0, b0 = cs.advice_column("a0"), cs.advice_column("b0")
        a1, b1 = cs.advice_column("a1", phase=1), cs.advice_column("b1", phase=1)
        r = cs.challenge(after_phase=0, name="r")
        qa, qb = cs.selector("qa"), cs.selector("qb")
        cs.create_gate("a", [("a1 = a0 * r", a1.cur() - a0.cur() * r)], selector=qa)
        cs.create_gate("b", [("b1 = b0 * r", b1.cur() - b0.cur() * r)], selector=qb)
        return (a0, a1, qa, r), (b0, b1, qb, r)

    def synthesize(self, cfg, layouter):
        for (c0, c1, q, r), other in zip(cfg, reversed(cfg)):
            def fn(reg, c0=c0, c1=c1, q=q, r=r, other=other):
                vals = np.arange(1, 5)
                reg.assign_advice_column(c0, 0, vals)
                reg.enable_selector(q, 0, 4)

                def later(reg, ch):
                    target = other[1] if self.cheat else c1
                    reg.assign_advice_column(target, 0, [int(v) * ch[r] for v in vals])
                reg.after_challenges(later, phase=1, columns=[c1] if self.declare else None)
            layouter.assign_region(f"region.{c0.name}", fn)

    def instances(self):
        return []


def test_declared_later_columns_let_regions_share_rows():
    for declare, rows in ((True, 4), (False, 8)):
        cs = ConstraintSystem()
        circuit = _TwoLaterRegions(declare)
        cfg = circuit.configure(cs)
        asg = synthesize(cs, circuit, cfg)
        assert asg.rows_used == rows, (declare, asg.rows_used)
        assert not MockProver(cs, asg).verify()


def test_writing_an_undeclared_later_column_is_refused():
    cs = ConstraintSystem()
    circuit = _TwoLaterRegions(declare=True, cheat=True)
    cfg = circuit.configure(cs)
    with pytest.raises(CircuitError, match="not declared"):
        synthesize(cs, circuit, cfg)
