"""The audit trail: an append-only JSON-lines log of verified proofs, and the monitor of a
server's transparency log (`monitor`, `snarkgpt audit --log-url`; docs/transparency.md).

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


# ------------------------------------------------------------------ the transparency log monitor

def _held_heads(paths):
    """(source, head, entry or None) for every head users hold: each record of their `ask`
    logs that kept one (with the entry it proved included), and bare signed heads (one JSON
    object a line, as gossiped)."""
    out = []
    for path in paths:
        try:
            lines = open(path, "rb").read().splitlines()
        except OSError as e:
            raise AuditError(f"{path}: cannot read: {e.strerror}") from None
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise AuditError(f"{path}: line {i} is not JSON ({e})") from None
            if not isinstance(rec, dict):
                raise AuditError(f"{path}: line {i} is not a JSON object")
            t = rec.get("transparency")
            if isinstance(t, dict):
                out.append((f"{path} line {i}", t.get("head"), t))
            elif "signature" in rec and "root" in rec:
                out.append((f"{path} line {i}", rec, None))
    return out


def monitor(url, heads=(), verifier=None, fingerprint=None, timeout=30.0) -> dict:
    """Audit a server's transparency log as a monitor: fetch every entry, check each leaf
    names its proof file and re-verify every proof against the verifying key (`verifier`
    (card, vk) from a key directory, else the server's key, pinned by `fingerprint`),
    recompute the root and compare it with the signed head, then check every head users hold
    (`heads`: their `ask` logs, or files of gossiped heads) against the log: same root at
    their size (else a split view), their entries present (else a missing entry), signed by
    the log key for this model (else a model change or a bad head).

    Returns {"ok", "problems": [{"kind", "detail", "evidence"}], ...}; raises
    client.ClientError when the server cannot be asked at all."""
    from . import client
    from .model.keys import rejection
    from .transparency.check import (LogCheckError, card_log_key, hashes, verify_head,
                                     verify_heads_consistent)
    from .transparency.entries import EntryError, check_entry
    from .transparency.heads import log_id
    from .transparency.merkle import ProofError, Tree, leaf_hash, verify_inclusion

    base = url.rstrip("/")
    problems = []
    import importlib.util
    if importlib.util.find_spec("cryptography") is None:     # the heads' signatures: Ed25519
        raise AuditError("checking a transparency log needs the cryptography package: "
                         "pip install 'snarkgpt[serve]'")

    def problem(kind, detail, **evidence):
        problems.append({"kind": kind, "detail": detail, "evidence": evidence})

    card, _ = client.fetch_model(base, timeout)
    try:
        vcard, vk, fp, _ = client.load_key(base, keydir=None, fingerprint=None, timeout=timeout) \
            if verifier is None else (verifier[0], verifier[1], verifier[0]["fingerprint"], None)
    except client.Rejected as e:
        raise AuditError(f"{base}: {e}") from None
    expected = fingerprint or fp
    if card.get("fingerprint") != expected or fp != expected:
        problem("model change", f"the server publishes model {str(card.get('fingerprint'))[:16]}"
                f"..., the expected model is {expected[:16]}...",
                served=card.get("fingerprint"), expected=expected)
    try:
        key = card_log_key(card)
    except LogCheckError as e:
        raise AuditError(f"{base}: {e}") from None
    if key is None:
        raise AuditError(f"{base}: the server announces no transparency log")

    def get(path):
        try:
            return client.fetch_log_json(base, path, timeout)
        except client.Rejected as e:
            raise AuditError(str(e)) from None

    head_sent = get("/log/head")
    try:
        head = verify_head(head_sent, key, expected)
    except LogCheckError as e:
        problem("bad head", f"the log's current head: {e}", head=head_sent)
        return _monitor_result(problems, base, key, None, 0, 0)
    n = head["size"]

    # every entry, page by page, each re-verified
    tree, leaves, verified = Tree(), [], {}
    start = 0
    while start < n:
        page = get(f"/log/entries?start={start}&end={n}")
        entries = page.get("entries")
        if not isinstance(entries, list) or not entries:
            raise AuditError(f"{base}/log/entries?start={start}: no entries, the head says {n}")
        for e in entries:
            i = start
            try:
                if e.get("index") != i:
                    raise EntryError(f"the page's entry is numbered {e.get('index')}, expected {i}")
                leaf = base64.b64decode(e["leaf"], validate=True)
                blob = base64.b64decode(e["proof"], validate=True)
                rec, header, st, proof = check_entry(leaf, blob)
            except (EntryError, KeyError, TypeError, ValueError, AttributeError) as err:
                problem("bad entry", f"entry {i}: {err}", index=i)
                return _monitor_result(problems, base, key, head_sent, n, len(leaves))
            if rec["fingerprint"] != expected:
                problem("model change", f"entry {i} was served by model {rec['fingerprint'][:16]}"
                        f"..., not {expected[:16]}...", index=i, leaf=leaf.decode())
            else:
                d = rec["proof_digest"]
                if d not in verified:       # a proof served twice is verified once
                    verified[d] = rejection(vk, st, proof, fingerprint=header["fingerprint"])
                if verified[d]:
                    problem("bad entry", f"entry {i}: the logged proof does not verify "
                            f"({verified[d]})", index=i, leaf=leaf.decode())
            tree.append(leaf_hash(leaf))
            leaves.append(leaf)
            start += 1
            if start >= n:
                break
    if tree.root(n).hex() != head["root"]:
        problem("rewritten log", f"the {n} entries served do not have the root of the log's "
                "signed head: the entries were changed after they were signed",
                head=head_sent, recomputed_root=tree.root(n).hex())

    # the heads users hold (those naming another log, another server's, are not this log's)
    checked, others = 0, 0
    seen_beyond = {}
    for source, held, entry in _held_heads(heads):
        if isinstance(held, dict) and held.get("log_id") not in (None, log_id(key)):
            others += 1
            continue
        checked += 1
        try:
            h = verify_head(held, key, expected)
        except LogCheckError as e:
            kind = "model change" if "model change" in str(e) else "bad head"
            problem(kind, f"{source}: {e}", held_head=held)
            continue
        m = h["size"]
        if m <= n:
            if tree.root(m).hex() != h["root"]:
                problem("split view", f"{source}: the signed head of size {m} held by a user is "
                        f"not a prefix of the log's signed head of size {n}: the log showed them "
                        "another history", held_head=held, log_head=head_sent)
            elif 0 < m < n:         # the server must also be able to prove it
                path = get(f"/log/proof/consistency?old={m}&new={n}").get("consistency")
                try:
                    verify_heads_consistent(h, head, path)
                except LogCheckError as e:
                    problem("split view", f"{source}: {e}", held_head=held, log_head=head_sent,
                            consistency=path)
        else:
            other = seen_beyond.setdefault(m, (source, held))
            problem("split view", f"{source}: a user holds a signed head of size {m}, the log's "
                    f"signed head has only {n} entries (history rolled back or forked)",
                    held_head=held, log_head=head_sent)
            if other[1]["root"] != h["root"]:
                problem("split view", f"{source} and {other[0]} hold two signed heads of size {m} "
                        "with different roots", held_head=held, other_head=other[1])
        if entry is not None and "index" in entry:     # the user's own answer, proved included
            try:
                idx = entry["index"]
                leaf = base64.b64decode(entry["leaf"], validate=True)
                verify_inclusion(leaf_hash(leaf), idx, m, hashes(entry["inclusion"]),
                                 bytes.fromhex(h["root"]))
            except (KeyError, TypeError, ValueError, ProofError, LogCheckError) as e:
                problem("bad head", f"{source}: the kept entry's inclusion proof does not check "
                        f"({e})", held_head=held)
                continue
            if idx >= n or leaves[idx] != leaf:
                problem("missing entry", f"{source}: the answer the user holds (log index {idx}, "
                        f"proved included in the signed head of size {m}) is not entry {idx} of "
                        "the log", index=idx, leaf=leaf.decode(), held_head=held,
                        inclusion=entry["inclusion"])
    return _monitor_result(problems, base, key, head_sent, n, len(leaves), checked, others)


def _monitor_result(problems, url, key, head, size, entries, heads_checked=0,
                    other_logs=0) -> dict:
    from .transparency.heads import log_id
    return {"ok": not problems, "url": url, "log_id": log_id(key), "log_size": size,
            "head": head, "entries_verified": entries, "heads_checked": heads_checked,
            "heads_of_other_logs": other_logs, "problems": problems}
