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
                                 or pytorch_model.bin; its GPT-2 BPE tokenizer, tokenizer.json or
                                 vocab.json + merges.txt, when present)

``load_model(spec, lazy=True)`` gives a model whose ``weights`` is a ``LazyWeights`` mapping
for a safetensors folder or an ``.npz`` (a key directory's model): names and shapes are known
(and checked) at once, and each tensor is read from the file only when asked for, so a caller
working block by block never holds the whole model. Other specs load eagerly either way (a
pickle cannot be read in part; ``bundled`` and ``random:`` are small).

Every loader ends in ``validate_weights`` (or its per-tensor form in ``LazyWeights``): every
expected weight present with its shape, no unknown names, finite values. Errors are
``WeightsError`` naming the file, the key and the problem.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import GPTConfig
from .loaders import CheckpointError, SafetensorsFile, read_torch_zip

__all__ = ["Model", "WeightsError", "GELU_KINDS", "LazyWeights", "load_model", "save_npz",
           "load_npz", "load_nanogpt_ckpt", "load_hf_gpt2", "open_hf_safetensors",
           "random_model", "validate_weights", "bundled_path"]

GELU_KINDS = ("erf", "tanh")
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"


class WeightsError(ValueError):
    """Weights that cannot be used: missing/unknown key, wrong shape, non-finite, bad file."""


@dataclass
class Model:
    config: GPTConfig
    weights: Mapping                   # name -> float32 ndarray (lm_head.weight included):
                                       # a dict, or a LazyWeights read on demand
    tokenizer: object | None = None    # CharTokenizer, BpeTokenizer (tokenizer.py) or None
    gelu: str = "erf"                  # "erf" (nanoGPT nn.GELU()) or "tanh" (GPT-2 gelu_new)
    source: str = ""                   # where it was loaded from (for messages)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.gelu not in GELU_KINDS:
            raise WeightsError(f"gelu must be one of {GELU_KINDS}, got {self.gelu!r}")

    @property
    def n_params(self) -> int:
        """Parameter count, counting a tied lm_head once (as nanoGPT does)."""
        shapes = _shapes(self.weights)
        n = sum(math.prod(s) for k, s in shapes.items() if k != "lm_head.weight")
        if not self.tied:
            n += math.prod(shapes["lm_head.weight"])
        return n

    @property
    def tied(self) -> bool:
        if isinstance(self.weights, LazyWeights):
            return self.weights.tied
        a, b = self.weights["lm_head.weight"], self.weights["transformer.wte.weight"]
        return a is b or np.array_equal(a, b)


def _shapes(weights) -> dict:
    if isinstance(weights, LazyWeights):
        return dict(weights.shapes)
    return {k: tuple(np.shape(w)) for k, w in weights.items()}


def bundled_path(name: str = "model.npz") -> Path:
    return BUNDLED_DIR / name


# ----------------------------------------------------------------------------- validation

def validate_weights(config: GPTConfig, weights: dict, source: str = "<weights>") -> dict:
    """Check names, shapes and values; return a new dict of float32 arrays (lm_head tied
    to wte when absent)."""
    if isinstance(weights, LazyWeights) and weights.config == config:
        return weights.load()      # checked names and shapes when built, values as read
    _check_names(config, weights, source)
    out = {name: _checked(name, weights[name], shape, source)
           for name, shape in config.weight_shapes().items() if name in weights}
    if "lm_head.weight" not in out:
        out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


def _check_names(config: GPTConfig, names, source: str) -> None:
    """Every expected weight named (``lm_head.weight`` may be left to the tie), no other."""
    expected = config.weight_shapes()
    unknown = sorted(set(names) - set(expected))
    if unknown:
        raise WeightsError(f"{source}: unknown weight {unknown[0]!r}"
                           + (f" (and {len(unknown) - 1} more: {unknown[1:4]})"
                              if len(unknown) > 1 else "")
                           + f" for config {_cfg_str(config)}")
    for name, shape in expected.items():
        if name not in names and name != "lm_head.weight":
            raise WeightsError(f"{source}: missing weight {name!r} (expected shape {shape})")


def _check_shape(name: str, shape, expected, source: str) -> None:
    if tuple(shape) != tuple(expected):
        raise WeightsError(f"{source}: weight {name!r} has shape {tuple(shape)}, "
                           f"expected {tuple(expected)}")


def _checked(name: str, w, shape, source: str) -> np.ndarray:
    """One weight as a contiguous float32 array, after checking its dtype (numeric), shape
    and values (finite)."""
    if not isinstance(w, np.ndarray):
        w = np.asarray(w)
    if w.dtype.kind not in "fiu":
        raise WeightsError(f"{source}: weight {name!r} has non-numeric dtype {w.dtype}")
    _check_shape(name, w.shape, shape, source)
    w = np.ascontiguousarray(w, dtype=np.float32)
    if not np.all(np.isfinite(w)):
        bad = np.argwhere(~np.isfinite(w))[0]
        raise WeightsError(f"{source}: weight {name!r} has a non-finite value "
                           f"({w[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
    return w


# ----------------------------------------------------------------------------- lazy weights

class LazyWeights(Mapping):
    """Weights under nanoGPT names, each read from its file only when asked for.

    ``shapes`` (every expected name, ``lm_head.weight`` included) is known from the file's
    header, and names and shapes are checked against the config when the mapping is built;
    a tensor's values (finite) are checked when it is read. Nothing is cached: every lookup
    reads the file again, so a caller keeps what it needs and drops the rest, and peak memory
    is the tensors it holds. ``lm_head.weight`` reads ``transformer.wte.weight`` when tied.
    """

    def __init__(self, config: GPTConfig, sources: dict, read, source: str, close=None):
        # sources: name -> (shape as stored, what `read` takes); read(what) -> ndarray in
        # nanoGPT's orientation
        _check_names(config, sources, source)
        expected = config.weight_shapes()
        for name, (shape, _) in sources.items():
            _check_shape(name, shape, expected[name], source)
        self.config, self.source = config, source
        self._sources, self._read, self._close = dict(sources), read, close
        self.tied = "lm_head.weight" not in sources
        self.shapes = {name: tuple(expected[name]) for name in expected}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.shapes:
            raise KeyError(name)
        if name == "lm_head.weight" and self.tied:
            name = "transformer.wte.weight"
        try:
            raw = self._read(self._sources[name][1])
        except CheckpointError as e:
            raise WeightsError(str(e)) from None
        return _checked(name, raw, self.shapes[name], self.source)

    def __iter__(self):
        return iter(self.shapes)

    def __len__(self) -> int:
        return len(self.shapes)

    def block(self, i: int) -> dict:
        """The tensors of transformer block ``i`` (read now), under their full names."""
        if not 0 <= i < self.config.n_layer:
            raise IndexError(f"block {i} of a {self.config.n_layer}-layer model")
        prefix = f"transformer.h.{i}."
        return {k: self[k] for k in self.shapes if k.startswith(prefix)}

    def load(self) -> dict:
        """Every weight, read now (one tensor at a time), as ``validate_weights`` returns
        them (a tied ``lm_head.weight`` is the same array as the embedding)."""
        out = {k: self[k] for k in self.shapes if not (k == "lm_head.weight" and self.tied)}
        out["lm_head.weight"] = out["transformer.wte.weight"] if self.tied \
            else out.pop("lm_head.weight")
        return out

    def close(self) -> None:
        if self._close is not None:
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"LazyWeights({self.source!r}, {len(self)} tensors)"


def _cfg_str(c: GPTConfig) -> str:
    return ",".join(f"{k}={v}" for k, v in c.to_dict().items())


# ----------------------------------------------------------------------------- npz

def save_npz(model: Model, path) -> Path:
    """Write ``model`` as our ``.npz`` (atomically: temp file in the same folder + rename).

    Entries: every weight under its name (``lm_head.weight`` omitted when tied), ``__config__``
    (GPTConfig JSON), ``__model__`` (JSON: gelu, meta) and ``__tokenizer__`` when present.
    The file is written as ``np.savez`` writes it, one entry at a time: weights held lazily
    are read, written and dropped in turn.
    """
    import zipfile
    path = Path(path)
    if isinstance(model.weights, LazyWeights):
        weights, tied = model.weights, model.weights.tied
    else:
        weights = validate_weights(model.config, model.weights, str(path))
        tied = model.tied
    names = [k for k in weights if not (k == "lm_head.weight" and tied)]
    extra = {"__config__": json.dumps(model.config.to_dict(), sort_keys=True),
             "__model__": json.dumps({"gelu": model.gelu, "meta": model.meta}, sort_keys=True)}
    if model.tokenizer is not None:
        extra["__tokenizer__"] = model.tokenizer.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, \
                zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in names + list(extra):
                arr = np.array(extra[name]) if name in extra else weights[name]
                with zf.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
                del arr
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


def load_npz(path, *, gelu: str | None = None, lazy: bool = False) -> Model:
    """Our ``.npz``. ``lazy``: the archive stays open and each weight is read from it when
    asked for (``LazyWeights``; names, shapes and dtypes come from the entries' headers)."""
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
    try:
        config, info, tok = _npz_entries(z, src)
        names = [k for k in z.files if not k.startswith("__")]
        if lazy:
            weights = _lazy_npz(z, names, config, src)
        else:
            with z:
                weights = validate_weights(config, {k: z[k] for k in names}, src)
    except BaseException as e:
        z.close()
        if isinstance(e, (OSError, ValueError, EOFError, zipfile.BadZipFile)) \
                and not isinstance(e, WeightsError):
            raise WeightsError(f"{src}: corrupt .npz ({type(e).__name__}: {e})") from None
        raise
    return Model(config, weights, tok, gelu or info.get("gelu", "erf"), src,
                 dict(info.get("meta", {})))


def _npz_entries(z, src: str):
    """(config, model info, tokenizer) from an npz's ``__`` entries, refusing unknown ones."""
    from .tokenizer import tokenizer_from_json
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
            tok = tokenizer_from_json(str(z["__tokenizer__"]))
        except ValueError as e:
            raise WeightsError(f"{src}: entry '__tokenizer__': {e}") from None
    for k in z.files:
        if k.startswith("__") and k not in ("__config__", "__model__", "__tokenizer__"):
            raise WeightsError(f"{src}: unknown entry {k!r}")
    return config, info, tok


def _lazy_npz(z, names, config: GPTConfig, src: str) -> LazyWeights:
    """``LazyWeights`` over an open npz: each entry's shape and dtype from its .npy header."""
    import zipfile
    fmt = np.lib.format
    sources = {}
    for name in names:
        with z.zip.open(name + ".npy") as m:
            version = fmt.read_magic(m)
            read_header = fmt.read_array_header_1_0 if version == (1, 0) \
                else fmt.read_array_header_2_0
            shape, _, dtype = read_header(m)
        if dtype.kind not in "fiu":
            raise WeightsError(f"{src}: weight {name!r} has non-numeric dtype {dtype}")
        sources[name] = (shape, name)

    def read(name):
        try:
            return z[name]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise WeightsError(f"{src}: entry {name!r} is corrupt ({type(e).__name__}: "
                               f"{e})") from None

    return LazyWeights(config, sources, read, src, close=z.close)


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


def load_hf_gpt2(folder, *, gelu: str | None = None, lazy: bool = False) -> Model:
    """A Hugging Face GPT-2 folder: config.json + model.safetensors (or pytorch_model.bin),
    and its GPT-2 BPE tokenizer when the folder has one. ``lazy``: the weights stay in the
    safetensors file (a ``LazyWeights``), read one tensor at a time when asked for; eager, they
    are still read one at a time (never the whole file in memory at once)."""
    from .tokenizer import TokenizerError, load_folder_tokenizer
    folder = Path(folder)
    config, gelu_kind, hf = _hf_config(folder)
    try:
        tok = load_folder_tokenizer(folder)
    except TokenizerError as e:
        raise WeightsError(str(e)) from None
    if tok is not None and tok.vocab_size > config.vocab_size:
        raise WeightsError(f"{folder}: the tokenizer has {tok.vocab_size} tokens, more than the "
                           f"model's vocab_size {config.vocab_size}")
    st, binf = folder / "model.safetensors", folder / "pytorch_model.bin"
    if st.exists():
        weights = open_hf_safetensors(st, config,
                                      tied=hf.get("tie_word_embeddings", True) is not False)
        if not lazy:
            with weights:
                weights = weights.load()
    elif binf.exists():
        weights = _load_hf_bin(binf, config, hf)
    else:
        raise WeightsError(f"{folder}: no model.safetensors or pytorch_model.bin")
    return Model(config, weights, tok, gelu or gelu_kind, str(folder), {})


def _hf_config(folder: Path):
    """(GPTConfig, gelu kind, config.json as a dict) of a GPT-2 folder, refusing what our
    GPT does not compute (another architecture, attention scaling, activation, n_inner)."""
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
    return config, acts[act], hf


def _hf_name(stored: str):
    """(nanoGPT name, transposed?) of a stored GPT-2 tensor name; None for the attention
    mask buffers that older GPT-2 files carry."""
    name = stored[len("transformer."):] if stored.startswith("transformer.") else stored
    if name.endswith((".attn.bias", ".attn.masked_bias")):
        return None
    if name == "lm_head.weight":
        return name, False
    # GPT-2's Conv1D stores (in, out); nanoGPT's Linear is (out, in)
    return "transformer." + name, name.endswith(_CONV1D)


_FLOATS = ("F64", "F32", "F16", "BF16")


def open_hf_safetensors(path, config: GPTConfig, *, tied: bool = True) -> LazyWeights:
    """A GPT-2 ``model.safetensors`` as ``LazyWeights``: the header is read and checked
    (layout, a float dtype for every weight, every name and shape against ``config``) and
    the file stays open; no tensor is read. ``tied=False`` (config.json's
    ``tie_word_embeddings``) requires an ``lm_head.weight`` in the file."""
    src = os.fspath(path)
    try:
        f = SafetensorsFile(src)
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    try:
        sources = {}
        for stored in f.names:
            mapped = _hf_name(stored)
            if mapped is None:
                continue
            name, transpose = mapped
            if name in sources:
                raise WeightsError(f"{src}: weight {name!r} is stored twice (as "
                                   f"{sources[name][1][0]!r} and {stored!r})")
            if f.dtype(stored) not in _FLOATS:
                raise WeightsError(f"{src}: weight {stored!r} is stored as {f.dtype(stored)}, "
                                   f"expected a float dtype ({', '.join(_FLOATS)})")
            shape = f.shape(stored)
            if transpose:
                if len(shape) != 2:
                    raise WeightsError(f"{src}: weight {stored!r} has shape {shape}, "
                                       "expected 2-D")
                shape = shape[::-1]
            sources[name] = (shape, (stored, transpose))
        if not tied and "lm_head.weight" not in sources:
            raise WeightsError(f"{src}: missing weight 'lm_head.weight' (config.json says the "
                               "embeddings are not tied)")

        def read(what):
            stored, transpose = what
            a = f.read(stored)
            return a.T if transpose else a

        return LazyWeights(config, sources, read, src, close=f.close)
    except BaseException:
        f.close()
        raise


def _load_hf_bin(path: Path, config: GPTConfig, hf: dict) -> dict:
    """A GPT-2 ``pytorch_model.bin`` (a pickle: read whole, through the restricted
    unpickler)."""
    src = str(path)
    try:
        tensors = read_torch_zip(path)
    except CheckpointError as e:
        raise WeightsError(str(e)) from None
    if not isinstance(tensors, dict):
        raise WeightsError(f"{src}: not a state dict")
    weights = {}
    for k, v in tensors.items():
        mapped = _hf_name(k) if isinstance(k, str) else None
        if mapped is None:
            continue
        name, transpose = mapped
        if transpose:
            if np.ndim(v) != 2:
                raise WeightsError(f"{src}: weight {k!r} has shape {np.shape(v)}, "
                                   "expected 2-D")
            v = v.T
        weights[name] = v
    if hf.get("tie_word_embeddings", True) is False and "lm_head.weight" not in weights:
        raise WeightsError(f"{src}: missing weight 'lm_head.weight' (config.json says the "
                           "embeddings are not tied)")
    return validate_weights(config, weights, src)


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

def load_model(spec="bundled", *, gelu: str | None = None, lazy: bool = False) -> Model:
    """Load a model from a spec (see the module docstring). ``gelu`` overrides the default
    GELU form of the format ("erf" for nanoGPT/bundled/npz/random, "tanh" for HF GPT-2).
    ``lazy``: a safetensors folder's weights are read on demand (``LazyWeights``)."""
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
        return load_hf_gpt2(p, gelu=gelu, lazy=lazy)
    if not p.exists():
        raise WeightsError(f"{s}: no such file or folder (expected 'bundled', 'random:...', an "
                           ".npz, a nanoGPT ckpt.pt or a Hugging Face GPT-2 folder)")
    if p.suffix == ".npz":
        return load_npz(p, gelu=gelu, lazy=lazy)
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
        return load_npz(p, gelu=gelu, lazy=lazy)
    raise WeightsError(f"{s}: unrecognised model file (expected .npz, ckpt.pt or a folder)")
