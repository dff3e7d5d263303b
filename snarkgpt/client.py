"""The client side of the network protocol: `snarkgpt ask`.

The client trusts nothing the server says except what a proof establishes:

1. It obtains the verifying key: from a local key directory (--keys), or from the server
   (`GET /model`, `GET /model/vk`). It computes the key's digest and compares it with the
   fingerprint it expects (--fingerprint). Without --fingerprint it can only check that the
   server's card and key agree, and warns that the model's identity is not being checked.
2. It tokenizes the prompt itself and sends the token ids (`POST /generate`), then polls the
   job (`GET /jobs/{id}`), honouring 429 Retry-After up to its time limit.
3. From the answer it uses only the proof file: it checks the file's fingerprint is the
   expected one, that the statement's prompt is the prompt it sent and the number of new
   tokens the one it asked for, then verifies the PLONK proof against the pinned verifying
   key. The text it prints is decoded from the proven output tokens (the server's `text`
   and `output_tokens` fields must agree with them, or the answer is rejected).
4. When the server announces a transparency log (the card's `transparency_log`), the answer
   must be in it: the leaf names exactly the verified proof file, and its RFC 9162 inclusion
   proof leads to the root of a tree head signed by the log key for this model. With --log,
   the head is kept in the client's own log, and the next `ask` to the same server checks
   that the new head extends the kept one (a consistency proof from `GET /log/proof/
   consistency`); a head that does not is a split view, and the answer is rejected.

Uses only the standard library (urllib), so a verifier needs no web framework; checking a
transparency log's signed heads needs the `cryptography` package, imported only then.
"""
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


MAX_VK_RESPONSE = 64 << 20
"""Largest `GET /model/vk` answer read (64 MiB). A verifying key holds one commitment per
fixed column; today's keys are tens of KB (15.7 KB for the test model), so this leaves room
for models many times larger while a hostile server still cannot make the client buffer
without end."""

MAX_CARD_RESPONSE = MAX_VK_RESPONSE * 4 // 3 + (1 << 20)
"""Largest `GET /model` answer read: the card is a few KB of JSON, but it carries the verifying
key in base64 (4/3 of its size), so the key limit in base64 plus 1 MiB for the rest (~86 MiB)."""

MAX_JSON_RESPONSE = 16 << 20
"""Largest answer read from `POST /generate` and `GET /jobs/{id}`, and of any error answer
(16 MiB). A result carries one proof file in base64; proofs are 15-200 KB today, so this
leaves ample room and still bounds what a server can make the client hold."""


class ClientError(ValueError):
    """The exchange could not be completed (server unreachable, refused the request, ...)."""


class Rejected(Exception):
    """The server's answer does not prove what was asked: the reason."""


def _request(url, data=None, timeout=30.0, limit=None):
    """(status, headers, body bytes); 4xx/5xx answers are returned, not raised.

    At most `limit` bytes of the answer are read (default MAX_JSON_RESPONSE): a longer one,
    announced or not, raises ClientError naming the limit."""
    limit = MAX_JSON_RESPONSE if limit is None else limit
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), _read_bounded(r, url, limit)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, dict(e.headers), _read_bounded(e, url, limit)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ClientError(f"cannot reach {url}: {reason}") from None


def _read_bounded(resp, url, limit: int) -> bytes:
    """The answer's body if it is at most `limit` bytes; ClientError otherwise. A larger
    Content-Length is refused before reading; without one, limit + 1 bytes are read at most."""
    declared = resp.headers.get("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise ClientError(f"{url}: the server's answer announces {int(declared)} bytes, more than "
                          f"the client's limit of {limit} bytes; not reading it")
    body = resp.read(limit + 1)
    if len(body) > limit:
        raise ClientError(f"{url}: the server's answer is larger than the client's limit of "
                          f"{limit} bytes; stopped reading")
    return body


def _json(body: bytes, url):
    try:
        return json.loads(body)
    except ValueError:
        raise ClientError(f"{url}: the server's answer is not JSON") from None


def _error_text(body: bytes) -> str:
    try:
        return json.loads(body).get("error") or body.decode(errors="replace")
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]


def fetch_model(base_url, timeout=30.0):
    """(card, vk bytes) as the server publishes them."""
    base = base_url.rstrip("/")
    status, _, body = _request(base + "/model", timeout=timeout, limit=MAX_CARD_RESPONSE)
    if status != 200:
        raise ClientError(f"{base}/model: HTTP {status}: {_error_text(body)}")
    card = _json(body, base + "/model")
    status, _, vk = _request(base + "/model/vk", timeout=timeout, limit=MAX_VK_RESPONSE)
    if status != 200:
        raise ClientError(f"{base}/model/vk: HTTP {status}: {_error_text(vk)}")
    if "vk" in card and base64.b64decode(card["vk"]) != vk:
        raise ClientError(f"{base}: /model and /model/vk publish different verifying keys")
    return card, vk


def load_key(base_url=None, keydir=None, fingerprint=None, timeout=30.0, srs_digest=None):
    """(card, vk, fingerprint to require, warning or None).

    The card, from the key directory or the server, is checked against the verifying key's
    bound parameters (`model.keys.check_published`): every value the client then uses (the
    statement length, the vocabulary, the tokenizer, the setup label) is covered by the
    fingerprint. Raises Rejected when the key is not the one expected."""
    from .model.keys import KeyDirError, check_published, load_verifier, parse_verifying_key
    if keydir is not None:
        card, vk = load_verifier(keydir)
    else:
        card, vk_bytes = fetch_model(base_url, timeout)
        try:
            vk = parse_verifying_key(vk_bytes)        # one key, or a segmented model's chain
        except Exception as e:
            raise Rejected(f"the server's verifying key is unreadable ({e})") from None
        try:
            check_published(card, vk, "the server's model card")
        except KeyDirError as e:
            raise Rejected(str(e)) from None
    actual = vk.digest().hex()
    if srs_digest is not None and srs_digest.lower() != vk.srs_digest.hex():
        raise Rejected(f"the model's keys come from setup {vk.srs_digest.hex()[:16]}..., not the "
                       f"expected {srs_digest.lower()[:16]}...: refusing to send the prompt")
    warning = None
    if fingerprint is None:
        warning = ("WARNING: no --fingerprint given: the model's identity is NOT being checked; "
                   f"accepting whatever model the server (or --keys) offers: {actual}")
    elif fingerprint.lower() != actual:
        src = "the key directory" if keydir is not None else "the server"
        raise Rejected(f"{src} offers model {actual[:16]}..., not the expected "
                       f"{fingerprint.lower()[:16]}...: refusing to send the prompt")
    return card, vk, actual, warning


def encode_prompt(card, prompt=None, prompt_tokens=None):
    if prompt_tokens is not None:
        toks = [int(t) for t in prompt_tokens]
    else:
        if not card.get("tokenizer"):
            raise ClientError("this model has no tokenizer: give prompt tokens")
        from .model.tokenizer import tokenizer_from_card
        toks = tokenizer_from_card(card["tokenizer"]).encode(prompt)
    V = int(card["config"]["vocab_size"])
    bad = [t for t in toks if not 0 <= t < V]
    if bad:
        raise ClientError(f"token {bad[0]} is outside the vocabulary [0, {V})")
    return toks


def submit(base_url, prompt_tokens, max_new_tokens, timeout=600.0, poll=10.0):
    """Send the request and wait (polling, retrying on 429) for the result's JSON."""
    base = base_url.rstrip("/")
    deadline = time.monotonic() + timeout
    body = json.dumps({"prompt_tokens": list(prompt_tokens), "max_new_tokens": int(max_new_tokens)}).encode()

    def left():
        return deadline - time.monotonic()

    while True:
        w = max(0.0, min(poll, left()))
        status, headers, resp = _request(f"{base}/generate?wait={w:.1f}", data=body, timeout=w + 30)
        if status == 429:
            ra = headers.get("Retry-After") or headers.get("retry-after") or "1"
            try:
                delay = max(0.5, float(ra))
            except ValueError:
                delay = 1.0
            if left() < delay:
                raise ClientError(f"the server stayed busy (429) for {timeout:.0f} s")
            time.sleep(delay)
            continue
        break
    while True:
        if status == 200:
            return _json(resp, base)
        if status != 202:
            raise ClientError(f"the server refused the request: HTTP {status}: {_error_text(resp)}")
        job = _json(resp, base).get("job")
        if not isinstance(job, str) or not job.isalnum():
            raise ClientError("the server answered 202 without a job id")
        if left() <= 0:
            raise ClientError(f"no result within {timeout:.0f} s (job {job})")
        w = max(0.0, min(poll, left()))
        status, _, resp = _request(f"{base}/jobs/{job}?wait={w:.1f}", timeout=w + 30)


def check_result(card, vk, fingerprint, prompt_tokens, max_new_tokens, result: dict):
    """(header, statement, proof file bytes) after every check; Rejected otherwise."""
    from .model.keys import rejection
    from .model.statement import StatementError, parse_proof_file
    try:
        blob = base64.b64decode(result["proof"], validate=True)
        header, st, proof = parse_proof_file(blob, "the server's proof")
    except (KeyError, TypeError, ValueError, StatementError) as e:
        raise Rejected(f"no readable proof in the answer ({e})") from None
    if header["fingerprint"] != fingerprint:
        raise Rejected(f"the proof is for model {header['fingerprint'][:16]}..., not "
                       f"{fingerprint[:16]}...")
    reason = rejection(vk, st, proof, fingerprint=header["fingerprint"])
    if reason:
        raise Rejected(reason)
    if list(st.prompt) != list(prompt_tokens):
        raise Rejected(f"the proof is about another prompt ({list(st.prompt)}), not the one sent "
                       f"({list(prompt_tokens)})")
    if st.n_new != max_new_tokens:
        raise Rejected(f"the proof covers {st.n_new} new tokens, {max_new_tokens} were asked for")
    if "output_tokens" in result and list(result["output_tokens"]) != list(st.output):
        raise Rejected("the answer's output_tokens differ from the proven output")
    text = _decode(card, st.output)
    if result.get("text") is not None and result.get("text") != text:
        raise Rejected("the answer's text differs from the proven output")
    return header, st, blob


def _decode(card, tokens):
    if not card.get("tokenizer"):
        return None
    from .model.tokenizer import tokenizer_from_card
    return tokenizer_from_card(card["tokenizer"]).decode(list(tokens))


def kept_head(log_path, url):
    """The latest transparency record kept in the client's log for this server (None when
    there is none): what the next answer's head must be consistent with."""
    import os
    from . import audit
    if not log_path or not os.path.exists(log_path):
        return None
    base = url.rstrip("/")
    kept = [r["transparency"] for r in audit.read(log_path)
            if isinstance(r.get("transparency"), dict) and r["transparency"].get("url") == base]
    return kept[-1] if kept else None


def fetch_log_json(base_url, path, timeout=30.0) -> dict:
    """A /log/... answer as JSON; Rejected when the server will not give it (a log that
    cannot produce its own proofs is not one a client can rely on)."""
    base = base_url.rstrip("/")
    status, _, body = _request(base + path, timeout=timeout)
    if status != 200:
        raise Rejected(f"{base}{path}: HTTP {status}: {_error_text(body)}")
    out = _json(body, base + path)
    if not isinstance(out, dict):
        raise Rejected(f"{base}{path}: the answer is not a JSON object")
    return out


def check_log(url, card, fingerprint, blob, result, kept):
    """The answer's transparency-log checks (`transparency.check.verify_answer`, then
    consistency with the kept head); returns the record to keep. Rejected otherwise."""
    import importlib.util
    from .transparency import heads
    from .transparency.check import (LogCheckError, card_log_key, verify_answer, verify_head,
                                     verify_heads_consistent)
    base = url.rstrip("/")
    if card.get("transparency_log") is not None and not importlib.util.find_spec("cryptography"):
        raise ClientError("the server keeps a transparency log; checking its signed heads needs "
                          "the cryptography package: pip install 'snarkgpt[serve]'")
    try:
        key = card_log_key(card)
        if key is None:
            if kept is not None:
                raise LogCheckError("the server no longer announces the transparency log whose "
                                    "head you kept")
            return None
        log_id = heads.log_id(key)
        if kept is not None and kept.get("log_id") != log_id:
            raise LogCheckError(f"the server's log key changed (log {str(kept.get('log_id'))[:16]}"
                                f"... when you kept a head, {log_id[:16]}... now): a new log "
                                "can hide the old one's history")
        entry = verify_answer(result.get("log"), key, fingerprint, blob)
        consistent_with = None
        if kept is not None:
            old = verify_head(kept.get("head"), key, fingerprint)
            new = verify_head(entry["head"], key, fingerprint)
            lo, hi = sorted((old["size"], new["size"]))
            path = []
            if lo > 0 and lo != hi:
                path = fetch_log_json(base, f"/log/proof/consistency?old={lo}&new={hi}").get(
                    "consistency")
            verify_heads_consistent(old, new, path)
            consistent_with = old["size"]
    except LogCheckError as e:
        raise Rejected(f"transparency log: {e}") from None
    return {"url": base, "log_id": log_id, "public_key": key.hex(), "index": entry["index"],
            "size": entry["size"], "leaf": base64.b64encode(entry["leaf"]).decode(),
            "inclusion": entry["inclusion"], "head": entry["head"],
            "consistent_with": consistent_with}


def ask(url, prompt=None, prompt_tokens=None, max_new_tokens=1, fingerprint=None, keydir=None,
        log=None, timeout=600.0, warn=None, srs_digest=None):
    """The whole exchange; returns a result dict with `valid` (and `reason` when rejected).

    Raises ClientError when the exchange could not be completed (nothing to judge)."""
    from . import audit
    warn = warn or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    out = {"valid": False, "url": url, "expected_fingerprint": fingerprint}
    try:
        card, vk, fp, warning = load_key(url, keydir, fingerprint, srs_digest=srs_digest)
    except Rejected as e:
        out["reason"] = str(e)
        return out
    if warning:
        warn(warning)
        out["warning"] = warning
    out["model_fingerprint"] = fp
    toks = encode_prompt(card, prompt, prompt_tokens)
    if max_new_tokens < 1:
        raise ClientError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    # the log key comes from the server's card (a local --keys card announces no log)
    log_card = card if keydir is None else fetch_model(url)[0]
    kept = kept_head(log, url)
    result = submit(url, toks, max_new_tokens, timeout=timeout)
    out["prompt_tokens"] = toks
    out["inclusion_verified"] = False
    tlog = None
    try:
        header, st, blob = check_result(card, vk, fp, toks, max_new_tokens, result)
        out.update(output_tokens=list(st.output), text=_decode(card, st.output))
        tlog = check_log(url, log_card, fp, blob, result, kept)
        out["valid"] = True
        if tlog is not None:
            out.update(log_index=tlog["index"], log_size=tlog["size"], inclusion_verified=True,
                       log_id=tlog["log_id"], log_consistent_with=tlog["consistent_with"])
    except Rejected as e:
        out["reason"] = str(e)
        blob = None
        try:
            from .model.statement import parse_proof_file
            blob = base64.b64decode(result.get("proof", ""), validate=True)
            parse_proof_file(blob)
        except Exception:
            blob = None
    if log and blob is not None:
        record = audit.record_for(blob, out["valid"])
        if tlog is not None:
            record["transparency"] = tlog       # the head kept for the next ask and for audits
        audit.append(log, record)
    out["insecure_setup"] = bool(card.get("insecure_setup"))
    out["seconds"] = time.perf_counter() - t0
    return out
