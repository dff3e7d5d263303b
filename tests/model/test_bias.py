"""Models with biases (nanoGPT ``bias=True``, GPT-2): biases quantized at the right scales,
the integer forward tracks the float forward, the circuit proves a biased generation, binds
the biases (fixed columns) and catches tampering; models without biases keep their circuit."""
import math
from pathlib import Path

import numpy as np
import pytest

from snarkgpt.model.circuit import ModelCircuit, build
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.float_forward import forward
from snarkgpt.model.integer_forward import integer_forward
from snarkgpt.model.quantize import (calibrate, calibration_inputs, error_report,
                                     float_forward_trace, quantize_model, random_float_model)
from snarkgpt.plonk.mock import MockProver
from snarkgpt.testing import assert_tampering_detected, region_cells

DATA = Path(__file__).parent / "data"
CFG = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=16, bias=True)
N_PROMPT = 3
LINEAR = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")


def greedy(qm, prompt, n_new):
    toks = list(prompt)
    for _ in range(n_new):
        toks.append(int(integer_forward(qm, toks, [len(toks) - 1]).next_tokens[0]))
    return toks


def without_biases(m):
    from types import SimpleNamespace
    W = {k: (np.zeros_like(v) if k.endswith(".bias") else v) for k, v in m.weights.items()}
    return SimpleNamespace(config=m.config, weights=W, gelu=m.gelu, tokenizer=None)


@pytest.fixture(scope="module")
def setup():
    m = random_float_model(CFG, seed=0)
    st, _ = calibrate(m, calibration_inputs(m, n=2), max_table_bits=12, max_scale_bits=8,
                      report=False)
    qm = quantize_model(m, st)
    toks = greedy(qm, [1, 2, 3], 4)
    circ = ModelCircuit(qm, st, toks, N_PROMPT)
    cs, cfg, asg = build(circ, rng=np.random.default_rng(0))
    return m, st, qm, toks, circ, cs, cfg, asg


# ---------------------------------------------------------------------------------------
# Quantization and the integer forward
# ---------------------------------------------------------------------------------------
def test_biases_are_quantized_at_their_scales(setup):
    m, st, qm, *_ = setup
    s, w, d = st.scale_bits, st.weight_bits, CFG.n_embd
    hd = d // CFG.n_head
    W, Q = m.weights, qm.weights
    p = "transformer.h.0."
    for n in LINEAR:
        b = np.asarray(W[p + n + ".bias"], np.float64)
        if n == "attn.c_attn":          # the 1/sqrt(head_dim) fold covers the q bias
            b = b.copy()
            b[:d] /= math.sqrt(hd)
        q = Q[f"h.0.{n}.bias"]
        assert q.dtype == np.int64 and q.shape == b.shape
        assert np.array_equal(q, np.rint(b * 2.0 ** (s + w)).astype(np.int64)), n
        assert np.any(q != 0)
    for src, key in ((p + "ln_1.bias", "h.0.ln_1.bias"), (p + "ln_2.bias", "h.0.ln_2.bias"),
                     ("transformer.ln_f.bias", "ln_f.bias")):
        assert np.array_equal(Q[key], np.rint(np.asarray(W[src], np.float64) * 2.0 ** s))
    assert "lm_head.bias" not in Q
    # a model without biases has no bias weights
    q0 = quantize_model(random_float_model(GPTConfig(n_layer=1, n_head=2, n_embd=8,
                                                     block_size=8, vocab_size=16)), st)
    assert not [k for k in q0.weights if k.endswith(".bias")]


def test_float_trace_includes_biases(setup):
    m, *_ = setup
    toks = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    fl, stats = float_forward_trace(m, toks)
    assert np.abs(fl - forward(m, toks, gelu_kind=m.gelu)).max() < 1e-9
    fl0, _ = float_forward_trace(without_biases(m), toks)
    assert np.abs(fl - fl0).max() > 0.5          # the biases matter for these logits


def test_integer_forward_tracks_float_forward(setup):
    m, st, qm, *_ = setup
    toks = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    fl = forward(m, toks, gelu_kind=m.gelu)
    il = integer_forward(qm, toks).float_logits()
    err = np.abs(il - fl).max()
    assert err < 0.3, err
    # far below what dropping the biases would change: the test can fail
    fl0 = forward(without_biases(m), toks, gelu_kind=m.gelu)
    assert err < np.abs(fl - fl0).max() / 3
    rep = error_report(m, st, calibration_inputs(m, n=4, seed=5), qm)
    assert rep.max_logit_error < 0.3
    assert rep.top1_agreement >= 0.9
    for _, _, margin in rep.disagreements:         # only at near ties of the float model
        assert margin < 2 * rep.max_logit_error


def test_calibration_of_a_biased_model_proves_its_inputs():
    """Large biases push the ranges (pre-GELU, residual): the settings calibrate returns
    still run the integer forward on the calibration inputs without error or clamping."""
    m = random_float_model(CFG, seed=3, bias_std=1.5)
    inputs = calibration_inputs(m, n=2)
    st, rep = calibrate(m, inputs, max_table_bits=12, max_scale_bits=8)
    qm = quantize_model(m, st)
    for toks in inputs:
        r = integer_forward(qm, toks)
        assert not r.clamped.get("h.0.mlp.gelu") and not r.clamped.get("h.0.ln_1.rsqrt")
    # and they prove: the circuit of a calibration input is satisfied
    toks = [int(t) for t in inputs[0][:4]]
    toks.append(int(integer_forward(qm, toks).next_tokens[-1]))
    cs, _, asg = build(ModelCircuit(qm, st, toks, 4), rng=np.random.default_rng(0))
    MockProver(cs, asg).assert_satisfied()
    _, stats = float_forward_trace(m, inputs[0])
    _, stats0 = float_forward_trace(without_biases(m), inputs[0])
    assert stats["gelu_in"] != stats0["gelu_in"]
    assert rep.top1_agreement >= 0.8


# ---------------------------------------------------------------------------------------
# The circuit
# ---------------------------------------------------------------------------------------
def test_honest_biased_generation_is_accepted(setup):
    _, _, qm, toks, circ, cs, _, asg = setup
    MockProver(cs, asg).assert_satisfied()
    assert list(circ.result["next_tokens"][N_PROMPT - 1:]) == toks[N_PROMPT:]
    assert np.array_equal(circ.result["logits"], circ.forward.logits)


def test_compact_layout_with_biases(setup):
    _, st, qm, toks, *_ = setup
    circ = ModelCircuit(qm, st, toks, N_PROMPT, compact=True)
    cs, _, asg = build(circ, rng=np.random.default_rng(0))
    MockProver(cs, asg).assert_satisfied()
    assert assert_tampering_detected(cs, asg, own_cells(asg, "h.0.mlp.c_fc"), sample=2,
                                     rng=np.random.default_rng(2)) == 2


def test_biases_cost_one_fixed_column_per_matmul_lane(setup):
    """Same rows, advice columns and gates as the model without biases; one fixed column
    (the bias) per matmul lane; the unbiased circuit has no bias column at all."""
    _, st, qm, toks, circ, cs, _, asg = setup
    m0 = random_float_model(GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8,
                                      vocab_size=16), seed=0)
    circ0 = ModelCircuit(quantize_model(m0, st), st, toks, N_PROMPT, check=False)
    cs0, _, asg0 = build(circ0, first_pass_only=True)
    assert cs.num_fixed == cs0.num_fixed + circ.mm_lanes
    assert cs.num_advice == cs0.num_advice
    assert [g.name for g in cs.gates] == [g.name for g in cs0.gates]
    assert cs.degree() == cs0.degree()
    assert asg.rows_used == asg0.rows_used and asg.k == asg0.k
    assert not [c.name for c in cs0.fixed_columns if c.name.endswith("matmul.bias")]
    assert len([c.name for c in cs.fixed_columns if c.name.endswith("matmul.bias")]) == circ.mm_lanes


@pytest.mark.parametrize("region", ["h.0.attn.qkv", "h.0.attn.c_proj", "h.0.mlp.c_fc",
                                    "h.0.mlp.c_proj", "h.0.ln_1.affine", "h.0.ln_1.out",
                                    "h.0.ln_2.out", "ln_f.affine", "ln_f.out"])
def test_tampered_biased_op_is_caught(setup, region):
    """Outputs (and every other cell) of the biased matmuls and LayerNorms."""
    *_, cs, _, asg = setup
    cells = own_cells(asg, region)
    assert len(cells) > 3
    assert assert_tampering_detected(cs, asg, cells, sample=3, rng=np.random.default_rng(1)) == 3


def own_cells(asg, region):
    """The region's cells (`region_cells` also lists cells of regions laid beside it)."""
    return [c for c in region_cells(asg, region) if asg.region_of(c.row, c.column) == region]


def _bias_rows(asg, col, region, own_col=None):
    """Rows of ``region`` (its cells in ``own_col`` if given) where ``col`` is non-zero."""
    rows = sorted({c.row for c in own_cells(asg, region) if own_col in (None, c.column)})
    return [r for r in rows if asg.value(col, r)]


def test_bias_cells_are_bound(setup):
    """The honest witness fails once one bias cell (fixed column) of a matmul or of a
    LayerNorm changes: the biases are constrained, not decoration."""
    *_, cs, cfg, asg = setup
    hits = 0
    for region in ("h.0.attn.qkv", "h.0.mlp.c_fc", "lm_head"):
        for mm, _, _ in cfg.mm:
            rows = _bias_rows(asg, mm.bias, region, mm.x)
            if region == "lm_head":     # no bias: the column holds zeros there
                assert not rows
                continue
            for row in rows[:2]:
                old = asg.value(mm.bias, row)
                asg.set_cell(mm.bias, row, old + 1)
                fails = MockProver(cs, asg).verify()
                asg.set_cell(mm.bias, row, old)
                assert fails and any("matmul" in f.name for f in fails), (region, row)
                hits += 1
    for region in ("h.0.ln_1.affine", "ln_f.affine"):
        for row in _bias_rows(asg, cfg.ln.b, region)[:2]:
            old = asg.value(cfg.ln.b, row)
            asg.set_cell(cfg.ln.b, row, old + 1)
            assert MockProver(cs, asg).verify(), (region, row)
            asg.set_cell(cfg.ln.b, row, old)
            hits += 1
    assert hits == 8
    MockProver(cs, asg).assert_satisfied()


def test_witness_of_other_biases_fails_against_these_fixed_columns(setup):
    """Same weights, biases changed: the other model's honest witness does not satisfy this
    model's fixed columns (the biases are part of the verifying key)."""
    m, st, _, toks, _, cs, _, asg = setup
    from types import SimpleNamespace
    W2 = dict(m.weights)
    W2["transformer.h.0.mlp.c_fc.bias"] = W2["transformer.h.0.mlp.c_fc.bias"] + 0.05
    m2 = SimpleNamespace(config=CFG, weights=W2, gelu=m.gelu, tokenizer=None)
    qm2 = quantize_model(m2, st)
    circ2 = ModelCircuit(qm2, st, toks, N_PROMPT, check=False)
    cs2, _, asg2 = build(circ2, k=asg.k)
    MockProver(cs2, asg2).assert_satisfied()
    assert not np.array_equal(asg2.fixed, asg.fixed)
    asg2.fixed[...] = asg.fixed
    assert MockProver(cs2, asg2).verify()


@pytest.mark.slow
def test_biased_prove_verify_round_trip(setup):
    """keygen, prove, verify on the biased model; a wrong token, and a proof of a witness
    whose biased matmul output was changed, are rejected."""
    from snarkgpt.plonk.prover import ProverError, prove
    from snarkgpt.plonk.verifier import verify
    from snarkgpt.testing import prove_round_trip
    _, st, qm, toks, circ, _, _, asg = setup
    vk, proof, check = prove_round_trip(circ, srs_size=(1 << asg.k) + 1)
    flags = [0] * N_PROMPT + [1] * (len(toks) - N_PROMPT)
    bad = list(toks)
    bad[-1] = (bad[-1] + 1) % CFG.vocab_size
    assert not check([bad, flags])
    # the same circuit, keys again, then a proof of a tampered witness (check off)
    import warnings

    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.keygen import keygen
    from snarkgpt.plonk.srs import SRS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        srs = SRS.dev((1 << asg.k) + 1, seed=b"snarkgpt-gadget-tests")
    cs = ConstraintSystem()
    cfg = circ.configure(cs)
    pk, vk2 = keygen(srs, cs, circ, cfg)
    # the biased accumulator x . W + b of one q/k/v entry (the matmul's C column)
    xcols = {mm.x for mm, _, _ in cfg.mm}
    qkv = next(c for c in own_cells(asg, "h.0.attn.qkv") if c.column in xcols)

    def tamper(a, phase):
        if phase == 0:
            a.set_cell(qkv.column, qkv.row, a.value(qkv.column, qkv.row) + 1)
    with pytest.raises(ProverError):
        prove(pk, circ, cfg, tamper=tamper, rng=np.random.default_rng(1))
    forged = prove(pk, circ, cfg, tamper=tamper, check=False, rng=np.random.default_rng(1))
    assert not verify(vk2, circ.instances(), forged)


# ---------------------------------------------------------------------------------------
# A GPT-2 folder (biases everywhere, tied lm_head without bias)
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gpt2():
    from snarkgpt.model.weights import load_model
    m = load_model(DATA / "tiny_gpt2")
    assert m.config.bias
    st, _ = calibrate(m, calibration_inputs(m, n=2), max_table_bits=13, report=False)
    return m, st, quantize_model(m, st)


def test_gpt2_folder_integer_forward_tracks_torch(gpt2):
    """Against the logits transformers computed for the folder (|logits| < 0.21 here, margins
    down to 0.001: the weights are N(0, 0.02), so the activation scale matters; the tables
    may be larger than the proof test's)."""
    m, _, _ = gpt2
    st, _ = calibrate(m, calibration_inputs(m, n=2), max_table_bits=16, report=False)
    qm = quantize_model(m, st)
    f = np.load(DATA / "tiny_gpt2_logits.npz")
    il = integer_forward(qm, f["tokens"]).float_logits()
    err = np.abs(il - f["logits"]).max()
    assert err < 0.01, err
    fl0 = forward(without_biases(m), f["tokens"], gelu_kind=m.gelu)
    assert err < np.abs(f["logits"] - fl0).max() / 3
    srt = np.sort(f["logits"], axis=1)
    clear = srt[:, -1] - srt[:, -2] > 2 * err      # positions not at a near tie
    assert np.array_equal(il.argmax(1)[clear], f["logits"].argmax(1)[clear])
    assert qm.weights["h.1.mlp.c_fc.bias"].shape == (4 * m.config.n_embd,)


def test_gpt2_folder_generation_proves(gpt2):
    m, st, qm = gpt2
    toks = greedy(qm, [3, 17, 42], 2)
    circ = ModelCircuit(qm, st, toks, 3)
    cs, _, asg = build(circ, rng=np.random.default_rng(0))
    MockProver(cs, asg).assert_satisfied()
    assert assert_tampering_detected(cs, asg, own_cells(asg, "h.1.mlp.c_proj"), sample=2,
                                     rng=np.random.default_rng(0)) == 2
