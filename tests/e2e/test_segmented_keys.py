"""Segmented keys through every command that takes keys: `serve` + `ask` (the client fetches a
chain key and checks a chain proof), `audit` of the server's log, and `prove-eval` + `verify`
on an eval key in segments. The model is a 2-layer random GPT, one block per segment."""
import json

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from snarkgpt import client  # noqa: E402
from snarkgpt.cli import main  # noqa: E402
from test_server import Server  # noqa: E402  (tests/e2e/test_server.py: a served subprocess)

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=2,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    out = tmp_path_factory.mktemp("segkeys") / "keys"
    assert main(["setup", "--model", MODEL, "--out", str(out), "--layers-per-segment", "1",
                 "--json"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert len(card["segments"]) == 2
    return out, card["fingerprint"]


def test_serve_ask_and_audit_on_segmented_keys(keys, tmp_path):
    keydir, fp = keys
    log = tmp_path / "server.jsonl"
    srv = Server(keydir, workers=1, queue=2, log=log, per_client=2)
    try:
        res = client.ask(srv.url, prompt_tokens=[1], max_new_tokens=2, fingerprint=fp,
                         warn=lambda m: None)
        assert res["valid"], res
        assert res["model_fingerprint"] == fp and len(res["output_tokens"]) == 2
        # a client pinned to another fingerprint refuses the chain key
        other = client.ask(srv.url, prompt_tokens=[1], max_new_tokens=2, fingerprint="00" * 32,
                           warn=lambda m: None)
        assert not other["valid"]
    finally:
        srv.stop()
    assert main(["audit", str(log), "--keys", str(keydir)]) == 0


def test_prove_eval_and_verify_on_segmented_eval_key(tmp_path):
    out = tmp_path / "evkeys"
    assert main(["setup", "--model", MODEL, "--out", str(out), "--eval", "--max-tokens", "5",
                 "--layers-per-segment", "1"]) == 0
    proof = tmp_path / "eval.sgp"
    assert main(["prove-eval", "--keys", str(out), "--tokens", "1,2,3,4,5", "--out",
                 str(proof)]) == 0
    assert main(["verify", "--keys", str(out), "--proof", str(proof)]) == 0


def test_gpt2_folder_in_segments_with_its_bpe(tmp_path, capsys):
    """A Hugging Face GPT-2 folder (the tiny BPE fixture: 2 layers) set up in 2 segments:
    a text prompt encoded by the folder's tokenizer, proven, verified, the output decoded."""
    from pathlib import Path

    from snarkgpt.model.tokenizer import load_folder_tokenizer
    tiny = Path(__file__).parents[1] / "model" / "data" / "tiny_gpt2_bpe"
    keys, proof = tmp_path / "keys", tmp_path / "gen.sgp"
    assert main(["setup", "--model", str(tiny), "--out", str(keys), "--max-tokens", "8",
                 "--layers-per-segment", "1"]) == 0
    assert len(json.loads((keys / "card.json").read_text())["segments"]) == 2
    assert main(["prove", "--keys", str(keys), "--prompt", "first citizen:", "--max-new-tokens",
                 "2", "--out", str(proof)]) == 0
    capsys.readouterr()
    assert main(["verify", "--keys", str(keys), "--proof", str(proof), "--json"]) == 0
    ver = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    tok = load_folder_tokenizer(tiny)
    assert ver["valid"] is True and ver["prompt_tokens"] == tok.encode("first citizen:")
    assert ver["text"] == tok.decode(ver["output_tokens"])
