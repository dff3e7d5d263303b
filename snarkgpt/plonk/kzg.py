"""KZG polynomial commitments over BN254 (Kate, Zaverucha, Goldberg 2010).

commit(p)   = [p(tau)]G1                                  (an MSM over the SRS powers)
open(p, z)  = (p(z), [q(tau)]G1) with q(X) = (p(X) - p(z)) / (X - z)
verify      : e(C - [y]G1 + [z]pi, G2) == e(pi, [tau]G2)
              since p(tau) - y = q(tau)(tau - z)  <=>  C - yG + z*pi = tau*pi.

Batch opening (GWC19 style, as in halo2's "GWC" variant): polynomials opened at the same
point are folded with powers of a transcript challenge v into one polynomial and one proof
per distinct point; the verifier folds the commitments and values the same way, then checks
all points in ONE pairing equation, combining the per-point equations with powers of a second
challenge u:
    e(sum_j u^j (F_j - [y_j]G + z_j pi_j), G2) == e(sum_j u^j pi_j, [tau]G2).
"""
from dataclasses import dataclass

import numpy as np

from ..curve import g1
from ..curve.msm import msm
from ..curve.pairing import pairing_check
from ..field import FR_MODULUS, Fr
from ..field import poly
from .srs import SRS
from .transcript import Transcript


def commit(srs: SRS, coeffs: np.ndarray) -> np.ndarray:
    """[p(tau)]G1 for a coefficient array (degree < srs.n)."""
    n = coeffs.shape[0]
    if n > srs.n:
        raise ValueError(f"polynomial has {n} coefficients but the SRS only {srs.n} powers")
    return msm(srs.g1[:n], coeffs)


def open_at(srs: SRS, coeffs: np.ndarray, z: int):
    """(p(z), proof) for one polynomial at one point."""
    value = poly.evaluate(coeffs, z)
    q = poly.divide_by_linear(coeffs, z)
    return value, commit(srs, q)


def verify_at(srs: SRS, commitment: np.ndarray, z: int, value: int, proof: np.ndarray) -> bool:
    """Check one opening: e(C - [y]G1 + [z]pi, G2) == e(pi, [tau]G2)."""
    lhs = _combine([commitment, srs.g1[0], proof], [1, -value, z])
    return pairing_check(np.stack([lhs, _neg(proof)]), np.stack([srs.g2[0], srs.g2[1]]))


@dataclass
class OpeningQuery:
    """Polynomials (coefficient arrays, or a `Combination` of them) to open at one point."""
    point: int
    polys: list


@dataclass
class VerifierQuery:
    """What the verifier holds for one point: the commitments and the claimed values.

    A commitment is a G1 point, or a `Combination` of points that the verifier never adds
    up on its own: its terms go straight into the one MSM of `batch_verify`."""
    point: int
    commitments: list
    values: list


@dataclass
class Combination:
    """sum_i coeffs[i] * points[i]: on the verifier's side a commitment made of G1 points
    (for example the recombined quotient), on the prover's the matching polynomial made of
    coefficient arrays. Neither side adds it up on its own: its terms join the batch's fold."""
    points: list
    coeffs: list


def batch_open(srs: SRS, queries: list, transcript: Transcript) -> list:
    """One proof per distinct point; the values must already be in the transcript."""
    v = transcript.challenge("kzg.v")
    proofs = []
    for q in queries:
        folded = _fold_polys(q.polys, v)
        proofs.append(commit(srs, poly.divide_by_linear(folded, q.point)))
    transcript.absorb_points("kzg.proofs", np.stack(proofs))
    return proofs


def batch_verify(srs: SRS, queries: list, proofs: list, transcript: Transcript) -> bool:
    """Check all openings of `queries` with one pairing equation."""
    if len(proofs) != len(queries):
        return False
    v = transcript.challenge("kzg.v")
    transcript.absorb_points("kzg.proofs", np.stack(proofs))
    u = transcript.challenge("kzg.u")
    points, scalars = [], []
    lhs_pi_points, lhs_pi_scalars = [], []
    y_total = 0
    uj = 1
    for q, pi in zip(queries, proofs):
        weights = [uj * vi % FR_MODULUS for vi in _powers(v, len(q.commitments))]
        pts, sc = _terms(q.commitments, weights)
        points += pts
        scalars += sc
        y_total = (y_total + sum(w * y for w, y in zip(weights, q.values))) % FR_MODULUS
        points.append(pi)
        scalars.append(uj * q.point % FR_MODULUS)
        lhs_pi_points.append(pi)
        lhs_pi_scalars.append(uj)
        uj = uj * u % FR_MODULUS
    points.append(srs.g1[0])
    scalars.append(-y_total)
    lhs = _combine(points, scalars)
    rhs = _combine(lhs_pi_points, lhs_pi_scalars)
    return pairing_check(np.stack([lhs, _neg(rhs)]), np.stack([srs.g2[0], srs.g2[1]]))


def _fold_polys(polys, v):
    """sum_i v^i p_i(X) over coefficient arrays of possibly different lengths."""
    return poly.linear_combination(*_terms(polys, _powers(v, len(polys))))


def _powers(v: int, m: int) -> list:
    out, p = [], 1
    for _ in range(m):
        out.append(p)
        p = p * v % FR_MODULUS
    return out


def _terms(items, weights):
    """(members, coefficients) of sum_i weights[i] * items[i], with every `Combination`
    spread into its members (points or polynomials alike), each scaled by its coefficient."""
    flat, coeffs = [], []
    for it, w in zip(items, weights):
        if isinstance(it, Combination):
            flat += it.points
            coeffs += [w * k % FR_MODULUS for k in it.coeffs]
        else:
            flat.append(it)
            coeffs.append(w)
    return flat, coeffs


def _combine(points, scalars) -> np.ndarray:
    """sum_i scalars[i] * points[i] for a handful of points (the verifier's small MSMs).

    A point listed more than once (a column opened at several rotations) gets one entry
    with the sum of its scalars."""
    index, uniq, total = {}, [], []
    for pt, s in zip(points, scalars):
        key = pt.tobytes()
        j = index.get(key)
        if j is None:
            index[key] = len(uniq)
            uniq.append(pt)
            total.append(s % FR_MODULUS)
        else:
            total[j] = (total[j] + s) % FR_MODULUS
    return msm(np.ascontiguousarray(np.stack(uniq)), Fr.from_ints(total))


def _neg(point) -> np.ndarray:
    return g1.neg(point.reshape(1, 8))[0]
