"""Link columns: two circuits commit one vector to the same point, and a verifier that
compares the points and folds both pairing equations into one accepts only the honest pair."""
import os

import numpy as np
import pytest

from snarkgpt.field import FR_MODULUS as P
from snarkgpt.plonk import kzg
from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.links import link_blinding, link_commitments, LinkSeedError
from snarkgpt.plonk.mock import MockProver
from snarkgpt.plonk.proof import Proof
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import VerificationError, parse_proof, verify_or_raise
from snarkgpt.plonk.circuit import synthesize

K = 5


class First:
    """Public x; the link holds y = x + 1 (gate on the link column)."""

    def __init__(self, xs):
        self.xs = [int(v) for v in xs]

    def instances(self):
        return [self.xs]

    def configure(self, cs):
        a = cs.advice_column("a")
        link = cs.link_column("link.0")
        inp = cs.instance_column("in")
        cs.enable_equality(a)
        cs.enable_equality(inp)
        q = cs.selector("q")
        cs.create_gate("plus1", [("link = a + 1", link.cur() - a.cur() - 1)], selector=q)
        return a, link, inp, q

    def synthesize(self, cfg, lay):
        a, link, inp, q = cfg

        def region(reg):
            reg.enable_selector(q, 0, len(self.xs))
            ys = [(x + 1) % P for x in self.xs]
            ca = reg.assign_advice_column(a, 0, self.xs)
            reg.assign_advice_column(link, 0, ys)
            for i in range(len(self.xs)):
                reg.constrain_instance(ca[i], inp, i)
        lay.assign_region("first", region)


class Second:
    """The link holds y (the first circuit's output); public z = 2 y."""

    def __init__(self, ys):
        self.ys = [int(v) % P for v in ys]

    def instances(self):
        return [[2 * y % P for y in self.ys]]

    def configure(self, cs):
        b = cs.advice_column("b")
        link = cs.link_column("link.0")
        out = cs.instance_column("out")
        cs.enable_equality(b)
        cs.enable_equality(out)
        q = cs.selector("q")
        cs.create_gate("double", [("b = 2 link", b.cur() - 2 * link.cur())], selector=q)
        return b, link, out, q

    def synthesize(self, cfg, lay):
        b, link, out, q = cfg

        def region(reg):
            reg.enable_selector(q, 0, len(self.ys))
            reg.assign_advice_column(link, 0, self.ys)
            cb = reg.assign_advice_column(b, 0, [2 * y % P for y in self.ys])
            for i in range(len(self.ys)):
                reg.constrain_instance(cb[i], out, i)
        lay.assign_region("second", region)


@pytest.fixture(scope="module")
def keys():
    srs = SRS.dev((1 << K) + 1, seed=b"links")
    out = []
    for circ in (First([3, 4, 5]), Second([4, 5, 6])):
        cs = ConstraintSystem()
        cfg = circ.configure(cs)
        pk, vk = keygen(srs, cs, circ, cfg, k=K)
        out.append((pk, vk, cs, cfg))
    return out


def _prove(key, circ, seed, rng=1, check=True):
    pk, _, _, cfg = key
    return prove(pk, circ, cfg, rng=np.random.default_rng(rng), link_seed=seed, check=check)


def _chain_ok(keys, circs, proofs) -> bool:
    """The chain verifier in miniature: each proof (pairing deferred), the link points equal,
    then one folded pairing check."""
    pairs = []
    for (pk, vk, _, _), c, pr in zip(keys, circs, proofs):
        try:
            pairs.append(verify_or_raise(vk, c.instances(), pr, defer_pairing=True))
        except VerificationError:
            return False
    a = link_commitments(keys[0][1], parse_proof(keys[0][1], proofs[0]))["link.0"]
    b = link_commitments(keys[1][1], parse_proof(keys[1][1], proofs[1]))["link.0"]
    if not np.array_equal(a, b):
        return False
    return kzg.check_pairings(pairs, keys[0][1].kzg, weights=[1, 987654321])


def test_link_column_is_a_phase0_equality_column(keys):
    pk, vk, cs, _ = keys[0]
    assert [c.name for c in vk.layout.links] == ["link.0"]
    assert cs.link_columns[0].role == "link" and cs.is_equality_enabled(cs.link_columns[0])
    # the role is part of the key: a round trip keeps it
    from snarkgpt.plonk.keygen import VerifyingKey
    again = VerifyingKey.from_bytes(vk.to_bytes())
    assert [c.name for c in again.layout.links] == ["link.0"]
    # links get twice the queries + 2 blinding rows (two proofs open them)
    assert cs.blinding_rows >= 2 * cs.max_queries_per_advice_column() + 2


def test_same_seed_same_commitment_and_chain_verifies(keys):
    seed = os.urandom(32)
    circs = (First([3, 4, 5]), Second([4, 5, 6]))
    proofs = [_prove(keys[0], circs[0], seed, 1), _prove(keys[1], circs[1], seed, 2)]
    assert _chain_ok(keys, circs, proofs)


def test_another_seed_breaks_the_link(keys):
    circs = (First([3, 4, 5]), Second([4, 5, 6]))
    proofs = [_prove(keys[0], circs[0], os.urandom(32)), _prove(keys[1], circs[1], os.urandom(32))]
    # each proof is valid on its own; the link points differ
    for (pk, vk, _, _), c, pr in zip(keys, circs, proofs):
        verify_or_raise(vk, c.instances(), pr)
    assert not _chain_ok(keys, circs, proofs)


def test_other_link_values_are_rejected(keys):
    """A second segment proven on another vector (y + 1 in one entry) is valid alone and
    breaks the link: the commitments bind the values."""
    seed = os.urandom(32)
    circs = (First([3, 4, 5]), Second([4, 6, 6]))
    proofs = [_prove(keys[0], circs[0], seed), _prove(keys[1], circs[1], seed)]
    verify_or_raise(keys[1][1], circs[1].instances(), proofs[1])
    assert not _chain_ok(keys, circs, proofs)


def test_swapped_link_point_is_rejected(keys):
    """Replacing the second proof's link point by the first's (when they differ) breaks the
    second proof itself: its transcript absorbed the point before any challenge."""
    seed = os.urandom(32)
    circs = (First([3, 4, 5]), Second([4, 6, 6]))
    p0, p1 = _prove(keys[0], circs[0], seed), _prove(keys[1], circs[1], seed)
    vk1 = keys[1][1]
    pr = parse_proof(vk1, p1)
    pr.commitments = pr.commitments.copy()
    pr.commitments[0] = parse_proof(keys[0][1], p0).commitments[0]
    with pytest.raises(VerificationError):
        verify_or_raise(vk1, circs[1].instances(), pr.to_bytes())


def test_folded_pairing_refuses_one_bad_pair(keys):
    seed = os.urandom(32)
    circs = (First([3, 4, 5]), Second([4, 5, 6]))
    proofs = [_prove(keys[0], circs[0], seed), _prove(keys[1], circs[1], seed)]
    pairs = [verify_or_raise(k[1], c.instances(), p, defer_pairing=True)
             for k, c, p in zip(keys, circs, proofs)]
    assert kzg.check_pairings(pairs, keys[0][1].kzg, weights=[1, 5])
    bad = kzg.PairingTerms(pairs[1].lhs, pairs[0].rhs)
    assert not kzg.check_pairings([pairs[0], bad], keys[0][1].kzg, weights=[1, 5])
    # the terms folded before any point is computed decide as the evaluated pairs do
    points = [p.evaluate() for p in pairs]
    assert kzg.check_pairings(points, keys[0][1].kzg, weights=[1, 5])
    assert not kzg.check_pairings([points[0], bad.evaluate()], keys[0][1].kzg, weights=[1, 5])
    # a weight left out is an error, not a check of fewer pairs
    with pytest.raises(ValueError, match="weights"):
        kzg.check_pairings(pairs, keys[0][1].kzg, weights=[1])
    with pytest.raises(ValueError, match="weights"):
        kzg.check_pairings(pairs, keys[0][1].kzg)


def test_missing_or_bad_seed_is_refused(keys):
    with pytest.raises(ProverError, match="link seed"):
        _prove(keys[0], First([3, 4, 5]), None)
    with pytest.raises(LinkSeedError):
        link_blinding(b"short", "link.0", 3)


def test_mock_prover_names_the_broken_link_gate(keys):
    _, _, cs, cfg = keys[0]
    circ = First([3, 4, 5])
    asg = synthesize(cs, circ, cfg, k=K)
    link = cs.link_columns[0].index
    asg.advice[link][1] = asg.advice[link][0]          # y_1 := y_0: the gate fails on row 1
    report = MockProver(cs, asg).report()
    assert "plus1" in str(report)


def test_blinding_is_deterministic_per_seed_and_name():
    s = bytes(range(32))
    a = link_blinding(s, "link.0", 4)
    assert np.array_equal(a, link_blinding(s, "link.0", 4))
    assert not np.array_equal(a, link_blinding(s, "link.1", 4))
    assert not np.array_equal(a, link_blinding(bytes(32), "link.0", 4))


def test_reference_verifier_reads_the_link_round(keys):
    """The plain-Python verifier replays the same schedule, links first."""
    from snarkgpt.plonk.reference_verifier import verify_reference_bool
    seed = os.urandom(32)
    circ = Second([4, 5, 6])
    proof = _prove(keys[1], circ, seed)
    vk = keys[1][1]
    assert verify_reference_bool(vk, circ.instances(), proof)
    pr = parse_proof(vk, proof)
    pr.commitments = pr.commitments.copy()
    pr.commitments[0] = pr.commitments[1]
    assert not verify_reference_bool(vk, circ.instances(), pr.to_bytes())
