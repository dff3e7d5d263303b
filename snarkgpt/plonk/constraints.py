"""What a `ConstraintSystem` holds besides columns: gates, lookups and lookup tables."""
from __future__ import annotations

from dataclasses import dataclass

from .errors import CircuitError
from .expression import Column, Expression, Selector, as_expr

__all__ = ["Gate", "GatePolynomial", "Lookup", "Table", "constraint_list"]


@dataclass
class Gate:
    """A named gate: every constraint, times the selector, vanishes on every usable row."""

    name: str
    constraint_names: list[str]
    constraints: list[Expression]
    selector: Expression           # a selector query, or any expression switching it on
    selector_obj: Selector | None  # the Selector, when the gate has a simple selector

    def polynomials(self) -> list[Expression]:
        return [self.selector * c for c in self.constraints]

    def degree(self) -> int:
        return max((p.degree() for p in self.polynomials()), default=0)


@dataclass
class GatePolynomial:
    gate: Gate
    index: int          # position of the constraint in its gate
    name: str           # the constraint's name
    constraint: Expression
    expression: Expression  # selector * constraint: what must vanish


@dataclass
class Table:
    """A lookup table made of dedicated fixed columns, filled with `Layouter.assign_table`."""

    name: str
    columns: list[Column]

    def exprs(self) -> list[Expression]:
        return [c.cur() for c in self.columns]


@dataclass
class Lookup:
    """On every usable row where ``selector`` != 0, the tuple ``inputs`` equals some row of
    ``table`` (a tuple of expressions evaluated on the usable rows)."""

    name: str
    inputs: list[Expression]
    table: list[Expression]
    selector: Expression
    selector_obj: Selector | None
    table_name: str
    table_key: tuple

    def input_degree(self) -> int:
        return max(e.degree() for e in self.inputs)

    def table_degree(self) -> int:
        return max(e.degree() for e in self.table)

    def degree(self) -> int:
        """Constraint degree under the logUp layout assumed by `ConstraintSystem.degree`:

        a helper h = s / (beta + f) for this lookup alone, with f = sum_j theta^j f_j the
        compressed input tuple, constrained by  l_active * (h * (beta + f) - s) = 0  -> deg(f) + 2;
        for its table, m / (beta + t) alone:  l_active * (h' * (beta + t) - m) = 0   -> deg(t) + 2;
        one running sum: l_active * (phi(wX) - phi(X) - sum h) = 0                 -> 2.
        l_active = 1 - l_last - l_blind has degree 1. So max(d, e) + 2, at least 3. A proof
        of higher degree packs several fractions into one helper (`lookup.constraints`)."""
        d = max(self.input_degree() + 1, self.selector.degree())
        return max(3, d + 1, self.table_degree() + 2)


def constraint_list(constraints, gate_name):
    """[(name, expr)] from a list of exprs / (name, expr) pairs / a dict."""
    if isinstance(constraints, dict):
        items = list(constraints.items())
    else:
        if isinstance(constraints, (Expression, tuple)) and not isinstance(constraints, list):
            constraints = [constraints]
        items = []
        for i, c in enumerate(constraints):
            if isinstance(c, tuple):
                if len(c) != 2 or not isinstance(c[0], str):
                    raise CircuitError(f"gate {gate_name!r}: constraints are exprs or (name, expr)")
                items.append((c[0], c[1]))
            else:
                items.append((None, c))
    out = []
    for i, (n, e) in enumerate(items):
        e = as_expr(e)
        out.append((n if n is not None else (str(e) if len(items) == 1 else f"#{i}: {e}"), e))
    if not out:
        raise CircuitError(f"gate {gate_name!r} has no constraints")
    return out
