"""The circuit description: everything about a constraint system that a verifier needs.

`CircuitDescription` holds the columns (kind, phase, role), the challenges, every gate
polynomial and lookup as expression DAGs, the equality-enabled columns, the proving degree
and the exact shape of every instance column (`instance_shapes`). It has a canonical byte
encoding (`encode` / `decode`, over `Writer` / `Reader`), part of the verifying key's bytes
and so of the fingerprint. `check_instance_shapes` is the public inputs' check that prover
and verifier both run.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS

from .circuit import ConstraintSystem
from .committed.keygen import COMMITTED
from .expression import (ADVICE, FIXED, INSTANCE, LINK, Challenge, ChallengeExpr, Column, Constant,
                         Expression, Negated, Product, Query, Scaled, Sum, postorder)
from .row_kernels import evaluate_rows_naive

P = FR_MODULUS

__all__ = ["CircuitDescription", "GateDesc", "LookupDesc", "KeyFormatError", "Writer", "Reader",
           "instance_shapes", "check_instance_shapes", "InstanceShapeError"]


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
    def encode(self, w: "Writer"):
        w.u8(self.k)
        w.u32(self.usable_rows)
        w.u32(self.degree)
        w.u32(len(self.advice))
        for c in self.advice:
            w.str(c.name)
            w.u8(c.phase)
            w.str(c.role)
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
            w.u8(c.kind.code)
            w.u32(c.index)
        _encode_exprs(w, _description_roots(self))

    @classmethod
    def decode(cls, r: "Reader") -> "CircuitDescription":
        k = r.u8("k")
        if not 1 <= k <= 28:
            r.fail(f"k = {k} out of range")
        usable = r.u32("usable rows")
        if not 0 < usable < (1 << k):
            r.fail(f"usable rows {usable} out of range for k = {k}")
        degree = r.u32("degree")
        if not 1 <= degree <= 64:
            r.fail(f"degree {degree} out of range")
        advice = []
        for i in range(r.count("advice columns")):
            name, phase, role = r.str("advice name"), r.u8("phase"), r.str("advice role")
            if role not in (str(ADVICE), LINK) or (role == LINK and phase != 0):
                r.fail(f"advice column {name!r}: role {role!r} in phase {phase}")
            advice.append(Column(ADVICE, i, name, phase=phase, role=role))
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
            w.u8(nd.column.kind.code)
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


class Writer:
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


class Reader:
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
