"""Make the GPT-2 small test object: a Hugging Face folder with a random-init
`GPT2LMHeadModel(GPT2Config())` (124,439,808 parameters) saved with `save_pretrained`, and a
byte-level BPE `tokenizer.json` trained on tiny-shakespeare, padded with unused added tokens
to GPT-2's 50,257 ids (no GPT-2 vocabulary can be downloaded where the benchmarks run).

Needs torch, transformers and tokenizers, which snarkgpt does not depend on; use a scratch
venv:

    python3 -m venv /tmp/hfvenv && /tmp/hfvenv/bin/pip install torch==2.13.0 transformers tokenizers
    /tmp/hfvenv/bin/python benchmarks/make_gpt2_folder.py --out /tmp/gpt2-small

Then, with snarkgpt (docs/benchmarks.md, "GPT-2 small from a Hugging Face folder"):

    snarkgpt setup --model /tmp/gpt2-small --max-tokens 16 --memory-budget 12G --out keys
    snarkgpt prove --keys keys --prompt "First Citizen: Before we proceed any" --max-new-tokens 8 --out proof.bin
    snarkgpt verify --keys keys --proof proof.bin
"""
import argparse
import os
from pathlib import Path

TEXT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="the folder to write (must not exist)")
    ap.add_argument("--text", default=str(TEXT), help="training text for the tokenizer")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if os.path.exists(args.out):
        raise SystemExit(f"{args.out} exists: refusing to overwrite it")
    if not os.path.isfile(args.text):
        raise SystemExit(f"{args.text}: no such file (give --text)")
    import torch
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(GPT2Config())
    model.save_pretrained(args.out, safe_serialization=True)
    vocab = model.config.vocab_size
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train([args.text], trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    n = tok.get_vocab_size()
    tok.add_tokens([AddedToken(f"<|unused{i}|>", special=False) for i in range(vocab - n)])
    tok.save(os.path.join(args.out, "tokenizer.json"))
    params = sum(p.numel() for p in model.parameters())
    print(f"{args.out}: {params:,} parameters; tokenizer {n:,} learned + {vocab - n:,} unused "
          f"= {tok.get_vocab_size():,} ids")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
