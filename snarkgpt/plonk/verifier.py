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

import numpy as np

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain

from . import kzg, linearization
from .compiled_program import compiled
from .expression import FIXED, INSTANCE, IntProgram
from .keygen import InstanceShapeError, VerifyingKey, check_instance_shapes
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
    """The linearized queries as the program's cell keys (cached on the layout)."""
    keys = getattr(lay, "_linearized_keys", None)
    if keys is None:
        keys = lay._linearized_keys = linearization.program_keys(lay.linearized)
    return keys


# one Domain per size (building one costs two inversions and more than the rest of the
# verifier's use of it)
_domain = functools.lru_cache(maxsize=4)(Domain)


class _Plan:
    """Where each of the verifier's values and points comes from: index arrays that depend
    only on the layout, built once per layout (`_plan`). With them a verification moves its
    few hundred values and points as arrays, with no per-value Python work.

    Points come from one table per proof, [fixed commitments | sigma commitments | the
    proof's commitments], so a query's commitment is a row of it. The constraint program's
    cells come from one pool per proof, [opened evaluations | the 4 virtual columns | the
    instance values | 0], the 0 serving the linearized cells."""

    def __init__(self, lay):
        d = lay.desc
        F, M = len(d.fixed), len(d.permutation)
        # advice-like columns in the order of their commitments in the proof (the transcript's)
        order = [c.index for p in range(_phases(d)) for c in lay.phase_columns(p)]
        order += [c.index for c in lay.m_cols + lay.h_cols + lay.phi_cols + lay.z_cols]
        if len(order) != lay.num_advice_commitments:      # pragma: no cover - layout bug
            raise AssertionError("the layout's advice commitments are not all in the transcript")
        proof_row = {idx: F + M + lay.committed_points + i for i, idx in enumerate(order)}

        def row(kind, idx):             # fixed and sigma columns are numbered 0..F+M-1
            return proof_row[idx] if kind == 0 else idx
        self.groups = []        # per opening point: (rotation, its queries, their table rows)
        for rot in lay.rotations:
            js = [j for j, q in enumerate(lay.queries) if q[2] == rot]
            self.groups.append((rot, np.array(js, np.int64),
                                np.array([row(*lay.queries[j][:2]) for j in js], np.int64)))
        self.linearized_rows = np.array([row(code, idx) for code, idx in lay.linearized],
                                        np.int64)
        # the constraint program's cells, as positions in the pool
        self.program = compiled(_constraint_program(lay))
        pool = {}
        for j, (kind, idx, rot) in enumerate(lay.queries):
            pool[(linearization.kind_of(kind), idx, rot)] = j
        Q = len(lay.queries)
        for i in range(4):
            pool[(FIXED, F + M + i, 0)] = Q + i
        self.instance_keys = [(i, rot) for rot in lay.instance_rotations
                              for i in range(len(d.instance))]
        for t, (i, rot) in enumerate(self.instance_keys):
            pool[(INSTANCE, i, rot)] = Q + 4 + t
        zero = Q + 4 + len(self.instance_keys)
        lin_keys = _linearized_keys(lay)
        try:
            src = [zero if key in lin_keys else pool[key] for key in self.program.cells]
        except KeyError as e:  # pragma: no cover - the layout opens every other query
            raise VerificationError(f"no value for cell {e}") from None
        self.cell_source = np.array(src or [zero], np.int64)
        # each linearized column's cell (-1: no constraint reads it, its coefficient is 0)
        at = {key: i for i, key in enumerate(self.program.cells)}
        self.linearized_cells = np.array(
            [at.get((linearization.kind_of(code), idx, 0), -1) for code, idx in lay.linearized],
            np.int64)


def _plan(lay) -> _Plan:
    plan = getattr(lay, "_verifier_plan", None)
    if plan is None:
        plan = lay._verifier_plan = _Plan(lay)
    return plan


def _phases(d) -> int:
    return max([d.num_phases] + [c.after_phase + 1 for c in d.challenges])


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
    try:
        check_instance_shapes(d, instances)
    except InstanceShapeError as e:
        raise VerificationError(str(e)) from None
    proof = parse_proof(vk, proof_bytes)
    plan = _plan(lay)

    # -- transcript ----------------------------------------------------------------------
    tr = Transcript(PROTOCOL)
    tr.absorb_bytes("vk", vk.digest())
    absorb_instances(tr, instances)
    comms = proof.commitments
    pos = 0
    committed_comm = {}
    first_eval = 0
    if lay.committed:       # committed columns: C_c + D_c, once D is proven well formed
        pos = lay.committed_points
        first_eval = lay.committed_scalars
        try:
            committed_comm = check_representation(vk, tr, comms[:pos],
                                                  proof.evaluations[:first_eval])
        except CommittedColumnError as e:
            raise VerificationError(str(e)) from None
    chal: dict[int, int] = {}
    for p in range(_phases(d)):
        cols = lay.phase_columns(p)
        if cols:
            tr.absorb_points(f"advice.phase{p}", comms[pos:pos + len(cols)])
            pos += len(cols)
        for ch in d.challenges:
            if ch.after_phase == p:
                chal[ch.index] = tr.challenge(f"challenge.{ch.name}")
    G = len(lay.m_cols)
    chal[lay.theta.index] = tr.challenge("theta")
    if G:
        tr.absorb_points("lookup.m", comms[pos:pos + G])
        pos += G
    chal[lay.beta.index] = tr.challenge("beta")
    if G:
        cnt = len(lay.h_cols) + len(lay.phi_cols)
        tr.absorb_points("lookup.h_phi", comms[pos:pos + cnt])
        pos += cnt
    chal[lay.beta_p.index] = tr.challenge("beta'")
    chal[lay.gamma.index] = tr.challenge("gamma")
    if lay.z_cols:
        tr.absorb_points("perm.z", comms[pos:pos + len(lay.z_cols)])
        pos += len(lay.z_cols)
    y = chal[lay.y.index] = tr.challenge("y")
    qc = comms[pos:pos + lay.quotient_pieces]
    pos += lay.quotient_pieces
    tr.absorb_points("quotient", qc)
    x = tr.challenge("x")
    evaluations = proof.evaluation_bytes(first_eval)
    tr.absorb_bytes_as_scalars("evaluations", evaluations)
    assert pos == len(comms)

    # -- the constraint identity at x -----------------------------------------------------
    dom = _domain(d.k)
    zh = (pow(x, n, P) - 1) % P
    if zh == 0:
        raise VerificationError("the challenge x lies in the domain")
    # the opened values, as parsed (canonical, so no reduction is needed)
    opened = Fr.from_canonical(np.frombuffer(evaluations, "<u8").astype(np.uint64).reshape(-1, 4))
    # L_i at each point that needs them, one batch per point: at x, row 0, the last usable
    # row u and the blinding rows u+1..n-1; at x omega^rot, the rows of the instance values
    need = {0: {0, *range(u, n)}}
    for i, rot in plan.instance_keys:
        need.setdefault(rot, set()).update(j for j, v in enumerate(instances[i]) if v)
    lag = {}
    for rot, rows in need.items():
        pt = x * dom.element(rot) % P
        if rot and (pow(pt, n, P) - 1) % P == 0:
            raise VerificationError("an instance evaluation point lies in the domain")
        rows = sorted(rows)
        lag[rot] = dict(zip(rows, Fr.to_ints(dom.lagranges_at(rows, pt))))
    l0, l_last = lag[0][0], lag[0][u]
    lx = [lag[0][i] for i in range(u, n)]
    virt = [l0, l_last, (1 - sum(lx)) % P, x]         # the virtual fixed columns
    public = [sum(v * lag[rot][j] for j, v in enumerate(instances[i]) if v) % P
              for i, rot in plan.instance_keys]

    # sum_i y^(N-1-i) C_i(x) = A + sum_s c_s f_s(x) over the linearized columns s
    pool = np.concatenate([opened, Fr.from_ints(virt + public + [0])])
    A, grad = plan.program.split_array(pool[plan.cell_source], chal, y)
    coeff = grad[np.maximum(plan.linearized_cells, 0)]
    coeff[plan.linearized_cells < 0] = 0

    # -- openings ------------------------------------------------------------------------
    table = np.concatenate([vk.fixed_commitments, vk.sigma_commitments, comms])
    for idx, pt in committed_comm.items():
        table[idx] = pt
    # L = sum_s c_s [f_s] - (x^n - 1) [H] must open to -A at x (linearization.py)
    L = kzg.Combination(np.concatenate([table[plan.linearized_rows], qc]),
                        np.concatenate([coeff, Fr.from_ints(linearization.quotient_coefficients(
                            x, n, len(qc)))]))
    queries = []
    for rot, js, rows in plan.groups:
        cs_, vs = [table[rows]], [opened[js]]
        if rot == 0:
            cs_.append(L)
            vs.append(Fr.from_ints([-A]))
            if lay.committed:   # the key's blinding basis: P_j must open to L_j(x)
                cs_.append(vk.blinding_basis)
                vs.append(Fr.from_ints(lx))
        queries.append(kzg.VerifierQuery(x * dom.element(rot) % P, cs_, np.concatenate(vs)))
    srs = SRS(g1.generator().reshape(1, 8), vk.g2, "verifying key", False)
    if not kzg.batch_verify(srs, queries, list(proof.openings), tr):
        raise VerificationError("the opening proofs do not verify (a commitment, an evaluation "
                                "or an opening proof is wrong, or some constraint fails)")
