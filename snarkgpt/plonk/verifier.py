"""The verifier: parse, replay the transcript, check the constraint identity at x, check the
KZG openings with one pairing equation.

Work is O(size of the circuit description + number of instance values), never O(n):
l_0(x), l_last(x), l_active(x) = 1 - l_last(x) - sum_(i > u) L_i(x) and the instance
polynomials come from the closed form L_i(x) = omega^i (x^n - 1) / (n (x - omega^i)).

Steps (see prover.py for the transcript order):
 1. parse the proof (proof.py; sizes fixed by the verifying key);
 2. replay the transcript: commitments, challenges, evaluations;
 3. evaluate every constraint identity (keygen.Layout: gates, lookup/verifier.py,
    permutation/verifier.py) at x from the opened values and combine them with y, as
    A + sum_s c_s f_s(x) over the linearized columns s, whose values the proof omits
    (linearization.py);
 4. batch-verify all openings (kzg.batch_verify), including the linearization commitment
    L = sum_s c_s [f_s] - (x^n - 1) [H] (H the recombined quotient) opened at x to -A:
    that is the quotient identity C(x) = h(x)(x^n - 1).
"""
from __future__ import annotations

import functools

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain
from snarkgpt.field.poly import inner_product

from . import kzg, linearization
from .expression import ADVICE, FIXED, INSTANCE, IntProgram
from .keygen import VerifyingKey
from .committed.verifier import CommittedColumnError, check_representation
from .proof import Proof, ProofFormatError
from .prover import PROTOCOL, absorb_instances
from .srs import SRS
from .transcript import Transcript

P = FR_MODULUS

__all__ = ["verify", "verify_or_raise", "VerificationError", "parse_proof"]


class VerificationError(Exception):
    """The proof is rejected (the message says why)."""


def parse_proof(vk: VerifyingKey, proof_bytes: bytes) -> Proof:
    lay = vk.layout
    return Proof.from_bytes(proof_bytes, lay.commitment_count(), lay.evaluation_count(),
                            len(lay.rotations))


def verify(vk: VerifyingKey, instances, proof_bytes: bytes) -> bool:
    """True if the proof is valid for ``vk`` and the public ``instances``."""
    try:
        verify_or_raise(vk, instances, proof_bytes)
        return True
    except (VerificationError, ProofFormatError):
        return False


def _constraint_program(lay) -> IntProgram:
    """Every constraint identity of the layout as one flat program (cached on the layout)."""
    prog = getattr(lay, "_int_program", None)
    if prog is None:
        prog = lay._int_program = IntProgram([e for _, e in lay.constraints])
    return prog


def _linearized_keys(lay) -> set:
    keys = getattr(lay, "_linearized_keys", None)
    if keys is None:
        keys = lay._linearized_keys = linearization.program_keys(lay.linearized)
    return keys


# one Domain per size (building one costs two inversions and more than the rest of the
# verifier's use of it)
_domain = functools.lru_cache(maxsize=4)(Domain)


def _rotation_groups(lay) -> list:
    """[(rotation, [indices into lay.queries opened at it])] in `lay.rotations` order (cached
    on the layout): the opening points and what each one opens."""
    groups = getattr(lay, "_rotation_groups", None)
    if groups is None:
        groups = lay._rotation_groups = [
            (rot, [j for j, q in enumerate(lay.queries) if q[2] == rot]) for rot in lay.rotations]
    return groups


def verify_or_raise(vk: VerifyingKey, instances, proof_bytes: bytes) -> None:
    """Raise `VerificationError` (or `ProofFormatError`) with the reason a proof is rejected."""
    lay = vk.layout
    d = lay.desc
    n, u = d.n, d.usable_rows
    # public values are field elements: signed integers are read mod r, as the prover does
    instances = [[int(v) % P for v in c] for c in (instances or [])]
    if len(instances) != len(d.instance):
        raise VerificationError(f"{len(instances)} instance columns given, the circuit has "
                                f"{len(d.instance)}")
    for i, col in enumerate(instances):
        if len(col) > u:
            raise VerificationError(f"instance column {i} has {len(col)} values, more than the "
                                    f"{u} usable rows")
    proof = parse_proof(vk, proof_bytes)

    # -- transcript ----------------------------------------------------------------------
    tr = Transcript(PROTOCOL)
    tr.absorb_bytes("vk", vk.digest())
    absorb_instances(tr, instances)
    comms = proof.commitments
    pos = 0
    adv_comm = {}
    committed_comm = {}
    evaluations = proof.evaluations
    if lay.committed:       # committed columns: C_c + D_c, once D is proven well formed
        pos = lay.committed_points
        z, evaluations = evaluations[:lay.committed_scalars], evaluations[lay.committed_scalars:]
        try:
            committed_comm = check_representation(vk, tr, comms[:pos], z)
        except CommittedColumnError as e:
            raise VerificationError(str(e)) from None
    chal: dict[int, int] = {}
    phases = max([d.num_phases] + [c.after_phase + 1 for c in d.challenges])
    for p in range(phases):
        cols = lay.phase_columns(p)
        if cols:
            pc = comms[pos:pos + len(cols)]
            pos += len(cols)
            tr.absorb_points(f"advice.phase{p}", pc)
            for c, pt in zip(cols, pc):
                adv_comm[c.index] = pt
        for ch in d.challenges:
            if ch.after_phase == p:
                chal[ch.index] = tr.challenge(f"challenge.{ch.name}")
    G = len(lay.m_cols)
    chal[lay.theta.index] = tr.challenge("theta")
    if G:
        mc = comms[pos:pos + G]
        pos += G
        tr.absorb_points("lookup.m", mc)
        for c, pt in zip(lay.m_cols, mc):
            adv_comm[c.index] = pt
    chal[lay.beta.index] = tr.challenge("beta")
    if G:
        cnt = len(lay.h_cols) + len(lay.phi_cols)
        hc = comms[pos:pos + cnt]
        pos += cnt
        tr.absorb_points("lookup.h_phi", hc)
        for c, pt in zip(lay.h_cols + lay.phi_cols, hc):
            adv_comm[c.index] = pt
    chal[lay.beta_p.index] = tr.challenge("beta'")
    chal[lay.gamma.index] = tr.challenge("gamma")
    if lay.z_cols:
        zc = comms[pos:pos + len(lay.z_cols)]
        pos += len(lay.z_cols)
        tr.absorb_points("perm.z", zc)
        for c, pt in zip(lay.z_cols, zc):
            adv_comm[c.index] = pt
    y = chal[lay.y.index] = tr.challenge("y")
    qc = comms[pos:pos + lay.quotient_pieces]
    pos += lay.quotient_pieces
    tr.absorb_points("quotient", qc)
    x = tr.challenge("x")
    tr.absorb_bytes_as_scalars("evaluations", proof.evaluation_bytes(len(proof.evaluations)
                                                                      - len(evaluations)))
    assert pos == len(comms) and len(adv_comm) == lay.num_advice_commitments

    # -- the constraint identity at x -----------------------------------------------------
    dom = _domain(d.k)
    zh = (pow(x, n, P) - 1) % P
    if zh == 0:
        raise VerificationError("the challenge x lies in the domain")
    F, M = len(d.fixed), len(d.permutation)
    values = {}
    for (kind, idx, rot), v in zip(lay.queries, evaluations):
        values[(ADVICE if kind == 0 else FIXED, idx, rot)] = v
    # row 0, the last usable row u and the blinding rows u+1..n-1
    l0, *lx = Fr.to_ints(dom.lagranges_at([0, *range(u, n)], x))
    l_last, l_blind = lx[0], sum(lx[1:]) % P
    virt = [l0, l_last, (1 - l_last - l_blind) % P, x]
    for i, v in enumerate(virt):
        values[(FIXED, F + M + i, 0)] = v
    w = dom.omega
    for rot in lay.instance_rotations:
        pt = x * pow(w, rot % n, P) % P
        zpt = (pow(pt, n, P) - 1) % P
        if zpt == 0:
            raise VerificationError("an instance evaluation point lies in the domain")
        for i, col in enumerate(instances):
            rows = [j for j, v in enumerate(col) if v]
            values[(INSTANCE, i, rot)] = inner_product(Fr.from_ints([col[j] for j in rows]),
                                                       dom.lagranges_at(rows, pt))

    # sum_i y^(N-1-i) C_i(x) = A + sum_s c_s f_s(x) over the linearized columns s
    lin_keys = _linearized_keys(lay)
    try:
        A, coeff = linearization.split(_constraint_program(lay), values, chal, lin_keys, y)
    except KeyError as e:  # pragma: no cover - the layout opens every other query
        raise VerificationError(f"no value for cell or challenge {e}") from None

    # -- openings ------------------------------------------------------------------------
    def commitment_of(kind, idx):
        if kind == 0:
            return adv_comm[idx]
        if idx in committed_comm:
            return committed_comm[idx]
        if idx < F:
            return vk.fixed_commitments[idx]
        return vk.sigma_commitments[idx - F]

    # L = sum_s c_s [f_s] - (x^n - 1) [H] must open to -A at x (linearization.py)
    L = kzg.Combination([commitment_of(code, idx) for code, idx in lay.linearized] + list(qc),
                        linearization.fold_coefficients(lay.linearized, coeff, x, n, len(qc)))
    queries = []
    for rot, group in _rotation_groups(lay):
        cs_ = [commitment_of(*lay.queries[j][:2]) for j in group]
        vs = [evaluations[j] for j in group]
        if rot == 0:
            cs_.append(L)
            vs.append(-A % P)
            if lay.committed:   # the key's blinding basis: P_j must open to L_j(x)
                cs_ += list(vk.blinding_basis)
                vs += lx
        queries.append(kzg.VerifierQuery(x * pow(w, rot % n, P) % P, cs_, vs))
    srs = SRS(g1.generator().reshape(1, 8), vk.g2, "verifying key", False)
    if not kzg.batch_verify(srs, queries, list(proof.openings), tr):
        raise VerificationError("the opening proofs do not verify (a commitment, an evaluation "
                                "or an opening proof is wrong, or some constraint fails)")
