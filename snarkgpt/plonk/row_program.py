"""Expressions compiled to a register program (`Program`), for evaluation over whole columns.

``compile_expressions(exprs)`` turns a list of expressions into one `Program`: a flat list
of register instructions with common subexpressions shared, constants and challenges
hoisted out as row-invariant scalars, and registers reused (linear scan). One program can
have many outputs (for instance every constraint of every gate). row_kernels.py runs it.
"""
from __future__ import annotations

import numpy as np

from snarkgpt.field import Fr

from .expression import (ADVICE, FIXED, INSTANCE, KIND_ORDER, P, Challenge, ChallengeExpr,
                         Constant, Expression, Negated, Product, Query, Scaled, Sum, as_expr,
                         postorder, signed)

__all__ = ["Program", "compile_expression", "compile_expressions", "OP_NAMES"]

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
        return self._compute_scalars(challenge_dict(challenges))

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


def challenge_dict(challenges) -> dict[int, int]:
    """{challenge index: value} from a mapping (Challenge or index -> int), a sequence by
    index, or None."""
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
    qs = sorted(queries, key=lambda q: (KIND_ORDER[q[0]], q[1], q[2]))
    return Program(exprs, code, num_regs, scalar_ops, qs, chal)

