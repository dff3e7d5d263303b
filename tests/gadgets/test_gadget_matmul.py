"""Freivalds matmul, row sums and dot products: honest witnesses pass, the outputs equal the
integer reference, and tampering with any output or intermediate cell is caught."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from snarkgpt.field import Fr
from snarkgpt.gadgets.base import ChipContext, GadgetRangeError
from snarkgpt.gadgets.matmul import (MatmulChip, SumChip, matmul_ref, matmul_rows,
                                     naive_matmul_rows, wide_rows)
from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
from snarkgpt.plonk.mock import MockProver

SET = settings(deadline=None, max_examples=5)


def build_matmul(A, B, fixed_b=False, claimed_c=None, challenges=None):
    cs = ConstraintSystem()
    cfg = MatmulChip.configure(cs)
    res = {}

    def circuit(layouter):
        res["c"] = MatmulChip.assign(layouter, cfg, A, B, fixed_b=fixed_b, claimed_c=claimed_c)
    asg = synthesize(cs, circuit, challenges=challenges)
    return cs, cfg, asg, res["c"]


def mats(draw, max_dim=5, lim=1000):
    T, d, m = (draw(st.integers(1, max_dim)) for _ in range(3))
    A = draw(arrays(np.int64, (T, d), elements=st.integers(-lim, lim)))
    B = draw(arrays(np.int64, (d, m), elements=st.integers(-lim, lim)))
    return A, B


@SET
@given(st.data(), st.booleans())
def test_gadget_matmul_honest_matches_reference(data, fixed_b):
    A, B = mats(data.draw)
    cs, cfg, asg, C = build_matmul(A, B, fixed_b)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(C.values, A @ B)
    assert np.array_equal(C.values, matmul_ref(A, B))
    cells = asg.signed_values(cfg.x, C.cells.start, len(C.cells))
    assert np.array_equal(cells, (A @ B).reshape(-1))
    assert asg.rows_used == matmul_rows(*A.shape, B.shape[1])


@SET
@given(st.data(), st.booleans())
def test_gadget_matmul_freivalds_catches_wrong_product(data, fixed_b):
    """A wrong C with an honestly computed phase-1 witness fails only Freivalds' check."""
    A, B = mats(data.draw)
    i = data.draw(st.integers(0, A.shape[0] - 1))
    j = data.draw(st.integers(0, B.shape[1] - 1))
    delta = data.draw(st.integers(1, 50))
    bad = A @ B
    bad[i, j] += delta
    cs, cfg, asg, _ = build_matmul(A, B, fixed_b, claimed_c=bad)
    fails = MockProver(cs, asg).verify()
    assert fails and all(f.kind == "copy" for f in fails)


@pytest.mark.parametrize("fixed_b", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 2), (5, 6, 3)])
def test_gadget_matmul_tamper_any_cell(fixed_b, shape):
    """Every kind of cell of the three side-by-side sections, in the first and a later group
    of slots (T, d > 4 = slots: rows of A and B in several groups, zero padding)."""
    rng = np.random.default_rng(1)
    T, d, m = shape
    A, B = rng.integers(-99, 99, (T, d)), rng.integers(-99, 99, (d, m))
    cs, cfg, asg, C = build_matmul(A, B, fixed_b)
    P = cfg.slots
    start = C.cells.start
    k, t = d - 1, T - 1
    targets = [(cfg.x, start + 3),                                  # an entry of C
               (cfg.xa[t % P], start + (t // P) * d + 2),           # an entry of A
               (cfg.xa[0], start + 1),
               (cfg.accb[0], start + 0),                            # a running sum of B.r
               (cfg.accb[k % P], start + (k // P) * m + m - 1),     # Br[d-1] itself
               (cfg.va, start + 2),                                 # a copied Br cell
               (cfg.va, start + ((T - 1) // P) * d + d - 1),
               (cfg.accb[1 % P], start + 1),                        # a step of Horner's rule
               (cfg.accc, start + 1),
               (cfg.acca[t % P], start + (t // P) * d + d - 1),     # A[T-1] . Br
               (cfg.accc, start + matmul_rows(T, d, m, P) - 1 if T * m >= matmul_rows(T, d, m, P)
                else start + T * m - 1)]
    bcols = cfg.wb if fixed_b else cfg.xb                           # an entry of B (a fixed
    targets += [(bcols[3 % P], start + 1), (bcols[k % P], start + (k // P) * m)]   # one: another circuit)
    for col, row in targets:
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), (col.name, row)
        asg.set_cell(col, row, old)
    MockProver(cs, asg).assert_satisfied()


@pytest.mark.parametrize("slots", [1, 2, 3])
def test_gadget_matmul_slots(slots):
    """Any number of slots gives the same product; the height is that of the tallest section."""
    rng = np.random.default_rng(3)
    A, B = rng.integers(-50, 50, (5, 7)), rng.integers(-50, 50, (7, 3))
    for fixed_b in (False, True):
        cs = ConstraintSystem()
        cfg = MatmulChip.configure(cs, slots=slots)
        res = {}

        def circuit(layouter):
            res["c"] = MatmulChip.assign(layouter, cfg, A, B, fixed_b=fixed_b)
        asg = synthesize(cs, circuit)
        MockProver(cs, asg).assert_satisfied()
        assert np.array_equal(res["c"].values, A @ B)
        assert asg.rows_used == matmul_rows(5, 7, 3, slots)
        row = res["c"].cells.start + 4
        asg.set_cell(cfg.x, row, asg.value(cfg.x, row) + 1)
        assert MockProver(cs, asg).verify()


def test_gadget_matmul_chained_inputs_are_copied():
    """A and B given as assigned cells (from another gadget) are copy-constrained."""
    rng = np.random.default_rng(2)
    A, B = rng.integers(-9, 9, (2, 3)), rng.integers(-9, 9, (3, 2))
    cs = ConstraintSystem()
    cfg, sc = MatmulChip.configure(cs), SumChip.configure(cs)
    res = {}

    def circuit(layouter):
        a = MatmulChip.assign(layouter, cfg, A, np.eye(3, dtype=np.int64), fixed_b=True, name="a")
        c = MatmulChip.assign(layouter, cfg, a, B, name="ab")
        res["a"], res["c"] = a, c
        res["s"] = SumChip.row_sums(layouter, sc, c)
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["s"].values, (A @ B).sum(axis=1))
    # change A inside the second matmul: the copy from the first one fails
    start = next(r.start for r in asg.regions if r.name == "ab.products.a")
    row = start + 2                                     # A[1, 2]: slot 1, row 2 of section A.Br
    asg.set_cell(cfg.xa[1], row, asg.value(cfg.xa[1], row) + 1)
    assert any(f.kind == "copy" for f in MockProver(cs, asg).verify())


@SET
@given(st.data())
def test_gadget_sum_and_dot(data):
    R, n = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 6))
    X = data.draw(arrays(np.int64, (R, n), elements=st.integers(-10**6, 10**6)))
    Y = data.draw(arrays(np.int64, (R, n), elements=st.integers(-10**6, 10**6)))
    cs = ConstraintSystem()
    sc = SumChip.configure(cs)
    res = {}

    def circuit(layouter):
        res["s"] = SumChip.row_sums(layouter, sc, X)
        res["d"] = SumChip.dot(layouter, sc, X, Y)
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["s"].values, X.sum(axis=1))
    assert np.array_equal(res["d"].values, (X * Y).sum(axis=1))
    for out, col in ((res["s"], sc.out), (res["d"], sc.out)):
        row = out.cells.start + R - 1
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify()
        asg.set_cell(col, row, old)
    # an intermediate running-sum cell
    asg.set_cell(sc.acc, res["d"].cells.start, asg.value(sc.acc, res["d"].cells.start) + 1)
    assert MockProver(cs, asg).verify()


@SET
@given(st.lists(st.integers(1, 5), min_size=1, max_size=5), st.integers(0, 2**32))
def test_gadget_ragged_row_sums(lengths, seed):
    """Rows of different lengths laid end to end (a causal softmax's rows): each sum is
    the sum of its own row, in a bank with a row-sums-only config (no y column)."""
    X = np.random.default_rng(seed).integers(-10**6, 10**6, sum(lengths))
    cs = ConstraintSystem()
    sc = SumChip.configure(ChipContext.of(cs).in_bank("b"), dot=False)
    assert sc.y is None and cs.num_advice == 3
    res = {}

    def circuit(layouter):
        res["s"] = SumChip.row_sums(layouter, sc, X, lengths=lengths)
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    ends = np.cumsum(lengths)
    assert np.array_equal(res["s"].values, [X[e - n:e].sum() for e, n in zip(ends, lengths)])
    start = res["s"].cells.start
    for col, row in ((sc.out, start + len(lengths) - 1), (sc.acc, start + int(ends[-1]) - 1),
                     (sc.x, start)):
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), col.name
        asg.set_cell(col, row, old)


def test_gadget_ragged_row_sums_bad_input():
    cs = ConstraintSystem()
    sc = SumChip.configure(ChipContext.of(cs).in_bank("b"), dot=False)
    x = np.arange(5, dtype=np.int64)
    for lengths in ([2, 2], [5, 0], []):
        with pytest.raises(ValueError, match="ragged rows"):
            synthesize(cs, lambda l, n=lengths: SumChip.row_sums(l, sc, x, lengths=n))
    with pytest.raises(ValueError, match="row-sums-only"):
        synthesize(cs, lambda l: SumChip.dot(l, sc, x, x))


def test_gadget_matmul_bad_inputs():
    cs = ConstraintSystem()
    cfg = MatmulChip.configure(cs)
    with pytest.raises(ValueError, match="do not match"):
        synthesize(cs, lambda l: MatmulChip.assign(l, cfg, np.ones((2, 3), np.int64),
                                                   np.ones((2, 3), np.int64)))
    with pytest.raises(GadgetRangeError):
        matmul_ref(np.full((2, 4), 1 << 31, np.int64), np.full((4, 2), 1 << 31, np.int64))
    with pytest.raises(TypeError):
        matmul_ref(np.ones((2, 2)) * 0.5, np.ones((2, 2), np.int64))


def test_gadget_matmul_cost_T64_d64():
    """Rows of a 64 x 64 by 64 x 64 product: T d (the tallest of the three side-by-side
    sections) with Freivalds vs T d^2 naively; d^2 + 2 T d with one value a row, stacked."""
    assert matmul_rows(64, 64, 64) == 4096
    assert matmul_rows(64, 64, 64, slots=1) == 4096
    assert matmul_rows(64, 256, 64) == 4096 and matmul_rows(64, 256, 64, slots=1) == 16384
    assert naive_matmul_rows(64, 64, 64) == 262144


@pytest.mark.slow
def test_gadget_matmul_T64_d64_mock():
    rng = np.random.default_rng(3)
    A, B = rng.integers(-2**12, 2**12, (64, 64)), rng.integers(-2**12, 2**12, (64, 64))
    cs, cfg, asg, C = build_matmul(A, B, fixed_b=True)
    MockProver(cs, asg).assert_satisfied()
    assert asg.rows_used == 4096


def test_gadget_matmul_fused_rescale():
    """rescale=cfg: y = floor(A B / 2^s) on the rows of section C.r; the alternative
    decompositions of a product entry are rejected by the output limbs."""
    from snarkgpt.field import Fr
    from snarkgpt.gadgets.fixedpoint import RescaleChip
    from snarkgpt.plonk.mock import MockProver
    from snarkgpt.testing import build_gadget
    s = 4
    rng = np.random.default_rng(3)
    a, w = rng.integers(-300, 300, (3, 5)), rng.integers(-300, 300, (5, 4))

    def configure(cs):
        return MatmulChip.configure(cs), RescaleChip.configure(cs, s, out_bits=24, limb_bits=12)

    def synth(lay, cfg):
        return MatmulChip.assign(lay, cfg[0], a, w, fixed_b=True, name="mm", rescale=cfg[1])
    cs, (mm, rc), asg, y = build_gadget(configure, synth)
    MockProver(cs, asg).assert_satisfied()
    np.testing.assert_array_equal(y.values, (a @ w) >> s)
    row = y.cells.start
    y0, r0 = asg.value(rc.y, row), asg.value(rc.r, row)
    j = r0 - (1 << s) + 1
    asg.set_cell(rc.y, row, (y0 + j * pow(1 << s, -1, Fr.modulus)) % Fr.modulus)
    asg.set_cell(rc.r, row, r0 - j)
    fails = MockProver(cs, asg).verify()
    assert fails and all(".out" in f.name for f in fails if f.kind in ("gate", "lookup"))


# ---------------------------------------------------------------------------------------
# Bias: C = A . B + bias, the bias in a fixed column read by the C.r gates
# ---------------------------------------------------------------------------------------
def build_biased(A, B, bias, fixed_b=True, claimed_c=None, rescale_bits=None):
    from snarkgpt.gadgets.fixedpoint import RescaleChip
    cs = ConstraintSystem()
    cfg = MatmulChip.configure(cs, bias=True)
    rc = RescaleChip.configure(cs, rescale_bits) if rescale_bits else None
    res = {}

    def circuit(layouter):
        res["c"] = MatmulChip.assign(layouter, cfg, A, B, fixed_b=fixed_b, bias=bias,
                                     claimed_c=claimed_c, rescale=rc, name="biased")
        # a product without a bias on the same (biased) config: zeros in the bias column
        res["plain"] = MatmulChip.assign(layouter, cfg, A, B, fixed_b=fixed_b, name="plain")
    asg = synthesize(cs, circuit)
    return cs, cfg, asg, res


@pytest.mark.parametrize("fixed_b", [False, True])
def test_gadget_matmul_bias_honest_and_fused_rescale(fixed_b):
    rng = np.random.default_rng(5)
    A, B = rng.integers(-99, 99, (5, 6)), rng.integers(-99, 99, (6, 3))
    bias = rng.integers(-5000, 5000, 3)
    cs, cfg, asg, res = build_biased(A, B, bias, fixed_b)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["c"].values, A @ B + bias)
    assert np.array_equal(res["c"].values, matmul_ref(A, B, bias=bias))
    assert np.array_equal(res["plain"].values, A @ B)
    # the bias column holds bias[j] on row (t, j) of section C.r
    start = res["c"].cells.start
    assert np.array_equal(asg.signed_values(cfg.bias, start, 15), np.tile(bias, 5))
    assert asg.rows_used == 2 * matmul_rows(5, 6, 3)
    cs, cfg, asg, res = build_biased(A, B, bias, fixed_b, rescale_bits=6)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["c"].values, (A @ B + bias) >> 6)


@pytest.mark.parametrize("fixed_b", [False, True])
def test_gadget_matmul_bias_is_enforced(fixed_b):
    """A C without the bias (or off by one anywhere), with an honestly computed phase-1
    witness, fails only Freivalds' check; changing a bias cell of the fixed column (another
    circuit) or a C cell fails too."""
    rng = np.random.default_rng(6)
    A, B = rng.integers(-99, 99, (5, 6)), rng.integers(-99, 99, (6, 3))
    bias = rng.integers(1, 5000, 3)
    for bad in (A @ B, A @ B + bias + np.eye(5, 3, dtype=np.int64)):
        cs, cfg, asg, _ = build_biased(A, B, bias, fixed_b, claimed_c=bad)
        fails = MockProver(cs, asg).verify()
        assert fails and all(f.kind == "copy" for f in fails)
    cs, cfg, asg, res = build_biased(A, B, bias, fixed_b)
    for col, row in ((cfg.bias, res["c"].cells.start + 4),          # bias[1] on row t = 1
                     (cfg.bias, res["plain"].cells.start + 2),      # a zero of the plain product
                     (cfg.x, res["c"].cells.start + 7)):            # an entry of C
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), (col.name, row)
        asg.set_cell(col, row, old)
    MockProver(cs, asg).assert_satisfied()


def test_gadget_matmul_bias_config_adds_one_fixed_column_only():
    """Without ``bias`` the configuration is the unbiased one; with it, one fixed column
    more, the same advice columns, selectors, gates, lookups and degree."""
    cs0, cs1 = ConstraintSystem(), ConstraintSystem()
    c0, c1 = MatmulChip.configure(cs0), MatmulChip.configure(cs1, bias=True)
    assert c0.bias is None and c1.bias is not None
    assert cs1.num_fixed == cs0.num_fixed + 1
    assert cs1.num_advice == cs0.num_advice
    assert [g.name for g in cs1.gates] == [g.name for g in cs0.gates]
    assert cs1.degree() == cs0.degree()
    assert MatmulChip.configure(cs0) is c0 and MatmulChip.configure(cs1, bias=True) is c1
    with pytest.raises(ValueError, match="bias=True"):
        synthesize(cs0, lambda l: MatmulChip.assign(l, c0, np.ones((2, 2), np.int64),
                                                    np.ones((2, 2), np.int64), fixed_b=True,
                                                    bias=np.ones(2, np.int64)))
    with pytest.raises(ValueError, match="bias has shape"):
        matmul_ref(np.ones((2, 2), np.int64), np.ones((2, 3), np.int64), bias=np.ones(2, np.int64))
    with pytest.raises(GadgetRangeError):
        matmul_ref(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64),
                   bias=np.full(2, 1 << 62, np.int64))


# ---------------------------------------------------------------------------------------
# Sections B.r and A.Br in a bank of their own, shared by two lanes of section C.r
# ---------------------------------------------------------------------------------------
def test_gadget_matmul_lanes_share_a_products_bank():
    rng = np.random.default_rng(8)
    cs = ConstraintSystem()
    ctx = ChipContext.of(cs)
    products = MatmulChip.configure_products(ctx.in_bank("p"))
    lanes = [MatmulChip.configure(ctx.in_bank(f"c{i}"), products=products) for i in range(2)]
    assert lanes[0].r is lanes[1].r and lanes[0].x != lanes[1].x and lanes[0].xa == lanes[1].xa
    shapes = [(3, 5, 4), (4, 6, 2), (5, 3, 3)]
    mats = [(rng.integers(-99, 99, (T, d)), rng.integers(-99, 99, (d, m))) for T, d, m in shapes]
    res = []

    def circuit(layouter):
        for n, (A, B) in enumerate(mats):
            res.append(MatmulChip.assign(layouter, lanes[n % 2], A, B, name=f"m{n}"))
    asg = synthesize(cs, circuit)
    MockProver(cs, asg).assert_satisfied()
    for c, (A, B) in zip(res, mats):
        assert np.array_equal(c.values, A @ B)
    # the lanes' C.r sections sit side by side; the products stack in their own bank
    starts = {r.name: r.start for r in asg.regions}
    assert starts["m0"] == starts["m1"] == 0 and starts["m2"] == 3 * 4
    assert starts["m1.products.a"] > starts["m0.products.a"]
    assert starts["m1.products.b"] > starts["m0.products.b"]
    # the cross-bank copy C[t] . r == A[t] . Br and the A cells are enforced
    for n, (T, d, m) in enumerate(shapes):
        cfg, P = lanes[n % 2], lanes[n % 2].slots
        p0, pb = starts[f"m{n}.products.a"], starts[f"m{n}.products.b"]
        t = T - 1
        for col, row in ((cfg.accc, res[n].cells.start + T * m - 1),
                         (cfg.acca[t % P], p0 + (t // P) * d + d - 1),
                         (cfg.xa[0], p0 + 1), (cfg.x, res[n].cells.start),
                         (cfg.va, p0 + 1), (cfg.accb[0], pb + m - 1)):
            old = asg.value(col, row)
            asg.set_cell(col, row, old + 1)
            assert MockProver(cs, asg).verify(), (n, col.name, row)
            asg.set_cell(col, row, old)
    MockProver(cs, asg).assert_satisfied()


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 4), st.sampled_from([1, 2, 3, 5, 8]),
       st.one_of(st.sampled_from([0, 1, Fr.modulus - 1]), st.integers(0, Fr.modulus - 1)),
       st.integers(0, 2**32))
def test_block_horner_matches_the_rule(blocks, size, r, seed):
    """The doubling scan equals Horner's rule y[j] = r y[j-1] + x[j], restarted per block
    (block sizes that are not powers of two, r = 0, 1 and -1 included)."""
    from snarkgpt.gadgets.matmul import _block_horner
    P = Fr.modulus
    xs = np.random.default_rng(seed).integers(0, 2**62, (blocks, size)).tolist()
    got = Fr.to_ints(_block_horner(Fr.from_ints([v for row in xs for v in row]), size, r))
    want = []
    for row in xs:
        y = 0
        for v in row:
            y = (r * y + v) % P
            want.append(y)
    assert got == want


# ---------------------------------------------------------------------------------------
# Fixed weights in wide rows (module docstring, "Wide rows")
# ---------------------------------------------------------------------------------------
def build_wide(A, B, width, claimed_c=None, also_advice=False):
    cs = ConstraintSystem()
    cfg = MatmulChip.configure(cs, width=width)
    res = {}

    def circuit(layouter):
        res["c"] = MatmulChip.assign(layouter, cfg, A, B, fixed_b=True, claimed_c=claimed_c)
        if also_advice:             # advice B keeps the narrow slots in the same config
            res["adv"] = MatmulChip.assign(layouter, cfg, A, B, name="adv")
    asg = synthesize(cs, circuit)
    start = next(r.start for r in asg.regions if r.name == "matmul.products.b")
    return cs, cfg, asg, res, start


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("shape", [(3, 4, 2), (5, 6, 3), (2, 3, 9)])
def test_gadget_matmul_wide_rows_honest(width, shape):
    """Any width gives the exact product, with or without leading zero padding (m not a
    multiple of W); the wide section has d * ceil(m / W) rows, in W weight columns and one
    running value, and the slot weight columns are gone."""
    rng = np.random.default_rng(width)
    T, d, m = shape
    A, B = rng.integers(-99, 99, (T, d)), rng.integers(-99, 99, (d, m))
    cs, cfg, asg, res, start = build_wide(A, B, width, also_advice=True)
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(res["c"].values, A @ B) and np.array_equal(res["adv"].values, A @ B)
    assert len(cfg.wide.w) == width and cfg.wb == []
    q = -(-m // width)
    assert wide_rows(d, m, width) == d * q
    assert next(r.height for r in asg.regions if r.name == "matmul.products.b") == d * q
    # the last running value of block k is Br[k] = sum_j r^(m-1-j) B[k, j]
    r = int(asg.challenges[cfg.r.index])
    for k in range(d):
        br = sum(pow(r, m - 1 - j, Fr.modulus) * int(B[k, j]) for j in range(m)) % Fr.modulus
        assert asg.value(cfg.wide.acc, start + k * q + q - 1) % Fr.modulus == br


@pytest.mark.parametrize("width", [2, 3, 4])
def test_gadget_matmul_wide_rows_freivalds_catches_wrong_product(width):
    """A wrong C with an honestly computed phase-1 witness fails Freivalds' check."""
    rng = np.random.default_rng(7)
    A, B = rng.integers(-50, 50, (3, 5)), rng.integers(-50, 50, (5, 7))
    for i, j in ((0, 0), (2, 6), (1, 3)):
        bad = A @ B
        bad[i, j] -= 3
        cs, _, asg, _, _ = build_wide(A, B, width, claimed_c=bad)
        fails = MockProver(cs, asg).verify()
        assert fails and all(f.kind == "copy" for f in fails)


@pytest.mark.parametrize("width", [2, 3])
def test_gadget_matmul_wide_rows_tamper_any_cell(width):
    """Every kind of cell of the wide section (first and step rows of Horner's rule, the
    block's last value Br[k] and its copy in va, a weight and a leading zero pad: fixed
    cells, hence another circuit) and of the other sections: the mock prover refuses."""
    rng = np.random.default_rng(5)
    T, d, m = 3, 4, 5                      # m = 5: q = ceil(5 / W) rows a block, zero pad
    A, B = rng.integers(-99, 99, (T, d)), rng.integers(-99, 99, (d, m))
    cs, cfg, asg, res, start = build_wide(A, B, width)
    q = -(-m // width)
    pad = q * width - m
    wide = cfg.wide
    ab = next(r.start for r in asg.regions if r.name == "matmul.products.a")
    cstart = res["c"].cells.start
    targets = [(wide.acc, start),                        # first row of block 0
               (wide.acc, start + 1),                    # a step row
               (wide.acc, start + q - 1),                # Br[0]
               (wide.acc, start + (d - 1) * q + q - 1),  # Br[d-1]
               (wide.w[width - 1], start + 1),           # a weight (last slot)
               (wide.w[0], start + 2 * q),               # a leading zero pad (or B[2, 0])
               (cfg.va, ab + 1),                         # a copied Br cell
               (cfg.acca[0], ab + d - 1),
               (cfg.x, cstart + 2),
               (cfg.accc, cstart + m - 1)]
    assert pad >= 0
    for col, row in targets:
        old = asg.value(col, row)
        asg.set_cell(col, row, old + 1)
        assert MockProver(cs, asg).verify(), (col.name, row)
        asg.set_cell(col, row, old)
    MockProver(cs, asg).assert_satisfied()


def test_gadget_matmul_wide_rows_bad_width():
    for bad in (0, -2, True, 2.5, "8"):
        with pytest.raises(ValueError, match="weight width"):
            MatmulChip.configure(ConstraintSystem(), width=bad)
    cs = ConstraintSystem()
    products = MatmulChip.configure_products(cs, width=4)
    with pytest.raises(ValueError, match="weight width 4, not 8"):
        MatmulChip.configure(cs, products=products, width=8)
