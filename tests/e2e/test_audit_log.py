"""The audit log: append-only records, digests, and the same-model check (no keys needed)."""
import base64
import json

import pytest

from snarkgpt import audit
from snarkgpt.model.statement import Statement, write_proof_file


def proof_file(tmp_path, name, fingerprint, output=(3,)):
    path = tmp_path / name
    write_proof_file(path, fingerprint, Statement((1, 2), output, 8), b"PROOF" + name.encode())
    return path.read_bytes()


def test_records_append_and_read_back(tmp_path):
    log = tmp_path / "log.jsonl"
    for i in range(3):
        audit.append(log, audit.record_for(proof_file(tmp_path, f"p{i}", "aa" * 32), True))
    recs = audit.read(log)
    assert len(recs) == 3 and all(r["fingerprint"] == "aa" * 32 for r in recs)
    res = audit.audit([log])
    assert res["ok"] and res["same_model"] and res["fingerprints"] == {"aa" * 32: 3}


def test_two_users_served_different_models_is_reported(tmp_path):
    log1, log2 = tmp_path / "alice.jsonl", tmp_path / "bob.jsonl"
    audit.append(log1, audit.record_for(proof_file(tmp_path, "a", "aa" * 32), True))
    audit.append(log2, audit.record_for(proof_file(tmp_path, "b", "bb" * 32), True))
    res = audit.audit([log1, log2])
    assert not res["ok"] and not res["same_model"] and len(res["fingerprints"]) == 2
    # an expected fingerprint that nobody was served is a failure too
    assert not audit.audit([log1], fingerprint="cc" * 32)["ok"]
    assert audit.audit([log1], fingerprint="aa" * 32)["ok"]


def test_edited_records_are_caught(tmp_path):
    log = tmp_path / "log.jsonl"
    audit.append(log, audit.record_for(proof_file(tmp_path, "p", "aa" * 32), True))
    rec = json.loads(log.read_text())
    # swap in another proof file without updating the digests
    rec["proof"] = base64.b64encode(proof_file(tmp_path, "q", "aa" * 32, output=(4,))).decode()
    log.write_text(json.dumps(rec) + "\n")
    res = audit.audit([log])
    assert not res["ok"]
    assert "proof digest mismatch" in res["results"][0]["problems"]
    assert "prompt/output digest mismatch" in res["results"][0]["problems"]


def test_invalid_and_malformed_logs(tmp_path):
    log = tmp_path / "log.jsonl"
    audit.append(log, audit.record_for(proof_file(tmp_path, "p", "aa" * 32), False))
    assert not audit.audit([log])["ok"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    with pytest.raises(audit.AuditError, match="line 1"):
        audit.read(bad)
    with pytest.raises(audit.AuditError, match="cannot read"):
        audit.read(tmp_path / "missing.jsonl")
