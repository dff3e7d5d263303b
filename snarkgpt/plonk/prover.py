"""The prover: witness, commitments, lookup and permutation arguments, quotient, openings.

Transcript order (the verifier replays it, verifier.py):

 1. absorb vk.digest() and every instance value;
 2. per advice phase p: blind rows u..n-1 of the phase-p columns with random values, commit
    each column in the Lagrange basis, absorb, squeeze the challenges "after phase p", run
    the next phase of the witness;
 3. lookups (lookup/): theta; multiplicities m (one per table), absorb; beta; helpers h_k
    (each the sum of a few fractions: one per lookup, one per table) and the running sum
    phi (one), absorb;
 4. permutation (permutation/): beta', gamma; products z_i (one running product per chunk
    of columns, chained end to start), absorb;
 5. vanishing (vanishing/): y; quotient pieces h_i', absorb;
 6. x; absorb the evaluation of every committed column at each rotation it is queried at,
    except the linearized columns at x (linearization.py);
 7. KZG multi-opening (kzg.batch_open, GWC): one proof per distinct point x omega^rot; at x
    it includes the linearization polynomial L = sum_s c_s f_s - (x^n - 1) H.

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

from . import kzg, linearization
from .committed import prover as committed_prover
from .circuit import Assignment, CircuitError
from .expression import ADVICE, FIXED, compile_expressions, evaluate_rows_multi
from .keygen import InstanceShapeError, ProvingKey, check_instance_shapes, commit_values
from .lookup.prover import helper_columns, multiplicities, running_sum
from .lookup.verifier import compress, tagged
from .permutation.prover import grand_products
from .proof import Proof
from .transcript import Transcript
from .vanishing.prover import blind_pieces, fixed_polys, quotient

P = FR_MODULUS
PROTOCOL = b"snarkgpt-plonk-v5"

__all__ = ["prove", "ProverError", "PROTOCOL", "absorb_instances"]


class ProverError(CircuitError, ValueError):
    """The prover refuses: the witness does not satisfy the circuit or does not match the key."""


def absorb_instances(transcript: Transcript, instances):
    transcript.absorb_bytes("instance.columns", len(instances).to_bytes(4, "little"))
    for i, col in enumerate(instances):
        transcript.absorb_scalars(f"instance.{i}", [int(v) for v in col])


class _Clock:
    def __init__(self, stats):
        self.stats = stats if stats is not None else {}
        self.t = time.perf_counter()

    def lap(self, name):
        now = time.perf_counter()
        self.stats[name] = self.stats.get(name, 0.0) + now - self.t
        self.t = now


def _compiled(pk: ProvingKey):
    """(quotient program, lookup-values program) cached on the proving key."""
    cache = getattr(pk, "_programs", None)
    if cache is None:
        lay = pk.layout
        quot = compile_expressions([lay.combined()])
        exprs = []
        G = len(lay.group_lookups)
        for gi, members in enumerate(lay.group_lookups):
            exprs.append(compress(tagged(lay.desc.lookups[members[0]].table, gi, G), lay.theta))
            for i in members:
                lk = lay.desc.lookups[i]
                exprs += [compress(tagged(lk.inputs, gi, G), lay.theta), lk.selector]
        look = compile_expressions(exprs) if exprs else None
        each = compile_expressions([e for _, e in lay.constraints]) if lay.constraints else None
        cache = pk._programs = (quot, look, each)
    return cache


def prove(pk: ProvingKey, circuit, config=None, instances=None, rng=None, stats=None,
          check: bool = True, tamper=None) -> bytes:
    """A proof that ``circuit`` (synthesized against ``pk.cs``) is satisfied with public
    ``instances`` (default: ``circuit.instances()``).

    rng: None (OS randomness for every blinding value: use this) or a numpy Generator (tests);
    stats: a dict filled with the seconds spent in each stage;
    check: refuse an unsatisfied witness (True) or prove it anyway (False, for tests);
    tamper: ``tamper(assignment, phase)`` is called after each phase's witness is written
    and before it is committed (tests use it to break a witness on purpose)."""
    clock = _Clock(stats)
    lay = pk.layout
    d = lay.desc
    srs, dom = pk.srs, pk.domain
    k, n, u = d.k, d.n, d.usable_rows
    cs = pk.cs
    asg = Assignment.first_pass(cs, circuit, config, instances, k=k)
    if asg.n != n or asg.usable_rows != u:
        raise ProverError(f"the assignment has n = {asg.n}, usable rows {asg.usable_rows}; the key "
                          f"was made for n = {n}, usable rows {u}")
    inst_vals = [list(c) for c in asg.instance_values]
    if check:       # a verifier refuses any other shape (keygen.check_instance_shapes)
        try:
            check_instance_shapes(d, [[v % P for v in c] for c in inst_vals])
        except InstanceShapeError as e:
            raise ProverError(str(e)) from None
    clock.lap("witness")

    tr = Transcript(PROTOCOL)
    tr.absorb_bytes("vk", pk.vk.digest())
    absorb_instances(tr, inst_vals)
    chal: dict[int, int] = {}
    comms = []
    pok_z = []
    if lay.committed:       # committed columns: re-randomize, prove it (committed/prover.py)
        deltas, D = committed_prover.rerandomize(pk, rng)
        pts, pok_z = committed_prover.prove_representation(pk, tr, deltas, D, rng)
        comms.append(pts)
        clock.lap("committed columns")
    ms = []
    phases = max([d.num_phases] + [c.after_phase + 1 for c in d.challenges])
    for p in range(phases):
        if p > 0 and asg.phase < p:
            asg.run_phase(p, dict(chal))
            clock.lap("witness")
        if tamper is not None:
            tamper(asg, p)
        cols = lay.phase_columns(p)
        if cols:
            pc = []
            for c in cols:
                asg.advice[c.index][u:] = Fr.random(n - u, rng)
                pc.append(commit_values(srs, k, asg.advice[c.index], u))
            pc = np.stack(pc)
            tr.absorb_points(f"advice.phase{p}", pc)
            comms.append(pc)
        for ch in d.challenges:
            if ch.after_phase == p:
                chal[ch.index] = tr.challenge(f"challenge.{ch.name}")
        clock.lap(f"commit phase {p}")
    if not asg.is_complete:
        asg.complete(chal)
    _check_key(pk, asg)
    asg.fixed = None          # equal to the key's (checked): the prover reads pk.fixed_values
    clock.lap("witness")

    # -- lookups -------------------------------------------------------------------------
    adv, fix, ins = asg.advice, pk.fixed_values, asg.instance
    theta = tr.challenge("theta")
    chal[lay.theta.index] = theta
    groups = []
    G = len(lay.group_lookups)
    if G:
        _, look, _ = _compiled(pk)
        vals = evaluate_rows_multi(look, adv, fix, ins, chal, n)
        pos = 0
        ms = []
        for gi, members in enumerate(lay.group_lookups):
            table = vals[pos]
            pos += 1
            inputs, sels = [], []
            for _ in members:
                inputs.append(vals[pos])
                sels.append(vals[pos + 1])
                pos += 2
            names = [d.lookups[i].name for i in members]
            m = multiplicities(table, inputs, sels, names, u, check)
            m[u:] = Fr.random(n - u, rng)
            ms.append(m)
            groups.append((table, inputs, sels))
        mc = np.stack([commit_values(srs, k, m, u) for m in ms])
        tr.absorb_points("lookup.m", mc)
        comms.append(mc)
    beta = tr.challenge("beta")
    chal[lay.beta.index] = beta
    hs = phis = []
    if G:
        terms = []      # (numerator, denominator without beta, sign) per logUp fraction
        for gi, (table, inputs, sels) in enumerate(groups):
            terms += [(s, f, 1) for f, s in zip(inputs, sels)] + [(ms[gi], table, -1)]
        hs, step = helper_columns(terms, lay.lookup_helpers, beta, n, u, rng)
        # the evaluated tables and inputs are no longer needed (loop names held them too)
        groups = vals = table = inputs = sels = m = terms = None
        phi, end = running_sum(step, n, u, rng)
        if check and end != 0:
            raise ProverError("lookups: the running sum does not return to 0")
        phis = [phi]
        hc = np.stack([commit_values(srs, k, h, u) for h in list(hs) + phis])
        tr.absorb_points("lookup.h_phi", hc)
        comms.append(hc)
    clock.lap("lookups")

    # -- permutation ---------------------------------------------------------------------
    beta_p = tr.challenge("beta'")
    gamma = tr.challenge("gamma")
    chal[lay.beta_p.index] = beta_p
    chal[lay.gamma.index] = gamma
    zs = np.zeros((0, n, 4), dtype=np.uint64)
    if d.permutation:
        values = [(adv if c.kind == ADVICE else fix if c.kind == FIXED else ins)[c.index]
                  for c in d.permutation]
        zs, last = grand_products(values, pk.sigma_values, pk.virtual_values[3], lay.chunk, beta_p, gamma, u, rng)
        if check and last != 1:
            raise ProverError("the permutation product does not end at 1: some copy constraint "
                              "fails (run MockProver(cs, assignment).report())")
        zc = np.stack([commit_values(srs, k, z, u) for z in zs])
        tr.absorb_points("perm.z", zc)
        comms.append(zc)
    clock.lap("permutation")

    # -- quotient ------------------------------------------------------------------------
    y = tr.challenge("y")
    chal[lay.y.index] = y
    ext_values = list(ms if G else []) + list(hs) + phis + list(zs)
    adv_coeffs = np.empty((lay.num_advice_commitments, n, 4), dtype=np.uint64)
    A = len(d.advice)
    dom.intt_many(adv[:A], out=adv_coeffs[:A])
    if ext_values:
        dom.intt_many(ext_values, out=adv_coeffs[A:])
    # from here on only coefficients are used: free the values before the quotient, the
    # stage with the largest working set (a failing witness is re-evaluated from them)
    asg.advice = adv = ext_values = ms = hs = phis = zs = step = values = phi = None
    fix_coeffs, fix_cosets, _ = fixed_polys(pk)
    quot, _, each = _compiled(pk)
    ins_coeffs = dom.intt_many(ins)
    clock.lap("quotient")
    h = quotient(quot, adv_coeffs, fix_coeffs, ins_coeffs, chal, dom, lay.quotient_pieces,
                 fixed_on_cosets=fix_cosets)
    pieces = blind_pieces(h, n, lay.quotient_pieces, rng)
    qc = np.stack([kzg.commit(srs, p) for p in pieces])
    tr.absorb_points("quotient", qc)
    comms.append(qc)
    clock.lap("quotient")

    # -- evaluations ---------------------------------------------------------------------
    x = tr.challenge("x")
    w = dom.omega

    def coeffs_of(kind, idx):
        if kind == 0:
            return adv_coeffs[idx]
        return fix_coeffs[idx]

    evals = list(pok_z)
    for kind, idx, rot in lay.queries:
        evals.append(poly.evaluate(coeffs_of(kind, idx), x * pow(w, rot % n, P) % P))
    tr.absorb_scalars("evaluations", evals[len(pok_z):])
    cells = _cells_at(pk, x, dict(zip(lay.queries, evals[len(pok_z):])), coeffs_of, ins_coeffs,
                      linearized=check)
    if check and not _identity_holds_at(pk, x, cells, chal, pieces):
        # name the failing constraint and row (a full pass over the domain), then refuse
        _check_rows(pk, each, dom.ntt_many(adv_coeffs), ins, chal)
        raise ProverError("the constraints do not vanish on the domain (the quotient identity "
                          "fails at x)")
    clock.lap("evaluations")

    # -- openings ------------------------------------------------------------------------
    # L = sum_s c_s f_s - (x^n - 1) H over the linearized columns s (linearization.py)
    from .verifier import _constraint_program, _linearized_keys
    _, coeff = linearization.split(_constraint_program(lay), cells, chal, _linearized_keys(lay),
                                   chal[lay.y.index])
    L = kzg.Combination([coeffs_of(code, idx) for code, idx in lay.linearized] + list(pieces),
                        linearization.fold_coefficients(lay.linearized, coeff, x, n, len(pieces)))
    queries = []
    for rot in lay.rotations:
        polys = [coeffs_of(kind, idx) for kind, idx, r in lay.queries if r == rot]
        if rot == 0:
            polys.append(L)
            if lay.committed:   # the key's blinding basis P_j opened to L_j(x)
                polys += committed_prover.basis_coeffs(pk)
        queries.append(kzg.OpeningQuery(x * pow(w, rot % n, P) % P, polys))
    proofs = kzg.batch_open(srs, queries, tr)
    clock.lap("openings")
    proof = Proof(np.concatenate(comms), evals, np.stack(proofs))
    return proof.to_bytes()


def _check_key(pk: ProvingKey, asg: Assignment):
    """The assignment's fixed columns and copy constraints must be the key's."""
    from .keygen import copies_digest
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
    from .verifier import _constraint_program
    lay = pk.layout
    n = lay.desc.n
    w = pk.domain.omega
    lin = set(lay.linearized)
    cells = {}
    for key in _constraint_program(lay).cells:
        kind_name, idx, rot = key
        kind = {ADVICE: 0, FIXED: 1}.get(kind_name)
        if kind is not None and (kind, idx, rot) in evals:
            cells[key] = evals[(kind, idx, rot)]
            continue
        if not linearized and rot == 0 and (kind, idx) in lin:
            continue
        c = ins_coeffs[idx] if kind is None else coeffs_of(kind, idx)
        cells[key] = poly.evaluate(c, x * pow(w, rot % n, P) % P)
    return cells


def _identity_holds_at(pk: ProvingKey, x: int, cells: dict, chal, pieces) -> bool:
    """The verifier's identity C(x) = h(x) (x^n - 1), from the prover's own polynomials.

    This is the honest prover's check that its witness satisfies every constraint: if some
    constraint fails on some row, C is not a multiple of Z_H, and C(x) differs from
    h(x) Z_H(x) except with probability deg C / r over the challenges. It costs a few
    polynomial evaluations (the virtual, instance and linearized columns) instead of a pass
    of every constraint over every row, which runs only to name a failure."""
    from .verifier import _constraint_program
    from .vanishing.verifier import expected_quotient_value
    lay = pk.layout
    n = lay.desc.n
    cvals = _constraint_program(lay).run(cells, chal)
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
