"""Weights stay private across any number of proofs (docs/committed-weights.md, "What each
mode hides").

Every proof opens its columns at a fresh random x; an opened evaluation of a column holding
weights is one linear equation sum_i w_i L_i(x) in them, so about as many proofs as weights
would determine them. So no proof may open a column whose values depend on the weights,
unless it is a committed column (hiding, re-randomized in every proof).

The ground truth here does not trust the roles: two models quantized with the same settings
differ only in their weights, and the fixed columns whose values differ between their key
circuits are exactly the weight-bearing ones. For each layout and weights mode the test
counts the evaluations a proof reveals of those columns (zero), and checks that each carries
a private role, so that keygen itself enforces it for any circuit."""
import numpy as np
import pytest

from snarkgpt.model.circuit import layout_candidates
from snarkgpt.model.keys import keygen_circuit
from snarkgpt.model.quantize import calibrate, quantize_model
from snarkgpt.model.weights import load_model
from snarkgpt.plonk import linearization
from snarkgpt.plonk.circuit import Assignment, CircuitError, ConstraintSystem
from snarkgpt.plonk.expression import FIXED, PRIVATE_ROLES
from snarkgpt.plonk.description import CircuitDescription
from snarkgpt.plonk.keygen import VerifyingKey, _columns_with_copies, keygen
from snarkgpt.plonk.layout import Layout
from snarkgpt.plonk.prover import prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

CONFIGS = {"plain": "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8",
           "bias": "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8,bias=1"}
L = 4


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 13 + 1, seed=b"weight-privacy-tests")


def _models(spec):
    """Two quantized models with the same settings: only their weights differ (every entry)."""
    m1, m2 = load_model(spec), load_model(spec)
    rng = np.random.default_rng(5)
    for name, w in m2.weights.items():
        m2.weights[name] = (w + rng.normal(0, 0.05, w.shape)).astype(w.dtype)
    settings, _ = calibrate(m1)
    return [quantize_model(m, settings) for m in (m1, m2)], settings


_cache = {}


def _weight_dependent(spec, compact, weights, mm_lanes, statement="generate", L=L):
    """(cs, circuit, config, assignment of the first model, the fixed column indices whose
    usable rows differ between the two models' key circuits)."""
    key = (spec, compact, weights, mm_lanes, statement, L)
    if key not in _cache:
        (q1, q2), settings = _models(spec)
        built = []
        for q in (q1, q2):
            c = keygen_circuit(q, settings, L, compact=compact, weights=weights,
                               mm_lanes=mm_lanes, statement=statement)
            cs = ConstraintSystem()
            cfg = c.configure(cs)
            asg = Assignment.first_pass(cs, c, cfg, None, None)
            asg.complete()
            built.append((cs, c, cfg, asg))
        (cs, c, cfg, a1), (_, _, _, a2) = built
        u = a1.usable_rows
        diff = [i for i in range(a1.fixed.shape[0])
                if not np.array_equal(a1.fixed[i][:u], a2.fixed[i][:u])]
        _cache[key] = cs, c, cfg, a1, diff
    return _cache[key]


@pytest.mark.parametrize("bias", ["plain", "bias"])
@pytest.mark.parametrize("weights", ["fixed", "committed"])
@pytest.mark.parametrize("compact", [False, True], ids=["banked", "compact"])
def test_no_proof_reveals_a_value_that_depends_on_the_weights(srs, compact, weights, bias):
    spec = f"random:{CONFIGS[bias]},seed=1"
    cs, circuit, cfg, _, diff = _weight_dependent(spec, compact, weights, None if compact else 2)
    cols = cs.fixed_columns
    names = {cols[i].name for i in diff}
    # the ground truth sees the weights: the token table and the matmul weights at least
    assert any(n.endswith("wte.value") for n in names)
    assert any(".w0" in n for n in names)
    if bias == "bias":
        assert any(n.endswith("matmul.bias") for n in names)
    # committed columns are hiding (re-blinded in every proof): they may be opened
    exposed = [i for i in diff if cols[i].role != "committed"]
    if weights == "fixed":
        assert len(exposed) == len(diff)
    _, vk = keygen(srs, cs, circuit, cfg, precompute=False)
    lay = vk.layout
    revealed = [(kind, idx, rot) for kind, idx, rot in lay.queries if kind == FIXED and idx in exposed]
    assert revealed == [], [cols[idx].name for _, idx, _ in revealed]
    # and keygen enforces it by role, for any circuit: each such column is private, and every
    # private column that a constraint reads is linearized
    assert all(cols[i].role in PRIVATE_ROLES for i in exposed), \
        [(cols[i].name, cols[i].role) for i in exposed if cols[i].role not in PRIVATE_ROLES]
    private = linearization.private_columns(vk.desc.fixed)
    assert set(private) >= {(FIXED, i) for i in exposed}
    assert not {q[:2] for q in lay.queries} & set(private)
    # the verifier derives the same choice from the key's bytes
    again = VerifyingKey.from_bytes(vk.to_bytes()).layout
    assert again.queries == lay.queries and again.linearized == lay.linearized


def _check_layouts(entry):
    """No layout of the circuit, at any constraint degree keygen may pick (it sets how the
    lookup fractions are packed), opens a weight-dependent column that is not committed."""
    cs, _, _, asg, diff = entry
    exposed = {i for i in diff if cs.fixed_columns[i].role != "committed"}
    assert exposed and all(cs.fixed_columns[i].role in PRIVATE_ROLES for i in exposed)
    desc = CircuitDescription.from_cs(cs, asg.k, asg.usable_rows, asg.fixed)
    desc.permutation, _ = _columns_with_copies(cs, asg.copies)
    for degree in range(max(3, desc.degree), 7):
        desc.degree = degree
        lay = Layout(desc)
        assert not {q.index for q in lay.queries if q.kind == FIXED} & exposed


@pytest.mark.parametrize("statement", ["generate", "eval"])
@pytest.mark.parametrize("weights", ["fixed", "committed"])
def test_no_layout_at_any_degree_reveals_weights(weights, statement):
    spec = f"random:{CONFIGS['bias']},seed=1"
    for compact in (False, True):
        _check_layouts(_weight_dependent(spec, compact, weights, None if compact else 2, statement))


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["fixed", "committed"])
def test_the_bundled_model_reveals_no_weights(weights):
    """Every layout candidate of the bundled model (4 layers) at 8 tokens."""
    m = load_model("bundled")
    for compact, lanes in layout_candidates(m.config, 7):
        _check_layouts(_weight_dependent("bundled", compact, weights, lanes, L=8))
        _cache.clear()


# -- hand-made circuits: keygen refuses a weight column it cannot keep private ----------------
class WeightGate:
    """x = w y + v on 4 rows, with weight columns w and v, and a lookup (key, val) into a
    table whose value column holds weights (role "weight_table"). The variants break the
    gate: w squared, w times v, w read at rotation 1."""

    W, V, E = [3, 5, 7, 11], [2, 4, 6, 8], [13, 17, 19, 23]

    def __init__(self, variant="ok"):
        self.variant = variant

    def configure(self, cs):
        x, y, key, val = (cs.advice_column(n) for n in ("x", "y", "key", "val"))
        w, v = cs.fixed_column("w", role="weight"), cs.fixed_column("v", role="weight")
        q = cs.selector("q")
        t = cs.lookup_table("emb", ["emb.key", "emb.value"], roles=["table", "weight_table"])
        e = {"ok": x.cur() - w.cur() * y.cur() - v.cur(),
             "squared": x.cur() - w.cur() * w.cur(),
             "product": x.cur() - w.cur() * v.cur(),
             "rotation": x.cur() - w.next() * y.cur()}[self.variant]
        cs.create_gate("affine", [("x = w y + v", e)], selector=q)
        cs.lookup("emb.lookup", [key.cur(), val.cur()], t, selector=q)
        return dict(x=x, y=y, key=key, val=val, w=w, v=v, q=q, t=t)

    def synthesize(self, cfg, layouter):
        W, V, E = (np.array(a, dtype=np.int64) for a in (self.W, self.V, self.E))
        Y = np.arange(1, 5, dtype=np.int64)
        keys = np.array([2, 0, 3, 2], dtype=np.int64)

        def region(reg):
            reg.assign_fixed_column(cfg["w"], 0, W)
            reg.assign_fixed_column(cfg["v"], 0, V)
            reg.assign_advice_column(cfg["y"], 0, Y)
            reg.assign_advice_column(cfg["x"], 0, W * Y + V)
            reg.assign_advice_column(cfg["key"], 0, keys)
            reg.assign_advice_column(cfg["val"], 0, E[keys])
            reg.enable_selector(cfg["q"], 0, 4)
        layouter.assign_region("affine", region)

        def table(t):
            t.assign_column(cfg["t"].columns[0], np.arange(4, dtype=np.int64))
            t.assign_column(cfg["t"].columns[1], E)
        layouter.assign_table("emb", table)

    def instances(self):
        return []


@pytest.fixture(scope="module")
def small_srs():
    return SRS.dev(2 ** 9 + 1, seed=b"weight-privacy-small")


def test_weight_columns_of_a_hand_made_circuit_are_linearized_and_it_proves(small_srs):
    circuit = WeightGate()
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(small_srs, cs, circuit, cfg)
    lay = vk.layout
    private = {(FIXED, cfg[n].index) for n in ("w", "v")} | {(FIXED, cfg["t"].columns[1].index)}
    assert private == set(linearization.private_columns(vk.desc.fixed))
    assert private <= set(lay.linearized)
    assert not {q[:2] for q in lay.queries} & private
    # the roles travel in the key
    roles = {c.name: c.role for c in VerifyingKey.from_bytes(vk.to_bytes()).desc.fixed}
    assert roles["w"] == roles["v"] == "weight" and roles["emb.value"] == "weight_table"
    verify_or_raise(vk, circuit.instances(), prove(pk, circuit, cfg, rng=np.random.default_rng(1)))


@pytest.mark.parametrize("variant, reason", [
    ("squared", "appears squared in a monomial"),
    ("product", "shares a monomial with weight column 'v'"),
    ("rotation", "read at rotation 1"),
])
def test_keygen_refuses_a_weight_column_it_would_open(small_srs, variant, reason):
    circuit = WeightGate(variant)
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    with pytest.raises(CircuitError, match=rf"weight column 'w' cannot be linearized: it .*{reason}"
                                           r".*gate affine: x = w y \+ v.*opened in every proof"):
        keygen(small_srs, cs, circuit, cfg)
    # keygen refuses even when it only makes the verifying key (setup)
    with pytest.raises(CircuitError, match="weight column 'w'"):
        keygen(small_srs, cs, circuit, cfg, precompute=False)
    # and a verifier refuses such a description (a ValueError: KeyFormatError when read)
    asg = Assignment.first_pass(cs, circuit, cfg)
    asg.complete()
    desc = CircuitDescription.from_cs(cs, asg.k, asg.usable_rows, asg.fixed)
    with pytest.raises(ValueError, match="weight column 'w'"):
        Layout(desc)


def test_layout_refuses_to_open_a_private_column(small_srs, monkeypatch):
    """Defence in depth: should the choice ever leave a private column out, the layout
    refuses rather than open it."""
    circuit = WeightGate()
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    _, vk = keygen(small_srs, cs, circuit, cfg, precompute=False)
    monkeypatch.setattr(linearization, "choose", lambda *a, **k: [])
    with pytest.raises(linearization.LinearizationError, match="'w'.*would be opened"):
        Layout(vk.desc)


def test_a_table_column_role_must_be_a_table_role():
    cs = ConstraintSystem()
    with pytest.raises(CircuitError, match="role"):
        cs.lookup_table("t", ["t.a"], roles=["weight"])
    with pytest.raises(CircuitError, match="2 roles for 1 columns"):
        cs.lookup_table("u", ["u.a"], roles=["table", "table"])
    t = cs.lookup_table("v", ["v.a", "v.b"], roles=["table", "weight_table"])
    assert [c.role for c in t.columns] == ["table", "weight_table"]
