"""Train the bundled tiny-Shakespeare model and write the model test fixtures (needs torch).

    python scripts/train_bundled.py [--iters 3000] [--batch 64] [--seed 1337] [--threads 2]

The model is nanoGPT's architecture (``model.py``: LayerNorm without bias, causal
self-attention, MLP with ``nn.GELU()``, tied wte/lm_head, its weight initialisation) in the
snarkGPT base configuration: 4 layers, 4 heads, n_embd 64, block_size 64, vocab 65, no bias,
dropout 0. Data: tiny-shakespeare characters, first 90% for training, last 10% for validation
(nanoGPT's ``data/shakespeare_char/prepare.py``). AdamW (betas 0.9/0.99, weight decay 0.1 on
matrices), linear warmup then cosine decay, gradient clipping at 1.0.

Writes:
  snarkgpt/model/bundled/model.npz        weights + config + tokenizer (our .npz format)
  snarkgpt/model/bundled/tokenizer.json   the 65-character tokenizer
  snarkgpt/model/bundled/meta.json        validation loss, iterations, seed, command, time
  tests/model/data/bundled_logits.npz     torch logits (float64) for two fixed prompts
  tests/model/data/tiny_ckpt.pt           a 1-layer nanoGPT checkpoint written by torch.save
  tests/model/data/tiny_ckpt_logits.npz   its torch logits
  tests/model/data/tiny_gpt2/             a tiny random GPT2LMHeadModel (if transformers is
                                          installed) + tiny_gpt2_logits.npz

``--fixtures-only`` skips training and rewrites the fixtures from the existing bundled model.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snarkgpt.model.config import GPTConfig  # noqa: E402
from snarkgpt.model.tokenizer import CharTokenizer  # noqa: E402
from snarkgpt.model.weights import Model, load_npz, save_npz  # noqa: E402

DATA = Path("/work/shared/data/tinyshakespeare.txt")
BUNDLED = ROOT / "snarkgpt" / "model" / "bundled"
FIXTURES = ROOT / "tests" / "model" / "data"
PROMPTS = ["ROMEO:\nWhat light through yonder window breaks", "First Citizen:\nBefore we proceed"]


# ----------------------------------------------------------------------------- nanoGPT model

class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, c: GPTConfig, mask_buffer=False):
        super().__init__()
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)
        self.n_head, self.n_embd = c.n_head, c.n_embd
        if mask_buffer:  # older nanoGPT kept the causal mask as a buffer named "bias"
            self.register_buffer("bias", torch.tril(torch.ones(c.block_size, c.block_size))
                                 .view(1, 1, c.block_size, c.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0,
                                           is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class MLP(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, c: GPTConfig, mask_buffer=False):
        super().__init__()
        self.ln_1 = LayerNorm(c.n_embd, c.bias)
        self.attn = CausalSelfAttention(c, mask_buffer)
        self.ln_2 = LayerNorm(c.n_embd, c.bias)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c: GPTConfig, mask_buffer=False):
        super().__init__()
        self.config = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd),
            wpe=nn.Embedding(c.block_size, c.n_embd),
            h=nn.ModuleList([Block(c, mask_buffer) for _ in range(c.n_layer)]),
            ln_f=LayerNorm(c.n_embd, c.bias)))
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * c.n_layer))

    @staticmethod
    def _init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)

    def forward(self, idx):
        T = idx.size(1)
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))


def _is_param(model, k):
    return k in dict(model.named_parameters(remove_duplicate=False))


def torch_logits(model: GPT, tokens) -> np.ndarray:
    m = GPT(model.config)
    m.load_state_dict({k: v for k, v in model.state_dict().items()
                       if _is_param(model, k)}, strict=False)
    m = m.double().eval()
    with torch.no_grad():
        return m(torch.tensor([tokens], dtype=torch.long))[0].numpy()


# ----------------------------------------------------------------------------- training

def train(args, cfg: GPTConfig, tok: CharTokenizer):
    text = DATA.read_text(encoding="utf-8")
    data = np.array(tok.encode(text), dtype=np.int64)
    n = int(0.9 * len(data))
    train_data, val_data = torch.from_numpy(data[:n]), torch.from_numpy(data[n:])
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    model = GPT(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99))

    def batch(split, gen):
        d = train_data if split == "train" else val_data
        ix = torch.randint(len(d) - cfg.block_size - 1, (args.batch,), generator=gen)
        x = torch.stack([d[i:i + cfg.block_size] for i in ix])
        y = torch.stack([d[i + 1:i + 1 + cfg.block_size] for i in ix])
        return x, y

    @torch.no_grad()
    def estimate(split, iters):
        model.eval()
        gen = torch.Generator().manual_seed(12345)  # same batches every evaluation
        losses = []
        for _ in range(iters):
            x, y = batch(split, gen)
            losses.append(F.cross_entropy(model(x).view(-1, cfg.vocab_size), y.view(-1)).item())
        model.train()
        return float(np.mean(losses))

    def lr_at(it):
        # warmup, then cosine decay over whichever runs out first: iterations or time budget
        warm = 100
        if it < warm:
            return args.lr * (it + 1) / warm
        r = max((it - warm) / max(1, args.iters - warm), (time.time() - t0) / args.max_seconds)
        r = min(r, 1.0)
        return args.min_lr + 0.5 * (1 + math.cos(math.pi * r)) * (args.lr - args.min_lr)

    t0 = time.time()
    it = 0
    for it in range(args.iters):
        for gparam in opt.param_groups:
            gparam["lr"] = lr_at(it)
        x, y = batch("train", g)
        loss = F.cross_entropy(model(x).view(-1, cfg.vocab_size), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if it % 250 == 0 or it == args.iters - 1:
            print(f"iter {it}: train loss {loss.item():.4f}  ({time.time() - t0:.0f} s)",
                  flush=True)
        if time.time() - t0 > args.max_seconds:
            print(f"time budget of {args.max_seconds} s reached at iteration {it}", flush=True)
            break
    iters_done = it + 1
    train_loss, val_loss = estimate("train", args.eval_iters), estimate("val", args.eval_iters)
    print(f"final: train loss {train_loss:.4f}, val loss {val_loss:.4f}, "
          f"{time.time() - t0:.0f} s", flush=True)
    return model, {"val_loss": round(val_loss, 4), "train_loss": round(train_loss, 4),
                   "iters": iters_done, "batch_size": args.batch, "lr": args.lr,
                   "seed": args.seed, "train_seconds": round(time.time() - t0, 1),
                   "eval_batches": args.eval_iters, "torch": torch.__version__}


# ----------------------------------------------------------------------------- fixtures

def write_bundled_logits(model: GPT, tok: CharTokenizer):
    prompts = [tok.encode(p) for p in PROMPTS]
    arrays = {}
    for j, p in enumerate(prompts):
        arrays[f"tokens_{j}"] = np.array(p, dtype=np.int64)
        arrays[f"logits_{j}"] = torch_logits(model, p)
    np.savez_compressed(FIXTURES / "bundled_logits.npz", **arrays)


def write_tiny_ckpt():
    torch.manual_seed(7)
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=65, bias=True)
    model = GPT(cfg, mask_buffer=True)
    with torch.no_grad():  # non-trivial biases and gains so every weight matters
        for k, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(65, (2, 16))
    F.cross_entropy(model(x).view(-1, 65), x.view(-1)).backward()
    opt.step()
    opt.zero_grad()
    sd = {"_orig_mod." + k: v for k, v in model.state_dict().items()}
    model_args = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, bias=True, vocab_size=65,
                      dropout=0.0)
    ckpt = {"model": sd, "optimizer": opt.state_dict(), "model_args": model_args,
            "iter_num": 1, "best_val_loss": torch.tensor(4.17),
            "config": {"dataset": "shakespeare_char", "learning_rate": 1e-3, "compile": True}}
    torch.save(ckpt, FIXTURES / "tiny_ckpt.pt")
    tokens = [int(t) for t in torch.randint(65, (12,))]
    np.savez_compressed(FIXTURES / "tiny_ckpt_logits.npz", tokens=np.array(tokens),
                        logits=torch_logits(model, tokens))


def write_tiny_gpt2():
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except ImportError:
        print("transformers not installed: tiny_gpt2 fixture not written")
        return
    torch.manual_seed(11)
    hc = GPT2Config(n_layer=2, n_head=2, n_embd=16, n_positions=16, vocab_size=50,
                    resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    m = GPT2LMHeadModel(hc).eval()
    with torch.no_grad():
        for k, p in m.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
            elif "mlp.c_fc" in k:  # GELU inputs of order 1, so erf and tanh forms differ
                p.mul_(20.0)
    out = FIXTURES / "tiny_gpt2"
    m.save_pretrained(out, safe_serialization=True)
    tokens = [3, 17, 42, 0, 49, 8, 8, 21, 5]
    with torch.no_grad():
        md = m.double()
        logits = md(torch.tensor([tokens])).logits[0].numpy()
    np.savez_compressed(FIXTURES / "tiny_gpt2_logits.npz", tokens=np.array(tokens),
                        logits=logits)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-iters", type=int, default=50)
    ap.add_argument("--max-seconds", type=float, default=900)
    ap.add_argument("--fixtures-only", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    BUNDLED.mkdir(parents=True, exist_ok=True)
    tok = CharTokenizer.from_text(DATA.read_text(encoding="utf-8"))
    cfg = GPTConfig(n_layer=4, n_head=4, n_embd=64, block_size=64, vocab_size=65, bias=False)
    if args.fixtures_only:
        m = load_npz(BUNDLED / "model.npz")
        model = GPT(cfg)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in m.weights.items()})
    else:
        model, meta = train(args, cfg, tok)
        meta["command"] = "python scripts/train_bundled.py " + shlex.join(sys.argv[1:] if argv
                                                                         is None else argv)
        meta["config"] = cfg.to_dict()
        meta["gelu"] = "erf"
        weights = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
        save_npz(Model(cfg, weights, tok, "erf", "bundled", meta), BUNDLED / "model.npz")
        tok.save(BUNDLED / "tokenizer.json")
        (BUNDLED / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    write_bundled_logits(model, tok)
    write_tiny_ckpt()
    write_tiny_gpt2()
    print("wrote", BUNDLED, FIXTURES)


if __name__ == "__main__":
    main()
