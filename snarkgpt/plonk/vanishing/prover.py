"""Vanishing argument, prover side: the quotient polynomial.

Every constraint C_i (gates, lookup and permutation identities; see layout.Layout) vanishes
on H = {omega^i} exactly when the witness satisfies it on every row, i.e. when Z_H(X) =
X^n - 1 divides the combination C(X) = sum_i y^(N-1-i) C_i(X) (y a challenge). The prover
computes h = C / Z_H. deg C <= D (n - 1) (D the largest constraint degree), so h has degree
< P n with P = D - 1 pieces, h = sum_i X^(i n) h_i (deg h_i < n).

h is fixed by its values on P disjoint cosets s_j H (s_j = g zeta^j, zeta a primitive
(n 2^e)-th root of unity with 2^e >= P, g = 5; the s_j^n are distinct). For each j we
evaluate every column there (a size-n coset NTT of its coefficients: no column is ever held
on a larger domain), run the compiled constraint program (a rotation by omega is a shift by
one index inside the coset), and divide by Z_H, the constant s_j^n - 1 on that coset. On s_j H,
X^n = a_j := s_j^n, so the size-n inverse coset NTT of those values gives the coefficients of
h mod (X^n - a_j) = sum_i a_j^i h_i. The P such vectors form a Vandermonde system in the
a_j, solved once per coefficient (P^2 scaled additions). P need not be a power of two: a
degree-4 circuit costs 3 cosets, not 4, which is what makes degree 4 pay for itself when it
halves the permutation's grand products (keygen.choose_degree).

The pieces: the h_i are blinded with random b_1..b_{P-1}:
h_0' = h_0 + b_1 X^n, h_i' = h_i - b_i + b_(i+1) X^n, h_(P-1)' = h_(P-1) - b_(P-1), which
keeps sum_i x^(i n) h_i'(x) = h(x) while each committed piece (n + 1 coefficients) is
uniformly random on its own.

The honest prover checks its witness with the verifier's identity at x (prover.py,
`_identity_holds_at`), not here: the P cosets determine h exactly, so nothing is left over
to check.
"""
import os

import numpy as np

from snarkgpt.field import FR_MODULUS, Fr, ifma
from snarkgpt.field.domain import Domain
from snarkgpt.field.ntt import root_of_unity

from ..row_kernels import evaluate_rows_multi, evaluate_rows_x16

P = FR_MODULUS

# fixed-column evaluations on the quotient's cosets are kept in the proving key up to this
# size (they never change between proofs; above it, each proof recomputes them)
FIXED_COSET_CACHE_BYTES = int(os.environ.get("SNARKGPT_FIXED_COSET_CACHE_MB", "1536")) << 20


def coset_shifts(domain: Domain, count: int) -> list:
    """The shifts s_j = g zeta^j, j < count, of the quotient's cosets."""
    e = max(0, (count - 1).bit_length())
    zeta = root_of_unity(domain.k + e)
    return [domain.shift * pow(zeta, j, P) % P for j in range(count)]


def x16_path(domain: Domain) -> bool:
    """Whether the quotient runs with AVX-512 IFMA: coset values in the x16 form and the
    constraints evaluated eight rows at a time (field/ifma.py, expression.evaluate_rows_x16)."""
    return domain.n % 8 == 0 and ifma.available()


def on_coset(domain: Domain, coeffs: np.ndarray, s: int, out=None, x16: bool = False) -> np.ndarray:
    """Every column of ``coeffs`` ((c, n, 4) coefficients) evaluated on the coset s H
    (written to ``out`` when given: the quotient reuses one buffer for every coset); in the
    x16 form (16 times each value) when asked."""
    return domain.coset_ntt_many(coeffs, shift=s, out=out, factor=16 if x16 else 1)


def fixed_cosets(fix_coeffs: np.ndarray, domain: Domain, pieces: int, budget: int | None = None,
                 x16: bool = False):
    """The fixed columns on each of the quotient's cosets (a proving-key precomputation:
    about a third of the quotient's NTTs), or None when they would exceed ``budget`` bytes."""
    budget = FIXED_COSET_CACHE_BYTES if budget is None else budget
    if fix_coeffs.nbytes * pieces > budget:
        return None
    return [on_coset(domain, fix_coeffs, s, x16=x16) for s in coset_shifts(domain, pieces)]


def fixed_polys(pk):
    """(coefficients of every fixed-kind column: the circuit's fixed columns, sigmas and the
    virtual l_0, l_last, l_active, X; their values on the quotient's cosets, or None above
    the cache budget; whether those are in the x16 form), kept on the proving key.

    Built once (keygen calls this): the key's own coefficient arrays become views into the
    concatenation, so nothing is held twice. Committed columns (committed/), re-randomized
    in place before each proof, have their coset values refreshed on every call."""
    cache = pk.fixed_polys
    lay = pk.layout
    x16 = x16_path(pk.domain)
    if cache is None or cache[2] != x16:
        if cache is None:
            F, M = pk.fixed_coeffs.shape[0], pk.sigma_coeffs.shape[0]
            coeffs = np.concatenate([pk.fixed_coeffs, pk.sigma_coeffs, pk.virtual_coeffs])
            pk.fixed_coeffs, pk.sigma_coeffs = coeffs[:F], coeffs[F:F + M]
            pk.virtual_coeffs = coeffs[F + M:]
        else:
            coeffs = cache[0]
        cache = pk.fixed_polys = (coeffs, fixed_cosets(coeffs, pk.domain, lay.quotient_pieces,
                                                        x16=x16), x16)
        return cache
    coeffs, cosets, _ = cache
    if cosets is not None:
        for c in lay.committed:
            for j, s in enumerate(coset_shifts(pk.domain, lay.quotient_pieces)):
                on_coset(pk.domain, coeffs[c:c + 1], s, out=cosets[j][c:c + 1], x16=x16)
    return cache


def _inverse_vandermonde(a: list) -> list:
    """(V^-1) for V[j][i] = a_j^i over Fr (Gauss-Jordan; the a_j are distinct)."""
    m = len(a)
    rows = [[pow(aj, i, P) for i in range(m)] + [int(i == j) for i in range(m)]
            for j, aj in enumerate(a)]
    for c in range(m):
        piv = next(r for r in range(c, m) if rows[r][c])
        rows[c], rows[piv] = rows[piv], rows[c]
        inv = pow(rows[c][c], -1, P)
        rows[c] = [v * inv % P for v in rows[c]]
        for r in range(m):
            if r != c and rows[r][c]:
                f = rows[r][c]
                rows[r] = [(v - f * w) % P for v, w in zip(rows[r], rows[c])]
    return [row[m:] for row in rows]


def quotient(program, adv_coeffs, fix_coeffs, inst_coeffs, challenges, domain: Domain,
             pieces: int, fixed_on_cosets=None) -> np.ndarray:
    """h's coefficients, (pieces * n, 4), from the columns' coefficient arrays (each (c, n, 4)).

    fixed_on_cosets: `fixed_cosets(fix_coeffs, ..., x16=x16_path(domain))` when the proving
    key holds them."""
    n = domain.n
    x16 = x16_path(domain)
    shifts = coset_shifts(domain, pieces)
    reduced = np.empty((pieces, n, 4), dtype=np.uint64)      # h mod (X^n - s_j^n)
    adv = np.empty_like(adv_coeffs)                          # one buffer for every coset
    fix = np.empty_like(fix_coeffs) if fixed_on_cosets is None else None
    evaluate = evaluate_rows_x16 if x16 else evaluate_rows_multi
    for j, s in enumerate(shifts):
        on_coset(domain, adv_coeffs, s, out=adv, x16=x16)
        if fixed_on_cosets is None:
            on_coset(domain, fix_coeffs, s, out=fix, x16=x16)
        ins = on_coset(domain, inst_coeffs, s, x16=x16)
        vals = evaluate(program, adv, fix if fixed_on_cosets is None else fixed_on_cosets[j],
                        ins, challenges, n)[0]
        zinv = pow((pow(s, n, P) - 1) * (16 if x16 else 1) % P, -1, P)
        domain.coset_intt(Fr.scale(vals, zinv), shift=s, out=reduced[j])
    vinv = _inverse_vandermonde([pow(s, n, P) for s in shifts])
    h = np.empty((pieces * n, 4), dtype=np.uint64)
    for i in range(pieces):
        acc = Fr.scale(reduced[0], vinv[i][0])
        for j in range(1, pieces):
            acc = Fr.add(acc, Fr.scale(reduced[j], vinv[i][j]))
        h[i * n:(i + 1) * n] = acc
    return h


def blind_pieces(h: np.ndarray, n: int, pieces: int, rng=None) -> list:
    """[h_i'] as (n + 1, 4) coefficient arrays (see the module docstring)."""
    b = Fr.random(pieces + 1, rng)
    b[0] = 0
    b[pieces] = 0
    out = []
    for i in range(pieces):
        p = np.zeros((n + 1, 4), dtype=np.uint64)
        p[:n] = h[i * n:(i + 1) * n]
        p[0] = Fr.sub(p[0:1], b[i:i + 1])[0]
        p[n] = b[i + 1]
        out.append(p)
    return out


def commit_quotient(pk, adv_coeffs, fixed, ins_coeffs, chal, rng):
    """Round quotient (after y): h = C / Z_H in blinded pieces, from every column's
    coefficients (``fixed``: `fixed_polys(pk)`). Returns (their commitments, the pieces'
    coefficients)."""
    from ..kzg import commit
    lay = pk.layout
    fix_coeffs, fix_cosets, _ = fixed
    quot, _, _ = lay.row_programs
    h = quotient(quot, adv_coeffs, fix_coeffs, ins_coeffs, chal, pk.domain, lay.quotient_pieces,
                 fixed_on_cosets=fix_cosets)
    pieces = blind_pieces(h, lay.desc.n, lay.quotient_pieces, rng)
    return np.stack([commit(pk.srs, p) for p in pieces]), pieces
