"""Soundness: every tampered proof element, public input or key is rejected, and a witness
that breaks exactly one gate, one lookup or one copy constraint is refused by the honest
prover, rejected by the verifier when proven anyway, and named by the MockProver."""
import numpy as np
import pytest

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.examples import Fibonacci, ProductCheck
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.mock import MockProver
from snarkgpt.plonk.proof import Proof
from snarkgpt.plonk.prover import prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import VerificationError, parse_proof, verify, verify_or_raise
from snarkgpt.plonk.expression import ADVICE

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")
P = FR_MODULUS


class Toy:
    """a * b = c on rows 0..3 (gate "mul"), a in [0, 16) on rows 0..4 (lookup "range.a"),
    a[4] == b[4] (a copy), and c[0] public. Every kind of argument in one small circuit."""

    def __init__(self, a=(1, 2, 3, 4), b=(5, 6, 7, 8), shared=9):
        self.a, self.b, self.shared = list(a), list(b), shared

    def configure(self, cs):
        a, b, c = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("c")
        out = cs.instance_column("out")
        for col in (a, b, c, out):
            cs.enable_equality(col)
        q, ql = cs.selector("q_mul"), cs.selector("q_range")
        cs.create_gate("mul", [("a * b = c", a.cur() * b.cur() - c.cur())], selector=q)
        table = cs.lookup_table("u4", ["u4"])
        cs.lookup("range.a", [a.cur()], table, selector=ql)
        cs.lookup("range.b", [b.cur()], table, selector=ql)
        return dict(a=a, b=b, c=c, q=q, ql=ql, table=table, out=out)

    def instances(self):
        return [[self.a[0] * self.b[0]]]

    def synthesize(self, cfg, layouter):
        layouter.assign_table("u4", lambda t: t.assign_column(
            cfg["table"].columns[0], np.arange(16, dtype=np.int64)))

        def region(r):
            m = len(self.a)
            r.assign_advice_column(cfg["a"], 0, np.array(self.a + [self.shared]))
            r.assign_advice_column(cfg["b"], 0, np.array(self.b + [self.shared]))
            cs_ = r.assign_advice_column(cfg["c"], 0, np.array([x * y for x, y in zip(self.a, self.b)]))
            r.enable_selector(cfg["q"], 0, m)
            r.enable_selector(cfg["ql"], 0, m + 1)
            r.constrain_equal(r_cell(r, cfg["a"], m), r_cell(r, cfg["b"], m))
            return cs_[0]

        def r_cell(r, col, row):
            from snarkgpt.plonk.circuit import Cell
            return Cell(col, r.start + row)
        first = layouter.assign_region("toy", region)
        layouter.constrain_instance(first, cfg["out"], 0)


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 6 + 1, seed=b"soundness-tests")


@pytest.fixture(scope="module")
def toy(srs):
    circuit = Toy()
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(5))
    assert verify(vk, circuit.instances(), proof)
    return circuit, cs, cfg, pk, vk, proof


def _other_point(pt):
    return g1.add(pt, g1.generator())


def test_every_commitment_is_bound(toy):
    circuit, cs, cfg, pk, vk, proof = toy
    parsed = parse_proof(vk, proof)
    for i in range(len(parsed.commitments)):
        c = parsed.commitments.copy()
        c[i] = _other_point(c[i])
        bad = Proof(c, parsed.evaluations, parsed.openings).to_bytes()
        assert not verify(vk, circuit.instances(), bad), f"commitment {i}"


def test_every_evaluation_is_bound(toy):
    circuit, cs, cfg, pk, vk, proof = toy
    parsed = parse_proof(vk, proof)
    for i in range(len(parsed.evaluations)):
        ev = list(parsed.evaluations)
        ev[i] = (ev[i] + 1) % P
        bad = Proof(parsed.commitments, ev, parsed.openings).to_bytes()
        assert not verify(vk, circuit.instances(), bad), f"evaluation {i}"


def test_every_opening_is_bound(toy):
    circuit, cs, cfg, pk, vk, proof = toy
    parsed = parse_proof(vk, proof)
    for i in range(len(parsed.openings)):
        op = parsed.openings.copy()
        op[i] = _other_point(op[i])
        bad = Proof(parsed.commitments, parsed.evaluations, op).to_bytes()
        assert not verify(vk, circuit.instances(), bad), f"opening {i}"


def test_public_inputs_are_bound(srs):
    circuit = Fibonacci(steps=5)
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    proof = prove(pk, circuit, cfg)
    inst = circuit.instances()
    assert verify(vk, inst, proof)
    for i in range(len(inst[0])):
        bad = [list(inst[0])]
        bad[0][i] = (bad[0][i] + 1) % P
        assert not verify(vk, bad, proof), f"instance {i}"
    assert not verify(vk, [inst[0] + [0]], proof)       # an extra (zero) value changes the transcript
    assert not verify(vk, [], proof)


def test_other_circuits_key_is_rejected(srs, toy):
    circuit, cs, cfg, pk, vk, proof = toy
    other = Toy(a=(1, 2, 3, 4), b=(5, 6, 7, 9))        # same shape, same fixed columns
    cs2 = ConstraintSystem()
    cfg2 = other.configure(cs2)
    cs2.create_gate("extra", [("b = b", cfg2["b"].cur() - cfg2["b"].cur())], selector=cfg2["q"])
    _, vk2 = keygen(srs, cs2, other, cfg2)
    assert vk2.digest() != vk.digest()
    assert not verify(vk2, circuit.instances(), proof)
    fib = Fibonacci(steps=4)
    cs3 = ConstraintSystem()
    _, vk3 = keygen(srs, cs3, fib, fib.configure(cs3))
    assert not verify(vk3, circuit.instances(), proof)


def _break(kind):
    """A tamper hook breaking exactly one constraint of `Toy` (rows are region-relative)."""
    def tamper(asg, phase, cfg):
        if phase != 0:
            return
        if kind == "gate":
            asg.set_cell(cfg["c"], 1, 13)                 # 2 * 6 != 13
        elif kind == "lookup":
            asg.set_cell(cfg["a"], 2, 20)                 # 20 * 7 = 140, but 20 is not in u4
            asg.set_cell(cfg["c"], 2, 140)
        elif kind == "copy":
            asg.set_cell(cfg["b"], 4, 10)                 # a[4] = 9 != b[4] = 10 (both in u4)
    return tamper


@pytest.mark.parametrize("kind,name", [("gate", "mul"), ("lookup", "range.a"), ("copy", "copy")])
def test_broken_witness(toy, kind, name):
    circuit, cs, cfg, pk, vk, proof = toy
    hook = _break(kind)
    if kind == "gate":      # c is linearized: the proof has no c(x), the verifier folds [c]
        assert (ADVICE, cfg["c"].index) in vk.layout.linearized
    # the MockProver names the failure
    asg = synthesize(cs, circuit, cfg)
    hook(asg, 0, cfg)
    failures = MockProver(cs, asg).verify()
    assert len(failures) == 1 and failures[0].kind == kind and failures[0].name == name, failures
    # the honest prover refuses
    with pytest.raises(ValueError):
        prove(pk, circuit, cfg, tamper=lambda a, p: hook(a, p, cfg))
    # proving it anyway (no checks) gives a proof the verifier rejects
    bad = prove(pk, circuit, cfg, check=False, tamper=lambda a, p: hook(a, p, cfg))
    with pytest.raises(VerificationError):
        verify_or_raise(vk, circuit.instances(), bad)


def test_broken_phase1_witness(srs):
    circuit = ProductCheck([1, 2, 3], [4, 5, 6])
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)

    def tamper(asg, phase):
        if phase == 1:
            asg.set_cell(cfg.acc, 2, 1)
    bad = prove(pk, circuit, cfg, check=False, tamper=tamper)
    assert not verify(vk, [], bad)


class TwoTables:
    """x in [0, 16) (lookup "low" into table "lo") and y in [16, 32) ("high" into "hi"):
    two tables sharing the lookup argument's running sum."""

    def __init__(self, xs=(1, 2, 3), ys=(17, 18, 30)):
        self.xs, self.ys = list(xs), list(ys)

    def configure(self, cs):
        x, y = cs.advice_column("x"), cs.advice_column("y")
        qx, qy = cs.selector("q_x"), cs.selector("q_y")
        lo, hi = cs.lookup_table("lo", ["lo"]), cs.lookup_table("hi", ["hi"])
        cs.lookup("low", [x.cur()], lo, selector=qx)
        cs.lookup("high", [y.cur()], hi, selector=qy)
        return dict(x=x, y=y, qx=qx, qy=qy, lo=lo, hi=hi)

    def instances(self):
        return []

    def synthesize(self, cfg, layouter):
        layouter.assign_table("lo", lambda t: t.assign_column(cfg["lo"].columns[0], np.arange(16)))
        layouter.assign_table("hi", lambda t: t.assign_column(cfg["hi"].columns[0], np.arange(16, 32)))

        def region(r):
            r.assign_advice_column(cfg["x"], 0, np.array(self.xs))
            r.assign_advice_column(cfg["y"], 0, np.array(self.ys))
            r.enable_selector(cfg["qx"], 0, len(self.xs))
            r.enable_selector(cfg["qy"], 0, len(self.ys))
        layouter.assign_region("values", region)


def test_an_input_cannot_be_found_in_another_table(srs, monkeypatch):
    """x = 20 is not in x's table "lo" but is in "hi". A prover that counts it in "hi"'s
    multiplicities (which balances one shared running sum if the tables were not tagged) is
    rejected: every tuple carries its table's tag, so x = 20 and hi's 20 differ."""
    import snarkgpt.plonk.lookup.prover as prover_mod   # the lookup argument's round
    from snarkgpt.field import Fr
    circuit = TwoTables(xs=(1, 20, 3))
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    honest = TwoTables()
    pk, vk = keygen(srs, cs, honest, cfg)
    assert verify(vk, [], prove(pk, honest, cfg))
    lay = vk.layout
    names = [[lay.desc.lookups[i].name for i in members] for members in lay.group_lookups]
    g_lo, g_hi = names.index(["low"]), names.index(["high"])
    original = prover_mod.multiplicities
    seen = {}

    def cheating(table, inputs, sels, nms, u, check=True):
        m = original(table, inputs, sels, nms, u, check=False)
        if nms == ["high"]:
            # hi's table starts at the first row of the tables (its value 16 + j on row j):
            # count x's 20 there, on row 4
            assert Fr.to_int(table[4]) != Fr.to_int(table[5])
            m[4] = Fr.add(m[4:5], Fr.from_ints([1]))[0]
            seen["hi_row_of_20"] = 4
        return m

    monkeypatch.setattr(prover_mod, "multiplicities", cheating)
    bad = prove(pk, circuit, cfg, check=False)
    assert "hi_row_of_20" in seen and g_lo != g_hi
    with pytest.raises(VerificationError):
        verify_or_raise(vk, [], bad)
    # the honest prover names the lookup, and the mock prover too
    monkeypatch.setattr(prover_mod, "multiplicities", original)
    with pytest.raises(ValueError, match="low"):
        prove(pk, circuit, cfg)
    failures = MockProver(cs, synthesize(cs, circuit, cfg)).verify()
    assert [f.name for f in failures] == ["low"]
