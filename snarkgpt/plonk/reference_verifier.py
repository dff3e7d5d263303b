"""A plain reference verifier: the whole verification check with Python ints, to read and to
cross-check the fast one.

The fast verifier (`verifier.verify_or_raise`) is the default and the one every command
uses: it moves the proof's values as Montgomery arrays through Numba kernels, one MSM and a
pairing with precomputed lines. This module decides the same question with nothing but
Python integers and the arithmetic written below, step by step as docs/protocol.md ("The
verifier") tells it. It is slow (seconds on a model's proof) and meant for reading, for
auditing the fast path, and for the tests, which check that both accept and reject the same
proofs. Wherever it mirrors the fast verifier it absorbs the same messages under the same
transcript labels in the same order, so both derive the same challenges.

Design choice, the pairing: written here in full, in plain Python (Fq2; Fq12 as
Fq[w]/(w^12 - 18 w^6 + 82), py_ecc's representation, in which w^6 = 9 + u; an affine
optimal-ate Miller loop over the twist; the final exponentiation as one plain pow). It takes
about 110 lines, well under the ~400-line budget that would have justified calling
curve/pairing.py, and keeps this module independent of every compiled kernel: G1, G2 and
the pairing here share no code with curve/. A pairing check costs about 0.1-0.2 s.

What it reuses from the package, all plain Python:
  * `transcript.Transcript` (hashlib BLAKE2b): only `absorb_bytes` and `challenge`; points
    and scalars are encoded here, byte for byte as `absorb_points` / `absorb_scalars` write
    them (canonical little-endian x then y, 32 bytes each; (0, 0) for infinity);
  * `description.check_instance_shapes` and `vk.layout` (`layout.Layout`: the constraint
    identities as expression DAGs, the queries, the linearized columns), evaluated with
    `expression.IntProgram.run` and `linearization.split(..., compiled=False)`;
  * `vk.digest()` (sha256 of the key's canonical bytes) and the proof format's constants.
The key's points are NumPy rows of Fq elements in Montgomery form: an element a is stored as
a * 2^256 mod q in four little-endian 64-bit limbs. `_KeyPoints` turns them into plain ints
once, at the start (a = limbs * 2^-256 mod q), and checks that they are on their curves
(G2 points also in the order-r subgroup: the fast verifier trusts the key for those).
"""
from __future__ import annotations

from snarkgpt.field.params import FQ_MODULUS, FR_MODULUS, FR_GENERATOR, from_limbs

from . import linearization
from .expression import ADVICE, FIXED, INSTANCE
from .int_program import IntProgram
from .description import InstanceShapeError, check_instance_shapes
from .keygen import VerifyingKey
from .proof import HEADER, MAGIC, VERSION
from .protocol import PROTOCOL
from .transcript import Transcript

Q, R = FQ_MODULUS, FR_MODULUS

__all__ = ["verify_reference", "verify_reference_bool", "ReferenceVerificationError"]


class ReferenceVerificationError(Exception):
    """The reference verifier rejects the proof (the message says why)."""


def _fail(reason: str):
    raise ReferenceVerificationError(reason)


# ---------------------------------------------------------------------------------------
# G1: y^2 = x^3 + 3 over Fq. Affine points are (x, y) tuples, None is the point at
# infinity; sums are formed in Jacobian coordinates (X, Y, Z), x = X/Z^2, y = Y/Z^3.
# ---------------------------------------------------------------------------------------
G1_GEN = (1, 2)
_INF = (1, 1, 0)


def _on_g1(p) -> bool:
    return p is None or (p[1] * p[1] - p[0] ** 3 - 3) % Q == 0     # cofactor 1: in G1


def _jac_double(p):
    X, Y, Z = p
    if Z == 0 or Y == 0:
        return _INF
    A, B = X * X % Q, Y * Y % Q
    C = B * B % Q
    D = 2 * ((X + B) ** 2 - A - C) % Q
    E = 3 * A % Q
    X3 = (E * E - 2 * D) % Q
    return X3, (E * (D - X3) - 8 * C) % Q, 2 * Y * Z % Q


def _jac_add_affine(p, a):
    """p (Jacobian) + a (affine, not infinity)."""
    X1, Y1, Z1 = p
    if Z1 == 0:
        return a[0], a[1], 1
    ZZ = Z1 * Z1 % Q
    H = (a[0] * ZZ - X1) % Q
    rr = (a[1] * Z1 * ZZ - Y1) % Q
    if H == 0:
        return _jac_double(p) if rr == 0 else _INF
    HH = H * H % Q
    HHH, V = H * HH % Q, X1 * HH % Q
    X3 = (rr * rr - HHH - 2 * V) % Q
    return X3, (rr * (V - X3) - Y1 * HHH) % Q, Z1 * H % Q


def _to_affine(p):
    X, Y, Z = p
    if Z == 0:
        return None
    zi = pow(Z, -1, Q)
    return X * zi * zi % Q, Y * zi * zi * zi % Q


def g1_msm(terms):
    """sum_i s_i P_i over (P_i affine or None, s_i an int mod r): one shared double-and-add
    over the bits of all scalars (Straus' method with 1-bit windows)."""
    terms = [(p, s % R) for p, s in terms if p is not None and s % R]
    acc = _INF
    for bit in range(max((s.bit_length() for _, s in terms), default=0) - 1, -1, -1):
        acc = _jac_double(acc)
        for p, s in terms:
            if s >> bit & 1:
                acc = _jac_add_affine(acc, p)
    return _to_affine(acc)


def g1_add(a, b):
    return g1_msm([(a, 1), (b, 1)])


def g1_decompress(b: bytes):
    """32 bytes, gnark-crypto compressed G1 (curve/g1.py): big-endian x with the flags in the
    top two bits of the first byte: 0b10 y is the smaller root, 0b11 the larger (y > (q-1)/2),
    0b01 infinity (all else zero). ValueError for anything else or an x off the curve."""
    flag = b[0] & 0xC0
    body = bytes([b[0] & 0x3F]) + b[1:]
    if flag == 0x00:
        raise ValueError("flag bits 0b00 (uncompressed) are not valid in a compressed encoding")
    if flag == 0x40:
        if any(body):
            raise ValueError("non-canonical infinity encoding")
        return None
    x = int.from_bytes(body, "big")
    if x >= Q:
        raise ValueError("x is not canonical (x >= q)")
    rhs = (x ** 3 + 3) % Q
    y = pow(rhs, (Q + 1) // 4, Q)           # q = 3 mod 4
    if y * y % Q != rhs:
        raise ValueError("x is not on the curve (x^3 + 3 is not a square in Fq)")
    if (y > (Q - 1) // 2) != (flag == 0xC0):
        y = Q - y
    return x, y


def _points_bytes(points) -> bytes:
    """The transcript's encoding of G1 points (as `Transcript.absorb_points` writes it)."""
    return b"".join(b"\0" * 64 if p is None else
                    p[0].to_bytes(32, "little") + p[1].to_bytes(32, "little") for p in points)


def _scalars_bytes(values) -> bytes:
    """The transcript's encoding of Fr elements (as `Transcript.absorb_scalars` writes it)."""
    return b"".join((v % R).to_bytes(32, "little") for v in values)


# ---------------------------------------------------------------------------------------
# The pairing. Fq2 = Fq[u]/(u^2 + 1) as (a, b) = a + b u. G2 lives on the twist
# E': y^2 = x^3 + 3/xi over Fq2, xi = 9 + u; psi(x, y) = (x w^2, y w^3) maps it into E(Fq12).
# Fq12 = Fq[w]/(w^12 - 18 w^6 + 82): lists of 12 coefficients; u = w^6 - 9.
# ---------------------------------------------------------------------------------------
def _f2_add(a, b):
    return (a[0] + b[0]) % Q, (a[1] + b[1]) % Q


def _f2_sub(a, b):
    return (a[0] - b[0]) % Q, (a[1] - b[1]) % Q


def _f2_mul(a, b):
    return (a[0] * b[0] - a[1] * b[1]) % Q, (a[0] * b[1] + a[1] * b[0]) % Q


def _f2_inv(a):
    t = pow(a[0] * a[0] + a[1] * a[1], -1, Q)
    return a[0] * t % Q, -a[1] * t % Q


def _f2_pow(a, e: int):
    out = (1, 0)
    for bit in bin(e)[2:]:
        out = _f2_mul(out, out)
        if bit == "1":
            out = _f2_mul(out, a)
    return out


XI = (9, 1)
TWIST_B = _f2_mul((3, 0), _f2_inv(XI))
FROB_X = _f2_pow(XI, (Q - 1) // 3)          # w^(2(q-1)): the Frobenius on twisted x
FROB_Y = _f2_pow(XI, (Q - 1) // 2)          # w^(3(q-1)): on twisted y
BN_X = 4965661367192848881
ATE = 6 * BN_X + 2
FINAL_EXP = (Q ** 12 - 1) // R


def _on_twist(p) -> bool:
    x, y = p
    return _f2_mul(y, y) == _f2_add(_f2_mul(_f2_mul(x, x), x), TWIST_B)


def _g2_add(T, S):
    """(T + S, the slope of the line through T and S (the tangent if T == S)) on E', affine;
    the slope is None when the line is vertical or a point is infinity (None)."""
    if T is None or S is None:
        return (S if T is None else T), None
    if T[0] == S[0]:
        if _f2_add(T[1], S[1]) == (0, 0):
            return None, None
        x2 = _f2_mul(T[0], T[0])
        lam = _f2_mul(_f2_add(x2, _f2_add(x2, x2)), _f2_inv(_f2_add(T[1], T[1])))
    else:
        lam = _f2_mul(_f2_sub(S[1], T[1]), _f2_inv(_f2_sub(S[0], T[0])))
    x3 = _f2_sub(_f2_sub(_f2_mul(lam, lam), T[0]), S[0])
    return (x3, _f2_sub(_f2_mul(lam, _f2_sub(T[0], x3)), T[1])), lam


def _in_g2(p) -> bool:
    """[r]p = O (plain double-and-add on the twist)."""
    acc = None
    for bit in bin(R)[2:]:
        acc = _g2_add(acc, acc)[0]
        if bit == "1":
            acc = _g2_add(acc, p)[0]
    return acc is None


def _f12_mul(a, b):
    t = [0] * 23
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                t[i + j] += ai * bj
    for i in range(22, 11, -1):                 # w^12 = 18 w^6 - 82
        t[i - 6] += 18 * t[i]
        t[i - 12] -= 82 * t[i]
    return [c % Q for c in t[:12]]


def _put(f, a, k):
    """f += a w^k for a in Fq2 (k < 6): a0 + a1 u = (a0 - 9 a1) + a1 w^6."""
    f[k] = (f[k] + a[0] - 9 * a[1]) % Q
    f[k + 6] = (f[k + 6] + a[1]) % Q


def _miller_step(f, T, S, P):
    """f times the line through psi(T), psi(S) evaluated at P, and T + S. With the slope lam
    on E', the slope upstairs is lam w, so the line is yP - lam xP w + (lam xT - yT) w^3."""
    T2, lam = _g2_add(T, S)
    if lam is None:           # cannot happen for points of order r (ATE < r); _in_g2 holds
        _fail("pairing: a degenerate line in the Miller loop (a G2 point outside G2)")
    line = [P[1]] + [0] * 11
    _put(line, _f2_mul(lam, (-P[0] % Q, 0)), 1)
    _put(line, _f2_sub(_f2_mul(lam, T[0]), T[1]), 3)
    return _f12_mul(f, line), T2


def _miller_loop(P, Qp):
    """f_{6x+2,Q}(P) l_{[6x+2]Q, pi(Q)}(P) l_{[6x+2]Q + pi(Q), -pi^2(Q)}(P)."""
    f, T = [1] + [0] * 11, Qp
    for i in range(ATE.bit_length() - 2, -1, -1):
        f, T = _miller_step(_f12_mul(f, f), T, T, P)
        if ATE >> i & 1:
            f, T = _miller_step(f, T, Qp, P)
    frob = lambda p: (_f2_mul((p[0][0], -p[0][1] % Q), FROB_X),      # noqa: E731
                      _f2_mul((p[1][0], -p[1][1] % Q), FROB_Y))
    q1 = frob(Qp)
    q2 = frob(q1)
    f, T = _miller_step(f, T, q1, P)
    f, T = _miller_step(f, T, (q2[0], _f2_sub((0, 0), q2[1])), P)
    return f


def _final_exp(f):
    out = [1] + [0] * 11
    for bit in bin(FINAL_EXP)[2:]:
        out = _f12_mul(out, out)
        if bit == "1":
            out = _f12_mul(out, f)
    return out


def pairing(P, Qp):
    """e(P, Q) in Fq12 (the coefficients of w^0..w^11), P in G1, Q in G2 (affine tuples)."""
    if P is None or Qp is None:
        return [1] + [0] * 11
    return _final_exp(_miller_loop(P, Qp))


def pairing_check(pairs) -> bool:
    """prod_i e(P_i, Q_i) == 1, with one final exponentiation."""
    f = [1] + [0] * 11
    for P, Qp in pairs:
        if P is not None and Qp is not None:
            f = _f12_mul(f, _miller_loop(P, Qp))
    return _final_exp(f) == [1] + [0] * 11


# ---------------------------------------------------------------------------------------
# Inputs: the key's points as plain ints, the proof's bytes
# ---------------------------------------------------------------------------------------
_MONT_INV = pow(1 << 256, -1, Q)


def _fq(limbs) -> int:
    return from_limbs(limbs) * _MONT_INV % Q


class _KeyPoints:
    """The verifying key's G1 and G2 points as plain ints (converted once, then checked)."""

    def __init__(self, vk: VerifyingKey):
        def g1_rows(arr):
            rows = [] if arr is None else arr.tolist()
            return [None if not any(r) else (_fq(r[:4]), _fq(r[4:])) for r in rows]
        self.fixed = g1_rows(vk.fixed_commitments)
        self.sigma = g1_rows(vk.sigma_commitments)
        self.basis = g1_rows(vk.blinding_basis)
        self.g2 = [((_fq(r[0:4]), _fq(r[4:8])), (_fq(r[8:12]), _fq(r[12:16])))
                   for r in vk.g2.tolist()]
        if not all(map(_on_g1, self.fixed + self.sigma + self.basis)):
            _fail("verifying key: a G1 point is not on the curve")
        if not all(_on_twist(p) and _in_g2(p) for p in self.g2):
            _fail("verifying key: a G2 point is not in G2")


def parse_proof(lay, data: bytes):
    """(commitments, evaluations, openings): the proof's points as affine tuples (None for
    infinity) and its scalars as ints; sizes from the layout (proof.py's format)."""
    C, E, O = lay.commitment_count(), lay.evaluation_count(), len(lay.rotations)
    want = HEADER + 32 * (C + E + O)
    data = bytes(data)
    if len(data) < HEADER or data[:4] != MAGIC:
        _fail("proof: bad magic (not a snarkgpt proof)")
    if int.from_bytes(data[4:6], "little") != VERSION:
        _fail(f"proof: unsupported version {int.from_bytes(data[4:6], 'little')}")
    if len(data) != want:
        _fail(f"proof: {len(data)} bytes, the verifying key expects exactly {want}")
    words = [data[HEADER + 32 * i:HEADER + 32 * (i + 1)] for i in range(C + E + O)]

    def point(i, what, j):
        try:
            return g1_decompress(words[i])
        except ValueError as e:
            _fail(f"proof: {what} {j} at byte {HEADER + 32 * i}: {e}")
    comms = [point(i, "commitment", i) for i in range(C)]
    evals = [int.from_bytes(w, "little") for w in words[C:C + E]]
    bad = [i for i, v in enumerate(evals) if v >= R]
    if bad:
        _fail(f"proof: evaluation {bad[0]} is not a canonical scalar (>= r)")
    openings = [point(C + E + j, "opening proof", j) for j in range(O)]
    return comms, evals, openings


# ---------------------------------------------------------------------------------------
# The verifier
# ---------------------------------------------------------------------------------------
def verify_reference_bool(vk: VerifyingKey, instances, proof_bytes: bytes) -> bool:
    """True if the reference verifier accepts."""
    try:
        verify_reference(vk, instances, proof_bytes)
        return True
    except ReferenceVerificationError:
        return False


def _check_committed(vk, key, tr, points, z) -> dict:
    """The committed columns' re-randomization proof (committed/verifier.py): absorb D_c,
    alpha, A, e, z; check sum_j z_j P_j = A + e sum_c alpha^c D_c; return {column: C_c + D_c}."""
    idx = vk.layout.committed
    D, A = points[:len(idx)], points[len(idx)]
    tr.absorb_bytes("committed.D", _points_bytes(D))
    alpha = tr.challenge("committed.alpha")
    tr.absorb_bytes("committed.pok.A", _points_bytes([A]))
    e = tr.challenge("committed.e")
    tr.absorb_bytes("committed.pok.z", _scalars_bytes(z))
    terms = list(zip(key.basis, z)) + [(A, -1)]
    terms += [(Dc, -e * pow(alpha, c, R)) for c, Dc in enumerate(D)]
    if g1_msm(terms) is not None:
        _fail("the committed columns' re-randomization proof does not verify")
    return {c: g1_add(key.fixed[c], D[i]) for i, c in enumerate(idx)}


def verify_reference(vk: VerifyingKey, instances, proof_bytes: bytes) -> None:
    """Accept (return None) or raise `ReferenceVerificationError` with the reason.

    The fast verifier (`verifier.verify_or_raise`) is the default; this one is for reading
    and cross-checking. It replays the transcript on its own (not through the prover's
    schedule), with the same labels in the same order, so a drift between the two shows up
    as a rejection here."""
    lay = vk.layout
    d = lay.desc
    n, u, F = d.n, d.usable_rows, len(d.fixed)

    # 0. the public inputs' shape: exact lengths, zero on the rows nothing reads
    instances = [[int(v) % R for v in col] for col in (instances or [])]
    if len(instances) != len(d.instance):
        _fail(f"{len(instances)} instance columns given, the circuit has {len(d.instance)}")
    try:
        check_instance_shapes(d, instances)
    except InstanceShapeError as e:
        _fail(str(e))
    key = _KeyPoints(vk)

    # 1. parse
    comms, evals, openings = parse_proof(lay, proof_bytes)

    # 2. the transcript, in the prover's order (prover.py; labels as in verifier.py)
    tr = Transcript(PROTOCOL)
    tr.absorb_bytes("vk", vk.digest())
    tr.absorb_bytes("instance.columns", len(instances).to_bytes(4, "little"))
    for i, col in enumerate(instances):
        tr.absorb_bytes(f"instance.{i}", _scalars_bytes(col))
    pos, committed = 0, {}
    advice = {}                      # column index -> its commitment in this proof

    def take(label, columns):
        nonlocal pos
        pts = comms[pos:pos + len(columns)]
        pos += len(columns)
        tr.absorb_bytes(label, _points_bytes(pts))
        advice.update((c.index, p) for c, p in zip(columns, pts))
    if lay.links:                    # a segment of a chain: its link columns come first
        take("links", lay.links)
    if lay.committed:                # C_c + D_c replaces the key's C_c in this proof
        committed = _check_committed(vk, key, tr, comms[pos:pos + lay.committed_points],
                                     evals[:lay.committed_scalars])
        pos += lay.committed_points
    opened = evals[lay.committed_scalars if lay.committed else 0:]
    chal = {}
    phases = max([d.num_phases] + [c.after_phase + 1 for c in d.challenges])
    for p in range(phases):
        if lay.phase_columns(p):
            take(f"advice.phase{p}", lay.phase_columns(p))
        for ch in d.challenges:
            if ch.after_phase == p:
                chal[ch.index] = tr.challenge(f"challenge.{ch.name}")
    chal[lay.theta.index] = tr.challenge("theta")
    if lay.m_cols:
        take("lookup.m", lay.m_cols)
    chal[lay.beta.index] = tr.challenge("beta")
    if lay.m_cols:
        take("lookup.h_phi", lay.h_cols + lay.phi_cols)
    chal[lay.beta_p.index] = tr.challenge("beta'")
    chal[lay.gamma.index] = tr.challenge("gamma")
    if lay.z_cols:
        take("perm.z", lay.z_cols)
    y = chal[lay.y.index] = tr.challenge("y")
    quotient = comms[pos:pos + lay.quotient_pieces]
    tr.absorb_bytes("quotient", _points_bytes(quotient))
    x = tr.challenge("x")
    tr.absorb_bytes("evaluations", _scalars_bytes(opened))

    # 3. every constraint identity at x
    omega = pow(FR_GENERATOR, (R - 1) >> d.k, R)         # field/ntt.py's root_of_unity(k)
    xn = pow(x, n, R)
    if xn == 1:
        _fail("the challenge x lies in the domain")

    def lagrange(i, z):          # L_i(z) = omega^i (z^n - 1) / (n (z - omega^i)), z off H
        w = pow(omega, i, R)
        return w * (pow(z, n, R) - 1) * pow(n * (z - w), -1, R) % R
    blind = [lagrange(i, x) for i in range(u, n)]        # L_u(x) .. L_(n-1)(x)
    cells = dict(zip(lay.queries, opened))
    M = len(d.permutation)
    virtual = [lagrange(0, x), blind[0], (1 - sum(blind)) % R, x]    # l_0, l_last, l_active, X
    for i, v in enumerate(virtual):
        cells[(FIXED, F + M + i, 0)] = v
    for rot in lay.instance_rotations:                   # the instance polynomials at x omega^rot
        z = x * pow(omega, rot % n, R) % R
        if pow(z, n, R) == 1:
            _fail("an instance evaluation point lies in the domain")
        for i, col in enumerate(instances):
            cells[(INSTANCE, i, rot)] = sum(v * lagrange(j, z) for j, v in enumerate(col) if v) % R
    # C(x) = sum_i y^(N-1-i) C_i(x) = A + sum_s c_s f_s(x), the linearized f_s(x) unknown
    program = IntProgram([e for _, e in lay.constraints])
    try:
        A, coeff = linearization.split(program, cells, chal,
                                       linearization.program_keys(lay.linearized), y,
                                       compiled=False)
    except KeyError as e:
        _fail(f"no value for constraint cell {e}")

    # 4. the openings, checked together (kzg.batch_verify)
    def commitment(kind, idx):
        if kind == ADVICE:
            return advice[idx]
        return committed.get(idx, key.fixed[idx]) if idx < F else key.sigma[idx - F]
    # L = sum_s c_s [f_s] - (x^n - 1) sum_i x^(i n) [h_i'] opens to -A at x: C(x) = h(x) Z_H(x)
    L = [(commitment(kind, idx), coeff.get((kind, idx, 0), 0)) for kind, idx in lay.linearized]
    L += [(h, -(xn - 1) * pow(xn, i, R)) for i, h in enumerate(quotient)]
    v = tr.challenge("kzg.v")
    tr.absorb_bytes("kzg.proofs", _points_bytes(openings))
    uu = tr.challenge("kzg.u")
    # sum_j u^j (sum_i v^i F_ji - [sum_i v^i y_ji] G + z_j pi_j) = tau sum_j u^j pi_j
    lhs, rhs, y_total, uj = [], [], 0, 1
    for rot, pi in zip(lay.rotations, openings):
        items = [([(commitment(kind, idx), 1)], val)
                 for (kind, idx, r), val in zip(lay.queries, opened) if r == rot]
        if rot == 0:
            items.append((L, -A))
            if lay.committed:     # the key's blinding basis: P_j must open to L_j(x)
                items += [([(P, 1)], lj) for P, lj in zip(key.basis, blind)]
        w = uj
        for terms, val in items:
            lhs += [(p, w * c) for p, c in terms]
            y_total += w * val
            w = w * v % R
        lhs.append((pi, uj * x * pow(omega, rot % n, R)))
        rhs.append((pi, uj))
        uj = uj * uu % R
    lhs.append((G1_GEN, -y_total))
    left, right = g1_msm(lhs), g1_msm(rhs)
    neg_right = None if right is None else (right[0], -right[1] % Q)
    if not pairing_check([(left, key.g2[0]), (neg_right, key.g2[1])]):
        _fail("the opening proofs do not verify (a commitment, an evaluation or an opening "
              "proof is wrong, or some constraint fails)")
