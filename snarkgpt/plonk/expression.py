"""Polynomial constraint expressions over circuit cells: the expression tree.

An `Expression` is a tree built with ordinary Python operators from

* constants (Python ints, reduced mod r, the BN254 scalar field modulus),
* cell queries: a `Column` read at a rotation, ``col.cur()``, ``col.next()``,
  ``col.prev()``, ``col.rot(i)`` (row ``i`` relative to the row being checked),
* selectors (simple selectors are fixed 0/1 columns, see constraint_system.py),
* challenges (verifier randomness squeezed after an advice phase is committed).

    a, b, c = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("c")
    e = a.cur() * b.cur() - c.next()
    str(e)        # 'a[0] * b[0] - c[1]'
    e.degree()    # 2

Evaluating expressions
----------------------
* ``expr.evaluate(constant=..., query=..., challenge=..., negated=..., sum=..., product=...,
  scaled=...)`` folds the tree with user callbacks (halo2's `Expression::evaluate`). The
  verifier uses it with Python ints and the opened evaluations of each query.
* ``expr.evaluate_int(cell, challenge)`` is that fold over Python ints mod r.

The compiled forms live in their own modules, which import this one (not the reverse):

* row_program.py: ``compile_expressions(exprs)`` turns a list of expressions into one
  `Program`, a flat list of register instructions with common subexpressions shared,
  constants and challenges hoisted out as row-invariant scalars, and registers reused;
* row_kernels.py: ``evaluate_rows`` / ``evaluate_rows_multi`` run a `Program` over whole
  columns with a compiled kernel (``evaluate_rows_x16`` with AVX-512 IFMA), and
  ``evaluate_rows_naive`` is their reference with Python ints, row by row;
* int_program.py: `IntProgram`, several expressions evaluated together with Python ints in
  one pass over a flat list of operations (the verifier's path).
"""
from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

import numpy as np

from snarkgpt.field import FR_MODULUS

P = FR_MODULUS

__all__ = [
    "Column", "Selector", "Challenge", "Expression", "Constant", "Query", "ChallengeExpr",
    "Negated", "Sum", "Product", "Scaled", "as_expr", "sum_exprs", "product_exprs",
    "signed", "format_value",
    "ADVICE", "FIXED", "INSTANCE", "ColumnKind", "QueryKey", "TABLE_ROLES", "PRIVATE_ROLES", "LINK",
]


class ColumnKind(StrEnum):
    """The kind of a column. A str (it prints, compares and serializes as its name); its
    `code` is its byte in the verifying key's encoding, and kinds sort in code order
    (advice < fixed < instance), as query keys do."""
    ADVICE = "advice"
    FIXED = "fixed"
    INSTANCE = "instance"

    @property
    def code(self) -> int:
        return _KIND_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> "ColumnKind":
        return _KINDS[code]


_KINDS = (ColumnKind.ADVICE, ColumnKind.FIXED, ColumnKind.INSTANCE)
_KIND_CODES = {k: i for i, k in enumerate(_KINDS)}
ADVICE, FIXED, INSTANCE = _KINDS
KIND_ORDER = _KIND_CODES        # kind -> its place in sorted orders (= its code)


class QueryKey(NamedTuple):
    """A cell read by a constraint: (column kind, column index, rotation). The one key type
    for queries everywhere: the layout's opened and linearized queries, the constraint
    program's cells, the prover's and the verifier's tables of values."""
    kind: ColumnKind
    index: int
    rotation: int

TABLE_ROLES = ("table", "weight_table")
"""Roles of lookup-table columns: "weight_table" is a table holding model weights (the token
embedding), private like a "weight" column."""
PRIVATE_ROLES = ("weight", "weight_table")
"""Roles of fixed columns that hold model weights: keygen linearizes every one of them, so
no proof ever opens one (plonk/linearization.py, docs/committed-weights.md)."""
LINK = "link"
"""The role of an advice column shared with a neighbouring circuit (`ConstraintSystem.link_column`)."""


def signed(v: int) -> int:
    """A field element read as a signed integer in (-r/2, r/2]."""
    v %= P
    return v - P if v > P // 2 else v


def format_value(v: int) -> str:
    """A field element for humans: small signed decimal (-3, not r - 3); huge ones in hex."""
    s = signed(int(v))
    if abs(s) < 1 << 96:
        return str(s)
    return hex(int(v) % P)


# ---------------------------------------------------------------------------------------
# Columns, selectors, challenges
# ---------------------------------------------------------------------------------------
class Column:
    """A column of the circuit matrix.

    ``kind`` is ADVICE, FIXED or INSTANCE; ``index`` its position among columns of that kind.
    ``phase`` (advice only) is the commitment round the column is assigned in. ``role``
    refines fixed columns: "fixed", "selector", "table" or "usable" (the built-in selector
    that is 1 on every usable row); "weight" and "weight_table" mark a fixed or table column
    holding model weights (`PRIVATE_ROLES`: never opened in a proof), "committed" a column
    behind a hiding commitment. An advice column's role is "advice", or "link" for a column
    shared with a neighbouring circuit (`LINK`). Columns are created by a ConstraintSystem.
    """

    __slots__ = ("kind", "index", "name", "phase", "role")

    def __init__(self, kind: ColumnKind, index: int, name: str, phase: int = 0,
                 role: str | None = None):
        if kind not in KIND_ORDER:
            raise ValueError(f"unknown column kind {kind!r}")
        self.kind = ColumnKind(kind)
        self.index = int(index)
        self.name = name
        self.phase = int(phase)
        self.role = role or str(self.kind)

    def rot(self, rotation: int) -> "Query":
        """This column at row ``i + rotation`` while row ``i`` is checked."""
        return Query(self, int(rotation))

    def cur(self) -> "Query":
        return Query(self, 0)

    def next(self) -> "Query":
        return Query(self, 1)

    def prev(self) -> "Query":
        return Query(self, -1)

    def __eq__(self, other):
        return isinstance(other, Column) and self.kind == other.kind and self.index == other.index

    def __hash__(self):
        return hash((self.kind, self.index))

    def __repr__(self):
        extra = f", phase={self.phase}" if self.kind == ADVICE and self.phase else ""
        return f"Column({self.kind} {self.index} {self.name!r}{extra})"

    def __str__(self):
        return self.name


class _ExprOps:
    """Arithmetic operators for things that convert to an Expression."""

    __slots__ = ()

    def expr(self) -> "Expression":  # pragma: no cover - overridden
        raise NotImplementedError

    def __add__(self, other):
        return Sum(as_expr(self), as_expr(other))

    def __radd__(self, other):
        return Sum(as_expr(other), as_expr(self))

    def __sub__(self, other):
        return Sum(as_expr(self), Negated(as_expr(other)))

    def __rsub__(self, other):
        return Sum(as_expr(other), Negated(as_expr(self)))

    def __mul__(self, other):
        if _is_int(other):
            return Scaled(as_expr(self), int(other))
        return Product(as_expr(self), as_expr(other))

    def __rmul__(self, other):
        if _is_int(other):
            return Scaled(as_expr(self), int(other))
        return Product(as_expr(other), as_expr(self))

    def __neg__(self):
        return Negated(as_expr(self))

    def __pow__(self, e: int):
        if not _is_int(e) or e < 1:
            raise ValueError("only positive integer powers of expressions")
        return product_exprs([as_expr(self)] * int(e))


class Selector(_ExprOps):
    """A simple selector: a fixed column of 0/1 switching a gate or lookup on per row.

    Use it directly in arithmetic (``q * (a.cur() - b.cur())``) or via ``.expr()``."""

    __slots__ = ("column",)

    def __init__(self, column: Column):
        self.column = column

    @property
    def name(self) -> str:
        return self.column.name

    @property
    def index(self) -> int:
        return self.column.index

    def expr(self) -> "Query":
        return Query(self.column, 0)

    def __eq__(self, other):
        return isinstance(other, Selector) and self.column == other.column

    def __hash__(self):
        return hash(("selector", self.column.index))

    def __repr__(self):
        return f"Selector({self.name!r}, fixed {self.column.index})"

    def __str__(self):
        return self.name


class Challenge(_ExprOps):
    """Verifier randomness, squeezed once every advice column of phase ``after_phase`` is
    committed. Usable in gates, lookups and in the witness of advice columns of later
    phases."""

    __slots__ = ("index", "after_phase", "name")

    def __init__(self, index: int, after_phase: int, name: str):
        self.index = int(index)
        self.after_phase = int(after_phase)
        self.name = name

    def expr(self) -> "ChallengeExpr":
        return ChallengeExpr(self)

    def __eq__(self, other):
        return isinstance(other, Challenge) and self.index == other.index

    def __hash__(self):
        return hash(("challenge", self.index))

    def __repr__(self):
        return f"Challenge({self.name!r}, index={self.index}, after_phase={self.after_phase})"

    def __str__(self):
        return self.name


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def as_expr(x) -> "Expression":
    """Expression, int, Selector or Challenge -> Expression."""
    if isinstance(x, Expression):
        return x
    if isinstance(x, (Selector, Challenge)):
        return x.expr()
    if _is_int(x):
        return Constant(int(x))
    if isinstance(x, Column):
        raise TypeError(f"column {x.name!r} used without a rotation: write {x.name}.cur()")
    raise TypeError(f"cannot use {type(x).__name__} in an expression")


# ---------------------------------------------------------------------------------------
# Expression nodes
# ---------------------------------------------------------------------------------------
_SUM, _NEG, _PROD, _ATOM = 1, 2, 3, 4  # printing precedence


class Expression(_ExprOps):
    """Base class of expression nodes. Nodes are immutable and may be shared (a DAG);
    every traversal here is iterative, so long chains (sums of thousands of terms) are fine.
    """

    __slots__ = ()

    def expr(self):
        return self

    def children(self) -> tuple:
        return ()

    # -- generic fold --------------------------------------------------------------------
    def evaluate(self, *, constant, query, challenge, negated, sum, product, scaled):
        """Fold the tree bottom-up: each callback gets its node's data and children's results.

        constant(int) / query(Query) / challenge(Challenge) / negated(x) / sum(x, y) /
        product(x, y) / scaled(x, int). Shared subtrees are evaluated once."""
        memo: dict[int, object] = {}
        for node in postorder([self]):
            t = type(node)
            if t is Constant:
                v = constant(node.value)
            elif t is Query:
                v = query(node)
            elif t is ChallengeExpr:
                v = challenge(node.challenge)
            elif t is Negated:
                v = negated(memo[id(node.inner)])
            elif t is Sum:
                v = sum(memo[id(node.left)], memo[id(node.right)])
            elif t is Product:
                v = product(memo[id(node.left)], memo[id(node.right)])
            elif t is Scaled:
                v = scaled(memo[id(node.inner)], node.factor)
            else:  # pragma: no cover
                raise TypeError(t)
            memo[id(node)] = v
        return memo[id(self)]

    def evaluate_int(self, cell, challenge=None) -> int:
        """Value mod r with Python ints: ``cell(query) -> int`` gives each queried cell,
        ``challenge`` is a callable or a mapping (Challenge or index -> int)."""
        if challenge is None:
            def challenge(c):
                raise ValueError(f"expression uses challenge {c.name} but no value was given")
        elif not callable(challenge):
            mapping = challenge

            def challenge(c):
                return mapping[c] if c in mapping else mapping[c.index]
        return self.evaluate(
            constant=lambda v: v,
            query=lambda q: int(cell(q)) % P,
            challenge=lambda c: int(challenge(c)) % P,
            negated=lambda x: (-x) % P,
            sum=lambda x, y: (x + y) % P,
            product=lambda x, y: x * y % P,
            scaled=lambda x, f: x * f % P,
        )

    def degree(self) -> int:
        """Polynomial degree in the cell values (constants and challenges have degree 0)."""
        return self.evaluate(
            constant=lambda v: 0, query=lambda q: 1, challenge=lambda c: 0,
            negated=lambda x: x, sum=max, product=lambda x, y: x + y, scaled=lambda x, f: x)

    def queries(self) -> list["Query"]:
        """Distinct (column, rotation) queries, in a stable order."""
        seen = {}
        for node in postorder([self]):
            if type(node) is Query:
                seen.setdefault((node.column.kind, node.column.index, node.rotation), node)
        return [seen[k] for k in sorted(seen, key=lambda k: (KIND_ORDER[k[0]], k[1], k[2]))]

    def challenges(self) -> list[Challenge]:
        seen = {}
        for node in postorder([self]):
            if type(node) is ChallengeExpr:
                seen[node.challenge.index] = node.challenge
        return [seen[i] for i in sorted(seen)]

    def columns(self) -> list[Column]:
        out = []
        for q in self.queries():
            if q.column not in out:
                out.append(q.column)
        return out

    # -- printing ------------------------------------------------------------------------
    def __str__(self):
        memo: dict[int, tuple[str, int]] = {}

        def wrap(s_p, min_prec):
            s, p = s_p
            return f"({s})" if p < min_prec else s

        for node in postorder([self]):
            t = type(node)
            if t is Constant:
                s = format_value(node.value)
                r = (s, _NEG if s.startswith("-") else _ATOM)
            elif t is Query:
                r = (node.label(), _ATOM)
            elif t is ChallengeExpr:
                r = (node.challenge.name, _ATOM)
            elif t is Negated:
                r = ("-" + wrap(memo[id(node.inner)], _PROD), _NEG)
            elif t is Sum:
                left = memo[id(node.left)][0]
                rn = node.right
                if type(rn) is Negated:
                    r = (f"{left} - {wrap(memo[id(rn.inner)], _NEG)}", _SUM)
                elif type(rn) is Constant and signed(rn.value) < 0:
                    r = (f"{left} - {format_value(-rn.value)}", _SUM)
                elif type(rn) is Scaled and signed(rn.factor) < 0:
                    inner = wrap(memo[id(rn.inner)], _PROD)
                    f = -signed(rn.factor)
                    r = (f"{left} - {inner}" if f == 1 else f"{left} - {f} * {inner}", _SUM)
                else:
                    r = (f"{left} + {memo[id(rn)][0]}", _SUM)
            elif t is Product:
                r = (f"{wrap(memo[id(node.left)], _PROD)} * {wrap(memo[id(node.right)], _ATOM)}", _PROD)
            elif t is Scaled:
                f = signed(node.factor)
                inner = wrap(memo[id(node.inner)], _PROD)
                if f == -1:
                    r = ("-" + inner, _NEG)
                else:
                    r = (f"{format_value(node.factor)} * {inner}", _NEG if f < 0 else _PROD)
            else:  # pragma: no cover
                raise TypeError(t)
            memo[id(node)] = r
        return memo[id(self)][0]

    def __repr__(self):
        return f"<{type(self).__name__} {self}>"


class Constant(Expression):
    __slots__ = ("value",)

    def __init__(self, value: int):
        self.value = int(value) % P


class Query(Expression):
    """A cell: ``column`` at ``rotation`` rows from the row being checked."""

    __slots__ = ("column", "rotation")

    def __init__(self, column: Column, rotation: int = 0):
        self.column = column
        self.rotation = int(rotation)

    def label(self) -> str:
        if self.column.role in ("selector", "usable") and self.rotation == 0:
            return self.column.name
        return f"{self.column.name}[{self.rotation}]"


class ChallengeExpr(Expression):
    __slots__ = ("challenge",)

    def __init__(self, challenge: Challenge):
        self.challenge = challenge


class Negated(Expression):
    __slots__ = ("inner",)

    def __init__(self, inner: Expression):
        self.inner = inner

    def children(self):
        return (self.inner,)


class Sum(Expression):
    __slots__ = ("left", "right")

    def __init__(self, left: Expression, right: Expression):
        self.left, self.right = left, right

    def children(self):
        return (self.left, self.right)


class Product(Expression):
    __slots__ = ("left", "right")

    def __init__(self, left: Expression, right: Expression):
        self.left, self.right = left, right

    def children(self):
        return (self.left, self.right)


class Scaled(Expression):
    __slots__ = ("inner", "factor")

    def __init__(self, inner: Expression, factor: int):
        self.inner = inner
        self.factor = int(factor) % P

    def children(self):
        return (self.inner,)


def postorder(roots) -> list[Expression]:
    """Every distinct node reachable from ``roots``, children before parents (iterative)."""
    seen: set[int] = set()
    out: list[Expression] = []
    stack = [(r, False) for r in reversed(list(roots))]
    while stack:
        node, expanded = stack.pop()
        if id(node) in seen:
            continue
        if expanded:
            seen.add(id(node))
            out.append(node)
            continue
        stack.append((node, True))
        for ch in reversed(node.children()):
            if id(ch) not in seen:
                stack.append((ch, False))
    return out



def sum_exprs(terms) -> Expression:
    """Sum of expressions (0 for none), as a balanced tree."""
    items = [as_expr(t) for t in terms]
    if not items:
        return Constant(0)
    while len(items) > 1:
        items = [Sum(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
    return items[0]


def product_exprs(factors) -> Expression:
    """Product of expressions (1 for none), as a balanced tree."""
    items = [as_expr(t) for t in factors]
    if not items:
        return Constant(1)
    while len(items) > 1:
        items = [Product(items[i], items[i + 1]) if i + 1 < len(items) else items[i]
                 for i in range(0, len(items), 2)]
    return items[0]
