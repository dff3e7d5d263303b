"""MockProver: checks a witness against its constraint system, cell by cell, without proving.

    prover = MockProver(cs, assignment, instances)
    failures = prover.verify()      # [] when the witness satisfies every constraint
    prover.assert_satisfied()       # raises ConstraintFailure with a readable report

What it checks, on every usable row (see circuit.py for the row layout):

* every gate constraint (times its selector) vanishes: all gates are compiled to register
  programs and evaluated over whole columns by the Numba row evaluator;
* every lookup: on rows where the lookup's selector is non-zero, the input tuple is a row of
  its table (tuples are hashed to 64 bits with NumPy, matches are then compared exactly);
* every copy constraint (both cells hold the same value), including the copies that tie
  advice cells to the public instance values given here;
* structure: copies and instance values lie inside the usable rows; enabled gates and
  lookups (those with simple selectors) do not read advice cells that were never assigned.

Rows from ``usable_rows`` on belong to the prover, who fills them with random values; the
mock prover does the same (in place, in ``assignment.advice``), so a gate that reads them
fails here as it would fail to prove.

Each `Failure` names the gate and constraint (or lookup, or copy), the row, the region that
enabled the gate's selector at that row (for copies: that assigned the first cell; regions
placed side by side share rows, so regions are found by column and row), and the values of the cells involved, printed as small signed integers
when they are (-3, not r - 3).

Challenges: the mock has no transcript. If the assignment still has phases to run, they run
here with the ``challenges`` given or with uniformly random ones; otherwise the challenge
values the assignment was built with are used (``challenges`` overrides them).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snarkgpt.field import Fr

from .assignment import Assignment
from .constraint_system import ConstraintSystem
from .expression import ADVICE, FIXED, INSTANCE, Column, format_value
from .row_kernels import evaluate_rows_multi
from .row_program import compile_expressions

__all__ = ["MockProver", "Failure", "CellValue", "ConstraintFailure", "format_failures"]


@dataclass
class CellValue:
    """One cell shown in a failure report."""

    column: str
    kind: str
    row: int
    value: int                  # canonical, in [0, r)
    region: str | None
    label: str = ""             # the query as written in the constraint, e.g. "a[1]"

    def __str__(self):
        name = self.label or f"{self.column}[row {self.row}]"
        return f"{name} = {format_value(self.value)}"

    def describe(self) -> str:
        where = f", region {self.region!r}" if self.region else ""
        return f"{self.column}[row {self.row}{where}] = {format_value(self.value)}"


@dataclass
class Failure:
    """One violated constraint.

    kind: "gate" | "lookup" | "copy" | "instance" | "unassigned" | "structure"
    name: the gate / lookup name ("copy" for copies, "instance" for instance copies)
    constraint: the constraint's name within its gate (gates only)
    row: the row checked (for copies: the first cell's row; for instance copies: the
         non-instance cell's row)
    region: name of the region owning that row: for gates and lookups the one that enabled
            the selector there, for copies the one that assigned the first cell (None: none)
    cells: the cells involved, with values
    value: the constraint's value (gates) when it is not zero
    """

    kind: str
    name: str
    row: int
    region: str | None
    cells: list[CellValue] = field(default_factory=list)
    constraint: str | None = None
    value: int | None = None
    expression: str | None = None
    detail: str = ""

    def __str__(self):
        where = f"row {self.row}" + (f" (region {self.region!r})" if self.region else " (no region)")
        cells = ", ".join(str(c) for c in self.cells)
        if self.kind == "gate":
            return (f"gate {self.name!r} constraint {self.constraint!r} is not satisfied at {where}: "
                    f"{self.expression} = {format_value(self.value)} with {cells}")
        if self.kind == "lookup":
            return f"lookup {self.name!r} at {where}: {self.detail} with {cells}"
        if self.kind in ("copy", "instance"):
            a, b = self.cells
            return f"{self.kind} constraint at {where}: {a.describe()} != {b.describe()}"
        if self.kind == "unassigned":
            return f"{self.name!r} at {where} reads a cell that was never assigned: {self.detail}"
        return f"{self.name} at {where}: {self.detail}"


class ConstraintFailure(AssertionError):
    """Raised by `MockProver.assert_satisfied`; ``.failures`` lists what went wrong."""

    def __init__(self, report: str, failures: list[Failure]):
        super().__init__(report)
        self.failures = failures


def format_failures(failures: list[Failure], suppressed: dict | None = None) -> str:
    lines = [f"{len(failures) + sum((suppressed or {}).values())} constraint failure(s):"]
    lines += [f"  - {f}" for f in failures]
    for what, n in (suppressed or {}).items():
        lines.append(f"  ... and {n} more failures of {what}")
    return "\n".join(lines)


def _hash_rows(x: np.ndarray) -> np.ndarray:
    """64-bit hash of each row of a (m, L) uint64 array."""
    h = np.full(x.shape[0], 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(x.shape[1]):
            h ^= x[:, j]
            h *= np.uint64(0xFF51AFD7ED558CCD)
            h ^= h >> np.uint64(29)
    return h


class MockProver:
    def __init__(self, cs: ConstraintSystem, assignment: Assignment, instances=None,
                 challenges=None, rng=None, max_failures_per_check: int = 20,
                 check_unassigned: bool = True):
        self.cs = cs
        self.asg = assignment
        if assignment.cs is not cs:
            raise ValueError("the assignment was made for another constraint system")
        if not assignment.is_complete:
            assignment.complete(challenges, rng)
        self.challenges = dict(assignment.challenges)
        if challenges is not None:
            for c, v in dict(challenges).items():
                self.challenges[c if isinstance(c, int) else c.index] = int(v) % Fr.modulus
        self.n = assignment.n
        self.usable = assignment.usable_rows
        self.max_failures = max_failures_per_check
        self.check_unassigned = check_unassigned
        self.suppressed: dict[str, int] = {}
        self._structure: list[Failure] = []
        self.instance_values = (assignment.instance_values if instances is None
                                else [[int(v) for v in col] for col in instances])
        self.instance = self._instance_arrays(self.instance_values)
        self._blind(rng)

    # -- setup -----------------------------------------------------------------------------
    def _instance_arrays(self, values):
        cs, n = self.cs, self.n
        if len(values) != cs.num_instance:
            raise ValueError(f"{len(values)} instance columns given, the circuit has {cs.num_instance}")
        out = np.zeros((cs.num_instance, n, 4), dtype=np.uint64)
        for col, vals in zip(cs.instance_columns, values):
            arr = out[col.index]
            if len(vals) > self.usable:
                self._structure.append(Failure(
                    "structure", "instance", self.usable, None,
                    detail=f"instance column {col.name!r} has {len(vals)} values but only "
                           f"{self.usable} rows are usable"))
                vals = vals[: self.usable]
            if vals:
                arr[: len(vals)] = Fr.from_ints(vals)
        return out

    def _blind(self, rng):
        """Random values in the prover's rows, as the prover will put there."""
        extra = self.n - self.usable
        if not self.cs.num_advice or extra <= 0:
            return
        vals = Fr.random(extra * self.cs.num_advice, rng)
        self.asg.advice[:, self.usable:] = vals.reshape(self.cs.num_advice, extra, 4)

    # -- helpers ---------------------------------------------------------------------------
    def _array(self, column: Column) -> np.ndarray:
        if column.kind == INSTANCE:
            return self.instance[column.index]
        return self.asg.column_values(column)

    def _cell(self, column: Column, row: int, label: str = "") -> CellValue:
        row = int(row) % self.n
        return CellValue(column.name, column.kind, row, Fr.to_int(self._array(column)[row]),
                         self.asg.region_of(row, column), label)

    def _region(self, row: int, column: Column | None = None) -> str | None:
        """The region owning ``row`` of ``column`` (regions may share rows when they use
        different columns)."""
        return self.asg.region_of(int(row), column)

    @staticmethod
    def _switch_column(selector_obj, selector) -> Column | None:
        """The selector column that switches a gate or lookup on (the region that enabled
        it at a row is the one a failure there names)."""
        if selector_obj is not None and selector_obj.column.role != "usable":
            return selector_obj.column
        for q in selector.queries():
            if q.column.kind == FIXED and q.column.role != "usable":
                return q.column
        return None

    def _eval(self, exprs):
        prog = compile_expressions(exprs)
        return evaluate_rows_multi(prog, self.asg.advice, self.asg.fixed, self.instance,
                                   self.challenges, self.n)

    def _limit(self, what: str, rows: np.ndarray) -> np.ndarray:
        if len(rows) > self.max_failures:
            self.suppressed[what] = self.suppressed.get(what, 0) + len(rows) - self.max_failures
            return rows[: self.max_failures]
        return rows

    def _naive(self, expr, row):
        n = self.n

        def cell(q):
            return Fr.to_int(self._array(q.column)[(row + q.rotation) % n])
        return expr.evaluate_int(cell, self.challenges)

    # -- checks ----------------------------------------------------------------------------
    def verify(self) -> list[Failure]:
        """Every failure (at most ``max_failures_per_check`` per constraint, lookup or kind
        of copy; the rest are counted in ``self.suppressed``)."""
        self.suppressed = {}
        failures = list(self._structure)
        failures += self._check_gates()
        failures += self._check_lookups()
        failures += self._check_copies()
        if self.check_unassigned:
            failures += self._check_unassigned()
        self.failures = failures
        return failures

    def assert_satisfied(self) -> None:
        failures = self.verify()
        if failures:
            raise ConstraintFailure(format_failures(failures, self.suppressed), failures)

    def report(self) -> str:
        failures = self.verify()
        if not failures:
            return "all constraints are satisfied"
        return format_failures(failures, self.suppressed)

    def _check_gates(self) -> list[Failure]:
        out = []
        u = self.usable
        for gate in self.cs.gates:
            prog = self.cs.compile_gate(gate)
            vals = evaluate_rows_multi(prog, self.asg.advice, self.asg.fixed, self.instance,
                                       self.challenges, self.n)
            bad_mask = vals[:, :u].any(axis=2)
            for ci, cname in enumerate(gate.constraint_names):
                rows = np.flatnonzero(bad_mask[ci])
                if not rows.size:
                    continue
                rows = self._limit(f"gate {gate.name!r} constraint {cname!r}", rows)
                c = gate.constraints[ci]
                queries = c.queries()
                sw = self._switch_column(gate.selector_obj, gate.selector)
                for r in rows.tolist():
                    cells = [self._cell(q.column, r + q.rotation, q.label()) for q in queries]
                    sel_val = self._naive(gate.selector, r)
                    if sel_val != 1:
                        cells.append(CellValue("selector", FIXED, r, sel_val, None, str(gate.selector)))
                    out.append(Failure("gate", gate.name, r, self._region(r, sw), cells, cname,
                                       self._naive(c, r), str(c)))
        return out

    def _check_lookups(self) -> list[Failure]:
        out = []
        u = self.usable
        for key, lookups in self.cs.lookup_groups().items():
            w = len(key)
            tvals = self._eval(lookups[0].table)                    # (w, n, 4)
            table = np.ascontiguousarray(tvals[:, :u, :].transpose(1, 0, 2).reshape(u, 4 * w))
            th = _hash_rows(table)
            order = np.argsort(th, kind="stable")
            ths = th[order]
            for lk in lookups:
                vals = self._eval(lk.inputs + [lk.selector])       # (w + 1, n, 4)
                rows = np.flatnonzero(vals[w, :u].any(axis=1))
                if not rows.size:
                    continue
                inp = np.ascontiguousarray(vals[:w, rows, :].transpose(1, 0, 2).reshape(len(rows), 4 * w))
                ih = _hash_rows(inp)
                pos = np.minimum(np.searchsorted(ths, ih), len(ths) - 1)
                ok = ths[pos] == ih
                ok[ok] = (table[order[pos[ok]]] == inp[ok]).all(axis=1)
                # a hash equal to several table rows' (duplicates or collisions): check exactly
                maybe = np.flatnonzero(~ok & (ths[pos] == ih))
                if maybe.size:
                    tset = {row.tobytes() for row in table}
                    for i in maybe.tolist():
                        ok[i] = inp[i].tobytes() in tset
                bad = rows[~ok]
                if not bad.size:
                    continue
                bad = self._limit(f"lookup {lk.name!r}", bad)
                for r in bad.tolist():
                    cells = []
                    for e in lk.inputs:
                        for q in e.queries():
                            cells.append(self._cell(q.column, r + q.rotation, q.label()))
                    values = ", ".join(format_value(self._naive(e, r)) for e in lk.inputs)
                    exprs = ", ".join(str(e) for e in lk.inputs)
                    detail = f"input ({exprs}) = ({values}) is not in table {lk.table_name!r}"
                    out.append(Failure("lookup", lk.name, r,
                                       self._region(r, self._switch_column(lk.selector_obj, lk.selector)),
                                       cells, detail=detail))
        return out

    def _check_copies(self) -> list[Failure]:
        copies = self.asg.copies
        if not len(copies):
            return []
        out = []
        perm = self.cs.permutation_columns
        u = self.usable
        outside = (copies[:, 1] >= u) | (copies[:, 3] >= u) | (copies[:, 1] < 0) | (copies[:, 3] < 0)
        for i in self._limit("copies outside the usable rows", np.flatnonzero(outside)).tolist():
            pa, ra, pb, rb = copies[i].tolist()
            out.append(Failure("structure", "copy", ra, self._region(min(ra, u - 1), perm[pa]),
                               detail=f"copy between {perm[pa].name}[row {ra}] and {perm[pb].name}"
                                      f"[row {rb}] reaches past the usable rows ({u})"))
        valid = np.flatnonzero(~outside)
        c = copies[valid]
        va = np.empty((len(c), 4), dtype=np.uint64)
        vb = np.empty((len(c), 4), dtype=np.uint64)
        for side, dst in ((0, va), (2, vb)):
            pos = c[:, side]
            for j in np.unique(pos).tolist():
                m = pos == j
                dst[m] = self._array(perm[j])[c[m, side + 1]]
        bad = valid[np.flatnonzero((va != vb).any(axis=1))]
        if not bad.size:
            return out
        inst = np.array([col.kind == INSTANCE for col in perm])
        is_inst = inst[copies[bad, 0]] | inst[copies[bad, 2]]
        for kind, sel in (("copy", bad[~is_inst]), ("instance", bad[is_inst])):
            for i in self._limit(f"{kind} constraints", sel).tolist():
                pa, ra, pb, rb = copies[i].tolist()
                ca, cb = perm[pa], perm[pb]
                if kind == "instance" and ca.kind == INSTANCE and cb.kind != INSTANCE:
                    (ca, ra), (cb, rb) = (cb, rb), (ca, ra)
                cells = [self._cell(ca, ra), self._cell(cb, rb)]
                out.append(Failure(kind, kind, ra, cells[0].region, cells))
        return out

    def _check_unassigned(self) -> list[Failure]:
        out = []
        u, n = self.usable, self.n
        assigned = self.asg.advice_assigned
        checks = [(f"gate {g.name!r}", g.name, g.selector_obj, g.constraints) for g in self.cs.gates]
        checks += [(f"lookup {lk.name!r}", lk.name, lk.selector_obj, lk.inputs) for lk in self.cs.lookups]
        for what, name, sel, exprs in checks:
            if sel is None or sel.column.role == "usable":
                continue
            enabled = np.flatnonzero(self.asg.fixed[sel.column.index][:u].any(axis=1))
            if not enabled.size:
                continue
            seen = set()
            for e in exprs:
                for q in e.queries():
                    key = (q.column.index, q.rotation)
                    if q.column.kind != ADVICE or key in seen:
                        continue
                    seen.add(key)
                    rows_q = (enabled + q.rotation) % n
                    bad = np.flatnonzero(~assigned[q.column.index, rows_q] | (rows_q >= u))
                    if not bad.size:
                        continue
                    for i in self._limit(f"unassigned cells read by {what}", bad).tolist():
                        r, rq = int(enabled[i]), int(rows_q[i])
                        note = " (an unusable row)" if rq >= u else ""
                        out.append(Failure("unassigned", name, r, self._region(r, sel.column),
                                           [self._cell(q.column, rq, q.label())],
                                           detail=f"{q.label()} is {q.column.name}[row {rq}]{note}"))
        return out
