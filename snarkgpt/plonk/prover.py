"""The prover: the rounds of docs/protocol.md, in the order `protocol.run` plays them.

`prove(pk, circuit)` synthesizes the witness (phase 0), then walks the transcript schedule
(protocol.py) with `_Rounds.play`: each round computes its message, the argument it belongs
to writing its own part of the proof (committed/, lookup/, permutation/, vanishing/
prover.py), and returns what it sends; `protocol.run` absorbs it and squeezes the next
challenges. After the schedule, the KZG multi-opening (kzg.batch_open, GWC): one proof per
distinct point x omega^rot; at x it includes the linearization polynomial
L = sum_s c_s f_s - (x^n - 1) H (linearization.py).

Rounds hand later rounds only what those need: the advice values live until the quotient
round turns every column into coefficients; the lookups' evaluated tables until the helper
round.

`prove(...)` returns the proof bytes; ``stats`` (a dict) receives the time of each stage.
With ``check=True`` (default) the prover refuses an unsatisfied witness (lookup input not in
its table, copy constraint broken, gate not vanishing); ``check=False`` proves it anyway,
for tests that show the verifier rejects such proofs.
"""
from __future__ import annotations

import time

import numpy as np

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field import poly

from . import kzg, linearization, protocol
from .circuit import Assignment, CircuitError
from .committed import prover as committed_prover
from .description import InstanceShapeError, check_instance_shapes
from .expression import ADVICE, INSTANCE
from .row_kernels import evaluate_rows_multi
from .keygen import ProvingKey, copies_digest
from .kzg import commit_values
from .links import LinkSeedError, link_blinding
from .lookup.prover import RunningSumError, commit_helpers, commit_multiplicities
from .permutation.prover import PermutationError, commit_products
from .proof import Proof
from .vanishing.prover import commit_quotient, fixed_polys
from .vanishing.verifier import expected_quotient_value

P = FR_MODULUS

__all__ = ["prove", "ProverError"]


class ProverError(CircuitError, ValueError):
    """The prover refuses: the witness does not satisfy the circuit or does not match the key."""


class _Clock:
    def __init__(self, stats):
        self.stats = stats if stats is not None else {}
        self.t = time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.stats[name] = self.stats.get(name, 0.0) + now - self.t
        self.t = now


def prove(pk: ProvingKey, circuit, config=None, instances=None, rng=None, stats=None,
          check: bool = True, tamper=None, link_seed: bytes | None = None) -> bytes:
    """A proof that ``circuit`` (synthesized against ``pk.cs``) is satisfied with public
    ``instances`` (default: ``circuit.instances()``).

    rng: None (OS randomness for every blinding value: use this) or a numpy Generator (tests);
    stats: a dict filled with the seconds spent in each stage;
    check: refuse an unsatisfied witness (True) or prove it anyway (False, for tests);
    tamper: ``tamper(assignment, phase)`` is called after each phase's witness is written
    and before it is committed (tests use it to break a witness on purpose);
    link_seed: for a circuit with link columns (a segment of a chain), the generation's
    secret seed (`links.SEED_BYTES` bytes) that every segment of the chain shares: it
    derives the link columns' blinding rows (links.py)."""
    if pk.layout.links and link_seed is None:
        raise ProverError("this circuit has link columns (a segment of a chain): proving it needs "
                          "the generation's link seed")
    clock = _Clock(stats)
    asg = _witness(pk, circuit, config, instances, check)
    clock.lap("witness")
    rounds = _Rounds(pk, asg, rng, check, tamper, clock, link_seed)
    tr = protocol.start(pk.vk, rounds.instance_values)
    try:
        chal, values = protocol.run(pk.layout, tr, rounds.play)
    except (RunningSumError, PermutationError, LinkSeedError) as e:
        raise ProverError(str(e)) from None
    openings = rounds.open(tr, chal, values["x"])
    return Proof(np.concatenate(rounds.commitments), rounds.scalars, openings).to_bytes()


def _witness(pk: ProvingKey, circuit, config, instances, check: bool) -> Assignment:
    """Phase 0 of the witness, for the key's domain; the public inputs must have the key's
    shape (a verifier refuses any other: description.check_instance_shapes)."""
    d = pk.layout.desc
    asg = Assignment.first_pass(pk.cs, circuit, config, instances, k=d.k)
    if asg.n != d.n or asg.usable_rows != d.usable_rows:
        raise ProverError(f"the assignment has n = {asg.n}, usable rows {asg.usable_rows}; the key "
                          f"was made for n = {d.n}, usable rows {d.usable_rows}")
    if check:
        try:
            check_instance_shapes(d, [[v % P for v in c] for c in asg.instance_values])
        except InstanceShapeError as e:
            raise ProverError(str(e)) from None
    return asg


class _Rounds:
    """The prover's side of each round (`play` dispatches by the round's name). Between
    rounds it holds only what a later round reads: the advice values (until the quotient
    round), the lookups' multiplicities (until the helper round), the extra columns m, h,
    phi, z (until the quotient round), then every column's coefficients (until the
    openings)."""

    def __init__(self, pk: ProvingKey, asg: Assignment, rng, check: bool, tamper, clock: _Clock,
                 link_seed: bytes | None = None):
        self.pk, self.asg, self.rng, self.check, self.tamper, self.clock = pk, asg, rng, check, tamper, clock
        self.link_seed = link_seed
        self.instance_values = [list(c) for c in asg.instance_values]
        self.commitments = []       # every round's points, in order (the proof's commitments)
        self.scalars = []           # every round's scalars, in order (the proof's evaluations)
        self.extra = []             # m, h, phi, z values, in the layout's advice order
        self.handlers = {"links": self.links, "committed.D": self.committed_offsets, "committed.pok.A": self.committed_a,
                         "committed.pok.z": self.committed_z, "lookup.m": self.lookup_m,
                         "lookup.h_phi": self.lookup_h_phi, "perm.z": self.perm_z,
                         "quotient": self.quotient, "evaluations": self.evaluations}

    def play(self, rnd, chal, values):
        handler = (self.advice if rnd.name.startswith("advice.phase") else self.handlers[rnd.name])
        sent = handler(rnd, chal, values)
        (self.scalars.extend if rnd.scalars else self.commitments.append)(sent)
        return sent

    # -- link columns (links.py) ---------------------------------------------------------------
    def links(self, rnd, chal, values):
        """The link columns (phase 0, already assigned), blinded from the link seed so that
        the neighbouring segment's proof commits the same point."""
        pk, asg = self.pk, self.asg
        d = pk.layout.desc
        n, u = d.n, d.usable_rows
        if self.tamper is not None:
            self.tamper(asg, "links")
        points = []
        for c in pk.layout.links:
            asg.advice[c.index][u:] = link_blinding(self.link_seed, c.name, n - u)
            points.append(commit_values(pk.srs, d.k, asg.advice[c.index], u))
        self.clock.lap("commit links")
        return np.stack(points)

    # -- committed columns (committed/prover.py) ----------------------------------------------
    def committed_offsets(self, rnd, chal, values):
        self.deltas, D = committed_prover.rerandomize(self.pk, self.rng)
        return D

    def committed_a(self, rnd, chal, values):
        self.pok = committed_prover.RepresentationProof(self.pk, self.deltas, values["committed.alpha"], self.rng)
        del self.deltas
        return self.pok.A.reshape(1, 8)

    def committed_z(self, rnd, chal, values):
        z = self.pok.responses(values["committed.e"])
        del self.pok
        self.clock.lap("committed columns")
        return z

    # -- advice, phase by phase --------------------------------------------------------------
    def advice(self, rnd, chal, values):
        """Run phase p of the witness (its challenges are in), blind rows u..n-1 of the
        phase-p columns, commit each in the Lagrange basis."""
        pk, asg = self.pk, self.asg
        d = pk.layout.desc
        n, u, k = d.n, d.usable_rows, d.k
        p = int(rnd.name[len("advice.phase"):])
        if p > 0 and asg.phase < p:
            asg.run_phase(p, dict(chal))
            self.clock.lap("witness")
        if self.tamper is not None:
            self.tamper(asg, p)
        points = []
        for c in pk.layout.phase_columns(p):
            asg.advice[c.index][u:] = Fr.random(n - u, self.rng)
            points.append(commit_values(pk.srs, k, asg.advice[c.index], u))
        if p == pk.layout.num_phases - 1:
            self._complete(chal)
        self.clock.lap(f"commit phase {p}")
        return np.stack(points) if points else np.zeros((0, 8), dtype=np.uint64)

    def _complete(self, chal):
        """After the last phase: the witness complete, its fixed columns and copies the key's."""
        asg = self.asg
        if not asg.is_complete:
            asg.complete(dict(chal))
        _check_key(self.pk, asg)
        asg.fixed = None          # equal to the key's (checked): the prover reads pk.fixed_values

    # -- lookups (lookup/prover.py) -------------------------------------------------------------
    def lookup_m(self, rnd, chal, values):
        points, self.mult = commit_multiplicities(self.pk, self.asg.advice, self.asg.instance,
                                                  chal, self.rng, self.check)
        self.extra += self.mult.m
        return points

    def lookup_h_phi(self, rnd, chal, values):
        points, cols = commit_helpers(self.pk, self.mult, values["beta"], self.rng, self.check)
        del self.mult
        self.extra += cols
        self.clock.lap("lookups")
        return points

    # -- permutation (permutation/prover.py) ----------------------------------------------------
    def perm_z(self, rnd, chal, values):
        points, zs = commit_products(self.pk, self.asg.advice, self.asg.instance, values["beta'"],
                                     values["gamma"], self.rng, self.check)
        self.extra += list(zs)
        self.clock.lap("permutation")
        return points

    # -- vanishing (vanishing/prover.py) --------------------------------------------------------
    def quotient(self, rnd, chal, values):
        """Every committed column to coefficients (the values are freed: the quotient is the
        stage with the largest working set), then h = C / Z_H in blinded pieces."""
        pk, lay = self.pk, self.pk.layout
        d = lay.desc
        A = len(d.advice)
        self.coeffs = np.empty((lay.num_advice_commitments, d.n, 4), dtype=np.uint64)
        pk.domain.intt_many(self.asg.advice[:A], out=self.coeffs[:A])
        if self.extra:
            pk.domain.intt_many(self.extra, out=self.coeffs[A:])
        self.ins_values = self.asg.instance
        self.asg.advice = None
        del self.extra
        fixed = fixed_polys(pk)
        self.fix_coeffs = fixed[0]
        self.ins_coeffs = pk.domain.intt_many(self.ins_values)
        self.clock.lap("quotient")
        points, self.pieces = commit_quotient(pk, self.coeffs, fixed, self.ins_coeffs, chal,
                                              self.rng)
        self.clock.lap("quotient")
        return points

    # -- evaluations ----------------------------------------------------------------------------
    def coeffs_of(self, kind, idx):
        return self.coeffs[idx] if kind == ADVICE else self.fix_coeffs[idx]

    def evaluations(self, rnd, chal, values):
        """Every opened query at x omega^rot; with ``check``, the quotient identity at x (the
        honest prover's test of its own witness)."""
        pk, lay = self.pk, self.pk.layout
        n = lay.desc.n
        x, w = values["x"], pk.domain.omega
        evals = [poly.evaluate(self.coeffs_of(kind, idx), x * pow(w, rot % n, P) % P)
                 for kind, idx, rot in lay.queries]
        self.cells = _cells_at(pk, x, dict(zip(lay.queries, evals)), self.coeffs_of,
                               self.ins_coeffs, linearized=self.check)
        if self.check and not _identity_holds_at(pk, x, self.cells, chal, self.pieces):
            # name the failing constraint and row (a full pass over the domain), then refuse
            _check_rows(pk, lay.row_programs[2], pk.domain.ntt_many(self.coeffs),
                        self.ins_values, chal)
            raise ProverError("the constraints do not vanish on the domain (the quotient identity "
                              "fails at x)")
        self.clock.lap("evaluations")
        return evals

    # -- openings (kzg.py) ----------------------------------------------------------------------
    def open(self, tr, chal, x) -> np.ndarray:
        """The batch opening: per rotation the opened columns at x omega^rot; at x also the
        linearization polynomial L = sum_s c_s f_s - (x^n - 1) H and, with committed columns,
        the key's blinding basis."""
        pk, lay = self.pk, self.pk.layout
        n, w = lay.desc.n, pk.domain.omega
        _, coeff = linearization.split(lay.program, self.cells, chal, lay.linearized_keys,
                                       chal[lay.y.index])
        L = kzg.Combination([self.coeffs_of(code, idx) for code, idx in lay.linearized]
                            + list(self.pieces),
                            linearization.fold_coefficients(lay.linearized, coeff, x, n,
                                                            len(self.pieces)))
        queries = []
        for rot in lay.rotations:
            polys = [self.coeffs_of(kind, idx) for kind, idx, r in lay.queries if r == rot]
            if rot == 0:
                polys.append(L)
                if lay.committed:   # the key's blinding basis P_j opened to L_j(x)
                    polys += committed_prover.basis_coeffs(pk)
            queries.append(kzg.OpeningQuery(x * pow(w, rot % n, P) % P, polys))
        proofs = kzg.batch_open(pk.srs, queries, tr)
        self.clock.lap("openings")
        return np.stack(proofs)


def _check_key(pk: ProvingKey, asg: Assignment):
    """The assignment's fixed columns and copy constraints must be the key's."""
    if asg.fixed.shape != pk.fixed_values.shape:
        raise ProverError(f"the assignment has {asg.fixed.shape[0]} fixed columns of "
                          f"{asg.fixed.shape[1]} rows; the key {pk.fixed_values.shape[:2]}")
    mask = (asg.fixed != pk.fixed_values).any(axis=2)
    if pk.committed:        # their rows >= u are the prover's blinding
        mask[pk.committed, pk.layout.desc.usable_rows:] = False
    diff = np.flatnonzero(mask.any(axis=1))
    if diff.size:
        c = int(diff[0])
        row = int(np.flatnonzero(mask[c])[0])
        if c in pk.committed:
            raise ProverError(f"committed column {pk.layout.desc.fixed[c].name!r} differs from the "
                              f"values committed in the key at row {row}")
        raise ProverError(f"fixed column {pk.layout.desc.fixed[c].name!r} differs from the proving "
                          f"key at row {row}: fixed columns must not depend on the witness "
                          f"(or the key was made for another circuit)")
    if copies_digest(asg.copies) != pk.copies_digest:
        raise ProverError("the copy constraints differ from the proving key's (they must not "
                          "depend on the witness, or the key was made for another circuit)")


def _cells_at(pk: ProvingKey, x: int, evals: dict, coeffs_of, ins_coeffs,
              linearized: bool) -> dict:
    """Every cell the constraint program reads, at x: the opened evaluations, the virtual
    and instance columns, and (with ``linearized``) the linearized columns' values, which
    only the prover's own check needs."""
    lay = pk.layout
    n = lay.desc.n
    w = pk.domain.omega
    lin = set(lay.linearized)
    cells = {}
    for key in lay.program.cells:
        kind, idx, rot = key
        if key in evals:
            cells[key] = evals[key]
            continue
        if not linearized and rot == 0 and (kind, idx) in lin:
            continue
        c = ins_coeffs[idx] if kind == INSTANCE else coeffs_of(kind, idx)
        cells[key] = poly.evaluate(c, x * pow(w, rot % n, P) % P)
    return cells


def _identity_holds_at(pk: ProvingKey, x: int, cells: dict, chal, pieces) -> bool:
    """The verifier's identity C(x) = h(x) (x^n - 1), from the prover's own polynomials.

    This is the honest prover's check that its witness satisfies every constraint: if some
    constraint fails on some row, C is not a multiple of Z_H, and C(x) differs from
    h(x) Z_H(x) except with probability deg C / r over the challenges. It costs a few
    polynomial evaluations (the virtual, instance and linearized columns) instead of a pass
    of every constraint over every row, which runs only to name a failure."""
    lay = pk.layout
    n = lay.desc.n
    cvals = lay.program.run(cells, chal)
    hx = expected_quotient_value(cvals, chal[lay.y.index], x, n)
    xn = pow(x, n, P)
    h_at_x = sum(pow(xn, i, P) * poly.evaluate(p, x) for i, p in enumerate(pieces)) % P
    return hx is not None and h_at_x == hx


def _check_rows(pk: ProvingKey, program, adv_values, ins, chal):
    """Every constraint on every row of the domain (the honest prover's last check)."""
    lay = pk.layout
    fix = np.concatenate([pk.fixed_values, pk.sigma_values, pk.virtual_values])
    n = lay.desc.n
    out = evaluate_rows_multi(program, adv_values, fix, ins, chal, n)
    bad = np.flatnonzero(out.any(axis=2).any(axis=1))
    if bad.size:
        i = int(bad[0])
        row = int(np.flatnonzero(out[i].any(axis=1))[0])
        raise ProverError(f"constraint {lay.constraints[i][0]!r} fails on row {row} "
                          f"(run MockProver(cs, assignment).report() for the cells)")
