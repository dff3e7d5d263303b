"""The verifier: parse, replay the transcript, check the constraint identity at x, check the
KZG openings with one pairing equation. Its rounds are the prover's (protocol.py), played by
reading each round's message from the proof.

Work is O(size of the circuit description + number of instance values), never O(n):
l_0(x), l_last(x), l_active(x) = 1 - l_last(x) - sum_(i > u) L_i(x) and the instance
polynomials come from the closed form L_i(x) = omega^i (x^n - 1) / (n (x - omega^i)).

Steps:
 0. check the public inputs' shape (description.check_instance_shapes);
 1. parse the proof (proof.py; sizes fixed by the verifying key);
 2. replay the transcript (`protocol.run`): commitments, challenges, evaluations; with
    committed columns, check their representation proof (committed/verifier.py);
 3. evaluate every constraint identity (layout.py: gates, lookup/constraints.py,
    permutation/constraints.py) at x from the opened values and combine them with y, as
    A + sum_s c_s f_s(x) over the linearized columns s, whose values the proof omits
    (linearization.py);
 4. batch-verify all openings (kzg.batch_verify), including the linearization commitment
    L = sum_s c_s [f_s] - (x^n - 1) [H] (H the recombined quotient) opened at x to -A:
    that is the quotient identity C(x) = h(x)(x^n - 1).
"""
from __future__ import annotations

import functools

import numpy as np

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain

from . import kzg, linearization, protocol
from .committed.verifier import CommittedColumnError, check_representation
from .compiled_program import compiled
from .description import InstanceShapeError, check_instance_shapes
from .expression import ADVICE, FIXED, INSTANCE
from .keygen import VerifyingKey
from .proof import Proof, ProofFormatError

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
        # advice-like columns in the order of their commitments in the proof (the
        # transcript's): the link columns, [the committed columns' round], the phases, the
        # arguments' columns
        links = [c.index for c in lay.links]
        order = [c.index for p in range(lay.num_phases) for c in lay.phase_columns(p)]
        order += [c.index for c in lay.m_cols + lay.h_cols + lay.phi_cols + lay.z_cols]
        if len(links) + len(order) != lay.num_advice_commitments:   # pragma: no cover - layout bug
            raise AssertionError("the layout's advice commitments are not all in the transcript")
        proof_row = {idx: F + M + i for i, idx in enumerate(links)}
        proof_row.update({idx: F + M + len(links) + lay.committed_points + i
                          for i, idx in enumerate(order)})

        def row(kind, idx):             # fixed and sigma columns are numbered 0..F+M-1
            return proof_row[idx] if kind == ADVICE else idx
        self.groups = []        # per opening point: (rotation, its queries, their table rows)
        for rot in lay.rotations:
            js = [j for j, q in enumerate(lay.queries) if q[2] == rot]
            self.groups.append((rot, np.array(js, np.int64),
                                np.array([row(*lay.queries[j][:2]) for j in js], np.int64)))
        self.linearized_rows = np.array([row(kind, idx) for kind, idx in lay.linearized],
                                        np.int64)
        # the constraint program's cells, as positions in the pool
        self.program = compiled(lay.program)
        pool = {}
        for j, key in enumerate(lay.queries):
            pool[key] = j
        Q = len(lay.queries)
        for i in range(4):
            pool[(FIXED, F + M + i, 0)] = Q + i
        self.instance_keys = [(i, rot) for rot in lay.instance_rotations
                              for i in range(len(d.instance))]
        for t, (i, rot) in enumerate(self.instance_keys):
            pool[(INSTANCE, i, rot)] = Q + 4 + t
        zero = Q + 4 + len(self.instance_keys)
        lin_keys = lay.linearized_keys
        try:
            src = [zero if key in lin_keys else pool[key] for key in self.program.cells]
        except KeyError as e:  # pragma: no cover - the layout opens every other query
            raise VerificationError(f"no value for cell {e}") from None
        self.cell_source = np.array(src or [zero], np.int64)
        # each linearized column's cell (-1: no constraint reads it, its coefficient is 0)
        at = {key: i for i, key in enumerate(self.program.cells)}
        self.linearized_cells = np.array(
            [at.get((kind, idx, 0), -1) for kind, idx in lay.linearized],
            np.int64)


# one plan per layout (a verifier checks many proofs against one key)
_plan = functools.lru_cache(maxsize=8)(_Plan)


class _Messages:
    """The verifier's side of each round: the round's message, read in order from the proof
    (points from its commitments, scalars from its evaluations), kept by round name."""

    def __init__(self, proof: Proof):
        self.proof = proof
        self.points = 0         # commitments read so far
        self.scalars = 0        # evaluations read so far
        self.sent = {}

    def play(self, rnd, chal, values):
        if rnd.scalars:
            data = self.proof.evaluation_bytes(self.scalars)[:32 * rnd.count]
            self.scalars += rnd.count
        else:
            data = self.proof.commitments[self.points:self.points + rnd.count]
            self.points += rnd.count
        self.sent[rnd.name] = data
        return data


def verify_or_raise(vk: VerifyingKey, instances, proof_bytes: bytes | Proof,
                    defer_pairing: bool = False):
    """Raise `VerificationError` (or `ProofFormatError`) with the reason a proof is rejected.
    ``proof_bytes``: the proof, or what `parse_proof` made of it (a caller that also reads
    the proof's link commitments parses it once).

    With ``defer_pairing`` every check but the final pairing equation is made, and the
    equation is returned as `kzg.PairingTerms` for `kzg.check_pairings`, which folds the
    terms of a chain's segment proofs into one equation (one MSM per side); the proof is
    valid only if that check passes."""
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
    proof = proof_bytes if isinstance(proof_bytes, Proof) else parse_proof(vk, proof_bytes)
    plan = _plan(lay)
    tr = protocol.start(vk, instances)
    msgs = _Messages(proof)
    chal, values = protocol.run(lay, tr, msgs.play)
    x, y = values["x"], chal[lay.y.index]
    committed_comm = {}
    if lay.committed:       # committed columns: C_c + D_c, once D is proven well formed
        try:
            committed_comm = check_representation(vk, msgs.sent["committed.D"],
                                                  msgs.sent["committed.pok.A"],
                                                  proof.evaluations[:lay.committed_scalars],
                                                  values["committed.alpha"], values["committed.e"])
        except CommittedColumnError as e:
            raise VerificationError(str(e)) from None
    comms, qc = proof.commitments, msgs.sent["quotient"]
    evaluations = msgs.sent["evaluations"]

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
    pair = kzg.pairing_inputs(vk.kzg, queries, list(proof.openings), tr, terms=defer_pairing)
    if pair is not None and defer_pairing:
        return pair
    if pair is None or not kzg.check_pairings([pair], vk.kzg):
        raise VerificationError("the opening proofs do not verify (a commitment, an evaluation "
                                "or an opening proof is wrong, or some constraint fails)")
    return None
