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
    col = p.cells.column
    targets = [p.cells[0], p.cells[1], p.cells[4]]              # outputs, incl. masked ones
    regions = {r.name: r for r in asg.regions}
    em = regions["softmax.mask"].start                           # intermediate: masked exp
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
    del col


def test_gadget_softmax_bad_input():
    with pytest.raises(ValueError):
        softmax_ref(np.zeros(4, np.int64), S, S + 4)
    with pytest.raises(GadgetRangeError):
        softmax_ref(np.full((2, 2), 1 << 41, np.int64), S, S + 4)
