"""Lookup argument (logUp), prover side.

Per table group: the compressed table t and inputs f_l (tagged with the table, see
constraints.py) are evaluated on the usable rows; `multiplicities` counts, for each distinct
table value, the selected input rows equal to it (on the first table row holding that
value); after the challenge beta, `helper_columns` builds each helper column h_k as the
signed sum of its fractions (s_l / (beta + f_l) per lookup, -m_g / (beta + t_g) per table,
packed by `constraints.pack_fractions`), and `running_sum` the one sum for all of them
    phi[0] = 0,  phi[i + 1] = phi[i] + sum_k h_k[i]   (i < u)
which returns to 0 at the last row u when every input is in its table. Rows after u (and
row u of m and h) are random blinding values.
"""
import numba as nb
import numpy as np

from snarkgpt.field import Fr
from snarkgpt.field.arith import fr_add, load, store


class LookupInputError(ValueError):
    """A lookup input is not in its table (the honest prover refuses to prove)."""


def _keys(arr: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(arr).view(np.dtype((np.void, 32))).reshape(-1)


def multiplicities(table: np.ndarray, inputs, selectors, names, u: int, check: bool = True):
    """(n, 4) multiplicities on rows < u (rows >= u are zero here).

    table: (n, 4) compressed table; inputs / selectors: lists of (n, 4) arrays; an input row
    counts where its selector is non-zero, with weight the selector value. With check, an
    input not in the table raises `LookupInputError` naming the lookup and the row; without it,
    such inputs are skipped (the proof will then be rejected)."""
    n = table.shape[0]
    tkeys = _keys(table[:u])
    uniq, first = np.unique(tkeys, return_index=True)
    counts = np.zeros(u, dtype=np.int64)
    extra = {}
    one = np.array(Fr.one_limbs, dtype=np.uint64)
    for f, s, name in zip(inputs, selectors, names):
        sel = s[:u]
        rows = np.flatnonzero(sel.any(axis=1))
        if rows.size == 0:
            continue
        fk = _keys(f[:u][rows])
        pos = np.searchsorted(uniq, fk)
        pos_c = np.minimum(pos, len(uniq) - 1)
        found = (pos < len(uniq)) & (uniq[pos_c] == fk)
        if not found.all():
            bad = int(rows[np.flatnonzero(~found)[0]])
            if check:
                raise LookupInputError(f"lookup {name!r}: input on row {bad} "
                                   f"({Fr.to_int(f[bad])}) is not in the table")
            rows, pos_c = rows[found], pos_c[found]
        target = first[pos_c]
        unit = (sel[rows] == one).all(axis=1)
        counts += np.bincount(target[unit], minlength=u)
        for r, t in zip(rows[~unit].tolist(), target[~unit].tolist()):
            extra[t] = (extra.get(t, 0) + Fr.to_int(sel[r])) % Fr.modulus
    m = Fr.zeros(n)
    m[:u] = Fr.from_signed(counts)
    for t, v in extra.items():
        m[t] = Fr.add(m[t:t + 1], Fr.from_ints([v]))[0]
    return m


@nb.njit(cache=True)
def _running_sum(step, out, u):
    """out[0] = 0, out[i + 1] = out[i] + step[i] for i < u."""
    acc = (np.uint64(0), np.uint64(0), np.uint64(0), np.uint64(0))
    store(out, 0, acc)
    for i in range(u):
        acc = fr_add(acc, load(step, i))
        store(out, i + 1, acc)


def helper_columns(terms, helpers, beta: int, n: int, u: int, rng=None):
    """(helper columns (H, n, 4), their sum on rows < u).

    terms: per fraction (numerator values, denominator values without beta, sign), in the
    order of `verifier.fractions`; helpers: the fraction indices of each helper column.
    h_k[i] = sum_{j in helper k} sign_j num_j[i] / (beta + den_j[i]) on rows < u."""
    b = np.ascontiguousarray(np.broadcast_to(Fr.from_ints([beta]), (u, 4)))
    hs = np.empty((len(helpers), n, 4), dtype=np.uint64)
    step = Fr.zeros(u)
    for k, members in enumerate(helpers):
        h = Fr.zeros(u)
        for j in members:
            num, den, sign = terms[j]
            inv = Fr.batch_inverse(Fr.add(np.ascontiguousarray(den[:u]), b), allow_zero=True)
            val = Fr.mul(np.ascontiguousarray(num[:u]), inv)
            h = Fr.add(h, val) if sign > 0 else Fr.sub(h, val)
        hs[k, :u] = h
        hs[k, u:] = Fr.random(n - u, rng)
        step = Fr.add(step, h)
    return hs, step


def running_sum(step, n: int, u: int, rng=None):
    """(phi (n, 4), phi[u] as an int): phi[i + 1] = phi[i] + step[i] for i < u."""
    phi = np.empty((n, 4), dtype=np.uint64)
    _running_sum(np.ascontiguousarray(step), phi, u)
    phi[u + 1:] = Fr.random(n - u - 1, rng)
    return phi, Fr.to_int(phi[u])


# -- the argument's two rounds (protocol.py: lookup.m, lookup.h_phi) -------------------------
class RunningSumError(ValueError):
    """The lookups' running sum does not return to 0 (some lookup fails)."""


class Multiplicities:
    """What the lookup.m round leaves for the lookup.h_phi round: per table group its
    evaluated table, inputs and selectors, and its multiplicity column."""

    def __init__(self):
        self.groups = []        # (table, inputs, selectors) per group
        self.m = []             # (n, 4) per group, blinded from row u

    def fractions(self) -> list:
        """(numerator, denominator without beta, sign) per logUp fraction, in the order
        `constraints.pack_fractions` numbers them: per group its lookups, then its table."""
        terms = []
        for (table, inputs, sels), m in zip(self.groups, self.m):
            terms += [(s, f, 1) for f, s in zip(inputs, sels)] + [(m, table, -1)]
        return terms


def commit_multiplicities(pk, advice, instance, chal, rng, check: bool):
    """Round lookup.m (after theta): evaluate every compressed table and input, count the
    multiplicities, blind them from row u. Returns (their commitments, `Multiplicities`)."""
    from ..row_kernels import evaluate_rows_multi
    from ..kzg import commit_values
    lay = pk.layout
    d = lay.desc
    n, u = d.n, d.usable_rows
    out = Multiplicities()
    if not lay.group_lookups:
        return np.zeros((0, 8), dtype=np.uint64), out
    _, look, _ = lay.row_programs
    vals = evaluate_rows_multi(look, advice, pk.fixed_values, instance, chal, n)
    pos = 0
    for members in lay.group_lookups:
        table = vals[pos]
        inputs = [vals[pos + 1 + 2 * j] for j in range(len(members))]
        sels = [vals[pos + 2 + 2 * j] for j in range(len(members))]
        pos += 1 + 2 * len(members)
        m = multiplicities(table, inputs, sels, [d.lookups[i].name for i in members], u, check)
        m[u:] = Fr.random(n - u, rng)
        out.groups.append((table, inputs, sels))
        out.m.append(m)
    return np.stack([commit_values(pk.srs, d.k, m, u) for m in out.m]), out


def commit_helpers(pk, mult: Multiplicities, beta: int, rng, check: bool):
    """Round lookup.h_phi (after beta): the helper columns and the running sum phi.
    Returns (their commitments, [h_0, ..., phi])."""
    from ..kzg import commit_values
    lay = pk.layout
    d = lay.desc
    n, u = d.n, d.usable_rows
    if not lay.group_lookups:
        return np.zeros((0, 8), dtype=np.uint64), []
    hs, step = helper_columns(mult.fractions(), lay.lookup_helpers, beta, n, u, rng)
    phi, end = running_sum(step, n, u, rng)
    if check and end != 0:
        raise RunningSumError("lookups: the running sum does not return to 0")
    cols = list(hs) + [phi]
    return np.stack([commit_values(pk.srs, d.k, c, u) for c in cols]), cols
