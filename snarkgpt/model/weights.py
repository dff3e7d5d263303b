"""Model weights: one in-memory form, several file formats in, one (``.npz``) out.

A ``Model`` is a ``GPTConfig``, a dict of float32 weights under nanoGPT's state_dict names
(see ``config.py``; ``lm_head.weight`` is always present after loading, tied to
``transformer.wte.weight`` when the file has none), an optional tokenizer, and the GELU form
the model was trained with (``"erf"`` for nanoGPT, ``"tanh"`` for Hugging Face GPT-2).

``load_model(spec)`` accepts:

* ``"bundled"``                  the tiny Shakespeare model shipped in ``snarkgpt/model/bundled``
* ``"random:n_layer=1,n_head=1,n_embd=16,block_size=16,vocab_size=65,seed=0[,bias=1][,gelu=tanh]"``
                                 deterministic weights drawn like nanoGPT's initialisation
* ``path/to/model.npz``          our format: weights under their names + a ``__config__`` JSON
* ``path/to/ckpt.pt``            a nanoGPT checkpoint (read WITHOUT torch, restricted unpickler)
* ``path/to/gpt2-folder/``       a Hugging Face GPT-2 folder (config.json + model.safetensors
                                 or pytorch_model.bin)

Every loader ends in ``validate_weights``: every expected weight present with its shape, no
unknown names, finite values. Errors are ``WeightsError`` naming the file, the key and the
problem.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import GPTConfig
from .loaders import CheckpointError, read_safetensors, read_torch_zip

__all__ = ["Model", "WeightsError", "GELU_KINDS", "load_model", "save_npz", "load_npz",
           "load_nanogpt_ckpt", "load_hf_gpt2", "random_model", "validate_weights",
           "bundled_path"]

GELU_KINDS = ("erf", "tanh")
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


class WeightsError(ValueError):
    """Weights that cannot be used: missing/unknown key, wrong shape, non-finite, bad file."""


@dataclass
class Model:
    config: GPTConfig
    weights: dict                      # name -> float32 ndarray (lm_head.weight included)
    tokenizer: object | None = None    # snarkgpt.model.tokenizer.CharTokenizer or None
    gelu: str = "erf"                  # "erf" (nanoGPT nn.GELU()) or "tanh" (GPT-2 gelu_new)
    source: str = ""                   # where it was loaded from (for messages)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.gelu not in GELU_KINDS:
            raise WeightsError(f"gelu must be one of {GELU_KINDS}, got {self.gelu!r}")

    @property
    def n_params(self) -> int:
        """Parameter count, counting a tied lm_head once (as nanoGPT does)."""
        n = sum(int(w.size) for k, w in self.weights.items() if k != "lm_head.weight")
        if not self.tied:
            n += int(self.weights["lm_head.weight"].size)
        return n

    @property
    def tied(self) -> bool:
        a, b = self.weights["lm_head.weight"], self.weights["transformer.wte.weight"]
        return a is b or np.array_equal(a, b)


def bundled_path(name: str = "model.npz") -> Path:
    return BUNDLED_DIR / name


# ----------------------------------------------------------------------------- validation

def validate_weights(config: GPTConfig, weights: dict, source: str = "<weights>") -> dict:
    """Check names, shapes and values; return a new dict of float32 arrays (lm_head tied
    to wte when absent)."""
    expected = config.weight_shapes()
    out = {}
    unknown = sorted(set(weights) - set(expected))
    if unknown:
        raise WeightsError(f"{source}: unknown weight {unknown[0]!r}"
                           + (f" (and {len(unknown) - 1} more: {unknown[1:4]})"
                              if len(unknown) > 1 else "")
                           + f" for config {_cfg_str(config)}")
    for name, shape in expected.items():
        if name not in weights:
            if name == "lm_head.weight":
                continue
            raise WeightsError(f"{source}: missing weight {name!r} (expected shape {shape})")
        w = weights[name]
        if not isinstance(w, np.ndarray):
            w = np.asarray(w)
        if w.dtype.kind not in "fiu":
            raise WeightsError(f"{source}: weight {name!r} has non-numeric dtype {w.dtype}")
        if tuple(w.shape) != tuple(shape):
            raise WeightsError(f"{source}: weight {name!r} has shape {tuple(w.shape)}, "
                               f"expected {tuple(shape)}")
        w = np.ascontiguousarray(w, dtype=np.float32)
        if not np.all(np.isfinite(w)):
            bad = np.argwhere(~np.isfinite(w))[0]
            raise WeightsError(f"{source}: weight {name!r} has a non-finite value "
                               f"({w[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
        out[name] = w
    if "lm_head.weight" not in out:
        out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


def _cfg_str(c: GPTConfig) -> str:
    return ",".join(f"{k}={v}" for k, v in c.to_dict().items())


# ----------------------------------------------------------------------------- npz

def save_npz(model: Model, path) -> Path:
    """Write ``model`` as our ``.npz`` (atomically: temp file in the same folder + rename).

    Entries: every weight under its name (``lm_head.weight`` omitted when tied), ``__config__``
    (GPTConfig JSON), ``__model__`` (JSON: gelu, meta) and ``__tokenizer__`` when present.
    """
    path = Path(path)
    weights = validate_weights(model.config, model.weights, str(path))
    arrays = {k: v for k, v in weights.items() if not (k == "lm_head.weight" and model.tied)}
    arrays["__config__"] = np.array(json.dumps(model.config.to_dict(), sort_keys=True))
    arrays["__model__"] = np.array(json.dumps({"gelu": model.gelu, "meta": model.meta},
                                              sort_keys=True))
    if model.tokenizer is not None:
        arrays["__tokenizer__"] = np.array(model.tokenizer.to_json())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _json_entry(z, key: str, src: str):
    try:
        a = z[key]
        if a.dtype.kind != "U" or a.shape != ():
            raise WeightsError(f"{src}: entry {key!r} must be a JSON string, got {a.dtype} "
                               f"{a.shape}")
        return json.loads(str(a))
    except WeightsError:
        raise
    except (json.JSONDecodeError, ValueError) as e:
        raise WeightsError(f"{src}: entry {key!r} is not valid JSON ({e})") from None


def load_npz(path, *, gelu: str | None = None) -> Model:
    import zipfile
    src = os.fspath(path)
    try:
        z = np.load(src, allow_pickle=False)
    except FileNotFoundError:
        raise WeightsError(f"{src}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"{src}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise WeightsError(f"{src}: a single .npy array, not an .npz archive")
    from .tokenizer import CharTokenizer
    try:
        with z:
            if "__config__" not in z.files:
                raise WeightsError(f"{src}: missing entry '__config__' (the model configuration)")
            try:
                config = GPTConfig.from_dict(_json_entry(z, "__config__", src))
            except (TypeError, ValueError) as e:
                if isinstance(e, WeightsError):
                    raise
                raise WeightsError(f"{src}: entry '__config__': {e}") from None
            info = _json_entry(z, "__model__", src) if "__model__" in z.files else {}
            tok = None
            if "__tokenizer__" in z.files:
                try:
                    tok = CharTokenizer.from_json(str(z["__tokenizer__"]))
                except ValueError as e:
                    raise WeightsError(f"{src}: entry '__tokenizer__': {e}") from None
            raw = {}
            for k in z.files:
                if k.startswith("__"):
                    if k not in ("__config__", "__model__", "__tokenizer__"):
                        raise WeightsError(f"{src}: unknown entry {k!r}")
                    continue
                raw[k] = z[k]
    except WeightsError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise WeightsError(f"{src}: corrupt .npz ({type(e).__name__}: {e})") from None
    weights = validate_weights(config, raw, src)
    return Model(config, weights, tok, gelu or info.get("gelu", "erf"), src,
                 dict(info.get("meta", {})))


# ----------------------------------------------------------------------------- nanoGPT ckpt

_NANOGPT_ARGS = ("n_layer", "n_head", "n_embd", "block_size", "vocab_size", "bias")


def load_nanogpt_ckpt(path, *, gelu: str | None = None) -> Model:
    """A nanoGPT ``ckpt.pt`` (``{'model_args': ..., 'model': state_dict, ...}``), without torch."""
    src = os.fspath(path)
    try:
        ckpt = read_torch_zip(src)
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_args" not in ckpt:
        keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise WeightsError(f"{src}: not a nanoGPT checkpoint: expected a dict with 'model' and "
                           f"'model_args', found {keys}")
    args = ckpt["model_args"]
    if not isinstance(args, dict):
        raise WeightsError(f"{src}: 'model_args' is not a dict")
    missing = [k for k in _NANOGPT_ARGS if k not in args]
    if missing:
        raise WeightsError(f"{src}: 'model_args' lacks {missing}")
    try:
        config = GPTConfig(**{k: (bool(args[k]) if k == "bias" else args[k])
                              for k in _NANOGPT_ARGS})
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{src}: 'model_args': {e}") from None
    state = ckpt["model"]
    if not isinstance(state, dict):
        raise WeightsError(f"{src}: 'model' is not a state dict")
    weights = {}
    for k, v in state.items():
        if not isinstance(k, str):
            raise WeightsError(f"{src}: state dict key {k!r} is not a string")
        if k.startswith("_orig_mod."):      # torch.compile wrapper prefix
            k = k[len("_orig_mod."):]
        if k.endswith(".attn.bias") and k not in config.weight_shapes():
            continue                         # causal-mask buffer of older nanoGPT versions
        if not isinstance(v, np.ndarray):
            raise WeightsError(f"{src}: state dict entry {k!r} is not a tensor")
        weights[k] = v
    weights = validate_weights(config, weights, src)
    meta = {}
    for key in ("iter_num", "best_val_loss"):
        if key in ckpt:
            v = ckpt[key]
            try:
                meta[key] = float(np.asarray(v)) if key == "best_val_loss" else int(v)
            except (TypeError, ValueError):
                pass
    return Model(config, weights, None, gelu or "erf", src, meta)


# ----------------------------------------------------------------------------- HF GPT-2

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def load_hf_gpt2(folder, *, gelu: str | None = None) -> Model:
    """A Hugging Face GPT-2 folder: config.json + model.safetensors (or pytorch_model.bin)."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    try:
        hf = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{cfg_path}: missing (a Hugging Face GPT-2 folder needs "
                           "config.json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{cfg_path}: unreadable ({e})") from None
    if not isinstance(hf, dict):
        raise WeightsError(f"{cfg_path}: not a JSON object")
    mt = hf.get("model_type", "gpt2")
    if mt != "gpt2":
        raise WeightsError(f"{cfg_path}: model_type {mt!r} is not supported (only 'gpt2')")
    if hf.get("scale_attn_by_inverse_layer_idx") or hf.get("scale_attn_weights") is False:
        raise WeightsError(f"{cfg_path}: non-standard attention scaling is not supported")
    act = hf.get("activation_function", "gelu_new")
    acts = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu": "erf"}
    if act not in acts:
        raise WeightsError(f"{cfg_path}: activation_function {act!r} is not supported "
                           f"({sorted(acts)})")
    try:
        config = GPTConfig(n_layer=hf["n_layer"], n_head=hf["n_head"], n_embd=hf["n_embd"],
                           block_size=hf.get("n_positions", hf.get("n_ctx")),
                           vocab_size=hf["vocab_size"], bias=True,
                           ln_eps=float(hf.get("layer_norm_epsilon", 1e-5)))
    except KeyError as e:
        raise WeightsError(f"{cfg_path}: missing field {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise WeightsError(f"{cfg_path}: {e}") from None
    if hf.get("n_inner") not in (None, 4 * config.n_embd):
        raise WeightsError(f"{cfg_path}: n_inner {hf['n_inner']} != 4 n_embd is not supported")
    st, binf = folder / "model.safetensors", folder / "pytorch_model.bin"
    try:
        if st.exists():
            src = str(st)
            tensors, _ = read_safetensors(st)
        elif binf.exists():
            src = str(binf)
            tensors = read_torch_zip(binf)
            if not isinstance(tensors, dict):
                raise WeightsError(f"{src}: not a state dict")
        else:
            raise WeightsError(f"{folder}: no model.safetensors or pytorch_model.bin")
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    weights = {}
    for k, v in tensors.items():
        name = k[len("transformer."):] if k.startswith("transformer.") else k
        if name.endswith((".attn.bias", ".attn.masked_bias")):
            continue                         # causal-mask buffers
        if name == "lm_head.weight":
            weights[name] = v
            continue
        if name.endswith(_CONV1D):
            if v.ndim != 2:
                raise WeightsError(f"{src}: weight {k!r} has shape {v.shape}, expected 2-D")
            v = v.T                          # Conv1D (in, out) -> Linear (out, in)
        weights["transformer." + name] = v
    if hf.get("tie_word_embeddings", True) is False and "lm_head.weight" not in weights:
        raise WeightsError(f"{src}: missing weight 'lm_head.weight' (config.json says the "
                           "embeddings are not tied)")
    weights = validate_weights(config, weights, src)
    return Model(config, weights, None, gelu or acts[act], str(folder), {})


# ----------------------------------------------------------------------------- random

def random_model(config: GPTConfig, seed: int = 0, *, gelu: str = "erf",
                 tokenizer=None) -> Model:
    """Deterministic weights drawn like nanoGPT's ``_init_weights``: N(0, 0.02) for Linear and
    Embedding weights, N(0, 0.02/sqrt(2 n_layer)) for the residual projections (c_proj),
    zero biases, unit LayerNorm gains. Same (config, seed) -> same bits on every platform."""
    rng = np.random.default_rng(seed)
    std_proj = 0.02 / np.sqrt(2 * config.n_layer)
    weights = {}
    for name, shape in config.weight_shapes().items():
        if name == "lm_head.weight":
            continue
        if name.endswith(".bias"):
            w = np.zeros(shape)
        elif ".ln_" in name or name.startswith("transformer.ln_f"):
            w = np.ones(shape)
        else:
            std = std_proj if name.endswith("c_proj.weight") else 0.02
            w = rng.standard_normal(shape) * std
        weights[name] = w.astype(np.float32)
    weights = validate_weights(config, weights, "random")
    return Model(config, weights, tokenizer, gelu, f"random:{_cfg_str(config)},seed={seed}",
                 {"seed": seed})


def _parse_random(spec: str, gelu: str | None) -> Model:
    items, seed, g = [], 0, gelu
    for part in filter(None, (p.strip() for p in spec.split(","))):
        k, _, v = part.partition("=")
        if k.strip() == "seed":
            try:
                seed = int(v)
            except ValueError:
                raise WeightsError(f"random spec: seed must be an integer, got {v!r}") from None
        elif k.strip() == "gelu":
            g = v.strip()
        else:
            items.append(part)
    try:
        config = GPTConfig.parse(",".join(items))
    except (TypeError, ValueError) as e:
        raise WeightsError(f"random spec {spec!r}: {e}") from None
    tok = None
    if config.vocab_size == 65:
        from .tokenizer import shakespeare_tokenizer
        tok = shakespeare_tokenizer()
    return random_model(config, seed, gelu=g or "erf", tokenizer=tok)


# ----------------------------------------------------------------------------- dispatch

def load_model(spec="bundled", *, gelu: str | None = None) -> Model:
    """Load a model from a spec (see the module docstring). ``gelu`` overrides the default
    GELU form of the format ("erf" for nanoGPT/bundled/npz/random, "tanh" for HF GPT-2)."""
    if isinstance(spec, Model):
        return spec
    if gelu is not None and gelu not in GELU_KINDS:
        raise WeightsError(f"gelu must be one of {GELU_KINDS}, got {gelu!r}")
    s = os.fspath(spec)
    if s == "bundled":
        p = bundled_path()
        if not p.exists():
            raise WeightsError(f"{p}: the bundled model is missing from this installation")
        m = load_npz(p, gelu=gelu)
        if m.tokenizer is None and bundled_path("tokenizer.json").exists():
            from .tokenizer import CharTokenizer
            m.tokenizer = CharTokenizer.load(bundled_path("tokenizer.json"))
        m.source = "bundled"
        return m
    if s.startswith("random:"):
        return _parse_random(s[len("random:"):], gelu)
    p = Path(s)
    if p.is_dir():
        return load_hf_gpt2(p, gelu=gelu)
    if not p.exists():
        raise WeightsError(f"{s}: no such file or folder (expected 'bundled', 'random:...', an "
                           ".npz, a nanoGPT ckpt.pt or a Hugging Face GPT-2 folder)")
    if p.suffix == ".npz":
        return load_npz(p, gelu=gelu)
    if p.suffix in (".pt", ".pth", ".ckpt", ".bin"):
        return load_nanogpt_ckpt(p, gelu=gelu)
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic == b"PK\x03\x04":               # zip: npz or torch
        import zipfile
        try:
            with zipfile.ZipFile(p) as zf:
                if any(n.endswith("/data.pkl") for n in zf.namelist()):
                    return load_nanogpt_ckpt(p, gelu=gelu)
        except zipfile.BadZipFile:
            pass
        return load_npz(p, gelu=gelu)
    raise WeightsError(f"{s}: unrecognised model file (expected .npz, ckpt.pt or a folder)")
