"""Lookup argument (logUp), verifier side: the identities that prove "every input is in its
table".

For one table t (a tuple of expressions, compressed with a challenge theta into
t = t_0 + theta t_1 + theta^2 t_2 + ...) and the lookups l into it (inputs compressed the
same way into f_l, selector s_l), the prover commits to the multiplicity column m (m_j =
how many selected input rows equal table row j, counted on one row per distinct table
value), then, after the challenge beta, to h_l = s_l / (beta + f_l) per lookup,
q = m / (beta + t) per table, and ONE running sum phi shared by every table:

  l_active * (h_l (beta + f_l) - s_l)                  = 0   per lookup
  l_active * (q_g (beta + t_g) - m_g)                  = 0   per table
  l_0    * phi                                         = 0   phi starts at 0
  l_last * phi                                         = 0   and ends at 0
  l_active * (phi(omega X) - phi(X) - sum_l h_l + sum_g q_g) = 0

So sum over usable rows of sum_l s_l / (beta + f_l) = sum_g sum_j m_g,j / (beta + t_g,j): as
rational functions of beta this holds only if every selected input equals some table row (a
pole at -f not cancelled on the right), so for a random beta an input outside the tables is
caught (soundness error about (number of rows) / r).

One sum for all tables would let an input be "found" in another table; so when there are
several tables, every table tuple and every input tuple gets a last component, the table's
tag g + 1 (`tagged`). The compressed tuple is then a polynomial in theta whose leading
coefficient is the tag: tuples of different tables are different polynomials (different
degree, or different leading coefficient), equal at the random theta only with probability
(width) / r. Sharing phi saves a full-size commitment per table: phi is random-looking on
every row, while q_g is non-zero only on the table rows actually used.
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


def lookup_constraints(groups, m_cols, h_cols, q_cols, phi, l0, llast, lactive, theta,
                       beta) -> list[tuple[str, Expression]]:
    """[(name, expression)] of the lookup argument.

    groups: [(table expressions, [(lookup name, inputs, selector), ...])] in proof order;
    m_cols / q_cols: one Column per group; h_cols: one Column per lookup (groups in order);
    phi: the shared running sum (None without lookups)."""
    out = []
    h_iter = iter(h_cols)
    G = len(groups)
    step = phi.next() - phi.cur() if G else None
    for g, (table, lookups) in enumerate(groups):
        for name, inputs, selector in lookups:
            h = next(h_iter)
            f = compress(tagged(inputs, g, G), theta)
            out.append((f"lookup {name}: h (beta + f) = s",
                        lactive.cur() * (h.cur() * (beta + f) - selector)))
            step = step - h.cur()
        t = compress(tagged(table, g, G), theta)
        out.append((f"lookup table {g}: q (beta + t) = m",
                    lactive.cur() * (q_cols[g].cur() * (beta + t) - m_cols[g].cur())))
        step = step + q_cols[g].cur()
    if G:
        out.append(("lookups: phi starts at 0", l0.cur() * phi.cur()))
        out.append(("lookups: phi ends at 0", llast.cur() * phi.cur()))
        out.append(("lookups: running sum", lactive.cur() * step))
    return out
