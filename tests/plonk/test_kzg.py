"""KZG: completeness and soundness of single and batch openings."""
import numpy as np
import pytest

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field import poly
from snarkgpt.plonk import kzg
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.transcript import Transcript

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(64, seed=b"kzg-tests")


def rand_poly(n, seed):
    return Fr.random(n, np.random.default_rng(seed))


def test_commit_is_evaluation_at_tau(srs):
    # with the dev seed we may recompute tau: commit(p) must be [p(tau)]G1
    from snarkgpt.plonk.srs import _tau_from_seed
    tau = _tau_from_seed(b"kzg-tests")
    p = rand_poly(10, 1)
    c = kzg.commit(srs, p)
    want = g1.fixed_base_mul(g1.generator(), Fr.from_ints([poly.evaluate(p, tau)]))[0]
    assert g1.equal(c, want)


def test_single_opening_complete_and_sound(srs):
    p = rand_poly(40, 2)
    c = kzg.commit(srs, p)
    z = 123456789
    y, pi = kzg.open_at(srs, p, z)
    assert y == poly.evaluate(p, z)
    assert kzg.verify_at(srs, c, z, y, pi)
    assert not kzg.verify_at(srs, c, z, (y + 1) % FR_MODULUS, pi)          # wrong value
    assert not kzg.verify_at(srs, c, z + 1, y, pi)                          # wrong point
    assert not kzg.verify_at(srs, c, z, y, g1.add(pi.reshape(1, 8), g1.generator().reshape(1, 8))[0])
    other = kzg.commit(srs, rand_poly(40, 3))
    assert not kzg.verify_at(srs, other, z, y, pi)                          # wrong commitment


def test_polynomial_too_large_is_refused(srs):
    with pytest.raises(ValueError, match="only 64 powers"):
        kzg.commit(srs, rand_poly(65, 4))


def _batch(srs, polys_by_point, tamper=None):
    queries, vqueries = [], []
    for z, polys in polys_by_point:
        queries.append(kzg.OpeningQuery(z, polys))
        vals = [poly.evaluate(p, z) for p in polys]
        vqueries.append(kzg.VerifierQuery(z, [kzg.commit(srs, p) for p in polys], vals))
    tp, tv = Transcript(b"kzg"), Transcript(b"kzg")
    proofs = kzg.batch_open(srs, queries, tp)
    if tamper:
        tamper(vqueries, proofs)
    return kzg.batch_verify(srs, vqueries, proofs, tv)


def test_batch_opening_complete(srs):
    a, b, c = rand_poly(30, 5), rand_poly(64, 6), rand_poly(7, 7)
    assert _batch(srs, [(11, [a, b, c]), (22, [a]), (33, [b, c])])


def test_batch_opening_rejects_any_wrong_value_or_proof(srs):
    a, b = rand_poly(30, 8), rand_poly(20, 9)
    spec = [(5, [a, b]), (6, [b])]

    def bump_value(i, j):
        def t(vq, proofs):
            vq[i].values[j] = (vq[i].values[j] + 1) % FR_MODULUS
        return t

    def bump_proof(i):
        def t(vq, proofs):
            proofs[i] = g1.add(proofs[i].reshape(1, 8), g1.generator().reshape(1, 8))[0]
        return t

    def swap_commitments(vq, proofs):
        vq[0].commitments.reverse()

    def drop_proof(vq, proofs):
        proofs.pop()

    for t in [bump_value(0, 0), bump_value(0, 1), bump_value(1, 0), bump_proof(0), bump_proof(1),
              swap_commitments, drop_proof]:
        assert not _batch(srs, spec, tamper=t)


def test_a_combination_opens_like_its_sum(srs):
    """A `Combination` of polynomials (prover) and of commitments (verifier) is folded term by
    term; it verifies exactly when its coefficients and value match."""
    a, b, c = rand_poly(30, 11), rand_poly(20, 12), rand_poly(25, 13)
    z, k = 77, [5, FR_MODULUS - 3]
    value = poly.evaluate(poly.linear_combination([b, c], k), z)
    proofs = kzg.batch_open(srs, [kzg.OpeningQuery(z, [a, kzg.Combination([b, c], k)])],
                            Transcript(b"kzg"))
    points = [kzg.commit(srs, b), kzg.commit(srs, c)]

    def check(coeffs, v):
        q = kzg.VerifierQuery(z, [kzg.commit(srs, a), kzg.Combination(points, coeffs)],
                              [poly.evaluate(a, z), v])
        return kzg.batch_verify(srs, [q], list(proofs), Transcript(b"kzg"))
    assert check(k, value)
    assert not check([k[0] + 1, k[1]], value)
    assert not check(k, (value + 1) % FR_MODULUS)
    assert not check(k[::-1], value)


def test_combine_merges_repeated_points_only(monkeypatch):
    """The verifier's MSM gives a repeated point the sum of its scalars, and keeps apart
    different points whose first x limb is the same (crafted here by editing one limb)."""
    pts = g1.fixed_base_mul(g1.generator(), [3, 5, 3, 7])
    sc = [11, 13, 17, 19]
    want = g1.fixed_base_mul(g1.generator(), [(3 * 11 + 5 * 13 + 3 * 17 + 7 * 19) % FR_MODULUS])
    assert g1.equal(kzg._combine(pts, Fr.from_ints(sc)), want[0])
    seen = []
    monkeypatch.setattr(kzg, "msm", lambda p, s: seen.append((p.copy(), Fr.to_ints(s))))
    kzg._combine(pts, Fr.from_ints(sc))
    assert len(seen[0][0]) == 3 and sorted(seen[0][1]) == [13, 19, 28]
    odd = pts.copy()
    odd[1, 0] = odd[0, 0]           # rows 0 and 1 now share x's first limb, nothing else
    kzg._combine(odd, Fr.from_ints(sc))
    got_pts, got_sc = seen[1]
    assert len(got_pts) == 3 and sorted(got_sc) == [13, 19, 28]
    assert any(np.array_equal(r, odd[1]) for r in got_pts)


def test_batch_verify_takes_blocks_of_points_and_array_values(srs):
    """A run of commitments may come as one (m, 8) block and the values as an Fr array (the
    verifier's form): the same check as point by point, and a wrong value is still refused."""
    a, b, c = rand_poly(30, 21), rand_poly(20, 22), rand_poly(25, 23)
    z = 99
    proofs = kzg.batch_open(srs, [kzg.OpeningQuery(z, [a, b, c])], Transcript(b"kzg"))
    comms = np.stack([kzg.commit(srs, p) for p in (a, b, c)])
    vals = [poly.evaluate(p, z) for p in (a, b, c)]

    def check(items, values):
        return kzg.batch_verify(srs, [kzg.VerifierQuery(z, items, values)], list(proofs),
                                Transcript(b"kzg"))
    assert check([comms], Fr.from_ints(vals))
    assert check([comms[:2], comms[2]], vals)
    assert not check([comms], Fr.from_ints([vals[0], vals[1] + 1, vals[2]]))
    assert not check([comms[[0, 2, 1]]], Fr.from_ints(vals))
    with pytest.raises(ValueError, match="2 values for 3 commitments"):
        check([comms], Fr.from_ints(vals[:2]))
