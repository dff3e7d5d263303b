"""The NumPy float forward against logits PyTorch computed (stored fixtures; no torch needed)."""
import math
from pathlib import Path

import numpy as np
import pytest

from snarkgpt.model.config import GPTConfig
from snarkgpt.model.float_forward import (ForwardError, forward, gelu, generate_greedy,
                                          trace_names)
from snarkgpt.model.weights import bundled_path, load_model

DATA = Path(__file__).parent / "data"
SMALL = "random:n_layer=2,n_head=2,n_embd=16,block_size=16,vocab_size=65,seed=3"


@pytest.mark.skipif(not bundled_path().exists(), reason="bundled model not built")
def test_bundled_matches_torch():
    m = load_model("bundled")
    f = np.load(DATA / "bundled_logits.npz")
    for j in range(2):
        logits = forward(m, f[f"tokens_{j}"])
        assert logits.shape == (len(f[f"tokens_{j}"]), 65)
        assert np.abs(logits - f[f"logits_{j}"]).max() < 1e-4


def test_tiny_nanogpt_ckpt_matches_torch():
    m = load_model(DATA / "tiny_ckpt.pt")
    f = np.load(DATA / "tiny_ckpt_logits.npz")
    assert np.abs(forward(m, f["tokens"]) - f["logits"]).max() < 1e-4
    # float32 arithmetic is close too
    assert np.abs(forward(m, f["tokens"], dtype=np.float32) - f["logits"]).max() < 1e-4


def test_tiny_hf_gpt2_matches_torch():
    m = load_model(DATA / "tiny_gpt2")
    assert m.gelu == "tanh"
    f = np.load(DATA / "tiny_gpt2_logits.npz")
    assert np.abs(forward(m, f["tokens"]) - f["logits"]).max() < 1e-10
    # the GELU form matters: the erf form gives different logits
    assert np.abs(forward(m, f["tokens"], gelu_kind="erf") - f["logits"]).max() > 1e-8


def test_gelu_values():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 4.0])
    exact = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert np.allclose(gelu(x, "erf"), exact, atol=1e-15)
    assert np.abs(gelu(x, "tanh") - exact).max() < 1e-3
    assert gelu(np.array([1.0]), "erf")[0] == pytest.approx(0.8413447460685429)
    with pytest.raises(ForwardError):
        gelu(x, "relu")


def test_trace_fills_every_name_consistently():
    m = load_model(SMALL)
    tr = {}
    tokens = [5, 1, 40, 7, 7, 2]
    logits = forward(m, tokens, trace=tr)
    assert list(tr) == trace_names(m.config)
    T, d, H = len(tokens), 16, 2
    assert np.array_equal(tr["logits"], logits)
    assert tr["h.0.attn.qkv"].shape == (T, 3 * d)
    assert tr["h.1.attn.scores"].shape == (H, T, T)
    sm = tr["h.0.attn.softmax"]
    assert np.allclose(sm.sum(-1), 1.0)
    assert np.all(np.triu(sm, 1) == 0) and np.all(np.triu(tr["h.0.attn.scores"], 1) == 0)
    assert tr["h.0.mlp.fc"].shape == (T, 4 * d)
    assert np.allclose(tr["h.0.mlp.gelu"], gelu(tr["h.0.mlp.fc"]))
    assert np.allclose(tr["h.0.attn.resid"], tr["embed"] + tr["h.0.attn.out"])
    assert np.allclose(tr["h.1.mlp.resid"], tr["h.1.attn.resid"] + tr["h.1.mlp.out"])
    assert tr["ln_f.var"].shape == (T,)
    assert np.allclose(tr["ln_f"].mean(-1), 0, atol=1e-9)


def test_causality():
    m = load_model(SMALL)
    a = forward(m, [1, 2, 3, 4, 5])
    b = forward(m, [1, 2, 3, 9, 9])
    assert np.allclose(a[:3], b[:3]) and not np.allclose(a[3:], b[3:])


def test_config_plus_weights_form():
    m = load_model(SMALL)
    w = {k: v for k, v in m.weights.items() if k != "lm_head.weight"}
    assert np.array_equal(forward(m.config, [1, 2], weights=w), forward(m, [1, 2]))
    with pytest.raises(ForwardError):
        forward(m.config, [1, 2])
    from types import SimpleNamespace
    duck = SimpleNamespace(config=m.config, weights=w, gelu="tanh")
    assert np.array_equal(forward(duck, [1, 2]), forward(m, [1, 2], gelu_kind="tanh"))
    with pytest.raises(ForwardError):
        forward("bundled", [1, 2])


def test_generate_greedy():
    m = load_model(SMALL)
    seq = generate_greedy(m, [1, 2, 3], 5)
    assert len(seq) == 8 and seq[:3] == [1, 2, 3]
    logits = forward(m, seq)
    assert all(seq[t + 1] == int(np.argmax(logits[t])) for t in range(2, 7))
    assert generate_greedy(m, [4], 0) == [4]
    assert generate_greedy(m, np.array([1, 2, 3]), 5) == seq


def test_bad_tokens():
    m = load_model(SMALL)
    with pytest.raises(ForwardError, match="exceed block_size"):
        forward(m, list(range(17)))
    with pytest.raises(ForwardError, match="65 at position 1"):
        forward(m, [1, 65])
    with pytest.raises(ForwardError, match="-1"):
        forward(m, [-1])
    with pytest.raises(ForwardError):
        forward(m, [])
    with pytest.raises(ForwardError):
        forward(m, [[1, 2]])
    with pytest.raises(ForwardError):
        forward(m, [1.0, 2.0])


def test_generate_bad_inputs():
    m = load_model(SMALL)
    with pytest.raises(ForwardError, match="block_size"):
        generate_greedy(m, list(range(17)), 1)           # prompt longer than block_size
    with pytest.raises(ForwardError, match="exceeds block_size"):
        generate_greedy(m, list(range(10)), 7)           # prompt + new tokens too long
    with pytest.raises(ForwardError):
        generate_greedy(m, [], 3)
    with pytest.raises(ForwardError):
        generate_greedy(m, [1], -1)
    with pytest.raises(ForwardError):
        generate_greedy(m, [70], 1)


def test_bias_model_runs():
    m = load_model("random:n_layer=1,n_head=4,n_embd=8,block_size=8,vocab_size=11,bias=1,seed=0")
    assert m.config == GPTConfig(n_layer=1, n_head=4, n_embd=8, block_size=8, vocab_size=11,
                                 bias=True)
    assert forward(m, [0, 10, 3]).shape == (3, 11)
