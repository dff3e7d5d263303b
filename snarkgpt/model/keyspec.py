"""What a model key binds: the public parameters of its statements, inside the verifying key.

A verifier relies on more than the circuit: the statement's kind and length, the vocabulary
that token ids must lie in, the tokenizer that turns them into text, the quantization that
shapes the statement, the weights mode, and where the setup came from. All of it is written
at setup into the verifying key's ``statement`` bytes (`plonk.keygen.VerifyingKey`), a
canonical JSON object, so the fingerprint (sha256 of the verifying key) covers it and every
proof's transcript absorbs it (the transcript starts with that digest).

``card.json`` stays the readable copy: `check_card` refuses a card that disagrees with the
key on any bound field, so a verifier never acts on a value the fingerprint does not cover.
The tokenizer (a character model's alphabet, or a GPT-2 BPE tokenizer's files) is bound by
its digest (the card carries the tokenizer itself). The setup's G2 points are named by
``VerifyingKey.srs_digest``, which the key checks against the points the pairing uses: a key
labelled with a ceremony names that ceremony's points.

Bound fields (`BOUND_FIELDS`): statement, max_tokens, config (vocab_size among them), gelu,
quant_settings, weights, compact_layout, mm_lanes, insecure_setup, srs (the provenance label),
quantization (the measured error the provider reports), plus the tokenizer's digest, for
a segmented model ``segments`` (the split: chain.py binds each segment key to its place),
and for a model whose fixed weights lie in wide rows ``weight_width`` (gadgets/matmul.py,
"Wide rows": the prover rebuilds the circuit from it). Not
bound: ``model`` (the path the provider set up from) and ``setup_seconds``.
"""
from __future__ import annotations

import hashlib
import json
import numbers

from .statement import StatementError

FORMAT = "snarkgpt-model-key/1"
BOUND_FIELDS = ("statement", "max_tokens", "config", "gelu", "quant_settings", "weights",
                "compact_layout", "mm_lanes", "insecure_setup", "srs", "quantization")
KINDS = ("generate", "eval")


class KeySpecError(ValueError):
    """A key whose bound parameters are missing or malformed, or a card that disagrees."""


def tokenizer_digest(tokenizer) -> str | None:
    """sha256 of what the card records for the tokenizer, as canonical JSON (None: the model
    has no tokenizer): a character model's alphabet (a list of characters), or a BPE
    tokenizer's files (``{"type": "bpe", "files": {name: text}}``), so that any change to a
    character or to a byte of those files changes the digest."""
    if tokenizer is None:
        return None
    if isinstance(tokenizer, dict):
        return hashlib.sha256(encode(tokenizer)).hexdigest()
    return hashlib.sha256(json.dumps(list(tokenizer), ensure_ascii=True).encode()).hexdigest()


def spec_from_card(card: dict) -> dict:
    """The bound parameters of a card being written at setup."""
    spec = {"format": FORMAT, "tokenizer_digest": tokenizer_digest(card.get("tokenizer"))}
    spec.update({f: card[f] for f in BOUND_FIELDS})
    if card.get("segments") is not None:
        spec["segments"] = card["segments"]
    if card.get("weight_width") is not None:
        spec["weight_width"] = card["weight_width"]
    return spec


def encode(spec: dict) -> bytes:
    """Canonical bytes: sorted keys, no spaces, ASCII."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def decode(data: bytes) -> dict:
    """The bound parameters of a verifying key; KeySpecError when they are not a model key's
    (a key made by an older version, or by `keygen` for another application)."""
    try:
        spec = json.loads(data)
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise KeySpecError("the verifying key binds no model statement parameters (made by an "
                           "older snarkgpt, or not a model key): run `snarkgpt setup` again")
    if encode(spec) != bytes(data):
        raise KeySpecError("the verifying key's statement parameters are not canonical")
    missing = [f for f in BOUND_FIELDS if f not in spec]
    if missing:
        raise KeySpecError(f"the verifying key's statement parameters lack {', '.join(missing)}")
    if spec["statement"] not in KINDS:
        raise KeySpecError(f"unknown statement kind {spec['statement']!r}")
    if "weight_width" in spec and not (_is_int(spec["weight_width"]) and spec["weight_width"] >= 1):
        raise KeySpecError(f"the verifying key's weight width {spec['weight_width']!r} is not a "
                           "positive integer")
    L, V = spec["max_tokens"], (spec["config"] or {}).get("vocab_size")
    if not (_is_int(L) and L >= 2 and _is_int(V) and V >= 1):
        raise KeySpecError("the verifying key's statement length or vocabulary is malformed")
    return spec


def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def check_card(card: dict, spec: dict, vk) -> None:
    """Refuse a card that says anything the verifying key does not bind (KeySpecError names
    the first field that differs)."""
    for f in BOUND_FIELDS:
        if f not in card or card[f] != spec[f]:
            raise KeySpecError(f"card.json disagrees with the verifying key on {f!r} (card: "
                               f"{_short(card.get(f))}, key: {_short(spec[f])}): the card is not "
                               "the one published with this key")
    if card.get("segments") != spec.get("segments"):
        raise KeySpecError("card.json disagrees with the verifying key on the model's segments")
    if card.get("weight_width") != spec.get("weight_width"):
        raise KeySpecError(f"card.json disagrees with the verifying key on 'weight_width' (card: "
                           f"{_short(card.get('weight_width'))}, key: "
                           f"{_short(spec.get('weight_width'))})")
    if tokenizer_digest(card.get("tokenizer")) != spec["tokenizer_digest"]:
        raise KeySpecError("card.json's tokenizer is not the one the verifying key binds")
    if card.get("k") != vk.k:
        raise KeySpecError(f"card.json says k = {card.get('k')}, the verifying key has k = {vk.k}")
    if card.get("srs_digest") != vk.srs_digest.hex():
        raise KeySpecError("card.json names another setup (srs_digest) than the verifying key's, "
                           "or none")


def _short(v) -> str:
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + "..."


def statement_problem(spec: dict, statement) -> str | None:
    """Why ``statement`` cannot be a statement of this key (None: it can): the kind, the
    length, every token an int in [0, vocab_size). A token id is not read mod r anywhere:
    t and t + r are different claims."""
    if statement.kind != spec["statement"]:
        what = "an eval" if statement.kind == "eval" else "a generation"
        return (f"{what} proof cannot be checked with "
                f"{spec['statement'].replace('generate', 'generation')} keys")
    if statement.max_tokens != spec["max_tokens"]:
        return (f"the statement is for {statement.max_tokens} tokens; this key proves exactly "
                f"{spec['max_tokens']}")
    V = spec["config"]["vocab_size"]
    for t in list(statement.prompt) + list(statement.output):
        if not _is_int(t) or not 0 <= t < V:
            return f"token {t!r} is outside the vocabulary [0, {V})"
    return None


def check_statement(spec: dict, statement) -> None:
    """`statement_problem` as an exception (StatementError)."""
    problem = statement_problem(spec, statement)
    if problem:
        raise StatementError(problem)
