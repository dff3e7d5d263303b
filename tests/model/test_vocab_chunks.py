"""Vocabulary chunks: the embedding and the head of a tiny model split over chunks of its
vocabulary prove and verify; tampered links, one-hot cells, running argmax values, tokens,
and reordered or swapped chunk proofs are refused; ties across chunks keep the first token
id; setup refuses a bad chunk size."""
import numpy as np
import pytest

from snarkgpt.model import keys
from snarkgpt.model.chain import ChainProof
from snarkgpt.model.config import GPTConfig
from snarkgpt.model.segment_plan import chunk_rows, chunk_size, plan_segments
from snarkgpt.model.segments import Segment, SegmentError, check_chain, split
from snarkgpt.model.statement import Statement
from snarkgpt.plonk.verifier import parse_proof

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

V = 11
MODEL = f"random:n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size={V},seed=3"
L = 4
quiet = dict(progress=lambda *a: None)
CHUNKS = ["embed[0:4]", "embed[4:8]", "embed[8:11]", "h.0", "head[0:4]", "head[4:8]", "head[8:11]"]


def _setup(tmp, name, spec=MODEL, **kw):
    out = str(tmp / name)
    kw.setdefault("layers_per_segment", 1)
    kw.setdefault("embed_chunk", 4)
    kw.setdefault("head_chunk", 4)
    keys.setup(spec, out, max_tokens=L, **quiet, **kw)
    return out


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chunks")
    out = _setup(tmp, "keys", layout="banked")      # banked: columns named by bank
    prover = keys.Prover(out, **quiet)
    st = prover.generate([1, 9], 2)
    proof = prover.prove(st)
    card, vk = keys.load_verifier(out)
    return dict(dir=out, prover=prover, st=st, proof=proof, vk=vk, card=card, tmp=tmp)


def _parts(proof: bytes) -> list:
    return ChainProof.from_bytes(proof).proofs


def _join(parts) -> bytes:
    return ChainProof(parts).to_bytes()


def test_split_with_chunks_is_a_chain():
    segs = split(2, 1, 10, 4, 3)
    assert [s.describe() for s in segs] == ["embed[0:4]", "embed[4:8]", "embed[8:10]", "h.0",
                                           "h.1", "head[0:3]", "head[3:6]", "head[6:9]",
                                           "head[9:10]"]
    assert [s.link_out for s in segs] == ["embed.4", "embed.8", "link.0", "link.1", "link.2",
                                          "head.3", "head.6", "head.9", None]
    assert [s.link_in for s in segs] == [None, "embed.4", "embed.8", "link.0", "link.1",
                                         "link.2", "head.3", "head.6", "head.9"]
    # the prompt is read by every embedding chunk, the next tokens by the last chunk only
    assert [s.embed for s in segs] == [True] * 3 + [False] * 6
    assert [s.head for s in segs] == [False] * 8 + [True]
    check_chain(segs, 2, 10)
    assert Segment.from_dict(segs[1].to_dict()) == segs[1]
    assert set(segs[3].to_dict()) == {"index", "count", "start", "stop"}   # blocks: unchanged
    with pytest.raises(SegmentError):
        check_chain(segs, 2, 12)            # chunks of another vocabulary
    with pytest.raises(SegmentError):
        check_chain([segs[1], segs[0]] + segs[2:], 2, 10)
    with pytest.raises(SegmentError):
        split(2, 1, 10, 0, 3)


def test_chunked_key_proves_and_verifies(chunked):
    vk = chunked["vk"]
    assert [s.describe() for s in vk.segments] == CHUNKS
    assert len({v.k for v in vk.vks}) == 1
    assert [[c.name for c in v.layout.desc.instance] for v in vk.vks] == (
        [["tokens"]] * 3 + [[]] * 3 + [["tokens", "gen"]])
    # the chunks are bound in the key: the card lists them
    assert [Segment.from_dict(d) for d in chunked["card"]["segments"]] == vk.segments
    assert keys.rejection(vk, chunked["st"], chunked["proof"]) is None
    chunked["prover"].mock_check(chunked["st"])


def test_same_tokens_as_unchunked(chunked, tmp_path):
    plain = _setup(tmp_path, "plain", embed_chunk=None, head_chunk=None)
    p = keys.Prover(plain, **quiet)
    assert p.generate([1, 9], 2) == chunked["st"]


def test_edited_tokens_rejected(chunked):
    st = chunked["st"]
    for prompt, out in (((1, 3), st.output), ((2, 9), st.output),
                        (st.prompt, (st.output[0], (st.output[1] + 1) % V)),
                        (st.prompt, ((st.output[0] + 4) % V, st.output[1]))):
        bad = Statement(prompt, out, L)
        assert keys.rejection(chunked["vk"], bad, chunked["proof"]) is not None, (prompt, out)


def test_reordered_or_swapped_chunk_proofs_rejected(chunked):
    vk, st = chunked["vk"], chunked["st"]
    for i, j in ((0, 1), (1, 2), (4, 5), (5, 6), (0, 4)):
        parts = _parts(chunked["proof"])
        parts[i], parts[j] = parts[j], parts[i]
        assert keys.rejection(vk, st, _join(parts)) is not None, (i, j)
    parts = _parts(chunked["proof"])
    assert "segment proofs" in keys.rejection(vk, st, _join(parts[:5] + parts[6:]))


def test_chunk_from_another_generation_rejected(chunked):
    again = _parts(chunked["prover"].prove(chunked["st"]))
    for i in (1, 5):
        parts = _parts(chunked["proof"])
        parts[i] = again[i]
        why = keys.rejection(chunked["vk"], chunked["st"], _join(parts))
        assert "does not match" in why, i


def test_tampered_link_commitment_rejected(chunked):
    vk = chunked["vk"]
    for i in (1, 5):                         # embed.4 into embed[4:8]; head.4 into head[4:8]
        parts = _parts(chunked["proof"])
        mine = parse_proof(vk.vks[i], parts[i])
        mine.commitments = mine.commitments.copy()
        mine.commitments[0] = mine.commitments[1]     # another valid point: its out link
        parts[i] = mine.to_bytes()
        why = keys.rejection(vk, chunked["st"], _join(parts))
        assert why is not None and "segment" in why, i


def _column(asg, name):
    return next(c for c in asg.cs.advice_columns if c.name == name).index


def test_mock_prover_refuses_broken_chunks(chunked):
    prover, st = chunked["prover"], chunked["st"]

    def onehot_cell(seg, asg):
        if seg.index == 1:          # a one-hot cell flipped
            col = _column(asg, "onehot.g1")
            asg.advice[col][0] = asg.advice[col][1] if (asg.advice[col][0] != asg.advice[col][1]).any() \
                else asg.advice[col][0] + np.array([1, 0, 0, 0], dtype=asg.advice[col].dtype)

    def link_value(seg, asg):
        if seg.index == 5:          # the incoming hidden state
            link = asg.cs.link_columns[0].index
            asg.advice[link][0] = asg.advice[link][1]

    def running_argmax(seg, asg):
        if seg.index == 4:          # the running argmax handed on (last T rows of the link)
            out = next(c for c in asg.cs.link_columns if c.name == "head.4").index
            T = L - 1
            row = T * 4 + T         # hidden state, maximum, then the argmax
            asg.advice[out][row] = asg.advice[out][row + 1]
    for tamper, seg in ((onehot_cell, r"segment 1 \(embed\[4:8\]\)"),
                        (link_value, r"segment 5 \(head\[4:8\]\)"),
                        (running_argmax, r"segment 4 \(head\[0:4\]\)")):
        with pytest.raises(keys.SegmentFailure, match=seg):
            prover.mock_check(st, tamper=tamper)


def test_ties_across_chunks_keep_the_first_token(tmp_path):
    """lm_head with equal columns: every logit ties, so every argmax is token 0, whose chunk
    comes first; a claim of the first token of a later chunk is refused."""
    from snarkgpt.model.weights import load_model, save_npz
    model = load_model(MODEL)
    w = model.weights
    key = "lm_head" if "lm_head" in w else next(k for k in w if "lm_head" in k)
    head = np.asarray(w[key])
    col = head[:, :1] if head.shape[0] == 4 else head[:1, :]
    w[key] = np.broadcast_to(col, head.shape).copy()
    path = str(tmp_path / "tied.npz")
    save_npz(model, path)
    out = _setup(tmp_path, "keys", spec=path)
    p = keys.Prover(out, **quiet)
    st = p.generate([5, 9], 2)
    assert st.output == (0, 0)
    card, vk = keys.load_verifier(out)
    assert keys.rejection(vk, st, p.prove(st)) is None
    for tok in (4, 8):                      # the first token of chunks 2 and 3
        bad = Statement(st.prompt, (0, tok), L)
        from snarkgpt.model.circuit import GenerationMismatch
        with pytest.raises(GenerationMismatch):
            p.prove(bad)


def test_bad_chunk_size_refused(tmp_path):
    for bad in (0, -3, 2.5, True, "4"):
        with pytest.raises(keys.KeyDirError, match="chunk size must be a positive integer"):
            keys.setup(MODEL, str(tmp_path / "k"), max_tokens=L, layers_per_segment=1,
                       head_chunk=bad, **quiet)
    assert not (tmp_path / "k").exists()


def test_plan_chunks_gpt2_small_to_the_blocks_k():
    cfg = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=50257)
    segs = plan_segments(cfg, 16, memory_budget="12G", **quiet)
    emb = [s for s in segs if s.role == "embed"]
    head = [s for s in segs if s.role == "head"]
    assert emb and head and emb[-1].v1 == head[-1].v1 == 50257
    size = emb[0].v1 - emb[0].v0
    assert chunk_rows(cfg, 15, "embed", size, 128) <= 0.9 * (1 << 17)
    assert size == chunk_size(cfg, 15, "embed", 17, 128)
    # a model whose embedding and head fit keeps the whole embedding and head
    small = GPTConfig(n_layer=12, n_head=12, n_embd=768, block_size=1024, vocab_size=65)
    assert not any(s.chunk for s in plan_segments(small, 16, memory_budget="6G", **quiet))


def test_cli_chunked_eval_key_proves_and_verifies(tmp_path):
    """An eval key in chunks: the last head chunk scores the window."""
    from snarkgpt.cli import main
    out = str(tmp_path / "ev")
    proof = str(tmp_path / "ev.sgp")
    assert main(["setup", "--model", MODEL, "--out", out, "--eval", "--max-tokens", "4",
                 "--layers-per-segment", "1", "--embed-chunk", "6", "--head-chunk", "5"]) == 0
    card, vk = keys.load_verifier(out)
    assert [s.describe() for s in vk.segments] == ["embed[0:6]", "embed[6:11]", "h.0",
                                                   "head[0:5]", "head[5:10]", "head[10:11]"]
    assert main(["prove-eval", "--keys", out, "--tokens", "1,7,3,10", "--out", proof]) == 0
    assert main(["verify", "--keys", out, "--proof", proof]) == 0
