"""KZG polynomial commitments over BN254 (Kate, Zaverucha, Goldberg 2010).

commit(p)   = [p(tau)]G1                                  (an MSM over the SRS powers)
commit_values(v) = the same from the values on the domain   (an MSM over the Lagrange basis)
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
from ..field.ntt import powers as fr_powers
from ..field.vec import count_changes
from .srs import SRS
from .transcript import Transcript


def commit(srs: SRS, coeffs: np.ndarray) -> np.ndarray:
    """[p(tau)]G1 for a coefficient array (degree < srs.n)."""
    n = coeffs.shape[0]
    if n > srs.n:
        raise ValueError(f"polynomial has {n} coefficients but the SRS only {srs.n} powers")
    return msm(srs.g1[:n], coeffs)


def commit_values(srs, k: int, values: np.ndarray, usable: int | None = None) -> np.ndarray:
    """[p(tau)]G1 for the polynomial with these values on the size-2^k domain (Lagrange basis).

    A column that is mostly piecewise constant (a grand product whose columns have few
    copies changes only on those rows) is committed from the differences of consecutive
    values in the running-sum basis (`SRS.lagrange_prefix`): the same point, from an MSM over
    the rows where the value changes. Otherwise the first ``usable`` rows and the rest are
    committed by separate MSMs (small witness values on the usable rows take the MSM's
    small-scalar path)."""
    values = np.ascontiguousarray(values)
    changed, nonzero = count_changes(values)
    if 2 * changed < nonzero:
        changes = Fr.sub(values[:-1], values[1:])      # row slices: still contiguous
        return msm(srs.lagrange_prefix(k), np.concatenate([changes, values[-1:]]))
    lag = srs.lagrange(k)
    if usable is None or usable >= values.shape[0]:
        return msm(lag, values)
    a = msm(np.ascontiguousarray(lag[:usable]), np.ascontiguousarray(values[:usable]))
    b = msm(np.ascontiguousarray(lag[usable:]), np.ascontiguousarray(values[usable:]))
    return g1.add(a, b)


def open_at(srs: SRS, coeffs: np.ndarray, z: int):
    """(p(z), proof) for one polynomial at one point."""
    value = poly.evaluate(coeffs, z)
    q = poly.divide_by_linear(coeffs, z)
    return value, commit(srs, q)


def verify_at(srs: SRS, commitment: np.ndarray, z: int, value: int, proof: np.ndarray) -> bool:
    """Check one opening: e(C - [y]G1 + [z]pi, G2) == e(pi, [tau]G2)."""
    lhs = _combine(np.stack([commitment, srs.g1[0], proof]), Fr.from_ints([1, -value, z]))
    return pairing_check(np.stack([lhs, _neg(proof)]), np.stack([srs.g2[0], srs.g2[1]]))


@dataclass
class OpeningQuery:
    """Polynomials (coefficient arrays, or a `Combination` of them) to open at one point."""
    point: int
    polys: list


@dataclass
class VerifierQuery:
    """What the verifier holds for one point: the commitments and the claimed values
    (Python ints or an Fr array, one per commitment).

    A commitment is a G1 point, or a `Combination` of points that the verifier never adds
    up on its own: its terms go straight into the one MSM of `batch_verify`. An (m, 8) array
    in the list stands for m commitments in a row."""
    point: int
    commitments: list
    values: list


@dataclass
class Combination:
    """sum_i coeffs[i] * points[i]: on the verifier's side a commitment made of G1 points
    (for example the recombined quotient; the coefficients Python ints or an Fr array), on
    the prover's the matching polynomial made of coefficient arrays. Neither side adds it up
    on its own: its terms join the batch's fold."""
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


@dataclass(frozen=True)
class VerifierKey:
    """What KZG verification needs of the setup: [1]G1 (the first row of ``g1``) and the G2
    points [1]G2, [tau]G2. An `SRS` serves too (same attributes)."""
    g1: np.ndarray      # (1, 8)
    g2: np.ndarray      # (2, 16)

    @classmethod
    def from_g2(cls, g2) -> "VerifierKey":
        return cls(g1.generator().reshape(1, 8), np.asarray(g2, dtype=np.uint64).reshape(2, 16))


def batch_verify(srs, queries: list, proofs: list, transcript: Transcript) -> bool:
    """Check all openings of `queries` with one pairing equation; ``srs``: a `VerifierKey`
    (or the full `SRS`)."""
    pair = pairing_inputs(srs, queries, proofs, transcript)
    return pair is not None and check_pairings([pair], srs)


@dataclass(frozen=True)
class PairingTerms:
    """The two G1 sides of a batch opening's pairing equation, e(lhs, G2) == e(rhs, [tau]G2),
    left as sums ``sum_i scalars[i] * points[i]`` (``lhs`` and ``rhs``: (points (n, 8),
    Fr scalars)): a chain's segments are folded as one MSM per side instead of two each."""
    lhs: tuple
    rhs: tuple

    def evaluate(self) -> tuple:
        """(lhs, rhs) as G1 points."""
        return _combine(*self.lhs), _combine(*self.rhs)


def check_pairings(pairs: list, srs, weights=None) -> bool:
    """e(sum_i w_i lhs_i, G2) == e(sum_i w_i rhs_i, [tau]G2) for the pairs of
    `pairing_inputs` (G1 pairs (lhs_i, rhs_i), or `PairingTerms`): one pairing equation for
    many proofs' openings under one SRS (a chain of segment proofs). ``weights``: random
    scalars w_i, fixed after every pair (w_0 may be 1); a forged pair then passes only if its
    own equation holds, except with probability 1/r. One pair needs no weight. Terms are
    folded before any point is computed: sum_i w_i sum_j s_ij P_ij is one MSM per side."""
    if not pairs:
        return False
    if weights is None:
        if len(pairs) != 1:
            raise ValueError("check_pairings: several pairs need their weights")
        weights = [1]
    if len(weights) != len(pairs):
        raise ValueError(f"check_pairings: {len(weights)} weights for {len(pairs)} pairs")
    if all(isinstance(p, PairingTerms) for p in pairs):
        sides = []
        for side in ("lhs", "rhs"):
            pts = [getattr(p, side)[0] for p in pairs]
            scs = [sc if w == 1 else Fr.scale(sc, w)
                   for (_, sc), w in ((getattr(p, side), w) for p, w in zip(pairs, weights))]
            sides.append(_combine(np.concatenate(pts), np.concatenate(scs)))
        lhs, rhs = sides
    else:
        pairs = [p.evaluate() if isinstance(p, PairingTerms) else p for p in pairs]
        if len(pairs) == 1 and weights == [1]:
            lhs, rhs = pairs[0]
        else:
            w = Fr.from_ints(weights)
            lhs = msm(np.stack([p[0] for p in pairs]), w)
            rhs = msm(np.stack([p[1] for p in pairs]), w)
    return pairing_check(np.stack([lhs, _neg(rhs)]), np.stack([srs.g2[0], srs.g2[1]]))


def pairing_inputs(srs, queries: list, proofs: list, transcript: Transcript,
                   terms: bool = False):
    """The batch opening's pairing equation e(lhs, G2) == e(rhs, [tau]G2) as the G1 pair
    (lhs, rhs) (with ``terms``: as `PairingTerms`, the sums not yet computed), or None when
    the proof has the wrong number of opening proofs.

    The scalars are Fr arrays throughout (a model's proof opens a few hundred values): the
    weights u^j v^i, the folded value sum u^j v^i y_ji, and every point's coefficient."""
    if len(proofs) != len(queries):
        return None
    v = transcript.challenge("kzg.v")
    transcript.absorb_points("kzg.proofs", np.stack(proofs))
    u = transcript.challenge("kzg.u")
    widths = [sum(_rows(it) for it in q.commitments) for q in queries]
    vpow = fr_powers(v, max(widths))
    upow = _powers(u, len(queries))
    points, scalars, weights, values = [], [], [], []
    for q, pi, uj, m in zip(queries, proofs, upow, widths):
        w = Fr.scale(vpow[:m], uj)                             # u^j v^i
        weights.append(w)
        values.append(_fr_array(q.values))
        if values[-1].shape[0] != m:
            raise ValueError(f"batch_verify: {values[-1].shape[0]} values for {m} commitments")
        _point_terms(q.commitments, w, points, scalars)
        points.append(pi.reshape(1, 8))                        # + u^j z_j pi_j
        scalars.append(Fr.from_ints([uj * q.point]))
    y_total = poly.inner_product(np.concatenate(weights), np.concatenate(values))
    points.append(srs.g1[:1])                                  # - (sum u^j v^i y_ji) G
    scalars.append(Fr.from_ints([-y_total]))
    out = PairingTerms((np.concatenate(points), np.concatenate(scalars)),
                       (np.stack(proofs), Fr.from_ints(upow)))
    return out if terms else out.evaluate()


def _fr_array(values) -> np.ndarray:
    """Python ints or an Fr array -> an Fr array."""
    return values if isinstance(values, np.ndarray) else Fr.from_ints(values)


def _rows(item) -> int:
    """How many commitments a `VerifierQuery` item stands for."""
    return 1 if isinstance(item, Combination) else np.asarray(item).reshape(-1, 8).shape[0]


def _point_terms(items, weights: np.ndarray, points: list, scalars: list) -> None:
    """Append to (points, scalars) the terms of sum_i weights[i] * items[i] over G1 points
    (rows, or (m, 8) blocks of them) and `Combination`s of them (each member scaled by its
    coefficient), as array blocks."""
    pos = 0
    for it in items:
        if isinstance(it, Combination):
            if len(it.points):
                points.append(np.asarray(it.points, np.uint64).reshape(-1, 8))
                scalars.append(Fr.scale(_fr_array(it.coeffs), Fr.to_int(weights[pos])))
            pos += 1
        else:
            block = np.asarray(it, np.uint64).reshape(-1, 8)
            points.append(block)
            scalars.append(weights[pos:pos + block.shape[0]])
            pos += block.shape[0]


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
    """(polynomials, coefficients) of sum_i weights[i] * items[i], with every `Combination`
    spread into its members, each scaled by its coefficient (the prover's side of
    `_point_terms`)."""
    flat, coeffs = [], []
    for it, w in zip(items, weights):
        if isinstance(it, Combination):
            flat += it.points
            coeffs += [w * k % FR_MODULUS for k in it.coeffs]
        else:
            flat.append(it)
            coeffs.append(w)
    return flat, coeffs


def _combine(points: np.ndarray, scalars: np.ndarray) -> np.ndarray:
    """sum_i scalars[i] * points[i] (the verifier's MSMs): points (n, 8), scalars an Fr array.

    A point listed more than once (a column opened at several rotations) gets one entry
    with the sum of its scalars."""
    points = np.ascontiguousarray(points)
    # group by the first limb of x, then check that each group holds one point (a sort of
    # whole rows costs twice as much); points that only share that limb take the slow way
    _, first, where = np.unique(points[:, 0], return_index=True, return_inverse=True)
    if not np.array_equal(points[first][where.ravel()], points):
        rows = points.view(np.dtype((np.void, 64))).ravel()
        _, first, where = np.unique(rows, return_index=True, return_inverse=True)
    return msm(np.ascontiguousarray(points[first]), Fr.sum_by(scalars, where.ravel(), first.size))


def _neg(point) -> np.ndarray:
    return g1.neg(point.reshape(1, 8))[0]
