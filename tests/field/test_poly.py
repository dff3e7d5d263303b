"""Polynomial helpers against Python-int reference computations."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field import poly
from snarkgpt.field.ntt import root_of_unity

P = FR_MODULUS
felts = st.one_of(st.integers(0, P - 1), st.sampled_from([0, 1, P - 1, P - 2]))


def horner(coeffs, x):
    acc = 0
    for c in reversed(coeffs):
        acc = (acc * x + c) % P
    return acc


@settings(max_examples=40, deadline=None)
@given(st.lists(felts, max_size=300), felts)
def test_evaluate_matches_horner(coeffs, x):
    a = Fr.from_ints(coeffs) if coeffs else Fr.zeros(0)
    assert poly.evaluate(a, x) == horner(coeffs, x)


def test_evaluate_long_polynomial_in_chunks():
    a = Fr.random(20000, rng=np.random.default_rng(0))
    ints = Fr.to_ints(a)
    for x in (0, 1, P - 1, 987654321):
        assert poly.evaluate(a, x) == horner(ints, x)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(felts, max_size=40), max_size=5), felts)
def test_evaluate_many(polys, x):
    arrs = [Fr.from_ints(p) if p else Fr.zeros(0) for p in polys]
    assert poly.evaluate_many(arrs, x) == [horner(p, x) for p in polys]


@settings(max_examples=40, deadline=None)
@given(st.lists(felts, min_size=0, max_size=200), felts)
def test_divide_by_linear(coeffs, z):
    a = Fr.from_ints(coeffs) if coeffs else Fr.zeros(0)
    q, pz = poly.divide_by_linear_with_value(a, z)
    assert pz == horner(coeffs, z)
    qi = Fr.to_ints(q)
    assert np.array_equal(poly.divide_by_linear(a, z), q)
    # q(X) (X - z) + p(z) == p(X), coefficient by coefficient
    prod = [0] * (len(qi) + 1)
    for i, c in enumerate(qi):
        prod[i + 1] = (prod[i + 1] + c) % P
        prod[i] = (prod[i] - z * c) % P
    prod[0] = (prod[0] + pz) % P
    expect = coeffs + [0] * (len(prod) - len(coeffs))
    assert prod == expect


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(felts, min_size=1, max_size=30), min_size=1, max_size=4), st.data())
def test_linear_combination(polys, data):
    scalars = data.draw(st.lists(st.integers(-5, P), min_size=len(polys), max_size=len(polys)))
    out = poly.linear_combination([Fr.from_ints(p) for p in polys], scalars)
    n = max(len(p) for p in polys)
    expect = [sum(s * (p[i] if i < len(p) else 0) for p, s in zip(polys, scalars)) % P for i in range(n)]
    assert Fr.to_ints(out) == expect


def test_add_sub_scale_pad_inner_product():
    a, b = [1, 2, 3], [P - 1, 5]
    A, B = Fr.from_ints(a), Fr.from_ints(b)
    assert Fr.to_ints(poly.add(A, B)) == [0, 7, 3]
    assert Fr.to_ints(poly.sub(A, B)) == [2, P - 3, 3]
    assert Fr.to_ints(poly.sub(B, A)) == [P - 2, 3, P - 3]
    assert Fr.to_ints(poly.scale(A, -1)) == [P - 1, P - 2, P - 3]
    assert Fr.to_ints(poly.pad(B, 4)) == [P - 1, 5, 0, 0]
    assert poly.inner_product(A, Fr.from_ints([4, 5, 6])) == 32
    x = Fr.random(10000, rng=np.random.default_rng(1))
    y = Fr.random(10000, rng=np.random.default_rng(2))
    assert poly.inner_product(x, y) == sum(u * v for u, v in zip(Fr.to_ints(x), Fr.to_ints(y))) % P
    assert poly.linear_combination([], []).shape == (0, 4)


def test_vanishing_on_coset():
    n, f, g = 8, 4, 5
    w = root_of_unity(5)
    vals = Fr.to_ints(poly.coset_vanishing_values(n, n * f, g))
    assert vals == [(pow(g * pow(w, i, P), n, P) - 1) % P for i in range(f)]
    e = Fr.random(n * f, rng=np.random.default_rng(4))
    z = [(pow(g * pow(w, i, P), n, P) - 1) % P for i in range(n * f)]
    m = poly.mul_by_vanishing(e, n)
    assert Fr.to_ints(m) == [v * zi % P for v, zi in zip(Fr.to_ints(e), z)]
    assert np.array_equal(poly.divide_by_vanishing(m, n), e)


def test_errors():
    with pytest.raises(TypeError):
        poly.evaluate(np.zeros((3, 4), dtype=np.int64), 1)
    with pytest.raises(ValueError):
        poly.linear_combination([Fr.zeros(2)], [1, 2])
    with pytest.raises(ValueError):
        poly.inner_product(Fr.zeros(2), Fr.zeros(3))
    with pytest.raises(ValueError):
        poly.pad(Fr.zeros(4), 2)
    with pytest.raises(ValueError):
        poly.coset_vanishing_values(8, 12)
    with pytest.raises(ZeroDivisionError):
        poly.divide_by_vanishing(Fr.zeros(32), 8, shift=1)     # coset = subgroup
