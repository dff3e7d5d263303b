"""The model circuit: honest generation accepted by the mock prover, proven tokens equal to
the integer (and, up to near ties, the float) greedy generation, tampering caught, bad input
refused, rows per op, and a prove/verify round trip."""
import time

import numpy as np
import pytest

from snarkgpt.field import Fr
from snarkgpt.gadgets import reference as ref
from snarkgpt.model.circuit import (GenerationMismatch, ModelCircuit, build, choose_k, plan,
                                    rows_per_op)
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.integer_forward import TokenError, integer_forward
from snarkgpt.model.quantize import (calibrate, calibration_inputs, float_forward_trace,
                                     quantize_model, random_float_model)
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import assert_tampering_detected, region_cells

CFG = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=16)
N_PROMPT = 3


def greedy(qm, prompt, n_new):
    toks = list(prompt)
    for _ in range(n_new):
        toks.append(int(integer_forward(qm, toks, [len(toks) - 1]).next_tokens[0]))
    return toks


@pytest.fixture(scope="module")
def setup():
    m = random_float_model(CFG, seed=0)
    st, _ = calibrate(m, calibration_inputs(m, n=2), max_table_bits=12, max_scale_bits=8,
                      report=False)
    qm = quantize_model(m, st)
    toks = greedy(qm, [1, 2, 3], 4)
    circ = ModelCircuit(qm, st, toks, N_PROMPT)
    cs, cfg, asg = build(circ, rng=np.random.default_rng(0))
    return m, st, qm, toks, circ, cs, asg


def test_honest_generation_is_accepted(setup):
    _, _, qm, toks, circ, cs, asg = setup
    MockProver(cs, asg).assert_satisfied()
    flags = [0] * N_PROMPT + [1] * (len(toks) - N_PROMPT)
    assert circ.instances() == [toks, flags]
    assert list(circ.result["next_tokens"][N_PROMPT - 1:]) == toks[N_PROMPT:]
    assert np.array_equal(circ.result["logits"], circ.forward.logits)


def test_proven_tokens_agree_with_float_greedy(setup):
    m, _, _, toks, *_ = setup
    fl, _ = float_forward_trace(m, toks[:-1])
    margins = []
    for t in range(N_PROMPT - 1, len(toks) - 1):
        srt = np.sort(fl[t])
        margins.append(srt[-1] - srt[-2])
        if fl[t].argmax() != toks[t + 1]:
            # a disagreement is only allowed at a near tie of the float model
            assert srt[-1] - srt[-2] < 0.1, (t, srt[-1] - srt[-2])


def test_wrong_generated_token_is_rejected(setup):
    _, _, _, toks, _, cs, asg = setup
    for pos in (N_PROMPT, len(toks) - 1):
        bad = list(toks)
        bad[pos] = (bad[pos] + 1) % CFG.vocab_size
        failures = MockProver(cs, asg, instances=[bad, circ_flags(toks)]).verify()
        assert failures, f"a wrong token at position {pos} was accepted"


def test_wrong_prompt_token_is_rejected(setup):
    _, _, _, toks, _, cs, asg = setup
    bad = list(toks)
    bad[0] = (bad[0] + 1) % CFG.vocab_size
    assert MockProver(cs, asg, instances=[bad, circ_flags(toks)]).verify()


def circ_flags(toks):
    """The public gen flags of the statement: 1 at generated positions."""
    return [0] * N_PROMPT + [1] * (len(toks) - N_PROMPT)


def test_flags_are_part_of_the_statement(setup):
    _, _, _, toks, _, cs, asg = setup
    # claiming that a prompt position was generated changes the statement: the argmax
    # constraint now applies there, and the prompt token is (almost surely) not the argmax
    flags = circ_flags(toks)
    for t in range(1, N_PROMPT):
        f = list(flags)
        f[t] = 1
        if MockProver(cs, asg, instances=[toks, f]).verify():
            return
    raise AssertionError("no prompt position could be re-labelled as generated")


def test_non_greedy_claim_is_refused_or_rejected(setup):
    _, st, qm, toks, *_ = setup
    bad = list(toks)
    bad[-1] = (bad[-1] + 1) % CFG.vocab_size
    with pytest.raises(GenerationMismatch, match=f"position {len(toks) - 1}"):
        ModelCircuit(qm, st, bad, N_PROMPT)
    circ = ModelCircuit(qm, st, bad, N_PROMPT, check=False)
    cs, _, asg = build(circ)
    failures = MockProver(cs, asg).verify()
    assert failures


def test_witness_of_other_weights_fails_against_these_fixed_columns(setup):
    m, st, _, toks, _, cs, asg = setup
    m2 = random_float_model(CFG, seed=7)
    qm2 = quantize_model(m2, st)
    toks2 = greedy(qm2, toks[:N_PROMPT], len(toks) - N_PROMPT)
    circ2 = ModelCircuit(qm2, st, toks2, N_PROMPT)
    cs2, _, asg2 = build(circ2, k=asg.k)
    MockProver(cs2, asg2).assert_satisfied()
    assert cs2.num_fixed == cs.num_fixed
    assert not np.array_equal(asg2.fixed, asg.fixed), "weights are in the fixed columns"
    asg2.fixed[...] = asg.fixed            # this circuit's weights, the other model's witness
    assert MockProver(cs2, asg2).verify()


@pytest.mark.parametrize("region", ["embed", "h.0.ln_1.out", "h.0.attn.qkv",
                                    "h.0.attn.split", "h.0.attn.softmax.div", "h.0.attn.merge",
                                    "h.0.attn.residual", "h.0.mlp.gelu", "h.0.mlp.c_proj",
                                    "lm_head", "generate.argmax"])
def test_tampered_activation_is_caught(setup, region):
    _, _, _, _, _, cs, asg = setup
    cells = region_cells(asg, region)
    assert assert_tampering_detected(cs, asg, cells, sample=2, rng=np.random.default_rng(1)) == 2


@pytest.mark.parametrize("tokens,n_prompt,match", [
    ([1, 2, 16, 3], 2, "outside the vocabulary"),
    (list(range(9)), 3, "exceed block_size"),
    ([1, 2, 3], 0, "empty prompt"),
    ([], 0, "empty prompt"),
    ([1, 2, 3], 3, "no generated token"),
])
def test_bad_input_is_refused(setup, tokens, n_prompt, match):
    _, st, qm, *_ = setup
    with pytest.raises(TokenError, match=match):
        ModelCircuit(qm, st, tokens, n_prompt)


def test_every_position_gets_logits(setup):
    # the gen flags are public and chosen by the verifier, so any position may be generated
    _, _, _, toks, circ, _, asg = setup
    assert circ.result["logits"].shape == (len(toks) - 1, CFG.vocab_size)
    rows = rows_per_op(asg)
    for op in ("embed", "h.0.ln_1", "h.0.attn.softmax", "h.0.mlp.gelu", "ln_f", "lm_head",
               "generate.argmax"):
        assert rows[op] > 0, op
    assert rows["total"] == asg.rows_used
    by_type = rows_per_op(asg, by_layer=False)
    assert by_type["attn.softmax"] == rows["h.0.attn.softmax"]


def test_plan_and_choose_k(setup):
    _, _, _, _, circ, _, asg = setup
    p = plan(circ)
    assert p["k"] == asg.k == choose_k(circ)
    assert p["rows"] == asg.rows_used


def _prover():
    try:
        from snarkgpt.plonk.prover import prove  # noqa: F401
        from snarkgpt.testing import prove_round_trip
        return prove_round_trip
    except ImportError:
        return None


@pytest.mark.slow
def test_prove_verify_round_trip(setup):
    prove_round_trip = _prover()
    if prove_round_trip is None:
        pytest.skip("the prover is not importable")
    _, st, qm, toks, circ, _, asg = setup
    t0 = time.perf_counter()
    vk, proof, check = prove_round_trip(circ, srs_size=(1 << asg.k) + 1)
    elapsed = time.perf_counter() - t0
    bad = list(toks)
    bad[-1] = (bad[-1] + 1) % CFG.vocab_size
    assert not check([bad])
    print(f"model round trip k={asg.k}: {elapsed:.1f} s")


# ---------------------------------------------------------------------------------------
# Every value pinned: alternative decompositions satisfying a local identity are rejected
# ---------------------------------------------------------------------------------------
def _copy_class(cs, asg, column, row):
    """Every (column, row) copy-connected to the cell (column, row)."""
    cp = asg.copies
    cols = cs.permutation_columns
    start = (cs.permutation_position(column), row)
    seen, todo = {start}, [start]
    while todo:
        p, r = todo.pop()
        for a, b in ((0, 2), (2, 0)):
            hit = cp[(cp[:, a] == p) & (cp[:, a + 1] == r)]
            for q in hit:
                c = (int(q[b]), int(q[b + 1]))
                if c not in seen:
                    seen.add(c)
                    todo.append(c)
    return [(cols[p], r) for p, r in seen]


def _set_everywhere(cs, asg, column, row, value):
    for col, r in _copy_class(cs, asg, column, row):
        asg.set_cell(col, r, value)


def _configs(cs, kind):
    """Chip configs of one kind, over every column bank (cache keys are (bank, key))."""
    return [v for k, v in cs.chip_context.state.configs.items()
            if isinstance(k, tuple) and len(k) == 2 and isinstance(k[1], tuple) and k[1][0] == kind]


def _rescale_configs(cs):
    return _configs(cs, "rescale")


@pytest.mark.parametrize("region", [
    "h.0.ln_1.norm", "h.0.ln_1.out", "h.0.attn.qkv", "h.0.attn.scores", "h.0.attn.av",
    "h.0.attn.c_proj", "h.0.mlp.c_fc", "h.0.mlp.c_proj", "ln_f.out", "lm_head"])
def test_rescale_output_alternatives_are_rejected(setup, region):
    """y' = y + j / 2^s, r' = r - j satisfies the rescale identity in Fr (and y' is copied to
    every consumer); the rescale's output limbs reject it."""
    _, st, _, _, _, cs, asg = setup
    cfgs = _rescale_configs(cs)
    rows = sorted({c.row for c in region_cells(asg, region)})
    cfg, rows = next((c, [r for r in rows if asg.value(c.q_out.column, r)]) for c in cfgs
                     if any(asg.value(c.q_out.column, r) for r in rows))
    s = cfg.scale_bits
    inv = pow(1 << s, -1, Fr.modulus)
    for row in rows[:2]:
        y0, r0 = asg.value(cfg.y, row), asg.value(cfg.r, row)
        for j in (r0 - (1 << s) + 1, r0) if r0 else (r0 - (1 << s) + 1,):
            if j == 0:
                continue
            _set_everywhere(cs, asg, cfg.y, row, (y0 + j * inv) % Fr.modulus)
            asg.set_cell(cfg.r, row, r0 - j)
            fails = MockProver(cs, asg).verify()
            _set_everywhere(cs, asg, cfg.y, row, y0)
            asg.set_cell(cfg.r, row, r0)
            assert not [f for f in fails if f.kind == "gate"
                        and {"rescale", "mul_rescale"} & set(f.name.split("."))
                        and not f.name.endswith(".limbs")]
            assert any(f.row == row and ".out" in f.name for f in fails), fails
    assert not MockProver(cs, asg).verify()


def test_layernorm_mean_alternative_is_rejected(setup):
    """mu' = mu + j / d, r' = r - j satisfies S = mu' d + r' with 0 <= r' < d; the mean's range
    check rejects it."""
    _, st, _, _, _, cs, asg = setup
    d = CFG.n_embd
    rows = {c.row for c in region_cells(asg, "h.0.ln_1.mean")}
    div = next(v for v in _configs(cs, "div") if any(asg.value(v.q_div.column, r) for r in rows))
    row = min(c.row for c in region_cells(asg, "h.0.ln_1.mean"))
    q0 = asg.value(div.q, row)
    x = asg.signed_value(div.x, row)
    r0 = x - asg.signed_value(div.q, row) * d
    inv = pow(d, -1, Fr.modulus)
    limbs0 = [asg.value(c, row) for c in div.dec_r.columns + div.dec_s.columns]
    for j in range(r0 - d + 1, r0 + 1):
        if j == 0:
            continue
        _set_everywhere(cs, asg, div.q, row, (q0 + j * inv) % Fr.modulus)
        for c, v in zip(div.dec_r.columns + div.dec_s.columns,
                        list(ref.limbs(np.array([r0 - j]), div.bits, div.limb_bits).reshape(-1))
                        + list(ref.limbs(np.array([d - 1 - (r0 - j)]), div.bits, div.limb_bits).reshape(-1))):
            asg.set_cell(c, row, int(v))
        fails = MockProver(cs, asg).verify()
        _set_everywhere(cs, asg, div.q, row, q0)
        for c, v in zip(div.dec_r.columns + div.dec_s.columns, limbs0):
            asg.set_cell(c, row, v)
        assert not [f for f in fails if f.region and f.region.endswith("ln_1.mean")]
        assert any(f.region and f.region.endswith("ln_1.mean.range") and f.kind in ("gate", "lookup")
                   for f in fails), j
    assert not MockProver(cs, asg).verify()


def test_compact_layout_is_sound_and_chosen_for_small_models(setup):
    from snarkgpt.model.circuit import choose_layout, layout_candidates, layout_cost, layout_costs
    _, st, qm, toks, banked, banked_cs, banked_asg = setup
    circ = ModelCircuit(qm, st, toks, N_PROMPT, compact=True)
    cs, _, asg = build(circ, rng=np.random.default_rng(0))
    MockProver(cs, asg).assert_satisfied()
    assert np.array_equal(circ.result["logits"], banked.result["logits"])
    # fewer columns, more rows: the banks are off
    assert cs.num_advice < banked_cs.num_advice
    assert asg.rows_used >= banked_asg.rows_used
    # tampering is still caught, and a wrong generated token is still rejected
    cells = region_cells(asg, "h.0.attn.softmax.div")
    assert_tampering_detected(cs, asg, cells[:8])
    bad = list(toks)
    bad[-1] = (bad[-1] + 1) % CFG.vocab_size
    flags = [0] * N_PROMPT + [1] * (len(toks) - N_PROMPT)
    assert MockProver(cs, asg, instances=[bad, flags]).verify()
    # for this small model the compact layout costs less, and is chosen
    make = lambda lay: ModelCircuit(qm, st, toks, N_PROMPT, compact=lay[0], mm_lanes=lay[1])  # noqa: E731
    assert layout_cost(make((True, 2)))[0] < layout_cost(make((False, 2)))[0]
    T = len(toks) - 1
    costs = layout_costs(make, layout_candidates(CFG, T))
    assert choose_layout(costs) == (True, 2)
    assert len(costs) >= 2 and all(costs[lay][0] >= costs[(True, 2)][0] for lay in costs)


def test_matmul_lanes_are_balanced():
    """The lane plan puts every matmul's C.r section on a lane, largest first onto the least
    loaded, so the lanes end up within one product of each other."""
    from snarkgpt.model.circuit import default_mm_lanes, lane_plan, matmul_c_sizes
    base = GPTConfig(n_layer=4, n_head=4, n_embd=64, block_size=64, vocab_size=65)
    sizes = matmul_c_sizes(base, 63)
    assert len(sizes) == 4 * (1 + 2 * 4 + 3) + 1 and sum(sizes) == 228879
    lanes = default_mm_lanes(base, 63)
    assert lanes == 4
    plan = lane_plan(sizes, lanes)
    loads = np.bincount(plan, weights=sizes, minlength=lanes)
    assert loads.sum() == sum(sizes) and loads.max() - loads.min() <= max(sizes)
    assert loads.max() <= 65530            # each lane fits k = 16


def test_product_banks_fit_beside_the_other_families():
    """Sections B.r and A.Br of the base model at 64 tokens fit one bank no taller than the
    softmax and GELU banks (63 positions x 4 layers x 256 rows); fewer positions need more
    banks, up to one per two lanes."""
    from snarkgpt.model.circuit import matmul_shapes, product_banks
    base = GPTConfig(n_layer=4, n_head=4, n_embd=64, block_size=64, vocab_size=65)
    shapes = matmul_shapes(base, 63)
    b_rows = sum(-(-d // 4) * m for _, d, m in shapes)
    a_rows = sum(-(-t // 4) * d for t, d, _ in shapes)
    assert (b_rows, a_rows) == (58320, 49920) and max(b_rows, a_rows) <= 4 * 63 * 256
    assert product_banks(base, 63, 4) == 1
    assert product_banks(base, 15, 4) == 2 and product_banks(base, 15, 8) > 2
    wide = GPTConfig(n_layer=2, n_head=1, n_embd=256, block_size=8, vocab_size=65)
    assert product_banks(wide, 7, 2) == 1   # the weights (d x 4d) set the height anyway


@pytest.mark.slow
def test_base_model_at_64_tokens_fits_k16():
    """The base configuration's 64-token circuit fits k = 16 banked (4 matmul lanes, trimmed
    exp table) and setup's layout choice picks that over k = 17."""
    from snarkgpt.model.circuit import choose_layout, layout_candidates, layout_costs
    from snarkgpt.model.keys import keygen_circuit
    from snarkgpt.model.quantize import calibrate, quantize_model
    from snarkgpt.model.weights import load_model
    base = GPTConfig(n_layer=4, n_head=4, n_embd=64, block_size=64, vocab_size=65)
    model = load_model("random:n_layer=4,n_head=4,n_embd=64,block_size=64,vocab_size=65")   # as bench model
    st, _ = calibrate(model, report=False)
    qm = quantize_model(model, st)
    make = lambda lay: keygen_circuit(qm, st, 64, compact=lay[0], mm_lanes=lay[1])  # noqa: E731
    costs = layout_costs(make, layout_candidates(base, 63))
    lay = choose_layout(costs)
    assert lay[0] is False and costs[lay][1] == 16
    assert costs[(False, 2)][1] == 17 and costs[lay][0] < costs[(False, 2)][0]
