"""Regenerate ``tiny_gpt2_bpe/``: a tiny Hugging Face-format GPT-2 folder for the tests.

    python tests/model/data/make_tiny_gpt2.py

It holds what a real GPT-2 folder holds, at toy size: ``config.json`` in GPT2Config's format,
``model.safetensors`` (Conv1D weights stored (in, out), ``transformer.`` names, lm_head tied
and so left out, as ``save_pretrained`` writes them) written by our own writer from seeded
NumPy draws, and ``tokenizer.json``: a byte-level BPE (GPT-2's pre-tokenizer and decoder)
trained by the ``tokenizers`` package on the short text below, so its vocabulary is small and
covers only that text's characters. No torch needed.
"""
import json
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent
OUT = HERE / "tiny_gpt2_bpe"
sys.path.insert(0, str(HERE.parents[2]))
from snarkgpt.model.loaders import write_safetensors  # noqa: E402

TEXT = """first citizen: before we proceed any further, hear me speak.
all: speak, speak.
first citizen: you are all resolved rather to die than to famish?
all: resolved. resolved.
first citizen: first, you know caius marcius is chief enemy to the people.
all: we know't, we know't.
"""
VOCAB = 48
DIMS = dict(n_layer=2, n_head=2, n_embd=8, n_positions=16)


def make_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<|endoftext|>"],
                                  show_progress=False)
    tok.train_from_iterator(TEXT.splitlines(keepends=True), trainer)
    return tok


def make_weights(vocab: int, seed: int = 0) -> dict:
    """GPT-2's initialisation (N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer)),
    with small random biases and LayerNorm gains so that every term is exercised."""
    rng = np.random.default_rng(seed)
    L, d, T = DIMS["n_layer"], DIMS["n_embd"], DIMS["n_positions"]

    def normal(*shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    w = {"transformer.wte.weight": normal(vocab, d),
         "transformer.wpe.weight": normal(T, d, std=0.01),
         "transformer.ln_f.weight": 1 + normal(d, std=0.1), "transformer.ln_f.bias": normal(d)}
    for i in range(L):
        p = f"transformer.h.{i}."
        proj = 0.02 / np.sqrt(2 * L)
        w.update({p + "ln_1.weight": 1 + normal(d, std=0.1), p + "ln_1.bias": normal(d),
                  p + "attn.c_attn.weight": normal(d, 3 * d),
                  p + "attn.c_attn.bias": normal(3 * d),
                  p + "attn.c_proj.weight": normal(d, d, std=proj),
                  p + "attn.c_proj.bias": normal(d),
                  p + "ln_2.weight": 1 + normal(d, std=0.1), p + "ln_2.bias": normal(d),
                  p + "mlp.c_fc.weight": normal(d, 4 * d), p + "mlp.c_fc.bias": normal(4 * d),
                  p + "mlp.c_proj.weight": normal(4 * d, d, std=proj),
                  p + "mlp.c_proj.bias": normal(d)})
    return w


def hf_config(vocab: int) -> dict:
    eot = 0  # <|endoftext|>: the trainer puts special tokens first
    return {"activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.0, "bos_token_id": eot, "embd_pdrop": 0.0, "eos_token_id": eot,
            "initializer_range": 0.02, "layer_norm_epsilon": 1e-05, "model_type": "gpt2",
            "n_ctx": DIMS["n_positions"], "n_inner": None, "resid_pdrop": 0.0,
            "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True,
            "tie_word_embeddings": True, "vocab_size": vocab, **DIMS}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    tok = make_tokenizer()
    vocab = tok.get_vocab_size(with_added_tokens=True)
    assert tok.token_to_id("<|endoftext|>") == 0
    tok.save(str(OUT / "tokenizer.json"))
    (OUT / "config.json").write_text(json.dumps(hf_config(vocab), indent=2, sort_keys=True)
                                     + "\n")
    write_safetensors(OUT / "model.safetensors", make_weights(vocab), {"format": "pt"})
    print(f"{OUT}: vocab {vocab}, {DIMS}")


if __name__ == "__main__":
    main()
