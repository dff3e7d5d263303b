"""Embedding lookups, positional embedding and residual adds."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.gadgets.embedding import EmbeddingChip, embedding_ref
from snarkgpt.gadgets.residual import ResidualChip, residual_ref
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.mock import MockProver

SET = settings(deadline=None, max_examples=5)


def build(toks, wte, wpe, public=True):
    cs = ConstraintSystem()
    cfg = EmbeddingChip.configure(cs, wte)
    rc = ResidualChip.configure(cs)
    inst = cs.instance_column("tokens")
    cs.enable_equality(inst)
    res = {}

    def circuit(layouter):
        e = EmbeddingChip.assign(layouter, cfg, toks, wpe, token_instance=inst if public else None)
        res["e"], res["r"] = e, ResidualChip.assign(layouter, rc, e, e)
    asg = synthesize(cs, circuit, instances=[list(map(int, toks))])
    return cs, cfg, rc, asg, res


@SET
@given(st.data())
def test_gadget_embedding_honest(data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32)))
    V, d, T = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    wte = rng.integers(-2**15, 2**15, (V, d))
    wpe = rng.integers(-2**15, 2**15, (T + 2, d))
    toks = rng.integers(0, V, T)
    cs, cfg, rc, asg, res = build(toks, wte, wpe)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["e"].values, wte[toks] + wpe[:T])
    assert np.array_equal(res["e"].values, embedding_ref(toks, wte, wpe))
    assert np.array_equal(res["r"].values, 2 * res["e"].values)
    assert np.array_equal(asg.signed_values(cfg.out, res["e"].cells.start, T * d),
                          (wte[toks] + wpe[:T]).reshape(-1))


def test_gadget_embedding_tamper():
    rng = np.random.default_rng(0)
    wte, wpe = rng.integers(-50, 50, (5, 3)), rng.integers(-50, 50, (4, 3))
    toks = np.array([4, 0, 2])
    cs, cfg, rc, asg, res = build(toks, wte, wpe)
    s = res["e"].cells.start
    for col, row in [(cfg.out, s + 4), (cfg.e, s + 4), (cfg.tok, s), (cfg.tok, s + 4),
                     (rc.z, res["r"].cells.start + 2)]:
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), (col.name, row)
        asg.set_cell(col, row, old)
    # switch a whole token block to another token consistently: the instance copy fails
    asg.set_cell(cfg.tok, s, 1)
    for j in range(3):
        asg.set_cell(cfg.tok, s + j, 1)
        asg.set_cell(cfg.e, s + j, int(wte[1, j]))
        asg.set_cell(cfg.out, s + j, int(wte[1, j] + wpe[0, j]))
    fails = MockProver(cs, asg).verify()
    assert fails and {f.kind for f in fails} <= {"instance", "copy"}


def test_gadget_embedding_bad_inputs():
    wte = np.zeros((4, 2), np.int64)
    with pytest.raises(GadgetRangeError):
        embedding_ref(np.array([0, 4]), wte)
    with pytest.raises(GadgetRangeError):
        embedding_ref(np.array([-1]), wte)
    with pytest.raises(ValueError):
        embedding_ref(np.array([0]), wte, np.zeros((3, 5), np.int64))
    with pytest.raises(GadgetRangeError):
        embedding_ref(np.array([0, 1]), wte, np.zeros((1, 2), np.int64))
    with pytest.raises(ValueError):
        residual_ref(np.zeros(3, np.int64), np.zeros(4, np.int64))
    with pytest.raises(GadgetRangeError):
        residual_ref(np.array([1 << 62]), np.array([0]))
