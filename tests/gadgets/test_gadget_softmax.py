"""Causal softmax: honest witness, integer reference, float error bound, tampering, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.gadgets.softmax import (SoftmaxChip, causal_mask, softmax_error_bound,
                                      softmax_float, softmax_ref)
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.mock import MockProver

S = 6


def build(X, causal=True):
    cs = ConstraintSystem()
    cfg = SoftmaxChip.configure(cs, scale_bits=S, clamp_bits=12)
    res = {}

    def circuit(layouter):
        res["p"] = SoftmaxChip.assign(layouter, cfg, X, causal=causal)
    return cs, cfg, synthesize(cs, circuit), res["p"]


@settings(deadline=None, max_examples=3)
@given(st.integers(0, 2**32), st.integers(1, 4), st.booleans())
def test_gadget_softmax_honest_reference_and_error(seed, T, causal):
    X = np.random.default_rng(seed).integers(-400, 400, (T, T))
    cs, cfg, asg, p = build(X, causal)
    MockProver(cs, asg).assert_satisfied()
    r = softmax_ref(X, S, cfg.exp_bits, causal)
    assert np.array_equal(p.values, r["p"])
    mask = causal_mask(T, T) if causal else np.ones((T, T), np.int64)
    assert np.all(p.values[mask == 0] == 0)
    err = np.abs(p.values / 2**S - softmax_float(X / 2**S, mask)).max()
    assert err <= softmax_error_bound(S, cfg.exp_bits, T)


def test_gadget_softmax_tamper():
    X = np.random.default_rng(5).integers(-300, 300, (3, 3))
    cs, cfg, asg, p = build(X)
    # outputs: (0, 0) and (1, 1) from the division, (0, 1) masked (the zero cell)
    targets = [p.cells[0], p.cells[1], p.cells[4]]
    assert p.cells[1] == p.cells[2] == p.cells[5]        # every masked entry: one cell
    regions = {r.name: r for r in asg.regions}
    em = regions["softmax.mask"].start                           # intermediate: exp, e 2^s
    for cell in targets:
        old = asg.value(cell.column, cell.row)
        asg.set_cell(cell.column, cell.row, old + 1)
        assert MockProver(cs, asg).verify(), cell
        asg.set_cell(cell.column, cell.row, old)
    for c in (cfg.em, cfg.num, cfg.e):
        old = asg.value(c, em + 1)
        asg.set_cell(c, em + 1, old + 1)
        assert MockProver(cs, asg).verify(), c.name
        asg.set_cell(c, em + 1, old)
    MockProver(cs, asg).assert_satisfied()


def test_gadget_softmax_lays_out_the_unmasked_entries_only():
    """A causal softmax over T x T scores works on the T (T + 1) / 2 unmasked entries, plus
    one row for the zero cell; without a mask, on all T^2."""
    X = np.random.default_rng(6).integers(-300, 300, (5, 5))
    for causal, n in ((True, 15), (False, 25)):
        cs, cfg, asg, p = build(X, causal)
        MockProver(cs, asg).assert_satisfied()
        rows = asg.rows_per_region()
        for step in ("sub", "exp", "sum", "bcast", "div"):
            assert rows[f"softmax.{step}"] == n, (causal, step)
        assert rows["softmax.mask"] == n + causal


def test_gadget_softmax_masked_outputs_feed_a_matmul_as_proven_zeros():
    """P . V with a causal P: the matmul copies P's masked entries from the softmax's zero
    cell, so a nonzero in one of them (in the matmul's own copy of A) is refused."""
    from snarkgpt.gadgets.matmul import MatmulChip
    X = np.random.default_rng(7).integers(-300, 300, (4, 4))
    V = np.random.default_rng(8).integers(-50, 50, (4, 3))
    cs = ConstraintSystem()
    cfg = SoftmaxChip.configure(cs, scale_bits=S, clamp_bits=12)
    mm = MatmulChip.configure(cs)
    res = {}

    def circuit(layouter):
        res["p"] = p = SoftmaxChip.assign(layouter, cfg, X, causal=True)
        res["o"] = MatmulChip.assign(layouter, mm, p, V, name="av")
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    P = res["p"].values
    assert np.array_equal(res["o"].values, P @ V) and np.all(P[np.triu_indices(4, 1)] == 0)
    a0 = next(r.start for r in asg.regions if r.name == "av.products.a")
    # A[0, 1] (masked) sits in slot 0 at row 1 of section A.Br; A[0, 0] (unmasked) at row 0
    for row in (a0 + 1, a0):
        old = asg.value(mm.xa[0], row)
        asg.set_cell(mm.xa[0], row, old + 1)
        assert any(f.kind == "copy" for f in MockProver(cs, asg).verify()), row
        asg.set_cell(mm.xa[0], row, old)


def test_gadget_softmax_bad_input():
    with pytest.raises(ValueError):
        softmax_ref(np.zeros(4, np.int64), S, S + 4)
    with pytest.raises(GadgetRangeError):
        softmax_ref(np.full((2, 2), 1 << 41, np.int64), S, S + 4)
