"""The audit trail: an append-only JSON-lines log of verified proofs.

Each `snarkgpt verify --log FILE` appends one record:

    {"time": ISO-8601 UTC, "fingerprint": hex, "valid": bool,
     "prompt_digest": sha256 of the prompt tokens, "output_digest": sha256 of the output tokens,
     "proof_digest": sha256 of the proof file, "proof": base64 of the proof file}

Keeping the whole proof file makes the log self-contained: `snarkgpt audit FILE --keys KEYDIR`
re-verifies every record against a verifying key, and without keys still checks every digest
and reports which fingerprints (models) the records were served by. Appends use O_APPEND and
one write per record, so concurrent writers do not interleave records.
"""
import base64
import datetime
import json
import os

from .model.statement import StatementError, digest, parse_proof_file, tokens_digest


class AuditError(ValueError):
    """An unreadable or malformed log."""


def record_for(proof_file_bytes: bytes, valid: bool) -> dict:
    header, st, _ = parse_proof_file(proof_file_bytes)
    return {
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "fingerprint": header["fingerprint"], "valid": bool(valid),
        "prompt_digest": tokens_digest(st.prompt), "output_digest": tokens_digest(st.output),
        "proof_digest": digest(proof_file_bytes),
        "proof": base64.b64encode(proof_file_bytes).decode(),
    }


def append(log_path, record: dict):
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read(log_path) -> list:
    try:
        lines = open(log_path, "rb").read().splitlines()
    except OSError as e:
        raise AuditError(f"{log_path}: cannot read: {e.strerror}") from None
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "fingerprint" not in rec or "proof" not in rec:
                raise ValueError("missing fields")
        except ValueError as e:
            raise AuditError(f"{log_path}: line {i} is not a valid record ({e})") from None
        out.append(rec)
    return out


def audit(log_paths, verifier=None, fingerprint=None) -> dict:
    """Check every record of one or more logs.

    verifier: None, or (card, vk) from `load_verifier`: records with that fingerprint are
    re-verified. fingerprint: the one every record is expected to carry. Returns a summary
    with per-record results, the fingerprints seen, and `ok` (every record consistent,
    re-verified when possible, and all from the expected or a single model)."""
    from .model.keys import verify_statement
    results, fingerprints = [], {}
    for path in log_paths:
        for i, rec in enumerate(read(path), 1):
            res = {"log": str(path), "record": i, "fingerprint": rec["fingerprint"], "problems": []}
            try:
                blob = base64.b64decode(rec["proof"], validate=True)
                header, st, proof = parse_proof_file(blob)
            except (ValueError, StatementError) as e:
                res["problems"].append(f"unreadable proof: {e}")
                results.append(res)
                continue
            if digest(blob) != rec.get("proof_digest"):
                res["problems"].append("proof digest mismatch")
            if tokens_digest(st.prompt) != rec.get("prompt_digest") or \
                    tokens_digest(st.output) != rec.get("output_digest"):
                res["problems"].append("prompt/output digest mismatch")
            if header["fingerprint"] != rec["fingerprint"]:
                res["problems"].append("record fingerprint differs from the proof's")
            if not rec.get("valid", False):
                res["problems"].append("recorded as invalid when logged")
            if verifier is not None and rec["fingerprint"] == verifier[0]["fingerprint"]:
                res["reverified"] = bool(verify_statement(verifier[1], st, proof))
                if not res["reverified"]:
                    res["problems"].append("re-verification failed")
            fingerprints[rec["fingerprint"]] = fingerprints.get(rec["fingerprint"], 0) + 1
            results.append(res)
    expected = fingerprint or (verifier[0]["fingerprint"] if verifier else None)
    same_model = len(fingerprints) <= 1 and (expected is None or set(fingerprints) <= {expected})
    ok = same_model and all(not r["problems"] for r in results)
    return {"ok": ok, "records": len(results), "fingerprints": fingerprints,
            "same_model": same_model, "expected_fingerprint": expected, "results": results}
