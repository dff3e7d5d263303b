"""Weights: every format in, npz out, and every way a weights file can be wrong."""
import json
import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from snarkgpt.model.config import GPTConfig
from snarkgpt.model.float_forward import forward
from snarkgpt.model.loaders import (CheckpointError, UnsafePickleError, bf16_to_f32,
                                    read_safetensors, read_torch_zip, write_safetensors)
from snarkgpt.model.weights import (Model, WeightsError, bundled_path, load_model, load_npz,
                                    random_model, save_npz, validate_weights)

DATA = Path(__file__).parent / "data"
CFG = GPTConfig(n_layer=1, n_head=2, n_embd=8, block_size=8, vocab_size=13)
SMALL = "random:n_layer=1,n_head=2,n_embd=8,block_size=8,vocab_size=13,seed=5"


def small():
    return load_model(SMALL)


# ----------------------------------------------------------------------------- random / npz

def test_random_is_deterministic_and_sane():
    a, b, c = small(), small(), load_model(SMALL.replace("seed=5", "seed=6"))
    assert a.config == CFG
    for k in a.weights:
        assert a.weights[k].dtype == np.float32
        assert np.array_equal(a.weights[k], b.weights[k])
    assert not np.array_equal(a.weights["transformer.wte.weight"],
                              c.weights["transformer.wte.weight"])
    assert a.weights["lm_head.weight"] is a.weights["transformer.wte.weight"]   # tied
    std = a.weights["transformer.h.0.mlp.c_fc.weight"].std()
    assert 0.01 < std < 0.03                                                       # nanoGPT init
    assert np.all(a.weights["transformer.h.0.ln_1.weight"] == 1)
    m = load_model("random:n_layer=4,n_head=4,n_embd=64,block_size=64,vocab_size=65,seed=0")
    logits = forward(m, list(range(64)))
    assert np.all(np.isfinite(logits)) and np.abs(logits).max() < 10
    assert m.tokenizer is not None and m.tokenizer.vocab_size == 65
    assert load_model(SMALL + ",gelu=tanh").gelu == "tanh"


@pytest.mark.parametrize("spec", ["random:n_layer=1,n_head=3,n_embd=8,block_size=8,vocab_size=5",
                                  "random:n_layer=x", "random:n_layer=1,seed=a",
                                  "random:n_layer=1,n_head=1,n_embd=8,block_size=8,"
                                  "vocab_size=5,gelu=relu", "random:colour=3"])
def test_bad_random_specs(spec):
    with pytest.raises(WeightsError):
        load_model(spec)


def test_npz_round_trip(tmp_path):
    m = small()
    m.meta = {"note": "x"}
    p = save_npz(m, tmp_path / "m.npz")
    with np.load(p) as z:
        assert "lm_head.weight" not in z.files                 # tied: stored once
        assert json.loads(str(z["__config__"]))["n_embd"] == 8
    r = load_model(p)
    assert r.config == m.config and r.gelu == "erf" and r.meta == {"note": "x"}
    assert r.tokenizer is None
    for k in m.weights:
        assert np.array_equal(r.weights[k], m.weights[k])
    assert np.array_equal(forward(r, [1, 2, 3]), forward(m, [1, 2, 3]))
    # untied lm_head is stored, gelu flag and tokenizer survive
    m.weights = dict(m.weights, **{"lm_head.weight": m.weights["lm_head.weight"] * 2})
    m.gelu = "tanh"
    from snarkgpt.model.tokenizer import CharTokenizer
    m.tokenizer = CharTokenizer("abcdefghijklm")
    save_npz(m, p)                                            # overwrite in place
    r = load_npz(p)
    assert not r.tied and r.gelu == "tanh" and r.tokenizer == m.tokenizer
    assert np.array_equal(r.weights["lm_head.weight"], m.weights["lm_head.weight"])
    assert sorted(os.listdir(tmp_path)) == ["m.npz"]          # no temp file left behind


def test_save_npz_is_atomic_on_failure(tmp_path):
    m = small()
    p = save_npz(m, tmp_path / "m.npz")
    before = p.read_bytes()
    bad = Model(m.config, dict(m.weights))
    bad.weights["transformer.wpe.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(WeightsError):
        save_npz(bad, p)
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["m.npz"]


def test_lazy_npz(tmp_path):
    """A key directory's npz read lazily: same weights, each entry read when asked for."""
    from snarkgpt.model.weights import LazyWeights
    m = small()
    p = save_npz(m, tmp_path / "m.npz")
    with load_model(p, lazy=True).weights as w:
        assert isinstance(w, LazyWeights) and w.tied and sorted(w) == sorted(m.weights)
        assert w.shapes == {k: v.shape for k, v in m.weights.items()}
        for k in m.weights:
            assert np.array_equal(w[k], m.weights[k])
        r = Model(m.config, w)
        assert r.n_params == m.n_params
        save_npz(r, tmp_path / "again.npz")                    # streams from the lazy one
    assert load_npz(tmp_path / "again.npz").weights.keys() == m.weights.keys()


@pytest.mark.parametrize("edit, words", [
    (lambda w: w.pop("transformer.h.0.mlp.c_fc.weight"), "missing weight"),
    (lambda w: w.update({"transformer.h.0.attn.c_attn.weight": np.zeros((8, 24), np.float32)}),
     r"has shape \(8, 24\), expected \(24, 8\)"),
    (lambda w: w.update({"transformer.h.1.ln_1.weight": np.ones(8, np.float32)}),
     "unknown weight"),
    (lambda w: w.update({"transformer.wpe.weight": np.array(["x"] * 64).reshape(8, 8)}),
     "non-numeric dtype"),
])
def test_lazy_npz_refuses_at_open(tmp_path, edit, words):
    w = _base()
    edit(w)
    with pytest.raises(WeightsError, match=words):
        load_model(_raw_npz(tmp_path / "bad.npz", w), lazy=True)


def _raw_npz(path, weights, config=CFG, extra=None):
    arrays = dict(weights)
    if config is not None:
        arrays["__config__"] = np.array(json.dumps(config.to_dict()))
    arrays.update(extra or {})
    np.savez(path, **arrays)
    return path


def _base():
    return {k: v for k, v in small().weights.items() if k != "lm_head.weight"}


def test_npz_missing_key(tmp_path):
    w = _base()
    del w["transformer.h.0.mlp.c_fc.weight"]
    with pytest.raises(WeightsError, match=r"bad\.npz.*missing weight "
                                           r"'transformer\.h\.0\.mlp\.c_fc\.weight'"):
        load_model(_raw_npz(tmp_path / "bad.npz", w))


def test_npz_wrong_shape(tmp_path):
    w = _base()
    w["transformer.h.0.attn.c_attn.weight"] = np.zeros((8, 24), np.float32)   # transposed
    with pytest.raises(WeightsError, match=r"c_attn\.weight' has shape \(8, 24\), expected "
                                           r"\(24, 8\)"):
        load_model(_raw_npz(tmp_path / "bad.npz", w))


def test_npz_unknown_key(tmp_path):
    w = _base()
    w["transformer.h.1.ln_1.weight"] = np.ones(8, np.float32)
    with pytest.raises(WeightsError, match=r"unknown weight 'transformer\.h\.1\.ln_1\.weight'"):
        load_model(_raw_npz(tmp_path / "bad.npz", w))
    with pytest.raises(WeightsError, match="unknown entry '__evil__'"):
        load_model(_raw_npz(tmp_path / "bad2.npz", _base(), extra={"__evil__": np.array(1)}))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_npz_non_finite(tmp_path, value):
    w = _base()
    w["transformer.wpe.weight"][2, 3] = value
    with pytest.raises(WeightsError, match=r"'transformer\.wpe\.weight' has a non-finite value "
                                           r".*\(2, 3\)"):
        load_model(_raw_npz(tmp_path / "bad.npz", w))


def test_npz_missing_or_bad_config(tmp_path):
    with pytest.raises(WeightsError, match="__config__"):
        load_model(_raw_npz(tmp_path / "a.npz", _base(), config=None))
    with pytest.raises(WeightsError, match="__config__"):
        load_model(_raw_npz(tmp_path / "b.npz", _base(), config=None,
                            extra={"__config__": np.array("{not json")}))
    with pytest.raises(WeightsError, match="__config__"):
        load_model(_raw_npz(tmp_path / "c.npz", _base(), config=None,
                            extra={"__config__": np.array('{"n_layer": 1, "colour": 2}')}))
    w = _base()
    w["transformer.wte.weight"] = np.array([["a"] * 8] * 13)
    with pytest.raises(WeightsError, match="non-numeric"):
        load_model(_raw_npz(tmp_path / "d.npz", w))


def test_npz_truncated_and_corrupt(tmp_path):
    p = save_npz(small(), tmp_path / "m.npz")
    blob = p.read_bytes()
    for i, cut in enumerate([len(blob) // 2, 100, 10, 0]):
        q = tmp_path / f"t{i}.npz"
        q.write_bytes(blob[:cut])
        with pytest.raises(WeightsError, match=f"t{i}.npz"):
            load_npz(q)
    q = tmp_path / "flip.npz"                                   # a flipped data byte: CRC error
    b = bytearray(blob)
    b[len(b) // 3] ^= 0xFF
    q.write_bytes(bytes(b))
    with pytest.raises(WeightsError):
        load_npz(q)
    q = tmp_path / "single.npz"
    np.save(tmp_path / "single.npy", np.zeros(3))
    shutil.move(tmp_path / "single.npy", q)
    with pytest.raises(WeightsError):
        load_npz(q)
    with pytest.raises(WeightsError, match="no such file"):
        load_model(tmp_path / "absent.npz")


def test_pickled_object_arrays_refused(tmp_path):
    p = tmp_path / "obj.npz"
    w = _base()
    np.savez(p, __config__=np.array(json.dumps(CFG.to_dict())),
             **{**w, "transformer.wpe.weight": np.array([object()] * 3, dtype=object)})
    with pytest.raises(WeightsError):
        load_npz(p)


def test_validate_weights_direct():
    w = _base()
    out = validate_weights(CFG, w, "src")
    assert out["lm_head.weight"] is out["transformer.wte.weight"]
    w64 = {k: v.astype(np.float64) for k, v in w.items()}
    assert validate_weights(CFG, w64)["transformer.wpe.weight"].dtype == np.float32


# ----------------------------------------------------------------------------- bundled

@pytest.mark.skipif(not bundled_path().exists(), reason="bundled model not built")
def test_bundled():
    m = load_model("bundled")
    assert m.config == GPTConfig()                 # 4/4/64/64/65, no bias
    assert m.gelu == "erf" and m.tokenizer.vocab_size == 65 and m.tied
    assert 150_000 < m.n_params < 250_000
    meta = json.loads(bundled_path("meta.json").read_text())
    assert meta["val_loss"] == m.meta["val_loss"]
    assert bundled_path().stat().st_size < 2 * 1024 * 1024


# ----------------------------------------------------------------------------- nanoGPT ckpt

def test_tiny_ckpt_loads_without_torch_pickle_globals():
    m = load_model(DATA / "tiny_ckpt.pt")
    assert m.config == GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=16, vocab_size=65,
                                 bias=True)
    assert m.gelu == "erf" and m.meta["iter_num"] == 1
    assert m.meta["best_val_loss"] == pytest.approx(4.17, abs=1e-5)
    raw = read_torch_zip(DATA / "tiny_ckpt.pt")
    assert any(k.startswith("_orig_mod.") for k in raw["model"])
    assert "_orig_mod.transformer.h.0.attn.bias" in raw["model"]   # mask buffer, dropped
    assert "transformer.h.0.attn.bias" not in m.weights


def _write_torch_zip(path, payload: bytes, storages=None):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/byteorder", "little")
        for k, b in (storages or {}).items():
            zf.writestr(f"archive/data/{k}", b)
    return path


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func", ["system", "eval", "exec", "import"])
def test_forbidden_global_refused_without_executing(tmp_path, func):
    marker = tmp_path / "pwned"
    target = {"system": os.system, "eval": eval, "exec": exec, "import": __import__}[func]
    arg = f"touch {marker}" if func == "system" else f"open({str(marker)!r}, 'w').close()"
    payload = pickle.dumps({"model": _Evil(target, arg) if func != "import" else
                            _Evil(target, "os"), "model_args": {}}, protocol=2)
    p = _write_torch_zip(tmp_path / "evil.pt", payload)
    with pytest.raises(WeightsError, match="not allowed") as ei:
        load_model(p)
    assert "evil.pt" in str(ei.value)
    assert not marker.exists()
    with pytest.raises(UnsafePickleError):
        read_torch_zip(p)


def test_forbidden_storage_type_and_persistent_id(tmp_path):
    # a persistent id that is not a ('storage', ...) tuple
    payload = b"\x80\x02X\x04\x00\x00\x00evilQ."          # BINPERSID on the string 'evil'
    with pytest.raises(UnsafePickleError, match="persistent id"):
        read_torch_zip(_write_torch_zip(tmp_path / "a.pt", payload))


def _copy_zip(src, dst, edit):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w") as zo:
        for info in zi.infolist():
            data = edit(info.filename, zi.read(info.filename))
            if data is not None:
                zo.writestr(info.filename, data)
    return dst


def test_ckpt_truncated_and_corrupt(tmp_path):
    src = DATA / "tiny_ckpt.pt"
    blob = src.read_bytes()
    for cut in (len(blob) // 2, 1000, 3):
        q = tmp_path / f"cut{cut}.pt"
        q.write_bytes(blob[:cut])
        with pytest.raises(WeightsError, match=f"cut{cut}.pt"):
            load_model(q)
    short = _copy_zip(src, tmp_path / "short.pt",
                      lambda n, d: d[: len(d) // 2] if "/data/" in n else d)
    with pytest.raises(WeightsError, match="storage .* holds"):
        load_model(short)
    missing = _copy_zip(src, tmp_path / "missing.pt",
                        lambda n, d: None if n.endswith("/data/0") else d)
    with pytest.raises(WeightsError, match="missing"):
        load_model(missing)
    badpkl = _copy_zip(src, tmp_path / "badpkl.pt",
                       lambda n, d: d[: len(d) // 2] if n.endswith("data.pkl") else d)
    with pytest.raises(WeightsError, match="badpkl.pt"):
        load_model(badpkl)
    notckpt = _write_torch_zip(tmp_path / "list.pt", pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(WeightsError, match="not a nanoGPT checkpoint"):
        load_model(notckpt)


def test_ckpt_bad_model_args(tmp_path):
    payload = pickle.dumps({"model": {}, "model_args": {"n_layer": 1}}, protocol=2)
    with pytest.raises(WeightsError, match="lacks"):
        load_model(_write_torch_zip(tmp_path / "args.pt", payload))
    payload = pickle.dumps({"model": {}, "model_args": dict(
        n_layer=1, n_head=1, n_embd=4, block_size=4, vocab_size=5, bias=False)}, protocol=2)
    with pytest.raises(WeightsError, match="missing weight"):
        load_model(_write_torch_zip(tmp_path / "empty.pt", payload))


# ----------------------------------------------------------------------------- safetensors

def test_hf_folder_variants(tmp_path):
    ref = load_model(DATA / "tiny_gpt2")
    tensors, _ = read_safetensors(DATA / "tiny_gpt2" / "model.safetensors")
    d = tmp_path / "noprefix"
    d.mkdir()
    shutil.copy(DATA / "tiny_gpt2" / "config.json", d)
    write_safetensors(d / "model.safetensors",
                      {k.removeprefix("transformer."): v for k, v in tensors.items()})
    m = load_model(d)
    for k in ref.weights:
        assert np.array_equal(m.weights[k], ref.weights[k])
    # half precision storage
    write_safetensors(d / "model.safetensors", {k: v.astype(np.float16)
                                                for k, v in tensors.items()})
    h = load_model(d)
    assert np.abs(forward(h, [1, 2, 3]) - forward(ref, [1, 2, 3])).max() < 0.05
    assert ref.weights["transformer.h.0.attn.c_attn.weight"].shape == (48, 16)  # (out, in)


def test_bf16():
    x = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
    bits = (x.view(np.uint32) >> 16).astype(np.uint16)
    assert np.array_equal(bf16_to_f32(bits), x)


def _hf_copy(tmp_path):
    d = tmp_path / "hf"
    shutil.copytree(DATA / "tiny_gpt2", d)
    return d


def test_safetensors_truncated_and_corrupt(tmp_path):
    d = _hf_copy(tmp_path)
    st = d / "model.safetensors"
    blob = st.read_bytes()
    for cut in (len(blob) - 10, 200, 5):
        st.write_bytes(blob[:cut])
        with pytest.raises(WeightsError, match="model.safetensors"):
            load_model(d)
    st.write_bytes(struct.pack("<Q", 10**12) + blob[8:])
    with pytest.raises(WeightsError, match="header length"):
        load_model(d)
    (hlen,) = struct.unpack("<Q", blob[:8])
    st.write_bytes(blob[:8] + b"{" + blob[9:])                 # break the JSON
    st.write_bytes(blob[:8] + b"[" + blob[9:8 + hlen] + blob[8 + hlen:])
    with pytest.raises(WeightsError, match="JSON"):
        load_model(d)
    header = json.loads(blob[8:8 + hlen])
    name = "transformer.h.0.ln_1.weight"
    header[name]["shape"] = [17]
    h = json.dumps(header).encode()
    st.write_bytes(struct.pack("<Q", len(h)) + h + blob[8 + hlen:])
    with pytest.raises(WeightsError, match="ln_1.weight"):
        load_model(d)
    header[name]["shape"], header[name]["dtype"] = [16], "C64"
    h = json.dumps(header).encode()
    st.write_bytes(struct.pack("<Q", len(h)) + h + blob[8 + hlen:])
    with pytest.raises(WeightsError, match="unsupported dtype"):
        load_model(d)


def test_hf_bad_folders(tmp_path):
    d = _hf_copy(tmp_path)
    (d / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="no model.safetensors"):
        load_model(d)
    d2 = _hf_copy(tmp_path / "x")
    (d2 / "config.json").unlink()
    with pytest.raises(WeightsError, match="config.json"):
        load_model(d2)
    d3 = _hf_copy(tmp_path / "y")
    cfg = json.loads((d3 / "config.json").read_text())
    cfg["activation_function"] = "relu"
    (d3 / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="activation_function"):
        load_model(d3)
    d4 = _hf_copy(tmp_path / "z")
    tensors, _ = read_safetensors(d4 / "model.safetensors")
    tensors["transformer.h.0.mlp.c_fc.weight"] = tensors["transformer.h.0.mlp.c_fc.weight"].T
    write_safetensors(d4 / "model.safetensors", tensors)
    with pytest.raises(WeightsError, match="c_fc.weight' has shape"):
        load_model(d4)
    with pytest.raises(WeightsError, match="no such file or folder"):
        load_model(tmp_path / "nothing")


def test_unrecognised_file(tmp_path):
    p = tmp_path / "weights.txt"
    p.write_text("hello")
    with pytest.raises(WeightsError, match="unrecognised"):
        load_model(p)
    with pytest.raises(CheckpointError):
        read_torch_zip(p)


# ----------------------------------------------------------------------------- hand-made pickles

def _S(x):
    return b"X" + struct.pack("<I", len(x)) + x.encode()


def _I(n):
    return b"J" + struct.pack("<i", n)


def _tensor_pickle(size, stride, offset=0, storage="FloatStorage", numel=4):
    pid = (b"(" + _S("storage") + f"ctorch\n{storage}\n".encode() + _S("0") + _S("cpu")
           + _I(numel) + b"tQ")
    tup = lambda xs: b"(" + b"".join(_I(x) for x in xs) + b"t"  # noqa: E731
    args = (b"(" + pid + _I(offset) + tup(size) + tup(stride) + b"\x89"
            + b"ccollections\nOrderedDict\n)R" + b"t")
    return b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R."


def test_rebuild_tensor_strides(tmp_path):
    data = np.arange(4, dtype="<f4").tobytes()
    p = _write_torch_zip(tmp_path / "t.pt", _tensor_pickle((2,), (2,), offset=1), {"0": data})
    assert np.array_equal(read_torch_zip(p), np.array([1.0, 3.0], np.float32))
    p = _write_torch_zip(tmp_path / "t2.pt", _tensor_pickle((2, 2), (1, 2)), {"0": data})
    assert np.array_equal(read_torch_zip(p), np.arange(4, dtype=np.float32).reshape(2, 2).T)
    half = np.array([1.5, -2, 0, 4], "<f2").tobytes()
    p = _write_torch_zip(tmp_path / "t3.pt", _tensor_pickle((4,), (1,), storage="HalfStorage"),
                         {"0": half})
    assert np.array_equal(read_torch_zip(p), np.array([1.5, -2, 0, 4], np.float16))


def test_tensor_past_its_storage_refused(tmp_path):
    data = np.arange(4, dtype="<f4").tobytes()
    p = _write_torch_zip(tmp_path / "t.pt", _tensor_pickle((100,), (1,)), {"0": data})
    with pytest.raises(CheckpointError, match="runs past its storage"):
        read_torch_zip(p)
    p = _write_torch_zip(tmp_path / "t2.pt", _tensor_pickle((1 << 20, 1 << 20), (0, 0)),
                         {"0": data})
    with pytest.raises(CheckpointError, match="larger than its storage"):
        read_torch_zip(p)
    p = _write_torch_zip(tmp_path / "t3.pt", _tensor_pickle((4,), (1,), storage="ObjStorage"),
                         {"0": data})
    with pytest.raises(UnsafePickleError, match="torch.ObjStorage"):
        read_torch_zip(p)


def test_pickle_cannot_modify_allowed_objects(tmp_path):
    for target in (b"ctorch._utils\n_rebuild_tensor_v2\n", b"ctorch\nFloatStorage\n",
                   b"ctorch\nfloat32\n"):
        payload = b"\x80\x02" + target + b"}" + _S("dtype") + _S("O") + b"sb."
        with pytest.raises(UnsafePickleError, match="set the state"):
            read_torch_zip(_write_torch_zip(tmp_path / "b.pt", payload))
    # the real loader still works afterwards
    assert load_model(DATA / "tiny_ckpt.pt").config.n_embd == 16
