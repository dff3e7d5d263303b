"""Permutation argument, prover side: the product columns z_0..z_{s-1}.

On usable row i, chunk c of the equality-enabled columns has the ratio
    r_c[i] = prod_j (v_j[i] + beta delta^j omega^i + gamma) / prod_j (v_j[i] + beta sigma_j[i] + gamma)
z_c is the running product of chunk c's ratios over the rows, started where z_{c-1} ended:
z_0[0] = 1, z_c[0] = z_{c-1}[u], z_c[i + 1] = z_c[i] r_c[i] (see constraints.py for the
identities). The rows after u (u the last row) are random (blinding). If every copy
constraint holds, z_{s-1}[u] = 1. r_c[i] = 1 on every row where chunk c has no copy (there
sigma is the identity), so z_c changes only on its chunk's copy rows.
"""
import numba as nb
import numpy as np

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.arith import fr_mul, load, store

from .keygen import DELTA


@nb.njit(cache=True)
def prefix_product(ratio, start, out, u):
    """out[0] = start, out[i + 1] = out[i] * ratio[i] for i < u."""
    acc = load(start, 0)
    store(out, 0, acc)
    for i in range(u):
        acc = fr_mul(acc, load(ratio, i))
        store(out, i + 1, acc)


def chunk_ratio(values, sigmas, omega, cols, beta_a, gamma_a, u: int) -> np.ndarray:
    """r[i] for i < u over the columns ``cols`` (see the module docstring), (u, 4)."""
    num = Fr.ones(u)
    den = Fr.ones(u)
    g = np.ascontiguousarray(np.broadcast_to(gamma_a, (u, 4)))
    b = np.ascontiguousarray(np.broadcast_to(beta_a, (u, 4)))
    for j in cols:
        vg = Fr.add(np.ascontiguousarray(values[j][:u]), g)
        ids = Fr.scale(np.ascontiguousarray(omega[:u]), pow(DELTA, j, FR_MODULUS))
        num = Fr.mul(num, Fr.add(vg, Fr.mul(ids, b)))
        den = Fr.mul(den, Fr.add(vg, Fr.mul(np.ascontiguousarray(sigmas[j][:u]), b)))
    return Fr.mul(num, Fr.batch_inverse(den, allow_zero=True))


def grand_products(values, sigmas, omega, chunk: int, beta: int, gamma: int, u: int, rng=None):
    """The z columns as (s, n, 4) evaluations, and the chained product's final value z_{s-1}[u]
    (an int).

    values / sigmas: lists of (n, 4) arrays for the equality-enabled columns (values with
    their blinding rows already filled) and the sigma evaluations; omega: (n, 4), the domain
    [omega^i]. Column j's identity labels delta^j omega^i are computed here, one scaling per
    column, rather than kept in the proving key (M columns of n elements)."""
    m = len(values)
    n = values[0].shape[0]
    s = -(-m // chunk)
    out = np.empty((s, n, 4), dtype=np.uint64)
    bg = Fr.from_ints([beta, gamma])
    start = Fr.from_ints([1])
    for c in range(s):
        ratio = chunk_ratio(values, sigmas, omega, range(c * chunk, min(m, (c + 1) * chunk)),
                            bg[0:1], bg[1:2], u)
        prefix_product(ratio, start, out[c], u)
        out[c, u + 1:] = Fr.random(n - u - 1, rng)
        start = out[c, u:u + 1].copy()
    return out, Fr.to_int(out[s - 1, u])


class PermutationError(ValueError):
    """A copy constraint fails (the honest prover refuses to prove)."""


def commit_products(pk, advice, instance, beta: int, gamma: int, rng, check: bool):
    """Round perm.z (after beta', gamma): the grand products of the equality-enabled columns.
    Returns (their commitments, the z columns)."""
    from ..expression import ADVICE, FIXED
    from ..kzg import commit_values
    lay = pk.layout
    d = lay.desc
    if not d.permutation:
        return np.zeros((0, 8), dtype=np.uint64), np.zeros((0, d.n, 4), dtype=np.uint64)
    values = [(advice if c.kind == ADVICE else pk.fixed_values if c.kind == FIXED else instance)[c.index]
              for c in d.permutation]
    zs, last = grand_products(values, pk.sigma_values, pk.virtual_values[3], lay.chunk, beta,
                              gamma, d.usable_rows, rng)
    if check and last != 1:
        raise PermutationError("the permutation product does not end at 1: some copy constraint "
                               "fails (run MockProver(cs, assignment).report())")
    return np.stack([commit_values(pk.srs, d.k, z, d.usable_rows) for z in zs]), zs
