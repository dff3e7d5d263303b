"""Committed columns: values fixed at setup behind a hiding commitment, re-randomized in
every proof (snarkgpt/plonk/committed/, docs/committed-weights.md)."""
from dataclasses import dataclass

import numpy as np
import pytest

from snarkgpt.curve import g1
from snarkgpt.curve.msm import msm
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field import poly
from snarkgpt.plonk import transcript as transcript_mod
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.committed import prover as committed_prover
from snarkgpt.plonk.expression import FIXED, Column, Selector
from snarkgpt.plonk.description import KeyFormatError
from snarkgpt.plonk.keygen import VerifyingKey, keygen
from snarkgpt.plonk.kzg import commit_values
from snarkgpt.plonk.mock import MockProver
from snarkgpt.plonk.proof import HEADER
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import VerificationError, verify, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")
P = FR_MODULUS


@dataclass
class DotConfig:
    a: Column
    acc: Column
    d: Column
    w: Column
    v: Column
    io: Column
    q_first: Selector
    q_step: Selector
    q_d: Selector
    table: object


class CommittedDot:
    """acc_i = sum_{t <= i} (a_t w_t + v_t) with w, v committed columns (private weights),
    a public inputs (copied from the instance), the result public; d_i = w_{i+1} - w_i (w read
    at two rotations) and w range-checked by a lookup into [0, 16)."""

    def __init__(self, xs, w, v):
        self.xs = np.asarray(xs, dtype=np.int64)
        self.w = np.asarray(w, dtype=np.int64)
        self.v = np.asarray(v, dtype=np.int64)

    def result(self):
        return int(np.sum(self.xs * self.w + self.v))

    def instances(self):
        return [list(int(x) % P for x in self.xs) + [self.result() % P]]

    @staticmethod
    def configure(cs: ConstraintSystem) -> DotConfig:
        a, acc, d = cs.advice_column("a"), cs.advice_column("acc"), cs.advice_column("d")
        w, v = cs.committed_column("w"), cs.committed_column("v")
        io = cs.instance_column("io")
        for c in (a, acc, io):
            cs.enable_equality(c)
        q_first, q_step, q_d = cs.selector("q_first"), cs.selector("q_step"), cs.selector("q_d")
        cs.create_gate("dot.first", [acc.cur() - a.cur() * w.cur() - v.cur()], selector=q_first)
        cs.create_gate("dot.step", [acc.cur() - acc.prev() - a.cur() * w.cur() - v.cur()],
                       selector=q_step)
        cs.create_gate("diff", [d.cur() - (w.next() - w.cur())], selector=q_d)
        table = cs.lookup_table("u4", ["u4"])
        cs.lookup("w.range", [w.cur()], table, selector=q_step)
        return DotConfig(a, acc, d, w, v, io, q_first, q_step, q_d, table)

    def synthesize(self, cfg: DotConfig, layouter):
        layouter.assign_table("u4", lambda t: t.assign_column(cfg.table.columns[0],
                                                              np.arange(16, dtype=np.int64)))
        m = len(self.xs)

        def region(reg):
            a = reg.assign_advice_column(cfg.a, 0, self.xs)
            reg.assign_fixed_column(cfg.w, 0, self.w)
            reg.assign_fixed_column(cfg.v, 0, self.v)
            acc = reg.assign_advice_column(cfg.acc, 0, np.cumsum(self.xs * self.w + self.v))
            reg.assign_advice_column(cfg.d, 0, np.diff(self.w))
            reg.enable_selector(cfg.q_first, 0)
            reg.enable_selector(cfg.q_step, 1, m - 1)
            reg.enable_selector(cfg.q_d, 0, m - 1)
            for t in range(m):
                reg.constrain_instance(a[t], cfg.io, t)
            reg.constrain_instance(acc[m - 1], cfg.io, m)
        layouter.assign_region("dot", region)


W1 = [3, 1, 4, 1, 5, 9, 2, 6]
V1 = [2, 7, 1, 8, 2, 8, 1, 8]
XS = [5, -2, 7, 0, 11, 3, -6, 4]


def dot(w=W1, v=V1, xs=XS):
    return CommittedDot(xs, w, v)


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 7 + 1, seed=b"committed-tests")


def setup(srs, circuit, **kw):
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg, **kw)
    return cs, cfg, pk, vk


@pytest.fixture(scope="module")
def keys(srs):
    return setup(srs, dot(), rng=np.random.default_rng(1))


@pytest.fixture(scope="module")
def proof(keys):
    cs, cfg, pk, vk = keys
    return prove(pk, dot(), cfg, rng=np.random.default_rng(2))


def _sizes(vk):
    lay = vk.layout
    return lay.committed_points, lay.committed_scalars


def test_mock_and_layout(keys):
    cs, cfg, pk, vk = keys
    MockProver(cs, synthesize(cs, dot(), cfg)).assert_satisfied()
    assert [c.name for c in cs.committed_columns] == ["w", "v"]
    lay = vk.layout
    assert lay.committed == [cfg.w.index, cfg.v.index]
    B = vk.n - vk.desc.usable_rows
    assert _sizes(vk) == (3, B) and vk.blinding_basis.shape == (B, 8)
    # w is queried at two rotations: the blinding rows cover its openings plus one
    assert B >= 2 + 2


def test_complete(keys, proof):
    cs, cfg, pk, vk = keys
    verify_or_raise(vk, dot().instances(), proof)
    assert not verify(vk, dot(xs=[1] * 8).instances(), proof)
    # OS randomness, a second proof
    assert verify(vk, dot().instances(), prove(pk, dot(), cfg))


def test_setup_commitment_is_hiding_and_reproducible(srs, keys):
    cs, cfg, pk, vk = keys
    # the same weights with the stored blinding: the same key (what a prover rebuilds)
    _, _, _, vk_same = setup(srs, dot(), committed_blinding=pk.committed_blinding)
    assert vk_same.to_bytes() == vk.to_bytes()
    # fresh blinding: other commitments to the same weights, nothing in common
    _, _, pk2, vk2 = setup(srs, dot())
    for c in vk.layout.committed:
        assert not g1.equal(vk.fixed_commitments[c], vk2.fixed_commitments[c])
        # the commitment is not the binding-only one of the plain values
        plain = np.zeros((vk.n, 4), dtype=np.uint64)
        plain[:vk.desc.usable_rows] = pk.fixed_values[c][:vk.desc.usable_rows]
        assert not g1.equal(vk.fixed_commitments[c], commit_values(srs, vk.k, plain))
    assert vk2.digest() != vk.digest()
    # the key's bytes hold no blinding value
    raw = vk.to_bytes()
    for row in Fr.to_ints(pk.committed_blinding.reshape(-1, 4)):
        assert row.to_bytes(32, "little") not in raw


def test_vk_bytes_roundtrip(keys):
    vk = keys[3]
    data = vk.to_bytes()
    assert VerifyingKey.from_bytes(data) == vk
    with pytest.raises(KeyFormatError):
        VerifyingKey.from_bytes(data[:-32])      # the blinding basis cut short
    with pytest.raises(KeyFormatError):
        VerifyingKey.from_bytes(data + b"\0")


def _record_challenges(monkeypatch):
    seen = []
    orig = transcript_mod.Transcript.challenge

    def challenge(self, label):
        v = orig(self, label)
        seen.append((label, v))
        return v
    monkeypatch.setattr(transcript_mod.Transcript, "challenge", challenge)
    return seen


def test_rerandomized_per_proof(srs, monkeypatch):
    """Each proof opens a fresh polynomial equal to the committed one on the usable rows:
    its value at x is not the setup polynomial's, and two proofs use different D."""
    cs, cfg, pk, vk = setup(srs, dot(), rng=np.random.default_rng(5))
    u, k = vk.desc.usable_rows, vk.k
    w = cfg.w.index
    setup_coeffs = pk.fixed_coeffs[w].copy()
    setup_values = pk.fixed_values[w].copy()
    lay = vk.layout
    qpos = lay.queries.index((FIXED, w, 0))
    Ds, opened = [], []
    for seed in (11, 12):
        seen = _record_challenges(monkeypatch)
        pr = prove(pk, dot(), cfg, rng=np.random.default_rng(seed))
        monkeypatch.undo()
        assert verify(vk, dot().instances(), pr)
        x = [v for label, v in seen if label == "x"][-1]
        D = g1.decompress(pr[HEADER:HEADER + 32], 1)[0]
        Ds.append(D)
        off = HEADER + 32 * lay.commitment_count() + 32 * (lay.committed_scalars + qpos)
        value = int.from_bytes(pr[off:off + 32], "little")
        opened.append(value)
        # the proof's polynomial: the committed values on rows < u, fresh values on rows >= u
        now = pk.fixed_values[w]
        assert np.array_equal(now[:u], setup_values[:u])
        assert not np.array_equal(now[u:], setup_values[u:])
        assert value == poly.evaluate(pk.fixed_coeffs[w], x)
        assert value != poly.evaluate(setup_coeffs, x)
        # and C + D commits to it
        assert g1.equal(g1.add(vk.fixed_commitments[w], D), commit_values(srs, k, now))
    assert not g1.equal(Ds[0], Ds[1])


def _replace_point(pr, offset, point):
    return pr[:offset] + g1.compress(point.reshape(1, 8)) + pr[offset + 32:]


def test_wrong_D_rejected(keys, proof):
    vk = keys[3]
    D0 = g1.decompress(proof[HEADER:HEADER + 32], 1)[0]
    bad = _replace_point(proof, HEADER, g1.add(D0, g1.generator()))
    with pytest.raises(VerificationError, match="re-randomization proof"):
        verify_or_raise(vk, dot().instances(), bad)
    # D swapped between the two columns
    D1 = proof[HEADER + 32:HEADER + 64]
    swapped = proof[:HEADER] + D1 + proof[HEADER:HEADER + 32] + proof[HEADER + 64:]
    assert not verify(vk, dot().instances(), swapped)


def test_tampered_representation_proof_rejected(keys, proof):
    vk = keys[3]
    C, B = _sizes(vk)
    # A
    offA = HEADER + 32 * (C - 1)
    A = g1.decompress(proof[offA:offA + 32], 1)[0]
    with pytest.raises(VerificationError, match="re-randomization proof"):
        verify_or_raise(vk, dot().instances(), _replace_point(proof, offA, g1.double(A.reshape(1, 8))[0]))
    # each response z_j
    off = HEADER + 32 * vk.layout.commitment_count()
    for j in (0, B - 1):
        o = off + 32 * j
        zj = int.from_bytes(proof[o:o + 32], "little")
        bad = proof[:o] + ((zj + 1) % P).to_bytes(32, "little") + proof[o + 32:]
        with pytest.raises(VerificationError, match="re-randomization proof"):
            verify_or_raise(vk, dot().instances(), bad)


def test_other_commitment_in_vk_rejected(srs, keys, proof):
    """A verifying key committing the same weights with other blinding, or other weights."""
    _, _, _, vk2 = setup(srs, dot())
    assert not verify(vk2, dot().instances(), proof)
    w2 = list(W1)
    w2[3] += 1
    _, _, _, vk3 = setup(srs, dot(w=w2), committed_blinding=keys[2].committed_blinding)
    assert not verify(vk3, dot().instances(), proof)


def test_prover_refuses_other_values(keys):
    cs, cfg, pk, vk = keys
    w2 = list(W1)
    w2[0] += 1
    with pytest.raises(ProverError, match="committed column 'w' differs"):
        prove(pk, dot(w=w2), cfg)


def test_proof_with_other_values_rejected(srs, keys, monkeypatch):
    """A prover holding other weights (its own key for them) against the published key:
    rejected by the openings when D is a well-formed offset, by the representation proof
    when D is forged to make the openings consistent."""
    cs, cfg, pk1, vk1 = keys
    w2 = list(W1)
    w2[2] = 7
    circ2 = dot(w=w2)
    cs2, cfg2, pk2, vk2 = setup(srs, circ2)
    pk2.vk = vk1                     # the transcript and the layout of the published key
    pr = prove(pk2, circ2, cfg2, rng=np.random.default_rng(3))
    with pytest.raises(VerificationError, match="opening proofs"):
        verify_or_raise(vk1, circ2.instances(), pr)

    real = committed_prover.rerandomize

    def forged(pk, rng=None):
        deltas, D = real(pk, rng)
        # D such that C_1 + D commits to this proof's polynomial (the other weights)
        D = np.stack([g1.sub(commit_values(srs, pk.vk.k, pk.fixed_values[c]),
                             vk1.fixed_commitments[c]) for c in pk.committed])
        return deltas, D
    monkeypatch.setattr(committed_prover, "rerandomize", forged)
    pr = prove(pk2, circ2, cfg2, rng=np.random.default_rng(4))
    with pytest.raises(VerificationError, match="re-randomization proof"):
        verify_or_raise(vk1, circ2.instances(), pr)


def test_wrong_blinding_basis_rejected(srs, monkeypatch):
    """A key whose blinding basis is [L_j(tau)] for usable rows j would let its owner
    change the committed values on those rows in every proof; the verifier opens each P_j
    at x and rejects it."""
    cs, cfg, pk, vk = setup(srs, dot(), rng=np.random.default_rng(6))
    B = vk.blinding_basis.shape[0]
    lag = srs.lagrange(vk.k)
    bad = VerifyingKey(vk.desc, vk.fixed_commitments, vk.sigma_commitments, vk.g2,
                       vk.srs_digest, lag[:B])
    pk.vk = bad
    w = cfg.w.index
    w2 = np.array(W1)
    w2[:B] = [2, 3, 5, 7, 11, 13, 0, 0][:B]       # other weights on rows < B (all < 16)
    circ2 = dot(w=list(w2))
    delta = Fr.sub(Fr.from_signed(w2[:B]), pk.fixed_values[w][:B])

    def attack(pk_, rng=None):
        """Rows < B of w changed, expressed over the bad basis; v untouched."""
        pk_.fixed_values[w][:B] = Fr.from_signed(w2[:B])
        pk_.domain.intt(pk_.fixed_values[w], out=pk_.fixed_coeffs[w])
        deltas = np.zeros((2, B, 4), dtype=np.uint64)
        deltas[0] = delta
        D = np.stack([msm(bad.blinding_basis, deltas[0]), g1.identity(1)[0]])
        return deltas, D

    def bad_coeffs(pk_):
        out = []
        for j in range(B):
            e = np.zeros((vk.n, 4), dtype=np.uint64)
            e[j] = np.array(Fr.one_limbs, dtype=np.uint64)
            out.append(pk_.domain.intt(e))
        return out
    monkeypatch.setattr(committed_prover, "rerandomize", attack)
    monkeypatch.setattr(committed_prover, "basis_coeffs", bad_coeffs)
    pr = prove(pk, circ2, cfg, rng=np.random.default_rng(8), check=False)
    with pytest.raises(VerificationError, match="opening proofs"):
        verify_or_raise(bad, circ2.instances(), pr)


def test_srs_too_small(srs):
    circuit = dot()
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    with pytest.raises(Exception, match="SRS"):
        keygen(srs.truncate(2 ** 5), cs, circuit, cfg, k=6)
