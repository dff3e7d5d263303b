"""Polynomial constraint expressions over circuit cells, and their compiled form.

An `Expression` is a tree built with ordinary Python operators from

* constants (Python ints, reduced mod r, the BN254 scalar field modulus),
* cell queries: a `Column` read at a rotation, ``col.cur()``, ``col.next()``,
  ``col.prev()``, ``col.rot(i)`` (row ``i`` relative to the row being checked),
* selectors (simple selectors are fixed 0/1 columns, see circuit.py),
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
* ``compile_expressions(exprs)`` turns a list of expressions into one `Program`: a flat list
  of register instructions with common subexpressions shared, constants and challenges
  hoisted out as row-invariant scalars, and registers reused (linear scan). One program can
  have many outputs (for instance every constraint of every gate).
* ``evaluate_rows(program, advice, fixed, instance, challenges, n, rotation_stride)`` runs a
  single-output program over whole columns with a compiled Numba kernel (``prange`` over
  chunks of rows; every instruction runs over a chunk of rows at a time so the interpreter
  overhead is paid once per chunk, not per row). ``evaluate_rows_multi`` returns every output.

Columns are (n, 4) uint64 arrays of Fr elements in Montgomery form (see snarkgpt.field). A
query at rotation ``rot`` on row ``i`` reads row ``(i + rot * rotation_stride) mod n``: on
the base domain the stride is 1; on an extended coset domain of size ``n = 2^j * 2^k`` the
prover passes ``rotation_stride = 2^j`` and the coset evaluations of every column, and gets
the coset evaluations of the expression.

Each kind of column is passed as one C-contiguous (num_columns, n, 4) uint64 array (the
layout `Assignment` stores); lists of (n, 4) columns are accepted and stacked (a copy).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from snarkgpt.field import FR_MODULUS, Fr, ifma
from snarkgpt.field.arith import fr_add, fr_mul, fr_neg, fr_sub, load, store

P = FR_MODULUS

__all__ = [
    "Column", "Selector", "Challenge", "Expression", "Constant", "Query", "ChallengeExpr",
    "Negated", "Sum", "Product", "Scaled", "as_expr", "sum_exprs", "product_exprs", "IntProgram",
    "Program", "compile_expression", "compile_expressions", "evaluate_rows",
    "evaluate_rows_multi", "evaluate_rows_naive", "signed", "format_value",
    "ADVICE", "FIXED", "INSTANCE", "TABLE_ROLES", "PRIVATE_ROLES",
]

ADVICE, FIXED, INSTANCE = "advice", "fixed", "instance"
_KIND_CODE = {ADVICE: 0, FIXED: 1, INSTANCE: 2}

TABLE_ROLES = ("table", "weight_table")
"""Roles of lookup-table columns: "weight_table" is a table holding model weights (the token
embedding), private like a "weight" column."""
PRIVATE_ROLES = ("weight", "weight_table")
"""Roles of fixed columns that hold model weights: keygen linearizes every one of them, so
no proof ever opens one (plonk/linearization.py, docs/committed-weights.md)."""


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
    behind a hiding commitment. Columns are created by a ConstraintSystem.
    """

    __slots__ = ("kind", "index", "name", "phase", "role")

    def __init__(self, kind: str, index: int, name: str, phase: int = 0, role: str | None = None):
        if kind not in _KIND_CODE:
            raise ValueError(f"unknown column kind {kind!r}")
        self.kind = kind
        self.index = int(index)
        self.name = name
        self.phase = int(phase)
        self.role = role or kind

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
        return [seen[k] for k in sorted(seen, key=lambda k: (_KIND_CODE[k[0]], k[1], k[2]))]

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


class IntProgram:
    """Several expressions evaluated together with Python ints mod r (the verifier's path).

    The nodes of all roots are ordered once (a subtree shared between expressions is one
    node), so each evaluation is a single pass over a flat list of operations instead of a
    tree walk per expression: the verifier runs the same constraints on every proof."""

    _CONST, _QUERY, _CHAL, _NEG, _SUM, _PROD, _SCALE = range(7)

    def __init__(self, roots):
        roots = [as_expr(r) for r in roots]
        nodes = postorder(roots)
        pos = {id(node): i for i, node in enumerate(nodes)}
        ops = []
        for node in nodes:
            t = type(node)
            if t is Constant:
                ops.append((self._CONST, node.value % P, None))
            elif t is Query:
                ops.append((self._QUERY, (node.column.kind, node.column.index, node.rotation), None))
            elif t is ChallengeExpr:
                ops.append((self._CHAL, node.challenge.index, None))
            elif t is Negated:
                ops.append((self._NEG, pos[id(node.inner)], None))
            elif t is Sum:
                ops.append((self._SUM, pos[id(node.left)], pos[id(node.right)]))
            elif t is Product:
                ops.append((self._PROD, pos[id(node.left)], pos[id(node.right)]))
            elif t is Scaled:
                ops.append((self._SCALE, pos[id(node.inner)], node.factor))
            else:  # pragma: no cover
                raise TypeError(t)
        self.ops = ops
        self.roots = [pos[id(r)] for r in roots]
        # every distinct (kind, index, rotation) the roots read, in first-use order
        self.cells = list(dict.fromkeys(a for op, a, _ in ops if op == self._QUERY))

    def run(self, cells: dict, challenges: dict, all_nodes: bool = False) -> list:
        """The roots' values (every node's with ``all_nodes``, indexed like ``ops``);
        ``cells[(kind, index, rotation)]`` and ``challenges[index]`` are ints mod r (a missing
        cell or challenge raises KeyError naming it)."""
        CONST, QUERY, CHAL, NEG, SUM, PROD = range(6)
        v = [0] * len(self.ops)
        for i, (op, a, b) in enumerate(self.ops):
            if op == PROD:
                v[i] = v[a] * v[b] % P
            elif op == SUM:
                v[i] = (v[a] + v[b]) % P
            elif op == QUERY:
                v[i] = cells[a] % P
            elif op == CONST:
                v[i] = a
            elif op == CHAL:
                v[i] = challenges[a] % P
            elif op == NEG:
                v[i] = (-v[a]) % P
            else:
                v[i] = v[a] * b % P
        return v if all_nodes else [v[r] for r in self.roots]

    def cell_gradients(self, node_values: list, root_weights: list, keys) -> dict:
        """d(sum_j root_weights[j] * root_j) / d(cell) for each cell key in ``keys`` that the
        program reads, at the point ``node_values`` (from ``run(..., all_nodes=True)``): one
        reverse pass over the operations (linearization.py uses it to read off the
        coefficients of an expression that is affine in those cells)."""
        QUERY, NEG, SUM, PROD = self._QUERY, self._NEG, self._SUM, self._PROD
        ops, v = self.ops, node_values
        g = [0] * len(ops)
        for r, w in zip(self.roots, root_weights):
            g[r] = (g[r] + w) % P
        out = {}
        for i in range(len(ops) - 1, -1, -1):
            gi = g[i]
            if not gi:
                continue
            op, a, b = ops[i]
            if op == PROD:
                g[a] = (g[a] + gi * v[b]) % P
                g[b] = (g[b] + gi * v[a]) % P
            elif op == SUM:
                g[a] = (g[a] + gi) % P
                g[b] = (g[b] + gi) % P
            elif op == QUERY:
                if a in keys:
                    out[a] = (out.get(a, 0) + gi) % P
            elif op == NEG:
                g[a] = (g[a] - gi) % P
            elif op == self._SCALE:
                g[a] = (g[a] + gi * b) % P
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


# ---------------------------------------------------------------------------------------
# Compilation to a register program
# ---------------------------------------------------------------------------------------
# Vector instructions, rows of `Program.code` = (op, dst, a, b); a register holds one
# chunk of rows. Few distinct operations keep the kernel small (and quick to compile).
OP_LOAD_ADVICE = 1    # reg[dst] = advice[a] rotated by b
OP_LOAD_FIXED = 2     # reg[dst] = fixed[a] rotated by b
OP_LOAD_INSTANCE = 3  # reg[dst] = instance[a] rotated by b
OP_ADD = 4            # reg[dst] = reg[a] + reg[b]
OP_SUB = 5            # reg[dst] = reg[a] - reg[b]
OP_MUL = 6            # reg[dst] = reg[a] * reg[b]
OP_NEG = 7            # reg[dst] = -reg[a]
OP_BCAST = 8          # reg[dst] = scalar[a] on every row
OP_OUT = 9            # out[dst] = reg[a]

OP_NAMES = {OP_LOAD_ADVICE: "load_advice", OP_LOAD_FIXED: "load_fixed",
            OP_LOAD_INSTANCE: "load_instance", OP_ADD: "add", OP_SUB: "sub", OP_MUL: "mul",
            OP_NEG: "neg", OP_BCAST: "bcast", OP_OUT: "out"}
_LOAD_OP = {ADVICE: OP_LOAD_ADVICE, FIXED: OP_LOAD_FIXED, INSTANCE: OP_LOAD_INSTANCE}


class _Builder:
    """Value numbering: one node per distinct operation (CSE), with peephole folding."""

    def __init__(self):
        self.nodes: list[tuple] = []   # (is_vector, op, a, b)
        self.index: dict[tuple, int] = {}

    def _node(self, is_vec, op, a=None, b=None):
        key = (is_vec, op, a, b)
        i = self.index.get(key)
        if i is None:
            i = len(self.nodes)
            self.nodes.append(key)
            self.index[key] = i
        return i

    def is_vec(self, i):
        return self.nodes[i][0]

    def const_of(self, i):
        n = self.nodes[i]
        return n[2] if (not n[0] and n[1] == "const") else None

    def const(self, v):
        return self._node(False, "const", int(v) % P)

    def challenge(self, idx):
        return self._node(False, "chal", int(idx))

    def load(self, kind, col, rot):
        return self._node(True, kind, int(col), int(rot))

    def bcast(self, s):
        """A scalar repeated on every row (a vector node)."""
        return self._node(True, "bcast", s)

    def neg(self, x):
        n = self.nodes[x]
        if not n[0]:
            c = self.const_of(x)
            if c is not None:
                return self.const(-c)
            if n[1] == "neg":
                return n[2]
            return self._node(False, "neg", x)
        if n[1] == "neg":
            return n[2]
        if n[1] == "sub":
            return self.sub(n[3], n[2])
        return self._node(True, "neg", x)

    def add(self, x, y):
        vx, vy = self.is_vec(x), self.is_vec(y)
        if not vx and not vy:
            cx, cy = self.const_of(x), self.const_of(y)
            if cx is not None and cy is not None:
                return self.const(cx + cy)
            if cx == 0:
                return y
            if cy == 0:
                return x
            return self._node(False, "add", min(x, y), max(x, y))
        if not vx:
            x, y = y, x
            vx, vy = vy, vx
        if not vy:  # vector + scalar
            c = self.const_of(y)
            if c == 0:
                return x
            ny = self.nodes[y]
            if ny[1] == "neg":
                return self._node(True, "sub", x, self.bcast(ny[2]))
            if c is not None and signed(c) < 0:
                return self._node(True, "sub", x, self.bcast(self.const(-c)))
            return self._node(True, "add", min(x, self.bcast(y)), max(x, self.bcast(y)))
        nx, ny = self.nodes[x], self.nodes[y]
        if ny[1] == "neg" and ny[0]:
            return self.sub(x, ny[2])
        if nx[1] == "neg" and nx[0]:
            return self.sub(y, nx[2])
        return self._node(True, "add", min(x, y), max(x, y))

    def sub(self, x, y):
        vx, vy = self.is_vec(x), self.is_vec(y)
        if x == y:
            return self.const(0)
        if not vx and not vy:
            cx, cy = self.const_of(x), self.const_of(y)
            if cx is not None and cy is not None:
                return self.const(cx - cy)
            if cy == 0:
                return x
            return self._node(False, "sub", x, y)
        if vx and not vy:
            if self.const_of(y) == 0:
                return x
            return self._node(True, "sub", x, self.bcast(y))
        if not vx and vy:
            if self.const_of(x) == 0:
                return self.neg(y)
            return self._node(True, "sub", self.bcast(x), y)
        ny = self.nodes[y]
        if ny[1] == "neg" and ny[0]:
            return self.add(x, ny[2])
        return self._node(True, "sub", x, y)

    def mul(self, x, y):
        vx, vy = self.is_vec(x), self.is_vec(y)
        if not vx and not vy:
            cx, cy = self.const_of(x), self.const_of(y)
            if cx is not None and cy is not None:
                return self.const(cx * cy)
            for c, other in ((cx, y), (cy, x)):
                if c == 0:
                    return self.const(0)
                if c == 1:
                    return other
            return self._node(False, "mul", min(x, y), max(x, y))
        if not vx:
            x, y = y, x
            vx, vy = vy, vx
        if not vy:  # vector * scalar
            c = self.const_of(y)
            if c == 0:
                return self.const(0)
            if c == 1:
                return x
            if c == P - 1:
                return self.neg(x)
            return self._node(True, "mul", min(x, self.bcast(y)), max(x, self.bcast(y)))
        return self._node(True, "mul", min(x, y), max(x, y))

    def build(self, expr: Expression) -> int:
        memo: dict[int, int] = {}
        for node in postorder([expr]):
            t = type(node)
            if t is Constant:
                v = self.const(node.value)
            elif t is Query:
                v = self.load(node.column.kind, node.column.index, node.rotation)
            elif t is ChallengeExpr:
                v = self.challenge(node.challenge.index)
            elif t is Negated:
                v = self.neg(memo[id(node.inner)])
            elif t is Sum:
                v = self.add(memo[id(node.left)], memo[id(node.right)])
            elif t is Product:
                v = self.mul(memo[id(node.left)], memo[id(node.right)])
            elif t is Scaled:
                v = self.mul(memo[id(node.inner)], self.const(node.factor))
            else:  # pragma: no cover
                raise TypeError(t)
            memo[id(node)] = v
        return memo[id(expr)]


_VEC_OPS = {"add": OP_ADD, "sub": OP_SUB, "mul": OP_MUL, "neg": OP_NEG}


class Program:
    """A compiled list of expressions (see the module docstring).

    code:        (m, 4) int64 instructions (op, dst, a, b) for `evaluate_rows`
    num_regs:    registers (each a chunk of rows) the code needs
    num_outputs: len(expressions); output k is expressions[k]
    scalar_ops:  row-invariant values (constants, challenges, their combinations), computed
                 once per evaluation by `scalars()`; the code refers to them by slot
    queries:     the distinct (kind, column index, rotation) the code reads
    challenges:  indices of the challenges it needs
    """

    def __init__(self, expressions, code, num_regs, scalar_ops, queries, challenges):
        self.expressions = list(expressions)
        self.code = np.ascontiguousarray(np.asarray(code, dtype=np.int64).reshape(-1, 4))
        self.num_regs = int(num_regs)
        self.num_outputs = len(self.expressions)
        self.scalar_ops = scalar_ops
        self.queries = queries
        self.challenges = challenges
        self.max_rotation = max((abs(q[2]) for q in queries), default=0)
        self._const_scalars = None if challenges else self._compute_scalars({})

    def _compute_scalars(self, chal) -> np.ndarray:
        vals = []
        for op, a, b in self.scalar_ops:
            if op == "const":
                v = a
            elif op == "chal":
                if a not in chal:
                    raise ValueError(f"program needs challenge #{a}, which has no value")
                v = int(chal[a]) % P
            elif op == "add":
                v = (vals[a] + vals[b]) % P
            elif op == "sub":
                v = (vals[a] - vals[b]) % P
            elif op == "mul":
                v = vals[a] * vals[b] % P
            elif op == "neg":
                v = (-vals[a]) % P
            else:  # pragma: no cover
                raise ValueError(op)
            vals.append(v)
        if not vals:
            return np.zeros((1, 4), dtype=np.uint64)
        return Fr.from_ints(vals)

    def scalars(self, challenges=None) -> np.ndarray:
        """Montgomery values of the scalar slots; ``challenges`` maps a Challenge or its
        index to an int (or is a sequence indexed by challenge index)."""
        if self._const_scalars is not None:
            return self._const_scalars
        return self._compute_scalars(_challenge_dict(challenges))

    def listing(self) -> str:
        """Human-readable instruction listing (for debugging and docs)."""
        lines = []
        for op, d, a, b in self.code.tolist():
            name = OP_NAMES[op]
            if op in (OP_LOAD_ADVICE, OP_LOAD_FIXED, OP_LOAD_INSTANCE):
                lines.append(f"r{d} = {name}(col {a}, rot {b})")
            elif op == OP_BCAST:
                lines.append(f"r{d} = s{a}")
            elif op == OP_OUT:
                lines.append(f"out{d} = r{a}")
            elif op == OP_NEG:
                lines.append(f"r{d} = neg(r{a})")
            else:
                lines.append(f"r{d} = {name}(r{a}, r{b})")
        return "\n".join(lines)

    def __repr__(self):
        return (f"Program({self.num_outputs} outputs, {len(self.code)} instructions, "
                f"{self.num_regs} registers, {len(self.scalar_ops)} scalars)")


def _challenge_dict(challenges) -> dict[int, int]:
    if challenges is None:
        return {}
    if isinstance(challenges, dict):
        return {(k.index if isinstance(k, Challenge) else int(k)): int(v) for k, v in challenges.items()}
    return {i: int(v) for i, v in enumerate(challenges)}


def compile_expression(expr) -> Program:
    return compile_expressions([expr])


def compile_expressions(exprs) -> Program:
    """Compile expressions into one multi-output `Program` (shared subexpressions computed
    once, registers reused after their last use)."""
    exprs = [as_expr(e) for e in exprs]
    bld = _Builder()
    roots = [bld.build(e) for e in exprs]
    roots = [r if bld.is_vec(r) else bld.bcast(r) for r in roots]

    # reachable nodes
    live = set()
    stack = list(roots)
    while stack:
        i = stack.pop()
        if i in live:
            continue
        live.add(i)
        is_vec, op, a, b = bld.nodes[i]
        if op in ("const", "chal", ADVICE, FIXED, INSTANCE):
            continue
        stack.append(a)
        if b is not None:
            stack.append(b)
    order = sorted(live)  # creation order is topological

    # scalar slots
    slot: dict[int, int] = {}
    scalar_ops = []
    for i in order:
        is_vec, op, a, b = bld.nodes[i]
        if is_vec:
            continue
        if op == "const":
            scalar_ops.append(("const", a, None))
        elif op == "chal":
            scalar_ops.append(("chal", a, None))
        else:
            scalar_ops.append((op, slot[a], slot[b] if b is not None else None))
        slot[i] = len(scalar_ops) - 1

    # vector instructions (register numbers assigned below)
    vec_nodes = [i for i in order if bld.nodes[i][0]]
    outputs_of: dict[int, list[int]] = {}
    for k, r in enumerate(roots):
        outputs_of.setdefault(r, []).append(k)
    # position of each instruction and the last instruction reading each node
    last_use: dict[int, int] = {}
    pos = 0
    for i in vec_nodes:
        _, op, a, b = bld.nodes[i]
        if op not in (ADVICE, FIXED, INSTANCE, "bcast"):
            last_use[a] = pos
            if op in ("add", "sub", "mul"):
                last_use[b] = pos
        pos += 1
        for _k in outputs_of.get(i, ()):
            last_use[i] = pos
            pos += 1

    code = []
    reg: dict[int, int] = {}
    free: list[int] = []
    num_regs = 0
    queries = set()
    pos = 0
    for i in vec_nodes:
        _, op, a, b = bld.nodes[i]
        if op in (ADVICE, FIXED, INSTANCE):
            ins = [_LOAD_OP[op], None, a, b]
            queries.add((op, a, b))
            operands = []
        elif op == "bcast":
            ins = [OP_BCAST, None, slot[a], 0]
            operands = []
        elif op in ("add", "sub", "mul"):
            ins = [_VEC_OPS[op], None, reg[a], reg[b]]
            operands = [a, b]
        else:  # neg
            ins = [OP_NEG, None, reg[a], 0]
            operands = [a]
        # free operands whose last use is here (elementwise ops may write in place)
        for o in set(operands):
            if last_use.get(o) == pos:
                free.append(reg.pop(o))
        if free:
            free.sort(reverse=True)
            d = free.pop()
        else:
            d = num_regs
            num_regs += 1
        ins[1] = d
        reg[i] = d
        code.append(tuple(ins))
        pos += 1
        for k in outputs_of.get(i, ()):
            code.append((OP_OUT, k, d, 0))
            pos += 1
        if last_use.get(i, -1) < pos:  # only read by its OUTs (or by nothing)
            free.append(reg.pop(i))
    chal = sorted({a for (op, a, _) in scalar_ops if op == "chal"})
    qs = sorted(queries, key=lambda q: (_KIND_CODE[q[0]], q[1], q[2]))
    return Program(exprs, code, num_regs, scalar_ops, qs, chal)


# ---------------------------------------------------------------------------------------
# The row evaluator
# ---------------------------------------------------------------------------------------
CHUNK_ROWS = 256


@nb.njit(cache=True, nogil=True)
def _eval_chunk(code, scalars, advice, fixed, instance, out, n, stride, nregs, chunk, ci):
    """Run the program on rows [ci * chunk, min(n, (ci + 1) * chunk))."""
    ncode = code.shape[0]
    lo = ci * chunk
    m = min(n, lo + chunk) - lo
    regs = np.empty((max(nregs, 1), chunk, 4), dtype=np.uint64)
    for pc in range(ncode):
        op = code[pc, 0]
        d = code[pc, 1]
        a = code[pc, 2]
        b = code[pc, 3]
        if op <= 3:
            if op == 1:
                col = advice[a]
            elif op == 2:
                col = fixed[a]
            else:
                col = instance[a]
            idx = (lo + b * stride) % n
            z = regs[d]
            for r in range(m):
                z[r, 0] = col[idx, 0]
                z[r, 1] = col[idx, 1]
                z[r, 2] = col[idx, 2]
                z[r, 3] = col[idx, 3]
                idx += 1
                if idx == n:
                    idx = 0
        elif op == 4:
            x = regs[a]
            y = regs[b]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_add(load(x, r), load(y, r)))
        elif op == 5:
            x = regs[a]
            y = regs[b]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_sub(load(x, r), load(y, r)))
        elif op == 6:
            x = regs[a]
            y = regs[b]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_mul(load(x, r), load(y, r)))
        elif op == 7:
            x = regs[a]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_neg(load(x, r)))
        elif op == 8:
            s = load(scalars, a)
            z = regs[d]
            for r in range(m):
                store(z, r, s)
        else:
            x = regs[a]
            o = out[d]
            for r in range(m):
                o[lo + r, 0] = x[r, 0]
                o[lo + r, 1] = x[r, 1]
                o[lo + r, 2] = x[r, 2]
                o[lo + r, 3] = x[r, 3]


@nb.njit(parallel=True, cache=True, nogil=True)
def _eval_kernel(code, scalars, advice, fixed, instance, out, n, stride, nregs, chunk):
    """The row evaluator: chunks of rows in parallel (the chunk body is a separate function,
    which keeps the parallel region small and quick to compile)."""
    nchunks = (n + chunk - 1) // chunk
    for ci in nb.prange(nchunks):
        _eval_chunk(code, scalars, advice, fixed, instance, out, n, stride, nregs, chunk, ci)


# The same evaluator with AVX-512 IFMA (field/ifma.py): eight rows per vector, in the x16
# Montgomery form. Its inputs come from transforms that produce that form at no cost (a
# coset NTT's multiplier table times 16, vanishing/prover.py).
IFMA_CHUNK_VECTORS = 16        # 128 rows: registers of 5 KiB, the working set in L2


@nb.njit(cache=True, nogil=True)
def _eval_chunk_x16(code, scalars, advice, fixed, instance, out, n, stride, nregs, V, ci):
    """Run the program on rows [ci * 8 V, (ci + 1) * 8 V) (n a multiple of 8 V)."""
    lo = ci * 8 * V
    regs = np.empty((max(nregs, 1), V, 5, 8), dtype=np.uint64)
    for pc in range(code.shape[0]):
        op = code[pc, 0]
        d = code[pc, 1]
        a = code[pc, 2]
        b = code[pc, 3]
        if op <= 3:
            start = (lo + b * stride) % n
            for v in range(V):
                s = start + 8 * v
                if s >= n:
                    s -= n
                if op == 1:
                    ifma.vreg_load(regs, d, v, advice, a, s)
                elif op == 2:
                    ifma.vreg_load(regs, d, v, fixed, a, s)
                else:
                    ifma.vreg_load(regs, d, v, instance, a, s)
        elif op == 4:
            for v in range(V):
                ifma.vreg_add(regs, d, a, b, v)
        elif op == 5:
            for v in range(V):
                ifma.vreg_sub(regs, d, a, b, v)
        elif op == 6:
            for v in range(V):
                ifma.vreg_mul(regs, d, a, b, v)
        elif op == 7:
            for v in range(V):
                ifma.vreg_neg(regs, d, a, a, v)
        elif op == 8:
            for v in range(V):
                ifma.vreg_bcast(regs, d, v, scalars, a)
        else:
            for v in range(V):
                ifma.vreg_store(regs, a, v, out, d, lo + 8 * v)


@nb.njit(parallel=True, cache=True, nogil=True)
def _eval_kernel_x16(code, scalars, advice, fixed, instance, out, n, stride, nregs, V):
    for ci in nb.prange(n // (8 * V)):
        _eval_chunk_x16(code, scalars, advice, fixed, instance, out, n, stride, nregs, V, ci)


def evaluate_rows_x16(program: Program, advice, fixed, instance, challenges=None, n=None,
                      rotation_stride: int = 1) -> np.ndarray:
    """`evaluate_rows_multi` on columns in the x16 Montgomery form (each value 16 x mod p
    in Montgomery form; field/ifma.py), with the outputs in that form too, computed with
    AVX-512 IFMA eight rows at a time. Needs ifma.available() and n a multiple of 8."""
    adv = _as_columns(advice, n, "advice")
    fix = _as_columns(fixed, n, "fixed")
    ins = _as_columns(instance, n, "instance")
    _check_columns(program, adv, fix, ins)
    if n % 8:
        raise ValueError(f"evaluate_rows_x16 needs n a multiple of 8, got {n}")
    scal = ifma.to_limbs52(program.scalars(challenges), times16=True)
    out = np.empty((program.num_outputs, n, 4), dtype=np.uint64)
    V = IFMA_CHUNK_VECTORS          # vectors per chunk: a power of two dividing n / 8
    while (n // 8) % V:
        V //= 2
    if n and program.num_outputs:
        _eval_kernel_x16(program.code, scal, adv, fix, ins, out, n, int(rotation_stride),
                         program.num_regs, V)
    return out


def _as_columns(cols, n: int, what: str) -> np.ndarray:
    """A (c, >= n, 4) uint64 array (used as is), or a list / tuple of (>= n, 4) uint64
    columns (stacked into one, a copy: pass a 3-D array to avoid it)."""
    if cols is None:
        return np.zeros((0, max(n, 1), 4), dtype=np.uint64)
    if isinstance(cols, np.ndarray):
        if cols.ndim != 3 or cols.shape[2] != 4 or cols.dtype != np.uint64:
            raise TypeError(f"{what}: pass a list of (n, 4) columns or a (num_columns, n, 4) "
                            f"uint64 array, not {cols.dtype} {cols.shape}")
        if cols.shape[0] and cols.shape[1] < n:
            raise ValueError(f"{what} columns have {cols.shape[1]} rows, fewer than n = {n}")
        return np.ascontiguousarray(cols)
    cols = list(cols)
    if not cols:
        return np.zeros((0, max(n, 1), 4), dtype=np.uint64)
    for i, c in enumerate(cols):
        if not (isinstance(c, np.ndarray) and c.dtype == np.uint64 and c.ndim == 2 and c.shape[1] == 4):
            raise TypeError(f"{what}[{i}]: expected an (n, 4) uint64 array")
        if c.shape[0] < n:
            raise ValueError(f"{what}[{i}] has {c.shape[0]} rows, fewer than n = {n}")
    return np.stack([c[:n] for c in cols])


def _check_columns(program: Program, adv, fix, ins):
    counts = {ADVICE: len(adv), FIXED: len(fix), INSTANCE: len(ins)}
    for kind, col, _rot in program.queries:
        if col >= counts[kind]:
            raise ValueError(f"program reads {kind} column {col} but only {counts[kind]} were given")


def evaluate_rows_multi(program: Program, advice, fixed, instance, challenges=None, n=None,
                        rotation_stride: int = 1, out=None) -> np.ndarray:
    """Every output of ``program`` on rows 0..n-1: a (num_outputs, n, 4) Fr array.

    advice / fixed / instance: (c, n, 4) arrays of Montgomery values, or lists of (n, 4)
    columns (stacked, a copy), or None (no columns of that kind);
    challenges: mapping Challenge-or-index -> int, or a sequence by index; n defaults to the
    length of the first column; a query at rotation rot reads row (i + rot*stride) mod n."""
    if n is None:
        for group in (advice, fixed, instance):
            if group is not None and len(group):
                n = (group.shape[1] if isinstance(group, np.ndarray) else group[0].shape[0])
                break
        else:
            raise ValueError("n is required when no column is given")
    n = int(n)
    adv = _as_columns(advice, n, "advice")
    fix = _as_columns(fixed, n, "fixed")
    ins = _as_columns(instance, n, "instance")
    _check_columns(program, adv, fix, ins)
    scal = program.scalars(challenges)
    if out is None:
        out = np.empty((program.num_outputs, n, 4), dtype=np.uint64)
    if n and program.num_outputs:
        _eval_kernel(program.code, scal, adv, fix, ins, out, n, int(rotation_stride),
                     program.num_regs, CHUNK_ROWS)
    return out


def evaluate_rows(program: Program, advice, fixed, instance, challenges=None, n=None,
                  rotation_stride: int = 1) -> np.ndarray:
    """A single-output program on rows 0..n-1 as an (n, 4) Fr array (see
    `evaluate_rows_multi`)."""
    if program.num_outputs != 1:
        raise ValueError(f"program has {program.num_outputs} outputs: use evaluate_rows_multi")
    return evaluate_rows_multi(program, advice, fixed, instance, challenges, n, rotation_stride)[0]


def evaluate_rows_naive(expr: Expression, advice, fixed, instance, challenges=None, n=None,
                        rotation_stride: int = 1, rows=None) -> list[int]:
    """Reference evaluator with Python ints, row by row (slow; for tests and audits).

    Returns canonical ints for ``rows`` (default: all n rows)."""
    expr = as_expr(expr)
    groups = {ADVICE: advice, FIXED: fixed, INSTANCE: instance}
    if n is None:
        n = next(g[0].shape[0] for g in groups.values() if g is not None and len(g))
    cache: dict[tuple, list[int] | int] = {}

    def column_ints(kind, idx):
        key = (kind, idx)
        if key not in cache:
            cache[key] = Fr.to_ints(np.ascontiguousarray(groups[kind][idx][:n]))
        return cache[key]

    def one_int(kind, idx, row):
        # a few given rows (keygen asks about the 5 or 6 blinding rows): convert only the
        # cells they read, not every column in full
        key = (kind, idx, row)
        if key not in cache:
            cache[key] = Fr.to_int(groups[kind][idx][row])
        return cache[key]

    read = one_int if rows is not None else (lambda kind, idx, row: column_ints(kind, idx)[row])
    chal = _challenge_dict(challenges)
    out = []
    for i in (range(n) if rows is None else rows):
        def cell(q, i=i):
            return read(q.column.kind, q.column.index, (i + q.rotation * rotation_stride) % n)
        out.append(expr.evaluate_int(cell, lambda c: chal[c.index]))
    return out
