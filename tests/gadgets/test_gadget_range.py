import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.gadgets import reference as ref
from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.gadgets.range import ArgmaxChip, ClampChip, RangeChip
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import (assert_tampering_detected, build_gadget, matrices,
                              region_cells, rows_with_ties, values_near_bounds)

FAST = settings(max_examples=6, deadline=None)
LB = 4          # limb bits: tables of 16 rows keep k small


def _range(x, lo, hi, bits=9):
    return build_gadget(lambda cs: RangeChip.configure(cs, bits, LB),
                        lambda lay, cfg: RangeChip.check(lay.namespace("t"), cfg, x, lo, hi, "rc"))


@FAST
@given(values_near_bounds(-37, 300, shape=5))
def test_gadget_range_check_honest(x):
    cs, cfg, asg, out = _range(x, -37, 300)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(out.values, x)


def test_gadget_range_check_tampering_and_errors():
    x = np.array([-37, 0, 299, 5])
    cs, cfg, asg, out = _range(x, -37, 300)
    cells = [c for c in region_cells(asg, "t.rc") if c.column != cfg.y]
    assert_tampering_detected(cs, asg, cells, sample=24)
    for bad in (300, -38):
        with pytest.raises(GadgetRangeError, match=rf"t\.rc: value {bad} at index 1 .*\[-37, 300\)"):
            _range(np.array([0, bad]), -37, 300)


def test_gadget_range_check_power_of_two_span_uses_one_decomposition():
    cs, cfg, asg, out = _range(np.array([0, 511, 7]), 0, 512)
    MockProver(cs, asg).assert_satisfied()
    assert asg.rows_per_region()["t.rc"] == 3


def test_gadget_compare():
    a, b = np.array([5, 7, -3]), np.array([5, 2, -10])

    def synth(lay, cfg):
        RangeChip.assert_ge(lay, cfg, a, b, "ge")
        RangeChip.assert_ge(lay, cfg, a + 1, b, "gt", strict=True)
    cs, cfg, asg, _ = build_gadget(lambda cs: RangeChip.configure(cs, 8, LB), synth)
    MockProver(cs, asg).assert_satisfied()
    assert_tampering_detected(cs, asg, [c for c in region_cells(asg, "ge") if c.column != cfg.x][:0] +
                              [c for c in region_cells(asg, "gt") if c.column in (cfg.x, cfg.y)])
    with pytest.raises(GadgetRangeError, match="cmp: a - b - 1 -1"):
        build_gadget(lambda cs: RangeChip.configure(cs, 8, LB),
                     lambda lay, cfg: RangeChip.assert_ge(lay, cfg, a, b, "cmp", strict=True))


def _clamp(x, lo, hi, bits=7):
    return build_gadget(lambda cs: ClampChip.configure(cs, bits, LB),
                        lambda lay, cfg: ClampChip.assign(lay.namespace("h.1"), cfg, x, lo, hi, "clamp"))


@FAST
@given(values_near_bounds(-107, 118, shape=6, margin=30))   # the proven domain
def test_gadget_clamp_honest(x):
    cs, cfg, asg, y = _clamp(x, -10, 20)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(y.values, np.clip(x, -10, 20))


def test_gadget_clamp_tampering_and_domain():
    x = np.array([-100, -11, -10, 0, 20, 21, 100])
    cs, cfg, asg, y = _clamp(x, -10, 20)
    assert_tampering_detected(cs, asg, region_cells(asg, "h.1.clamp"), sample=40, deltas=(1, -1))
    # flags swapped: claiming x = 21 is inside the bounds
    row = y.cells[5].row
    asg.set_cell(cfg.above, row, 0)
    asg.set_cell(cfg.y, row, 21)
    assert MockProver(cs, asg).verify()
    lo, hi = ClampChip.domain(cfg, -10, 20)
    assert (lo, hi) == (20 - 128 + 1, -10 + 128)
    with pytest.raises(GadgetRangeError, match=r"h\.1\.clamp: clamp input 118"):
        _clamp(np.array([118]), -10, 20)
    with pytest.raises(GadgetRangeError, match="clamp input -108"):
        _clamp(np.array([-108]), -10, 20)


def _argmax(X, bits=6):
    return build_gadget(lambda cs: ArgmaxChip.configure(cs, bits, LB),
                        lambda lay, cfg: ArgmaxChip.argmax(lay, cfg, X, "logits.argmax"))


@FAST
@given(rows_with_ties(5))
def test_gadget_argmax_honest_ties_smallest_index(X):
    cs, cfg, asg, (j, m) = _argmax(X)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(j.values, ref.argmax(X))
    np.testing.assert_array_equal(j.values, [int(np.flatnonzero(r == r.max())[0]) for r in X])
    np.testing.assert_array_equal(m.values, X.max(axis=1))


def test_gadget_argmax_tampering():
    X = np.array([[1, 7, 7, 2], [3, 3, 3, 3], [-4, 0, 9, -9], [5, 1, 2, 3]])
    cs, cfg, asg, (j, m) = _argmax(X)
    assert_tampering_detected(cs, asg, region_cells(asg, "logits.argmax"), deltas=(1, -1))


def test_gadget_argmax_rejects_a_later_tie_and_a_non_maximum():
    X = np.array([[1, 7, 7, 2]])
    cs, cfg, asg, (j, m) = _argmax(X)
    start = j.cells[0].row - 4            # the strip of row 0
    # claim index 2 (a later tie): a = 1, 1, 0, 0 and c = 1, 2, 2, 2 and limbs of m - x - a
    for i, (a, c) in enumerate(zip([1, 1, 0, 0], [1, 2, 2, 2])):
        asg.set_cell(cfg.a, start + i, a)
        asg.set_cell(cfg.c, start + i, c)
        d = 7 - X[0, i] - a
        for li, col in enumerate(cfg.dec.columns):
            asg.set_cell(col, start + i, (d >> (LB * li)) & (2 ** LB - 1))
    asg.set_cell(cfg.c, j.cells[0].row, 2)
    fails = MockProver(cs, asg).verify()
    assert fails and any("argmax" in f.name for f in fails)


@FAST
@given(matrices(5, rows=(1, 3), cols=(1, 5)))
def test_gadget_row_max(X):
    cs, cfg, asg, m = build_gadget(lambda cs: ArgmaxChip.configure(cs, 6, LB),
                                   lambda lay, cfg: ArgmaxChip.row_max(lay, cfg, X, "max"))
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(m.values, ref.row_max(X))


def _ragged_max(flat, lengths, bits=6):
    return build_gadget(lambda cs: ArgmaxChip.configure(cs, bits, LB),
                        lambda lay, cfg: ArgmaxChip.row_max(lay, cfg, flat, "max", lengths=lengths))


@FAST
@given(st.lists(st.integers(1, 5), min_size=1, max_size=4), st.integers(0, 2**32))
def test_gadget_row_max_ragged_rows(lengths, seed):
    """Rows of different lengths end to end (a causal mask's prefixes) in one region: each
    row's own maximum, ties and single-entry rows included."""
    rng = np.random.default_rng(seed)
    flat = rng.integers(-3, 3, sum(lengths))
    cs, cfg, asg, m = _ragged_max(flat, lengths)
    MockProver(cs, asg).assert_satisfied()
    rows = np.split(flat, np.cumsum(lengths)[:-1])
    np.testing.assert_array_equal(m.values, [r.max() for r in rows])


def test_gadget_row_max_ragged_tampering():
    """Every cell of a ragged region is constrained (strips, outputs, limbs, selectors)."""
    flat = np.array([5, 2, 9, 9, 1, -3, 7, 7, 0, 4])
    cs, cfg, asg, m = _ragged_max(flat, [1, 3, 2, 4])
    np.testing.assert_array_equal(m.values, [5, 9, 1, 7])
    assert_tampering_detected(cs, asg, region_cells(asg, "max"), deltas=(1, -1))


def test_gadget_row_max_ragged_bad_lengths():
    for lengths in ([2, 2], [5, 0], []):
        with pytest.raises(ValueError, match="row lengths"):
            _ragged_max(np.arange(5), lengths)


def test_gadget_argmax_spread_error():
    with pytest.raises(GadgetRangeError, match=r"logits.argmax: row spread max - x 64"):
        _argmax(np.array([[0, 64]]))


def test_gadget_argmax_prove_verify_round_trip():
    """Full proof: the argmax of each row is the public next token."""
    prover = pytest.importorskip("snarkgpt.plonk.prover")
    import warnings
    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.keygen import keygen
    from snarkgpt.plonk.srs import SRS
    from snarkgpt.plonk.verifier import verify
    from snarkgpt.testing import GadgetCircuit

    X = np.array([[1, 7, 7, 2], [3, 3, 3, 3], [-4, 0, 9, -9]])
    tokens = [int(t) for t in ref.argmax(X)]

    def configure(cs):
        out = cs.instance_column("tokens")
        cs.enable_equality(out)
        return ArgmaxChip.configure(cs, 6, LB), out

    def synth(lay, cfg):
        j, m = ArgmaxChip.argmax(lay, cfg[0], X, "argmax")
        for t in range(len(j)):
            lay.constrain_instance(j.cells[t], cfg[1], t)
        return j

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srs = SRS.dev(2 ** 7 + 1, seed=b"gadget-tests")
        circuit = GadgetCircuit(configure, synth, [tokens])
        cs = ConstraintSystem()
        cfg = circuit.configure(cs)
        pk, vk = keygen(srs, cs, circuit, cfg)
        proof = prover.prove(pk, circuit, cfg, rng=np.random.default_rng(1))
        assert verify(vk, [tokens], proof)
        wrong = list(tokens)
        wrong[0] = 2                    # the later tie is not the greedy token
        assert not verify(vk, [wrong], proof)
