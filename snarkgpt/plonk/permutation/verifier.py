"""Permutation argument, verifier side: the identities that prove the copy constraints.

Columns v_0..v_{M-1} (equality-enabled, in order) are split into s chunks of c = D - 2
columns (D the circuit degree). With challenges beta, gamma and X the identity polynomial
(X = omega^i on row i), chunk i's ratio on a row is

  r_i(X) = prod_j (v_j + beta delta^j X + gamma) / prod_j (v_j + beta sigma_j + gamma)

z_0 is the running product over the rows; z_1..z_{s-1} are partial products *within* a row
(z_{i+1} = z_i r_i on the same row), and the last chunk's product moves to the next row:

  l_0    * (1 - z_0(X))                                         = 0   z_0 starts at 1
  l_last * (z_0(X)^2 - z_0(X))                                  = 0   and ends at 0 or 1
  l_active * (z_{i+1}(X) prod_j (v_j + beta sigma_j + gamma)
              - z_i(X) prod_j (v_j + beta delta^j X + gamma))   = 0   for i < s - 1
  l_active * (z_0(omega X) prod_j (v_j + beta sigma_j + gamma)
              - z_{s-1}(X) prod_j (v_j + beta delta^j X + gamma)) = 0  the last chunk

(u = the last row; l_active = 1 - l_last - l_blind is 1 exactly on the usable rows.)
On every usable row, z_0(omega X) = z_0(X) r_0 ... r_{s-1} (unless some sigma factor
vanishes, which for random beta, gamma has negligible probability), so z_0 at row u is
the product over all usable cells of (v + beta id + gamma) / (v + beta sigma + gamma), and
it can only be 1 (it is 0 only if some factor vanished). For random beta, gamma that means
the multiset {(v, id)} equals {(v, sigma)}: the values are constant along each cycle of
sigma.

Why partial products within a row rather than s grand products chained end to start (z_i's
first row = z_{i-1}'s last): the same number of columns and the same degree, but only z_0 is
read at the next row, and nothing at the last row, so the proof opens each z_i once (z_0
twice) instead of three times, and the last row needs no opening point of its own.

The identities are `Expression`s: the prover's quotient evaluates them on the extended
domain, the verifier at the challenge x from the opened values (verifier.py), with the same
code.
"""
from ..expression import Expression, Scaled
from .keygen import DELTA, P


def permutation_constraints(columns, sigmas, zs, chunk: int, l0, llast, lactive, X, beta,
                            gamma) -> list[tuple[str, Expression]]:
    """[(name, expression)] of the permutation argument.

    columns: the equality-enabled Columns; sigmas / zs: the sigma and product Columns (z_0 the running product);
    l0, llast, lactive, X: Columns holding those polynomials; beta, gamma: Challenges."""
    if not columns:
        return []
    out = []
    z0 = zs[0].cur()
    out.append(("perm.z0 starts at 1", l0.cur() * (1 - z0)))
    out.append(("perm.z0 ends at 0 or 1", llast.cur() * (z0 * z0 - z0)))
    for i, z in enumerate(zs):
        last = i == len(zs) - 1
        left = zs[0].next() if last else zs[i + 1].cur()
        right = z.cur()
        for j in range(i * chunk, min(len(columns), (i + 1) * chunk)):
            v = columns[j].cur()
            left = left * (v + beta * sigmas[j].cur() + gamma)
            right = right * (v + beta * Scaled(X.cur(), pow(DELTA, j, P)) + gamma)
        name = f"perm.z{i} product" + (" (next row)" if last else f" (z{i + 1} on the row)")
        out.append((name, lactive.cur() * (left - right)))
    return out
