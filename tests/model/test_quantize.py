"""Quantization settings, weight quantization, calibration and the error report."""
import json

import numpy as np
import pytest

from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.integer_forward import integer_forward
from snarkgpt.model.quantize import (CalibrationError, QuantSettings, calibrate, calibration_inputs,
                                     default_settings, error_report, float_forward_trace,
                                     gelu_table_spec, quantize_model, random_float_model)

CFG = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=16)


@pytest.fixture(scope="module")
def model():
    return random_float_model(CFG, seed=0)


def test_settings_json_round_trip():
    st = default_settings(CFG, scale_bits=7, weight_bits=9, gelu="erf")
    s = st.to_json()
    assert QuantSettings.from_json(s) == st
    assert json.loads(s)["weight_bits"] == 9
    assert st.digest() == QuantSettings.from_json(s).digest()
    assert st.digest() != default_settings(CFG, scale_bits=8).digest()


@pytest.mark.parametrize("bad", [{"scale_bits": 0}, {"gelu": "relu"}, {"scale_bits": 20},
                                 {"exp_bits": 30}, {"rsqrt_bits": 24, "ln_clamp_bits": 24},
                                 {"exp_bits": 11, "exp_rows": 2049}, {"exp_rows": 1},
                                 {"gelu_bits": 12, "gelu_rows": 4097}, {"gelu_rows": 101},
                                 {"gelu_rows": 0}])
def test_settings_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        QuantSettings(**bad)


def test_settings_rejects_unknown_field_and_version():
    d = QuantSettings().to_dict()
    with pytest.raises(ValueError, match="unknown"):
        QuantSettings.from_dict({**d, "foo": 1})
    with pytest.raises(ValueError, match="version"):
        QuantSettings.from_dict({**d, "version": 99})


def test_quantize_model_layout(model):
    st = default_settings(CFG)
    qm = quantize_model(model, st)
    d = CFG.n_embd
    assert qm.weights["h.0.attn.c_attn"].shape == (d, 3 * d)
    assert qm.weights["lm_head"].shape == (d, CFG.vocab_size)
    assert qm.weights["h.0.mlp.c_proj"].shape == (4 * d, d)
    # the query columns carry the attention scale 1/sqrt(head_dim)
    hd = d // CFG.n_head
    wq = model.weights["transformer.h.0.attn.c_attn.weight"][:d].T / np.sqrt(hd)
    assert np.max(np.abs(qm.weights["h.0.attn.c_attn"][:, :d] / 2 ** st.weight_bits - wq)) <= 2 ** -(st.weight_bits + 1) + 1e-7


def test_erf_and_tanh_gelu_tables_differ():
    a = gelu_table_spec(default_settings(CFG, gelu="tanh")).table()[1]
    b = gelu_table_spec(default_settings(CFG, gelu="erf")).table()[1]
    assert a.shape == b.shape and not np.array_equal(a, b)
    assert np.max(np.abs(a - b)) < 2 ** 8 * 0.01


def test_calibrate_settings_prove_the_calibration_set(model):
    inputs = calibration_inputs(model, n=3, seed=1)
    st, rep = calibrate(model, inputs, max_table_bits=12, max_scale_bits=9)
    assert st.table_bits() <= 12
    qm = quantize_model(model, st)
    for toks in inputs:
        res = integer_forward(qm, toks)
        assert res.clamped.get("h.0.mlp.gelu", 0) == 0
        assert res.clamped.get("h.0.ln_1.rsqrt", 0) == 0
    assert rep.n_inputs == 3 and rep.positions == 3 * CFG.block_size
    assert rep.max_logit_error < 0.5 and rep.mean_logit_error < 0.1
    assert rep.top1_agreement >= 0.8
    # every disagreement is a near tie of the float model
    assert all(m < 0.2 for _, _, m in rep.disagreements)
    json.dumps(rep.to_dict())
    assert "top-1 agreement" in rep.summary()


def test_calibrate_widens_tables_for_large_activations():
    m = random_float_model(CFG, seed=3)
    m.weights["transformer.h.0.mlp.c_fc.weight"] = m.weights["transformer.h.0.mlp.c_fc.weight"] * 8
    _, st0 = float_forward_trace(m, calibration_inputs(m, n=1)[0])
    st, rep = calibrate(m, calibration_inputs(m, n=2), scale_bits=8, max_table_bits=16)
    assert (1 << (st.gelu_bits - 1)) >= st0["gelu_in"] * 2 ** 8
    assert not any(v for k, v in rep.clamped.items() if k.endswith("gelu"))


def test_calibrate_fixed_scale_is_respected(model):
    st, _ = calibrate(model, calibration_inputs(model, n=1), scale_bits=6, weight_bits=10,
                      report=False)
    assert (st.scale_bits, st.weight_bits) == (6, 10)


def test_calibrate_impossible_raises_clear_error():
    m = random_float_model(CFG, seed=0)
    m.weights["transformer.wte.weight"] = m.weights["transformer.wte.weight"] * 1e7
    with pytest.raises(CalibrationError, match="no fixed-point settings"):
        calibrate(m, calibration_inputs(m, n=1), max_attempts=6)


def test_error_report_is_exact_for_its_own_settings(model):
    st = default_settings(CFG, scale_bits=10, weight_bits=10, rsqrt_bits=14, gelu_bits=14,
                          gelu_clamp_bits=15)
    rep = error_report(model, st, calibration_inputs(model, n=2, seed=5))
    assert rep.max_logit_error < 0.1
    assert 0.0 <= rep.top1_agreement <= 1.0


def test_quantize_refuses_weights_out_of_range():
    m = random_float_model(CFG, seed=0)
    m.weights["lm_head.weight"] = np.full((CFG.vocab_size, CFG.n_embd), 1e9, np.float32)
    with pytest.raises(GadgetRangeError, match="lm_head"):
        quantize_model(m, default_settings(CFG))


def test_calibrate_tables_do_not_set_k_for_small_models():
    """The default max_table_bits follows the circuit's own size: a 1-layer d=8 model gets
    tables of at most 2^12 rows (not 2^16, which forced k >= 17); an explicit bound is kept."""
    from snarkgpt.model.config import GPTConfig
    from snarkgpt.model.quantize import (calibrate, default_max_table_bits,
                                         random_float_model)
    cfg = GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=65)
    assert default_max_table_bits(cfg) == 12
    st, rep = calibrate(random_float_model(cfg, seed=0))
    assert st.table_bits() <= 12 and rep is not None
    st16, _ = calibrate(random_float_model(cfg, seed=0), max_table_bits=16, report=False)
    assert st16.table_bits() <= 16


def test_calibrate_trims_the_exp_and_gelu_tables():
    """Calibration sizes the exp and GELU tables to their domains (not the next power of
    two) and keeps them under 2^max_table_bits - TABLE_SLACK, so a table never forces a
    larger k than the rows; the integer forward then never clamps the calibration set."""
    from snarkgpt.model.quantize import TABLE_SLACK, _exp_rows, random_float_model
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=32)
    model = random_float_model(cfg, seed=1)
    st, rep = calibrate(model, max_table_bits=13)
    s = st.scale_bits
    assert st.exp_rows == _exp_rows(s) < 1 << st.exp_bits
    # the lowest exp entry rounds to 0 at scale 2^s: clamping below the table changes nothing
    assert np.exp(-(st.exp_rows - 1) / 2 ** s) * 2 ** s < 0.5
    assert st.gelu_rows is not None and st.gelu_rows <= 1 << st.gelu_bits
    assert max(st.exp_size, st.gelu_size) <= (1 << 13) - TABLE_SLACK
    assert st.table_rows() <= 1 << 13
    assert not any(v for k, v in rep.clamped.items() if k.endswith("gelu"))
    assert QuantSettings.from_json(st.to_json()) == st


# ---------------------------------------------------------------------------------------
# Work shared across inputs and candidates; context bounded by max_tokens
# ---------------------------------------------------------------------------------------
def test_quantize_reference_matches_plain_rounding():
    """`reference.quantize` (two reductions in the common case) rounds like rint and keeps
    the errors of the full check: the first bad value, non-finite inputs."""
    from snarkgpt.gadgets import reference as ref
    x = np.random.default_rng(0).standard_normal((40, 30)) * 3
    for a in (x, x.T, x[::2, 1::3]):
        assert np.array_equal(ref.quantize(a, 10), np.rint(a * 1024).astype(np.int64))
    bad = x.copy()
    bad[2, 5] = 1e6
    with pytest.raises(GadgetRangeError) as e:
        ref.quantize(bad, 10, bits=16, op="w")
    assert e.value.op == "w" and e.value.index == 2 * 30 + 5
    bad[1, 1] = np.nan
    with pytest.raises(GadgetRangeError, match="non-finite"):
        ref.quantize(bad, 10)


def test_tied_lm_head_is_the_transposed_wte():
    from snarkgpt.model.weights import load_model
    m = load_model("bundled")
    assert m.weights["lm_head.weight"] is m.weights["transformer.wte.weight"]
    for s, w in ((8, 8), (8, 10)):
        qm = quantize_model(m, default_settings(m.config, scale_bits=s, weight_bits=w))
        lm = np.asarray(m.weights["lm_head.weight"], dtype=np.float64).T
        assert np.array_equal(qm.weights["lm_head"], np.rint(lm * 2.0 ** w).astype(np.int64))
        assert qm.weights["lm_head"].flags.c_contiguous


def test_float_trace_stats_equal_the_per_input_traces(model):
    from snarkgpt.model.quantize import float_trace_stats
    inputs = calibration_inputs(model, n=3, seed=4) + [np.array([1, 2, 3])]
    each = [float_forward_trace(model, t)[1] for t in inputs]
    assert float_trace_stats(model, inputs) == {k: max(s[k] for s in each) for k in each[0]}


def test_forward_many_equals_forward():
    from snarkgpt.model.float_forward import forward, forward_many
    from snarkgpt.model.weights import load_model
    m = load_model("bundled")
    inputs = [np.arange(1, 9), np.array([5]), np.arange(30) % 65]
    for t, lg in zip(inputs, forward_many(m, inputs)):
        assert np.array_equal(lg, forward(m, t))
    tr = {}
    forward(m, inputs[0], trace=tr)
    from snarkgpt.model.float_forward import trace_names
    assert list(tr) == trace_names(m.config)


def test_calibration_quantizes_once_per_scale_and_traces_once(monkeypatch):
    """Candidates that only widen a table reuse the quantized weights; the float trace runs
    once for all inputs; the result is that of recomputing everything."""
    import snarkgpt.model.quantize as qz
    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=16, block_size=16, vocab_size=40)
    m = random_float_model(cfg, seed=3)
    calls = {"quantize": 0, "trace": 0}
    real_q, real_t = qz.quantize_model, qz._float_traces

    def counting_q(*a, **k):
        calls["quantize"] += 1
        return real_q(*a, **k)

    def counting_t(*a, **k):
        calls["trace"] += 1
        return real_t(*a, **k)

    monkeypatch.setattr(qz, "quantize_model", counting_q)
    monkeypatch.setattr(qz, "_float_traces", counting_t)
    st, rep = calibrate(m, margin=0.25, max_attempts=30)
    assert len(rep.attempts) >= 3 and calls == {"quantize": 1, "trace": 1}
    # the settings prove the inputs with freshly quantized weights, and the report agrees
    monkeypatch.undo()
    qm = quantize_model(m, st)
    for t in calibration_inputs(m):
        r = integer_forward(qm, t)
        assert not any(v for k, v in r.clamped.items() if k.endswith(("gelu", "rsqrt")))
    rep2 = error_report(m, st, calibration_inputs(m))
    assert rep2.max_logit_error == rep.max_logit_error
    assert rep2.top1_agreement == rep.top1_agreement


def test_max_tokens_bounds_the_context(monkeypatch):
    """No forward of calibration sees more than max_tokens positions."""
    import snarkgpt.model.integer_forward as ifw
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=64, vocab_size=16)
    m = random_float_model(cfg, seed=0)
    seen = []
    real = ifw.integer_forward

    def spy(qm, toks, *a, **k):
        seen.append(len(toks))
        return real(qm, toks, *a, **k)

    monkeypatch.setattr(ifw, "integer_forward", spy)
    st, rep = calibrate(m, max_tokens=5)
    assert seen and max(seen) == 5 and rep.positions == 4 * 5
    seen.clear()
    calibrate(m, [np.arange(20) % 16], max_tokens=7, report=False)
    assert seen and max(seen) == 7
    for bad in (0, -3, 2.5, True):
        with pytest.raises(CalibrationError, match="max_tokens"):
            calibrate(m, max_tokens=bad)
    with pytest.raises(ValueError, match="length"):
        calibration_inputs(m, length=0)


def test_error_report_matches_the_per_input_computation(model):
    """The running statistics give the report of the arrays computed input by input."""
    from snarkgpt.model.float_forward import forward
    st, _ = calibrate(model, calibration_inputs(model, n=2), report=False)
    inputs = calibration_inputs(model, n=3, seed=5)
    rep = error_report(model, st, inputs)
    qm = quantize_model(model, st)
    errs, agree, dis, total = [], 0, [], 0
    for n, t in enumerate(inputs):
        fl, res = forward(model, t, gelu_kind=st.gelu), integer_forward(qm, t)
        errs.append(np.abs(res.float_logits() - fl).reshape(-1))
        agree += int(np.count_nonzero(fl.argmax(1) == res.next_tokens))
        total += len(t)
        srt = np.sort(fl, axis=1)
        dis += [(n, int(i), float(srt[i, -1] - srt[i, -2]))
                for i in np.flatnonzero(fl.argmax(1) != res.next_tokens)]
    e = np.concatenate(errs)
    assert rep.max_logit_error == float(e.max())
    assert rep.mean_logit_error == pytest.approx(float(e.mean()), rel=1e-12)
    assert rep.top1_agreement == agree / total
    assert rep.disagreements == dis


@pytest.mark.slow
def test_calibration_at_gpt2_width():
    """One block at GPT-2 width with 16-token inputs: calibrates in about ten seconds on
    this machine, under 2.5 GB."""
    import resource
    import time
    from snarkgpt.model.weights import load_model
    m = load_model("random:n_layer=1,n_head=12,n_embd=768,block_size=1024,vocab_size=50257")
    t = time.perf_counter()
    st, rep = calibrate(m, max_tokens=16)
    assert time.perf_counter() - t < 120
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2.5 * 2 ** 20
    assert rep.positions == 64 and rep.top1_agreement > 0.5
