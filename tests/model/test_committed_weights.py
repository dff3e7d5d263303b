"""The committed-weights mode end to end on the smallest random GPT: the weights sit behind a
hiding commitment in the verifying key, re-randomized in every proof
(docs/committed-weights.md)."""
import json
import os
import shutil

import numpy as np
import pytest

from snarkgpt.cli import main
from snarkgpt.field import Fr
from snarkgpt.model.keys import COMMITTED_FILE, KeyDirError, Prover, load_verifier, setup, verify_statement
from snarkgpt.plonk.verifier import VerificationError, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

CONFIG = "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8"
MODEL = f"random:{CONFIG},seed=1"
OTHER = f"random:{CONFIG},seed=2"
quiet = dict(progress=lambda *a: None)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    out = tmp_path_factory.mktemp("committed") / "keys"
    card = setup(MODEL, str(out), weights="committed", **quiet)
    return out, card


@pytest.fixture(scope="module")
def prover(keys):
    return Prover(str(keys[0]), **quiet)


@pytest.fixture(scope="module")
def proved(prover):
    st = prover.generate([1, 2], 2)
    return st, prover.prove(st)


def test_round_trip(keys, prover, proved):
    out, card = keys
    st, proof = proved
    assert card["weights"] == "committed"
    _, vk = load_verifier(str(out))
    verify_or_raise(vk, st.instances(), proof)
    assert verify_statement(vk, st, proof)
    # every weight family the mode covers is committed: matmul weights, LayerNorm, wpe
    names = [c.name for c in prover.cs.committed_columns]
    assert any(".w0" in n for n in names) and len(names) >= 5
    assert vk.layout.committed and vk.blinding_basis is not None
    # a second proof of the same statement re-randomizes: other D, other bytes, valid
    again = prover.prove(st)
    assert again != proof and again[6:38] != proof[6:38]
    assert verify_statement(vk, st, again)


def test_private_part_stays_private(keys, prover):
    out, _ = keys
    public = sorted(f for f in os.listdir(out) if f in ("card.json", "vk.bin"))
    assert public == ["card.json", "vk.bin"] and os.path.isfile(out / COMMITTED_FILE)
    blinding = np.load(out / COMMITTED_FILE)["blinding"]
    assert blinding.shape == prover.pk.committed_blinding.shape
    assert np.array_equal(Fr.from_canonical(blinding.reshape(-1, 4)),
                          prover.pk.committed_blinding.reshape(-1, 4))
    data = (out / "vk.bin").read_bytes() + (out / "card.json").read_bytes()
    for v in blinding.reshape(-1, 4)[:16]:
        assert Fr.to_ints(Fr.from_canonical(v.reshape(1, 4)))[0].to_bytes(32, "little") not in data


def test_missing_blinding_is_refused(keys, tmp_path):
    out = tmp_path / "k"
    shutil.copytree(keys[0], out)
    os.remove(out / COMMITTED_FILE)
    with pytest.raises(KeyDirError, match="committed.npz"):
        Prover(str(out), **quiet)


@pytest.mark.slow
def test_modes_and_models_are_told_apart(keys, proved, tmp_path, capsys):
    """The fixed-mode key of the same model, a second committed setup (other blinding) and
    a key directory holding another model's weights: no proof crosses between them."""
    out, card = keys
    st, proof = proved
    fixed = setup(MODEL, str(tmp_path / "fixed"), **quiet)
    assert fixed["weights"] == "fixed" and fixed["fingerprint"] != card["fingerprint"]
    _, vk_fixed = load_verifier(str(tmp_path / "fixed"))
    assert vk_fixed.blinding_basis is None and not vk_fixed.layout.committed
    assert not verify_statement(vk_fixed, st, proof)
    again = setup(MODEL, str(tmp_path / "again"), weights="committed", **quiet)
    assert again["fingerprint"] != card["fingerprint"]      # hiding: fresh blinding, new key
    _, vk_again = load_verifier(str(tmp_path / "again"))
    with pytest.raises(VerificationError):
        verify_or_raise(vk_again, st.instances(), proof)
    # other weights behind the published key: the prover cannot rebuild it
    swapped = tmp_path / "swapped"
    shutil.copytree(out, swapped)
    other = setup(OTHER, str(tmp_path / "other"), weights="committed", **quiet)
    assert other["fingerprint"] != card["fingerprint"]
    shutil.copy(tmp_path / "other" / "model.npz", swapped / "model.npz")
    with pytest.raises(KeyDirError, match="fingerprint mismatch"):
        Prover(str(swapped), **quiet)
    # the command line: setup --weights committed, prove, verify
    keydir = tmp_path / "cli"
    assert main(["setup", "--model", MODEL, "--out", str(keydir), "--weights", "committed",
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["weights"] == "committed"
    assert json.loads((keydir / "card.json").read_text())["weights"] == "committed"
    path = tmp_path / "p.proof"
    assert main(["prove", "--keys", str(keydir), "--prompt-tokens", "1,2", "--max-new-tokens", "2",
                 "--out", str(path)]) == 0
    capsys.readouterr()
    assert main(["verify", "--keys", str(keydir), "--proof", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["valid"] is True
