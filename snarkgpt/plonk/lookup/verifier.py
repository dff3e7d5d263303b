"""Lookup argument (logUp), verifier side: the identities that prove "every input is in the
table".

For one table t (a tuple of expressions, compressed with a challenge theta into
t = t_0 + theta t_1 + theta^2 t_2 + ...) and the lookups l into it (inputs compressed the
same way into f_l, selector s_l), the prover commits to the multiplicity column m (m_j =
how many selected input rows equal table row j, counted on one row per distinct table
value), then, after the challenge beta, to h_l and the running sum phi:

  l_active * (h_l (beta + f_l) - s_l)                            = 0   h_l = s_l / (beta + f_l)
  l_0    * phi                                                   = 0   phi starts at 0
  l_last * phi                                                   = 0   and ends at 0
  l_active * ((beta + t) (phi(omega X) - phi(X) - sum_l h_l) + m) = 0  phi steps by
                                                                       sum_l h_l - m / (beta + t)

So sum over usable rows of sum_l s_l / (beta + f_l) = sum_j m_j / (beta + t_j): as rational
functions of beta this holds only if every selected input equals some table row (a pole at
-f not cancelled on the right), so for a random beta an input outside the table is caught
(soundness error about (number of rows) / r). The identities are `Expression`s, shared by
the prover's quotient and the verifier.
"""
from ..expression import Expression, as_expr


def compress(exprs, theta) -> Expression:
    """e_0 + theta e_1 + theta^2 e_2 + ... (Horner from the last expression)."""
    acc = as_expr(exprs[-1])
    for e in reversed(exprs[:-1]):
        acc = acc * theta + e
    return acc


def lookup_constraints(groups, m_cols, h_cols, phi_cols, l0, llast, lactive, theta,
                       beta) -> list[tuple[str, Expression]]:
    """[(name, expression)] of the lookup argument.

    groups: [(table expressions, [(lookup name, inputs, selector), ...])] in proof order;
    m_cols / phi_cols: one Column per group; h_cols: one Column per lookup (groups in order)."""
    out = []
    h_iter = iter(h_cols)
    for g, (table, lookups) in enumerate(groups):
        hs = []
        for name, inputs, selector in lookups:
            h = next(h_iter)
            hs.append(h)
            f = compress(inputs, theta)
            out.append((f"lookup {name}: h (beta + f) = s",
                        lactive.cur() * (h.cur() * (beta + f) - selector)))
        phi = phi_cols[g]
        t = compress(table, theta)
        out.append((f"lookup table {g}: phi starts at 0", l0.cur() * phi.cur()))
        out.append((f"lookup table {g}: phi ends at 0", llast.cur() * phi.cur()))
        step = phi.next() - phi.cur()
        for h in hs:
            step = step - h.cur()
        out.append((f"lookup table {g}: running sum",
                    lactive.cur() * ((beta + t) * step + m_cols[g].cur())))
    return out
