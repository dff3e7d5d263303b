"""Fixed weights in wide rows (gadgets/matmul.py, "Wide rows") in the model circuit: setup
records the width in the card and binds it in the key, the prover rebuilds the same
circuit, proofs verify, a broken witness is refused by the mock prover; the planner picks a
width only where it lowers the estimated cost."""
import json
import os

import pytest

from snarkgpt.model import keys
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.segment_plan import (BudgetError, best_width, estimate_bytes,
                                          plan_segments, segment_rows)
from snarkgpt.model.segments import Segment, split

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
L = 4
quiet = dict(progress=lambda *a: None)
GPT2_BLOCKS = GPTConfig(n_layer=3, n_head=12, n_embd=768, block_size=1024, vocab_size=50257)
BASE = GPTConfig(n_layer=4, n_head=4, n_embd=64, block_size=64, vocab_size=65)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("wide") / "keys")
    card = keys.setup(MODEL, out, max_tokens=L, layers_per_segment=1, weight_width=3, **quiet)
    prover = keys.Prover(out, keep_keys=False, **quiet)
    st = prover.generate([1, 2], 2)
    return dict(dir=out, card=card, prover=prover, st=st, proof=prover.prove(st))


def test_width_recorded_bound_and_proofs_verify(wide):
    card, vk = keys.load_verifier(wide["dir"])
    assert card["weight_width"] == 3 and json.loads(vk.statement)["weight_width"] == 3
    assert keys.rejection(vk, wide["st"], wide["proof"]) is None
    # every segment's fixed weights lie in the wide columns, none in the narrow slots
    names = [c.name for v in vk.vks for c in v.layout.desc.fixed]
    assert any(n.endswith("matmul.ww2") for n in names)
    assert not any(n.endswith("matmul.w0") for n in names)


def test_card_with_another_width_is_refused(wide, tmp_path):
    import shutil
    bad = str(tmp_path / "bad")
    shutil.copytree(wide["dir"], bad)
    path = os.path.join(bad, keys.CARD)
    for edit in (4, None):
        card = json.load(open(path))
        if edit is None:
            del card["weight_width"]
        else:
            card["weight_width"] = edit
        json.dump(card, open(path, "w"))
        with pytest.raises(keys.KeyDirError, match="weight_width"):
            keys.load_verifier(bad)


def test_mock_prover_refuses_a_broken_wide_row(wide):
    prover = wide["prover"]
    prover.mock_check(wide["st"])

    def tamper(seg, asg):
        if seg.index == 1:
            col = next(c for c in asg.cs.advice_columns if c.name.endswith("matmul.accw"))
            asg.advice[col.index][1] = asg.advice[col.index][0]
    with pytest.raises(keys.SegmentFailure, match=r"segment 1 \(h\.1\), op h\.1\.attn\.qkv"):
        prover.mock_check(wide["st"], tamper=tamper)


def test_auto_keeps_narrow_rows_where_tables_set_k(tmp_path):
    card = keys.setup(MODEL, str(tmp_path / "k"), max_tokens=L, **quiet)
    assert "weight_width" not in card
    assert best_width(BASE, 63, split(4, 4)) is None
    with pytest.raises(keys.KeyDirError, match="weight width"):
        keys.setup(MODEL, str(tmp_path / "x"), max_tokens=L, weight_width=0, **quiet)
    assert not (tmp_path / "x").exists()


def test_gpt2_width_block_estimate():
    """One GPT-2-width block (T = 15): 1,775,424 narrow rows (k = 21, over 24 GB), 55,296 in
    rows of 128 weights (k = 16, the tables' floor), estimated under 12 GiB."""
    mid = Segment(1, 3, 1, 2)
    assert segment_rows(GPT2_BLOCKS, 15, mid) == 1_775_424
    assert segment_rows(GPT2_BLOCKS, 15, mid, 128) == 55_296
    assert best_width(GPT2_BLOCKS, 15, [mid]) == 128
    assert estimate_bytes(GPT2_BLOCKS, 15, mid) > 24 << 30
    assert estimate_bytes(GPT2_BLOCKS, 15, mid, weight_width=128) < 12 << 30
    with pytest.raises(ValueError, match="weight width"):
        segment_rows(GPT2_BLOCKS, 15, mid, 0)
    # the head (lm_head 768 x 50257: 754K rows of section C.r) and the embedding (its table:
    # 38.6M rows) go into vocabulary chunks of the blocks' k
    segs = plan_segments(GPT2_BLOCKS, 16, memory_budget="12G", progress=lambda *a: None)
    assert segs[0].role == "embed" and segs[-1].role == "head"
    with pytest.raises(BudgetError, match="too small"):
        plan_segments(GPT2_BLOCKS, 16, memory_budget="1G", progress=lambda *a: None)
    assert best_width(GPT2_BLOCKS, 15, split(3, 1)) is not None


def test_unsplit_committed_weights_in_wide_rows(tmp_path):
    """One circuit (no segments), weights in committed columns, wide rows of 2: the proof
    verifies and another statement's proof does not."""
    out = str(tmp_path / "k")
    card = keys.setup(MODEL, out, max_tokens=L, weight_width=2, weights="committed", **quiet)
    assert card["weight_width"] == 2 and "segments" not in card
    prover = keys.Prover(out, **quiet)
    st = prover.generate([1, 2], 2)
    proof = prover.prove(st)
    _, vk = keys.load_verifier(out)
    assert keys.rejection(vk, st, proof) is None
    other = prover.generate([2, 1], 2)
    assert other != st and keys.rejection(vk, other, proof) is not None


def test_row_model_counts_the_gelu_bank():
    """With wide weight rows and enough lanes, the GELU's bank (one row per hidden element,
    4 T d per block) and the heads' gathers set a segment's height, as in a GPT-2 segment of
    3 blocks at W = 256 (planned at k = 17, built at k = 18 before this term was counted):
    the row model gives the height the circuit's first pass lays out, region for region."""
    import warnings
    from snarkgpt.model.circuit import build
    from snarkgpt.model.quantize import calibrate, quantize_model
    from snarkgpt.model.weights import load_model
    from snarkgpt.plonk.srs import InsecureSetupWarning
    model = load_model("random:n_layer=2,n_head=2,n_embd=64,block_size=8,vocab_size=16")
    cfg, L, W, lanes = model.config, 6, 64, 4
    settings, _ = calibrate(model, max_tokens=L)
    qmodel = quantize_model(model, settings)
    seg = [s for s in split(2, 2, vocab=16, embed_chunk=16, head_chunk=16) if not s.chunk][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSetupWarning)
        _, _, asg = build(keys.keygen_circuit(qmodel, settings, L, mm_lanes=lanes, segment=seg,
                                              weight_width=W), first_pass_only=True)
    top = max(r.start + r.height for r in asg.regions)
    gelu = 2 * (L - 1) * 4 * 64
    assert top == gelu
    assert segment_rows(cfg, L - 1, seg, W, lanes=lanes, margin=False) == top
    # the margin counts the softmax at 2 T^2 a head: never below the built rows
    assert segment_rows(cfg, L - 1, seg, W, lanes=lanes) >= top


def test_gpt2_small_split_counts_the_gelu_bank():
    """GPT-2 small at 16 tokens under 17.3 GiB (the budget the scaling sweep ran it under):
    3 blocks a segment at W = 256 need k = 18 (their GELU bank: 138,240 rows), over the
    budget there, so the planner keeps 2 blocks a segment (k = 17)."""
    gpt2 = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257)
    three = Segment(8, 18, 3, 6)
    assert segment_rows(gpt2, 15, three, 256, lanes=3, margin=False) == 3 * 15 * 4 * 768
    assert estimate_bytes(gpt2, 15, three, weight_width=256) > int(17.3 * 2**30)
    segs = plan_segments(gpt2, 16, memory_budget=int(17.3 * 2**30), progress=lambda *a: None)
    assert max(s.n_blocks for s in segs if not s.chunk) == 2
