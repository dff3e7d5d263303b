"""The layout: every constraint identity of a proof, over the extended columns.

`Layout(desc)` turns a `CircuitDescription` into what both prover and verifier evaluate:
the circuit's gates (times l_active where needed), the lookup argument's identities
(lookup/constraints.py) and the permutation argument's (permutation/constraints.py), over
the circuit's columns extended with the arguments' own (m, h, phi, z), the sigma columns and
the virtual columns l_0, l_last, l_active, X. It also fixes which queries the proof opens
and which are linearized (linearization.py), and holds the constraint program both sides run
(`program`, built once per layout).
"""
from __future__ import annotations

from functools import cached_property

from . import linearization
from .committed.keygen import committed_indices
from .description import CircuitDescription
from .expression import (ADVICE, FIXED, INSTANCE, LINK, Challenge, Column, Constant, Expression,
                         QueryKey)
from .int_program import IntProgram
from .row_program import compile_expressions
from .lookup.constraints import compress, lookup_constraints, pack_fractions, tagged
from .lookup.constraints import lookup_groups as fraction_groups
from .permutation.constraints import permutation_constraints

__all__ = ["Layout", "lookup_groups"]


def lookup_groups(desc: CircuitDescription) -> list:
    """[(table expressions, [(lookup name, inputs, selector), ...])] per lookup group, in
    proof order (the form `lookup.verifier` takes)."""
    return fraction_groups([lk for lk in desc.lookups if lk.group == gi]
                           for gi in range(desc.num_groups()))


# ---------------------------------------------------------------------------------------
# Layout: every constraint identity over the extended columns
# ---------------------------------------------------------------------------------------
class Layout:
    """The proof's columns and constraints, derived from a `CircuitDescription`.

    Extended advice columns (committed by the prover): the circuit's advice columns, then
    per lookup group m_g, the lookup helpers h_k (each sums a few logUp fractions,
    `lookup_helpers`), the lookups' running sum phi (one, when there are lookups), then the
    permutation's z_i.
    Extended fixed columns: the circuit's fixed columns, the sigma_j (committed in the key),
    then l_0, l_last, l_active, X (never committed: the verifier computes them at x).
    Extra challenges: theta, beta (lookups), beta', gamma (permutation), y (quotient)."""

    def __init__(self, desc: CircuitDescription):
        self.desc = d = desc
        A, F, M = len(d.advice), len(d.fixed), len(d.permutation)
        self.u = d.usable_rows
        G = d.num_groups()
        nxt = iter(range(A, 1 << 30))
        groups = lookup_groups(d)
        self.group_lookups = [[i for i, lk in enumerate(d.lookups) if lk.group == gi] for gi in range(G)]
        # the logUp fractions (per group: its lookups, then its table) packed into helpers
        self.lookup_helpers = pack_fractions(groups, max(3, d.degree))
        self.m_cols = [Column(ADVICE, next(nxt), f"lookup.m_{g}") for g in range(G)]
        self.h_cols = [Column(ADVICE, next(nxt), f"lookup.h_{i}") for i in range(len(self.lookup_helpers))]
        self.phi_cols = [Column(ADVICE, next(nxt), "lookup.phi")] if G else []
        self.chunk = max(1, d.degree - 2)
        s = -(-M // self.chunk) if M else 0
        self.z_cols = [Column(ADVICE, next(nxt), f"perm.z_{i}") for i in range(s)]
        self.extra_advice = self.m_cols + self.h_cols + self.phi_cols + self.z_cols
        self.sigma_cols = [Column(FIXED, F + j, f"perm.sigma_{j}") for j in range(M)]
        names = ["l_0", "l_last", "l_active", "X"]
        self.virtual = [Column(FIXED, F + M + i, n) for i, n in enumerate(names)]
        self.l0, self.llast, self.lactive, self.X = self.virtual
        C = len(d.challenges)
        last = d.num_phases
        self.theta, self.beta, self.beta_p, self.gamma, self.y = [
            Challenge(C + i, last, n) for i, n in enumerate(["theta", "beta", "beta'", "gamma", "y"])]
        # constraints
        cons = []
        for g in d.gates:
            e = g.expression * self.lactive.cur() if g.wrap_active else g.expression
            cons.append((f"gate {g.gate}: {g.name}", e))
        cons += lookup_constraints(groups, self.m_cols, self.h_cols, self.lookup_helpers,
                                   self.phi_cols[0] if G else None, self.l0, self.llast,
                                   self.lactive, self.theta, self.beta)
        cons += permutation_constraints(d.permutation, self.sigma_cols, self.z_cols, self.chunk,
                                        self.l0, self.llast, self.lactive, self.X,
                                        self.beta_p, self.gamma, d.usable_rows - d.n)
        self.constraints = cons
        self.degree = max([3] + [e.degree() for _, e in cons])
        self.quotient_pieces = self.degree - 1
        # opened queries: committed columns at each rotation they are read at, except the
        # linearized ones (linearization.py): the verifier folds their commitments instead
        virtual_idx = {c.index for c in self.virtual}
        # the private (weight) columns are always linearized, never opened
        private = linearization.private_columns(d.fixed)
        self.linearized = linearization.choose([e for _, e in cons],
                                               excluded={(FIXED, i) for i in virtual_idx},
                                               required=set(private),
                                               names=[n for n, _ in cons])
        lin = set(self.linearized)
        qs = set()
        for _, e in cons:
            for q in e.queries():
                c = q.column
                if c.kind == ADVICE or (c.kind == FIXED and c.index not in virtual_idx):
                    key = QueryKey(c.kind, c.index, q.rotation)
                    if not (q.rotation == 0 and key[:2] in lin):
                        qs.add(key)
        self.queries = sorted(qs)
        opened = [private[q[:2]] for q in self.queries if q[:2] in private]
        if opened:                      # defence in depth: choose() guarantees it
            raise linearization.LinearizationError(f"weight columns {opened} would be opened")
        self.rotations = sorted({q[2] for q in self.queries} | {0})
        self.instance_rotations = sorted({q.rotation for _, e in cons for q in e.queries()
                                          if q.column.kind == INSTANCE})
        self.num_advice_commitments = A + len(self.extra_advice)
        # committed columns (committed/): per proof C re-randomizations D_c, one point A and
        # B = n - u scalars z of the proof of knowledge; none without committed columns
        self.committed = committed_indices(d.fixed)
        self.committed_points = len(self.committed) + 1 if self.committed else 0
        self.committed_scalars = d.n - d.usable_rows if self.committed else 0

    def combined(self) -> Expression:
        """sum_i y^(N-1-i) C_i (Horner), the numerator of the quotient."""
        y = self.y
        acc = None
        for _, e in self.constraints:
            acc = e if acc is None else acc * y + e
        return acc if acc is not None else Constant(0)

    def commitment_count(self) -> int:
        return self.committed_points + self.num_advice_commitments + self.quotient_pieces

    def evaluation_count(self) -> int:
        """Scalars in the proof: the representation proof's z (committed columns), then the
        opened evaluations."""
        return self.committed_scalars + len(self.queries)

    def phase_columns(self, p: int) -> list:
        """The advice columns committed in round advice.phase{p} (link columns have their
        own round, before any challenge)."""
        return [c for c in self.desc.advice if c.phase == p and c.role != LINK]

    @cached_property
    def links(self) -> list:
        """The link columns, committed in the first round (`protocol.rounds`)."""
        return [c for c in self.desc.advice if c.role == LINK]

    @property
    def num_phases(self) -> int:
        """Advice phases, counting a phase that only squeezes challenges."""
        d = self.desc
        return max([d.num_phases] + [c.after_phase + 1 for c in d.challenges])

    # -- programs over the constraints, built once per layout ------------------------------
    @cached_property
    def program(self) -> IntProgram:
        """Every constraint identity as one flat program (`IntProgram`), the definition both
        the verifier (at x) and the prover's own check run."""
        return IntProgram([e for _, e in self.constraints])

    @cached_property
    def linearized_keys(self) -> set:
        """The linearized queries as the program's cell keys (kind, index, 0)."""
        return linearization.program_keys(self.linearized)

    @cached_property
    def row_programs(self):
        """The prover's compiled row kernels (`compile_expressions`): (the combined
        constraint for the quotient, the lookups' compressed tables / inputs / selectors,
        every constraint on its own to name a failing one)."""
        quot = compile_expressions([self.combined()])
        exprs = []
        G = len(self.group_lookups)
        for gi, members in enumerate(self.group_lookups):
            exprs.append(compress(tagged(self.desc.lookups[members[0]].table, gi, G), self.theta))
            for i in members:
                lk = self.desc.lookups[i]
                exprs += [compress(tagged(lk.inputs, gi, G), self.theta), lk.selector]
        look = compile_expressions(exprs) if exprs else None
        each = compile_expressions([e for _, e in self.constraints]) if self.constraints else None
        return quot, look, each
