"""`IntProgram`: expressions evaluated together with Python ints mod r (the verifier's path;
compiled_program.py runs the same operations in one kernel)."""
from __future__ import annotations

from .expression import (P, ChallengeExpr, Constant, Negated, Product, Query, Scaled, Sum,
                         as_expr, postorder)

__all__ = ["IntProgram"]


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
        self._compiled = None      # its kernel form: compiled_program.compiled(self), on first use

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

