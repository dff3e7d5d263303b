"""NTT kernels against a naive O(n^2) DFT over Python ints."""
import numba as nb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field import ntt
from snarkgpt.field.poly import evaluate

P = FR_MODULUS
EDGE = [0, 1, 2, P - 1, P - 2, (P - 1) // 2, (P + 1) // 2, 2**64 - 1, 2**192, 2**253]


def naive_dft(values, w):
    n = len(values)
    wp = [pow(w, e, P) for e in range(n)]
    return [sum(v * wp[i * j % n] for j, v in enumerate(values)) % P for i in range(n)]


def field_lists(k):
    n = 1 << k
    return st.lists(st.one_of(st.integers(0, P - 1), st.sampled_from(EDGE)), min_size=n, max_size=n)


@st.composite
def vectors(draw, max_k=8):
    k = draw(st.integers(0, max_k))
    return k, draw(field_lists(k))


@settings(max_examples=40, deadline=None)
@given(vectors())
def test_ntt_matches_naive_dft(kv):
    k, vals = kv
    a = Fr.from_ints(vals)
    w = ntt.root_of_unity(k)
    assert Fr.to_ints(ntt.ntt(a)) == naive_dft(vals, w)
    assert Fr.to_ints(a) == vals                  # input untouched


@settings(max_examples=30, deadline=None)
@given(vectors(), st.integers(1, P - 1))
def test_coset_ntt_matches_naive_and_round_trips(kv, shift):
    k, vals = kv
    a = Fr.from_ints(vals)
    w = ntt.root_of_unity(k)
    shifted = [v * pow(shift, j, P) % P for j, v in enumerate(vals)]
    ev = ntt.coset_ntt(a, shift)
    assert Fr.to_ints(ev) == naive_dft(shifted, w)
    assert np.array_equal(ntt.coset_intt(ev, shift), a)


@settings(max_examples=30, deadline=None)
@given(vectors())
def test_intt_inverts_ntt(kv):
    k, vals = kv
    a = Fr.from_ints(vals)
    assert np.array_equal(ntt.intt(ntt.ntt(a)), a)
    assert np.array_equal(ntt.ntt(ntt.intt(a)), a)


@pytest.mark.parametrize("k", [9, 10, 11, 12, 13])
def test_larger_sizes_spot_checked(k):
    # k >= 11 runs the two-pass (gather + tiled) decomposition.
    rng = np.random.default_rng(k)
    a = Fr.random(1 << k, rng=rng)
    A = ntt.ntt(a)
    w = ntt.root_of_unity(k)
    for i in [0, 1, 2, (1 << k) - 1, int(rng.integers(1 << k))]:
        assert Fr.to_int(A[i]) == evaluate(a, pow(w, i, P))
    assert np.array_equal(ntt.intt(A), a)


@pytest.mark.parametrize("k,max_stages", [(2, 1), (5, 2), (7, 3), (9, 4), (8, 8), (12, 5)])
def test_multi_pass_plans(k, max_stages):
    """Plans with three or more passes (used from 2^25 up) checked on small sizes."""
    plan = ntt.Plan(k, max_stages=max_stages)
    assert plan.L1 + sum(r for _, r, _ in plan.passes) == k
    vals = [int(v) for v in np.random.default_rng(k).integers(0, 2**62, size=1 << k)]
    vals[:3] = [P - 1, 0, P - 2]
    a = Fr.from_ints(vals)
    ref = ntt.ntt(a) if k > 8 else Fr.from_ints(naive_dft(vals, ntt.root_of_unity(k)))
    assert np.array_equal(ntt.transform(a, plan=plan), ref)
    inv = ntt.transform(ref, negate=True, pre=Fr.from_ints([pow(1 << k, -1, P)]), plan=plan)
    assert np.array_equal(inv, a)


@pytest.mark.parametrize("k", range(0, 29))
def test_plan_shapes(k):
    L1, passes = ntt._plan(k)
    assert L1 + sum(r for _, r, _ in passes) == k
    s = L1
    for s0, r, C in passes:
        assert s0 == s and 1 <= r <= 12 and C >= 1 and (1 << s0) % C == 0
        assert (1 << r) * C <= 1 << 13 or C == 2
        s += r


def test_all_max_values():
    """Every input p - 1: stresses the lazy [0, 4p) bounds in every butterfly."""
    for k in (4, 8, 12):
        a = Fr.from_ints([P - 1] * (1 << k))
        A = Fr.to_ints(ntt.ntt(a))
        assert A[0] == (P - 1) * (1 << k) % P and all(v == 0 for v in A[1:])
        assert np.array_equal(ntt.intt(ntt.ntt(a)), a)


@nb.njit(cache=True)
def _apply(kind, a, b, out):
    for i in range(a.shape[0]):
        x = (a[i, 0], a[i, 1], a[i, 2], a[i, 3])
        y = (b[i, 0], b[i, 1], b[i, 2], b[i, 3])
        if kind == 0:
            r = ntt.mul_lazy(x, y)
        elif kind == 1:
            r = ntt.mul(x, y)
        elif kind == 2:
            r = ntt.add(x, y)
        elif kind == 3:
            r = ntt.sub(x, y)
        else:
            r = ntt.normalize(x)
        for j in range(4):
            out[i, j] = r[j]


def _raw(vals):
    return np.array([[(v >> (64 * j)) & (2**64 - 1) for j in range(4)] for v in vals], dtype=np.uint64)


def _unraw(arr):
    return [sum(int(r[j]) << (64 * j) for j in range(4)) for r in arr]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4 * P - 1), st.integers(0, P - 1)), min_size=1, max_size=20))
def test_scalar_kernels_and_lazy_bounds(pairs):
    R = 1 << 256
    rinv = pow(R, -1, P)
    pairs = pairs + [(4 * P - 1, P - 1), (2**256 - 1, P - 1), (0, 0), (P, 1)]
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    a, b, out = _raw(xs), _raw(ys), np.empty((len(xs), 4), dtype=np.uint64)
    _apply(0, a, b, out)
    for x, y, r in zip(_unraw(a), ys, _unraw(out)):
        assert r < 2 * P and r % P == x * y * rinv % P
    _apply(1, a, b, out)
    for x, y, r in zip(_unraw(a), ys, _unraw(out)):
        assert r == x * y * rinv % P
    _apply(4, a, b, out)
    assert [r for x, r in zip(xs, _unraw(out)) if x < 4 * P] == [x % P for x in xs if x < 4 * P]
    ca = _raw([x % P for x in xs])
    _apply(2, ca, b, out)
    assert _unraw(out) == [(x % P + y) % P for x, y in zip(xs, ys)]
    _apply(3, ca, b, out)
    assert _unraw(out) == [(x % P - y) % P for x, y in zip(xs, ys)]


def test_powers_and_twiddles():
    assert Fr.to_ints(ntt.powers(7, 10, first=3)) == [3 * pow(7, i, P) % P for i in range(10)]
    assert ntt.powers(7, 0).shape == (0, 4)
    big = ntt.powers(11, 20000)
    assert Fr.to_int(big[19999]) == pow(11, 19999, P)
    tw = Fr.to_ints(ntt.twiddle_table(6))
    for m in (1, 2, 4, 8, 16, 32):
        wm = ntt.root_of_unity(m.bit_length())
        assert tw[m - 1:2 * m - 1] == [pow(wm, j, P) for j in range(m)]


def test_roots_of_unity():
    for k in range(0, 29):
        w = ntt.root_of_unity(k)
        assert pow(w, 1 << k, P) == 1
        assert k == 0 or pow(w, 1 << (k - 1), P) == P - 1
    with pytest.raises(ValueError):
        ntt.root_of_unity(29)


def test_bit_reverse_permute():
    a = Fr.from_ints(range(16))
    ntt.bit_reverse_permute(a)
    assert Fr.to_ints(a) == [int(f"{i:04b}"[::-1], 2) for i in range(16)]
    with pytest.raises(ValueError):
        ntt.bit_reverse_permute(Fr.zeros(6))


def test_errors():
    with pytest.raises(ValueError, match="power of two"):
        ntt.ntt(Fr.zeros(12))
    with pytest.raises(ValueError, match="power of two"):
        ntt.ntt(Fr.zeros(0))
    a = Fr.zeros(8)
    with pytest.raises(ValueError, match="overlap"):
        ntt.transform(a, a)
    with pytest.raises(ValueError):
        ntt.transform(a, pre=Fr.zeros(4))
    with pytest.raises(ValueError):
        ntt.transform(a, post=Fr.zeros(16))
    with pytest.raises(ValueError):
        ntt.transform(a, plan=ntt.Plan(4))
    with pytest.raises(ValueError):
        ntt.Plan(29)


def test_bench_ntt_runs():
    from snarkgpt.bench.kernels import bench_ntt
    t = bench_ntt(6, repeats=2)
    assert isinstance(t, float) and t > 0


@pytest.mark.slow
@pytest.mark.parametrize("k", [16, 18, 20])
def test_large_round_trip(k):
    rng = np.random.default_rng(k)
    a = Fr.random(1 << k, rng=rng)
    A = ntt.ntt(a)
    w = ntt.root_of_unity(k)
    for i in [0, 1, (1 << k) - 1, int(rng.integers(1 << k))]:
        assert Fr.to_int(A[i]) == evaluate(a, pow(w, i, P))
    assert np.array_equal(ntt.intt(A), a)
    C = ntt.coset_ntt(a, 5)
    assert Fr.to_int(C[3]) == evaluate(a, 5 * pow(w, 3, P) % P)
    assert np.array_equal(ntt.coset_intt(C, 5), a)


def test_non_contiguous_input_and_bad_out():
    a = Fr.random(32, rng=np.random.default_rng(5))
    wide = np.zeros((32, 8), dtype=np.uint64)
    wide[:, ::2] = a
    assert np.array_equal(ntt.ntt(wide[:, ::2]), ntt.ntt(a))
    with pytest.raises(ValueError, match="C-contiguous"):
        ntt.transform(a, np.zeros((32, 8), dtype=np.uint64)[:, ::2])
    with pytest.raises(TypeError):
        ntt.transform(a.astype(np.int64))
