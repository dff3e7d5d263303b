"""Streamed quantization (quantize.StreamedWeights): a model whose integer weights would take
more than a quarter of the memory budget is quantized one tensor at a time, when a forward
pass or a circuit asks for it, into a bounded cache. Every consumer must see exactly the
arrays the eager dict holds: the integer forward, the circuit's fixed columns (hence the
fingerprint) and the proofs are the same; the cache stays within its cap; and the weights
really are dropped and quantized again (the cap is not a dead letter)."""
import numpy as np
import pytest

from snarkgpt.model import keys
from snarkgpt.model import quantize as qz
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.integer_forward import integer_forward
from snarkgpt.model.quantize import (StreamedWeights, default_settings, quantize_model,
                                     quantized_names, stream_cap)
from snarkgpt.model.weights import load_model, save_npz

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

BIAS = "random:n_layer=2,n_head=2,n_embd=16,block_size=8,vocab_size=11,bias=True,seed=3"
PLAIN = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
quiet = dict(progress=lambda *a: None)


def _largest(qm) -> int:
    return max(np.asarray(qm.weights[n]).nbytes for n in qm.weights)


@pytest.mark.parametrize("spec", [BIAS, PLAIN, "bundled"])
@pytest.mark.parametrize("s,w", [(8, 8), (8, 6)])
def test_streamed_weights_are_the_eager_arrays(spec, s, w):
    m = load_model(spec)
    st = default_settings(m.config, scale_bits=s, weight_bits=w)
    eager = quantize_model(m, st, stream=False)
    streamed = quantize_model(m, st, stream=1024)
    assert isinstance(eager.weights, dict)
    assert isinstance(streamed.weights, StreamedWeights)
    assert list(streamed.weights) == quantized_names(m.config)
    assert set(eager.weights) == set(streamed.weights)
    for name in eager.weights:
        a, b = eager.weights[name], streamed.weights[name]
        assert a.dtype == b.dtype == np.int64 and b.flags.c_contiguous
        assert np.array_equal(a, b), name


def test_integer_forward_identical_and_cache_bounded():
    m = load_model(BIAS)
    st = default_settings(m.config, scale_bits=8, weight_bits=8)
    eager = quantize_model(m, st, stream=False)
    cap = 4096
    streamed = quantize_model(m, st, stream=cap)
    toks = np.array([1, 2, 3, 4, 5, 6, 7], dtype=np.int64)
    for _ in range(2):                  # a second pass re-quantizes what was dropped
        a = integer_forward(eager, toks, keep_acts=False)
        b = integer_forward(streamed, toks, keep_acts=False)
        assert np.array_equal(a.logits, b.logits) and np.array_equal(a.next_tokens, b.next_tokens)
    W = streamed.weights
    # an operand counts its int64 values and its float64 copy
    biggest = 2 * _largest(eager)
    assert biggest > cap                # some entries are larger than the cache: held alone
    # never more than the cap, but for one entry larger than it held alone
    assert W.held <= max(cap, biggest) and W.peak <= max(cap, biggest)
    # the weights were dropped and quantized again: more misses than tensors
    assert W.quantized > len(quantized_names(m.config))


def test_cache_large_enough_quantizes_once():
    m = load_model(BIAS)
    st = default_settings(m.config, scale_bits=8, weight_bits=8)
    qm = quantize_model(m, st, stream=1 << 30)
    toks = np.array([1, 2, 3], dtype=np.int64)
    integer_forward(qm, toks, keep_acts=False)
    first = qm.weights.quantized
    integer_forward(qm, toks, keep_acts=False)
    assert qm.weights.quantized == first
    # a prepared operand is reused while cached
    assert qm.operand("lm_head") is qm.operand("lm_head")


def test_bad_names_and_caps_are_refused():
    m = load_model(PLAIN)
    st = default_settings(m.config, scale_bits=8, weight_bits=8)
    qm = quantize_model(m, st, stream=1024)
    with pytest.raises(KeyError):
        qm.weights["h.3.ln_1"]          # 3 layers: h.0 .. h.2
    with pytest.raises(KeyError):
        qm.weights["h.0.ln_1.bias"]     # no biases in this model
    assert "h.0.ln_1.bias" not in qm.weights and "h.2.mlp.c_fc" in qm.weights
    for bad in (0, -5, True, 1.5):
        with pytest.raises(ValueError, match="cache size"):
            StreamedWeights(m.config, m.weights, 8, 8, bad)
    w = dict(m.weights)
    del w["transformer.wpe.weight"]
    with pytest.raises(KeyError, match="wpe"):
        quantize_model(type(m)(m.config, w), st, stream=1024)


def test_stream_cap_decision():
    small = load_model("bundled").config
    assert stream_cap(small, 12 << 30) is None          # kept whole, as before
    gpt2 = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257)
    assert stream_cap(gpt2, 12 << 30) is None           # 2.0 GB of 12: a sixth, kept whole
    cap = stream_cap(gpt2, 4 << 30)                     # over a quarter: streamed
    assert cap is not None and cap >= 2 * 16 * 50257 * 768
    medium = GPTConfig(n_layer=24, n_head=16, n_embd=1024, block_size=1024, vocab_size=50257)
    assert qz.quantized_bytes(medium) > 3 * qz.quantized_bytes(gpt2) * 0.8
    # an eighth of the budget, raised to hold lm_head and its operand twice (1.65 GB)
    assert stream_cap(medium, 12 << 30) == 2 * 16 * 50257 * 1024
    assert stream_cap(medium, 20 << 30) == (20 << 30) // 8
    assert stream_cap(medium, 64 << 30) is None


def test_streamed_setup_and_proof_match_eager(tmp_path, monkeypatch):
    """Setup of a segmented model from a lazily read npz with the weights streamed through a
    cache far smaller than the model gives the eager setup's fingerprint, and its proofs
    verify; a tampered one does not."""
    from snarkgpt.plonk.srs import SRS

    def fixed_srs(srs_path, k):         # one tau for both setups, so their keys compare
        return SRS.dev((1 << k) + 1, seed=b"streamed"), True
    monkeypatch.setattr(keys, "_make_srs", fixed_srs)
    m = load_model(PLAIN)
    npz = tmp_path / "m.npz"
    save_npz(m, npz)
    eager = str(tmp_path / "eager")
    keys.setup(str(npz), eager, max_tokens=4, layers_per_segment=1, **quiet)
    caps = []

    def tiny_cap(cfg, budget=None):
        caps.append(cfg)
        return 512
    monkeypatch.setattr(qz, "stream_cap", tiny_cap)
    streamed = str(tmp_path / "streamed")
    card = keys.setup(str(npz), streamed, max_tokens=4, layers_per_segment=1, **quiet)
    assert caps, "setup did not ask for the streaming decision"
    card0, _ = keys.load_verifier(eager)
    assert card["fingerprint"] == card0["fingerprint"]
    prover = keys.Prover(streamed, **quiet)
    assert isinstance(prover.qmodel.weights, StreamedWeights)
    st = prover.generate([1, 2], 2)
    proof = prover.prove(st)
    W = prover.qmodel.weights
    assert W.quantized > len(W) and W.peak <= max(512, 2 * 8 * 4 * 16)  # really streamed (c_fc: 4 x 16)
    _, vk = keys.load_verifier(eager)
    assert keys.rejection(vk, st, proof) is None
    bad = bytearray(proof)
    bad[len(bad) // 2] ^= 1
    assert keys.rejection(vk, st, bytes(bad)) is not None
