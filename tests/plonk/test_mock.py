"""The mock prover: honest witnesses pass, each kind of tampering is caught and named."""

import numpy as np
import pytest

from snarkgpt.field import FR_MODULUS as P
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck, build
from snarkgpt.plonk.mock import ConstraintFailure, MockProver


def failures_of(cs, asg, **kw):
    return MockProver(cs, asg, **kw).verify()


@pytest.mark.parametrize("circuit", [
    Fibonacci(steps=12),
    RangeCheck([0, 1, 17, 200, 255], [3, 3, 3]),
    ProductCheck([1, -2, 3, 40000], [5, 6, -7, 8]),
    MultiplyAccumulate.random(300, seed=1, chunk=64),
], ids=lambda c: type(c).__name__)
def test_honest_witnesses_pass(circuit):
    cs, cfg, asg = build(circuit, rng=np.random.default_rng(0))
    prover = MockProver(cs, asg)
    assert prover.verify() == []
    prover.assert_satisfied()
    assert prover.report() == "all constraints are satisfied"


def test_tampered_gate_cell():
    cs, cfg, asg = build(MultiplyAccumulate.random(300, seed=2, chunk=100))
    row = 150                                   # chunk 1 starts at row 101
    a = asg.signed_value(cfg.a, row)
    asg.set_cell(cfg.a, row, (a + 1) % 256)     # still passes the range lookup
    (f,) = failures_of(cs, asg)
    assert (f.kind, f.name, f.constraint, f.row, f.region) == (
        "gate", "mac", "acc' = acc + a * b", row, "mac.chunk.1")
    cells = {c.label: c for c in f.cells}
    assert set(cells) == {"a[0]", "b[0]", "acc[0]", "acc[1]"}
    assert cells["a[0]"].value == (a + 1) % 256 and cells["acc[1]"].row == row + 1
    b = asg.signed_value(cfg.b, row)
    assert f.value == (((a + 1) % 256 - a) * -b) % P
    assert "gate 'mac'" in str(f) and "row 150" in str(f) and "'mac.chunk.1'" in str(f)


def test_tampered_lookup_input():
    cs, cfg, asg = build(RangeCheck([0, 1, 17, 200, 255], [3, 4, 5]))
    y_row = asg.regions[1].start + 2            # third value of region "range.y"
    asg.set_cell(cfg.y, y_row, 256)
    (f,) = failures_of(cs, asg)
    assert (f.kind, f.name, f.row, f.region) == ("lookup", "range.y", y_row, "range.y")
    assert [(c.column, c.value) for c in f.cells] == [("y", 256)]
    assert "(256) is not in table 'u8'" in str(f)


def test_negative_lookup_input_printed_small():
    cs, cfg, asg = build(RangeCheck([0, 1, 2], [1]))
    asg.set_cell(cfg.x, 1, -3)
    (f,) = failures_of(cs, asg)
    assert f.row == 1 and f.region == "range.x"
    assert "(-3)" in str(f) and str(P - 3) not in str(f)


def test_tampered_copied_cell():
    cs, cfg, asg = build(Fibonacci(steps=8))
    # keep the gate a + b = c true at row 3 but break the copies into and out of the row
    asg.set_cell(cfg.a, 3, asg.value(cfg.a, 3) + 1)
    asg.set_cell(cfg.b, 3, asg.value(cfg.b, 3) - 1)
    fails = failures_of(cs, asg)
    assert {f.kind for f in fails} == {"copy"}
    got = {((f.cells[0].column, f.cells[0].row), (f.cells[1].column, f.cells[1].row)) for f in fails}
    assert got == {(("b", 2), ("a", 3)), (("c", 2), ("b", 3)), (("b", 3), ("a", 4))}
    f = next(f for f in fails if f.cells[1].row == 3 and f.cells[1].column == "a")
    assert (f.row, f.region) == (2, "fib.step.2")
    assert f.cells[1].region == "fib.step.3"
    assert "b[row 2, region 'fib.step.2'] = 3 != a[row 3, region 'fib.step.3'] = 4" in str(f)


def test_tampered_instance_value():
    circuit = Fibonacci(steps=8)
    cs, cfg, asg = build(circuit)
    assert failures_of(cs, asg, instances=[[1, 1, 55]]) == []
    (f,) = failures_of(cs, asg, instances=[[1, 1, 56]])
    assert (f.kind, f.row, f.region) == ("instance", 7, "fib.step.7")
    assert [(c.column, c.row, c.value, c.region) for c in f.cells] == [
        ("c", 7, 55, "fib.step.7"), ("out", 2, 56, "instance")]


def test_instance_values_outside_usable_rows():
    cs, cfg, asg = build(Fibonacci(steps=2))
    fails = failures_of(cs, asg, instances=[[1, 1, 3] + [0] * asg.usable_rows])
    assert [f.kind for f in fails] == ["structure"]
    assert "usable" in str(fails[0])


def test_phase_one_witness_with_wrong_product():
    # the prover claims c = a * b but one entry is off: the challenge sum catches it
    cs, cfg, asg = build(ProductCheck([1, 2, 3, 4], [5, 6, 7, 8], [5, 12, 22, 32]))
    (f,) = failures_of(cs, asg)
    assert (f.kind, f.name, f.constraint, f.row, f.region) == ("gate", "product.final", "sum = 0", 4, "product")


def test_phase_one_cell_tampered_after_the_fact():
    cs, cfg, asg = build(ProductCheck([1, 2, 3, 4], [5, 6, 7, 8]))
    asg.set_cell(cfg.c, 2, 22)
    (f,) = failures_of(cs, asg)
    assert (f.name, f.constraint, f.row) == ("product.step", "acc' = acc + rpow * (c - a * b)", 2)


def test_challenges_taken_from_the_assignment_or_given():
    cs, cfg, asg = build(ProductCheck([1, 2], [3, 4]), challenges={0: 7})
    assert asg.challenges == {0: 7}
    assert failures_of(cs, asg) == []
    fails = failures_of(cs, asg, challenges={0: 8})   # not the witness's challenge
    assert {f.name for f in fails} == {"product.step"}


def test_mock_runs_pending_phases_with_random_challenges():
    from snarkgpt.plonk.circuit import Assignment
    circuit = ProductCheck([1, 2, 3], [3, 4, 5])
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    asg = Assignment.first_pass(cs, circuit, cfg)
    assert not asg.is_complete
    assert MockProver(cs, asg).verify() == []
    assert asg.is_complete and 0 in asg.challenges


def test_gate_reading_blinding_rows_fails():
    cs = ConstraintSystem()
    a = cs.advice_column("a")
    q = cs.selector("q")
    cs.create_gate("next is zero", [a.next()], selector=q)

    def circuit(layouter):
        def fn(r):
            r.assign_advice_column(a, 0, np.zeros(10, dtype=np.int64))
            r.enable_selector(q, 0, 10)               # row 9 reads row 10 = the last row
        layouter.assign_region("r", fn)
    asg = synthesize(cs, circuit, k=4)
    assert asg.usable_rows == 10
    fails = failures_of(cs, asg)
    kinds = sorted((f.kind, f.row) for f in fails)
    assert kinds == [("gate", 9), ("unassigned", 9)]
    un = next(f for f in fails if f.kind == "unassigned")
    assert "unusable row" in str(un)


def test_unassigned_cell_in_enabled_gate():
    cs = ConstraintSystem()
    a, b = cs.advice_column("a"), cs.advice_column("b")
    q = cs.selector("q")
    cs.create_gate("a = b", [a.cur() - b.cur()], selector=q)

    def circuit(layouter):
        def fn(r):
            r.assign_advice(a, 0, 0)                  # b left unassigned (reads as 0)
            r.enable_selector(q, 0)
        layouter.assign_region("forgetful", fn)
    asg = synthesize(cs, circuit)
    (f,) = failures_of(cs, asg)
    assert (f.kind, f.name, f.row, f.region) == ("unassigned", "a = b", 0, "forgetful")
    assert failures_of(cs, asg, check_unassigned=False) == []


def test_copy_outside_usable_rows_is_reported():
    cs = ConstraintSystem()
    a = cs.advice_column("a")
    cs.enable_equality(a)
    from snarkgpt.plonk.circuit import Cell

    def circuit(layouter):
        def fn(r):
            x = r.assign_advice(a, 0, 0)
            r.constrain_equal(x, Cell(a, 13))
        layouter.assign_region("r", fn)
    asg = synthesize(cs, circuit, k=4)
    fails = failures_of(cs, asg)
    assert [f.kind for f in fails] == ["structure"]


def test_assert_satisfied_report():
    cs, cfg, asg = build(MultiplyAccumulate.random(100, seed=3, chunk=50))
    asg.set_cell(cfg.acc, 10, 12345)
    with pytest.raises(ConstraintFailure) as info:
        MockProver(cs, asg).assert_satisfied()
    text = str(info.value)
    assert "2 constraint failure(s)" in text
    assert "gate 'mac'" in text and "row 9" in text and "row 10" in text and "'mac.chunk.0'" in text
    assert len(info.value.failures) == 2


def test_failures_are_capped_per_check():
    cs, cfg, asg = build(MultiplyAccumulate.random(200, seed=4, chunk=200))
    for r in range(0, 100, 2):
        asg.set_cell(cfg.a, r, (asg.value(cfg.a, r) + 1) % 256)
    prover = MockProver(cs, asg, max_failures_per_check=5)
    assert len(prover.verify()) == 5
    assert sum(prover.suppressed.values()) == 45
    assert "45 more" in prover.report()


def test_mock_at_2_16():
    """A full 2^16-row circuit passes, and a broken cell near the top is named (the mock's
    speed is a benchmark figure, not a test)."""
    circuit = MultiplyAccumulate.random((1 << 16) - 200, seed=5, chunk=4096)
    cs, cfg, asg = build(circuit)
    assert asg.k == 16
    assert MockProver(cs, asg).verify() == []
    row = 60_001
    asg.set_cell(cfg.a, row, (asg.value(cfg.a, row) + 1) % 256)
    (f,) = MockProver(cs, asg).verify()
    assert (f.name, f.row) == ("mac", row)


@pytest.mark.slow
def test_mock_at_2_20():
    circuit = MultiplyAccumulate.random((1 << 20) - 4096, seed=6, chunk=4096)
    cs, cfg, asg = build(circuit)
    assert asg.k == 20
    assert MockProver(cs, asg).verify() == []
    row = 777_777
    asg.set_cell(cfg.a, row, (asg.value(cfg.a, row) + 1) % 256)
    (f,) = MockProver(cs, asg).verify()
    assert (f.name, f.row, f.region) == ("mac", row, f"mac.chunk.{row // 4097}")


def test_multi_column_lookup_with_expression_table():
    cs = ConstraintSystem()
    x, y = cs.advice_column("x"), cs.advice_column("y")
    tx, ty = cs.table_column("t_x"), cs.table_column("t_sq")
    q = cs.selector("q")
    cs.lookup("square", [x.cur(), y.cur()], [tx, ty], selector=q)
    cs.lookup("square shifted", [x.cur() + 1, y.next()], [tx.cur(), ty.cur()], selector=q)
    assert len(cs.lookup_groups()) == 1

    xs = np.arange(-20, 20)
    ys = xs * xs

    def circuit(layouter):
        def table(t):
            t.assign_column(tx, np.arange(-64, 64))
            t.assign_column(ty, np.arange(-64, 64) ** 2)
        layouter.assign_table("squares", table)

        def fn(r):
            r.assign_advice_column(x, 0, xs)
            r.assign_advice_column(y, 0, np.append(ys, 400))
            r.enable_selector(q, 0, len(xs))
        layouter.assign_region("pairs", fn)

    asg = synthesize(cs, circuit)
    assert failures_of(cs, asg) == []
    asg.set_cell(y, 7, ys[7] + 1)            # breaks (x_7, y_7) and (x_6 + 1, y_7)
    fails = failures_of(cs, asg)
    assert sorted((f.name, f.row) for f in fails) == [("square", 7), ("square shifted", 6)]
    f = next(f for f in fails if f.name == "square")
    assert f"input (x[0], y[0]) = ({xs[7]}, {ys[7] + 1}) is not in table '(t_x[0], t_sq[0])'" in str(f)
    assert f.region == "pairs"
