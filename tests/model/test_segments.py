"""Segment proofs: a tiny model split into 3 segments proves the same tokens as unsplit and
verifies; every way of mixing segments up is rejected, and the mock prover names the segment
and the op of a broken witness."""
import os

import numpy as np
import pytest

from snarkgpt.cli import main
from snarkgpt.model import keys
from snarkgpt.model.chain import ChainKey, ChainProof
from snarkgpt.model.memory import MemoryBudgetError, parse_size
from snarkgpt.model.segment_plan import BudgetError
from snarkgpt.model.segments import Segment, SegmentError, check_chain, split
from snarkgpt.model.statement import Statement
from snarkgpt.plonk.proof import Proof
from snarkgpt.plonk.verifier import parse_proof

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"
OTHER = "random:n_layer=3,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=2"
L = 4
quiet = dict(progress=lambda *a: None)


def _setup(tmp, name, spec=MODEL, **kw):
    out = str(tmp / name)
    keys.setup(spec, out, max_tokens=L, **quiet, **kw)
    return out


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chain")
    out = _setup(tmp, "keys", layers_per_segment=1)
    prover = keys.Prover(out, **quiet)
    st = prover.generate([1, 2], 2)
    proof = prover.prove(st)
    card, vk = keys.load_verifier(out)
    return dict(dir=out, prover=prover, st=st, proof=proof, vk=vk, card=card, tmp=tmp)


def _segments(proof: bytes) -> list:
    return ChainProof.from_bytes(proof).proofs


def _join(parts) -> bytes:
    return ChainProof(parts).to_bytes()


def test_split_is_a_chain():
    segs = split(5, 2)
    assert [(s.start, s.stop) for s in segs] == [(0, 2), (2, 4), (4, 5)]
    assert segs[0].embed and not segs[0].head and segs[-1].head
    assert [s.link_out for s in segs] == ["link.2", "link.4", None]
    check_chain(segs, 5)
    with pytest.raises(SegmentError):
        check_chain([segs[0], segs[2]], 5)
    with pytest.raises(SegmentError):
        split(5, 0)
    assert split(3, 5) == [Segment(0, 1, 0, 3)]


def test_chain_key_lists_three_segments(chain):
    vk = chain["vk"]
    assert isinstance(vk, ChainKey) and len(vk.segments) == 3
    assert [s.describe() for s in vk.segments] == ["embed+h.0", "h.1", "h.2+head"]
    assert len({v.k for v in vk.vks}) == 1
    assert chain["card"]["fingerprint"] == vk.digest().hex()
    # the middle segment has no public values; the ends bind the tokens
    assert [[c.name for c in v.layout.desc.instance] for v in vk.vks] == [
        ["tokens"], [], ["tokens", "gen"]]
    # a round trip of the key keeps the fingerprint
    assert ChainKey.from_bytes(vk.to_bytes()).digest() == vk.digest()


def test_same_tokens_as_unsplit_and_both_verify(chain, tmp_path):
    whole = _setup(tmp_path, "whole")
    card, vk = keys.load_verifier(whole)
    assert not isinstance(vk, ChainKey) and "segments" not in card
    # both keys calibrate the same model the same way: the same quantized generation
    p = keys.Prover(whole, **quiet)
    st = p.generate([1, 2], 2)
    assert st == chain["st"]
    assert keys.rejection(vk, st, p.prove(st)) is None
    assert keys.rejection(chain["vk"], chain["st"], chain["proof"], chain["card"]["fingerprint"]) is None


def test_tampered_link_commitment_rejected(chain):
    vk = chain["vk"]
    parts = _segments(chain["proof"])
    mid = parse_proof(vk.vks[1], parts[1])
    other = parse_proof(vk.vks[0], parts[0])
    mid.commitments = mid.commitments.copy()
    mid.commitments[0] = other.commitments[1]          # another valid point
    parts[1] = mid.to_bytes()
    why = keys.rejection(vk, chain["st"], _join(parts))
    assert "link.1" in why and "segments 0 and 1" in why
    # the link check aside, segment 1's own proof no longer verifies (its transcript absorbed
    # the link point before any challenge)
    from snarkgpt.plonk.verifier import VerificationError, verify_or_raise
    from snarkgpt.model.segments import segment_instances
    inst = segment_instances(vk.segments[1], chain["st"], [])
    with pytest.raises(VerificationError):
        verify_or_raise(vk.vks[1], inst, parts[1])


def test_swapped_segments_rejected(chain):
    parts = _segments(chain["proof"])
    parts[0], parts[1] = parts[1], parts[0]
    assert "does not verify" in keys.rejection(chain["vk"], chain["st"], _join(parts))


def test_missing_segment_rejected(chain):
    parts = _segments(chain["proof"])
    why = keys.rejection(chain["vk"], chain["st"], _join(parts[:2]))
    assert "2 segment proofs" in why


def test_segment_from_another_generation_rejected(chain):
    """The same statement proven again (another link seed): each proof is valid, but a
    segment taken from the second breaks the links of the first."""
    again = _segments(chain["prover"].prove(chain["st"]))
    parts = _segments(chain["proof"])
    assert keys.rejection(chain["vk"], chain["st"], _join(again)) is None
    parts[1] = again[1]
    why = keys.rejection(chain["vk"], chain["st"], _join(parts))
    assert "link" in why and "does not match" in why


def test_segment_from_another_statement_rejected(chain):
    prover = chain["prover"]
    st2 = prover.generate([3, 1], 2)
    other = _segments(prover.prove(st2))
    parts = _segments(chain["proof"])
    parts[2] = other[2]
    assert keys.rejection(chain["vk"], chain["st"], _join(parts)) is not None


def test_segment_from_another_key_or_model_rejected(chain):
    tmp = chain["tmp"]
    for name, spec in (("again", MODEL), ("other", OTHER)):
        out = _setup(tmp, name, spec=spec, layers_per_segment=1)
        p = keys.Prover(out, **quiet)
        st = p.generate([1, 2], 2)
        theirs = _segments(p.prove(st))
        for i in range(3):
            parts = _segments(chain["proof"])
            parts[i] = theirs[i]
            assert keys.rejection(chain["vk"], chain["st"], _join(parts)) is not None, (name, i)


def test_edited_public_tokens_rejected(chain):
    st = chain["st"]
    for prompt, out in (((1, 3), st.output), (st.prompt, (st.output[0], (st.output[1] + 1) % 8))):
        bad = Statement(prompt, out, L)
        assert keys.rejection(chain["vk"], bad, chain["proof"]) is not None


def test_unsplit_proof_refused_by_chain_key(chain, tmp_path):
    why = keys.rejection(chain["vk"], chain["st"], _segments(chain["proof"])[0])
    assert "not a chain proof" in why


def test_mock_prover_names_segment_and_op(chain):
    prover = chain["prover"]

    def tamper(seg, asg):
        if seg.index == 1:          # one entry of the incoming residual stream
            link = asg.cs.link_columns[0].index
            asg.advice[link][0] = asg.advice[link][1]
    prover.mock_check(chain["st"])           # the honest witness passes
    with pytest.raises(keys.SegmentFailure, match=r"segment 1 \(h\.1\), op link\.in") as e:
        prover.mock_check(chain["st"], tamper=tamper)
    assert "h.1.ln_1" in str(e.value)


def test_budget_too_small_is_an_error_before_work(tmp_path):
    out = tmp_path / "keys"
    with pytest.raises(BudgetError, match="too small"):
        keys.setup(MODEL, str(out), max_tokens=L, memory_budget="1M", **quiet)
    assert not out.exists() and not [p for p in tmp_path.iterdir()]
    assert parse_size("12G") == 12 << 30 and parse_size("512M") == 512 << 20
    with pytest.raises(MemoryBudgetError):
        parse_size("lots")


def test_cli_setup_prove_verify_inspect(tmp_path, capsys):
    import json
    out = str(tmp_path / "keys")
    proof = str(tmp_path / "p.proof")
    assert main(["setup", "--model", MODEL, "--out", out, "--max-tokens", str(L),
                 "--layers-per-segment", "2"]) == 0
    assert main(["prove", "--keys", out, "--prompt-tokens", "1,2", "--max-new-tokens", "2",
                 "--out", proof]) == 0
    capsys.readouterr()
    assert main(["verify", "--keys", out, "--proof", proof]) == 0
    capsys.readouterr()
    assert main(["inspect", "--keys", out, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [s["part"] for s in info["segments"]] == ["embed+h.0-1", "h.2+head"]
    assert all(s["k"] == info["segments"][0]["k"] and s["rows"] > 0 for s in info["segments"])
    # a corrupted segment inside the proof file fails verification with exit 1
    data = bytearray(open(proof, "rb").read())
    data[-40] ^= 1
    bad = tmp_path / "bad.proof"
    bad.write_bytes(bytes(data))
    assert main(["verify", "--keys", out, "--proof", str(bad)]) != 0
    assert os.path.exists(proof)


class _Stop(Exception):
    """Raised where setup would load the SRS: the split is decided by then."""


@pytest.fixture
def short_rows(monkeypatch):
    """The planner's rows fall short of the circuit's (forced): every estimate is 1 GiB a
    block at the planned k = 16 and doubles per k above it, while the circuit built needs
    k = 17. Setup stops before the SRS; returns its progress lines."""
    from snarkgpt.model import circuit as model_circuit
    from snarkgpt.model import segment_plan
    GiB = 2 ** 30

    def estimate(cfg, T, seg, table_bits=16, weight_width=None, table=True):
        return (seg.n_blocks * GiB) << max(0, table_bits - 16)
    monkeypatch.setattr(segment_plan, "estimate_bytes", estimate)
    monkeypatch.setattr(segment_plan, "segment_rows", lambda *a, **k: 1000)
    monkeypatch.setattr(keys, "_common_k", lambda rows, blinding: 17)
    real_costs = model_circuit.layout_costs
    monkeypatch.setattr(model_circuit, "layout_costs", lambda make, cands: {
        lay: (c, 17, cols) for lay, (c, _, cols) in real_costs(make, cands).items()})

    def stop(srs_path, k):
        raise _Stop(k)
    monkeypatch.setattr(keys, "_make_srs", stop)
    lines = []
    return lines


FOUR = "random:n_layer=4,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"


@pytest.mark.parametrize("budget,blocks,replans", [("3G", [1, 1, 1, 1], 2),   # chain: 3 -> 2 -> 1
                                                    ("5G", [2, 2], 2)])        # one circuit -> 3 -> 2
def test_setup_plans_again_when_the_circuit_needs_more_rows(short_rows, tmp_path, budget,
                                                             blocks, replans):
    """Where the circuit needs a larger k than the plan and the estimate at that k is over the
    memory budget, setup plans again with fewer blocks a segment until it fits, and says
    so; nothing is written meanwhile."""
    out = tmp_path / "keys"
    with pytest.raises(_Stop):
        keys.setup(FOUR, str(out), max_tokens=L, memory_budget=budget,
                   progress=short_rows.append)
    again = [m for m in short_rows if "planning again" in m]
    assert len(again) == replans, short_rows
    assert all("needs k = 17, more rows than planned" in m and "over the memory budget" in m
               for m in again)
    split_line = next(m for m in short_rows if "k = 17 (131072 rows) each" in m)
    assert split_line.startswith(f"{len(blocks)} segments"), split_line
    assert not out.exists()


def test_setup_refuses_a_budget_one_block_cannot_meet_at_the_built_k(short_rows, tmp_path):
    out = tmp_path / "keys"
    with pytest.raises(BudgetError, match=r"needs k = 17, more rows than planned: about "
                                          r"2\.0 GiB a segment, over the memory budget 1\.5 GiB"):
        keys.setup(FOUR, str(out), max_tokens=L, memory_budget="1536M",
                   progress=short_rows.append)
    assert not out.exists()


def test_setup_without_a_budget_split_is_not_second_guessed(short_rows, tmp_path):
    """--layers-per-segment fixes the split: no memory check, even where k grows."""
    with pytest.raises(_Stop):
        keys.setup(FOUR, str(tmp_path / "keys"), max_tokens=L, layers_per_segment=2,
                   progress=short_rows.append)
    assert not any("planning again" in m for m in short_rows)
