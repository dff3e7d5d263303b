"""The optimal ate pairing: agreement with py_ecc, bilinearity, pairing_check."""
import numpy as np
import py_ecc.optimized_bn128 as ref
import pytest

from snarkgpt.curve import g2
from snarkgpt.curve import pairing as pr
from snarkgpt.curve import tower as T
from snarkgpt.field import FR_MODULUS

R = FR_MODULUS


def g1_point(k):
    """[k]G1 as an (8,) affine row, built from py_ecc (independent of g1.py)."""
    p = ref.multiply(ref.G1, k % R)
    if ref.is_inf(p):
        return np.zeros(8, np.uint64)
    x, y = ref.normalize(p)
    return np.array([T.mont(int(x.n)), T.mont(int(y.n))], np.uint64).reshape(8)


def g2_point(k):
    return g2.scalar_mul(g2.generator(), k)


def test_matches_py_ecc():
    e = pr.pairing(g1_point(1), g2.generator())
    assert pr.gt_to_py_ecc(e) == ref.pairing(ref.G2, ref.G1)
    a, b = 0x1234567890ABCDEF1234567890ABCDEF, R - 98765
    e = pr.pairing(g1_point(a), g2_point(b))
    assert pr.gt_to_py_ecc(e) == ref.pairing(ref.multiply(ref.G2, b), ref.multiply(ref.G1, a))


def test_bilinearity_and_non_degeneracy():
    base = pr.pairing(g1_point(1), g2.generator())
    assert not pr.gt_is_one(base)
    # order r: base^(r-1) * base == 1
    assert pr.gt_is_one(pr.gt_mul(pr.gt_pow(base, R - 1), base))
    rng = np.random.default_rng(11)
    for _ in range(2):
        a, b = (int(v) for v in rng.integers(1, 2**62, size=2))
        a = a * 0x9E3779B97F4A7C15 % R
        e = pr.pairing(g1_point(a), g2_point(b))
        assert pr.gt_eq(e, pr.gt_pow(base, a * b))
    # linear in each argument
    p1, p2 = g1_point(5), g1_point(7)
    Qp = g2_point(3)
    assert pr.gt_eq(pr.pairing(g1_point(12), Qp), pr.gt_mul(pr.pairing(p1, Qp), pr.pairing(p2, Qp)))
    assert pr.gt_eq(pr.pairing(p1, g2.add(Qp, g2.generator())),
                    pr.gt_mul(pr.pairing(p1, Qp), pr.pairing(p1, g2.generator())))
    # e(-P, Q) = e(P, Q)^-1
    assert pr.gt_eq(pr.pairing(g1_point(-5), Qp), pr.gt_inv(pr.pairing(p1, Qp)))


def test_infinity_gives_one():
    O1, O2 = np.zeros(8, np.uint64), g2.identity()
    assert pr.gt_is_one(pr.pairing(O1, g2.generator()))
    assert pr.gt_is_one(pr.pairing(g1_point(3), O2))
    assert pr.pairing_check(np.stack([O1, g1_point(2)]), np.stack([g2.generator(), O2]))
    assert pr.gt_is_one(pr.multi_pairing([]))


def test_multi_pairing_and_miller_loop():
    ps = [g1_point(k) for k in (2, 3, 4)]
    qs = [g2_point(k) for k in (5, 6, 7)]
    prod = pr.gt_one()
    for p, qq in zip(ps, qs):
        prod = pr.gt_mul(prod, pr.pairing(p, qq))
    assert pr.gt_eq(pr.multi_pairing(list(zip(ps, qs))), prod)
    assert pr.gt_eq(pr.multi_pairing((np.stack(ps), np.stack(qs))), prod)
    assert pr.gt_eq(pr.final_exp(pr.miller_loop_value(ps[0], qs[0])), pr.pairing(ps[0], qs[0]))


def test_pairing_check():
    a, b = 0xDEADBEEF12345, 0xC0FFEE
    Gq = g2.generator()
    # e(aP, Q) * e(-P, aQ) == 1
    assert pr.pairing_check(np.stack([g1_point(a), g1_point(-1)]), np.stack([Gq, g2_point(a)]))
    assert not pr.pairing_check(np.stack([g1_point(a), g1_point(-1)]), np.stack([Gq, g2_point(b)]))
    # three pairs: e(aP, bQ) e(-abP, Q) e(P, 0) == 1
    assert pr.pairing_check(np.stack([g1_point(a), g1_point(-a * b), g1_point(1)]),
                            np.stack([g2_point(b), Gq, g2.identity()]))
    assert not pr.pairing_check(g1_point(1), Gq)


def test_invalid_inputs_rejected():
    bad1 = g1_point(1).copy()
    bad1[4] ^= np.uint64(1)
    with pytest.raises(ValueError, match="G1 point 0"):
        pr.pairing(bad1, g2.generator())
    bad2 = g2.generator().copy()
    bad2[8] ^= np.uint64(1)
    with pytest.raises(ValueError, match="G2 point 1"):
        pr.pairing_check(np.stack([g1_point(1), g1_point(2)]), np.stack([g2.generator(), bad2]))
    with pytest.raises(ValueError):
        pr.pairing_check(np.stack([g1_point(1)]), np.stack([g2.generator(), g2.generator()]))


def test_bench_runs():
    from snarkgpt.bench.kernels import bench_pairing
    assert bench_pairing(repeats=1) > 0


def test_prepared_g2_lines_are_cached_by_value():
    """The Miller loop from recorded G2 lines (`g2_lines`, cached by `prepare_g2`) gives the
    same values as py_ecc, whether the lines were just computed or come from the cache, and
    a different G2 point never reuses another point's lines."""
    pr._LINES.clear()
    a, b = 0xABCDEF0123456789, 0x1122334455667788
    P, Q = g1_point(a), g2_point(b)
    want = ref.pairing(ref.multiply(ref.G2, b), ref.multiply(ref.G1, a))
    assert pr.gt_to_py_ecc(pr.pairing(P, Q)) == want            # computes and caches
    assert Q.tobytes() in pr._LINES
    assert pr.gt_to_py_ecc(pr.pairing(P, Q)) == want            # from the cache
    other = g2_point(b + 1)
    assert pr.gt_to_py_ecc(pr.pairing(P, other)) == \
        ref.pairing(ref.multiply(ref.G2, b + 1), ref.multiply(ref.G1, a))
    assert not np.array_equal(pr.prepare_g2(Q[None]), pr.prepare_g2(other[None]))
    # the cache stays bounded
    for k in range(pr._LINES_CACHE_SIZE + 3):
        pr.prepare_g2(g2_point(1000 + k)[None])
    assert len(pr._LINES) <= pr._LINES_CACHE_SIZE
    assert pr.prepare_g2(np.zeros((0, 16), np.uint64)).shape == (0, pr.N_LINES * pr.LINE_LIMBS)
