"""The structured reference string (SRS) for KZG: [tau^i]G1 for i < n, and [1]G2, [tau]G2.

Two sources:

* `SRS.dev(n, seed)`: a development setup computed here from a seed. It is INSECURE: whoever
  knows the seed knows tau and can forge proofs. It is for tests, benchmarks and demos only,
  and is labelled as such everywhere it appears (`srs.insecure`, `srs.source`).
* `SRS.from_ptau(path)`: the powers of tau of a public ceremony, read from a snarkjs `.ptau`
  file (format below). A real deployment uses this: tau is unknown to anyone as long as one
  ceremony participant was honest.

The snarkjs `.ptau` format ("binfile"): magic b"ptau", u32 version (1), u32 section count,
then sections, each u32 type, u64 byte length, payload; all integers little-endian.
  1 header:  u32 n8 (32), q (n8 bytes), u32 power, u32 ceremony power
  2 tauG1:   2^(power+1) - 1 G1 points   (64 bytes each: x, y in Montgomery form, LE)
  3 tauG2:   2^power G2 points           (128 bytes each: x.c0, x.c1, y.c0, y.c1)
  4 alphaTauG1, 5 betaTauG1: 2^power G1 points;  6 betaG2: one G2 point
  7 contributions: u32 count, then the contributions (not needed to use the powers)
  12 (prepared files only): for p = 0..power, the 2^p Lagrange-basis points [L_i(tau)]G1
Montgomery form with R = 2^256 is exactly our limb layout, so points load without arithmetic.
The point at infinity is stored as all-zero bytes; it is refused in the tau powers (past
[1]G1), as [tau]G2 and in the Lagrange basis: there it can only mean tau = 0, tau inside the
domain, or a forged file.

What ties the points read to the one tau a verifier trusts ([tau]G2): a randomised pairing
check for the G1 powers (`SRS.check_consistency`), and a randomised MSM check of each Lagrange
basis read from section 12 against those powers (`_check_lagrange_basis`).
"""
import hashlib
import os
import struct
import warnings

import numpy as np

from ..curve import g1, g2
from ..curve.msm import msm
from ..curve.pairing import pairing_check
from ..field import FQ_MODULUS, FR_MODULUS, Fr
from ..field.domain import Domain
from ..field.params import FQ

PTAU_MAGIC = b"ptau"
G1_BYTES = 64
G2_BYTES = 128


class InsecureSetupWarning(UserWarning):
    """Raised as a warning whenever a development (known-secret) SRS is created."""


class PtauError(ValueError):
    """A .ptau file is malformed, truncated, for another curve, or inconsistent."""


class SRS:
    """KZG parameters: `g1` = [tau^i]G1 (n, 8) affine, `g2` = [[1]G2, [tau]G2] (2, 16) affine."""

    def __init__(self, g1_powers: np.ndarray, g2_points: np.ndarray, source: str, insecure: bool,
                 lagrange_source=None):
        self.g1 = g1_powers
        self.g2 = g2_points
        self.source = source
        self.insecure = insecure
        # how to get [L_i(tau)]G1: ("tau", tau) for a dev setup, ("ptau", (path, check)) for
        # a file (check: verify each basis read against the G1 powers)
        self._lagrange_source = lagrange_source
        self._lagrange = {}
        self._lagrange_prefix = {}

    @property
    def n(self) -> int:
        return self.g1.shape[0]

    def __repr__(self):
        tag = "INSECURE development setup" if self.insecure else "ceremony"
        return f"SRS(n={self.n}, {tag}: {self.source})"

    def truncate(self, n: int) -> "SRS":
        if n > self.n:
            raise ValueError(f"SRS has {self.n} powers, {n} requested")
        out = SRS(self.g1[:n].copy(), self.g2, self.source, self.insecure, self._lagrange_source)
        out._lagrange = self._lagrange
        out._lagrange_prefix = self._lagrange_prefix
        return out

    def lagrange(self, k: int) -> np.ndarray:
        """[L_i(tau)]G1 for the Lagrange basis of the size-2^k domain, as (2^k, 8) affine points.

        Committing a column by its values in this basis needs no NTT, and keeps the scalars
        small (fixed-point witness values), so the MSM takes its small-scalar path."""
        if k not in self._lagrange:
            if (1 << k) > self.n:
                raise ValueError(f"SRS has {self.n} powers; the Lagrange basis of 2^{k} needs {1 << k}")
            kind, value = self._lagrange_source or (None, None)
            if kind == "tau":
                self._lagrange[k] = g1.fixed_base_mul(g1.generator(), _lagrange_scalars(value, k))
            elif kind == "ptau":
                path, check = value
                pts = _read_ptau_lagrange(path, k)
                if check:
                    _check_lagrange_basis(pts, self.g1[:1 << k], k, path)
                self._lagrange[k] = pts
            else:
                raise ValueError("this SRS has no Lagrange basis: load a prepared .ptau file "
                                 "(snarkjs powersoftau prepare phase2)")
        return self._lagrange[k]

    def lagrange_prefix(self, k: int) -> np.ndarray:
        """[L_0(tau) + ... + L_i(tau)]G1 for each i < 2^k: the running sums of `lagrange`,
        computed once per k (2^k additions). Committing the differences of consecutive
        values in this basis gives the same point as committing the values in the Lagrange
        basis (`g1.prefix_sums`)."""
        if k not in self._lagrange_prefix:
            self._lagrange_prefix[k] = g1.prefix_sums(self.lagrange(k))
        return self._lagrange_prefix[k]

    def digest(self) -> bytes:
        """A hash of the parameters a verifier depends on (the G2 points and [1]G1)."""
        h = hashlib.sha256(b"snarkgpt-srs-v1")
        h.update(np.ascontiguousarray(self.g1[:1]).astype("<u8").tobytes())
        h.update(np.ascontiguousarray(self.g2).astype("<u8").tobytes())
        return h.digest()

    # ---- development setup --------------------------------------------------------------
    @classmethod
    def dev(cls, n: int, seed: bytes | str = b"snarkgpt-dev") -> "SRS":
        """An INSECURE SRS with tau derived from `seed` (anyone with the seed can forge)."""
        if n < 1:
            raise ValueError("SRS size must be positive")
        seed = seed.encode() if isinstance(seed, str) else bytes(seed)
        warnings.warn("development SRS: its secret is derived from a known seed; proofs made "
                      "with it are forgeable. Use a ceremony .ptau file in deployment.",
                      InsecureSetupWarning, stacklevel=2)
        tau = _tau_from_seed(seed)
        powers = _powers(tau, n)
        g1_powers = g1.fixed_base_mul(g1.generator(), powers)
        g2_points = np.concatenate([g2.generator().reshape(1, 16),
                                    g2.scalar_mul(g2.generator().reshape(1, 16), Fr.from_ints([tau]))])
        # never the seed itself: it determines tau, and the source is printed and published
        label = hashlib.sha256(b"snarkgpt-dev-srs-label" + seed).hexdigest()[:16]
        return cls(g1_powers, g2_points, f"INSECURE dev setup {label}", insecure=True,
                   lagrange_source=("tau", tau))

    # ---- ceremony files ---------------------------------------------------------------
    @classmethod
    def from_ptau(cls, path, n: int | None = None, check: bool = True) -> "SRS":
        """Read the first n powers from a snarkjs .ptau file (all of them if n is None).

        Checks: magic, version, sections, the curve (q must be BN254's), sizes, every loaded
        point canonical and on its curve, no point at infinity (tau = 0), [tau]G2 in the
        subgroup, and (check=True) that the loaded G1 powers form one geometric sequence
        consistent with [tau]G2, by a single randomised pairing check. The Lagrange bases of
        section 12 are read when `lagrange(k)` first asks for one; each is then checked the
        same way (points canonical, on the curve, not infinity) and, with check=True, against
        these G1 powers by a randomised MSM check (`_check_lagrange_basis`)."""
        path = os.fspath(path)
        try:
            size = os.path.getsize(path)
            f = open(path, "rb")
        except OSError as e:
            raise PtauError(f"{path}: cannot read: {e.strerror}") from None
        with f:
            sections = _read_sections(f, size, path)
            power, ceremony_power = _read_header(f, sections, path)
            available = 1 << power
            if n is None:
                n = available
            if n > available:
                raise PtauError(f"{path}: holds 2^{power} = {available} powers, {n} requested")
            g1_pos, g1_len = _section(sections, 2, path)
            g2_pos, g2_len = _section(sections, 3, path)
            if g1_len != (2 * available - 1) * G1_BYTES:
                raise PtauError(f"{path}: tauG1 section has {g1_len} bytes, expected "
                                f"{(2 * available - 1) * G1_BYTES} for power {power}")
            if g2_len != available * G2_BYTES:
                raise PtauError(f"{path}: tauG2 section has {g2_len} bytes, expected {available * G2_BYTES}")
            g1_powers = _read_points(f, g1_pos, n, G1_BYTES, path, "tauG1")
            g2_points = _read_points(f, g2_pos, 2, G2_BYTES, path, "tauG2")
        _check_coordinates(g1_powers, path, "tauG1")
        _check_coordinates(g2_points, path, "tauG2")
        bad = np.flatnonzero(~g1.is_on_curve(g1_powers))
        if bad.size:
            raise PtauError(f"{path}: tauG1 point {bad[0]} is not on the curve")
        bad = np.flatnonzero(g1.is_identity(g1_powers))
        if bad.size:   # [tau^i]G1 = 0 only if tau = 0 (which the pairing check cannot see)
            raise PtauError(f"{path}: ptau section 2 (tauG1): point {bad[0]} is the point at infinity")
        if not np.all(g2.is_on_curve(g2_points)) or not np.all(g2.in_subgroup(g2_points)):
            raise PtauError(f"{path}: tauG2 points are not valid G2 points")
        bad = np.flatnonzero(g2.is_identity(g2_points))
        if bad.size:
            raise PtauError(f"{path}: ptau section 3 (tauG2): point {bad[0]} is the point at infinity")
        if not np.array_equal(g1_powers[0], g1.generator()) or not np.array_equal(g2_points[0], g2.generator()):
            raise PtauError(f"{path}: the first powers are not the standard generators")
        srs = cls(g1_powers, g2_points, f"ptau {os.path.basename(path)} power={power} "
                                        f"ceremony_power={ceremony_power}", insecure=False,
                  lagrange_source=("ptau", (path, check)) if 12 in sections else None)
        if check:
            srs.check_consistency(path)
        return srs

    def check_consistency(self, label="SRS"):
        """One pairing check that g1[i+1] = tau * g1[i] for all i (random linear combination):
        e(sum r_i g1[i+1], G2) == e(sum r_i g1[i], [tau]G2)."""
        if self.n < 2:
            return
        r = Fr.random(self.n - 1)
        lhs = msm(self.g1[1:], r)
        rhs = msm(self.g1[:-1], r)
        ok = pairing_check(np.stack([lhs, g1.neg(rhs.reshape(1, 8))[0]]),
                           np.stack([self.g2[0], self.g2[1]]))
        if not ok:
            raise PtauError(f"{label}: the G1 powers are not consistent with [tau]G2")


def _tau_from_seed(seed: bytes) -> int:
    h = hashlib.blake2b(b"snarkgpt-dev-srs-tau" + seed, digest_size=64).digest()
    return int.from_bytes(h, "little") % FR_MODULUS or 1


def _lagrange_scalars(tau: int, k: int) -> np.ndarray:
    """L_i(tau) = w^i (tau^n - 1) / (n (tau - w^i)) for the size-2^k domain, as an Fr array."""
    from ..field.domain import Domain
    d = Domain(k)
    w = d.elements()
    tn = (pow(tau, d.n, FR_MODULUS) - 1) % FR_MODULUS
    if tn == 0:  # tau inside the domain: L_i(tau) is 1 at that point, 0 elsewhere
        out = [1 if pow(d.omega, i, FR_MODULUS) == tau else 0 for i in range(d.n)]
        return Fr.from_ints(out)
    denom = Fr.scale(Fr.sub(Fr.from_ints([tau] * d.n), w), d.n)
    return Fr.scale(Fr.mul(w, Fr.inverse(denom)), tn)


def _read_ptau_lagrange(path, k):
    """Section 12 of a prepared .ptau file: for p = 0..power, the 2^p points [L_i(tau)]G1 of the
    size-2^p domain (snarkjs uses the same roots of unity: powers of 5^((r-1)/2^28)).

    Checks each point is canonical, on the curve and not the point at infinity; that they are
    the right points is `_check_lagrange_basis`'s job."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        sections = _read_sections(f, size, path)
        pos, length = _section(sections, 12, path)
        m = 1 << k
        start = (m - 1) * G1_BYTES
        if start + m * G1_BYTES > length:
            raise PtauError(f"{path}: Lagrange section holds no domain of size 2^{k}")
        pts = _read_points(f, pos + start, m, G1_BYTES, path, "lagrange tauG1")
    _check_coordinates(pts, path, "lagrange tauG1")
    bad = np.flatnonzero(~g1.is_on_curve(pts))
    if bad.size:
        raise PtauError(f"{path}: Lagrange point {bad[0]} is not on the curve")
    bad = np.flatnonzero(g1.is_identity(pts))
    if bad.size:   # L_i(tau) = 0 only for tau inside the domain (then tau is no secret)
        raise PtauError(f"{path}: ptau section 12 (Lagrange basis), domain 2^{k}: point {bad[0]} "
                        f"is the point at infinity")
    return pts


def _check_lagrange_basis(lag, powers, k, path):
    """Check that lag[i] = [L_i(tau)]G1 for the tau of `powers` = [tau^j]G1 (j < 2^k), i.e.
    that section 12 of a .ptau file holds the Lagrange basis of the file's own tau.

    Why: the prover and keygen commit columns (fixed, sigma, ...) by their values in this
    basis. A forged basis would make those commitments bind other polynomials than the
    verifier believes, while everything else in the file checks out.

    How: random field scalars rho (OS randomness), and one MSM over both point sets:
        sum_i rho_i lag[i]  -  sum_j c_j powers[j]  ==  O,   c = iNTT(rho),
    the second sum being the commitment of the polynomial with values rho on the domain.
    If lag[i] = [L_i(tau)]G1 + D_i, the left side is sum_i rho_i D_i (G1 has prime order:
    every point on the curve is in it), which is O for a nonzero D only with probability
    1/r over rho. On failure, halving the rows (each half with fresh scalars) names a bad
    point, so the error says which one.

    With `check_consistency` (powers[j] = [tau^j]G1 for the tau of [tau]G2) this ties the
    Lagrange basis to the verifier's tau; on its own it ties it to the file's G1 powers."""
    domain = Domain(k)

    def mismatch(lo, hi):       # does a random combination of rows lo..hi-1 fail?
        rho = np.zeros((domain.n, 4), np.uint64)
        rho[lo:hi] = Fr.random(hi - lo)
        coeffs = domain.intt(rho)
        total = msm(np.concatenate([lag[lo:hi], powers]), np.concatenate([rho[lo:hi], Fr.neg(coeffs)]))
        return not g1.is_identity(total)

    lo, hi = 0, domain.n
    if not mismatch(lo, hi):
        return
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mismatch(lo, mid):
            hi = mid
        else:
            lo = mid
    raise PtauError(f"{path}: ptau section 12 (Lagrange basis), domain 2^{k}: point {lo} is not "
                    f"[L_{lo}(tau)]G1 for the file's tau powers")


def _powers(x: int, n: int) -> np.ndarray:
    """[1, x, x^2, ..., x^(n-1)] as an Fr array (Python ints; n up to a few million is fine)."""
    out, acc = [], 1
    for _ in range(n):
        out.append(acc)
        acc = acc * x % FR_MODULUS
    return Fr.from_ints(out)


def write_dev_ptau(path, power: int, seed: bytes | str = b"snarkgpt-dev"):
    """Write a complete snarkjs-format .ptau file for a dev tau (INSECURE; for tests/tooling).

    The file is written to a temporary name and renamed, so no partial file is left behind."""
    seed = seed.encode() if isinstance(seed, str) else bytes(seed)
    tau = _tau_from_seed(seed)
    alpha = _tau_from_seed(seed + b"alpha")
    beta = _tau_from_seed(seed + b"beta")
    m = 1 << power
    tau_pows = _powers(tau, 2 * m - 1)
    gen1, gen2 = g1.generator(), g2.generator().reshape(1, 16)
    tau_g1 = g1.fixed_base_mul(gen1, tau_pows)
    tau_g2 = g2.scalar_mul(np.repeat(gen2, m, axis=0), tau_pows[:m])
    alpha_g1 = g1.fixed_base_mul(gen1, Fr.scale(tau_pows[:m], alpha))
    beta_g1 = g1.fixed_base_mul(gen1, Fr.scale(tau_pows[:m], beta))
    beta_g2 = g2.scalar_mul(gen2, Fr.from_ints([beta]))

    def blob(points):
        return np.ascontiguousarray(points).astype("<u8").tobytes()

    header = struct.pack("<I", 32) + FQ_MODULUS.to_bytes(32, "little") + struct.pack("<II", power, power)
    lagrange = np.concatenate([g1.fixed_base_mul(gen1, _lagrange_scalars(tau, p))
                               for p in range(power + 1)])
    sections = [(1, header), (2, blob(tau_g1)), (3, blob(tau_g2)), (4, blob(alpha_g1)),
                (5, blob(beta_g1)), (6, blob(beta_g2)), (7, struct.pack("<I", 0)),
                (12, blob(lagrange))]
    data = PTAU_MAGIC + struct.pack("<II", 1, len(sections))
    data += b"".join(struct.pack("<IQ", t, len(p)) + p for t, p in sections)
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ---- .ptau parsing helpers ---------------------------------------------------------------
def _read_exact(f, n, path, what):
    data = f.read(n)
    if len(data) != n:
        raise PtauError(f"{path}: truncated while reading {what} ({len(data)} of {n} bytes)")
    return data


def _read_sections(f, size, path):
    head = _read_exact(f, 12, path, "the file header")
    if head[:4] != PTAU_MAGIC:
        raise PtauError(f"{path}: not a .ptau file (magic {head[:4]!r}, expected b'ptau')")
    version, count = struct.unpack("<II", head[4:])
    if version != 1:
        raise PtauError(f"{path}: unsupported .ptau version {version}")
    if count > 64:
        raise PtauError(f"{path}: implausible section count {count}")
    sections = {}
    pos = 12
    for _ in range(count):
        f.seek(pos)
        kind, length = struct.unpack("<IQ", _read_exact(f, 12, path, "a section header"))
        pos += 12
        if pos + length > size:
            raise PtauError(f"{path}: section {kind} claims {length} bytes but the file ends "
                            f"{size - pos} bytes later (truncated)")
        if kind in sections:
            raise PtauError(f"{path}: section {kind} appears twice")
        sections[kind] = (pos, length)
        pos += length
    if pos != size:
        raise PtauError(f"{path}: {size - pos} trailing bytes after the last section")
    return sections


def _section(sections, kind, path):
    if kind not in sections:
        raise PtauError(f"{path}: missing section {kind}")
    return sections[kind]


def _read_header(f, sections, path):
    pos, length = _section(sections, 1, path)
    if length != 4 + 32 + 8:
        raise PtauError(f"{path}: header section has {length} bytes, expected 44 for BN254")
    f.seek(pos)
    data = _read_exact(f, length, path, "the header section")
    n8 = struct.unpack("<I", data[:4])[0]
    q = int.from_bytes(data[4:36], "little")
    if n8 != 32 or q != FQ_MODULUS:
        raise PtauError(f"{path}: the file is for another curve (n8={n8}, q={q}); BN254 expected")
    power, ceremony_power = struct.unpack("<II", data[36:44])
    if not 1 <= power <= 28:
        raise PtauError(f"{path}: power {power} out of range (1..28)")
    return power, ceremony_power


def _read_points(f, pos, count, width, path, what):
    f.seek(pos)
    data = _read_exact(f, count * width, path, what)
    return np.frombuffer(data, dtype="<u8").astype(np.uint64).reshape(count, width // 8)


def _check_coordinates(points, path, what):
    """Every coordinate (as 4-limb Montgomery values) must be < q."""
    from ..field import vec
    limbs = np.ascontiguousarray(points).reshape(-1, 4)
    ok = vec.below_modulus_mask(limbs, FQ.p)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0]) // (points.shape[1] // 4)
        raise PtauError(f"{path}: {what} point {i} has a coordinate >= q (not canonical)")
