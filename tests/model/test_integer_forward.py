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
