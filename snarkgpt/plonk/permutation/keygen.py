"""Permutation argument, key generation: the sigma polynomials.

Each cell (column j of the equality-enabled columns, row i) has the identity label
delta^j * omega^i. delta = 5^(2^28) has odd order (5 generates Fr^*, whose 2-part has order
2^28), so the cosets delta^j H are pairwise disjoint for every j we will ever use and all
labels are distinct. The copy constraints split the cells into equivalence classes; sigma
maps each cell to the next cell of its class (a cycle), and sigma_j(omega^i) is the label
of that next cell. The grand product argument then shows that the values are constant on
every cycle.
"""
import numba as nb
import numpy as np

from snarkgpt.field import FR_MODULUS, Fr

P = FR_MODULUS
DELTA = pow(5, 1 << 28, P)


@nb.njit(cache=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@nb.njit(cache=True)
def _union_all(parent, a, b):
    for t in range(a.shape[0]):
        ra = _find(parent, a[t])
        rb = _find(parent, b[t])
        if ra != rb:
            if ra < rb:
                parent[rb] = ra
            else:
                parent[ra] = rb


@nb.njit(cache=True)
def _cycles(parent, cells, perm):
    """perm[c] = next cell of c's class, for the cells in ``cells`` (sorted by class)."""
    m = cells.shape[0]
    roots = np.empty(m, dtype=np.int64)
    for t in range(m):
        roots[t] = _find(parent, cells[t])
    order = np.argsort(roots, kind="mergesort")
    start = 0
    while start < m:
        end = start
        while end + 1 < m and roots[order[end + 1]] == roots[order[start]]:
            end += 1
        for t in range(start, end):
            perm[cells[order[t]]] = cells[order[t + 1]]
        perm[cells[order[end]]] = cells[order[start]]
        start = end + 1


def cell_permutation(num_columns: int, n: int, copies: np.ndarray) -> np.ndarray:
    """(num_columns * n,) int64: cell c = j * n + i maps to the next cell of its cycle."""
    size = num_columns * n
    perm = np.arange(size, dtype=np.int64)
    if copies is None or len(copies) == 0:
        return perm
    copies = np.asarray(copies, dtype=np.int64)
    if (copies[:, [1, 3]] >= n).any() or (copies[:, [0, 2]] >= num_columns).any():
        raise ValueError("a copy constraint refers to a cell outside the permutation")
    a = copies[:, 0] * n + copies[:, 1]
    b = copies[:, 2] * n + copies[:, 3]
    parent = np.arange(size, dtype=np.int64)
    _union_all(parent, a, b)
    cells = np.unique(np.concatenate([a, b]))
    _cycles(parent, cells, perm)
    return perm


def identity_values(num_columns: int, omega_powers: np.ndarray) -> np.ndarray:
    """(num_columns, n, 4): delta^j * omega^i in Montgomery form."""
    n = omega_powers.shape[0]
    out = np.empty((num_columns, n, 4), dtype=np.uint64)
    for j in range(num_columns):
        out[j] = Fr.scale(omega_powers, pow(DELTA, j, P))
    return out


def build_sigmas(num_columns: int, omega_powers: np.ndarray, copies: np.ndarray) -> np.ndarray:
    """(num_columns, n, 4): sigma_j(omega^i) = label of the next cell in (j, i)'s cycle."""
    n = omega_powers.shape[0]
    ids = identity_values(num_columns, omega_powers).reshape(num_columns * n, 4)
    perm = cell_permutation(num_columns, n, copies)
    return np.ascontiguousarray(ids[perm].reshape(num_columns, n, 4))
