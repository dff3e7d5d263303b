"""Key generation: the proving key, the verifying key and the circuit description they share.

`keygen(srs, cs, circuit, config)` runs the circuit's synthesize once (challenges random:
only the fixed columns and the copy constraints are kept, and they must not depend on the
witness), then computes

* the fixed columns (selectors, tables, constants) as values, coefficients and commitments;
* the permutation's sigma columns from the copy-constraint cycles (permutation/keygen.py);
* the Lagrange polynomials l_0, l_last (row u = usable_rows), l_active (1 on rows < u) and
  the identity X, which the prover's quotient needs and the verifier computes at x itself.

`CircuitDescription` is everything about the constraint system a verifier needs (columns,
phases, challenges, gate polynomials, lookups, equality-enabled columns), with a canonical
byte encoding. `Layout` turns a description into the full list of constraint identities
(gates, lookup argument, permutation argument) over an extended set of columns: the
prover's quotient and the verifier both evaluate exactly these expressions.

`VerifyingKey.to_bytes()` is versioned (magic b"SGVK"); `digest()` is the sha256 of those
bytes, the circuit's (model's) fingerprint. `from_bytes` refuses malformed input with
`KeyFormatError`.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

import numpy as np

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain

from .circuit import Assignment, CircuitError, ConstraintSystem, choose_degree
from .committed.keygen import COMMITTED, blind_committed, blinding_basis, committed_indices
from .expression import (ADVICE, FIXED, INSTANCE, Challenge, ChallengeExpr, Column, Constant,
                         Expression, Negated, Product, Query, Scaled, Sum, evaluate_rows_naive,
                         postorder)
from . import linearization
from .lookup.verifier import lookup_constraints, pack_fractions
from .lookup.verifier import lookup_groups as fraction_groups
from .permutation.keygen import build_sigmas
from .permutation.verifier import permutation_constraints

P = FR_MODULUS
VK_MAGIC = b"SGVK"
VK_VERSION = 2        # 2: exact instance shapes, the application's statement bytes

__all__ = ["CircuitDescription", "Layout", "ProvingKey", "VerifyingKey", "KeyFormatError",
           "keygen", "commit_values"]


class KeyFormatError(ValueError):
    """A verifying key's bytes are malformed (names the problem and the byte offset)."""


# ---------------------------------------------------------------------------------------
# The circuit description
# ---------------------------------------------------------------------------------------
@dataclass
class GateDesc:
    gate: str
    name: str
    expression: Expression      # selector * constraint
    wrap_active: bool           # multiplied by l_active (selector not provably 0 off the usable rows)


@dataclass
class LookupDesc:
    name: str
    group: int
    inputs: list
    table: list
    selector: Expression


@dataclass
class CircuitDescription:
    k: int
    usable_rows: int
    advice: list            # [Column]
    fixed: list             # [Column]
    instance: list          # [Column]
    challenges: list        # [Challenge]
    gates: list             # [GateDesc]
    lookups: list           # [LookupDesc]
    permutation: list       # [Column]
    degree: int = field(default=0)   # max(3, gate and lookup degrees): sets the chunk size
    # per instance column: (its exact length, the rows below it that nothing constrains and
    # that must therefore be 0); the verifier refuses instances of any other shape
    instance_shapes: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return 1 << self.k

    @property
    def num_phases(self) -> int:
        return 1 + max((c.phase for c in self.advice), default=0)

    def num_groups(self) -> int:
        return 1 + max((lk.group for lk in self.lookups), default=-1)

    @classmethod
    def from_cs(cls, cs: ConstraintSystem, k: int, usable: int, fixed_values: np.ndarray):
        n = 1 << k
        gates = []
        for gp in cs.gate_polynomials():
            gates.append(GateDesc(gp.gate.name, gp.name, gp.expression,
                                  _needs_active(gp.gate.selector, fixed_values, usable, n)))
        keys = {}
        lookups = []
        for lk in cs.lookups:
            g = keys.setdefault(lk.table_key, len(keys))
            lookups.append(LookupDesc(lk.name, g, list(lk.inputs), list(lk.table), lk.selector))
        return cls(k, usable, list(cs.advice_columns), list(cs.fixed_columns),
                   list(cs.instance_columns), list(cs.challenges), gates, lookups,
                   list(cs.permutation_columns), cs.degree())

    # -- canonical bytes ---------------------------------------------------------------------
    def encode(self, w: "_Writer"):
        w.u8(self.k)
        w.u32(self.usable_rows)
        w.u32(self.degree)
        w.u32(len(self.advice))
        for c in self.advice:
            w.str(c.name)
            w.u8(c.phase)
        w.u32(len(self.fixed))
        for c in self.fixed:
            w.str(c.name)
            w.str(c.role or "")
        w.u32(len(self.instance))
        for c in self.instance:
            w.str(c.name)
        for length, free in self.instance_shapes:
            w.u32(length)
            w.u32(len(free))
            for row in free:
                w.u32(row)
        w.u32(len(self.challenges))
        for ch in self.challenges:
            w.str(ch.name)
            w.u8(ch.after_phase)
        w.u32(len(self.gates))
        for g in self.gates:
            w.str(g.gate)
            w.str(g.name)
            w.u8(int(g.wrap_active))
        w.u32(len(self.lookups))
        for lk in self.lookups:
            w.str(lk.name)
            w.u32(lk.group)
            w.u32(len(lk.inputs))
        w.u32(len(self.permutation))
        for c in self.permutation:
            w.u8(_KIND[c.kind])
            w.u32(c.index)
        _encode_exprs(w, _description_roots(self))

    @classmethod
    def decode(cls, r: "_Reader") -> "CircuitDescription":
        k = r.u8("k")
        if not 1 <= k <= 28:
            r.fail(f"k = {k} out of range")
        usable = r.u32("usable rows")
        if not 0 < usable < (1 << k):
            r.fail(f"usable rows {usable} out of range for k = {k}")
        degree = r.u32("degree")
        if not 1 <= degree <= 64:
            r.fail(f"degree {degree} out of range")
        advice = [Column(ADVICE, i, r.str("advice name"), phase=r.u8("phase"))
                  for i in range(r.count("advice columns"))]
        fixed = []
        for i in range(r.count("fixed columns")):
            name = r.str("fixed name")
            fixed.append(Column(FIXED, i, name, role=r.str("fixed role") or None))
        instance = [Column(INSTANCE, i, r.str("instance name"))
                    for i in range(r.count("instance columns"))]
        shapes = []
        for c in instance:
            length = r.u32("instance length")
            if length > usable:
                r.fail(f"instance column {c.name!r}: length {length} exceeds the usable rows")
            free = [r.u32("free instance row") for _ in range(r.count("free instance rows"))]
            if any(not 0 <= row < length for row in free) or free != sorted(set(free)):
                r.fail(f"instance column {c.name!r}: free rows not increasing below its length")
            shapes.append((length, tuple(free)))
        challenges = []
        for i in range(r.count("challenges")):
            name = r.str("challenge name")
            challenges.append(Challenge(i, r.u8("challenge phase"), name))
        gates = [(r.str("gate name"), r.str("constraint name"), r.u8("wrap flag"))
                 for _ in range(r.count("gate polynomials"))]
        lookups = [(r.str("lookup name"), r.u32("lookup group"), r.u32("lookup width"))
                   for _ in range(r.count("lookups"))]
        kinds = {0: advice, 1: fixed, 2: instance}
        perm = []
        for _ in range(r.count("permutation columns")):
            kind = r.u8("column kind")
            idx = r.u32("column index")
            if kind not in kinds or idx >= len(kinds[kind]):
                r.fail(f"permutation column ({kind}, {idx}) does not exist")
            perm.append(kinds[kind][idx])
        roots = _decode_exprs(r, kinds, challenges)
        want = len(gates) + sum(2 * wd + 1 for _, _, wd in lookups)
        if len(roots) != want:
            r.fail(f"{len(roots)} expressions, expected {want}")
        gd = []
        for (gate, name, wrap), e in zip(gates, roots):
            if wrap > 1:
                r.fail("wrap flag must be 0 or 1")
            gd.append(GateDesc(gate, name, e, bool(wrap)))
        pos = len(gates)
        ld = []
        for name, g, wd in lookups:
            if wd == 0 or g > len(ld):
                r.fail(f"lookup {name!r}: bad width or group")
            ins, tab = roots[pos:pos + wd], roots[pos + wd:pos + 2 * wd]
            ld.append(LookupDesc(name, g, ins, tab, roots[pos + 2 * wd]))
            pos += 2 * wd + 1
        return cls(k, usable, advice, fixed, instance, challenges, gd, ld, perm, degree, shapes)


_KIND = {ADVICE: 0, FIXED: 1, INSTANCE: 2}


def _needs_active(selector: Expression, fixed_values, usable: int, n: int) -> bool:
    """True unless the selector reads only fixed columns and is 0 on every row >= usable
    (committed columns count as advice: their rows >= usable are random)."""
    if any(q.column.kind != FIXED or q.column.role == COMMITTED for q in selector.queries()) \
            or selector.challenges():
        return True
    vals = evaluate_rows_naive(selector, None, fixed_values, None, n=n, rows=range(usable, n))
    return any(v != 0 for v in vals)


# -- expression DAG encoding -------------------------------------------------------------------
_OP_CONST, _OP_QUERY, _OP_CHAL, _OP_NEG, _OP_SUM, _OP_PROD, _OP_SCALED = range(7)


def _encode_exprs(w, roots):
    nodes = postorder(roots)
    ids = {id(nd): i for i, nd in enumerate(nodes)}
    w.u32(len(nodes))
    for nd in nodes:
        t = type(nd)
        if t is Constant:
            w.u8(_OP_CONST)
            w.scalar(nd.value)
        elif t is Query:
            w.u8(_OP_QUERY)
            w.u8(_KIND[nd.column.kind])
            w.u32(nd.column.index)
            w.i32(nd.rotation)
        elif t is ChallengeExpr:
            w.u8(_OP_CHAL)
            w.u32(nd.challenge.index)
        elif t is Negated:
            w.u8(_OP_NEG)
            w.u32(ids[id(nd.inner)])
        elif t in (Sum, Product):
            w.u8(_OP_SUM if t is Sum else _OP_PROD)
            w.u32(ids[id(nd.left)])
            w.u32(ids[id(nd.right)])
        elif t is Scaled:
            w.u8(_OP_SCALED)
            w.u32(ids[id(nd.inner)])
            w.scalar(nd.factor)
        else:  # pragma: no cover
            raise TypeError(t)
    w.u32(len(roots))
    for e in roots:
        w.u32(ids[id(e)])


def _decode_exprs(r, kinds, challenges):
    count = r.count("expression nodes")
    nodes = []

    def child(what):
        i = r.u32(what)
        if i >= len(nodes):
            r.fail(f"expression node refers forward to node {i}")
        return nodes[i]

    for _ in range(count):
        op = r.u8("expression op")
        if op == _OP_CONST:
            nodes.append(Constant(r.scalar("constant")))
        elif op == _OP_QUERY:
            kind, idx, rot = r.u8("query kind"), r.u32("query column"), r.i32("rotation")
            if kind not in kinds or idx >= len(kinds[kind]):
                r.fail(f"query of a column ({kind}, {idx}) that does not exist")
            if abs(rot) >= 1 << 20:
                r.fail(f"rotation {rot} out of range")
            nodes.append(Query(kinds[kind][idx], rot))
        elif op == _OP_CHAL:
            i = r.u32("challenge")
            if i >= len(challenges):
                r.fail(f"challenge {i} does not exist")
            nodes.append(ChallengeExpr(challenges[i]))
        elif op == _OP_NEG:
            nodes.append(Negated(child("operand")))
        elif op in (_OP_SUM, _OP_PROD):
            a = child("left operand")
            b = child("right operand")
            nodes.append(Sum(a, b) if op == _OP_SUM else Product(a, b))
        elif op == _OP_SCALED:
            a = child("operand")
            nodes.append(Scaled(a, r.scalar("factor")))
        else:
            r.fail(f"unknown expression op {op}")
    return [child("root") for _ in range(r.count("expression roots"))]


class _Writer:
    def __init__(self):
        self.parts = []

    def raw(self, b):
        self.parts.append(bytes(b))

    def u8(self, v):
        self.raw(struct.pack("<B", v))

    def u16(self, v):
        self.raw(struct.pack("<H", v))

    def u32(self, v):
        self.raw(struct.pack("<I", v))

    def i32(self, v):
        self.raw(struct.pack("<i", v))

    def scalar(self, v):
        self.raw((int(v) % P).to_bytes(32, "little"))

    def str(self, s):
        b = s.encode("utf-8")
        self.u16(len(b))
        self.raw(b)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


class _Reader:
    def __init__(self, data: bytes, error=KeyFormatError, what="verifying key"):
        self.data = bytes(data)
        self.pos = 0
        self.error = error
        self.what = what

    def fail(self, msg):
        raise self.error(f"{self.what}: {msg} (at byte {self.pos})")

    def take(self, n, what):
        if self.pos + n > len(self.data):
            self.fail(f"truncated: {what} needs {n} bytes, {len(self.data) - self.pos} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u8(self, what):
        return self.take(1, what)[0]

    def u16(self, what):
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def i32(self, what):
        return struct.unpack("<i", self.take(4, what))[0]

    def count(self, what):
        v = self.u32(what)
        if v > len(self.data):
            self.fail(f"{what}: count {v} larger than the input")
        return v

    def scalar(self, what):
        v = int.from_bytes(self.take(32, what), "little")
        if v >= P:
            self.pos -= 32
            self.fail(f"{what}: scalar not canonical (>= r)")
        return v

    def str(self, what):
        n = self.u16(what)
        try:
            return self.take(n, what).decode("utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what}: not UTF-8")

    def points(self, n, what):
        start = self.pos
        raw = self.take(32 * n, what)
        try:
            return g1.decompress(raw, n) if n else np.zeros((0, 8), dtype=np.uint64)
        except ValueError as e:
            self.pos = start
            self.fail(f"{what}: {e}")

    def end(self):
        if self.pos != len(self.data):
            self.fail(f"{len(self.data) - self.pos} trailing bytes")


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
                                               excluded={(1, i) for i in virtual_idx},
                                               required=set(private),
                                               names=[n for n, _ in cons])
        lin = set(self.linearized)
        qs = set()
        for _, e in cons:
            for q in e.queries():
                c = q.column
                if c.kind == ADVICE or (c.kind == FIXED and c.index not in virtual_idx):
                    key = (_KIND[c.kind], c.index, q.rotation)
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
        return [c for c in self.desc.advice if c.phase == p]


# ---------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------
class VerifyingKey:
    """What the verifier needs: the description, fixed and sigma commitments, SRS G2 points.

    ``srs_digest`` names the setup: it must be `srs_digest(g2)` (checked here), so a label
    that names a ceremony is tied to the G2 points the pairing check really uses.
    ``statement``: the application's public parameters (for a model key: the statement kind
    and length, the vocabulary, the tokenizer's digest, the quantization, the setup's
    provenance; `snarkgpt.model.keyspec`), opaque to the proof system but inside the
    fingerprinted bytes, hence bound in every proof's transcript."""

    def __init__(self, desc: CircuitDescription, fixed_commitments, sigma_commitments, g2,
                 srs_digest: bytes, blinding_basis=None, statement: bytes = b""):
        self.desc = desc
        self.fixed_commitments = np.ascontiguousarray(fixed_commitments, dtype=np.uint64).reshape(-1, 8)
        self.sigma_commitments = np.ascontiguousarray(sigma_commitments, dtype=np.uint64).reshape(-1, 8)
        self.g2 = np.ascontiguousarray(g2, dtype=np.uint64).reshape(2, 16)
        self.srs_digest = bytes(srs_digest)
        if self.srs_digest != srs_digest_of(self.g2):
            raise KeyFormatError("verifying key: the SRS digest does not name its G2 points")
        self.statement = bytes(statement)
        # [L_j(tau)]G1 for rows j >= usable: only with committed columns (committed/)
        self.blinding_basis = (None if blinding_basis is None else
                               np.ascontiguousarray(blinding_basis, dtype=np.uint64).reshape(-1, 8))
        self._layout = None
        self._bytes = None

    @property
    def k(self) -> int:
        return self.desc.k

    @property
    def n(self) -> int:
        return self.desc.n

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = Layout(self.desc)
        return self._layout

    def to_bytes(self) -> bytes:
        if self._bytes is None:
            w = _Writer()
            w.raw(VK_MAGIC)
            w.u16(VK_VERSION)
            self.desc.encode(w)
            w.raw(g1.compress(self.fixed_commitments) if len(self.fixed_commitments) else b"")
            w.raw(g1.compress(self.sigma_commitments) if len(self.sigma_commitments) else b"")
            w.raw(self.g2.astype("<u8").tobytes())
            w.raw(self.srs_digest)
            if self.blinding_basis is not None:
                w.raw(g1.compress(self.blinding_basis))
            w.u32(len(self.statement))
            w.raw(self.statement)
            self._bytes = w.bytes()
        return self._bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> "VerifyingKey":
        r = _Reader(data)
        if r.take(4, "magic") != VK_MAGIC:
            r.pos = 0
            r.fail("bad magic (not a snarkgpt verifying key)")
        version = r.u16("version")
        if version != VK_VERSION:
            r.fail(f"unsupported version {version} (this build reads {VK_VERSION})")
        desc = CircuitDescription.decode(r)
        fixed = r.points(len(desc.fixed), "fixed commitments")
        sigma = r.points(len(desc.permutation), "sigma commitments")
        g2 = np.frombuffer(r.take(256, "G2 points"), dtype="<u8").astype(np.uint64).reshape(2, 16)
        digest = r.take(32, "SRS digest")
        basis = None
        if committed_indices(desc.fixed):
            basis = r.points(desc.n - desc.usable_rows, "blinding basis")
        statement = r.take(r.count("statement length"), "statement")
        r.end()
        try:
            vk = cls(desc, fixed, sigma, g2, digest, basis, statement)
        except KeyFormatError:
            raise
        except ValueError as e:
            raise KeyFormatError(f"verifying key: {e}") from None
        if vk.to_bytes() != bytes(data):
            raise KeyFormatError("verifying key: encoding is not canonical")
        return vk

    def digest(self) -> bytes:
        """sha256 of `to_bytes()`: the circuit's fingerprint (absorbed first by every proof)."""
        return hashlib.sha256(self.to_bytes()).digest()

    def __eq__(self, other):
        return isinstance(other, VerifyingKey) and other.to_bytes() == self.to_bytes()

    def __repr__(self):
        d = self.desc
        return (f"VerifyingKey(k={d.k}, {len(d.advice)} advice, {len(d.fixed)} fixed, "
                f"{len(d.gates)} gate polynomials, {len(d.lookups)} lookups, "
                f"digest {self.digest().hex()[:16]})")


@dataclass
class ProvingKey:
    vk: VerifyingKey
    srs: object
    cs: ConstraintSystem
    domain: Domain
    fixed_values: np.ndarray     # (F, n, 4)
    fixed_coeffs: np.ndarray     # (F, n, 4)
    sigma_values: np.ndarray     # (M, n, 4)
    sigma_coeffs: np.ndarray     # (M, n, 4)
    virtual_coeffs: np.ndarray   # (4, n, 4): l_0, l_last, l_active, X
    virtual_values: np.ndarray   # (4, n, 4): the same on the domain
    copies_digest: bytes
    committed_blinding: np.ndarray = None   # (C, n - u, 4): the setup blinding (private)

    @property
    def layout(self) -> Layout:
        return self.vk.layout

    @property
    def committed(self) -> list:
        """Fixed-column indices of the committed columns. Their rows >= u in
        ``fixed_values`` / ``fixed_coeffs`` are re-drawn by every proof (prover.py), so
        anything cached from those columns must be recomputed per proof."""
        return self.layout.committed


def instance_shapes(cs: ConstraintSystem, instance_values, copies: np.ndarray,
                    desc: CircuitDescription) -> list:
    """Per instance column, (exact length, free rows): the length is that of the values the
    key was made with (every statement of the key has the same shape), and the free rows are
    those below it that no copy constraint and no gate or lookup reads, so that a verifier
    can refuse a nonzero value there (it would be bound to nothing). An instance column read
    by a gate or lookup directly has no free rows (which of its rows matter depends on the
    selectors)."""
    read = {q.column.index for e in _description_roots(desc) for q in e.queries()
            if q.column.kind == INSTANCE}
    shapes = []
    for col, values in zip(cs.instance_columns, instance_values):
        length = len(values)
        bound = np.zeros(length, dtype=bool)
        if col.index in read:
            bound[:] = True
        elif col in cs.permutation_columns and len(copies):
            pos = cs.permutation_position(col)
            for c, r in ((0, 1), (2, 3)):
                rows = copies[copies[:, c] == pos, r]
                bound[rows[rows < length]] = True
        shapes.append((length, tuple(int(i) for i in np.flatnonzero(~bound))))
    return shapes


class InstanceShapeError(ValueError):
    """Public inputs whose shape is not the one the key was made for."""


def check_instance_shapes(d: CircuitDescription, instances) -> None:
    """Every instance column has exactly the length the key was made for, and 0 on the rows
    nothing in the circuit reads (`instance_shapes`): a value there would be bound to nothing,
    so a statement carrying it must not be accepted. ``instances``: reduced mod r."""
    for i, (col, (length, free)) in enumerate(zip(instances, d.instance_shapes)):
        name = d.instance[i].name
        if len(col) != length:
            raise InstanceShapeError(f"instance column {name!r} has {len(col)} values; this key's "
                                     f"statements have exactly {length}")
        bad = [row for row in free if col[row]]
        if bad:
            raise InstanceShapeError(f"instance column {name!r}: row {bad[0]} is not constrained "
                                     "by the circuit and must be 0")


def _description_roots(desc: CircuitDescription) -> list:
    """Every expression of the description: gate polynomials, lookup inputs, tables and
    selectors."""
    roots = [g.expression for g in desc.gates]
    for lk in desc.lookups:
        roots += list(lk.inputs) + list(lk.table) + [lk.selector]
    return roots


def srs_digest_of(g2) -> bytes:
    """The digest that names a setup (`SRS.digest`): of [1]G1 and the G2 points [1]G2,
    [tau]G2, the only SRS points a verifier uses."""
    from .srs import SRS
    return SRS(g1.generator().reshape(1, 8), np.asarray(g2, dtype=np.uint64).reshape(2, 16),
               "verifying key", False).digest()


def copies_digest(copies: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(copies, dtype="<i8").tobytes()).digest()


def commit_values(srs, k: int, values: np.ndarray, usable: int | None = None) -> np.ndarray:
    """[p(tau)]G1 for the polynomial with these values on the size-2^k domain (Lagrange basis).

    A column that is mostly piecewise constant (a grand product whose columns have few
    copies changes only on those rows) is committed from the differences of consecutive
    values in the running-sum basis (`SRS.lagrange_prefix`): the same point, from an MSM over
    the rows where the value changes. Otherwise the first ``usable`` rows and the rest are
    committed by separate MSMs (small witness values on the usable rows take the MSM's
    small-scalar path)."""
    from snarkgpt.curve.msm import msm
    from snarkgpt.field.vec import count_changes
    values = np.ascontiguousarray(values)
    changed, nonzero = count_changes(values)
    if 2 * changed < nonzero:
        changes = Fr.sub(values[:-1], values[1:])      # row slices: still contiguous
        return msm(srs.lagrange_prefix(k), np.concatenate([changes, values[-1:]]))
    lag = srs.lagrange(k)
    if usable is None or usable >= values.shape[0]:
        return msm(lag, values)
    a = msm(np.ascontiguousarray(lag[:usable]), np.ascontiguousarray(values[:usable]))
    b = msm(np.ascontiguousarray(lag[usable:]), np.ascontiguousarray(values[usable:]))
    return g1.add(a, b)


def _columns_with_copies(cs: ConstraintSystem, copies: np.ndarray):
    """The equality-enabled columns that carry at least one copy constraint, and the copies
    re-indexed over them.

    A column without copies is its own cycle on every row: sigma = identity, so its factors in
    the grand product cancel and leaving it out changes nothing the argument proves, while each
    column kept costs the prover a grand-product commitment (one per column at degree 3)."""
    if not len(copies):
        return [], copies
    ends = np.concatenate([copies[:, 0], copies[:, 2]])
    count = np.bincount(ends, minlength=len(cs.permutation_columns))
    # fewest copies first, so that sparsely copied columns share grand products, which then
    # change on few rows and commit cheaply (permutation/verifier.py)
    used = np.flatnonzero(count)
    used = used[np.argsort(count[used], kind="stable")]
    remap = np.full(len(cs.permutation_columns), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    out = copies.copy()
    out[:, 0] = remap[copies[:, 0]]
    out[:, 2] = remap[copies[:, 2]]
    return [cs.permutation_columns[i] for i in used], out


def matches_commitments(srs, k: int, columns, commitments, rng=None) -> bool:
    """True if each column (its values on the size-2^k domain) commits to the matching point.

    Checked all at once: sum_i rho_i [col_i] == [sum_i rho_i col_i] for random rho_i, one
    MSM over the domain and one over the commitments instead of one MSM over the domain per
    column. A column that does not match its commitment passes with probability 1/r (the
    rho_i come from the OS, or from ``rng`` in tests)."""
    from snarkgpt.curve.msm import msm
    from snarkgpt.field import poly
    commitments = np.asarray(commitments)
    if len(columns) != commitments.shape[0]:
        return False
    if not len(columns):
        return True
    rho = Fr.random(len(columns), rng)
    combined = poly.linear_combination(list(columns), Fr.to_ints(rho))
    return g1.equal(commit_values(srs, k, combined), msm(np.ascontiguousarray(commitments), rho))


def keygen(srs, cs: ConstraintSystem, circuit=None, config=None, k: int | None = None,
           assignment: Assignment | None = None, instances=None, committed_blinding=None,
           rng=None, degree: int | None = None, published: VerifyingKey | None = None,
           precompute: bool = True, statement: bytes = b""):
    """(ProvingKey, VerifyingKey) for ``cs`` (configured) and ``circuit`` (synthesized once
    with random challenges: only its fixed columns and copy constraints are used), or for a
    given complete ``assignment``.

    Committed columns (`ConstraintSystem.committed_column`) get random rows >= u, drawn here
    (OS randomness; ``rng``: a numpy Generator, tests only) or given as
    ``committed_blinding`` (``pk.committed_blinding`` of an earlier call, to rebuild the
    same keys); the key owner must keep them private.

    degree: the constraint degree to prove at (>= the circuit's; it sets how many columns
    share a grand product); default: `choose_degree`'s estimate of the cheapest.

    published: the verifying key these columns were published under (a prover rebuilding
    its key from a key directory): its fixed and sigma commitments are reused after one
    batched check that the columns open to them (`matches_commitments`), instead of one MSM
    per column; CircuitError if they do not. The caller still compares the digests.

    precompute: evaluate the fixed columns on the quotient's cosets now (about a third of
    the quotient's NTTs, and most of the proving key's memory) rather than on the first
    proof; False when only the verifying key is wanted (setup).

    statement: the application's public parameters, written into the verifying key
    (`VerifyingKey.statement`) and so into its digest."""
    if assignment is None:
        if circuit is None:
            raise CircuitError("keygen needs the circuit (or an assignment)")
        assignment = Assignment.first_pass(cs, circuit, config, instances, k)
        assignment.complete()
    asg = assignment
    if not asg.is_complete:
        asg.complete()
    k, n, u = asg.k, asg.n, asg.usable_rows
    if srs.n < n + 1:
        raise CircuitError(f"the SRS has {srs.n} powers; k = {k} needs {n + 1}")
    dom = Domain(k)
    fixed_values = np.ascontiguousarray(asg.fixed.copy())
    desc = CircuitDescription.from_cs(cs, k, u, fixed_values)
    desc.instance_shapes = instance_shapes(cs, asg.instance_values, asg.copies, desc)
    desc.permutation, copies = _columns_with_copies(cs, asg.copies)
    committed = committed_indices(desc.fixed)
    if committed:
        committed_blinding = blind_committed(fixed_values, committed, u, committed_blinding, rng)
    elif committed_blinding is not None and len(committed_blinding):
        raise CircuitError("committed_blinding given but the circuit has no committed column")
    M = len(desc.permutation)
    if degree is None:
        G = desc.num_groups()
        others = len(desc.advice) + G + (1 if G else 0) + len(desc.fixed) + M + 4
        groups = lookup_groups(desc)
        degree = choose_degree(desc.degree, M, others,
                               lambda D: len(pack_fractions(groups, D)))
    if degree < desc.degree:
        raise CircuitError(f"degree {degree} is below the circuit's constraint degree {desc.degree}")
    desc.degree = degree
    omega = dom.elements()
    sig = build_sigmas(M, omega, copies) if M else np.zeros((0, n, 4), dtype=np.uint64)
    fixed_coeffs = dom.intt_many(fixed_values)
    sigma_coeffs = dom.intt_many(sig)
    virt = np.zeros((4, n, 4), dtype=np.uint64)
    one = np.array(Fr.one_limbs, dtype=np.uint64)
    ev = np.zeros((3, n, 4), dtype=np.uint64)
    ev[0, 0] = one
    ev[1, u] = one
    ev[2, :u] = one
    for i in range(3):
        virt[i] = dom.intt(ev[i])
    virt[3, 1] = one
    virt_values = np.concatenate([ev, omega.reshape(1, n, 4)])
    if published is not None:
        fixed_comms, sigma_comms = published.fixed_commitments, published.sigma_commitments
        if not matches_commitments(srs, k, list(fixed_values) + list(sig),
                                   np.concatenate([fixed_comms, sigma_comms]), rng):
            raise CircuitError("the fixed or sigma columns do not open to the published "
                               "key's commitments")
    else:
        fixed_comms = (np.stack([commit_values(srs, k, c) for c in fixed_values])
                       if len(fixed_values) else np.zeros((0, 8), dtype=np.uint64))
        sigma_comms = (np.stack([commit_values(srs, k, c) for c in sig])
                       if M else np.zeros((0, 8), dtype=np.uint64))
    vk = VerifyingKey(desc, fixed_comms, sigma_comms, srs.g2, srs.digest(),
                      blinding_basis(srs, k, u) if committed else None, statement)
    pk = ProvingKey(vk, srs, cs, dom, fixed_values, fixed_coeffs, sig, sigma_coeffs, virt, virt_values,
                    copies_digest(asg.copies), committed_blinding if committed else None)
    vk.layout           # refuses here, at setup, a weight column a proof would open
    if precompute:
        from .vanishing.prover import fixed_polys
        fixed_polys(pk)        # the fixed columns on the quotient's cosets, once per key
    return pk, vk
