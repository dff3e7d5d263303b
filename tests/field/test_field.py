"""BN254 Fr and Fq vector arithmetic against Python integers and galois."""
import galois
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.field import FQ_MODULUS, FR_MODULUS, Fq, Fr
from snarkgpt.field.params import from_limbs

FIELDS = [Fr, Fq]


def elems(p, max_size=12):
    edge = st.sampled_from([0, 1, 2, p - 1, p - 2, (p - 1) // 2, (p + 1) // 2, 2**64 - 1, 2**64, 2**192])
    return st.lists(st.one_of(st.integers(0, p - 1), edge), min_size=1, max_size=max_size)


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_binary_ops_match_python_ints(F, data):
    p = F.modulus
    xs = data.draw(elems(p))
    ys = data.draw(st.lists(st.integers(0, p - 1), min_size=len(xs), max_size=len(xs)))
    a, b = F.from_ints(xs), F.from_ints(ys)
    assert F.to_ints(a) == xs
    assert F.to_ints(F.add(a, b)) == [(x + y) % p for x, y in zip(xs, ys)]
    assert F.to_ints(F.sub(a, b)) == [(x - y) % p for x, y in zip(xs, ys)]
    assert F.to_ints(F.mul(a, b)) == [x * y % p for x, y in zip(xs, ys)]
    assert F.to_ints(F.neg(a)) == [(-x) % p for x in xs]
    assert F.to_ints(F.square(a)) == [x * x % p for x in xs]


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_pow_and_inverse(F, data):
    p = F.modulus
    xs = data.draw(st.lists(st.integers(1, p - 1), min_size=1, max_size=40))
    e = data.draw(st.one_of(st.integers(0, 2**256 - 1), st.sampled_from([0, 1, 2, p - 2, p - 1])))
    a = F.from_ints(xs)
    assert F.to_ints(F.pow(a, e)) == [pow(x, e, p) for x in xs]
    inv = F.inverse(a)
    assert F.to_ints(inv) == [pow(x, -1, p) for x in xs]
    assert F.to_ints(F.mul(a, inv)) == [1] * len(xs)


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
def test_field_laws_against_galois(F):
    # Passing the generator stops galois from factoring p - 1 (minutes for 254-bit primes);
    # with verify=False it is not checked, and our own tests do not depend on it.
    GF = galois.GF(F.modulus, primitive_element=3, verify=False)
    rng = np.random.default_rng(7)
    a, b, c = F.random(64, rng), F.random(64, rng), F.random(64, rng)
    ga, gb, gc = (GF([int(v) for v in F.to_ints(x)]) for x in (a, b, c))
    assert F.to_ints(F.mul(a, F.add(b, c))) == [int(v) for v in ga * (gb + gc)]
    assert F.to_ints(F.sub(F.mul(a, b), c)) == [int(v) for v in ga * gb - gc]
    assert F.to_ints(F.inverse(a)) == [int(v) for v in ga ** -1]
    # distributivity and commutativity directly in our kernels
    assert F.equal(F.mul(a, b), F.mul(b, a))
    assert F.equal(F.mul(a, F.add(b, c)), F.add(F.mul(a, b), F.mul(a, c)))


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
def test_batch_inverse_many_chunks_and_zeros(F):
    rng = np.random.default_rng(3)
    a = F.random(5000, rng)
    a[17] = 0
    a[4999] = 0
    inv = F.batch_inverse(a, allow_zero=True)
    ints = F.to_ints(a)
    want = [0 if x == 0 else pow(x, -1, F.modulus) for x in ints]
    assert F.to_ints(inv) == want
    with pytest.raises(ZeroDivisionError, match="element 17"):
        F.batch_inverse(a)
    with pytest.raises(ZeroDivisionError, match="element 17"):
        F.inverse(a)


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
@settings(max_examples=50, deadline=None)
@given(xs=st.lists(st.integers(-(2**63) + 1, 2**63 - 1), min_size=1, max_size=30))
def test_signed_round_trip(F, xs):
    a = F.from_signed(np.array(xs, dtype=np.int64))
    assert F.to_ints(a) == [x % F.modulus for x in xs]
    assert F.to_signed(a).tolist() == xs


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
def test_signed_conversion_is_the_same_on_one_thread_and_many(F):
    """Short vectors convert on one thread, long ones in parallel: both give p - |v| for v < 0."""
    from snarkgpt.field import vec
    rng = np.random.default_rng(3)
    for m in (vec.SERIAL_BELOW - 1, vec.SERIAL_BELOW, 3 * vec.SERIAL_BELOW + 5):
        xs = rng.integers(-(2**63) + 1, 2**63 - 1, m, dtype=np.int64)
        xs[:4] = [0, 1, -1, 2**63 - 1]
        a = F.from_signed(xs)
        assert F.to_ints(a) == [int(x) % F.modulus for x in xs]


def test_to_signed_refuses_large_values():
    a = Fr.from_ints([5, -7, 2**70])
    with pytest.raises(ValueError, match="element 2"):
        Fr.to_signed(a)
    with pytest.raises(ValueError, match="element 1 = -7"):
        Fr.to_signed(Fr.from_ints([5, -7]), bound=6)
    with pytest.raises(ValueError, match="-2\\^63"):
        Fr.from_signed(np.array([np.iinfo(np.int64).min]))


def test_from_canonical_refuses_non_canonical():
    c = np.array([[2**64 - 1] * 4], dtype=np.uint64)
    with pytest.raises(ValueError, match="not canonical"):
        Fr.from_canonical(c)
    ok = Fr.to_canonical(Fr.from_ints([123]))
    assert from_limbs(ok[0]) == 123
    assert Fr.to_ints(Fr.from_canonical(ok)) == [123]


def test_random_is_in_range_and_reproducible():
    a = Fr.random(3000, np.random.default_rng(11))
    b = Fr.random(3000, np.random.default_rng(11))
    assert np.array_equal(a, b)
    ints = Fr.to_ints(a)
    assert all(0 <= v < FR_MODULUS for v in ints)
    assert len(set(ints)) == 3000
    # the top bits are actually used (values spread over [0, p))
    assert max(ints) > FR_MODULUS // 2 and min(ints) < FR_MODULUS // 4
    c = Fq.random(10)
    assert all(0 <= v < FQ_MODULUS for v in Fq.to_ints(c))
    assert not np.array_equal(Fr.random(4), Fr.random(4))


def test_shape_and_type_errors():
    with pytest.raises(TypeError):
        Fr.mul(np.zeros((3, 4), dtype=np.int64), np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="shape mismatch"):
        Fr.add(Fr.zeros(3), Fr.zeros(4))
    with pytest.raises(ValueError, match="negative exponent"):
        Fr.pow(Fr.ones(2), -1)


def test_scale_and_constants():
    a = Fr.from_ints([1, 2, 3])
    assert Fr.to_ints(Fr.scale(a, -2)) == [(-2 * x) % FR_MODULUS for x in (1, 2, 3)]
    assert Fr.to_ints(Fr.ones(2)) == [1, 1]
    assert Fr.to_int(Fr.from_int(-5)) == FR_MODULUS - 5
    # the serial (short) and parallel (long) scale agree
    from snarkgpt.field.prime_field import SERIAL_BELOW
    xs = list(range(SERIAL_BELOW + 5))
    big = Fr.to_ints(Fr.scale(Fr.from_ints(xs), 7))
    assert big == [7 * x for x in xs]
    assert Fr.to_ints(Fr.scale(Fr.from_ints(xs[:9]), 7)) == big[:9]


@pytest.mark.parametrize("F", FIELDS, ids=lambda f: f.name)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_sum_by_groups_rows(F, data):
    """sum_by adds the rows that share an index (the verifier merges a point's scalars)."""
    p = F.modulus
    xs = data.draw(elems(p, 20))
    m = data.draw(st.integers(1, 6))
    idx = data.draw(st.lists(st.integers(0, m - 1), min_size=len(xs), max_size=len(xs)))
    want = [sum(x for x, i in zip(xs, idx) if i == j) % p for j in range(m)]
    assert F.to_ints(F.sum_by(F.from_ints(xs), np.array(idx), m)) == want


def test_sum_by_refuses_bad_indices():
    a = Fr.from_ints([1, 2, 3])
    with pytest.raises(ValueError, match="outside 0..1"):
        Fr.sum_by(a, np.array([0, 1, 2]), 2)
    with pytest.raises(ValueError, match="outside"):
        Fr.sum_by(a, np.array([0, -1, 1]), 2)
    with pytest.raises(ValueError, match="2 indices for 3 rows"):
        Fr.sum_by(a, np.array([0, 1]), 2)


_FQ_POW_KERNEL = []


def _fq_pow_rows(a, e):
    """arith.fq_pow on every row of a, from one kernel compiled on first use."""
    if not _FQ_POW_KERNEL:
        import numba as nb
        from snarkgpt.field.arith import fq_pow, load, store

        @nb.njit
        def run(a, e, out):
            for i in range(a.shape[0]):
                store(out, i, fq_pow(load(a, i), e))
        _FQ_POW_KERNEL.append(run)
    from snarkgpt.field.params import to_limbs
    out = np.empty_like(a)
    _FQ_POW_KERNEL[0](a, to_limbs(e), out)
    return out


@settings(max_examples=40, deadline=None)
@given(xs=st.lists(st.one_of(st.integers(0, FQ_MODULUS - 1), st.sampled_from([0, 1, FQ_MODULUS - 1])),
                   min_size=1, max_size=8),
       e=st.one_of(st.integers(0, 2**254), st.sampled_from([0, 1, 15, 16, 17, 2**64, FQ_MODULUS - 2,
                                                             (FQ_MODULUS + 1) // 4])))
def test_fq_pow_windows_match_python(xs, e):
    """arith.fq_pow (fixed 4-bit windows; Fermat inversion and the square root use it)."""
    assert Fq.to_ints(_fq_pow_rows(Fq.from_ints(xs), e)) == [pow(x, e, FQ_MODULUS) for x in xs]
