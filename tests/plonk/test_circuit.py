"""Expressions, their compiled evaluator, the constraint system and the layouter."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snarkgpt.field import FR_MODULUS as P
from snarkgpt.field import Fr
from snarkgpt.plonk.circuit import (BLINDING_ROWS, Assignment, CellRange, CircuitError,
                                    ConstraintSystem, synthesize)
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck, build
from snarkgpt.plonk.expression import Column, Constant, format_value, sum_exprs
from snarkgpt.plonk.row_kernels import evaluate_rows, evaluate_rows_multi, evaluate_rows_naive
from snarkgpt.plonk.row_program import compile_expression, compile_expressions


# ---------------------------------------------------------------------------------------
# printing and degree
# ---------------------------------------------------------------------------------------
def small_cs():
    cs = ConstraintSystem()
    a, b, c = cs.advice_column("a"), cs.advice_column("b"), cs.advice_column("c")
    return cs, a, b, c


def test_expression_printing():
    cs, a, b, c = small_cs()
    q = cs.selector("q_mul")
    r = cs.challenge(0, "r")
    assert str(a.cur() * b.cur() - c.cur()) == "a[0] * b[0] - c[0]"
    assert str(a.next() + b.prev() - 3) == "a[1] + b[-1] - 3"
    assert str(q * (a.cur() - c.rot(2))) == "q_mul * (a[0] - c[2])"
    assert str(-a.cur()) == "-a[0]"
    assert str(3 * a.cur() - 2 * b.cur()) == "3 * a[0] - 2 * b[0]"
    assert str(a.cur() * r + 1) == "a[0] * r + 1"
    assert str((a.cur() + b.cur()) * (a.cur() - b.cur())) == "(a[0] + b[0]) * (a[0] - b[0])"
    assert str(a.cur() - (b.cur() - c.cur())) == "a[0] - (b[0] - c[0])"
    assert str(Constant(-5)) == "-5"
    assert format_value(P - 3) == "-3"
    assert format_value(2**200).startswith("0x")


def test_degree():
    cs, a, b, c = small_cs()
    q = cs.selector("q")
    r = cs.challenge(0, "r")
    assert Constant(7).degree() == 0
    assert (a.cur() * r * r).degree() == 1
    assert (a.cur() * b.cur() - c.cur()).degree() == 2
    assert (a.cur() ** 3 + b.cur()).degree() == 3
    assert (q * a.cur() * b.next()).degree() == 3
    g = cs.create_gate("g", [("x", a.cur() * b.cur() * c.cur()), ("y", a.cur())], selector=q)
    assert g.degree() == 4
    assert cs.degree() == 4
    assert cs.permutation_chunk_size() == 2
    for col in (a, b, c):
        cs.enable_equality(col)
    assert cs.num_permutation_products() == 2


def test_lookup_degree_formula():
    cs, a, b, c = small_cs()
    q = cs.selector("q")
    t = cs.lookup_table("t", 2)
    lk = cs.lookup("l", [a.cur(), b.cur() * c.cur()], t, selector=q)
    # input degree 2 -> 2 + 2; table degree 1 -> 3
    assert lk.degree() == 4
    assert cs.degree() == 4
    lk2 = cs.lookup("l2", [a.cur(), b.cur()], t, selector=q)
    assert lk2.degree() == 3
    assert len(cs.lookup_groups()) == 1            # both share table t
    assert cs.lookup_groups()[lk.table_key] == [lk, lk2]


def test_empty_cs_degree_and_blinding():
    cs = ConstraintSystem()
    assert cs.degree() == 3
    assert cs.blinding_rows == BLINDING_ROWS == 5
    a = cs.advice_column("a")
    cs.create_gate("many rotations", [sum_exprs(a.rot(i) for i in range(-2, 3))])
    assert cs.blinding_rows == 7                    # 5 queries + 2
    assert cs.usable_rows(10) == 1024 - 7 - 1


def test_names_must_be_unique():
    cs, a, b, c = small_cs()
    with pytest.raises(CircuitError):
        cs.advice_column("a")
    cs.create_gate("g", [a.cur()])
    with pytest.raises(CircuitError):
        cs.create_gate("g", [b.cur()])


def test_column_without_rotation_is_rejected():
    cs, a, b, c = small_cs()
    with pytest.raises(TypeError, match="a.cur"):
        cs.create_gate("g", [a])


# ---------------------------------------------------------------------------------------
# compiled evaluation vs Python integers
# ---------------------------------------------------------------------------------------
N_ROWS = 8
ROT = [-2, -1, 0, 1, 3]


def _columns(rng, count):
    vals = rng.integers(-50, 50, size=(count, N_ROWS))
    vals[:, 0] = 0
    arr = np.stack([Fr.from_signed(v) for v in vals])
    big = [[int(x) % P for x in row] for row in vals]
    return arr, big


@st.composite
def expr_trees(draw, depth=4):
    """A random expression tree description (nested tuples)."""
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        kind = draw(st.sampled_from(["const", "big", "adv", "fix", "ins", "chal"]))
        if kind == "const":
            return ("const", draw(st.integers(-5, 5)))
        if kind == "big":
            return ("const", draw(st.integers(0, P - 1)))
        if kind == "chal":
            return ("chal", draw(st.integers(0, 1)))
        return (kind, draw(st.integers(0, 1)), draw(st.sampled_from(ROT)))
    op = draw(st.sampled_from(["add", "sub", "mul", "neg", "scale"]))
    if op == "neg":
        return ("neg", draw(expr_trees(depth - 1)))
    if op == "scale":
        return ("scale", draw(expr_trees(depth - 1)), draw(st.integers(-3, P - 1)))
    return (op, draw(expr_trees(depth - 1)), draw(expr_trees(depth - 1)))


def _build(tree, cols, chals):
    kind = tree[0]
    if kind == "const":
        return Constant(tree[1])
    if kind == "chal":
        return chals[tree[1]].expr()
    if kind in ("adv", "fix", "ins"):
        return cols[kind][tree[1]].rot(tree[2])
    if kind == "neg":
        return -_build(tree[1], cols, chals)
    if kind == "scale":
        return _build(tree[1], cols, chals) * tree[2]
    x, y = _build(tree[1], cols, chals), _build(tree[2], cols, chals)
    return {"add": x + y, "sub": x - y, "mul": x * y}[kind]


def _direct(tree, row, vals, chal_vals, stride=1):
    """The tree's value at ``row`` computed directly with Python ints."""
    kind = tree[0]
    if kind == "const":
        return tree[1] % P
    if kind == "chal":
        return chal_vals[tree[1]]
    if kind in ("adv", "fix", "ins"):
        return vals[kind][tree[1]][(row + tree[2] * stride) % N_ROWS]
    if kind == "neg":
        return -_direct(tree[1], row, vals, chal_vals, stride) % P
    if kind == "scale":
        return _direct(tree[1], row, vals, chal_vals, stride) * tree[2] % P
    x = _direct(tree[1], row, vals, chal_vals, stride)
    y = _direct(tree[2], row, vals, chal_vals, stride)
    return {"add": x + y, "sub": x - y, "mul": x * y}[kind] % P


def _setup_columns():
    cs = ConstraintSystem()
    cols = {"adv": [cs.advice_column(f"a{i}") for i in range(2)],
            "fix": [cs.fixed_column(f"f{i}") for i in range(2)],
            "ins": [cs.instance_column(f"i{i}") for i in range(2)]}
    chals = [cs.challenge(0, "r0"), cs.challenge(0, "r1")]
    return cs, cols, chals


@settings(max_examples=60, deadline=None)
@given(trees=st.lists(expr_trees(), min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1),
       stride=st.sampled_from([1, 2]))
def test_compiled_matches_direct_python_ints(trees, seed, stride):
    cs, cols, chals = _setup_columns()
    rng = np.random.default_rng(seed)
    adv, adv_i = _columns(rng, 2)
    fix, fix_i = _columns(rng, 2)
    ins, ins_i = _columns(rng, 2)
    chal_vals = [int(rng.integers(0, 2**62)) * 7919 % P, P - 2]
    exprs = [_build(t, cols, chals) for t in trees]
    prog = compile_expressions(exprs)
    out = evaluate_rows_multi(prog, adv, fix, ins, chal_vals, N_ROWS, rotation_stride=stride)
    vals = {"adv": adv_i, "fix": fix_i, "ins": ins_i}
    for k, (t, e) in enumerate(zip(trees, exprs)):
        want = [_direct(t, row, vals, chal_vals, stride) for row in range(N_ROWS)]
        assert Fr.to_ints(out[k]) == want
        # the fold over Python ints (what a verifier uses) agrees too
        if stride == 1:
            short = {"advice": "adv", "fixed": "fix", "instance": "ins"}
            row = 3
            got = e.evaluate_int(
                lambda q: vals[short[q.column.kind]][q.column.index][(row + q.rotation) % N_ROWS],
                {0: chal_vals[0], 1: chal_vals[1]})
            assert got == want[row]


def test_compiled_matches_naive_evaluator_on_lists_and_arrays():
    cs, cols, chals = _setup_columns()
    a0, a1 = cols["adv"]
    f0, _ = cols["fix"]
    i0, _ = cols["ins"]
    r0, r1 = chals
    exprs = [
        f0.cur() * (a0.cur() * a1.next() - i0.prev()) + r0 * a0.rot(-3) - 7,
        a0.cur() * a0.cur() * a0.cur() - r1,
        Constant(42),
        r0 * r1 + 1,
        a1.rot(2),
    ]
    rng = np.random.default_rng(5)
    n = 16
    adv = np.stack([Fr.random(n, rng) for _ in range(2)])
    fix = np.stack([Fr.random(n, rng) for _ in range(2)])
    ins = np.stack([Fr.random(n, rng) for _ in range(2)])
    ch = {r0: 11, r1: P - 5}
    prog = compile_expressions(exprs)
    for stride in (1, 4):
        out = evaluate_rows_multi(prog, adv, fix, ins, ch, n, stride)
        for k, e in enumerate(exprs):
            assert Fr.to_ints(out[k]) == evaluate_rows_naive(e, adv, fix, ins, ch, n, stride)
            # a few rows only (wrapping rotations included): cell by cell, the same values
            some = [n - 1, 0, 5, n - 2]
            assert evaluate_rows_naive(e, adv, fix, ins, ch, n, stride, rows=some) == \
                [Fr.to_ints(out[k])[i] for i in some]
    single = evaluate_rows(compile_expression(exprs[0]), list(adv), list(fix), list(ins), ch, n)
    assert Fr.to_ints(single) == evaluate_rows_naive(exprs[0], adv, fix, ins, ch, n)


def test_program_shares_subexpressions_and_reuses_registers():
    cs, a, b, c = small_cs()
    ab = a.cur() * b.cur()
    prog = compile_expressions([ab - c.cur(), ab + c.cur(), b.cur() * a.cur()])
    ops = [int(op) for op in prog.code[:, 0]]
    assert ops.count(6) == 1        # one multiplication for a*b, shared three times
    assert ops.count(1) == 3        # three loads
    assert prog.num_regs <= 4
    assert "mul" in prog.listing()
    # a long chain compiles without recursion trouble and evaluates right
    long = a.cur()
    for _ in range(3000):
        long = long + 1
    out = evaluate_rows(compile_expression(long), np.stack([Fr.from_signed(np.arange(4))]), None, None, n=4)
    assert Fr.to_signed(out).tolist() == [3000, 3001, 3002, 3003]


def test_program_needs_challenge_values():
    cs, a, b, c = small_cs()
    r = cs.challenge(0, "r")
    prog = compile_expression(a.cur() * r)
    with pytest.raises(ValueError, match="challenge"):
        evaluate_rows(prog, np.zeros((3, 8, 4), np.uint64), None, None, n=8)


# ---------------------------------------------------------------------------------------
# layouter and assignment
# ---------------------------------------------------------------------------------------
def test_regions_are_stacked_and_named():
    """The single-pass planner: one region after another (see test_planner.py for the
    packed one)."""
    cs, a, b, c = small_cs()
    q = cs.selector("q")
    cs.create_gate("g", [a.cur() + b.cur() - c.cur()], selector=q)

    def circuit(layouter):
        layouter.assign_region("first", lambda r: r.assign_advice(a, 2, 1))
        sub = layouter.namespace("h.2")
        cell = sub.assign_region("attn.softmax", lambda r: r.assign_advice(b, 0, -1))
        assert cell.row == 3
        layouter.assign_region("empty", lambda r: None)
        rng = layouter.assign_region("vec", lambda r: r.assign_advice_column(c, 1, np.array([-3, 4, 5])))
        assert (rng.start, len(rng)) == (5, 3)

    asg = synthesize(cs, circuit, planner="single")
    assert [(r.name, r.start, r.height) for r in asg.regions] == [
        ("first", 0, 3), ("h.2.attn.softmax", 3, 1), ("empty", 4, 0), ("vec", 4, 4)]
    assert asg.region_of(1) == "first"
    assert asg.region_of(3) == "h.2.attn.softmax"
    assert asg.region_of(6) == "vec"
    assert asg.region_of(8) is None
    assert asg.rows_used == 8
    assert asg.k == 4 and asg.n == 16 and asg.usable_rows == 16 - BLINDING_ROWS - 1
    assert asg.signed_value(b, 3) == -1
    assert asg.value(b, 3) == P - 1
    assert asg.signed_values(c, 5, 3).tolist() == [-3, 4, 5]
    assert asg.advice_assigned[c.index].tolist()[4:9] == [False, True, True, True, False]
    assert asg.rows_per_region() == {"first": 3, "h.2.attn.softmax": 1, "empty": 0, "vec": 4}


def test_vectorised_values_kinds():
    cs, a, b, c = small_cs()
    big = [2**200, -(2**100), 5]

    def circuit(layouter):
        def fn(r):
            r.assign_advice_column(a, 0, np.array([1, -2, 3], dtype=np.int64))
            r.assign_advice_column(b, 0, big)
            r.assign_advice_column(c, 0, Fr.from_ints([7, 8, 9]))
        layouter.assign_region("r", fn)
    asg = synthesize(cs, circuit)
    assert [asg.signed_value(a, i) for i in range(3)] == [1, -2, 3]
    assert [asg.value(b, i) for i in range(3)] == [v % P for v in big]
    assert [asg.value(c, i) for i in range(3)] == [7, 8, 9]


def test_explicit_k_and_overflow():
    cs, a, b, c = small_cs()

    def circuit(layouter):
        layouter.assign_region("r", lambda r: r.assign_advice_column(a, 0, np.arange(11)))

    asg = synthesize(cs, circuit, k=5)
    assert asg.n == 32 and asg.advice.shape == (3, 32, 4)
    with pytest.raises(CircuitError, match="usable"):
        synthesize(cs, circuit, k=4)          # 10 usable rows < 11


def test_copies_need_equality_and_are_recorded():
    cs, a, b, c = small_cs()
    inst = cs.instance_column("inst")
    cs.enable_equality(a)
    cs.enable_equality(inst)

    def bad(layouter):
        def fn(r):
            x = r.assign_advice(a, 0, 1)
            y = r.assign_advice(b, 0, 1)
            r.constrain_equal(x, y)
        layouter.assign_region("r", fn)
    with pytest.raises(CircuitError, match="enable_equality"):
        synthesize(cs, bad)

    def good(layouter):
        def fn(r):
            xs = r.assign_advice_column(a, 0, np.arange(6))
            r.constrain_equal(xs[0:3], xs[3:6])
            r.constrain_instance(xs[1], inst, 0)
            return xs
        layouter.assign_region("r", fn)
    asg = synthesize(cs, good, instances=[[1]])
    pa, pi = cs.permutation_position(a), cs.permutation_position(inst)
    assert asg.copies.tolist() == [[pa, 0, pa, 3], [pa, 1, pa, 4], [pa, 2, pa, 5], [pa, 1, pi, 0]]
    assert asg.instance_values == [[1]]


def test_cell_range_slicing():
    col = Column("advice", 0, "a")
    r = CellRange(col, 10, 5)
    assert r[1].row == 11 and r[-1].row == 14
    assert (r[1:3].start, len(r[1:3])) == (11, 2)
    assert [c.row for c in r] == [10, 11, 12, 13, 14]


def test_tables_are_padded_with_their_first_row():
    cs, cfg, asg = build(RangeCheck([0, 5, 255]))
    t = cfg.table.columns[0]
    vals = asg.signed_values(t, 0, asg.usable_rows)
    assert vals[:256].tolist() == list(range(256))
    assert set(vals[256:].tolist()) == {0}
    assert asg.tables == {"u8": 256}
    assert asg.region_of(3, t) == "table u8"


def test_table_columns_only_in_tables():
    cs, a, b, c = small_cs()
    t = cs.table_column("t")

    def circuit(layouter):
        layouter.assign_region("r", lambda r: r.assign_fixed(t, 0, 1))
    with pytest.raises(CircuitError, match="assign_table"):
        synthesize(cs, circuit)


def test_two_phases():
    cs, cfg, asg = build(ProductCheck([1, 2, 3], [4, 5, -6]), challenges={0: 10})
    assert cs.num_phases == 2
    assert [c.name for c in cs.advice_columns_of_phase(1)] == ["rpow", "acc"]
    assert cs.challenges_after(0)[0].name == "r"
    assert asg.challenges == {0: 10}
    assert [asg.value(cfg.rpow, i) for i in range(4)] == [1, 10, 100, 1000]
    assert asg.is_complete


def test_phases_run_in_order_with_transcript_challenges():
    circuit = ProductCheck([1, 2], [3, 4])
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    asg = Assignment.first_pass(cs, circuit, cfg)
    assert asg.phase == 0 and not asg.is_complete
    assert [a.shape for a in asg.advice_columns_of_phase(0)] == [(asg.n, 4)] * 3
    assert asg.value(cfg.acc, 1) == 0                         # not assigned yet
    with pytest.raises(CircuitError, match="needs a value"):
        asg.run_phase(1, {})
    with pytest.raises(CircuitError, match="cannot run"):
        asg.run_phase(2, {cfg.r: 3})
    asg.run_phase(1, {cfg.r: 3})
    assert asg.is_complete
    assert asg.value(cfg.rpow, 2) == 9


def test_phase_rules_in_callbacks():
    cs = ConstraintSystem()
    a = cs.advice_column("a")
    z = cs.advice_column("z", phase=1)
    r = cs.challenge(0, "r")

    def writes_committed_column(layouter):
        def fn(region):
            region.assign_advice(a, 0, 1)
            region.after_challenges(lambda reg, ch: reg.assign_advice(a, 0, ch[r]))
        layouter.assign_region("r", fn)
    with pytest.raises(CircuitError, match="already committed"):
        synthesize(cs, writes_committed_column)

    def grows_region(layouter):
        def fn(region):
            region.assign_advice(a, 0, 1)
            region.after_challenges(lambda reg, ch: reg.assign_advice(z, 1, ch[r]))
        layouter.assign_region("r", fn)
    with pytest.raises(CircuitError, match="reserve"):
        synthesize(cs, grows_region)

    def reserved(layouter):
        def fn(region):
            region.assign_advice(a, 0, 1)
            region.reserve(2)
            region.after_challenges(lambda reg, ch: reg.assign_advice(z, 1, ch[r] + 1))
        layouter.assign_region("r", fn)
        with pytest.raises(CircuitError, match="after_challenges"):
            layouter.challenge_value(r)
    asg = synthesize(cs, reserved, challenges={r: 41})
    assert asg.value(z, 1) == 42


def test_usable_selector_for_gates_without_selector():
    cs, a, b, c = small_cs()
    g = cs.create_gate("always", [a.cur() * b.cur()])
    assert str(g.selector) == "q_usable"
    asg = synthesize(cs, lambda layouter: layouter.assign_region("r", lambda r: r.assign_advice(a, 0, 0)))
    col = cs.usable_selector().column
    vals = asg.signed_values(col)
    assert vals[: asg.usable_rows].tolist() == [1] * asg.usable_rows
    assert vals[asg.usable_rows:].tolist() == [0] * (asg.n - asg.usable_rows)


def test_gate_polynomials_for_the_prover():
    cs, cfg, asg = build(MultiplyAccumulate.random(50, chunk=20))
    polys = cs.gate_polynomials()
    assert [(p.gate.name, p.name) for p in polys] == [("mac", "acc' = acc + a * b"), ("mac.init", "acc = 0")]
    assert str(polys[0].expression) == "q_mac * (acc[1] - acc[0] - a[0] * b[0])"
    prog, same = cs.compile_gates()
    assert prog.num_outputs == 2 and same == polys
    out = evaluate_rows_multi(prog, asg.advice, asg.fixed, asg.instance, n=asg.n)
    assert not out[:, : asg.usable_rows].any()
    est = cs.cost(asg.k)
    assert est["extended_size"] == 2 * asg.n and est["permutation_products"] == 2


def test_fibonacci_layout():
    cs, cfg, asg = build(Fibonacci(steps=5))
    assert asg.instance_values == [[1, 1, 13]]
    assert [r.name for r in asg.regions] == [f"fib.step.{i}" for i in range(5)]
    assert [asg.value(cfg.c, i) for i in range(5)] == [2, 3, 5, 8, 13]
    assert len(asg.copies) == 2 * 4 + 3


def test_copy_advice_and_region_map():
    cs, a, b, c = small_cs()
    for col in (a, b):
        cs.enable_equality(col)

    def circuit(layouter):
        src = layouter.assign_region("src", lambda r: r.assign_advice_column(a, 0, np.array([5, -6, 7])))
        one = layouter.assign_region("dst", lambda r: r.copy_advice(src[1], b, 0))
        many = layouter.assign_region("dst2", lambda r: r.copy_advice(src[0:3], b, 1))
        assert (one.row, many.start) == (3, 5)
        layouter.constrain_equal(src[0:2], many[1:3])

    asg = synthesize(cs, circuit, planner="single")
    assert asg.signed_values(b, 3, 1).tolist() == [-6]
    assert asg.signed_values(b, 4, 4).tolist() == [0, 5, -6, 7]
    assert len(asg.copies) == 1 + 3 + 2
    rm = asg.region_map()
    assert rm.shape == (asg.n,)
    assert rm[:10].tolist() == [0, 0, 0, 1, 2, 2, 2, 2, -1, -1]


def test_int_program_matches_the_tree_fold():
    """IntProgram (the verifier's flat evaluator) agrees with Expression.evaluate_int on every
    node kind, shares subtrees between roots, and names a missing cell."""
    from snarkgpt.plonk.expression import Negated, Scaled
    from snarkgpt.plonk.int_program import IntProgram
    cs, cols, chals = _setup_columns()
    a0, a1 = cols["adv"]
    f0, _ = cols["fix"]
    i0, _ = cols["ins"]
    r0, r1 = chals
    shared = a0.cur() * a1.next()
    exprs = [
        f0.cur() * (shared - i0.prev()) + r0 * a0.rot(-3) - 7,
        Negated(shared) + Scaled(a1.rot(2), P - 9) * r1,
        Constant(P + 42),
        shared * shared * r0,
    ]
    rng = np.random.default_rng(11)
    for _ in range(5):
        cells = {}
        for e in exprs:
            for q in e.queries():
                cells[(q.column.kind, q.column.index, q.rotation)] = int(rng.integers(0, 2**62)) * 7**40
        ch = {r0.index: int(rng.integers(0, 2**62)), r1.index: P - 1}
        want = [e.evaluate_int(lambda q: cells[(q.column.kind, q.column.index, q.rotation)], ch)
                for e in exprs]
        assert IntProgram(exprs).run(cells, ch) == want
    prog = IntProgram(exprs)
    # 6 products: the shared a0*a1 node is one operation (a tree walk per root would do 9)
    assert sum(1 for op in prog.ops if op[0] == IntProgram._PROD) == 6
    missing = dict(cells)
    del missing[(a1.kind, a1.index, 1)]
    with pytest.raises(KeyError):
        prog.run(missing, ch)


def test_column_buffers_keep_their_first_rows_in_place():
    """`keep_rows` moves each column's first n rows down inside the buffer (no new
    allocation) and the result is the plain slice, C-contiguous."""
    from snarkgpt.plonk.column_store import column_buffer, keep_rows
    rng = np.random.default_rng(0)
    for cols, rows, n in [(1, 8, 4), (5, 16, 8), (7, 4096, 1000), (3, 8, 8), (6, 9, 8)]:
        buf = column_buffer(cols, rows)
        assert not buf.any()
        buf[:] = rng.integers(0, 2**63, buf.shape, dtype=np.uint64)
        want = buf[:, :n].copy()
        got = keep_rows(buf, n)
        assert got.shape == (cols, n, 4) and got.flags.c_contiguous
        assert np.array_equal(got, want)
        got[:, -1] = 0           # still writable
    plain = rng.integers(0, 2**63, (4, 10, 4), dtype=np.uint64)      # (consumed: moved in place)
    want = plain[:, :3].copy()
    assert np.array_equal(keep_rows(plain, 3), want)
    strided = rng.integers(0, 2**63, (4, 10, 4), dtype=np.uint64)[:, ::2]
    want = strided[:, :3].copy()
    assert np.array_equal(keep_rows(strided, 3), want)
