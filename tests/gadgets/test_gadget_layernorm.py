"""LayerNorm: honest witness, integer reference, float error bound, tampering, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.gadgets.layernorm import (LayerNormChip, layernorm_error_bound, layernorm_float,
                                        layernorm_ref)
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.mock import MockProver

S = 8


def build(X, g, b):
    cs = ConstraintSystem()
    cfg = LayerNormChip.configure(cs, scale_bits=S)
    res = {}

    def circuit(layouter):
        res["y"] = LayerNormChip.assign(layouter, cfg, X, g, b)
    return cs, cfg, synthesize(cs, circuit), res["y"]


@settings(deadline=None, max_examples=3)
@given(st.integers(0, 2**32), st.integers(1, 3), st.integers(2, 6), st.booleans())
def test_gadget_layernorm_honest_reference_and_error(seed, T, d, with_bias):
    rng = np.random.default_rng(seed)
    X = rng.integers(-800, 800, (T, d))
    X[:, 0], X[:, 1] = 300, -300           # standard deviation >= 1/2 (at scale 2^8)
    g = rng.integers(-512, 512, d)
    b = rng.integers(-256, 256, d) if with_bias else None
    cs, cfg, asg, y = build(X, g, b)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(y.values, layernorm_ref(X, g, b, S, cfg.rsqrt_bits)["y"])
    f = layernorm_float(X / 2**S, g / 2**S, None if b is None else b / 2**S)
    nmax = np.abs(layernorm_float(X / 2**S, np.ones(d))).max()
    assert np.abs(y.values / 2**S - f).max() <= layernorm_error_bound(S, g, nmax)


def test_gadget_layernorm_tamper():
    rng = np.random.default_rng(1)
    X, g, b = rng.integers(-500, 500, (2, 4)), rng.integers(-300, 300, 4), rng.integers(-50, 50, 4)
    cs, cfg, asg, y = build(X, g, b)
    regions = {r.name: r for r in asg.regions}
    aff = regions["layernorm.affine"].start
    for col, row in [(y.cells.column, y.cells.start + 1), (cfg.pre, aff + 2), (cfg.n, aff + 3)]:
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), (col.name, row)
        asg.set_cell(col, row, old)
    MockProver(cs, asg).assert_satisfied()


def test_gadget_layernorm_bad_input():
    with pytest.raises(ValueError):
        layernorm_ref(np.zeros((2, 3), np.int64), np.ones(4, np.int64), None, S, 12)
    with pytest.raises(ValueError):
        layernorm_ref(np.zeros((2, 3), np.int64), np.ones(3, np.int64), np.ones(2, np.int64), S, 12)
    with pytest.raises(ValueError):
        layernorm_ref(np.zeros(3, np.int64), np.ones(3, np.int64), None, S, 12)


def test_gadget_layernorm_in_a_bank_stacks_its_per_row_steps_below_the_rescale():
    """In a column bank, the steps with one row per position (div, rsqrt, range) draw their
    columns from the rescale's sub-bank (`ChipContext.sub_bank`'s ``host``): no columns of
    their own, their regions stacked below the rescale's, each step still constrained."""
    from snarkgpt.gadgets.base import ChipContext
    rng = np.random.default_rng(4)
    X = rng.integers(-800, 800, (3, 8))
    X[:, 0], X[:, 1] = 300, -300
    g, b = rng.integers(-300, 300, 8), rng.integers(-50, 50, 8)
    cs = ConstraintSystem()
    cfg = LayerNormChip.configure(ChipContext.of(cs).in_bank("ln"), scale_bits=S)
    names = {c.name for c in cs.advice_columns}
    assert not any(n.startswith(("ln.div.", "ln.rsqrt.", "ln.range.")) for n in names)
    host = {c.name for c in cs.advice_columns if c.name.startswith("ln.rescale.")}
    for step in (cfg.div, cfg.rsqrt, cfg.mean_range):
        assert step.x.name in host
    # gates and selectors keep the step's own name
    assert any(gt.name.startswith("ln.div.") for gt in cs.gates)
    res = {}

    def circuit(layouter):
        res["y"] = LayerNormChip.assign(layouter, cfg, X, g, b)
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["y"].values, layernorm_ref(X, g, b, S, cfg.rsqrt_bits)["y"])
    regions = {r.name: r for r in asg.regions}
    hosted = ["layernorm.mean", "layernorm.mean.range", "layernorm.var", "layernorm.rsqrt"]
    for name in hosted + ["layernorm.norm"]:
        adv = {c.name for c in regions[name].columns if c.kind == "advice"}
        assert adv and adv <= host, name
    # one above the other in the shared columns: no two regions overlap in any column
    spans = {}
    for r in asg.regions:
        for c, (a, e) in r.columns.items():
            for a2, e2 in spans.get(c, []):
                assert e <= a2 or e2 <= a, (r.name, c.name)
            spans.setdefault(c, []).append((a, e))
    # tampering in a hosted step's cells is caught
    rs = regions["layernorm.rsqrt"]
    for col in (cfg.rsqrt.x, cfg.rsqrt.y):
        old = asg.value(col, rs.start)
        asg.set_cell(col, rs.start, old + 1)
        assert MockProver(cs, asg).verify(), col.name
        asg.set_cell(col, rs.start, old)
    MockProver(cs, asg).assert_satisfied()
