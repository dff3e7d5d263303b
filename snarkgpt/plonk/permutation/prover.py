"""Permutation argument, prover side: the grand-product columns z_0..z_{s-1}.

On usable row i, chunk c of the equality-enabled columns contributes the ratio
    prod_j (v_j[i] + beta delta^j omega^i + gamma) / prod_j (v_j[i] + beta sigma_j[i] + gamma)
and z_c[i + 1] = z_c[i] * ratio[i]; z_0[0] = 1, z_c[0] = z_{c-1}[u] (u the last row). The
rows after u are random (blinding). If every copy constraint holds, z_{s-1}[u] = 1.
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


def grand_products(values, sigmas, omega, chunk: int, beta: int, gamma: int, u: int, rng=None):
    """The z columns as (s, n, 4) evaluations, and the final value z_{s-1}[u] (an int).

    values / sigmas: lists of (n, 4) arrays for the equality-enabled columns (values with
    their blinding rows already filled) and the sigma evaluations; omega: (n, 4), the domain
    [omega^i]. Column j's identity labels delta^j omega^i are computed here, one scaling per
    column, rather than kept in the proving key (M columns of n elements)."""
    m = len(values)
    n = values[0].shape[0]
    s = -(-m // chunk)
    out = np.empty((s, n, 4), dtype=np.uint64)
    bg = Fr.from_ints([beta, gamma])
    beta_a, gamma_a = bg[0:1], bg[1:2]
    start = Fr.from_ints([1])
    for c in range(s):
        num = Fr.ones(u)
        den = Fr.ones(u)
        for j in range(c * chunk, min(m, (c + 1) * chunk)):
            v = np.ascontiguousarray(values[j][:u])
            g = np.broadcast_to(gamma_a, (u, 4))
            vg = Fr.add(v, np.ascontiguousarray(g))
            b = np.ascontiguousarray(np.broadcast_to(beta_a, (u, 4)))
            ids = Fr.scale(np.ascontiguousarray(omega[:u]), pow(DELTA, j, FR_MODULUS))
            num = Fr.mul(num, Fr.add(vg, Fr.mul(ids, b)))
            den = Fr.mul(den, Fr.add(vg, Fr.mul(np.ascontiguousarray(sigmas[j][:u]), b)))
        ratio = Fr.mul(num, Fr.batch_inverse(den, allow_zero=True))
        prefix_product(ratio, start, out[c], u)
        out[c, u + 1:] = Fr.random(n - u - 1, rng)
        start = np.ascontiguousarray(out[c, u:u + 1])
    return out, Fr.to_int(out[s - 1, u])
