"""Lookup argument (logUp), its constraint identities: "every input is in its table" (shared:
the prover's quotient and the verifier at x evaluate them).

For one table t (a tuple of expressions, compressed with a challenge theta into
t = t_0 + theta t_1 + theta^2 t_2 + ...) and the lookups l into it (inputs compressed the
same way into f_l, selector s_l), the prover commits to the multiplicity column m (m_j =
how many selected input rows equal table row j, counted on one row per distinct table
value). The argument is the identity of sums over the usable rows

  sum_l sum_i s_l,i / (beta + f_l,i)  =  sum_g sum_j m_g,j / (beta + t_g,j)

as rational functions of beta: it holds only if every selected input equals some table row
(a pole at -f not cancelled on the right), so for a random beta an input outside the
tables is caught (soundness error about (number of rows) / r).

Each term of that identity is a *fraction*: (s_l, beta + f_l, +1) per lookup and
(m_g, beta + t_g, -1) per table. After the challenge beta the prover commits to helper
columns h_k, each the signed sum of a few fractions F_k (`pack_fractions`), and to ONE
running sum phi over all of them:

  l_active * (h_k prod_{j in F_k} d_j - sum_{i in F_k} sign_i n_i prod_{j != i} d_j) = 0
  l_0    * phi                                         = 0   phi starts at 0
  l_last * phi                                         = 0   and ends at 0
  l_active * (phi(omega X) - phi(X) - sum_k h_k)       = 0

A helper holding |F| fractions has constraint degree 2 + sum of the denominators' degrees
(or more, from a numerator), so fractions are packed into a helper while that stays within
the proof's degree D: at D = 4 with degree-1 inputs and tables, two fractions share a helper,
which halves the helper columns, each a full-size commitment of random-looking values. If a
denominator vanishes on a row, that row's helper is unconstrained; that happens only if
beta = -f for some row, probability about (number of rows) / r.

One sum for all tables would let an input be "found" in another table; so when there are
several tables, every table tuple and every input tuple gets a last component, the table's
tag g + 1 (`tagged`). The compressed tuple is then a polynomial in theta whose leading
coefficient is the tag: tuples of different tables are different polynomials (different
degree, or different leading coefficient), equal at the random theta only with probability
(width) / r. Sharing phi saves a full-size commitment per table.
The identities are `Expression`s, shared by the prover's quotient and the verifier.
"""
from ..expression import Constant, Expression, as_expr


def compress(exprs, theta) -> Expression:
    """e_0 + theta e_1 + theta^2 e_2 + ... (Horner from the last expression)."""
    acc = as_expr(exprs[-1])
    for e in reversed(exprs[:-1]):
        acc = acc * theta + e
    return acc


def tagged(exprs, group: int, groups: int) -> list:
    """The tuple with the table tag group + 1 appended (only when there are several tables)."""
    return list(exprs) + [Constant(group + 1)] if groups > 1 else list(exprs)


def lookup_groups(grouped) -> list:
    """[(table expressions, [(lookup name, inputs, selector), ...])], the form this module
    takes, from lists of lookups sharing a table (objects with ``table``, ``name``,
    ``inputs`` and ``selector``: the constraint system's or the verifying key's)."""
    return [(lks[0].table, [(lk.name, lk.inputs, lk.selector) for lk in lks]) for lks in grouped]


def fractions(groups) -> list[tuple[str, int, int, int]]:
    """The logUp fractions in proof order: per group, its lookups then its table, each as
    (name, group, member, sign): member is the lookup's index in the group (-1 for the
    table), sign +1 for a lookup and -1 for the table."""
    out = []
    for g, (_, lookups) in enumerate(groups):
        for i, (name, _, _) in enumerate(lookups):
            out.append((name, g, i, 1))
        out.append((f"table {g}", g, -1, -1))
    return out


def _fraction_degrees(groups) -> list[tuple[int, int]]:
    """(numerator degree, denominator degree) of each fraction (the order of `fractions`);
    a multiplicity column has degree 1, challenges and constants 0."""
    G = len(groups)
    out = []
    for g, (table, lookups) in enumerate(groups):
        for _, inputs, selector in lookups:
            out.append((as_expr(selector).degree(),
                        max(as_expr(e).degree() for e in tagged(inputs, g, G))))
        out.append((1, max(as_expr(e).degree() for e in tagged(table, g, G))))
    return out


def helper_degree(degrees) -> int:
    """Constraint degree of one helper holding fractions of these (numerator, denominator)
    degrees: l_active (1) times max(h (1) + all denominators, each numerator + the other
    denominators)."""
    dens = sum(dd for _, dd in degrees)
    return 1 + max([1 + dens] + [nd + dens - dd for nd, dd in degrees])


def pack_fractions(groups, degree: int) -> list[list[int]]:
    """Fractions (indices into `fractions(groups)`) per helper column: consecutive
    fractions share a helper while its constraint degree stays <= ``degree`` (a fraction
    alone always gets its own helper, whatever its degree)."""
    degs = _fraction_degrees(groups)
    helpers: list[list[int]] = []
    for i, dg in enumerate(degs):
        if helpers and helper_degree([degs[j] for j in helpers[-1]] + [dg]) <= degree:
            helpers[-1].append(i)
        else:
            helpers.append([i])
    return helpers


def lookup_constraints(groups, m_cols, h_cols, helpers, phi, l0, llast, lactive, theta,
                       beta) -> list[tuple[str, Expression]]:
    """[(name, expression)] of the lookup argument.

    groups: [(table expressions, [(lookup name, inputs, selector), ...])] in proof order;
    m_cols: one Column per group; h_cols: one Column per helper, ``helpers`` (from
    `pack_fractions`) naming the fractions each helper sums; phi: the shared running sum
    (None without lookups)."""
    out = []
    G = len(groups)
    if not G:
        return out
    fr = fractions(groups)
    terms = []      # (numerator, denominator, sign) per fraction
    for name, g, i, sign in fr:
        table, lookups = groups[g]
        if i >= 0:
            _, inputs, selector = lookups[i]
            terms.append((as_expr(selector), beta + compress(tagged(inputs, g, G), theta), 1))
        else:
            terms.append((m_cols[g].cur(), beta + compress(tagged(table, g, G), theta), -1))
    step = phi.next() - phi.cur()
    for h, members in zip(h_cols, helpers):
        den = None
        for j in members:
            den = terms[j][1] if den is None else den * terms[j][1]
        num = None
        for i in members:
            t = terms[i][0]
            for j in members:
                if j != i:
                    t = t * terms[j][1]
            t = t if terms[i][2] > 0 else -t
            num = t if num is None else num + t
        names = " + ".join(fr[i][0] for i in members)
        out.append((f"lookup helper {h.name}: h = {names}",
                    lactive.cur() * (h.cur() * den - num)))
        step = step - h.cur()
    out.append(("lookups: phi starts at 0", l0.cur() * phi.cur()))
    out.append(("lookups: phi ends at 0", llast.cur() * phi.cur()))
    out.append(("lookups: running sum", lactive.cur() * step))
    return out
