import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.gadgets import reference as ref
from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.gadgets.division import DivChip
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import (assert_tampering_detected, build_gadget, fixed_point_arrays,
                              region_cells, values_near_bounds)

FAST = settings(max_examples=6, deadline=None)
LB = 4
BITS = 7        # divisors up to 128


def _div(x, d, mode, bits=BITS):
    def synth(lay, cfg):
        lay = lay.namespace("h.0.softmax")
        if mode == "const":
            return DivChip.div_const(lay, cfg, x, d, "div")
        if mode == "witness":
            return DivChip.div(lay, cfg, x, d, "div")
        return DivChip.reciprocal(lay, cfg, d, x, "div")
    return build_gadget(lambda cs: DivChip.configure(cs, bits, LB), synth)


@FAST
@given(fixed_point_arrays(14, 5), st.integers(1, 128))
def test_gadget_div_const(x, c):
    cs, cfg, asg, q = _div(x, c, "const")
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(q.values, x // c)
    assert np.all(np.abs(q.values - x / c) < 1)


@FAST
@given(fixed_point_arrays(14, 5), values_near_bounds(1, 129, shape=5))
def test_gadget_div_witness(x, d):
    cs, cfg, asg, q = _div(x, d, "witness")
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(q.values, ref.div_floor(x, d)[0])
    np.testing.assert_array_equal(q.values, np.floor(x / d).astype(np.int64))


@FAST
@given(values_near_bounds(1, 129, shape=4))
def test_gadget_reciprocal(d):
    s = 6
    cs, cfg, asg, q = _div(1 << (2 * s), d, "recip")
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(q.values, (1 << 2 * s) // d)
    real = 1.0 / (d / 2 ** s)
    assert np.all((real - q.values / 2 ** s >= 0) & (real - q.values / 2 ** s < 2 ** -s))


@pytest.mark.parametrize("mode", ["const", "witness", "recip"])
def test_gadget_div_tampering(mode):
    x = np.array([100, -37, 5, 127]) if mode != "recip" else 4096
    d = np.array([7, 3, 128, 1]) if mode != "const" else 7
    cs, cfg, asg, q = _div(x, d, mode)
    cells = region_cells(asg, "h.0.softmax.div")
    assert_tampering_detected(cs, asg, cells, sample=30, deltas=(1, -1))


def test_gadget_div_remainder_equal_divisor_fails():
    # x = 14, d = 7: honest (q, r) = (2, 0); the cheat (1, 7) satisfies x = q d + r
    cs, cfg, asg, q = _div(np.array([14]), np.array([7]), "witness")
    row = q.cells[0].row
    asg.set_cell(cfg.q, row, 1)
    r = 7
    for li, col in enumerate(cfg.dec_r.columns):
        asg.set_cell(col, row, (r >> (LB * li)) & 15)
    s = 7 - 1 - r       # -1: cannot be decomposed
    for li, col in enumerate(cfg.dec_s.columns):
        asg.set_cell(col, row, (s >> (LB * li)) & 15)
    assert MockProver(cs, asg).verify()


def test_gadget_div_range_errors():
    with pytest.raises(GadgetRangeError, match=r"h\.0\.softmax\.div: divisor 0 at index 1 .*\[1, 129\)"):
        _div(np.array([1, 2]), np.array([3, 0]), "witness")
    with pytest.raises(GadgetRangeError, match="divisor 129"):
        _div(np.array([1, 2]), 129, "const")
