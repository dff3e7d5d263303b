"""Every value a verifier relies on is bound by the fingerprint: one test per attack of the
statement audit, each tried as a provider holding the genuine keys would, each refused by the
library call, `snarkgpt verify`, `snarkgpt audit` and the client (`ask`'s checks).

The model is a tiny random GPT with the Shakespeare alphabet (vocab 65, so it has a
tokenizer) and an 8-token key, as in the audit."""
import base64
import json
import shutil
import struct

import pytest

from snarkgpt import client
from snarkgpt.cli import main
from snarkgpt.field import FR_MODULUS as R
from snarkgpt.model import keyspec
from snarkgpt.model.keys import KeyDirError, Prover, load_verifier, rejection, setup, verify_statement
from snarkgpt.model.statement import (MAGIC, VERSION, Statement, StatementError, parse_proof_file,
                                      write_proof_file)
from snarkgpt.plonk.description import KeyFormatError
from snarkgpt.plonk.keygen import VerifyingKey
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.verifier import VerificationError, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")

MODEL = "random:n_layer=1,n_head=1,n_embd=4,block_size=8,vocab_size=65,seed=1"
L = 8
quiet = dict(progress=lambda *a: None)


@pytest.fixture(scope="module")
def keydir(tmp_path_factory):
    out = tmp_path_factory.mktemp("binding") / "keys"
    setup(MODEL, str(out), max_tokens=L, **quiet)
    return out


@pytest.fixture(scope="module")
def prover(keydir):
    return Prover(str(keydir), **quiet)


@pytest.fixture(scope="module")
def honest(prover):
    st = prover.generate([20, 21, 22], 2)
    return st, prover.prove(st)


def run(capsys, *argv):
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def copy_keys(keydir, tmp_path, edit=None):
    """A public copy of the key directory (card + vk), its card edited by ``edit(card)``."""
    out = tmp_path / "public"
    out.mkdir()
    shutil.copy(keydir / "vk.bin", out / "vk.bin")
    card = json.loads((keydir / "card.json").read_text())
    if edit:
        edit(card)
    (out / "card.json").write_text(json.dumps(card))
    return out


def served(keydir, edit=None):
    """What a server would publish: (card as served, vk bytes), the card edited."""
    card = json.loads((keydir / "card.json").read_text())
    if edit:
        edit(card)
    return card, (keydir / "vk.bin").read_bytes()


def test_honest_proof_verifies_everywhere(keydir, honest, tmp_path, capsys):
    st, proof = honest
    card, vk = load_verifier(str(keydir))
    assert rejection(vk, st, proof, card["fingerprint"]) is None
    path = tmp_path / "p.sgp"
    write_proof_file(path, card["fingerprint"], st, proof)
    code, out, _ = run(capsys, "verify", "--keys", keydir, "--proof", path, "--log", tmp_path / "a.jsonl")
    assert code == 0 and out.startswith("VERIFIED")
    code, out, _ = run(capsys, "audit", tmp_path / "a.jsonl", "--keys", keydir)
    assert code == 0 and "AUDIT OK" in out


# -- 1. the statement's length is bound -----------------------------------------------------

def extended(st):
    """The honest 8-token statement with 5 arbitrary tokens appended: 13 instance values."""
    return Statement(st.prompt, st.output + (7, 8, 9, 10, 11), L + 5)


def test_extended_statement_refused_by_prover_and_verifier(prover, honest):
    st, _ = honest
    from snarkgpt.model.circuit import ModelCircuit
    circuit = ModelCircuit(prover.qmodel, prover.settings, st, compact=prover.compact,
                           weights=prover.weights, mm_lanes=prover.mm_lanes)
    long = extended(st).instances()
    with pytest.raises(ProverError, match="exactly 8"):
        prove(prover.pk, circuit, prover.config, instances=long)
    # proven anyway (check=False): the verifier refuses the 13-value instance columns
    forged = prove(prover.pk, circuit, prover.config, instances=long, check=False)
    with pytest.raises(VerificationError, match="exactly 8"):
        verify_or_raise(prover.vk, long, forged)
    assert not verify_statement(prover.vk, extended(st), forged)
    assert "exactly 8" in rejection(prover.vk, extended(st), forged)
    # a nonzero value on a row nothing constrains (gen[0]) is refused too
    free = st.instances()
    free[1][0] = 1
    with pytest.raises(VerificationError, match="row 0 is not constrained"):
        verify_or_raise(prover.vk, free, honest[1])


def test_extended_statement_refused_by_cli_audit_and_client(keydir, prover, honest, tmp_path,
                                                          capsys, monkeypatch):
    st, _ = honest
    from snarkgpt.model.circuit import ModelCircuit
    circuit = ModelCircuit(prover.qmodel, prover.settings, st, compact=prover.compact,
                           weights=prover.weights, mm_lanes=prover.mm_lanes)
    long = extended(st)
    forged = prove(prover.pk, circuit, prover.config, instances=long.instances(), check=False)
    fp = prover.card["fingerprint"]
    path = tmp_path / "long.sgp"
    write_proof_file(path, fp, long, forged)
    code, out, _ = run(capsys, "verify", "--keys", keydir, "--proof", path, "--log", tmp_path / "l.jsonl")
    assert code == 1 and "REJECTED" in out and "exactly 8" in out
    # a log written by a lenient verifier that recorded it as valid: audit re-verifies
    from snarkgpt import audit
    audit.append(tmp_path / "lenient.jsonl", audit.record_for(path.read_bytes(), True))
    code, out, _ = run(capsys, "audit", tmp_path / "lenient.jsonl", "--keys", keydir)
    assert code == 1 and "re-verification failed" in out
    # the client with the pinned fingerprint, the server's card edited to 13 tokens
    monkeypatch.setattr(client, "fetch_model",
                        lambda url, timeout=30.0: served(keydir, lambda c: c.update(max_tokens=13)))
    with pytest.raises(client.Rejected, match="max_tokens"):
        client.load_key("http://server", fingerprint=fp)
    # ... and with the genuine card, the 13-token answer itself is refused
    monkeypatch.setattr(client, "fetch_model", lambda url, timeout=30.0: served(keydir))
    card, vk, pinned, _ = client.load_key("http://server", fingerprint=fp)
    answer = {"proof": base64.b64encode(path.read_bytes()).decode()}
    with pytest.raises(client.Rejected, match="exactly 8"):
        client.check_result(card, vk, pinned, list(st.prompt), long.n_new, answer)


# -- 2. the card is authenticated ---------------------------------------------------------------

def permuted(card):
    card["tokenizer"] = card["tokenizer"][1:] + card["tokenizer"][:1]


@pytest.mark.parametrize("field, edit", [
    ("tokenizer", permuted),
    ("insecure_setup", lambda c: c.update(insecure_setup=False)),
    ("srs", lambda c: c.update(srs="ptau: powersOfTau28_hez_final_12.ptau")),
    ("max_tokens", lambda c: c.update(max_tokens=13)),
    ("config", lambda c: c["config"].update(vocab_size=100)),
    ("statement", lambda c: c.update(statement="eval")),
    ("quant_settings", lambda c: c["quant_settings"].update(scale_bits=c["quant_settings"]["scale_bits"] + 1)),
])
def test_edited_card_refused(keydir, honest, tmp_path, capsys, monkeypatch, field, edit):
    st, proof = honest
    pub = copy_keys(keydir, tmp_path, edit)
    with pytest.raises(KeyDirError, match=field if field != "tokenizer" else "tokenizer"):
        load_verifier(str(pub))
    path = tmp_path / "p.sgp"
    write_proof_file(path, json.loads((keydir / "card.json").read_text())["fingerprint"], st, proof)
    code, out, err = run(capsys, "verify", "--keys", pub, "--proof", path)
    assert code == 2 and "card.json" in err and "VERIFIED" not in out
    code, _, err = run(capsys, "audit", tmp_path / "none.jsonl", "--keys", pub)
    assert code == 2 and "card.json" in err
    fp = json.loads((keydir / "card.json").read_text())["fingerprint"]
    monkeypatch.setattr(client, "fetch_model", lambda url, timeout=30.0: served(keydir, edit))
    with pytest.raises(client.Rejected, match="card"):
        client.load_key("http://server", fingerprint=fp)
    res = client.ask("http://server", prompt_tokens=[20, 21], max_new_tokens=1, fingerprint=fp)
    assert res["valid"] is False and "card" in res["reason"]


def test_served_card_carries_every_bound_field(keydir):
    from snarkgpt.server import PUBLIC_CARD_FIELDS
    assert set(keyspec.BOUND_FIELDS) <= set(PUBLIC_CARD_FIELDS)
    card = json.loads((keydir / "card.json").read_text())
    public = {k: card[k] for k in PUBLIC_CARD_FIELDS if k in card}
    _, vk = load_verifier(str(keydir))
    from snarkgpt.model.keys import check_published
    check_published(public, vk)


def test_rewritten_statement_bytes_change_the_fingerprint(keydir, monkeypatch):
    """A provider who rewrites the key's bound parameters (to drop the INSECURE flag) gets a
    key with another fingerprint, which a pinned client refuses."""
    card, vk = load_verifier(str(keydir))
    spec = keyspec.decode(vk.statement)
    spec["insecure_setup"] = False
    forged = VerifyingKey(vk.desc, vk.fixed_commitments, vk.sigma_commitments, vk.g2,
                          vk.srs_digest, vk.blinding_basis, keyspec.encode(spec))
    assert forged.digest() != vk.digest()
    fake = dict(card, insecure_setup=False, fingerprint=forged.digest().hex())
    monkeypatch.setattr(client, "fetch_model", lambda url, timeout=30.0: (fake, forged.to_bytes()))
    with pytest.raises(client.Rejected, match="not the expected"):
        client.load_key("http://server", fingerprint=card["fingerprint"])


# -- 3. the setup label is tied to the G2 points ---------------------------------------------------

def test_srs_digest_must_name_the_g2_points(keydir):
    _, vk = load_verifier(str(keydir))
    other = bytes(32)
    with pytest.raises(KeyFormatError, match="SRS digest"):
        VerifyingKey(vk.desc, vk.fixed_commitments, vk.sigma_commitments, vk.g2, other,
                     vk.blinding_basis, vk.statement)
    data = bytearray(vk.to_bytes())
    i = data.find(vk.srs_digest)
    data[i] ^= 1
    with pytest.raises(KeyFormatError, match="SRS digest"):
        VerifyingKey.from_bytes(bytes(data))


def test_srs_digest_pin(keydir, honest, tmp_path, capsys, monkeypatch):
    st, proof = honest
    card, vk = load_verifier(str(keydir))
    path = tmp_path / "p.sgp"
    write_proof_file(path, card["fingerprint"], st, proof)
    code, out, _ = run(capsys, "srs-digest", "--keys", keydir)
    assert code == 0 and out.strip() == vk.srs_digest.hex() == card["srs_digest"]
    code, out, _ = run(capsys, "verify", "--keys", keydir, "--proof", path, "--srs-digest", vk.srs_digest.hex())
    assert code == 0 and out.startswith("VERIFIED")
    code, out, err = run(capsys, "verify", "--keys", keydir, "--proof", path, "--srs-digest", "ab" * 32)
    assert code == 1 and "setup" in err and "VERIFIED" not in out
    monkeypatch.setattr(client, "fetch_model", lambda url, timeout=30.0: served(keydir))
    with pytest.raises(client.Rejected, match="setup"):
        client.load_key("http://server", fingerprint=card["fingerprint"], srs_digest="ab" * 32)


# -- 5. token ids are not read mod r ---------------------------------------------------------------

def test_tokens_shifted_by_r_refused(keydir, honest, tmp_path, capsys):
    st, proof = honest
    card, vk = load_verifier(str(keydir))
    p0, o0 = st.prompt[0], st.output[0]
    shifted = Statement((p0 + R,) + st.prompt[1:], (o0 - R if o0 >= 0 else o0,) + st.output[1:], L)
    # the same field elements: the PLONK proof alone cannot tell them apart ...
    assert [[v % R for v in c] for c in shifted.instances()] == st.instances()
    verify_or_raise(vk, shifted.instances(), proof)
    # ... the statement check does
    assert "outside the vocabulary" in rejection(vk, shifted, proof)
    assert not verify_statement(vk, shifted, proof)
    path = tmp_path / "shifted.sgp"
    write_proof_file(path, card["fingerprint"], shifted, proof)
    log = tmp_path / "s.jsonl"
    code, out, err = run(capsys, "verify", "--keys", keydir, "--proof", path, "--log", log)
    assert code == 1 and "outside the vocabulary" in out and "Traceback" not in err
    assert json.loads(log.read_text())["valid"] is False
    code, out, _ = run(capsys, "audit", log, "--keys", keydir)
    assert code == 1 and "AUDIT FAILED" in out
    answer = {"proof": base64.b64encode(path.read_bytes()).decode()}
    with pytest.raises(client.Rejected, match="outside the vocabulary"):
        client.check_result(card, vk, card["fingerprint"], list(shifted.prompt), 2, answer)


@pytest.mark.parametrize("value", [True, 1.0, "3", -1])
def test_proof_header_tokens_must_be_integers(honest, keydir, value):
    """No silent conversion of a header's token: a bool, a float or a string is malformed; a
    negative integer parses and is refused as outside the vocabulary."""
    st, proof = honest
    card, vk = load_verifier(str(keydir))
    header = {"fingerprint": card["fingerprint"], "prompt_tokens": [value, 21, 22],
              "output_tokens": list(st.output), "max_tokens": L}
    hb = json.dumps(header).encode()
    data = MAGIC + struct.pack("<HI", VERSION, len(hb)) + hb + proof
    if value == -1:
        _, parsed, _ = parse_proof_file(data)
        assert "outside the vocabulary" in rejection(vk, parsed, proof)
    else:
        with pytest.raises(StatementError, match="integer"):
            parse_proof_file(data)


# -- formats: old keys and proofs are refused with a message saying what to do ---------------------

def test_old_formats_refused(keydir, honest, tmp_path, capsys):
    st, proof = honest
    pub = copy_keys(keydir, tmp_path, lambda c: c.update(version=1))
    with pytest.raises(KeyDirError, match="setup` again"):
        load_verifier(str(pub))
    card, vk = load_verifier(str(keydir))
    path = tmp_path / "p.sgp"
    write_proof_file(path, card["fingerprint"], st, proof)
    data = bytearray(path.read_bytes())
    data[5:7] = (1).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    code, _, err = run(capsys, "verify", "--keys", keydir, "--proof", path)
    assert code == 2 and "setup` again" in err
    vkb = bytearray(vk.to_bytes())
    vkb[4:6] = (1).to_bytes(2, "little")
    with pytest.raises(KeyFormatError, match="version 1"):
        VerifyingKey.from_bytes(bytes(vkb))
