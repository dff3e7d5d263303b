import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.gadgets.nonlinear import (FunctionChip, exp_spec, gelu_float, gelu_spec,
                                        reciprocal_spec, rsqrt_spec)
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import assert_tampering_detected, build_gadget, region_cells

FAST = settings(max_examples=5, deadline=None)
LB = 4

# small tables for the default run: 2^7 rows
SPECS = {
    "exp": exp_spec(7, 4, 8),
    "gelu": gelu_spec(7, 4, 6),
    "rsqrt": rsqrt_spec(7, 4, 8),
    "reciprocal": reciprocal_spec(7, 4, 8),
}
FLOAT = {"exp": np.exp, "gelu": gelu_float, "rsqrt": lambda v: 1 / np.sqrt(v),
         "reciprocal": lambda v: 1 / v}


def _fn(spec, x, clamp_bits=None):
    return build_gadget(lambda cs: FunctionChip.configure(cs, spec, clamp_bits, LB),
                        lambda lay, cfg: FunctionChip.assign(lay.namespace("h.3.mlp"), cfg, x, "act"))


@pytest.mark.parametrize("name", list(SPECS))
def test_gadget_function_table_error_whole_domain(name):
    spec = SPECS[name]
    xs, ys = spec.table()
    err = np.abs(ys / 2 ** spec.out_scale - FLOAT[name](xs / 2 ** spec.in_scale))
    assert err.max() <= spec.error_bound() + 1e-12
    assert spec.max_table_error() == pytest.approx(err.max())


@pytest.mark.parametrize("name", list(SPECS))
@FAST
@given(data=st.data())
def test_gadget_function_honest(name, data):
    spec = SPECS[name]
    x = np.array(data.draw(st.lists(st.one_of(st.sampled_from([spec.lo, spec.hi]),
                                              st.integers(spec.lo, spec.hi)), min_size=1, max_size=6)))
    cs, cfg, asg, y = _fn(spec, x)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(y.values, spec.reference(x))
    err = np.abs(y.values / 2 ** spec.out_scale - FLOAT[name](x / 2 ** spec.in_scale))
    assert err.max() <= spec.error_bound() + 1e-12


@pytest.mark.parametrize("name", list(SPECS))
def test_gadget_function_tampering_and_domain(name):
    spec = SPECS[name]
    x = np.array([spec.lo, spec.hi, spec.lo + 17])
    cs, cfg, asg, y = _fn(spec, x)
    # the output cells; a free input cell may move to a neighbour with the same output
    # (exp underflows to 0): inputs are pinned by the copy from their producer, tested below
    assert_tampering_detected(cs, asg, region_cells(asg, "h.3.mlp.act", exclude=[cfg.x]),
                              deltas=(1, -1))
    with pytest.raises(GadgetRangeError, match=rf"h\.3\.mlp\.act: {name} input {spec.hi + 1} at index 1"):
        _fn(spec, np.array([spec.lo, spec.hi + 1]))


@FAST
@given(st.lists(st.integers(-300, 0), min_size=1, max_size=6))
def test_gadget_exp_clamped(xs):
    spec = SPECS["exp"]
    x = np.array(xs)
    cs, cfg, asg, y = _fn(spec, x, clamp_bits=9)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(y.values, spec.reference(np.clip(x, spec.lo, spec.hi)))
    bound = spec.error_bound() + spec.clamp_error(-300 / 16, 0)
    assert spec.clamp_error(-300 / 16, 0) <= np.exp(spec.lo / 16)
    assert np.max(np.abs(y.values / 256 - np.exp(x / 16))) <= bound + 1e-12


def test_gadget_function_clamped_tampering():
    spec = SPECS["gelu"]
    x = np.array([-300, -64, 0, 63, 200])
    cs, cfg, asg, y = _fn(spec, x, clamp_bits=9)
    np.testing.assert_array_equal(y.values, spec.reference(np.clip(x, -64, 63)))
    assert_tampering_detected(cs, asg, region_cells(asg, "h.3.mlp.act"), sample=40, deltas=(1, -1))
    with pytest.raises(GadgetRangeError, match="clamp input"):
        _fn(spec, np.array([1000]), clamp_bits=9)


def test_gadget_function_input_copy_enforced():
    from snarkgpt.gadgets.fixedpoint import LinearChip
    spec = SPECS["exp"]

    def configure(cs):
        return LinearChip.configure(cs), FunctionChip.configure(cs, spec)

    def synth(lay, cfgs):
        z = LinearChip.neg(lay, cfgs[0], np.array([127, 126, 3]), "neg")
        return FunctionChip.assign(lay, cfgs[1], z, "exp")
    cs, cfgs, asg, y = build_gadget(configure, synth)
    MockProver(cs, asg).assert_satisfied()
    assert_tampering_detected(cs, asg, region_cells(asg, "exp"))


def test_gadget_function_table_shared():
    spec = SPECS["exp"]

    def configure(cs):
        return FunctionChip.configure(cs, spec), FunctionChip.configure(cs, spec, 9, LB)

    def synth(lay, cfgs):
        FunctionChip.assign(lay, cfgs[0], np.array([0, -3]), "a")
        FunctionChip.assign(lay, cfgs[1], np.array([-500, -3]), "b")
    cs, cfg, asg, _ = build_gadget(configure, synth)
    MockProver(cs, asg).assert_satisfied()
    assert [t.name for t in cs.tables].count(f"fn.{spec.key}") == 1


@pytest.mark.slow
@pytest.mark.parametrize("spec,f", [
    (exp_spec(16, 12, 16), np.exp),
    (gelu_spec(16, 10, 12), gelu_float),
    (rsqrt_spec(16, 8, 12), lambda v: 1 / np.sqrt(v)),
    (reciprocal_spec(16, 8, 12), lambda v: 1 / v),
])
def test_gadget_function_large_table_error(spec, f):
    xs, ys = spec.table()
    err = np.abs(ys / 2 ** spec.out_scale - f(xs / 2 ** spec.in_scale))
    assert err.max() <= spec.error_bound() + 1e-12


def test_gadget_gelu_clamped_prove_verify_round_trip():
    """Full proof of a clamped GELU with public outputs; skipped while the prover cannot be
    imported."""
    pytest.importorskip("snarkgpt.plonk.prover")
    from snarkgpt.testing import GadgetCircuit, prove_round_trip
    spec = SPECS["gelu"]
    x = np.array([-300, -5, 0, 40, 200])
    y = [int(v) for v in spec.reference(np.clip(x, spec.lo, spec.hi))]

    def configure(cs):
        out = cs.instance_column("y")
        cs.enable_equality(out)
        return FunctionChip.configure(cs, spec, 9, LB), out

    def synth(lay, cfg):
        out = FunctionChip.assign(lay, cfg[0], x, "gelu")
        for i in range(len(out)):
            lay.constrain_instance(out.cells[i], cfg[1], i)
    _, _, check = prove_round_trip(GadgetCircuit(configure, synth, [y]))
    assert not check([[y[0] + 1] + y[1:]])


# ---------------------------------------------------------------------------------------
# Trimmed tables: exactly the rows a domain needs (a 2^16 table would force k = 17)
# ---------------------------------------------------------------------------------------
def test_trimmed_tables_domain_key_and_bounds():
    e, g = exp_spec(7, 4, 8, rows=100), gelu_spec(7, 4, 6, rows=90)
    assert (e.size, e.lo, e.hi) == (100, -99, 0)
    assert (g.size, g.lo, g.hi) == (90, -45, 44)
    assert e.key != exp_spec(7, 4, 8).key and e.key.endswith(".r100")
    xs, ys = e.table()
    assert xs.size == 100 and np.array_equal(ys, np.rint(np.exp(xs / 16) * 256).astype(np.int64))
    with pytest.raises(ValueError, match="does not fit"):
        exp_spec(7, 4, 8, rows=129)


def test_trimmed_table_clamps_and_rejects_tampering():
    """Inputs past a trimmed table's ends are clamped to them by the proven comparison, and
    the lookup refuses a value the trimmed table does not hold."""
    spec = exp_spec(7, 4, 8, rows=100)
    x = np.array([-300, -100, -99, -50, 0])
    cs, cfg, asg, y = _fn(spec, x, clamp_bits=9)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(y.values, spec.reference(np.clip(x, -99, 0)))
    assert_tampering_detected(cs, asg, region_cells(asg, "h.3.mlp.act"), sample=40, deltas=(1, -1))
    with pytest.raises(GadgetRangeError, match="input -100"):
        _fn(spec, np.array([-100]))          # unclamped: below the trimmed domain
