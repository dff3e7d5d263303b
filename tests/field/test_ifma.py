"""AVX-512 IFMA kernels (field/ifma.py) against the scalar transforms and evaluator.

The IFMA code runs only on CPUs that have the instructions; elsewhere these tests are skipped
(the scalar paths they are compared with are tested everywhere). `Domain.*_many` and the
quotient are also checked with IFMA switched off (SNARKGPT_IFMA=0), on every machine."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.field import FR_MODULUS, Fr, ifma, ntt
from snarkgpt.field.domain import Domain
from snarkgpt.plonk.expression import ADVICE, FIXED, INSTANCE, Column
from snarkgpt.plonk.row_kernels import evaluate_rows_multi, evaluate_rows_x16
from snarkgpt.plonk.row_program import compile_expressions

P = FR_MODULUS
needs_ifma = pytest.mark.skipif(not ifma.available(), reason="this CPU has no AVX-512 IFMA")
EDGE = [0, 1, P - 1, P - 2, (P - 1) // 2, 2**52 - 1, 2**52, 2**104 + 5, 2**253]


def columns(rng, count, n, edge=False):
    if edge:
        vals = [[EDGE[(i * 7 + c) % len(EDGE)] for i in range(n)] for c in range(count)]
        return np.stack([Fr.from_ints(v) for v in vals])
    return np.stack([Fr.random(n, rng) for _ in range(count)])


def scalar_reference(d: Domain, src, mode, shift=7):
    one = {"ntt": d.ntt, "intt": d.intt,
           "coset": lambda a: d.coset_ntt(a, shift=shift),
           "coset_intt": lambda a: d.coset_intt(a, shift=shift)}[mode]
    return np.stack([one(c) for c in src])


def batched(d: Domain, src, mode, shift=7):
    return {"ntt": lambda: d.ntt_many(src), "intt": lambda: d.intt_many(src),
            "coset": lambda: d.coset_ntt_many(src, shift=shift),
            "coset_intt": lambda: d.coset_intt_many(src, shift=shift)}[mode]()


@needs_ifma
@pytest.mark.parametrize("k", [1, 2, 3, 4, 8, 9, 11])
@pytest.mark.parametrize("count", [3, 8, 11])
@pytest.mark.parametrize("mode", ["ntt", "intt", "coset", "coset_intt"])
def test_transform_many_equals_scalar(k, count, mode):
    d = Domain(k)
    src = columns(np.random.default_rng(k * 100 + count), count, d.n, edge=(count == 3))
    keep = src.copy()
    out = np.empty_like(src)
    kw = {"ntt": {}, "intt": dict(negate=True, pre=d._n_inv_arr),
          "coset": dict(pre=d._coset_tables(7)[0]),
          "coset_intt": dict(negate=True, post=d._coset_tables(7)[1])}[mode]
    ifma.transform_many(src, out, **kw)
    assert np.array_equal(out, scalar_reference(d, src, mode))
    assert np.array_equal(src, keep)                      # input untouched


@needs_ifma
def test_transform_many_multi_pass_sizes():
    """Sizes past one 2^8 block (the tiled later passes, two of them at 2^17)."""
    rng = np.random.default_rng(3)
    for k in (12, 17):
        d = Domain(k)
        src = columns(rng, 3, d.n)
        assert np.array_equal(d.coset_ntt_many(src, shift=11), scalar_reference(d, src, "coset", 11))
        assert np.array_equal(d.intt_many(d.ntt_many(src)), src)


@pytest.mark.parametrize("ifma_on", ["1", "0"])
def test_domain_many_with_and_without_ifma(monkeypatch, ifma_on):
    monkeypatch.setenv("SNARKGPT_IFMA", ifma_on)
    d = Domain(6)
    src = columns(np.random.default_rng(8), 9, d.n)
    for mode in ("ntt", "intt", "coset", "coset_intt"):
        assert np.array_equal(batched(d, src, mode), scalar_reference(d, src, mode))
        assert np.array_equal(batched(d, list(src), mode), scalar_reference(d, src, mode))
    # the x16 factor is folded in exactly
    scaled = d.coset_ntt_many(src, shift=7, factor=16)
    assert np.array_equal(scaled, np.stack([Fr.scale(c, 16) for c in scalar_reference(d, src, "coset")]))


def test_many_rejects_bad_shapes():
    d = Domain(4)
    with pytest.raises(ValueError, match="expected"):
        d.ntt_many(np.zeros((3, 8, 4), dtype=np.uint64))
    src = np.zeros((3, 16, 4), dtype=np.uint64)
    with pytest.raises(ValueError, match="overlap|shape"):
        d.ntt_many(src, out=src)
    with pytest.raises(ValueError, match="shape"):
        d.ntt_many(src, out=np.zeros((2, 16, 4), dtype=np.uint64))
    with pytest.raises((TypeError, ValueError)):
        d.ntt_many([np.zeros((16, 3), dtype=np.uint64)])


def test_available_honours_the_switch(monkeypatch):
    monkeypatch.setenv("SNARKGPT_IFMA", "0")
    assert ifma.available() is False


def test_limbs52_round_trip():
    """The 52-bit limbs hold the same integers as the 64-bit ones (times 16 mod p if asked)."""
    vals = EDGE + [P - 1 - i for i in range(7)]
    a = Fr.from_ints(vals)

    def ints52(t):
        return [sum(int(t[i, j]) << (52 * j) for j in range(5)) for i in range(t.shape[0])]

    def ints64(t):
        return [sum(int(w) << (64 * j) for j, w in enumerate(row)) for row in t]
    l52 = ifma.to_limbs52(a)
    assert (l52 < (1 << 52)).all()
    assert ints52(l52) == ints64(a)
    assert ints52(ifma.to_limbs52(a, times16=True)) == [16 * v % P for v in ints64(a)]


# ---- the x16 constraint evaluator ---------------------------------------------------------
A = [Column(ADVICE, i, f"a{i}") for i in range(3)]
F = [Column(FIXED, i, f"f{i}") for i in range(2)]
I0 = Column(INSTANCE, 0, "i0")


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.booleans()):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            return draw(st.sampled_from([0, 1, 2, 7, P - 1, 2**200 + 3]))
        col = draw(st.sampled_from(A + F + [I0]))
        return col.rot(draw(st.integers(-9, 9)))
    op = draw(st.sampled_from(["add", "sub", "mul", "neg", "scale"]))
    a = draw(expressions(depth - 1))
    if op == "neg":
        return -a if not isinstance(a, int) else (-a) % P
    if op == "scale":
        return a * draw(st.sampled_from([3, P - 5, 2**130]))
    b = draw(expressions(depth - 1))
    return {"add": lambda: a + b, "sub": lambda: a - b, "mul": lambda: a * b}[op]()


@needs_ifma
@settings(max_examples=40, deadline=None)
@given(st.lists(expressions(), min_size=1, max_size=3), st.sampled_from([8, 64, 256]),
       st.booleans())
def test_x16_evaluator_equals_scalar(exprs, n, edge):
    exprs = [e if not isinstance(e, int) else A[0].cur() * 0 + e for e in exprs]
    prog = compile_expressions(exprs)
    rng = np.random.default_rng(n)
    adv, fix, ins = columns(rng, 3, n, edge), columns(rng, 2, n), columns(rng, 1, n, edge)
    ref = evaluate_rows_multi(prog, adv, fix, ins, None, n)

    def x16(z):
        return np.stack([Fr.scale(c, 16) for c in z])
    got = evaluate_rows_x16(prog, x16(adv), x16(fix), x16(ins), None, n)
    inv16 = pow(16, -1, P)
    assert np.array_equal(np.stack([Fr.scale(c, inv16) for c in got]), ref)


@needs_ifma
@pytest.mark.parametrize("n", [24, 136])
def test_x16_evaluator_on_sizes_that_are_not_powers_of_two(n):
    """Every row is evaluated when n / 8 is not a multiple of the chunk's vectors."""
    prog = compile_expressions([A[0].cur() * A[1].next() - F[0].prev() + 5])
    rng = np.random.default_rng(n)
    adv, fix = columns(rng, 3, n), columns(rng, 2, n)
    ref = evaluate_rows_multi(prog, adv, fix, None, None, n)

    def x16(z):
        return np.stack([Fr.scale(c, 16) for c in z])
    got = evaluate_rows_x16(prog, x16(adv), x16(fix), None, None, n)
    assert np.array_equal(np.stack([Fr.scale(c, pow(16, -1, P)) for c in got]), ref)


@needs_ifma
def test_x16_evaluator_rejects_bad_n():
    prog = compile_expressions([A[0].cur() * A[1].cur()])
    cols = np.zeros((3, 12, 4), dtype=np.uint64)
    with pytest.raises(ValueError, match="multiple of 8"):
        evaluate_rows_x16(prog, cols, None, None, None, 12)


def test_lazy_bounds_of_the_52_bit_product():
    """The butterfly's Montgomery product lands in [0, 2p) for inputs below 4p and a
    multiplier below p, and 4p fits the five limbs (checked on the integers)."""
    R = 1 << 260
    assert 4 * P * P // R + P < 2 * P
    assert 4 * P < 1 << 256
    assert ifma._PINV52 * P % (1 << 52) == (1 << 52) - 1
