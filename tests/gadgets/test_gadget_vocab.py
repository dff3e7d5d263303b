"""The vocabulary-chunk gadgets: the one-hot of public tokens is fixed by them, and the running
argmax over chunks is the first index of the maximum over the whole row (ties across chunks
included); tampered cells are caught by the mock prover."""
import numpy as np
import pytest

from snarkgpt.gadgets.base import ChipContext
from snarkgpt.gadgets.range import ArgmaxChip
from snarkgpt.gadgets.vocab import ArgmaxMergeChip, OneHotChip
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import GadgetCircuit, assert_tampering_detected, build_gadget, region_cells

LB = 4


def _onehot(tokens, v0, n):
    from snarkgpt.plonk.circuit import ConstraintSystem, synthesize

    def configure(cs):
        inst = cs.instance_column("tokens")
        cs.enable_equality(inst)
        return inst, OneHotChip.configure(ChipContext.create(cs))
    circ = GadgetCircuit(configure, lambda lay, cfg: OneHotChip.assign(lay, cfg[1], tokens, v0, n,
                                                                       cfg[0], 0, name="oh"),
                         instances=[[int(t) for t in tokens]])
    cs = ConstraintSystem()
    cfg = circ.configure(cs)
    asg = synthesize(cs, circ, cfg)
    return cs, cfg, asg, circ.result


def test_onehot_is_fixed_by_the_public_tokens():
    tokens = np.array([5, 2, 9, 3])
    cs, (inst, cfg), asg, a = _onehot(tokens, 3, 4)        # ids 3 .. 6
    expect = np.zeros((4, 4), dtype=np.int64)
    expect[0, 2] = expect[3, 0] = 1
    np.testing.assert_array_equal(a.values, expect)
    MockProver(cs, asg, instances=[tokens.tolist()]).assert_satisfied()
    # another token in the instance: the witness no longer fits
    assert MockProver(cs, asg, instances=[[5, 2, 9, 4]]).verify()
    # every cell of the region (token copies, one-hot cells, inverses) is pinned, but the
    # inverse on the row where tok = j (free, and read by nothing else)
    hit = {(cfg.inv.index, int(r)) for r in np.flatnonzero(
        asg.advice_assigned[cfg.a.index]) if asg.value(cfg.a, int(r)) == 1}
    for cell in region_cells(asg, "oh"):
        if (cell.column.index, cell.row) in hit:
            continue
        orig = asg.value(cell.column, cell.row)
        for d in (1, -1):
            asg.set_cell(cell.column, cell.row, orig + d)
            try:
                assert MockProver(cs, asg, instances=[tokens.tolist()]).verify(), cell
            finally:
                asg.set_cell(cell.column, cell.row, orig)


def _chunked_argmax(X, size):
    """The running argmax over column chunks of X, as the head chunks compute it."""
    def configure(cs):
        ctx = ChipContext.create(cs)
        return ArgmaxChip.configure(ctx, 6, LB), ArgmaxMergeChip.configure(ctx)

    def synth(lay, cfg):
        am, merge = cfg
        J, M = ArgmaxChip.argmax(lay, am, X[:, :size], "c0")
        for v0 in range(size, X.shape[1], size):
            chunk = X[:, v0:v0 + size]
            idx, M2 = ArgmaxChip.argmax(lay, am, np.concatenate([M.values[:, None], chunk], axis=1),
                                        f"c{v0}")
            J = ArgmaxMergeChip.assign(lay, merge, idx, J, v0, name=f"merge{v0}")
            M = M2
        return J, M
    return build_gadget(configure, synth)


@pytest.mark.parametrize("X", [
    np.array([[1, 7, 0, 7, 7, 2, 7]]),              # ties across chunks: the first wins
    np.array([[0, 0, 0, 0, 0, 0, 0], [3, 1, 2, 9, 9, 9, 0], [-5, -4, -3, -2, -1, 0, 1]]),
])
def test_running_argmax_is_the_first_index_over_all_chunks(X):
    cs, cfg, asg, (J, M) = _chunked_argmax(X, 3)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(J.values, [int(np.flatnonzero(r == r.max())[0]) for r in X])
    np.testing.assert_array_equal(M.values, X.max(axis=1))
    # every cell of the merge but inv (free where i = 0: z = 1 whatever it is)
    merge = cfg[1]
    assert_tampering_detected(cs, asg, region_cells(asg, "merge3", exclude=[merge.inv]),
                              deltas=(1, -1))


def test_merge_refuses_a_later_tie():
    """Position 0 ties between token 1 (chunk 0) and 3 (chunk 1): claiming 3 is refused."""
    X = np.array([[1, 7, 0, 7, 2, 2]])
    cs, (am, merge), asg, (J, M) = _chunked_argmax(X, 3)
    assert J.values[0] == 1
    row = J.cells[0].row
    asg.set_cell(merge.jn, row, 3)
    assert MockProver(cs, asg).verify()
