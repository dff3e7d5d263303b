"""Linearization: columns the verifier folds into a commitment instead of reading their value.

The quotient check at x is C(x) = h(x) (x^n - 1), with C = sum_i y^(N-1-i) C_i over every
constraint identity. Suppose a set S of column queries at rotation 0 is such that every
monomial of every C_i (expanded in the cell values, challenges taken as constants) holds at
most one member of S, once. Then, with every other cell's value fixed, C is affine in the
values of S:

    C(x) = A + sum_{s in S} c_s f_s(x),

where A and the c_s depend only on the opened evaluations and the challenges. The verifier
then needs no f_s(x): it forms the commitment of

    L(X) = sum_s c_s f_s(X) - (x^n - 1) H(X)      (H = sum_i x^(i n) h_i', the quotient)

from [f_s] and [h_i'] (a linear combination, added to the batch opening's one MSM) and checks
the opening L(x) = -A at x, which holds exactly when C(x) = h(x)(x^n - 1). This is Maller's
linearization (the PLONK paper's r(X)), found here automatically for any layout: each
linearized column saves one evaluation (32 bytes) in the proof.

A and the c_s come from the verifier's own constraint program: run it with f_s(x) = 0 for
every s in S (its value is then A), then one reverse pass gives each c_s = dC / df_s(x)
exactly, because C is affine in those values.

Choosing S: a query may join S only if it is read at rotation 0 by some constraint, and S is
an independent set of the "conflict graph" whose edges join two queries that appear in one
monomial (a query in a monomial with itself, such as a^2, can never join). The analysis is
conservative: it never assumes terms cancel, so the affine property holds for the chosen S.
A greedy pass (fewest conflicts first, then column order), improved by swaps of one chosen
query for two, picks S deterministically from the circuit description, so prover and
verifier derive the same set.

Private columns: a fixed column holding model weights (role "weight" or "weight_table",
`expression.PRIVATE_ROLES`) must never be opened, since every proof opens its columns at a
fresh x and each evaluation sum_i w_i L_i(x) is one linear equation in the weights (as many
proofs as weights would determine them). Such columns are ``required``: they enter S first
and are never swapped out, and a circuit where one cannot join S (read at a rotation other
than 0, squared in a monomial, or in one monomial with another private column) is refused
with `LinearizationError`, naming the column, the constraint and the reason. A private
column that no constraint reads is never opened either. Its commitment in the verifying key
is binding, not hiding (docs/committed-weights.md).
"""
from __future__ import annotations

from collections import defaultdict

from snarkgpt.field import FR_MODULUS

from .circuit import CircuitError
from .expression import FIXED, INSTANCE, PRIVATE_ROLES, QueryKey

P = FR_MODULUS



class LinearizationError(CircuitError, ValueError):
    """A private (weight) column cannot be linearized: a proof would open it (a CircuitError
    at keygen; a ValueError, hence a KeyFormatError, when a verifying key is read)."""


def private_columns(fixed_columns) -> dict:
    """{(1, index): name} of the fixed columns whose role is private (`PRIVATE_ROLES`: they
    hold model weights), for `choose`'s ``required``."""
    return {(FIXED, c.index): c.name for c in fixed_columns if c.role in PRIVATE_ROLES}


def choose(constraints, excluded=frozenset(), required=frozenset(), names=None) -> list:
    """The linearized columns, as sorted (kind, index) pairs (advice, or fixed: a fixed or
    sigma column), for a list of constraint expressions. ``excluded`` lists columns (kind,
    index) that must stay opened (the virtual columns, which the verifier computes).

    ``required`` lists column indices that must never be opened (the private columns,
    `private_columns`): every one that a constraint reads is in the result, or
    `LinearizationError` says which cannot be and why. ``names``: a label per constraint,
    for that message."""
    conflicts = defaultdict(set)
    squared = set()
    seen = set()
    required = set(required)
    col_names = {}
    problems = []            # (key, reason), in constraint order: the first is reported
    where = [""]

    def why(key, reason):
        problems.append((key, f"{reason}{where[0]}"))

    def record(left, right):
        for a in left:
            for b in right:
                if a == b:
                    squared.add(a)
                    if a in required:
                        why(a, "it appears squared in a monomial")
                else:
                    conflicts[a].add(b)
                    conflicts[b].add(a)
                    if a in required and b in required:
                        why(a, f"it shares a monomial with weight column {col_names[b]!r}")

    def query(q):
        code = q.column.kind
        if code == INSTANCE or (code, q.column.index) in excluded:
            return frozenset()
        key = (code, q.column.index)
        col_names[key] = q.column.name
        if q.rotation != 0:
            if key in required:
                why(key, f"it is read at rotation {q.rotation}")
            return frozenset()
        seen.add(key)
        return frozenset([key])

    def product(x, y):
        record(x, y)
        return x | y

    empty = frozenset()
    for i, e in enumerate(constraints):
        where[0] = f" in {names[i]!r}" if names is not None else f" in constraint {i}"
        e.evaluate(constant=lambda v: empty, query=query, challenge=lambda c: empty,
                   negated=lambda x: x, sum=lambda x, y: x | y, product=product,
                   scaled=lambda x, f: x)
    if problems:
        key, reason = problems[0]
        more = len({k for k, _ in problems}) - 1
        raise LinearizationError(
            f"weight column {col_names[key]!r} cannot be linearized: {reason}: it would be "
            f"opened in every proof, revealing a linear combination of its weights"
            + (f" ({more} more weight column(s) cannot be either)" if more else ""))
    return sorted(_independent_set(sorted(seen - squared), conflicts, required & seen))


def _independent_set(vertices, conflicts, required=frozenset()) -> set:
    """A large independent set containing ``required`` (itself independent): greedy (fewest
    conflicts first), then improved by swaps that trade one chosen vertex, never a required
    one, for two free ones (each pass in a fixed order: deterministic)."""
    free = set(vertices)
    order = sorted(free, key=lambda k: (len(conflicts[k]), k))
    chosen = set(required)

    def fill():
        for v in order:
            if v not in chosen and not conflicts[v] & chosen:
                chosen.add(v)

    fill()
    improved = True
    while improved:
        improved = False
        for s in sorted(chosen - set(required)):
            # the vertices s alone blocks; two of them that do not conflict replace s
            alone = [v for v in sorted(conflicts[s]) if v in free and v not in chosen
                     and not (conflicts[v] & chosen) - {s}]
            pair = next(((a, b) for i, a in enumerate(alone) for b in alone[i + 1:]
                         if b not in conflicts[a]), None)
            if pair:
                chosen.discard(s)
                chosen.update(pair)
                fill()
                improved = True
                break
    return chosen


def program_keys(linearized) -> set:
    """The linearized queries as the constraint program's cell keys (kind, index, 0)."""
    return {QueryKey(kind, idx, 0) for kind, idx in linearized}


def split(program, cells: dict, challenges: dict, keys: set, y: int, compiled: bool = True):
    """(A, {key: c_key}) with sum_i y^(N-1-i) C_i = A + sum_key c_key * cell[key] for the
    constraint program's roots C_0..C_(N-1), given every other cell's value. The cells in
    ``keys`` need not be in ``cells`` (their values are not used).

    This function is the definition, on Python ints; by default the same passes run in one
    Numba kernel (compiled_program.py), which returns the same A and coefficients (a key
    whose coefficient is 0 may be listed or not)."""
    if compiled:
        from .compiled_program import compiled as compile_program
        return compile_program(program).split(cells, challenges, keys, y)
    values = dict(cells)
    for key in keys:
        values[key] = 0
    node_values = program.run(values, challenges, all_nodes=True)
    weights = [0] * len(program.roots)
    acc = 1
    for i in range(len(weights) - 1, -1, -1):
        weights[i] = acc
        acc = acc * y % P
    A = 0
    for r, w in zip(program.roots, weights):
        A = (A + w * node_values[r]) % P
    return A, program.cell_gradients(node_values, weights, keys)


def fold_coefficients(linearized, coeff: dict, x: int, n: int, pieces: int) -> list:
    """The coefficients of L = sum_s c_s f_s - (x^n - 1) sum_i x^(i n) h_i' over the list
    [f_s for s in linearized] + [h_0', ..., h_(pieces-1)'] (prover and verifier alike, the
    one with polynomials, the other with commitments); ``coeff`` is `split`'s."""
    keys = [QueryKey(kind, idx, 0) for kind, idx in linearized]
    return [coeff.get(key, 0) for key in keys] + quotient_coefficients(x, n, pieces)


def quotient_coefficients(x: int, n: int, pieces: int) -> list:
    """The coefficients -(x^n - 1) x^(i n) of the quotient pieces h_i' in L."""
    xn = pow(x, n, P)
    zh = (xn - 1) % P
    return [-zh * pow(xn, i, P) % P for i in range(pieces)]
