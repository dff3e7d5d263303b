"""Linearization: the chosen columns enter the combined constraint affinely, the verifier's
split (A, c_s) reproduces the constraint program exactly, and a witness broken in a
linearized column is still refused by the prover and rejected by the verifier."""
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.plonk import linearization
from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck
from snarkgpt.plonk.expression import ADVICE, FIXED, Column
from snarkgpt.plonk.int_program import IntProgram
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import VerificationError, verify, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")
P = FR_MODULUS

COLS = [Column(ADVICE, i, f"a{i}") for i in range(3)] + [Column(FIXED, 0, "q")]


def _combined(program, cells, chal, y):
    acc = 0
    for v in program.run(cells, chal):
        acc = (acc * y + v) % P
    return acc


def _check_affine(exprs, linearized, rng, cells=None, chal=None):
    """sum_i y^(N-1-i) C_i equals A + sum_s c_s s for random values of the linearized cells."""
    prog = IntProgram(exprs)
    keys = linearization.program_keys(linearized)
    cells = dict(cells or {key: rng.randrange(P) for key in prog.cells})
    chal = chal or {}
    y = rng.randrange(P)
    A, coeff = linearization.split(prog, cells, chal, keys, y)
    # the compiled kernel (the default) and the Python definition agree exactly
    A_ref, coeff_ref = linearization.split(prog, cells, chal, keys, y, compiled=False)
    assert A == A_ref
    assert {k: c for k, c in coeff.items() if c} == {k: c for k, c in coeff_ref.items() if c}
    assert set(coeff) <= keys
    for _ in range(2):
        for key in keys:
            cells[key] = rng.randrange(P)
        want = _combined(prog, cells, chal, y)
        assert (A + sum(c * cells[key] for key, c in coeff.items())) % P == want


def test_choose_on_a_hand_made_gate():
    a, b, c, q = COLS
    # q (a b - c): q meets a, b and c; a meets b. a^2 - b.next() makes a unusable (b then
    # takes its place).
    gate = q.cur() * (a.cur() * b.cur() - c.cur())
    assert linearization.choose([gate]) == [(ADVICE, 0), (ADVICE, 2)]          # a and c
    assert linearization.choose([gate, a.cur() * a.cur() - b.next()]) == [(ADVICE, 1), (ADVICE, 2)]
    # a rotation-1 query is never linearized (b is only read at omega x here)
    assert linearization.choose([q.cur() * b.next()]) == [(FIXED, 0)]
    assert linearization.choose([gate], excluded={(ADVICE, 0), (ADVICE, 2)}) == [(ADVICE, 1)]
    _check_affine([gate], [(ADVICE, 0), (ADVICE, 2)], random.Random(1))


def test_a_swap_improves_on_greedy():
    """s meets x and y; x and y each meet two hubs p, and each hub meets three leaves. Greedy
    takes the 12 leaves, then s (fewest conflicts), which blocks x and y; the swap trades s
    for x and y."""
    names = iter(range(100))

    def col():
        return Column(ADVICE, next(names), "v")
    s, x, y = col(), col(), col()
    hubs = [col() for _ in range(4)]
    exprs = [s.cur() * x.cur(), s.cur() * y.cur()]
    exprs += [x.cur() * hubs[0].cur(), x.cur() * hubs[1].cur()]
    exprs += [y.cur() * hubs[2].cur(), y.cur() * hubs[3].cur()]
    for h in hubs:
        exprs += [h.cur() * col().cur() for _ in range(3)]
    chosen = linearization.choose(exprs)
    assert len(chosen) == 14
    assert (ADVICE, x.index) in chosen and (ADVICE, y.index) in chosen and (ADVICE, s.index) not in chosen
    _check_affine(exprs, chosen, random.Random(2))


def test_required_columns_are_always_chosen():
    """``required`` (the private weight columns) enter the set first and stay in it."""
    a, b, c, q = COLS
    gate = q.cur() * (a.cur() * b.cur() - c.cur())
    # unconstrained: a and c; requiring the selector q (it meets every other) leaves only q
    assert linearization.choose([gate], required={(FIXED, 0)}) == [(FIXED, 0)]
    # requiring b: b and c (a shares the monomial q a b with b)
    assert linearization.choose([gate], required={(ADVICE, 1)}) == [(ADVICE, 1), (ADVICE, 2)]
    # a required column that no constraint reads is never opened either: nothing changes
    assert linearization.choose([gate], required={(FIXED, 7)}) == [(ADVICE, 0), (ADVICE, 2)]
    _check_affine([gate], [(ADVICE, 1), (ADVICE, 2)], random.Random(4))


def test_the_swap_pass_never_drops_a_required_column():
    """The swap graph of `test_a_swap_improves_on_greedy`: with s required, x and y stay out."""
    names = iter(range(100))

    def col():
        return Column(ADVICE, next(names), "v")
    s, x, y = col(), col(), col()
    hubs = [col() for _ in range(4)]
    exprs = [s.cur() * x.cur(), s.cur() * y.cur()]
    exprs += [x.cur() * hubs[0].cur(), x.cur() * hubs[1].cur()]
    exprs += [y.cur() * hubs[2].cur(), y.cur() * hubs[3].cur()]
    for h in hubs:
        exprs += [h.cur() * col().cur() for _ in range(3)]
    chosen = linearization.choose(exprs, required={(ADVICE, s.index)})
    assert (ADVICE, s.index) in chosen and (ADVICE, x.index) not in chosen and (ADVICE, y.index) not in chosen
    assert len(chosen) == 13
    _check_affine(exprs, chosen, random.Random(5))


@pytest.mark.parametrize("expr, reason", [
    (lambda a, b, c, q: q.cur() * (a.cur() * a.cur() - c.cur()), "appears squared"),
    (lambda a, b, c, q: q.cur() * (a.cur() * b.cur() - c.cur()),
     "shares a monomial with weight column 'a1'"),
    (lambda a, b, c, q: q.cur() * (a.next() - c.cur()), "read at rotation 1"),
], ids=["squared", "two-in-a-monomial", "rotation"])
def test_a_required_column_that_cannot_be_linearized_is_refused(expr, reason):
    a, b, c, q = COLS
    with pytest.raises(linearization.LinearizationError,
                       match=rf"weight column 'a0' cannot be linearized: it .*{reason}.* in 'gate g'"):
        linearization.choose([expr(a, b, c, q)], required={(ADVICE, 0), (ADVICE, 1)}, names=["gate g"])
    # the same constraint without a's requirement is fine
    linearization.choose([expr(a, b, c, q)], required={(ADVICE, 2)})


def _leaf():
    return st.one_of(st.sampled_from([c.cur() for c in COLS] + [COLS[0].next()]),
                     st.integers(-5, 5))


def _tree(children):
    return st.one_of(st.tuples(children, children).map(lambda t: t[0] + t[1]),
                     st.tuples(children, children).map(lambda t: t[0] * t[1]),
                     children.map(lambda e: -e),
                     st.tuples(children, st.integers(-3, P - 1)).map(lambda t: t[0] * t[1]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.recursive(_leaf(), _tree, max_leaves=7), min_size=1, max_size=3),
       st.integers(0, 2 ** 32))
def test_any_expression_is_affine_in_the_chosen_columns(exprs, seed):
    from snarkgpt.plonk.expression import as_expr
    exprs = [as_expr(e) for e in exprs]
    _check_affine(exprs, linearization.choose(exprs), random.Random(seed))


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 9 + 1, seed=b"linearization-tests")


@pytest.mark.parametrize("circuit", [Fibonacci(steps=8), RangeCheck([1, 2, 3, 200]),
                                     ProductCheck([1, 2, 3], [4, 5, 6]),
                                     MultiplyAccumulate([3] * 8, [5] * 8)],
                         ids=["fibonacci", "range", "product", "mac"])
def test_real_layouts_split_exactly(srs, circuit):
    """Every constraint identity of a real layout (gates, lookups, permutation, with the
    virtual columns) is affine in the layout's linearized columns."""
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    _, vk = keygen(srs, cs, circuit, cfg)
    lay = vk.layout
    assert lay.linearized, "nothing linearized"
    assert not {(k, i) for k, i, r in lay.queries if r == 0} & set(lay.linearized)
    rng = random.Random(3)
    prog = IntProgram([e for _, e in lay.constraints])
    chal = {c.index: rng.randrange(P) for e in [e for _, e in lay.constraints]
            for c in e.challenges()}
    _check_affine([e for _, e in lay.constraints], lay.linearized, rng, chal=chal,
                  cells={key: rng.randrange(P) for key in prog.cells})


def test_split_names_a_missing_cell_or_challenge():
    a, b, c, q = COLS
    from snarkgpt.plonk.expression import Challenge
    ch = Challenge(0, 0, "theta")
    prog = IntProgram([q.cur() * (a.cur() * b.cur() - c.cur()) + ch.expr() * a.cur()])
    cells = {key: 1 for key in prog.cells}
    del cells[(ADVICE, 1, 0)]
    for compiled in (True, False):
        with pytest.raises(KeyError, match="1, 0"):
            linearization.split(prog, cells, {0: 5}, set(), 3, compiled=compiled)
        with pytest.raises(KeyError):
            linearization.split(prog, {key: 1 for key in prog.cells}, {}, set(), 3,
                                compiled=compiled)


def test_a_broken_linearized_cell_is_refused_and_rejected(srs):
    circuit = Fibonacci(steps=8)
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    lay = vk.layout
    # a witness column whose value at x is folded into L rather than opened (which columns
    # are linearized depends on the layout: keygen's choice)
    cols = [c for c in (cfg.a, cfg.b, cfg.c) if (ADVICE, c.index) in lay.linearized]
    assert cols
    col = cols[0]
    assert all(q[:2] != (ADVICE, col.index) or q[2] != 0 for q in lay.queries)
    # the proof carries one evaluation fewer per linearized column
    virtual = {c.index for c in lay.virtual}
    read = {(0 if q.column.kind == ADVICE else 1, q.column.index, q.rotation)
            for _, e in lay.constraints for q in e.queries()
            if q.column.kind == ADVICE or (q.column.kind == FIXED and q.column.index not in virtual)}
    assert lay.evaluation_count() == len(read) - len(lay.linearized)
    good = prove(pk, circuit, cfg, rng=np.random.default_rng(1))
    assert verify(vk, circuit.instances(), good)

    def tamper(asg, phase):              # one cell of the step-2 row: a + b = c fails there
        row = int(np.flatnonzero((asg.advice[cfg.c.index] == Fr.from_ints([5])[0]).all(axis=1))[0])
        asg.set_cell(col, row, asg.value(col, row) + 1)
    with pytest.raises(ProverError):
        prove(pk, circuit, cfg, tamper=tamper)
    bad = prove(pk, circuit, cfg, check=False, tamper=tamper, rng=np.random.default_rng(2))
    with pytest.raises(VerificationError):
        verify_or_raise(vk, circuit.instances(), bad)
