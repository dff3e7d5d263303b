"""GPT configurations (nanoGPT and GPT-2) and the weight naming every model module shares.

Weights are a dict of float32 NumPy arrays under nanoGPT's state_dict names, with Linear
weights in PyTorch's (out_features, in_features) layout:

    transformer.wte.weight            (vocab_size, n_embd)   token embedding (tied to lm_head)
    transformer.wpe.weight            (block_size, n_embd)   position embedding
    transformer.h.{i}.ln_1.weight     (n_embd,)              [.bias when config.bias]
    transformer.h.{i}.attn.c_attn.weight  (3 n_embd, n_embd) [.bias]   q, k, v stacked
    transformer.h.{i}.attn.c_proj.weight  (n_embd, n_embd)   [.bias]
    transformer.h.{i}.ln_2.weight     (n_embd,)              [.bias]
    transformer.h.{i}.mlp.c_fc.weight     (4 n_embd, n_embd) [.bias]
    transformer.h.{i}.mlp.c_proj.weight   (n_embd, 4 n_embd) [.bias]
    transformer.ln_f.weight           (n_embd,)              [.bias]
    lm_head.weight                    (vocab_size, n_embd)   (may be absent when tied)

GPT-2 checkpoints (Hugging Face Conv1D layout, (in, out)) are transposed into this layout on
import, so everything downstream sees one convention.
"""
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class GPTConfig:
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 64
    vocab_size: int = 65
    bias: bool = False
    ln_eps: float = 1e-5

    def __post_init__(self):
        for name in ("n_layer", "n_head", "n_embd", "block_size", "vocab_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GPTConfig fields: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def parse(cls, spec: str) -> "GPTConfig":
        """'n_layer=1,n_head=1,n_embd=16,block_size=16,vocab_size=65[,bias=1]'."""
        kw = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            if "=" not in part:
                raise ValueError(f"bad config item {part!r}: expected name=value")
            k, v = part.split("=", 1)
            k = k.strip()
            if k == "bias":
                kw[k] = v.strip().lower() in ("1", "true", "yes")
            elif k == "ln_eps":
                kw[k] = float(v)
            else:
                try:
                    kw[k] = int(v)
                except ValueError:
                    raise ValueError(f"config item {k} must be an integer, got {v!r}") from None
        return cls.from_dict(kw)

    def weight_shapes(self) -> dict:
        """The expected shape of every weight, by name (lm_head.weight included)."""
        d, V, T = self.n_embd, self.vocab_size, self.block_size
        shapes = {"transformer.wte.weight": (V, d), "transformer.wpe.weight": (T, d),
                  "transformer.ln_f.weight": (d,), "lm_head.weight": (V, d)}
        if self.bias:
            shapes["transformer.ln_f.bias"] = (d,)
        for i in range(self.n_layer):
            p = f"transformer.h.{i}."
            layer = {"ln_1": (d,), "attn.c_attn": (3 * d, d), "attn.c_proj": (d, d),
                     "ln_2": (d,), "mlp.c_fc": (4 * d, d), "mlp.c_proj": (d, 4 * d)}
            for name, shape in layer.items():
                shapes[p + name + ".weight"] = shape
                if self.bias:
                    shapes[p + name + ".bias"] = (shape[0],)
        return shapes


BASE_CONFIG = GPTConfig()                      # the snarkGPT base model: 4/4/64/64/65, no bias
TINY_CONFIG = GPTConfig(n_layer=1, n_head=1, n_embd=16, block_size=16, vocab_size=65)
