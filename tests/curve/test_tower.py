"""The Fq2/Fq6/Fq12 tower against Python ints and py_ecc's FQ2/FQ12."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12

from snarkgpt.curve import tower as T
from snarkgpt.curve.pairing import gt_from_py_ecc, gt_to_py_ecc

Q = T.q
fq = st.one_of(st.integers(0, Q - 1), st.sampled_from([0, 1, 2, Q - 1, Q - 2, (Q - 1) // 2]))
SETTINGS = settings(max_examples=25, deadline=None)


def fq2_py(ints):
    return FQ2(list(ints))


def fq12_py(ints):
    """Tower coefficient ints (row order) -> py_ecc FQ12, by the documented basis change."""
    return gt_to_py_ecc(T.from_ints(ints))


def fq6_as_fq12(ints6):
    return list(ints6) + [0] * 6


@SETTINGS
@given(st.lists(fq, min_size=2, max_size=2), st.lists(fq, min_size=2, max_size=2))
def test_fq2_ops_match_py_ecc(a, b):
    x, y = T.from_ints(a), T.from_ints(b)
    pa, pb = fq2_py(a), fq2_py(b)
    assert fq2_py(T.to_ints(T.tower_op("add", x, y))) == pa + pb
    assert fq2_py(T.to_ints(T.tower_op("sub", x, y))) == pa - pb
    assert fq2_py(T.to_ints(T.tower_op("neg", x))) == -pa
    assert fq2_py(T.to_ints(T.tower_op("mul", x, y))) == pa * pb
    assert fq2_py(T.to_ints(T.tower_op("sqr", x))) == pa * pa
    assert fq2_py(T.to_ints(T.tower_op("mul_xi", x))) == pa * FQ2([9, 1])
    assert T.to_ints(T.tower_op("conj", x)) == [a[0] % Q, -a[1] % Q]
    if a != [0, 0]:
        assert fq2_py(T.to_ints(T.tower_op("inv", x))) * pa == FQ2.one()
    else:
        assert T.to_ints(T.tower_op("inv", x)) == [0, 0]


@SETTINGS
@given(st.lists(fq, min_size=2, max_size=2))
def test_fq2_sqrt(a):
    x = T.from_ints(a)
    s = T.tower_op("sqr", x)
    root = T.tower_op("sqrt", s)
    assert np.array_equal(T.tower_op("sqr", root), s)
    # xi = 9 + u is not a square in Fq2 (the tower needs that), so xi * s is not one either
    if a != [0, 0]:
        xs = T.tower_op("mul_xi", s)
        try:
            T.tower_op("sqrt", xs)
        except ValueError:
            pass
        else:
            raise AssertionError("a non-square got a square root")


@SETTINGS
@given(st.lists(fq, min_size=6, max_size=6), st.lists(fq, min_size=6, max_size=6))
def test_fq6_ops_via_fq12_embedding(a, b):
    x, y = T.from_ints(a), T.from_ints(b)
    pa, pb = fq12_py(fq6_as_fq12(a)), fq12_py(fq6_as_fq12(b))
    assert fq12_py(fq6_as_fq12(T.to_ints(T.tower_op("mul", x, y)))) == pa * pb
    assert fq12_py(fq6_as_fq12(T.to_ints(T.tower_op("sqr", x)))) == pa * pa
    assert fq12_py(fq6_as_fq12(T.to_ints(T.tower_op("add", x, y)))) == pa + pb
    assert fq12_py(fq6_as_fq12(T.to_ints(T.tower_op("sub", x, y)))) == pa - pb
    v = fq12_py(fq6_as_fq12([0, 0, 1, 0, 0, 0]))
    assert fq12_py(fq6_as_fq12(T.to_ints(T.tower_op("mul_by_v", x)))) == pa * v
    b01 = b[:4] + [0, 0]
    assert np.array_equal(T.tower_op("mul_by_01", x, T.from_ints(b01)),
                          T.tower_op("mul", x, T.from_ints(b01)))
    if any(a):
        assert T.to_ints(T.tower_op("mul", x, T.tower_op("inv", x))) == [1, 0, 0, 0, 0, 0]


@SETTINGS
@given(st.lists(fq, min_size=12, max_size=12), st.lists(fq, min_size=12, max_size=12))
def test_fq12_ops_match_py_ecc(a, b):
    x, y = T.from_ints(a), T.from_ints(b)
    pa, pb = fq12_py(a), fq12_py(b)
    assert fq12_py(T.to_ints(T.tower_op("mul", x, y))) == pa * pb
    assert fq12_py(T.to_ints(T.tower_op("sqr", x))) == pa * pa
    assert fq12_py(T.to_ints(T.tower_op("add", x, y))) == pa + pb
    assert fq12_py(T.to_ints(T.tower_op("sub", x, y))) == pa - pb
    assert fq12_py(T.to_ints(T.tower_op("neg", x))) == -pa
    if any(a):
        assert fq12_py(T.to_ints(T.tower_op("inv", x))) * pa == FQ12.one()
    # sparse product by a line's shape l0 + l3 w + l4 w^3
    line = [b[0], b[1], 0, 0, 0, 0, b[6], b[7], b[8], b[9], 0, 0]
    assert np.array_equal(T.tower_op("mul_by_034", x, T.from_ints(line)),
                          T.tower_op("mul", x, T.from_ints(line)))


def test_fq12_frobenius_and_conjugation():
    rng = np.random.default_rng(7)
    a = [int(v) for v in rng.integers(0, 2**62, size=12)]
    a[0] = Q - 5
    x = T.from_ints(a)
    pa = fq12_py(a)
    assert fq12_py(T.to_ints(T.tower_op("frob", x))) == pa ** Q
    assert fq12_py(T.to_ints(T.tower_op("frob2", x))) == pa ** (Q * Q)
    assert fq12_py(T.to_ints(T.tower_op("frob3", x))) == pa ** (Q ** 3)
    assert fq12_py(T.to_ints(T.tower_op("conj", x))) == pa ** (Q ** 6)
    # frob applied twice is frob2, frob2 then frob is frob3
    assert np.array_equal(T.tower_op("frob", T.tower_op("frob", x)), T.tower_op("frob2", x))
    assert np.array_equal(T.tower_op("frob", T.tower_op("frob2", x)), T.tower_op("frob3", x))


def _cyclotomic(ints):
    """f^((q^6 - 1)(q^2 + 1)): an element of the cyclotomic subgroup."""
    x = T.from_ints(ints)
    t = T.tower_op("mul", T.tower_op("conj", x), T.tower_op("inv", x))
    return T.tower_op("mul", T.tower_op("frob2", t), t)


@settings(max_examples=10, deadline=None)
@given(st.lists(fq, min_size=12, max_size=12).filter(any))
def test_cyclotomic_squaring(a):
    f = _cyclotomic(a)
    assert np.array_equal(T.tower_op("cyc_sqr", f), T.tower_op("sqr", f))
    # inverse is conjugation in the cyclotomic subgroup
    assert T.to_ints(T.tower_op("mul", f, T.tower_op("conj", f))) == [1] + [0] * 11


def test_exp_by_x():
    f = _cyclotomic(list(range(3, 15)))
    assert fq12_py(T.to_ints(T.tower_op("exp_x", f))) == fq12_py(T.to_ints(f)) ** T.BN_X


def test_basis_change_round_trip_and_w():
    rng = np.random.default_rng(3)
    a = [int(v) for v in rng.integers(0, 2**63, size=12)]
    x = T.from_ints(a)
    assert np.array_equal(gt_from_py_ecc(gt_to_py_ecc(x)), x)
    # w is row 6 (coefficient of w^1); w^6 = 9 + u; u = w^6 - 9 in py_ecc's basis
    w = [0] * 12
    w[6] = 1
    pw = fq12_py(w)
    assert pw == FQ12([0, 1] + [0] * 10)
    u = [0, 1] + [0] * 10
    assert fq12_py(u) == pw ** 6 - FQ12([9] + [0] * 11)
    assert fq12_py(u) * fq12_py(u) == -FQ12.one()
    # the plain (non-optimized) py_ecc class too
    from py_ecc.fields import bn128_FQ12
    assert gt_to_py_ecc(x, optimized=False) == bn128_FQ12([int(c) for c in gt_to_py_ecc(x).coeffs])


def test_naf():
    for n in [1, 2, 3, 7, 6 * T.BN_X + 2, T.BN_X, 2**64 - 1]:
        d = T.naf(n)
        assert sum(c << i for i, c in enumerate(d)) == n
        assert all(not (d[i] and d[i + 1]) for i in range(len(d) - 1))
