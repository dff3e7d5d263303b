"""The exact integer matmul (`reference.exact_matmul`, `reference.matmul`): equal to NumPy's
int64 matmul on random, negative and bound-edge values, on the single-block float path, the
split inner dimension and the int64 fallback; the chip reference's checks."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.gadgets import reference as ref
from snarkgpt.gadgets.base import GadgetRangeError

FLOAT_EXACT = ref.FLOAT_EXACT


def _int64_matmul(a, b):
    return np.asarray(a, dtype=np.int64) @ np.asarray(b, dtype=np.int64)


@st.composite
def operands(draw, max_dim=12):
    """Matrices with entries in [-2^bits, 2^bits], bits up to 40, often at the edges."""
    T, d, m = (draw(st.integers(1, max_dim)) for _ in range(3))
    ba, bb = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    if ba + bb + d.bit_length() >= 62:          # keep the product inside int64
        bb = max(0, 61 - ba - d.bit_length())
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    a = rng.integers(-(1 << ba), (1 << ba) + 1, size=(T, d))
    b = rng.integers(-(1 << bb), (1 << bb) + 1, size=(d, m))
    if draw(st.booleans()):     # the extremes, with both signs
        a.flat[rng.integers(0, a.size)] = -(1 << ba)
        b.flat[rng.integers(0, b.size)] = 1 << bb
    return a, b


@settings(max_examples=150, deadline=None)
@given(operands(), st.sampled_from(["auto", "float", "int"]))
def test_equals_int64_matmul(ab, method):
    a, b = ab
    c = ref.exact_matmul(a, b, method)
    assert c.dtype == np.int64
    assert np.array_equal(c, _int64_matmul(a, b))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(2, 40), st.integers(1, 9), st.integers(0, 2 ** 32 - 1),
       st.integers(-3, 3))
def test_at_the_bound_edge(T, d, m, seed, nudge):
    """max|A| max|B| d at 2^53 (one block, every partial sum at the limit) and just past it
    (the inner dimension split), with every entry at +-max: the float path is exact where
    a single float64 dot product of the same values would not be."""
    rng = np.random.default_rng(seed)
    bmax = 1 << 20
    amax = FLOAT_EXACT // (bmax * d) + nudge      # d * amax * bmax around 2^53
    amax = max(1, amax)
    sign = lambda shape: rng.choice([-1, 1], size=shape)  # noqa: E731
    a = sign((T, d)) * amax
    b = sign((d, m)) * bmax
    a[0] = amax                     # one all-positive row and column: sums at the bound
    b[:, 0] = bmax
    c = ref.exact_matmul(a, b, "float")
    assert np.array_equal(c, _int64_matmul(a, b))
    assert c[0, 0] == d * amax * bmax


def test_split_inner_dimension_is_exact_where_one_block_is_not():
    """Sums past 2^53: a plain float64 product rounds, the blocked one does not."""
    d = 64
    a = np.full((2, d), (1 << 26) + 1, dtype=np.int64)
    b = np.full((d, 3), (1 << 26) + 3, dtype=np.int64)
    b[::2] *= -1
    b[1::4] += 1
    exact = _int64_matmul(a, b)
    assert np.any((a.astype(np.float64) @ b.astype(np.float64)).astype(np.int64) != exact)
    assert np.array_equal(ref.exact_matmul(a, b, "float"), exact)


def test_single_product_too_large_falls_back_to_int64():
    a = np.array([[(1 << 30) + 1, -1]], dtype=np.int64)
    b = np.array([[(1 << 30) + 7], [5]], dtype=np.int64)
    assert np.array_equal(ref.exact_matmul(a, b, "float"), _int64_matmul(a, b))


def test_int64_overflow_and_bad_operands_are_refused():
    big = np.full((1, 4), 1 << 31, dtype=np.int64)
    with pytest.raises(ValueError, match="exceed int64"):
        ref.exact_matmul(big, big.T.copy() << 1)
    with pytest.raises(TypeError, match="integers"):
        ref.exact_matmul(np.ones((2, 2)), np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="do not match"):
        ref.exact_matmul(np.ones((2, 3), np.int64), np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match="method"):
        ref.exact_matmul(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64), "fast")
    assert np.array_equal(ref.exact_matmul(np.zeros((2, 3), np.int64), np.ones((3, 4), np.int64)),
                          np.zeros((2, 4), np.int64))


def test_operand_is_prepared_once_and_reused():
    rng = np.random.default_rng(1)
    w = rng.integers(-500, 500, size=(96, 80))
    op = ref.MatmulOperand(w)
    assert op.max_abs == int(np.abs(w).max())
    for _ in range(3):
        x = rng.integers(-1000, 1000, size=(7, 96))
        assert np.array_equal(ref.exact_matmul(x, op, "float"), x @ w)
    assert op._float is not None and op.float64() is op.float64()


def test_row_sum_check_catches_an_inexact_blas(monkeypatch):
    """The run-time check: a product that is off anywhere is replaced by the int64 one."""
    rng = np.random.default_rng(2)
    x = rng.integers(-100, 100, size=(8, 64))
    op = ref.MatmulOperand(rng.integers(-100, 100, size=(64, 64)))
    wrong = op.float64().copy()
    wrong[3, 5] += 1.0                  # what a broken BLAS would compute with
    monkeypatch.setattr(op, "_float", wrong)
    with pytest.warns(RuntimeWarning, match="row-sum check"):
        c = ref.exact_matmul(x, op, "float")
    assert np.array_equal(c, x @ op.values)


def test_matmul_reference_checks_like_the_chip():
    a = np.array([[1, -2], [3, 4]])
    b = np.array([[5, 6, 7], [8, 9, -10]])
    bias = np.array([1, 2, 3])
    assert np.array_equal(ref.matmul(a, b, "m", bias), a @ b + bias)
    with pytest.raises(GadgetRangeError) as e:
        ref.matmul(np.full((1, 4), 1 << 30), np.full((4, 1), 1 << 30), "h.0.attn.qkv")
    assert e.value.op == "h.0.attn.qkv"
    with pytest.raises(ValueError, match="bias has shape"):
        ref.matmul(a, b, "m", np.ones(2, np.int64))
    with pytest.raises(ValueError, match="empty"):
        ref.matmul(np.zeros((0, 2), np.int64), b, "m")
    with pytest.raises(TypeError, match="quantize"):
        ref.matmul(np.ones((2, 2)), b[:, :2], "m")


@pytest.mark.slow
def test_gpt2_lm_head_size():
    """16 x 768 by 768 x 50,257 (GPT-2's lm_head) at realistic scales equals the int64 product."""
    rng = np.random.default_rng(0)
    x = rng.integers(-(1 << 14), 1 << 14, size=(16, 768))
    w = rng.integers(-(1 << 12), 1 << 12, size=(768, 50257))
    assert np.array_equal(ref.exact_matmul(x, w), x @ w)
