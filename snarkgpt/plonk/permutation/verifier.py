"""Permutation argument, verifier side: the identities that prove the copy constraints.

Columns v_0..v_{M-1} (equality-enabled, in order) are split into chunks of c = D - 2
columns (D the circuit degree). Chunk i has a grand product z_i over the usable rows; with
challenges beta, gamma and X the identity polynomial (X = omega^i on row i):

  l_0    * (1 - z_0(X))                                       = 0   z_0 starts at 1
  l_last * (z_{s-1}(X)^2 - z_{s-1}(X))                        = 0   and ends at 0 or 1
  l_0    * (z_i(X) - z_{i-1}(omega^u X))                      = 0   chunk i starts where i-1 ended
  l_active * (z_i(omega X) prod_j (v_j + beta sigma_j + gamma)
              - z_i(X) prod_j (v_j + beta delta^j X + gamma)) = 0   for each chunk

(u = the last row; l_active = 1 - l_last - l_blind is 1 exactly on the usable rows.)
Together: prod over all usable cells of (v + beta id + gamma) / (v + beta sigma + gamma) = 1
(z_{s-1} at the last row can only be 1, as it is the value 0 only if some factor vanished),
which for random beta, gamma means the multiset {(v, id)} equals {(v, sigma)}: the values
are constant along each cycle of sigma. The identities are `Expression`s: the prover's
quotient evaluates them on the extended domain, the verifier at the challenge x from the
opened values (verifier.py), with the same code.
"""
from ..expression import Expression, Query, Scaled
from .keygen import DELTA, P


def permutation_constraints(columns, sigmas, zs, chunk: int, last_row: int, l0, llast, lactive,
                            X, beta, gamma) -> list[tuple[str, Expression]]:
    """[(name, expression)] of the permutation argument.

    columns: the equality-enabled Columns; sigmas / zs: the sigma and grand-product Columns;
    l0, llast, lactive, X: Columns holding those polynomials; beta, gamma: Challenges."""
    if not columns:
        return []
    out = []
    z0 = zs[0].cur()
    out.append(("perm.z0 starts at 1", l0.cur() * (1 - z0)))
    zl = zs[-1].cur()
    out.append(("perm.z ends at 0 or 1", llast.cur() * (zl * zl - zl)))
    for i in range(1, len(zs)):
        out.append((f"perm.z{i} continues z{i - 1}",
                    l0.cur() * (zs[i].cur() - Query(zs[i - 1], last_row))))
    for i, z in enumerate(zs):
        left = z.next()
        right = z.cur()
        for j in range(i * chunk, min(len(columns), (i + 1) * chunk)):
            v = columns[j].cur()
            left = left * (v + beta * sigmas[j].cur() + gamma)
            right = right * (v + beta * Scaled(X.cur(), pow(DELTA, j, P)) + gamma)
        out.append((f"perm.z{i} product", lactive.cur() * (left - right)))
    return out
