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

Uses only the standard library (urllib), so a verifier needs no web framework.
"""
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class ClientError(ValueError):
    """The exchange could not be completed (server unreachable, refused the request, ...)."""


class Rejected(Exception):
    """The server's answer does not prove what was asked: the reason."""


def _request(url, data=None, timeout=30.0):
    """(status, headers, body bytes); 4xx/5xx answers are returned, not raised."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ClientError(f"cannot reach {url}: {reason}") from None


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
    status, _, body = _request(base + "/model", timeout=timeout)
    if status != 200:
        raise ClientError(f"{base}/model: HTTP {status}: {_error_text(body)}")
    card = _json(body, base + "/model")
    status, _, vk = _request(base + "/model/vk", timeout=timeout)
    if status != 200:
        raise ClientError(f"{base}/model/vk: HTTP {status}: {_error_text(vk)}")
    if "vk" in card and base64.b64decode(card["vk"]) != vk:
        raise ClientError(f"{base}: /model and /model/vk publish different verifying keys")
    return card, vk


def load_key(base_url=None, keydir=None, fingerprint=None, timeout=30.0):
    """(card, vk, fingerprint to require, warning or None).

    Raises Rejected when the key is not the one expected."""
    from .plonk.keygen import VerifyingKey
    if keydir is not None:
        from .model.keys import load_verifier
        card, vk = load_verifier(keydir)       # checks digest(vk) == the card's fingerprint
    else:
        card, vk_bytes = fetch_model(base_url, timeout)
        try:
            vk = VerifyingKey.from_bytes(vk_bytes)
        except Exception as e:
            raise Rejected(f"the server's verifying key is unreadable ({e})") from None
        if vk.digest().hex() != card.get("fingerprint"):
            raise Rejected("the server's verifying key does not match the fingerprint its card "
                           "announces")
    actual = vk.digest().hex()
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
        from .model.tokenizer import CharTokenizer
        toks = CharTokenizer(card["tokenizer"]).encode(prompt)
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
    from .model.keys import verify_statement
    from .model.statement import StatementError, parse_proof_file
    try:
        blob = base64.b64decode(result["proof"], validate=True)
        header, st, proof = parse_proof_file(blob, "the server's proof")
    except (KeyError, TypeError, ValueError, StatementError) as e:
        raise Rejected(f"no readable proof in the answer ({e})") from None
    if header["fingerprint"] != fingerprint:
        raise Rejected(f"the proof is for model {header['fingerprint'][:16]}..., not "
                       f"{fingerprint[:16]}...")
    if st.max_tokens != int(card["max_tokens"]):
        raise Rejected("the proof's statement length does not match the verifying key")
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
    if not verify_statement(vk, st, proof):
        raise Rejected("the proof does not verify")
    return header, st, blob


def _decode(card, tokens):
    if not card.get("tokenizer"):
        return None
    from .model.tokenizer import CharTokenizer
    return CharTokenizer(card["tokenizer"]).decode(list(tokens))


def ask(url, prompt=None, prompt_tokens=None, max_new_tokens=1, fingerprint=None, keydir=None,
        log=None, timeout=600.0, warn=None):
    """The whole exchange; returns a result dict with `valid` (and `reason` when rejected).

    Raises ClientError when the exchange could not be completed (nothing to judge)."""
    from . import audit
    warn = warn or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    out = {"valid": False, "url": url, "expected_fingerprint": fingerprint}
    try:
        card, vk, fp, warning = load_key(url, keydir, fingerprint)
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
    result = submit(url, toks, max_new_tokens, timeout=timeout)
    out["prompt_tokens"] = toks
    try:
        header, st, blob = check_result(card, vk, fp, toks, max_new_tokens, result)
        out.update(valid=True, output_tokens=list(st.output), text=_decode(card, st.output))
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
        audit.append(log, audit.record_for(blob, out["valid"]))
    out["insecure_setup"] = bool(card.get("insecure_setup"))
    out["seconds"] = time.perf_counter() - t0
    return out
