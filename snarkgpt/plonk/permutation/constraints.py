"""Permutation argument, its constraint identities (shared: the prover's quotient and the
verifier at x evaluate them): they prove the copy constraints.

Columns v_0..v_{M-1} (equality-enabled, in order) are split into s chunks of c = D - 2
columns (D the circuit degree). With challenges beta, gamma and X the identity polynomial
(X = omega^i on row i), chunk i's ratio on a row is

  r_i(X) = prod_j (v_j + beta delta^j X + gamma) / prod_j (v_j + beta sigma_j + gamma)

Each z_i is the running product of its own chunk's ratios over the usable rows, and the
products are chained end to start: z_i starts where z_{i-1} ends (u = the last row, the
row after the usable ones; X omega^u is read as a rotation by u - n):

  l_0    * (1 - z_0(X))                                         = 0   z_0 starts at 1
  l_0    * (z_i(X) - z_{i-1}(omega^u X))                        = 0   for i > 0
  l_last * (z_{s-1}(X)^2 - z_{s-1}(X))                          = 0   and ends at 0 or 1
  l_active * (z_i(omega X) prod_j (v_j + beta sigma_j + gamma)
              - z_i(X) prod_j (v_j + beta delta^j X + gamma))   = 0   for every i

(l_active = 1 - l_last - l_blind is 1 exactly on the usable rows.) So z_{s-1} at row u is the
product over all usable cells of (v + beta id + gamma) / (v + beta sigma + gamma) (unless
some sigma factor vanishes, which for random beta, gamma has negligible probability), and
it can only be 1 (it is 0 only if some factor vanished). For random beta, gamma that means
the multiset {(v, id)} equals {(v, sigma)}: the values are constant along each cycle of
sigma.

Why chained products rather than partial products within a row (z_{i+1} = z_i r_i on the
same row, only z_0 running over the rows): the same number of columns and the same degree,
and each z_i changes only on the rows where its own chunk has copies. keygen orders the
columns by their number of copies, so the chunks of sparsely copied columns (the ends of
running sums, the public tokens) get products that are constant on most rows, which the
prover commits from their few changes (`plonk.keygen.commit_values`) at a fraction of a
full MSM. The price is one more opening point (X omega^u, every z_i but the last) and s - 1
more evaluations in the proof.

The identities are `Expression`s: the prover's quotient evaluates them on the extended
domain, the verifier at the challenge x from the opened values (verifier.py), with the same
code.
"""
from ..expression import Expression, Scaled
from .keygen import DELTA, P


def permutation_constraints(columns, sigmas, zs, chunk: int, l0, llast, lactive, X, beta,
                            gamma, last_rotation: int) -> list[tuple[str, Expression]]:
    """[(name, expression)] of the permutation argument.

    columns: the equality-enabled Columns; sigmas / zs: the sigma and product Columns;
    l0, llast, lactive, X: Columns holding those polynomials; beta, gamma: Challenges;
    last_rotation: the rotation from row 0 to the last row u (u - n)."""
    if not columns:
        return []
    out = [("perm.z0 starts at 1", l0.cur() * (1 - zs[0].cur()))]
    for i in range(1, len(zs)):
        out.append((f"perm.z{i} starts where z{i - 1} ends",
                    l0.cur() * (zs[i].cur() - zs[i - 1].rot(last_rotation))))
    zl = zs[-1].cur()
    out.append((f"perm.z{len(zs) - 1} ends at 0 or 1", llast.cur() * (zl * zl - zl)))
    for i, z in enumerate(zs):
        left, right = z.next(), z.cur()
        for j in range(i * chunk, min(len(columns), (i + 1) * chunk)):
            v = columns[j].cur()
            left = left * (v + beta * sigmas[j].cur() + gamma)
            right = right * (v + beta * Scaled(X.cur(), pow(DELTA, j, P)) + gamma)
        out.append((f"perm.z{i} product", lactive.cur() * (left - right)))
    return out
