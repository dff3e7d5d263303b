"""Hugging Face GPT-2 folders: lazy safetensors reading, strict header checks, the folder's
own BPE tokenizer, and setup + prove + verify through the CLI with a text prompt.

The fixture ``data/tiny_gpt2_bpe`` (made by ``data/make_tiny_gpt2.py``, no torch) is a GPT-2
folder at toy size: 2 layers, d 8, 48-token byte-level BPE trained on a few lines of text.
"""
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from snarkgpt.model.float_forward import forward
from snarkgpt.model.loaders import (CheckpointError, SafetensorsFile, read_safetensors,
                                    write_safetensors)
from snarkgpt.model.weights import (LazyWeights, WeightsError, load_model, load_npz,
                                    open_hf_safetensors, save_npz)

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_gpt2_bpe"
ST = TINY / "model.safetensors"


def _copy(tmp_path, name="hf"):
    d = tmp_path / name
    shutil.copytree(TINY, d)
    return d


# ----------------------------------------------------------------------------- lazy weights

def test_lazy_matches_eager():
    eager = load_model(TINY)
    lazy = load_model(TINY, lazy=True)
    w = lazy.weights
    assert isinstance(w, LazyWeights) and isinstance(eager.weights, dict)
    assert list(w) == list(eager.config.weight_shapes()) and len(w) == len(eager.weights)
    assert w.shapes == {k: tuple(v.shape) for k, v in eager.weights.items()}
    for k in eager.weights:
        a = w[k]
        assert a.dtype == np.float32 and a.flags.c_contiguous
        assert np.array_equal(a, eager.weights[k]), k
    assert lazy.tied and eager.tied and lazy.n_params == eager.n_params
    assert lazy.tokenizer == eager.tokenizer and lazy.gelu == eager.gelu == "tanh"
    assert np.array_equal(forward(lazy, [1, 2, 3]), forward(eager, [1, 2, 3]))
    block = w.block(1)
    assert sorted(block) == sorted(k for k in w if k.startswith("transformer.h.1."))
    with pytest.raises(IndexError):
        w.block(2)
    with pytest.raises(KeyError):
        w["transformer.h.9.ln_1.weight"]
    w.close()


def test_lazy_orientation_and_stored_names():
    stored, _ = read_safetensors(ST)
    with load_model(TINY, lazy=True).weights as w:
        # Conv1D is stored (in, out); nanoGPT's Linear is (out, in)
        c = stored["transformer.h.0.attn.c_attn.weight"]
        assert c.shape == (8, 24) and w.shapes["transformer.h.0.attn.c_attn.weight"] == (24, 8)
        assert np.array_equal(w["transformer.h.0.attn.c_attn.weight"], c.T)
        assert np.array_equal(w["lm_head.weight"], stored["transformer.wte.weight"])
    with SafetensorsFile(ST) as f:             # the zero-copy view reads the same bytes
        name = "transformer.h.1.mlp.c_fc.weight"
        view = f.memmap(name)
        assert not view.flags.writeable and np.array_equal(view, f.read(name))
        assert f.shape(name) == (8, 32) and f.dtype(name) == "F32" and name in f
        del view


def test_lazy_reads_on_demand(tmp_path):
    """Opening reads the header only: a tensor's bad values surface when that tensor is read,
    and the others stay readable."""
    d = _copy(tmp_path)
    st = d / "model.safetensors"
    with SafetensorsFile(st) as f:
        _, _, begin, _ = f._info("transformer.h.1.ln_2.bias")
        start = f._start
    blob = bytearray(st.read_bytes())
    blob[start + begin:start + begin + 4] = np.float32(np.nan).tobytes()
    st.write_bytes(bytes(blob))
    w = load_model(d, lazy=True).weights
    assert w["transformer.h.0.ln_2.bias"].shape == (8,)
    with pytest.raises(WeightsError, match=r"h\.1\.ln_2\.bias' has a non-finite value"):
        w["transformer.h.1.ln_2.bias"]
    with pytest.raises(WeightsError, match="non-finite"):
        load_model(d)                  # the eager read checks every tensor
    w.close()


def test_eager_and_lazy_write_round_trip(tmp_path):
    """Our writer streams from a lazy mapping; the npz a key directory holds keeps the BPE."""
    m = load_model(TINY, lazy=True)
    out = tmp_path / "copy.safetensors"
    write_safetensors(out, {k: m.weights[k] for k in m.weights if k != "lm_head.weight"})
    back, _ = read_safetensors(out)
    assert np.array_equal(back["transformer.wte.weight"], m.weights["transformer.wte.weight"])
    save_npz(m, tmp_path / "m.npz")
    n = load_npz(tmp_path / "m.npz")
    assert n.tokenizer == m.tokenizer and n.tied
    for k in n.weights:
        assert np.array_equal(n.weights[k], m.weights[k])


def test_write_is_atomic(tmp_path):
    p = tmp_path / "w.safetensors"
    write_safetensors(p, {"a": np.ones(3, np.float32)})
    before = p.read_bytes()
    with pytest.raises(ValueError, match="unsupported dtype"):
        write_safetensors(p, {"a": np.ones(3, np.float32), "b": np.ones(2, np.complex64)})
    assert p.read_bytes() == before and [q.name for q in tmp_path.iterdir()] == ["w.safetensors"]


# ----------------------------------------------------------------------------- malformed files

def _header(path=ST):
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8:8 + n]), blob[8 + n:]


def _write(path, header, data, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)


def _edit(name, **fields):
    def f(header, data):
        header[name].update(fields)
        return header, data
    return f


NAME = "transformer.h.0.ln_1.weight"          # 8 floats: 32 bytes


def _first_two():
    header, _ = _header()
    order = sorted((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
    return order[0][1], order[1][1]


def _overlap(header, data):
    a, b = _first_two()
    header[b]["data_offsets"] = [x - 4 for x in header[b]["data_offsets"]]
    return header, data


def _hole(header, data):
    header.pop(_first_two()[0])
    return header, data


BAD = {
    "truncated in the data": (lambda h, d: (h, d[:-10]), "outside the"),
    "trailing bytes": (lambda h, d: (h, d + b"\0" * 8), "bytes after the last tensor"),
    "offsets past the end": (_edit(NAME, data_offsets=[10**9, 10**9 + 32]), "outside the"),
    "offsets reversed": (_edit(NAME, data_offsets=[64, 32]), "outside the"),
    "overlapping tensors": (_overlap, "overlap"),
    "hole between tensors": (_hole, "hole"),
    "wrong byte count for the shape": (_edit(NAME, shape=[9]),
                                       r"32 bytes for shape \(9,\) of F32 \(expected 36\)"),
    "unsupported dtype": (_edit(NAME, dtype="C64"), "unsupported dtype 'C64'"),
    "negative dimension": (_edit(NAME, shape=[-8]), "not a list of non-negative"),
    "boolean dimension": (_edit(NAME, shape=[True]), "not a list of non-negative"),
    "offsets not a pair": (_edit(NAME, data_offsets=[0]), "not a pair"),
    "extra field": (_edit(NAME, extra=1), "malformed header entry"),
    "metadata not strings": (lambda h, d: ({**h, "__metadata__": {"a": 1}}, d), "__metadata__"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_header_refused(tmp_path, case):
    edit, words = BAD[case]
    d = _copy(tmp_path)
    _write(d / "model.safetensors", *edit(*_header()))
    with pytest.raises(CheckpointError, match=words) as e:
        SafetensorsFile(d / "model.safetensors")
    assert "model.safetensors" in str(e.value)
    for lazy in (False, True):        # nothing is read from a file whose header is wrong
        with pytest.raises(WeightsError, match=words):
            load_model(d, lazy=lazy)


@pytest.mark.parametrize("raw, words", [
    (b"[1, 2]", "not a JSON object"),
    (b"{\"a\": ", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b'{"x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, '
     b'"x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', "names 'x' twice"),
])
def test_bad_header_json(tmp_path, raw, words):
    p = tmp_path / "bad.safetensors"
    _write(p, None, b"", raw_header=raw)
    with pytest.raises(CheckpointError, match=words):
        SafetensorsFile(p)


@pytest.mark.parametrize("cut", [0, 5, 8, 100])
def test_truncated_file(tmp_path, cut):
    p = tmp_path / "cut.safetensors"
    p.write_bytes(ST.read_bytes()[:cut])
    with pytest.raises(CheckpointError, match="truncated|header length"):
        SafetensorsFile(p)


def test_weights_of_the_wrong_kind(tmp_path):
    d = _copy(tmp_path)
    tensors, _ = read_safetensors(ST)
    bad = dict(tensors, **{NAME: tensors[NAME].astype(np.int32)})
    write_safetensors(d / "model.safetensors", bad)
    with pytest.raises(WeightsError, match=r"ln_1.weight' is stored as I32, expected a float"):
        load_model(d, lazy=True)
    bad = dict(tensors, **{NAME: np.ones(9, np.float32)})
    write_safetensors(d / "model.safetensors", bad)
    with pytest.raises(WeightsError, match=r"ln_1.weight' has shape \(9,\), expected \(8,\)"):
        load_model(d, lazy=True)
    bad = dict(tensors, **{"h.0.ln_1.weight": tensors[NAME]})
    write_safetensors(d / "model.safetensors", bad)
    with pytest.raises(WeightsError, match="stored twice"):
        load_model(d, lazy=True)
    bad = {k: v for k, v in tensors.items() if k != NAME}
    write_safetensors(d / "model.safetensors", bad)
    with pytest.raises(WeightsError, match="missing weight"):
        open_hf_safetensors(d / "model.safetensors", load_model(TINY).config)


def test_bf16_and_half_storage(tmp_path):
    d = _copy(tmp_path)
    tensors, _ = read_safetensors(ST)
    write_safetensors(d / "model.safetensors",
                      {k: v.astype(np.float16) for k, v in tensors.items()})
    h = load_model(d, lazy=True).weights
    assert np.allclose(h["transformer.wte.weight"], tensors["transformer.wte.weight"], atol=1e-3)
    # BF16: the writer has no bf16, so patch the header of an F16 file (same byte count)
    header, data = _header(d / "model.safetensors")
    header[NAME]["dtype"] = "BF16"
    _write(d / "model.safetensors", header, data)
    with SafetensorsFile(d / "model.safetensors") as f:
        assert f.dtype(NAME) == "BF16" and f.read(NAME).dtype == np.float32


# ----------------------------------------------------------------------------- reference reader

def test_agrees_with_the_safetensors_package(tmp_path):
    """Our writer's files read the same with the reference implementation, and the reverse;
    layouts we refuse, it refuses too."""
    stn = pytest.importorskip("safetensors.numpy")
    ours, _ = read_safetensors(ST)
    theirs = stn.load_file(str(ST))
    assert sorted(ours) == sorted(theirs)
    for k in ours:
        assert np.array_equal(ours[k], theirs[k])
    p = tmp_path / "ref.safetensors"
    stn.save_file({k: v.astype(np.float16) for k, v in theirs.items()}, str(p))
    back, _ = read_safetensors(p)
    assert all(np.array_equal(back[k], theirs[k].astype(np.float16)) for k in theirs)
    for case in ("overlapping tensors", "hole between tensors", "trailing bytes",
                 "offsets past the end"):
        edit, _ = BAD[case]
        q = tmp_path / "bad.safetensors"
        _write(q, *edit(*_header()))
        with pytest.raises(Exception):
            stn.load_file(str(q))


# ----------------------------------------------------------------------------- its tokenizer

def test_folder_tokenizer_checks(tmp_path):
    d = _copy(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["vocab_size"] = 40
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="48 tokens, more than the model's vocab_size 40"):
        load_model(d)
    d2 = _copy(tmp_path, "broken")
    (d2 / "tokenizer.json").write_text("{not json")
    with pytest.raises(WeightsError, match="tokenizer.json is not a tokenizer"):
        load_model(d2)
    d3 = _copy(tmp_path, "half")
    (d3 / "tokenizer.json").unlink()
    (d3 / "vocab.json").write_text("{}")
    with pytest.raises(WeightsError, match="has vocab.json but not merges.txt"):
        load_model(d3)
    (d3 / "vocab.json").unlink()
    assert load_model(d3).tokenizer is None         # token ids only, as before


# ----------------------------------------------------------------------------- end to end

def test_cli_setup_prove_verify_with_text(tmp_path, capsys):
    """`snarkgpt setup --model FOLDER`, then prove a text prompt and verify: the folder's BPE
    encodes the prompt, the card carries the tokenizer, the output is shown as text."""
    from snarkgpt.cli import main
    from snarkgpt.model.keyspec import tokenizer_digest
    from snarkgpt.model.tokenizer import load_folder_tokenizer
    keys, proof = tmp_path / "keys", tmp_path / "gen.sgp"
    assert main(["setup", "--model", str(TINY), "--out", str(keys), "--max-tokens", "8",
                 "--json"]) == 0
    card = json.loads((keys / "card.json").read_text())
    tok = load_folder_tokenizer(TINY)
    assert card["tokenizer"] == tok.card_value()
    assert tokenizer_digest(card["tokenizer"]) == tok.digest()
    prompt = "first citizen:"
    capsys.readouterr()
    assert main(["prove", "--keys", str(keys), "--prompt", prompt, "--max-new-tokens", "2",
                 "--out", str(proof), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["prompt_tokens"] == tok.encode(prompt)
    assert main(["verify", "--keys", str(keys), "--proof", str(proof), "--json"]) == 0
    ver = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ver["valid"] is True and ver["prompt_tokens"] == tok.encode(prompt)
    assert len(ver["output_tokens"]) == 2 and ver["text"] == tok.decode(ver["output_tokens"])
    # a character the vocabulary lacks: a clear error, exit 2, nothing written
    code = main(["prove", "--keys", str(keys), "--prompt", "all: Zed", "--max-new-tokens", "1",
                 "--out", str(tmp_path / "no.sgp")])
    err = capsys.readouterr().err
    assert code == 2 and "'Z'" in err and "position 5" in err
    assert not (tmp_path / "no.sgp").exists()


# ----------------------------------------------------------------------------- transformers

@pytest.mark.slow
def test_matches_transformers_state_dict(tmp_path):
    """A GPT-2-small-sized model saved by transformers loads (lazily) with the same tensors."""
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config())
    model.save_pretrained(tmp_path)               # safetensors, lm_head left to the tie
    sd = model.state_dict()
    m = load_model(tmp_path, lazy=True)
    w = m.weights
    assert m.config.n_embd == 768 and m.config.n_layer == 12 and m.tied
    for name in ("transformer.wte.weight", "transformer.h.3.ln_1.weight",
                 "transformer.h.11.mlp.c_proj.bias"):
        assert np.array_equal(w[name], sd[name].numpy())
    for name in ("transformer.h.0.attn.c_attn.weight", "transformer.h.7.mlp.c_fc.weight"):
        assert np.array_equal(w[name], sd[name].numpy().T)      # Conv1D (in, out)
    assert np.array_equal(w["lm_head.weight"], sd["lm_head.weight"].numpy())
