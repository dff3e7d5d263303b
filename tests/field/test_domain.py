"""Evaluation domains: roots of unity, transforms, cosets, Lagrange basis, barycentric form."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain
from snarkgpt.field.poly import divide_by_vanishing, evaluate

P = FR_MODULUS


def horner(coeffs, x):
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % P
    return acc


def interpolate(d: Domain, evals):
    """Coefficients by the O(n^2) Lagrange formula in Python ints (reference)."""
    n = d.n
    pts = [pow(d.omega, i, P) for i in range(n)]
    coeffs = [0] * n
    for i, (xi, yi) in enumerate(zip(pts, evals)):
        num = [1]
        den = 1
        for j, xj in enumerate(pts):
            if j != i:
                num = [(a - xj * b) % P for a, b in zip([0] + num, num + [0])]
                den = den * (xi - xj) % P
        f = yi * pow(den, -1, P) % P
        coeffs = [(c + f * v) % P for c, v in zip(coeffs, num)]
    return coeffs


@pytest.mark.parametrize("k", range(0, 29))
def test_omega_has_exact_order_n(k):
    d = Domain(k)
    assert d.n == 1 << k and pow(d.omega, d.n, P) == 1
    if k:
        assert pow(d.omega, d.n // 2, P) == P - 1        # order exactly n (n a power of 2)
    assert d.omega * d.omega_inv % P == 1 and d.n * d.n_inv % P == 1


def test_elements_and_vanishing():
    d = Domain(5)
    el = Fr.to_ints(d.elements())
    assert el == [pow(d.omega, i, P) for i in range(32)] and len(set(el)) == 32
    assert all(d.vanishing_at(x) == 0 for x in el)
    assert d.vanishing_at(7) == (pow(7, 32, P) - 1) % P
    assert d.element(33) == el[1] and d.index_of(el[9]) == 9 and d.index_of(5) is None


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 7), st.data())
def test_intt_matches_interpolation(k, data):
    d = Domain(k)
    vals = data.draw(st.lists(st.integers(0, P - 1), min_size=d.n, max_size=d.n))
    ev = Fr.from_ints(vals)
    coeffs = d.intt(ev)
    if k <= 5:
        assert Fr.to_ints(coeffs) == interpolate(d, vals)
    assert np.array_equal(d.ntt(coeffs), ev)
    assert Fr.to_ints(d.ntt(coeffs)) == [horner(Fr.to_ints(coeffs), pow(d.omega, i, P)) for i in range(d.n)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 8), st.one_of(st.none(), st.integers(2, P - 1)), st.data())
def test_coset_round_trip_and_values(k, shift, data):
    d = Domain(k)
    vals = data.draw(st.lists(st.integers(0, P - 1), min_size=d.n, max_size=d.n))
    a = Fr.from_ints(vals)
    ev = d.coset_ntt(a, shift)
    g = 5 if shift is None else shift
    i = data.draw(st.integers(0, d.n - 1))
    assert Fr.to_int(ev[i]) == horner(vals, g * pow(d.omega, i, P) % P)
    assert np.array_equal(d.coset_intt(ev, shift), a)


def test_default_coset_is_disjoint_from_domain():
    d = Domain(6)
    ev = Fr.to_ints(d.extend(4).coset_ntt(Fr.from_ints([0, 1] + [0] * 254)))   # p(X) = X
    assert all(d.vanishing_at(x) != 0 for x in ev)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 8), st.integers(0, P - 1), st.data())
def test_lagrange_basis_and_barycentric(k, x, data):
    d = Domain(k)
    vals = data.draw(st.lists(st.integers(0, P - 1), min_size=d.n, max_size=d.n))
    ev = Fr.from_ints(vals)
    L = Fr.to_ints(d.lagrange_basis_at(x))
    assert sum(L) % P == 1
    coeffs = d.intt(ev)
    px = evaluate(coeffs, x)
    assert sum(l * v for l, v in zip(L, vals)) % P == px
    assert d.evaluate_lagrange(ev, x) == px
    assert d.lagrange_first_at(x) == L[0] and d.lagrange_last_at(x) == L[-1]
    j = data.draw(st.integers(0, d.n - 1))
    assert d.lagrange_at(j, x) == L[j]


def test_lagrange_inside_domain_is_exact():
    d = Domain(4)
    for j in (0, 3, 15):
        x = d.element(j)
        L = Fr.to_ints(d.lagrange_basis_at(x))
        assert L == [1 if i == j else 0 for i in range(16)]
        ev = Fr.random(16, rng=np.random.default_rng(j))
        assert d.evaluate_lagrange(ev, x) == Fr.to_int(ev[j])
        assert d.lagrange_first_at(x) == (1 if j == 0 else 0)
        assert d.lagrange_last_at(x) == (1 if j == 15 else 0)


def test_inplace_and_out():
    d = Domain(6)
    a = Fr.random(64, rng=np.random.default_rng(1))
    ref = d.ntt(a)
    b = a.copy()
    assert d.ntt(b, inplace=True) is b and np.array_equal(b, ref)
    assert d.intt(b, inplace=True) is b and np.array_equal(b, a)
    out = Fr.zeros(64)
    assert d.coset_ntt(a, out=out) is out and np.array_equal(d.coset_intt(out), a)
    c = a.copy()
    d.coset_intt(d.coset_ntt(c, 7, inplace=True), 7, inplace=True)
    assert np.array_equal(c, a)


def test_quotient_on_extended_coset():
    """t(X) = p(X) Z_H(X): evaluate on the 4n coset, divide by Z_H, interpolate back -> p."""
    d = Domain(5)
    n = d.n
    p_coeffs = Fr.to_ints(Fr.random(2 * n, rng=np.random.default_rng(3)))
    t_coeffs = [0] * (4 * n)
    for i, c in enumerate(p_coeffs):                     # p(X) (X^n - 1)
        t_coeffs[i + n] = (t_coeffs[i + n] + c) % P
        t_coeffs[i] = (t_coeffs[i] - c) % P
    ext = d.extend(4)
    q_ev = divide_by_vanishing(ext.coset_ntt(Fr.from_ints(t_coeffs)), n)
    q = Fr.to_ints(ext.coset_intt(q_ev))
    assert q == p_coeffs + [0] * (2 * n)


def test_errors():
    d = Domain(4)
    with pytest.raises(ValueError, match="does not match"):
        d.ntt(Fr.zeros(8))
    with pytest.raises(ValueError, match="does not match"):
        d.coset_intt(Fr.zeros(32))
    with pytest.raises(TypeError):
        d.intt(np.zeros((16, 4), dtype=np.int64))
    with pytest.raises(TypeError):
        d.ntt([1, 2, 3])
    with pytest.raises(ValueError):
        Domain(29)
    with pytest.raises(ValueError):
        Domain(-1)
    with pytest.raises(TypeError):
        Domain(2.0)
    with pytest.raises(ValueError):
        d.extend(3)
    with pytest.raises(ValueError):
        d.coset_ntt(Fr.zeros(16), shift=P)
    with pytest.raises(ValueError):
        Domain.of_size(12)
    assert Domain.of_size(16) == d and d.extend(4).n == 64 and d.extend(1) == d


@pytest.mark.slow
def test_large_domain_round_trip():
    d = Domain(18)
    a = Fr.random(d.n, rng=np.random.default_rng(0))
    ev = d.coset_ntt(a)
    assert np.array_equal(d.coset_intt(ev), a)
    x = 123456789
    assert d.evaluate_lagrange(d.ntt(a), x) == evaluate(a, x)
