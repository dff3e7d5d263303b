"""Test helpers for gadgets: hypothesis strategies, a one-shot circuit builder, tampering.

Strategies produce int64 fixed-point arrays (a value v stands for v / 2^scale) and favour the
edges: range limits, zeros, negatives and ties.

    from hypothesis import given, settings
    from snarkgpt.testing import fixed_point_arrays, build_gadget, assert_tampering_detected

    @settings(max_examples=10, deadline=None)
    @given(fixed_point_arrays(bits=10, shape=6))
    def test_my_gadget(x):
        def configure(cs):
            return MyChip.configure(cs)
        def synth(layouter, cfg):
            return MyChip.assign(layouter, cfg, x)
        cs, cfg, asg, out = build_gadget(configure, synth)
        MockProver(cs, asg).assert_satisfied()
        assert_tampering_detected(cs, asg, [out.cells])

Strategies: `fixed_point_arrays(bits, shape, scale=0)`, `matrices(bits, rows, cols)`,
`rows_with_ties(bits, rows, cols)`, `values_near_bounds(lo, hi, shape, margin)`,
`scales(min_bits, max_bits)`. Helpers: `build_gadget`, `assert_tampering_detected`, `region_cells`,
`tamper_cells`.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

__all__ = ["GadgetCircuit", "fixed_point_arrays", "matrices", "rows_with_ties", "values_near_bounds", "scales",
           "build_gadget", "tamper_cells", "region_cells", "prove_round_trip", "assert_tampering_detected"]


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _edge_ints(lo: int, hi: int):
    """Integers in [lo, hi), with the bounds, zero and +-1 drawn often."""
    edges = sorted({v for v in (lo, lo + 1, hi - 1, hi - 2, 0, 1, -1) if lo <= v < hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi - 1))


@st.composite
def _arrays(draw, lo, hi, shape):
    shape = _shape(shape)
    n = int(np.prod(shape)) if shape else 1
    vals = draw(st.lists(_edge_ints(lo, hi), min_size=n, max_size=n))
    return np.array(vals, dtype=np.int64).reshape(shape)


def fixed_point_arrays(bits: int, shape, scale: int = 0):
    """int64 arrays of ``shape`` with values in [-2^(bits-1), 2^(bits-1)) (signed, ``bits``
    bits at scale 2^scale: the scale only documents the meaning; the integers are drawn the
    same way). Edges (min, max, 0, +-1) are drawn often.

    >>> fixed_point_arrays(8, (2, 3)).example().shape
    (2, 3)
    """
    half = 1 << (bits - 1)
    return _arrays(-half, half, shape)


def matrices(bits: int, rows=(1, 4), cols=(1, 6)):
    """(T, d) int64 matrices of signed ``bits``-bit values, T and d drawn from the given
    inclusive (min, max) ranges (or fixed ints)."""
    rr = rows if isinstance(rows, tuple) else (rows, rows)
    cc = cols if isinstance(cols, tuple) else (cols, cols)
    return st.tuples(st.integers(*rr), st.integers(*cc)).flatmap(
        lambda s: fixed_point_arrays(bits, s))


@st.composite
def rows_with_ties(draw, bits: int, rows=(1, 4), cols=(2, 6)):
    """Matrices whose rows often repeat their maximum (ties) and sometimes are constant."""
    x = draw(matrices(bits, rows, cols))
    T, d = x.shape
    half = 1 << (bits - 1)
    for t in range(T):
        kind = draw(st.sampled_from(["tie", "tie", "const", "none"]))
        if kind == "const":
            x[t, :] = draw(st.integers(-half, half - 1))
        elif kind == "tie" and d >= 2:
            i, j = draw(st.lists(st.integers(0, d - 1), min_size=2, max_size=2, unique=True))
            m = max(int(x[t].max()), draw(st.integers(-half, half - 1)))
            x[t, i] = x[t, j] = m
    return x


def values_near_bounds(lo: int, hi: int, shape=4, margin: int = 2):
    """int64 arrays with values in [lo, hi), mostly within ``margin`` of lo or hi - 1."""
    near = sorted({v for v in list(range(lo, lo + margin + 1)) + list(range(hi - 1 - margin, hi))
                   if lo <= v < hi})

    @st.composite
    def gen(draw):
        s = _shape(shape)
        n = int(np.prod(s))
        vals = draw(st.lists(st.one_of(st.sampled_from(near), st.integers(lo, hi - 1)),
                             min_size=n, max_size=n))
        return np.array(vals, dtype=np.int64).reshape(s)
    return gen()


def scales(min_bits: int = 2, max_bits: int = 8):
    """Scale exponents s (values are at scale 2^s)."""
    return st.integers(min_bits, max_bits)


# ---------------------------------------------------------------------------------------
class GadgetCircuit:
    """A circuit made of two functions: ``configure(cs) -> cfg`` and
    ``synth(layouter, cfg) -> out`` (``out`` is kept in ``.result``), with public
    ``instances`` (a list of lists of ints). Usable with `synthesize`, keygen and prove."""

    def __init__(self, configure, synth, instances=None):
        self._configure, self._synth = configure, synth
        self._instances = instances or []
        self.result = None

    def configure(self, cs):
        return self._configure(cs)

    def instances(self):
        return self._instances

    def synthesize(self, config, layouter):
        self.result = self._synth(layouter, config)


def build_gadget(configure, synth, k=None, rng=None):
    """Build a one-off circuit: ``configure(cs) -> cfg``, ``synth(layouter, cfg) -> out``.
    Returns (cs, cfg, asg, out)."""
    from snarkgpt.plonk.circuit import ConstraintSystem, synthesize
    cs = ConstraintSystem()
    circ = GadgetCircuit(configure, synth)
    cfg = circ.configure(cs)
    asg = synthesize(cs, circ, cfg, k=k, rng=rng)
    return cs, cfg, asg, circ.result


def tamper_cells(cells, sample: int | None = None, rng=None) -> list:
    """Flatten Cells / CellRanges / Assigned into a list of Cells (a random sample of
    ``sample`` of them if given)."""
    from snarkgpt.plonk.circuit import Cell
    out = []
    for c in cells:
        if hasattr(c, "cells") and not isinstance(c, Cell):
            c = c.cells
        if isinstance(c, Cell):
            out.append(c)
        else:
            out.extend(list(c))
    if sample is not None and len(out) > sample:
        rng = rng or np.random.default_rng(0)
        out = [out[i] for i in sorted(rng.choice(len(out), sample, replace=False))]
    return out


def region_cells(asg, region_name: str, exclude=()) -> list:
    """Every assigned advice cell of the region(s) named ``region_name`` (columns in
    ``exclude`` left out): the outputs and intermediates (remainders, limbs, flags) of a
    gadget, for `assert_tampering_detected`."""
    from snarkgpt.plonk.circuit import Cell
    ex = {c.name for c in exclude}
    out = []
    for info in asg.regions:
        if info.name != region_name:
            continue
        for col in asg.cs.advice_columns:
            if col.name in ex:
                continue
            rows = np.flatnonzero(asg.advice_assigned[col.index][info.start:info.start + info.height])
            out.extend(Cell(col, info.start + int(r)) for r in rows)
    if not out:
        raise ValueError(f"no assigned cells in region {region_name!r}")
    return out


def assert_tampering_detected(cs, asg, cells, sample: int | None = None, deltas=(1,), rng=None):
    """For each cell (Cells, CellRanges or Assigned; a sample of them if ``sample``) and
    each delta, add delta to the cell and assert the mock prover reports a failure; the
    witness is restored afterwards. Returns the number of tampers tried."""
    from snarkgpt.plonk.mock import MockProver
    tried = 0
    for cell in tamper_cells(cells, sample, rng):
        orig = asg.value(cell.column, cell.row)
        for d in deltas:
            asg.set_cell(cell.column, cell.row, orig + d)
            try:
                failures = MockProver(cs, asg).verify()
            finally:
                asg.set_cell(cell.column, cell.row, orig)
            assert failures, (f"changing {cell.column.name}[row {cell.row}] "
                              f"({asg.region_of(cell.row, cell.column)}) by {d} was not detected")
            tried += 1
    return tried


def prove_round_trip(circuit, srs_size: int = 2 ** 9 + 1, rng_seed: int = 0):
    """keygen, prove and verify ``circuit`` (a `GadgetCircuit`) with an insecure local SRS;
    returns (vk, proof, verify) where ``verify(instances) -> bool`` checks the proof against
    other public values. Needs `snarkgpt.plonk.prover`."""
    import warnings

    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.keygen import keygen
    from snarkgpt.plonk.prover import prove
    from snarkgpt.plonk.srs import SRS
    from snarkgpt.plonk.verifier import verify

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srs = SRS.dev(srs_size, seed=b"snarkgpt-gadget-tests")
        cs = ConstraintSystem()
        cfg = circuit.configure(cs)
        pk, vk = keygen(srs, cs, circuit, cfg)
        proof = prove(pk, circuit, cfg, rng=np.random.default_rng(rng_seed))
        assert verify(vk, circuit.instances(), proof), "an honest proof was rejected"
    return vk, proof, lambda instances: verify(vk, instances, proof)
