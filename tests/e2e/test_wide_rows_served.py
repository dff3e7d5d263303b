"""A key with wide weight rows (`setup --weight-width N`, gadgets/matmul.py "Wide rows")
through the commands: setup records the width, serve publishes it in the card, ask checks the
served card against the chain key and verifies the answer, and a bad width is refused before
any work."""
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
    out = tmp_path_factory.mktemp("widekeys") / "keys"
    assert main(["setup", "--model", MODEL, "--out", str(out), "--layers-per-segment", "1",
                 "--weight-width", "3", "--json"]) == 0
    card = json.loads((out / "card.json").read_text())
    assert card["weight_width"] == 3 and len(card["segments"]) == 2
    return out, card["fingerprint"]


def test_served_card_carries_the_width_and_ask_verifies(keys):
    keydir, fp = keys
    srv = Server(keydir, workers=1, queue=2, per_client=2)
    try:
        card, _ = client.fetch_model(srv.url)
        assert card["weight_width"] == 3
        res = client.ask(srv.url, prompt_tokens=[1], max_new_tokens=2, fingerprint=fp,
                         warn=lambda m: None)
        assert res["valid"], res
        assert res["model_fingerprint"] == fp and len(res["output_tokens"]) == 2
    finally:
        srv.stop()


@pytest.mark.parametrize("bad", ["0", "-2", "wide", "1.5"])
def test_setup_refuses_a_bad_width_before_any_work(bad, tmp_path, capsys):
    out = tmp_path / "keys"
    with pytest.raises(SystemExit) as e:
        main(["setup", "--model", MODEL, "--out", str(out), "--weight-width", bad])
    assert e.value.code == 2
    assert "--weight-width" in capsys.readouterr().err
    assert not out.exists()
