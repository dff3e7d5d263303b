"""BN254 G1 arithmetic and serialization against py_ecc."""
import numpy as np
import py_ecc.bn128 as ref_plain
import py_ecc.optimized_bn128 as ref
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.curve import g1
from snarkgpt.field import FQ_MODULUS, FR_MODULUS, Fr

Q = FQ_MODULUS
R = FR_MODULUS
EDGE_SCALARS = [0, 1, 2, 3, R - 1, R - 2, R, R + 1, (R - 1) // 2, (R + 1) // 2, 2**64, 2**253]
scalars = st.one_of(st.integers(0, R - 1), st.sampled_from(EDGE_SCALARS))


def mul_ref(k):
    return ref.multiply(ref.G1, k % R)


def ref_affine(p):
    """py_ecc optimized point -> (x, y) ints or None."""
    if ref.is_inf(p):
        return None
    x, y = ref.normalize(p)
    return int(x.n), int(y.n)


def ours(points):
    return g1.to_affine_ints(points)


def test_generator_and_identity():
    gen = g1.generator()
    assert gen.shape == (8,)
    assert ours(gen) == [(1, 2)]
    assert g1.is_on_curve(gen)
    assert g1.is_on_curve(g1.identity())                 # infinity is a valid group element
    assert g1.is_identity(g1.identity())
    assert g1.identity(3).shape == (3, 8) and g1.is_identity(g1.identity(3)).all()
    assert ours(g1.from_py_ecc(ref.G1)) == [(1, 2)]
    assert ours(g1.from_py_ecc(ref_plain.G1)) == [(1, 2)]


def test_py_ecc_round_trip_both_flavours():
    pts = [ref.G1, ref.Z1, ref.double(ref.G1), ref.neg(ref.G1)]
    arr = g1.from_py_ecc(pts)
    assert arr.shape == (4, 8)
    assert g1.is_identity(arr).tolist() == [False, True, False, False]
    back = g1.to_py_ecc(arr)
    assert all(ref.eq(a, b) for a, b in zip(back, pts))
    plain = g1.to_py_ecc(arr, optimized=False)
    assert plain[1] is None and plain[0] == ref_plain.G1
    assert ours(g1.from_py_ecc(plain)) == ours(arr)
    # projective representatives with z != 1 normalise
    x, y, z = ref.double(ref.G1)
    scaled = (x * 7, y * 7, z * 7)
    assert ours(g1.from_py_ecc(scaled)) == [ref_affine(ref.double(ref.G1))]


@settings(max_examples=25, deadline=None)
@given(a=scalars, b=scalars)
def test_add_sub_double_neg(a, b):
    pa, pb = mul_ref(a), mul_ref(b)
    A, B = g1.from_py_ecc([pa]), g1.from_py_ecc([pb])
    assert ours(g1.add(A, B)) == [ref_affine(ref.add(pa, pb))]
    assert ours(g1.sub(A, B)) == [ref_affine(ref.add(pa, ref.neg(pb)))]
    assert ours(g1.double(A)) == [ref_affine(ref.double(pa))]
    assert ours(g1.neg(A)) == [ref_affine(ref.neg(pa))]
    assert g1.is_on_curve(g1.add(A, B)).all()


def test_add_special_cases():
    G = g1.from_py_ecc([ref.G1])
    O = g1.identity(1)
    P = g1.from_py_ecc([mul_ref(12345)])
    a = np.concatenate([G, G, G, O, O, P, P])
    b = np.concatenate([G, g1.neg(G), O, G, O, g1.neg(P), P])
    got = ours(g1.add(a, b))
    assert got == [ref_affine(ref.double(ref.G1)), None, (1, 2), (1, 2), None, None,
                   ref_affine(ref.double(mul_ref(12345)))]
    # single rows in, single row out; broadcasting a single point against many
    one = g1.add(g1.generator(), g1.generator())
    assert one.shape == (8,) and ours(one) == [ref_affine(ref.double(ref.G1))]
    many = g1.add(g1.generator(), np.concatenate([G, O, P]))
    assert ours(many) == [ref_affine(ref.double(ref.G1)), (1, 2), ref_affine(mul_ref(12346))]
    with pytest.raises(ValueError):
        g1.add(np.concatenate([G, G]), np.concatenate([G, G, G]))


@settings(max_examples=15, deadline=None)
@given(k=scalars, s=scalars)
def test_scalar_mul_matches_py_ecc(k, s):
    P = g1.from_py_ecc(mul_ref(k))
    got = g1.scalar_mul(P, s)
    assert got.shape == (8,)
    assert ours(got) == [ref_affine(mul_ref(k * s))]
    # same through an Fr Montgomery array
    assert ours(g1.scalar_mul(P, Fr.from_ints([s]))) == [ref_affine(mul_ref(k * s))]


def test_scalar_mul_edges_and_broadcast():
    G = g1.generator()
    for s, want in [(0, None), (1, (1, 2)), (R, None), (R + 1, (1, 2)), (-1, ref_affine(ref.neg(ref.G1))),
                    (R - 1, ref_affine(ref.neg(ref.G1)))]:
        assert ours(g1.scalar_mul(G, s)) == [want], s
    assert ours(g1.scalar_mul(g1.identity(), 5)) == [None]
    pts = g1.from_py_ecc([mul_ref(k) for k in (3, 5, 7)])
    got = g1.scalar_mul(pts, [2, 0, R - 1])
    assert ours(got) == [ref_affine(mul_ref(6)), None, ref_affine(mul_ref(-7))]
    assert ours(g1.scalar_mul(pts, 2)) == [ref_affine(mul_ref(2 * k)) for k in (3, 5, 7)]
    with pytest.raises(ValueError):
        g1.scalar_mul(pts, [1, 2])


def test_fixed_base_mul_matches_py_ecc():
    rng = np.random.default_rng(7)
    ks = EDGE_SCALARS + [int(v) for v in rng.integers(0, 2**62, 20)] + [
        int.from_bytes(rng.bytes(32), "big") % R for _ in range(20)] + [-5, -(2**40)]
    base_k = 987654321
    base = g1.from_py_ecc(mul_ref(base_k))
    got = g1.fixed_base_mul(base, Fr.from_ints(ks))
    assert got.shape == (len(ks), 8)
    assert ours(got) == [ref_affine(mul_ref(base_k * k)) for k in ks]
    # plain ints work too, and a base at infinity gives infinity
    assert ours(g1.fixed_base_mul(g1.generator(), [3])) == [ref_affine(mul_ref(3))]
    assert g1.is_identity(g1.fixed_base_mul(g1.identity(), [3, 4])).all()
    assert g1.fixed_base_mul(g1.generator(), []).shape == (0, 8)


def test_fixed_base_mul_structured_scalars():
    # powers of two and near-window-boundary values: carries across signed-digit windows
    ks = [1, 2, 2**14, 2**14 + 1, 3 * 2**13, R - 2**14, 2**28 + 2**14, 2**13 - 2**28]
    got = g1.fixed_base_mul(g1.generator(), ks)
    assert ours(got) == [ref_affine(mul_ref(k)) for k in ks]


def test_jacobian_round_trip():
    pts = g1.from_py_ecc([mul_ref(k) for k in (1, 2, 99)] + [ref.Z1])
    jac = g1.to_jacobian(pts)
    assert jac.shape == (4, 12)
    assert np.array_equal(g1.batch_to_affine(jac), pts)


def test_is_on_curve_and_validate():
    pts = g1.from_py_ecc([mul_ref(5), mul_ref(6)])
    assert g1.is_on_curve(pts).all()
    bad = pts.copy()
    bad[1, 4:] = g1.from_affine_ints([(1, 3)])[0, 4:]        # (x, y) with y changed
    assert g1.is_on_curve(bad).tolist() == [True, False]
    with pytest.raises(ValueError, match="point 1"):
        g1.validate(bad)
    huge = pts.copy()
    huge[0, :4] = np.uint64(2**64 - 1)                        # non-canonical limbs
    assert not g1.is_on_curve(huge)[0]


def test_shapes_rejected():
    with pytest.raises(ValueError):
        g1.neg(np.zeros((3, 4), np.uint64))
    with pytest.raises(TypeError):
        g1.neg(np.zeros((3, 8), np.int64))


# ---- serialization --------------------------------------------------------------------------

def test_compress_known_vectors():
    gen = g1.generator()
    c = g1.compress(gen)
    assert c == bytes([0x80]) + bytes(30) + bytes([1])        # y = 2 is the smaller root
    cn = g1.compress(g1.neg(gen))
    assert cn == bytes([0xC0]) + bytes(30) + bytes([1])       # y = q - 2 is the larger
    assert g1.compress(g1.identity()) == bytes([0x40]) + bytes(31)
    u = g1.to_bytes_uncompressed(gen)
    assert u == bytes(31) + bytes([1]) + bytes(31) + bytes([2])
    assert g1.to_bytes_uncompressed(g1.identity()) == bytes([0x40]) + bytes(63)


@settings(max_examples=10, deadline=None)
@given(ks=st.lists(scalars, min_size=1, max_size=8))
def test_compress_round_trip(ks):
    pts = g1.fixed_base_mul(g1.generator(), ks)
    data = g1.compress(pts)
    assert len(data) == 32 * len(ks)
    assert np.array_equal(g1.decompress(data), pts)
    assert np.array_equal(g1.decompress(data, len(ks)), pts)
    raw = g1.to_bytes_uncompressed(pts)
    assert len(raw) == 64 * len(ks)
    assert np.array_equal(g1.from_bytes_uncompressed(raw), pts)


def _not_on_curve_x():
    x = 1
    while pow((x**3 + 3) % Q, (Q - 1) // 2, Q) == 1:
        x += 1
    return x


def test_decompress_rejects_malformed():
    good = g1.compress(g1.fixed_base_mul(g1.generator(), [1, 2]))
    with pytest.raises(ValueError, match="bytes"):
        g1.decompress(good[:-1])
    with pytest.raises(ValueError, match="expected 96"):
        g1.decompress(good, 3)

    def second(b32):
        return good[:32] + b32

    x_big = Q.to_bytes(32, "big")
    with pytest.raises(ValueError, match="point 1: x is not canonical"):
        g1.decompress(second(bytes([x_big[0] | 0x80]) + x_big[1:]))
    x_bad = _not_on_curve_x().to_bytes(32, "big")
    with pytest.raises(ValueError, match="point 1: x is not on the curve"):
        g1.decompress(second(bytes([0x80]) + x_bad[1:]))
    with pytest.raises(ValueError, match="point 1: flag bits 0b00"):
        g1.decompress(second(bytes([0x00]) + good[33:64]))
    with pytest.raises(ValueError, match="point 1: non-canonical infinity"):
        g1.decompress(second(bytes([0x40]) + bytes(30) + bytes([1])))
    with pytest.raises(ValueError, match="point 1: non-canonical infinity"):
        g1.decompress(second(bytes([0x41]) + bytes(31)))
    # the maximal 254-bit x (flags cleared) is also >= q
    with pytest.raises(ValueError, match="not canonical"):
        g1.decompress(bytes([0xBF]) + bytes([0xFF]) * 31)
    assert g1.decompress(b"").shape == (0, 8)


def test_uncompressed_rejects_malformed():
    pts = g1.fixed_base_mul(g1.generator(), [1, 2])
    good = g1.to_bytes_uncompressed(pts)
    with pytest.raises(ValueError):
        g1.from_bytes_uncompressed(good[:-3])
    bad = bytearray(good)
    bad[64] |= 0x80                                            # compressed flag on point 1
    with pytest.raises(ValueError, match="point 1: invalid flag"):
        g1.from_bytes_uncompressed(bytes(bad))
    bad = bytearray(good)
    bad[127] ^= 1                                              # y off the curve
    with pytest.raises(ValueError, match="point 1: not on the curve"):
        g1.from_bytes_uncompressed(bytes(bad))
    bad = good[:64] + Q.to_bytes(32, "big") + good[96:]
    with pytest.raises(ValueError, match="point 1: x is not canonical"):
        g1.from_bytes_uncompressed(bad)
    with pytest.raises(ValueError, match="point 0: non-canonical infinity"):
        g1.from_bytes_uncompressed(bytes([0x40]) + bytes(62) + bytes([1]))


def test_projective_kernels_special_cases():
    """Jacobian and XYZZ formulas (used inside kernels) on P + Q, P + P, P + (-P), O + P."""
    import numba as nb

    from snarkgpt.curve.g1_formulas import (ONE, ZERO, aff_load, jac_add, jac_dbl, jac_madd,
                                            xyzz_add, xyzz_dbl, xyzz_madd, xyzz_store)

    @nb.njit
    def run(a, b, jac_out, xyzz_out):
        for i in range(a.shape[0]):
            x1, y1 = aff_load(a, i)
            x2, y2 = aff_load(b, i)
            one, z = ONE, ZERO
            # O + P lifts to projective; doubling gives Z != 1 for the rest
            X1, Y1, Z1 = jac_madd(one, one, z, x1, y1)
            X2, Y2, Z2 = jac_madd(one, one, z, x2, y2)
            X2, Y2, Z2 = jac_add(X2, Y2, Z2, X2, Y2, Z2)          # 2Q (Z != 1)
            X3, Y3, Z3 = jac_add(X1, Y1, Z1, X2, Y2, Z2)          # P + 2Q
            X3, Y3, Z3 = jac_madd(X3, Y3, Z3, x2, y2)             # P + 3Q
            X4, Y4, Z4 = jac_dbl(X3, Y3, Z3)                      # 2P + 6Q
            for k in range(4):
                jac_out[2 * i, k] = X3[k]
                jac_out[2 * i, 4 + k] = Y3[k]
                jac_out[2 * i, 8 + k] = Z3[k]
                jac_out[2 * i + 1, k] = X4[k]
                jac_out[2 * i + 1, 4 + k] = Y4[k]
                jac_out[2 * i + 1, 8 + k] = Z4[k]
            A = xyzz_madd(one, one, z, z, x1, y1)
            B = xyzz_madd(one, one, z, z, x2, y2)
            B = xyzz_add(B[0], B[1], B[2], B[3], B[0], B[1], B[2], B[3])
            C = xyzz_add(A[0], A[1], A[2], A[3], B[0], B[1], B[2], B[3])
            C = xyzz_madd(C[0], C[1], C[2], C[3], x2, y2)
            D = xyzz_dbl(C[0], C[1], C[2], C[3])
            xyzz_store(xyzz_out, 2 * i, C[0], C[1], C[2], C[3])
            xyzz_store(xyzz_out, 2 * i + 1, D[0], D[1], D[2], D[3])

    ks = [(5, 7), (5, -5), (-15, 5), (6, 3), (-6, 3), (0, 4), (9, 0), (0, 0), (1, R - 1)]
    a = g1.from_py_ecc([mul_ref(p) for p, _ in ks])
    b = g1.from_py_ecc([mul_ref(q) for _, q in ks])
    jac = np.empty((2 * len(ks), 12), np.uint64)
    xyzz = np.empty((2 * len(ks), 16), np.uint64)
    run(a, b, jac, xyzz)
    want = []
    for p, q in ks:
        want += [ref_affine(mul_ref(p + 3 * q)), ref_affine(mul_ref(2 * p + 6 * q))]
    assert ours(g1.batch_to_affine(jac)) == want
    assert ours(g1.xyzz_to_affine(xyzz)) == want


@pytest.mark.parametrize("flag", ["0", "1"])
def test_decompress_with_and_without_ifma(monkeypatch, flag):
    """The square roots eight at a time (ifma_sqrt.py, where the CPU has IFMA) and one at a
    time give the same points, and both reject an x off the curve (in a full batch of 8 and
    in the padded tail)."""
    monkeypatch.setenv("SNARKGPT_IFMA", flag)
    pts = g1.fixed_base_mul(g1.generator(), list(range(1, 22)) + [0])
    data = g1.compress(pts)
    assert np.array_equal(g1.decompress(data), pts)
    x_bad = _not_on_curve_x().to_bytes(32, "big")
    bad = bytes([0x80]) + x_bad[1:]
    for i in (3, 20):
        forged = data[:32 * i] + bad + data[32 * (i + 1):]
        with pytest.raises(ValueError, match=f"point {i}: x is not on the curve"):
            g1.decompress(forged)
