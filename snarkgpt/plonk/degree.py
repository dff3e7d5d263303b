"""The constraint degree a circuit is proved at: `choose_degree` and its prover cost model."""
from __future__ import annotations

__all__ = ["choose_degree", "MSM_COST", "COSET_COST"]

# prover cost model for `choose_degree`, in units of one size-n NTT: a full-size MSM of n
# random scalars (a grand product, a lookup helper, a quotient piece) costs about MSM_COST of
# them (measured on the 2-core development machine: 22 at 2^12, 35 at 2^14, 21 at 2^16, 18
# at 2^17, 16 at 2^18); one column on one quotient coset costs about COSET_COST (its coset NTT
# and its share of the constraint evaluation). Calibrated on the base model at 2^16: a grand
# product or helper costs 65-95 ms to build and commit, a column on a coset 9 ms at degree 4
# and 12 ms at degree 5 (a longer constraint program), so degree 4 proved in 45 s and degree
# 5 in 53 s, which COSET_COST = 1.5 had ranked the other way round
# (protocol v5 commits the products of sparsely copied chunks from their few changes, which
# this model does not count; re-measured on the base model after that, degree 5 proved as
# fast as degree 4 within the noise and verified slower: docs/benchmarks.md)
MSM_COST = 25.0
COSET_COST = 3.0


def choose_degree(circuit_degree: int, permutation_columns: int, other_columns: int,
                  lookup_helpers=None) -> int:
    """The constraint degree D >= the circuit's to prove at, by estimated prover cost.

    The permutation packs D - 2 columns per grand product, so a higher D means fewer
    full-size grand-product commitments (ceil(M / (D - 2)) MSMs), but D - 1 quotient pieces
    and D - 1 quotient cosets over every column (vanishing/prover.py). ``other_columns``:
    every column the quotient evaluates besides the grand products and the lookup helpers
    (advice, multiplicities, phi, fixed, sigma, virtual); ``lookup_helpers(D)``: the number
    of logUp helper columns at degree D (a higher D packs more fractions into each; they
    are full-size commitments too)."""
    base = max(3, circuit_degree)
    M = permutation_columns

    def cost(D):
        z = -(-M // (D - 2)) if M else 0
        z += lookup_helpers(D) if lookup_helpers is not None else 0
        return (z + D - 1) * MSM_COST + (D - 1) * (other_columns + z) * COSET_COST

    return min(range(base, base + 3), key=lambda D: (cost(D), D))
