"""BN254 G2 (the twist over Fq2) against py_ecc: group law, subgroup test, serialization."""
import numpy as np
import py_ecc.bn128 as ref_plain
import py_ecc.optimized_bn128 as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.curve import g2
from snarkgpt.curve import tower as T
from snarkgpt.field import FQ_MODULUS, FR_MODULUS, Fr

Q = FQ_MODULUS
R = FR_MODULUS
EDGE = [0, 1, 2, 3, R - 1, R - 2, R, R + 1, (R - 1) // 2, 2**64, 2**253]
scalars = st.one_of(st.integers(0, R - 1), st.sampled_from(EDGE))


def ref_ints(p):
    """py_ecc optimized point -> (x.c0, x.c1, y.c0, y.c1) or None."""
    if ref.is_inf(p):
        return None
    x, y = ref.normalize(p)
    return (int(x.coeffs[0]), int(x.coeffs[1]), int(y.coeffs[0]), int(y.coeffs[1]))


def ours(points):
    return g2.to_affine_ints(points)


def twist_point_outside_g2(seed=0):
    """A point on E'(Fq2) that is not in G2: random x until x^3 + b' is a square."""
    rng = np.random.default_rng(seed)
    b = g2.T.TWIST_B_INT
    while True:
        x = [int(v) for v in rng.integers(1, 2**62, size=2)]
        x3 = T.py_fq2_mul(T.py_fq2_mul(x, x), x)
        rhs = T.from_ints([(x3[0] + b[0]) % Q, (x3[1] + b[1]) % Q])
        try:
            y = T.to_ints(T.tower_op("sqrt", rhs))
        except ValueError:
            continue
        p = g2.from_affine_ints([(x[0], x[1], y[0], y[1])])[0]
        if not g2.in_subgroup(p, method="order"):
            return p


def test_generator_and_identity():
    gen = g2.generator()
    assert gen.shape == (16,)
    assert ours(gen) == [ref_ints(ref.G2)]
    assert g2.is_on_curve(gen) and g2.in_subgroup(gen) and g2.in_subgroup(gen, method="order")
    assert g2.is_on_curve(g2.identity()) and g2.in_subgroup(g2.identity())
    assert g2.is_identity(g2.identity()) and g2.is_identity(g2.identity(3)).all()
    assert ours(g2.from_py_ecc(ref_plain.G2)) == ours(gen)
    assert np.array_equal(g2.from_py_ecc(ref.G2), gen)


def test_py_ecc_round_trip_both_flavours():
    pts = [ref.G2, ref.Z2, ref.double(ref.G2), ref.neg(ref.G2)]
    arr = g2.from_py_ecc(pts)
    assert arr.shape == (4, 16)
    assert g2.is_identity(arr).tolist() == [False, True, False, False]
    assert all(ref.eq(a, b) for a, b in zip(g2.to_py_ecc(arr), pts))
    plain = g2.to_py_ecc(arr, optimized=False)
    assert plain[1] is None and plain[0] == ref_plain.G2
    assert np.array_equal(g2.from_py_ecc(plain), arr)
    x, y, z = ref.double(ref.G2)
    seven = x.__class__([7, 0])
    assert ours(g2.from_py_ecc((x * seven, y * seven, z * seven))) == [ref_ints(ref.double(ref.G2))]


@settings(max_examples=8, deadline=None)
@given(scalars, scalars)
def test_group_law_matches_py_ecc(a, b):
    pa, pb = ref.multiply(ref.G2, a % R), ref.multiply(ref.G2, b % R)
    A = g2.scalar_mul(g2.generator(), a)
    B = g2.scalar_mul(g2.generator(), b)
    assert ours(A) == [ref_ints(pa)] and ours(B) == [ref_ints(pb)]
    assert ours(g2.add(A, B)) == [ref_ints(ref.add(pa, pb))]
    assert ours(g2.double(A)) == [ref_ints(ref.double(pa))]
    assert ours(g2.neg(A)) == [ref_ints(ref.neg(pa))]
    assert ours(g2.sub(A, B)) == [ref_ints(ref.add(pa, ref.neg(pb)))]
    assert g2.is_on_curve(A) and g2.in_subgroup(A)


def test_special_cases_and_broadcast():
    G = g2.generator()
    O = g2.identity()
    assert g2.is_identity(g2.add(G, g2.neg(G)))
    assert np.array_equal(g2.add(G, O), G) and np.array_equal(g2.add(O, G), G)
    assert g2.is_identity(g2.add(O, O))
    assert np.array_equal(g2.add(G, G), g2.scalar_mul(G, 2))
    assert g2.is_identity(g2.scalar_mul(G, R)) and g2.is_identity(g2.scalar_mul(G, 0))
    assert g2.is_identity(g2.scalar_mul(O, 5))
    assert np.array_equal(g2.scalar_mul(G, -1), g2.neg(G))
    # Fr Montgomery scalars, broadcast both ways, the shapes the SRS code uses
    ks = [3, 5, 7]
    many = g2.scalar_mul(G.reshape(1, 16), Fr.from_ints(ks))
    assert many.shape == (3, 16)
    assert ours(many) == [ref_ints(ref.multiply(ref.G2, k)) for k in ks]
    one = g2.scalar_mul(G.reshape(1, 16), Fr.from_ints([5]))
    assert one.shape == (1, 16) and np.array_equal(one[0], many[1])
    pts = np.repeat(G[None], 3, axis=0)
    assert np.array_equal(g2.scalar_mul(pts, 5), np.repeat(many[1][None], 3, axis=0))
    assert np.array_equal(g2.scalar_mul(pts, Fr.from_ints(ks)), many)
    with pytest.raises(ValueError):
        g2.scalar_mul(pts, [1, 2])
    # add broadcasts a single point
    assert np.array_equal(g2.add(many, G), g2.scalar_mul(G, Fr.from_ints([4, 6, 8])))


def test_psi_is_multiplication_by_q():
    P = g2.random(3, rng=np.random.default_rng(1))
    assert np.array_equal(g2.psi_map(P), g2.scalar_mul(P, Q % R))
    assert np.array_equal(g2.psi_map(P), g2.scalar_mul(P, g2.PSI_EIGEN))


def test_points_outside_the_subgroup():
    P = twist_point_outside_g2(0)
    assert g2.is_on_curve(P)
    assert not g2.in_subgroup(P) and not g2.in_subgroup(P, method="order")
    # the group order is r * (2q - r): clearing the cofactor lands in G2, [r] then [c] gives 0
    cleared = g2.scalar_mul(P, g2.COFACTOR, reduce=False)
    assert g2.in_subgroup(cleared) and g2.in_subgroup(cleared, method="order")
    assert not g2.is_identity(cleared)
    rP = g2.scalar_mul(P, R, reduce=False)
    assert not g2.is_identity(rP)
    assert g2.is_identity(g2.scalar_mul(rP, g2.COFACTOR, reduce=False))
    # psi test and [r]P test agree on a mixed batch
    batch = np.stack([P, twist_point_outside_g2(1), cleared, g2.generator(), g2.identity(),
                      g2.add(P, g2.generator())])
    assert g2.in_subgroup(batch).tolist() == g2.in_subgroup(batch, method="order").tolist() \
        == [False, False, True, True, True, False]


def test_is_on_curve_rejects():
    G = g2.generator().copy()
    bad = G.copy()
    bad[8] ^= np.uint64(1)                                 # perturb y.c0
    assert not g2.is_on_curve(bad)
    noncanon = G.copy()
    noncanon[4:8] = np.array(T.to_limbs(Q + 1), np.uint64)  # x.c1 >= q
    assert not g2.is_on_curve(noncanon)
    assert g2.is_on_curve(np.stack([G, bad, g2.identity()])).tolist() == [True, False, True]


# ---------------------------------------------------------------------------------------
# Compressed serialization (gnark-crypto format)
# ---------------------------------------------------------------------------------------
def test_compress_layout_and_round_trip():
    G = g2.generator()
    c = g2.compress(G)
    assert len(c) == 64
    x0, x1, y0, y1 = ours(G)[0]
    body = bytearray(c)
    flag = body[0] & 0xC0
    body[0] &= 0x3F
    assert int.from_bytes(body[:32], "big") == x1 and int.from_bytes(body[32:], "big") == x0
    ref_largest = (y1 > (Q - 1) // 2) if y1 else (y0 > (Q - 1) // 2)
    assert flag == (0xC0 if ref_largest else 0x80)
    # -G has the other root and the other flag, same x
    cn = g2.compress(g2.neg(G))
    assert cn[0] & 0xC0 == (0x80 if ref_largest else 0xC0) and cn[1:] == c[1:]
    pts = np.concatenate([g2.random(6, rng=np.random.default_rng(5)), g2.identity(1),
                          g2.neg(G)[None], G[None]])
    data = g2.compress(pts)
    assert len(data) == 64 * len(pts)
    assert data[64 * 6: 64 * 7] == bytes([0x40]) + bytes(63)
    back = g2.decompress(data)
    assert np.array_equal(back, pts)
    assert np.array_equal(g2.decompress(data, n=len(pts)), pts)
    assert g2.decompress(b"").shape == (0, 16)
    # both flags occur among the random points
    flags = {data[64 * i] & 0xC0 for i in range(len(pts))}
    assert flags == {0x40, 0x80, 0xC0}


def _enc(x0, x1, flag):
    b = bytearray(x1.to_bytes(32, "big") + x0.to_bytes(32, "big"))
    b[0] |= flag
    return bytes(b)


def test_decompress_rejects_malformed():
    good = g2.compress(g2.random(2, rng=np.random.default_rng(9)))
    with pytest.raises(ValueError, match="multiple of 64"):
        g2.decompress(good[:-1])
    with pytest.raises(ValueError, match="expected 192 bytes"):
        g2.decompress(good, n=3)
    # flags 0b00 (uncompressed) in the second point
    bad = bytearray(good)
    bad[64] &= 0x3F
    with pytest.raises(ValueError, match="point 1: invalid flags"):
        g2.decompress(bytes(bad))
    # infinity with stray bits
    with pytest.raises(ValueError, match="point 0: non-canonical infinity"):
        g2.decompress(bytes([0x40]) + bytes(62) + b"\x01")
    with pytest.raises(ValueError, match="point 0: non-canonical infinity"):
        g2.decompress(bytes([0x41]) + bytes(63))
    # non-canonical coordinates: x.c1 = q, x.c0 = q + small
    x0, x1, _, _ = ours(g2.generator())[0]
    with pytest.raises(ValueError, match="point 0: x.c1 is not canonical"):
        g2.decompress(_enc(x0, Q, 0x80))
    with pytest.raises(ValueError, match="point 1: x.c0 is not canonical"):
        g2.decompress(good[:64] + _enc(x0 + Q, x1, 0x80))
    # not on the curve: an x with x^3 + b' a non-square
    b = T.TWIST_B_INT
    for k in range(2, 200):
        xx = (k, 1)
        x3 = T.py_fq2_mul(T.py_fq2_mul(xx, xx), xx)
        try:
            T.tower_op("sqrt", T.from_ints([(x3[0] + b[0]) % Q, (x3[1] + b[1]) % Q]))
        except ValueError:
            break
    with pytest.raises(ValueError, match="point 0: not on the curve"):
        g2.decompress(_enc(xx[0], xx[1], 0x80))
    # on the curve, not in the subgroup
    P = twist_point_outside_g2(2)
    enc = g2.compress(P)
    with pytest.raises(ValueError, match="point 1: on the curve but not in the order-r subgroup"):
        g2.decompress(good[:64] + enc)
