"""SRS: the development setup, and reading snarkjs .ptau files (ours, truncated, corrupted)."""
import os
import struct

import numpy as np
import pytest

from snarkgpt.curve import g1
from snarkgpt.field import Fr
from snarkgpt.plonk.srs import SRS, InsecureSetupWarning, PtauError, write_dev_ptau

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

POWER = 4  # 2^4 = 16 powers: small enough for fast tests


@pytest.fixture(scope="module")
def ptau(tmp_path_factory):
    path = tmp_path_factory.mktemp("ptau") / "dev.ptau"
    write_dev_ptau(path, POWER, seed=b"ptau-tests")
    return path


def test_dev_setup_warns_and_is_labelled():
    with pytest.warns(InsecureSetupWarning):
        srs = SRS.dev(8, seed=b"x")
    assert srs.insecure and "INSECURE" in repr(srs)
    assert np.array_equal(srs.g1[0], g1.generator())
    srs.check_consistency()


def test_ptau_round_trip_matches_dev_setup(ptau):
    srs = SRS.from_ptau(ptau)
    dev = SRS.dev(1 << POWER, seed=b"ptau-tests")
    assert srs.n == 1 << POWER and not srs.insecure
    assert np.array_equal(srs.g1, dev.g1)
    assert np.array_equal(srs.g2, dev.g2)
    part = SRS.from_ptau(ptau, n=5)
    assert np.array_equal(part.g1, dev.g1[:5])
    with pytest.raises(PtauError, match="requested"):
        SRS.from_ptau(ptau, n=(1 << POWER) + 1)


def test_ptau_lagrange_basis_matches_dev(ptau):
    srs = SRS.from_ptau(ptau)
    dev = SRS.dev(1 << POWER, seed=b"ptau-tests")
    for k in (0, 2, POWER):
        assert np.array_equal(srs.lagrange(k), dev.lagrange(k))
    # committing values in the Lagrange basis equals committing the interpolated polynomial
    from snarkgpt.curve.msm import msm
    from snarkgpt.field.domain import Domain
    vals = Fr.from_signed(np.arange(-8, 8))
    coeffs = Domain(POWER).intt(vals)
    assert g1.equal(msm(srs.lagrange(POWER), vals), msm(srs.g1, coeffs))


def _corrupt(src, dst, fn):
    data = bytearray(open(src, "rb").read())
    data = fn(data)
    open(dst, "wb").write(bytes(data))
    return dst


def _section_offset(data, want):
    """Byte offset of section `want`'s payload."""
    pos = 12
    while True:
        kind, length = struct.unpack("<IQ", bytes(data[pos:pos + 12]))
        if kind == want:
            return pos + 12
        pos += 12 + length


def _g1_offset(data):
    """Byte offset of the first tauG1 point (section 2's payload)."""
    return _section_offset(data, 2)


def _lagrange_offset(data, k, i):
    """Byte offset of point i of the size-2^k Lagrange basis in section 12 (the bases of
    sizes 1, 2, 4, ... follow each other, so that of size 2^k starts at point 2^k - 1)."""
    return _section_offset(data, 12) + ((1 << k) - 1 + i) * 64


def _put_point(data, offset, point):
    return data[:offset] + np.ascontiguousarray(point).astype("<u8").tobytes() + data[offset + 64:]


@pytest.mark.parametrize("name,fn,msg", [
    ("magic", lambda d: b"ptaX" + d[4:], "not a .ptau file"),
    ("truncated", lambda d: d[: len(d) - 100], "truncated"),
    ("short", lambda d: d[:7], "truncated"),
    ("trailing", lambda d: d + b"\0", "trailing"),
    ("version", lambda d: d[:4] + struct.pack("<I", 9) + d[8:], "version"),
    ("curve", lambda d: d[:24] + bytes([d[24] ^ 1]) + d[25:], "another curve"),
    ("off-curve", lambda d: (lambda o: d[:o + 64] + bytes([d[o + 64] ^ 1]) + d[o + 65:])(_g1_offset(d)),
     "not on the curve"),
    ("non-canonical", lambda d: (lambda o: d[:o + 64] + b"\xff" * 32 + d[o + 96:])(_g1_offset(d)),
     "not canonical"),
])
def test_malformed_ptau_is_refused(ptau, tmp_path, name, fn, msg):
    bad = _corrupt(ptau, tmp_path / f"{name}.ptau", fn)
    with pytest.raises(PtauError, match=msg):
        SRS.from_ptau(bad)


def test_swapped_powers_fail_the_consistency_check(ptau, tmp_path):
    def swap(d):
        o = _g1_offset(d)
        p2, p3 = d[o + 128:o + 192], d[o + 192:o + 256]
        return d[:o + 128] + p3 + p2 + d[o + 256:]
    bad = _corrupt(ptau, tmp_path / "swapped.ptau", swap)
    with pytest.raises(PtauError, match="not consistent"):
        SRS.from_ptau(bad)


def test_genuine_lagrange_bases_pass_the_check(ptau):
    """(a) Every Lagrange basis of a genuine file passes the randomised check, also through a
    truncated SRS (which reads the bases against its prefix of the powers)."""
    dev = SRS.dev(1 << POWER, seed=b"ptau-tests")
    srs = SRS.from_ptau(ptau)
    for k in range(POWER + 1):
        assert np.array_equal(srs.lagrange(k), dev.lagrange(k))
    small = SRS.from_ptau(ptau, n=None).truncate(5)
    assert np.array_equal(small.lagrange(2), dev.lagrange(2))


def _forge_lagrange(k, i, how):
    """A file edit putting another valid curve point at point i of the size-2^k basis."""
    def fn(d):
        o = _lagrange_offset(d, k, i)
        pt = np.frombuffer(bytes(d[o:o + 64]), dtype="<u8").astype(np.uint64)
        if how == "double":
            new = g1.double(pt)
        elif how == "other index":
            j = (i + 1) % (1 << k)
            oj = _lagrange_offset(d, k, j)
            new = np.frombuffer(bytes(d[oj:oj + 64]), dtype="<u8").astype(np.uint64)
        else:  # "generator": a point whose discrete log everyone knows
            new = g1.generator()
        return _put_point(d, o, new)
    return fn


@pytest.mark.parametrize("k,i,how", [(POWER, 5, "double"), (POWER, 0, "other index"),
                                     (POWER, (1 << POWER) - 1, "generator"), (2, 3, "double"),
                                     (1, 1, "other index")])
def test_forged_lagrange_point_is_refused(ptau, tmp_path, k, i, how):
    """(b) One Lagrange point replaced by another valid curve point: the file still opens
    (the bases are read when first used), but reading that basis names section 12 and the
    point; the other bases still load."""
    bad = _corrupt(ptau, tmp_path / "lag.ptau", _forge_lagrange(k, i, how))
    srs = SRS.from_ptau(bad)
    with pytest.raises(PtauError, match=rf"section 12 \(Lagrange basis\), domain 2\^{k}: "
                                        rf"point {i} is not \[L_{i}\(tau\)\]G1"):
        srs.lagrange(k)
    other = 0 if k != 0 else 1
    assert np.array_equal(srs.lagrange(other),
                          SRS.dev(1 << POWER, seed=b"ptau-tests").lagrange(other))


def test_forged_lagrange_is_read_unchecked_with_check_false(ptau, tmp_path):
    """check=False trusts the file (as it does for the powers): no MSM check on section 12."""
    bad = _corrupt(ptau, tmp_path / "lag.ptau", _forge_lagrange(POWER, 5, "double"))
    srs = SRS.from_ptau(bad, check=False)
    assert srs.lagrange(POWER).shape == (1 << POWER, 8)


@pytest.mark.parametrize("k,i", [(POWER, 7), (0, 0)])
def test_lagrange_point_at_infinity_is_refused(ptau, tmp_path, k, i):
    """(c) A Lagrange point replaced by the point at infinity."""
    bad = _corrupt(ptau, tmp_path / "inf.ptau",
                   lambda d: _put_point(d, _lagrange_offset(d, k, i), g1.identity()))
    srs = SRS.from_ptau(bad)
    with pytest.raises(PtauError, match=rf"section 12 \(Lagrange basis\), domain 2\^{k}: "
                                        rf"point {i} is the point at infinity"):
        srs.lagrange(k)


def test_tau_power_at_infinity_is_refused(ptau, tmp_path):
    """(d) A tauG1 point at infinity, and the whole file of tau = 0 (every power past [1]G1
    and [tau]G2 at infinity), which the pairing check alone would accept."""
    bad = _corrupt(ptau, tmp_path / "inf.ptau",
                   lambda d: _put_point(d, _g1_offset(d) + 3 * 64, g1.identity()))
    with pytest.raises(PtauError, match=r"section 2 \(tauG1\): point 3 is the point at infinity"):
        SRS.from_ptau(bad)

    def tau_zero(d):
        o, o2 = _g1_offset(d), _section_offset(d, 3)
        n1 = 2 * (1 << POWER) - 1
        d = d[:o + 64] + bytes(64 * (n1 - 1)) + d[o + 64 * n1:]
        return d[:o2 + 128] + bytes(128) + d[o2 + 256:]
    zero = _corrupt(ptau, tmp_path / "zero.ptau", tau_zero)
    with pytest.raises(PtauError, match=r"section 2 \(tauG1\): point 1 is the point at infinity"):
        SRS.from_ptau(zero)


def test_tau_g2_at_infinity_is_refused(ptau, tmp_path):
    bad = _corrupt(ptau, tmp_path / "inf2.ptau",
                   lambda d: (lambda o: d[:o + 128] + bytes(128) + d[o + 256:])(_section_offset(d, 3)))
    with pytest.raises(PtauError, match=r"section 3 \(tauG2\): point 1 is the point at infinity"):
        SRS.from_ptau(bad)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(PtauError, match="cannot read"):
        SRS.from_ptau(tmp_path / "nope.ptau")


def test_writer_leaves_no_partial_file(tmp_path):
    path = tmp_path / "w.ptau"
    write_dev_ptau(path, 1)
    assert os.path.exists(path) and not os.path.exists(str(path) + ".tmp")


def test_dev_source_does_not_reveal_the_seed():
    seed = b"a secret seed"
    srs = SRS.dev(2, seed=seed)
    assert seed.hex() not in srs.source and seed.hex() not in repr(srs)
    assert "INSECURE" in srs.source


def test_prefix_sums_are_running_sums():
    """g1.prefix_sums against running additions one point at a time (including the point
    at infinity among the inputs and a running sum that returns to infinity)."""
    pts = g1.fixed_base_mul(g1.generator(), Fr.from_ints([3, 5, 0, 7, 1, (1 << 200) + 9]))
    pts = np.concatenate([pts, g1.neg(g1.add(g1.add(pts[0], pts[1]), g1.add(pts[3], pts[4])))[None]])
    pts = np.concatenate([pts, g1.neg(pts[5])[None], pts[:2]])
    got = g1.prefix_sums(pts)
    acc = g1.identity()
    for i in range(pts.shape[0]):
        acc = g1.add(acc, pts[i])
        assert g1.equal(got[i], acc), i
    assert g1.is_identity(got[7])           # 3 + 5 + 0 + 7 + 1 + big - (16) - big = 0


@pytest.mark.parametrize("shape", ["steps", "dense", "constant", "zero", "tail"])
def test_commit_values_either_basis_gives_the_same_point(shape):
    """commit_values takes the running-sum basis for mostly constant columns and the
    Lagrange basis otherwise; both must give the commitment of the same polynomial."""
    from snarkgpt.curve.msm import msm
    from snarkgpt.plonk.kzg import commit_values
    k, u = 6, 58
    n = 1 << k
    srs = SRS.dev(n + 1, seed=b"commit-basis")
    rng = np.random.default_rng(len(shape))
    big = [int(v) for v in rng.integers(1, 1 << 62, n)]
    vals = {"steps": [big[i // 13] for i in range(n)],           # few changes: prefix basis
            "dense": big,                                        # Lagrange basis
            "constant": [big[0]] * n,
            "zero": [0] * n,
            "tail": [big[0]] * u + big[u:]}[shape]               # blinding rows at the end
    v = Fr.from_ints(vals)
    want = msm(srs.lagrange(k), v)
    used = []
    prefix = srs.lagrange_prefix
    srs.lagrange_prefix = lambda kk: used.append(kk) or prefix(kk)
    assert g1.equal(commit_values(srs, k, v, u), want)
    assert g1.equal(commit_values(srs, k, v), want)
    assert bool(used) == (shape in ("steps", "constant", "tail"))     # both paths are covered
