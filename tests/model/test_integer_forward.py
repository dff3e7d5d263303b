"""The integer forward: op names and shapes, agreement with the float model, token checks,
range errors naming the op."""
from dataclasses import replace

import numpy as np
import pytest

from snarkgpt.gadgets.base import GadgetRangeError
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.integer_forward import TokenError, check_tokens, integer_forward
from snarkgpt.model.quantize import (calibrate, calibration_inputs, float_forward_trace,
                                     quantize_model, random_float_model)

CFG = GPTConfig(n_layer=2, n_head=2, n_embd=8, block_size=8, vocab_size=20)


@pytest.fixture(scope="module")
def setup():
    m = random_float_model(CFG, seed=2)
    st, _ = calibrate(m, calibration_inputs(m, n=2), max_table_bits=13, max_scale_bits=10,
                      report=False)
    return m, st, quantize_model(m, st)


def test_acts_names_and_shapes(setup):
    _, st, qm = setup
    toks = np.array([1, 5, 7, 2, 0, 19])
    r = integer_forward(qm, toks)
    T, d, H, V = 6, CFG.n_embd, CFG.n_head, CFG.vocab_size
    shapes = {"embed": (T, d), "h.1.ln_1": (T, d), "h.1.attn.qkv": (T, 3 * d),
              "h.1.attn.scores": (H, T, T), "h.1.attn.softmax": (H, T, T), "h.1.attn.av": (T, d),
              "h.1.attn.c_proj": (T, d), "h.1.attn.residual": (T, d), "h.1.ln_2": (T, d),
              "h.1.mlp.c_fc": (T, 4 * d), "h.1.mlp.gelu": (T, 4 * d), "h.1.mlp.c_proj": (T, d),
              "h.1.mlp.residual": (T, d), "ln_f": (T, d), "logits": (T, V),
              "generate.argmax": (T,)}
    for k, shape in shapes.items():
        assert r.acts[k].shape == shape, k
        assert r.acts[k].dtype == np.int64
    # causal: probabilities above the diagonal are exactly 0, rows sum to about 2^s
    p = r.acts["h.0.attn.softmax"]
    assert np.all(p[:, np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0)
    assert np.all(np.abs(p.sum(-1) - 2 ** st.scale_bits) <= T + 1)
    assert np.array_equal(r.next_tokens, r.logits.argmax(1))


def test_close_to_float_model(setup):
    m, st, qm = setup
    toks = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    fl, _ = float_forward_trace(m, toks)
    il = integer_forward(qm, toks).float_logits()
    assert np.max(np.abs(il - fl)) < 0.3


def test_positions_subset_matches_full(setup):
    _, _, qm = setup
    toks = np.array([3, 1, 4, 1, 5, 9, 2])
    full = integer_forward(qm, toks)
    part = integer_forward(qm, toks, positions=[4, 5, 6])
    assert np.array_equal(part.logits, full.logits[4:])
    assert np.array_equal(part.next_tokens, full.next_tokens[4:])
    with pytest.raises(ValueError):
        integer_forward(qm, toks, positions=[1, 3])


def test_causality(setup):
    """Position t's logits depend only on tokens <= t."""
    _, _, qm = setup
    a = integer_forward(qm, [1, 2, 3, 4, 5]).logits
    b = integer_forward(qm, [1, 2, 3, 9, 0]).logits
    assert np.array_equal(a[:3], b[:3])


@pytest.mark.parametrize("tokens,match", [
    ([], "empty prompt"), ([1, 20], "outside the vocabulary"), ([1, -1], "outside the vocabulary"),
    (list(range(9)), "exceed block_size"), ([1.5, 2], "integers"), ([[1, 2]], "1-D")])
def test_bad_tokens(setup, tokens, match):
    _, _, qm = setup
    with pytest.raises(TokenError, match=match):
        integer_forward(qm, tokens)
    assert issubclass(TokenError, ValueError)


def test_check_tokens_prompt_length():
    with pytest.raises(TokenError, match="empty prompt"):
        check_tokens(CFG, [1, 2], n_prompt=0)
    with pytest.raises(TokenError, match="exceeds"):
        check_tokens(CFG, [1, 2], n_prompt=3)


def test_range_errors_name_the_op(setup):
    m, st, _ = setup
    toks = [1, 2, 3, 4, 5, 6]
    small_gelu = replace(st, gelu_bits=3, gelu_rows=None, gelu_clamp_bits=3)
    with pytest.raises(GadgetRangeError) as e:
        integer_forward(quantize_model(m, small_gelu), toks)
    assert e.value.op == "h.0.mlp.gelu"
    small_argmax = replace(st, argmax_bits=2)
    with pytest.raises(GadgetRangeError) as e:
        integer_forward(quantize_model(m, small_argmax), toks)
    assert e.value.op == "generate.argmax"


def test_clamps_are_counted(setup):
    m, st, _ = setup
    narrow = replace(st, gelu_bits=st.scale_bits, gelu_rows=None, gelu_clamp_bits=st.scale_bits + 8)
    r = integer_forward(quantize_model(m, narrow), [1, 2, 3, 4, 5, 6])
    assert r.clamped["h.0.mlp.gelu"] > 0


# ---------------------------------------------------------------------------------------
# The exact float64 matmul path gives the integers of the int64 path, op for op
# ---------------------------------------------------------------------------------------
def _int64_matmul_ref(a, b, op="matmul", bias=None):
    """The int64 matmul reference the integer forward used before the float64 path: NumPy's
    integer matmul after the chip's bound check."""
    from snarkgpt.gadgets import reference as ref
    a = np.asarray(a, dtype=np.int64)
    b = b.values if isinstance(b, ref.MatmulOperand) else np.asarray(b, dtype=np.int64)
    bound = int(np.abs(a).max()) * int(np.abs(b).max()) * a.shape[1]
    if bias is not None:
        bias = np.asarray(bias, dtype=np.int64)
        bound += int(np.abs(bias).max())
    if bound >= 1 << 62:
        raise GadgetRangeError(op, bound, 0, 1 << 62, what="d * max|A| * max|B| + max|bias|")
    return a @ b if bias is None else a @ b + bias[None, :]


def _same_result(r, o):
    assert sorted(r.acts) == sorted(o.acts)
    for k in r.acts:
        assert r.acts[k].dtype == o.acts[k].dtype and np.array_equal(r.acts[k], o.acts[k]), k
    assert np.array_equal(r.logits, o.logits) and np.array_equal(r.next_tokens, o.next_tokens)
    assert r.clamped == o.clamped and r.stats == o.stats


def _models():
    from snarkgpt.model.weights import load_model
    bundled = load_model("bundled")
    biased = random_float_model(GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=12,
                                          vocab_size=30, bias=True), seed=4, gelu="erf")
    return {"tiny": random_float_model(CFG, seed=2), "biased": biased, "bundled": bundled}


@pytest.mark.parametrize("name", ["tiny", "biased", "bundled"])
def test_same_integers_as_the_int64_path(name, monkeypatch):
    """Every activation, clamp count and statistic equals the int64 path's, with the float64
    BLAS path forced on every product (even the tiny ones)."""
    from snarkgpt.gadgets import reference as ref
    m = _models()[name]
    st, _ = calibrate(m, calibration_inputs(m, n=1), report=False)
    qm = quantize_model(m, st)
    rng = np.random.default_rng(11)
    T = m.config.block_size
    runs = [(rng.integers(0, m.config.vocab_size, size=n), None) for n in (1, 3, T)]
    runs.append((rng.integers(0, m.config.vocab_size, size=T), np.arange(T - 4, T)))
    monkeypatch.setattr(ref, "SMALL_PRODUCT", 0)
    new = [integer_forward(qm, t, p) for t, p in runs]
    monkeypatch.setattr(ref, "matmul", _int64_matmul_ref)
    old = [integer_forward(quantize_model(m, st), t, p) for t, p in runs]
    for r, o in zip(new, old):
        _same_result(r, o)


def test_keep_acts_false_keeps_the_results(setup):
    _, _, qm = setup
    toks = [3, 1, 4, 1, 5, 9]
    full, lean = integer_forward(qm, toks), integer_forward(qm, toks, keep_acts=False)
    assert lean.acts == {}
    assert np.array_equal(full.logits, lean.logits) and full.clamped == lean.clamped
    assert full.stats == lean.stats


def test_operands_are_prepared_once(setup):
    """The weights' float64 copies are made on the first forward and reused; replacing a
    weight array is seen."""
    m, st, _ = setup
    qm = quantize_model(m, st)
    integer_forward(qm, [1, 2, 3])
    op = qm.operand("lm_head")
    integer_forward(qm, [4, 5, 6])
    assert qm.operand("lm_head") is op
    qm.weights["lm_head"] = qm.weights["lm_head"].copy()
    assert qm.operand("lm_head") is not op


@pytest.mark.slow
def test_gpt2_width_block_matches_the_int64_path(monkeypatch):
    """One block at GPT-2 width (d 768, 12 heads, vocabulary 50,257), 16 tokens."""
    from snarkgpt.gadgets import reference as ref
    from snarkgpt.model.weights import load_model
    m = load_model("random:n_layer=1,n_head=12,n_embd=768,block_size=1024,vocab_size=50257")
    st, _ = calibrate(m, max_tokens=16, report=False)
    qm = quantize_model(m, st)
    toks = np.random.default_rng(0).integers(0, 50257, size=16)
    new = integer_forward(qm, toks)
    monkeypatch.setattr(ref, "matmul", _int64_matmul_ref)
    _same_result(new, integer_forward(qm, toks))
