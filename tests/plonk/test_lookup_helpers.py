"""logUp helper columns: fractions (one per lookup, one per table) packed into as few
helpers as the proof's degree allows. Packing never raises the degree, every packing
proves and verifies, and a broken helper or an input outside its table is rejected at every
degree."""
import numpy as np
import pytest

from snarkgpt.field import Fr
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.layout import lookup_groups
from snarkgpt.plonk.lookup import fractions, helper_degree, pack_fractions
from snarkgpt.plonk.lookup.constraints import _fraction_degrees
from snarkgpt.plonk.mock import MockProver
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import VerificationError, verify, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")


class Ranges:
    """Three lookups into two tables: a, b in [0, 16) ("u4"), c in [16, 32) ("hi")."""

    def __init__(self, a=(1, 2, 3), b=(4, 5, 3), c=(17, 20, 31)):
        self.a, self.b, self.c = list(a), list(b), list(c)

    def configure(self, cs):
        a, b, c = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("c")
        q = cs.selector("q")
        u4, hi = cs.lookup_table("u4", ["u4"]), cs.lookup_table("hi", ["hi"])
        cs.lookup("a", [a.cur()], u4, selector=q)
        cs.lookup("b", [b.cur()], u4, selector=q)
        cs.lookup("c", [c.cur()], hi, selector=q)
        return dict(a=a, b=b, c=c, q=q, u4=u4, hi=hi)

    def instances(self):
        return []

    def synthesize(self, cfg, layouter):
        layouter.assign_table("u4", lambda t: t.assign_column(cfg["u4"].columns[0], np.arange(16)))
        layouter.assign_table("hi", lambda t: t.assign_column(cfg["hi"].columns[0], np.arange(16, 32)))

        def region(r):
            for name in "abc":
                r.assign_advice_column(cfg[name], 0, np.array(getattr(self, name)))
            r.enable_selector(cfg["q"], 0, len(self.a))
        layouter.assign_region("values", region)


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 7 + 1, seed=b"lookup-helper-tests")


def _keys(srs, circuit, degree):
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg, degree=degree)
    return cs, cfg, pk, vk


@pytest.mark.parametrize("degree,sizes", [(3, [1, 1, 1, 1, 1]), (4, [2, 2, 1]), (5, [3, 2]),
                                          (6, [4, 1])])
def test_packing_follows_the_degree(srs, degree, sizes):
    """Degree-1 inputs and tables: a helper of j fractions has degree j + 2, so D - 2
    fractions share one; the packed constraints never exceed the proof's degree."""
    _, _, _, vk = _keys(srs, Ranges(), degree)
    lay = vk.layout
    assert [len(h) for h in lay.lookup_helpers] == sizes
    assert sorted(i for h in lay.lookup_helpers for i in h) == list(range(5))
    assert lay.degree == degree
    names = [f[0] for f in fractions(lookup_groups(lay.desc))]
    assert names == ["a", "b", "table 0", "c", "table 1"]
    degs = _fraction_degrees(lookup_groups(lay.desc))
    for h in lay.lookup_helpers:
        assert helper_degree([degs[i] for i in h]) <= degree


def test_helper_degree_counts_numerators_and_denominators():
    """h prod d_j has degree 1 + sum deg d_j; n_i prod_{j != i} d_j can be larger when a
    numerator (a selector expression) has a high degree; l_active adds 1."""
    assert helper_degree([(1, 1)]) == 3
    assert helper_degree([(1, 1), (1, 1)]) == 4
    assert helper_degree([(1, 2), (1, 1)]) == 5
    assert helper_degree([(4, 1), (1, 1)]) == 6
    cs = ConstraintSystem()
    a, b, t = cs.advice_column("a"), cs.advice_column("b"), cs.fixed_column("t")
    # an input of degree 2 (a product) with a constant selector, and its table
    groups = [([t.cur()], [("ab", [a.cur() * b.cur()], 1)])]
    assert _fraction_degrees(groups) == [(0, 2), (1, 1)]
    assert pack_fractions(groups, 5) == [[0, 1]]      # 1 + max(1 + 3, 0 + 1, 1 + 2) = 5
    assert pack_fractions(groups, 4) == [[0], [1]]
    # a fraction alone keeps its own helper even above the budget (the degree is the caller's)
    assert pack_fractions(groups, 3) == [[0], [1]]
    assert pack_fractions([], 4) == []


@pytest.mark.parametrize("degree", [3, 4, 5])
def test_every_packing_proves_and_an_input_outside_its_table_is_rejected(srs, degree):
    circuit = Ranges()
    cs, cfg, pk, vk = _keys(srs, circuit, degree)
    assert verify(vk, [], prove(pk, circuit, cfg, rng=np.random.default_rng(1)))
    bad = Ranges(b=(4, 16, 3))          # 16 is in "hi", not in b's table "u4"
    with pytest.raises(ValueError, match="'b'"):
        prove(pk, bad, cfg)
    forged = prove(pk, bad, cfg, check=False, rng=np.random.default_rng(2))
    with pytest.raises(VerificationError):
        verify_or_raise(vk, [], forged)
    assert [f.name for f in MockProver(cs, synthesize(cs, bad, cfg)).verify()] == ["b"]


@pytest.mark.parametrize("degree", [3, 4, 5])
def test_a_helper_off_its_fractions_is_rejected(srs, degree, monkeypatch):
    """A prover moves 1 from row 1 to row 2 of the first helper (the running sum still
    returns to 0, so only the helper's identity breaks): the verifier rejects."""
    import snarkgpt.plonk.lookup.prover as prover_mod   # the lookup argument's round
    circuit = Ranges()
    _, cfg, pk, vk = _keys(srs, circuit, degree)
    original = prover_mod.helper_columns
    one = Fr.from_ints([1])

    def shifted(*args, **kwargs):
        hs, step = original(*args, **kwargs)
        for arr in (hs[0], step):
            arr[1] = Fr.add(arr[1:2], one)[0]
            arr[2] = Fr.sub(arr[2:3], one)[0]
        return hs, step

    monkeypatch.setattr(prover_mod, "helper_columns", shifted)
    with pytest.raises(ProverError, match="lookup helper lookup.h_0: h = a.* row 1"):
        prove(pk, circuit, cfg)
    forged = prove(pk, circuit, cfg, check=False, rng=np.random.default_rng(3))
    with pytest.raises(VerificationError):
        verify_or_raise(vk, [], forged)
