"""Freivalds matmul, row sums and dot products: honest witnesses pass, the outputs equal the
integer reference, and tampering with any output or intermediate cell is caught."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.gadgets.matmul import (MatmulChip, SumChip, matmul_ref, matmul_rows,
                                     naive_matmul_rows)
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.mock import MockProver

SET = settings(deadline=None, max_examples=5)


def build_matmul(A, B, fixed_b=False, claimed_c=None, challenges=None):
    cs = ConstraintSystem()
    cfg = MatmulChip.configure(cs)
    res = {}

    def circuit(layouter):
        res["c"] = MatmulChip.assign(layouter, cfg, A, B, fixed_b=fixed_b, claimed_c=claimed_c)
    asg = synthesize(cs, circuit, challenges=challenges)
    return cs, cfg, asg, res["c"]


def mats(draw, max_dim=5, lim=1000):
    T, d, m = (draw(st.integers(1, max_dim)) for _ in range(3))
    A = draw(arrays(np.int64, (T, d), elements=st.integers(-lim, lim)))
    B = draw(arrays(np.int64, (d, m), elements=st.integers(-lim, lim)))
    return A, B


@SET
@given(st.data(), st.booleans())
def test_gadget_matmul_honest_matches_reference(data, fixed_b):
    A, B = mats(data.draw)
    cs, cfg, asg, C = build_matmul(A, B, fixed_b)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(C.values, A @ B)
    assert np.array_equal(C.values, matmul_ref(A, B))
    cells = asg.signed_values(cfg.x, C.cells.start, len(C.cells))
    assert np.array_equal(cells, (A @ B).reshape(-1))
    assert asg.rows_used == matmul_rows(*A.shape, B.shape[1])


@SET
@given(st.data(), st.booleans())
def test_gadget_matmul_freivalds_catches_wrong_product(data, fixed_b):
    """A wrong C with an honestly computed phase-1 witness fails only Freivalds' check."""
    A, B = mats(data.draw)
    i = data.draw(st.integers(0, A.shape[0] - 1))
    j = data.draw(st.integers(0, B.shape[1] - 1))
    delta = data.draw(st.integers(1, 50))
    bad = A @ B
    bad[i, j] += delta
    cs, cfg, asg, _ = build_matmul(A, B, fixed_b, claimed_c=bad)
    fails = MockProver(cs, asg).verify()
    assert fails and all(f.kind == "copy" for f in fails)


@pytest.mark.parametrize("fixed_b", [False, True])
def test_gadget_matmul_tamper_any_cell(fixed_b):
    rng = np.random.default_rng(1)
    A, B = rng.integers(-99, 99, (3, 4)), rng.integers(-99, 99, (4, 2))
    cs, cfg, asg, C = build_matmul(A, B, fixed_b)
    T, d, m = 3, 4, 2
    start = C.cells.start - d * m
    rows_b = range(start, start + d * m)
    targets = [(cfg.x, C.cells.start + 3),              # an entry of C
               (cfg.x, start + d * m + T * m + 5),     # an entry of A
               (cfg.acc, start + 1),                   # a running-sum cell of B.r
               (cfg.acc, start + d * m - 1),           # Br[d-1] itself
               (cfg.v, start + d * m + T * m + 2),     # a copied Br cell in section A.Br
               (cfg.v, start + 1),                     # a power of r
               (cfg.acc, start + matmul_rows(T, d, m) - 1)]
    if not fixed_b:
        targets.append((cfg.x, rows_b[3]))            # an entry of B
    else:
        targets.append((cfg.w, rows_b[3]))            # a fixed weight (a different circuit)
    for col, row in targets:
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), (col.name, row)
        asg.set_cell(col, row, old)
    MockProver(cs, asg).assert_satisfied()


def test_gadget_matmul_chained_inputs_are_copied():
    """A and B given as assigned cells (from another gadget) are copy-constrained."""
    rng = np.random.default_rng(2)
    A, B = rng.integers(-9, 9, (2, 3)), rng.integers(-9, 9, (3, 2))
    cs = ConstraintSystem()
    cfg, sc = MatmulChip.configure(cs), SumChip.configure(cs)
    res = {}

    def circuit(layouter):
        a = MatmulChip.assign(layouter, cfg, A, np.eye(3, dtype=np.int64), fixed_b=True, name="a")
        c = MatmulChip.assign(layouter, cfg, a, B, name="ab")
        res["a"], res["c"] = a, c
        res["s"] = SumChip.row_sums(layouter, sc, c)
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["s"].values, (A @ B).sum(axis=1))
    # change A inside the second matmul: the copy from the first one fails
    row = res["c"].cells.start + 2 * 2 + 1
    asg.set_cell(cfg.x, row, asg.value(cfg.x, row) + 1)
    assert any(f.kind == "copy" for f in MockProver(cs, asg).verify())


@SET
@given(st.data())
def test_gadget_sum_and_dot(data):
    R, n = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 6))
    X = data.draw(arrays(np.int64, (R, n), elements=st.integers(-10**6, 10**6)))
    Y = data.draw(arrays(np.int64, (R, n), elements=st.integers(-10**6, 10**6)))
    cs = ConstraintSystem()
    sc = SumChip.configure(cs)
    res = {}

    def circuit(layouter):
        res["s"] = SumChip.row_sums(layouter, sc, X)
        res["d"] = SumChip.dot(layouter, sc, X, Y)
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["s"].values, X.sum(axis=1))
    assert np.array_equal(res["d"].values, (X * Y).sum(axis=1))
    for out, col in ((res["s"], sc.out), (res["d"], sc.out)):
        row = out.cells.start + R - 1
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify()
        asg.set_cell(col, row, old)
    # an intermediate running-sum cell
    asg.set_cell(sc.acc, res["d"].cells.start, asg.value(sc.acc, res["d"].cells.start) + 1)
    assert MockProver(cs, asg).verify()


def test_gadget_matmul_bad_inputs():
    cs = ConstraintSystem()
    cfg = MatmulChip.configure(cs)
    with pytest.raises(ValueError, match="do not match"):
        synthesize(cs, lambda l: MatmulChip.assign(l, cfg, np.ones((2, 3), np.int64),
                                                   np.ones((2, 3), np.int64)))
    with pytest.raises(GadgetRangeError):
        matmul_ref(np.full((2, 4), 1 << 31, np.int64), np.full((4, 2), 1 << 31, np.int64))
    with pytest.raises(TypeError):
        matmul_ref(np.ones((2, 2)) * 0.5, np.ones((2, 2), np.int64))


def test_gadget_matmul_cost_T64_d64():
    """Rows of a 64 x 64 by 64 x 64 product: d^2 + 2 T d with Freivalds vs T d^2 naively."""
    assert matmul_rows(64, 64, 64) == 12288
    assert naive_matmul_rows(64, 64, 64) == 262144


@pytest.mark.slow
def test_gadget_matmul_T64_d64_mock():
    rng = np.random.default_rng(3)
    A, B = rng.integers(-2**12, 2**12, (64, 64)), rng.integers(-2**12, 2**12, (64, 64))
    cs, cfg, asg, C = build_matmul(A, B, fixed_b=True)
    MockProver(cs, asg).assert_satisfied()
    assert asg.rows_used == 12288


def test_gadget_matmul_fused_rescale():
    """rescale=cfg: y = floor(A B / 2^s) on the rows of section C.r; the alternative
    decompositions of a product entry are rejected by the output limbs."""
    from snarkgpt.field import Fr
    from snarkgpt.gadgets.fixedpoint import RescaleChip
    from snarkgpt.plonk.mock import MockProver
    from snarkgpt.testing import build_gadget
    s = 4
    rng = np.random.default_rng(3)
    a, w = rng.integers(-300, 300, (3, 5)), rng.integers(-300, 300, (5, 4))

    def configure(cs):
        return MatmulChip.configure(cs), RescaleChip.configure(cs, s, out_bits=24, limb_bits=12)

    def synth(lay, cfg):
        return MatmulChip.assign(lay, cfg[0], a, w, fixed_b=True, name="mm", rescale=cfg[1])
    cs, (mm, rc), asg, y = build_gadget(configure, synth)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(y.values, (a @ w) >> s)
    row = y.cells.start
    y0, r0 = asg.value(rc.y, row), asg.value(rc.r, row)
    j = r0 - (1 << s) + 1
    asg.set_cell(rc.y, row, (y0 + j * pow(1 << s, -1, Fr.modulus)) % Fr.modulus)
    asg.set_cell(rc.r, row, r0 - j)
    fails = MockProver(cs, asg).verify()
    assert fails and all(".out" in f.name for f in fails if f.kind in ("gate", "lookup"))
