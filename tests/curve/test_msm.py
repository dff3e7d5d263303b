"""Pippenger MSM against py_ecc and against sum_i k_i s_i for points k_i * G."""
import numpy as np
import py_ecc.optimized_bn128 as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.curve import g1
from snarkgpt.curve import msm as M
from snarkgpt.field import FR_MODULUS, Fr

R = FR_MODULUS


def ref_affine(p):
    if ref.is_inf(p):
        return None
    x, y = ref.normalize(p)
    return int(x.n), int(y.n)


def expected(ks, ss):
    """sum s_i * (k_i G) = (sum k_i s_i) G; k = None is the point at infinity."""
    t = sum((k or 0) * s for k, s in zip(ks, ss)) % R
    return ref_affine(ref.multiply(ref.G1, t))


def points_for(ks):
    pts = g1.fixed_base_mul(g1.generator(), [k or 0 for k in ks])
    for i, k in enumerate(ks):
        if k is None:
            pts[i] = 0
    return pts


def run(ks, ss):
    return g1.to_affine_ints(M.msm(points_for(ks), Fr.from_ints(ss)))[0]


def test_naive_py_ecc_sum():
    rng = np.random.default_rng(3)
    ks = [int(v) for v in rng.integers(1, 2**60, 6)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in ks]
    pts = [ref.multiply(ref.G1, k) for k in ks]
    acc = ref.Z1
    for p, s in zip(pts, ss):
        acc = ref.add(acc, ref.multiply(p, s))
    got = M.msm(g1.from_py_ecc(pts), Fr.from_ints(ss))
    assert got.shape == (8,)
    assert g1.to_affine_ints(got)[0] == ref_affine(acc)


scalar = st.one_of(
    st.integers(0, R - 1),
    st.integers(-(2**24), 2**24),            # small signed fixed-point values
    st.sampled_from([0, 1, R - 1, (R - 1) // 2, (R + 1) // 2, 2**253 - 1]),
)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_msm_random_sets(data):
    n = data.draw(st.integers(1, 2 * M._STRAUS_MAX))       # Straus and the bucket path
    ks = data.draw(st.lists(st.one_of(st.integers(1, R - 1), st.none(), st.sampled_from([1, 2, 3])),
                            min_size=n, max_size=n))
    ss = data.draw(st.lists(scalar, min_size=n, max_size=n))
    assert run(ks, ss) == expected(ks, ss)


def test_small_and_negative_small_scalars():
    rng = np.random.default_rng(11)
    n = 3000
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    pts = points_for(ks)
    for bits in (1, 8, 16, 24):
        v = rng.integers(-(2**bits) + 1, 2**bits, n)
        sc = Fr.from_signed(v)
        got = g1.to_affine_ints(M.msm(pts, sc))[0]
        assert got == expected(ks, [int(x) for x in v]), bits
    # mostly small with a few full-size values (blinding rows): exercises the group split
    ss = [int(x) for x in rng.integers(-(2**16), 2**16, n)]
    for i in (5, 700, 2999):
        ss[i] = int.from_bytes(rng.bytes(32), "big") % R
    bits = M.fold_scalars(Fr.to_canonical(Fr.from_ints(ss)))[2]
    assert len(M.plan_groups(bits)) >= 2
    assert g1.to_affine_ints(M.msm(pts, Fr.from_ints(ss)))[0] == expected(ks, ss)


def test_infinity_duplicates_and_zeros():
    ks = [5, 5, 5, None, 7, 7, None, 9]
    ss = [3, 3, R - 3, 8, 0, 11, 0, R - 1]
    assert run(ks, ss) == expected(ks, ss)
    # P + (-P) inside one bucket, and the same point many times
    ks = [42] * 40 + [43] * 40
    ss = [1] * 20 + [R - 1] * 20 + [2] * 40
    assert run(ks, ss) == expected(ks, ss)
    ks = [42] * 64
    ss = [7] * 64
    assert run(ks, ss) == expected(ks, ss)


def test_edge_sizes_and_errors():
    empty = M.msm(np.zeros((0, 8), np.uint64), np.zeros((0, 4), np.uint64))
    assert empty.shape == (8,) and not empty.any()
    assert run([3], [5]) == expected([3], [5])
    assert run([3], [0]) is None
    assert run([None], [5]) is None
    assert run([None, None], [0, 0]) is None
    pts = points_for([1, 2, 3])
    with pytest.raises(ValueError, match="3 points but 2 scalars"):
        M.msm(pts, Fr.from_ints([1, 2]))
    with pytest.raises(ValueError):
        M.msm(pts, np.zeros((3, 3), np.uint64))
    with pytest.raises(ValueError):
        M.msm(np.zeros((3, 7), np.uint64), Fr.from_ints([1, 2, 3]))


@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 11, 13])
def test_every_window_width(c):
    """The kernel directly with a forced window width (and 1 or 3 chunks)."""
    rng = np.random.default_rng(c)
    n = 200
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    ss[:10] = [0, 1, R - 1, 2, R - 2, 2**128, R - 2**128, 5, 5, 5]
    folded, negf, bits = M.fold_scalars(Fr.to_canonical(Fr.from_ints(ss)))
    idx = np.arange(n, dtype=np.int64)
    pts = points_for(ks)
    for chunks in (1, 3):
        out = np.empty((chunks, 16), np.uint64)
        M._pip_run(pts, idx, folded, negf, c, M._nwin(253, c), chunks, out)
        total = np.empty((1, 16), np.uint64)
        M._xyzz_sum(out, total)
        got = g1.to_affine_ints(g1.xyzz_to_affine(total))[0]
        assert got == expected(ks, ss), (c, chunks)


@pytest.mark.parametrize("c", [1, 2, 4, 7, 9])
def test_small_path_every_window_width_and_split(c):
    """`_pip_small` (tree levels shared by all windows, the windows split between pieces)
    with a forced window width, and as many pieces as windows or more (empty pieces)."""
    rng = np.random.default_rng(100 + c)
    n = 150
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    ss[:12] = [0, 1, R - 1, 2, R - 2, 2**128, R - 2**128, 5, 5, 5, (R - 1) // 2, (R + 1) // 2]
    ks[7:10] = [ks[7]] * 3                # one point three times with one scalar
    folded, negf, bits = M.fold_scalars(Fr.to_canonical(Fr.from_ints(ss)))
    idx = np.arange(n, dtype=np.int64)
    pts = points_for(ks)
    nwin = M._nwin(253, c)
    for pieces in sorted({1, 2, 3, nwin, nwin + 2}):
        out = np.empty((pieces, 16), np.uint64)
        M._pip_small(pts, idx, folded, negf, c, nwin, out)
        total = np.empty((1, 16), np.uint64)
        M._xyzz_sum(out, total)
        got = g1.to_affine_ints(g1.xyzz_to_affine(total))[0]
        assert got == expected(ks, ss), (c, pieces)


@pytest.mark.parametrize("c", range(2, 8))
def test_straus_every_window_width(c):
    """`_straus` (a table of multiples per point, shared doublings) at every width it may
    pick, with duplicates, P + (-P) (a sum that cancels), negative and zero digits."""
    rng = np.random.default_rng(20 + c)
    ks = [7, 7, 7, 11, None, 2**200 + 3] + [int(v) for v in rng.integers(1, 2**62, 6)]
    ss = [5, R - 5, 3, int.from_bytes(rng.bytes(32), "big") % R, 9, R - 1] + \
        [int.from_bytes(rng.bytes(32), "big") % R for _ in range(5)] + [2**150]
    pts = points_for(ks)
    folded, negf, bits = M.fold_scalars(Fr.to_canonical(Fr.from_ints(ss)))
    bits[~pts.any(axis=1)] = 0
    idx = np.flatnonzero(bits).astype(np.int64)
    nwin = M._nwin(int(bits.max()), c)
    dig = np.empty((nwin, idx.size), np.int32)
    M._all_digits(np.ascontiguousarray(folded[idx]), c, nwin, dig)
    total = np.empty((1, 16), np.uint64)
    M._straus(pts, idx, dig, negf[idx], c, total)
    assert g1.to_affine_ints(g1.xyzz_to_affine(total))[0] == expected(ks, ss)
    # a sum that is the point at infinity
    assert run([5, 5], [3, R - 3]) is None


def test_msm_switches_to_straus():
    """Up to `_STRAUS_MAX` points msm takes `_straus`, above it the buckets: same sums."""
    rng = np.random.default_rng(9)
    n = M._STRAUS_MAX + 1
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    assert run(ks[:n - 1], ss[:n - 1]) == expected(ks[:n - 1], ss[:n - 1])
    assert run(ks, ss) == expected(ks, ss)
    assert run([3, None], [0, 5]) is None          # nothing left to add


def test_msm_switches_paths_at_the_small_size():
    """Just below and at `_SMALL_BELOW` points (the two Pippenger paths) give the same sums."""
    rng = np.random.default_rng(8)
    n = M._SMALL_BELOW
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    assert run(ks[:n - 1], ss[:n - 1]) == expected(ks[:n - 1], ss[:n - 1])
    assert run(ks, ss) == expected(ks, ss)


def test_larger_msm_two_chunks():
    rng = np.random.default_rng(5)
    n = 5000
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    assert run(ks, ss) == expected(ks, ss)


def test_plan_groups_uses_fewer_windows_for_small_scalars():
    small = M.plan_groups(np.full(1 << 16, 16, dtype=np.int64))
    full = M.plan_groups(np.full(1 << 16, 253, dtype=np.int64))
    (lo_s, hi_s, c_s, _), = small
    (lo_f, hi_f, c_f, _), = full
    assert M._nwin(hi_s, c_s) * 4 <= M._nwin(hi_f, c_f)
    assert M.plan_groups(np.zeros(10, dtype=np.int64)) == []


@pytest.mark.slow
def test_msm_2_16_against_py_ecc():
    rng = np.random.default_rng(1)
    n = 1 << 16
    kf = M.random_scalars(n, None, rng)
    pts = g1.fixed_base_mul(g1.generator(), kf)
    for bits in (None, 16):
        sf = M.random_scalars(n, bits, rng)
        ks, ss = Fr.to_ints(kf), Fr.to_ints(sf)
        got = g1.to_affine_ints(M.msm(pts, sf))[0]
        assert got == expected(ks, ss)


def test_fold_scalars_bit_lengths():
    vals = [0, 1, 2, 3, 255, 256, 2**63, 2**64 - 1, 2**64, 2**100 + 5, 2**200,
            (R - 1) // 2, (R + 1) // 2, R - 1, R - 2**40]
    folded, negf, bits = g1.fold_scalars(g1.scalars_canonical(vals))
    want = [min(v, R - v) for v in vals]
    assert [int(b) for b in bits] == [v.bit_length() for v in want]
    assert negf.tolist() == [int(v > R // 2) for v in vals]
    assert [sum(int(x) << (64 * i) for i, x in enumerate(row)) for row in folded] == want


# ---- the bucket trees with AVX-512 IFMA (ifma_buckets.py) ----------------------------------
from snarkgpt.curve import ifma_buckets as IB  # noqa: E402
from snarkgpt.field import ifma  # noqa: E402

needs_ifma = pytest.mark.skipif(not ifma.available(), reason="this CPU has no AVX-512 IFMA")


def run_vec(pts, ss, c, chunks=1):
    """`_pip_run` with the x16 points and the vector bucket trees, forced window width."""
    folded, negf, bits = M.fold_scalars(Fr.to_canonical(Fr.from_ints(ss)))
    idx = np.arange(len(ss), dtype=np.int64)
    p16 = np.empty_like(pts)
    IB.to_x16(pts, p16)
    out = np.empty((chunks, 16), np.uint64)
    M._pip_run(p16, idx, folded, negf, c, M._nwin(253, c), chunks, out, True)
    total = np.empty((1, 16), np.uint64)
    M._xyzz_sum(out, total)
    return g1.to_affine_ints(g1.xyzz_to_affine(total))[0]


@needs_ifma
@pytest.mark.parametrize("c", [1, 2, 3, 5, 8, 11, 13])
def test_vector_bucket_trees_every_window_width(c):
    """c >= 11: 1,024 buckets or more, summed by the vectorized lanes (`lanes_x16`)."""
    rng = np.random.default_rng(200 + c)
    n = 300
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    ss[:10] = [0, 1, R - 1, 2, R - 2, 2**128, R - 2**128, 5, 5, 5]
    for chunks in (1, 3):
        assert run_vec(points_for(ks), ss, c, chunks) == expected(ks, ss), (c, chunks)


@needs_ifma
@pytest.mark.parametrize("c", [1, 3, 6, 12])
def test_vector_bucket_trees_special_cases(c):
    """Doublings (one point many times), P + (-P) in one bucket, points at infinity: the
    lanes the vector pass flags and the scalar formulas redo."""
    ks = [42] * 40 + [43] * 40 + [None] * 5 + [44, 44]
    ss = [1] * 20 + [R - 1] * 20 + [2] * 40 + [3] * 5 + [6, R - 6]
    assert run_vec(points_for(ks), ss, c) == expected(ks, ss)
    ks = [42] * 64 + [7] * 9
    ss = [7] * 64 + [1] * 9
    assert run_vec(points_for(ks), ss, c) == expected(ks, ss)


@pytest.mark.parametrize("flag", ["0", "1"])
def test_msm_with_and_without_ifma(monkeypatch, flag):
    """`msm` (which takes the vector trees where the CPU has IFMA) on a size that runs the
    large-MSM path, with and without it."""
    monkeypatch.setenv("SNARKGPT_IFMA", flag)
    rng = np.random.default_rng(9)
    n = M._SMALL_BELOW + 500
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    ks[100:140] = [ks[100]] * 40
    assert run(ks, ss) == expected(ks, ss)


def test_x16_round_trip():
    pts = points_for([3, 5, None, 11])
    p16 = np.empty_like(pts)
    IB.to_x16(pts, p16)
    assert not np.array_equal(p16[0], pts[0]) and not p16[2].any()
    for i in range(4):
        IB.from_x16_row(p16, i)
    assert np.array_equal(p16, pts)


@needs_ifma
@pytest.mark.parametrize("c", [1, 2, 4, 7, 9])
def test_vector_trees_on_the_small_path(c):
    """`_pip_small` with x16 points and the vector trees (the verifier's batch MSM)."""
    rng = np.random.default_rng(300 + c)
    n = 150
    ks = [int(v) for v in rng.integers(1, 2**62, n)]
    ss = [int.from_bytes(rng.bytes(32), "big") % R for _ in range(n)]
    ss[:12] = [0, 1, R - 1, 2, R - 2, 2**128, R - 2**128, 5, 5, 5, (R - 1) // 2, (R + 1) // 2]
    ks[7:10] = [ks[7]] * 3
    ks[20:24] = [ks[20]] * 4
    ss[20:24] = [9, R - 9, 9, 9]
    folded, negf, bits = M.fold_scalars(Fr.to_canonical(Fr.from_ints(ss)))
    idx = np.arange(n, dtype=np.int64)
    p16 = np.empty_like(points_for(ks))
    IB.to_x16(points_for(ks), p16)
    nwin = M._nwin(253, c)
    for pieces in sorted({1, 2, nwin}):
        out = np.empty((pieces, 16), np.uint64)
        M._pip_small(p16, idx, folded, negf, c, nwin, out, True)
        total = np.empty((1, 16), np.uint64)
        M._xyzz_sum(out, total)
        assert g1.to_affine_ints(g1.xyzz_to_affine(total))[0] == expected(ks, ss), (c, pieces)
