"""The `snarkgpt` command: setup, prove, prove-eval, verify, audit, demo, inspect and benchmarks.

Every sub-command exits 0 on success, 1 when a check fails (e.g. a proof is rejected) and 2 on
bad input, printing one line that names the problem on stderr.
"""
import argparse
import importlib
import json
import sys

EXAMPLES = {   # name -> a factory of the example circuit (snarkgpt/plonk/examples.py)
    "fibonacci": lambda ex: ex.Fibonacci(steps=16),
    "range": lambda ex: ex.RangeCheck([0, 5, 17, 255, 3], [1, 1, 200]),
    "product": lambda ex: ex.ProductCheck([1, 2, 3, -4], [5, 6, -7, 8]),
    "mac": lambda ex: ex.MultiplyAccumulate.random(64, seed=0, chunk=16),
}


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit code 2."""


class SetupMismatch(Exception):
    """Keys from another setup than the one required (--srs-digest): exit code 1."""


def load_circuit(spec: str):
    """A circuit object from an example name or `module:attribute` (a class or instance)."""
    if spec in EXAMPLES:
        from .plonk import examples
        return EXAMPLES[spec](examples)
    if ":" not in spec:
        raise UsageError(f"unknown circuit {spec!r}: use one of {', '.join(EXAMPLES)} or module:attribute")
    module, attr = spec.split(":", 1)
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot load circuit {spec!r}: {e}") from None
    return obj() if isinstance(obj, type) else obj


def progress(msg: str):
    """Progress lines on stderr, only when a person is watching (stderr is a terminal)."""
    if sys.stderr.isatty():
        print(f"[snarkgpt] {msg}", file=sys.stderr, flush=True)


def emit(result: dict, as_json: bool, lines):
    """Print `lines` for people, or `result` as one JSON object on the last line."""
    if as_json:
        print(json.dumps(result))
    else:
        for line in lines:
            print(line)


def parse_tokens(spec: str, option: str = "--prompt-tokens") -> list:
    try:
        return [int(t) for t in spec.split(",") if t.strip()]
    except ValueError:
        raise UsageError(f"{option} must be comma-separated integers, got {spec!r}") from None


def prompt_tokens(args, card) -> list:
    if args.prompt_tokens is not None:
        toks = parse_tokens(args.prompt_tokens)
    else:
        if not card.get("tokenizer"):
            raise UsageError("this model has no tokenizer: use --prompt-tokens")
        from .model.tokenizer import tokenizer_from_card
        toks = tokenizer_from_card(card["tokenizer"]).encode(args.prompt)
    V = card["config"]["vocab_size"]
    bad = [t for t in toks if not 0 <= t < V]
    if bad:
        raise UsageError(f"token {bad[0]} is outside the vocabulary [0, {V})")
    return toks


def decode(card, tokens):
    """The text of ``tokens`` (None: no tokenizer, or a token outside it: a rejected statement
    is still reported, by its token ids)."""
    if not card.get("tokenizer"):
        return None
    from .model.tokenizer import TokenizerError, tokenizer_from_card
    try:
        return tokenizer_from_card(card["tokenizer"]).decode(tokens)
    except TokenizerError:
        return None


def check_srs(card, expected) -> None:
    """With ``--srs-digest HEX``: refuse keys whose setup is not the named one (the digest
    of a ceremony's G2 points, `snarkgpt srs-digest FILE.ptau`). The key binds its setup's
    digest to the G2 points its pairing check uses (`VerifyingKey.srs_digest`), so a key
    that passes came from that ceremony's powers."""
    if expected is None:
        return
    actual = card["srs_digest"]
    if expected.lower() != actual:
        raise SetupMismatch(f"the keys' setup is {actual[:16]}..., not the expected "
                            f"{expected.lower()[:16]}...: refusing them")


def cmd_setup(args) -> int:
    from .model.keys import setup
    kind = "eval" if args.eval else "generate"
    card = setup(args.model, args.out, srs_path=args.srs, max_tokens=args.max_tokens, progress=progress,
                 statement=kind, weights=args.weights, layout=args.layout,
                 layers_per_segment=args.layers_per_segment, memory_budget=args.memory_budget,
                 weight_width=args.weight_width, embed_chunk=args.embed_chunk,
                 head_chunk=args.head_chunk)
    result = {k: card[k] for k in ("fingerprint", "k", "max_tokens", "insecure_setup", "setup_seconds",
                                   "statement", "weights", "compact_layout", "mm_lanes")}
    segs = card.get("segments") or []
    result["segments"] = len(segs) or 1
    result["weight_width"] = card.get("weight_width")      # None: the narrow weight rows
    emit(result, args.json, [
        f"keys written to {args.out}",
        f"model fingerprint: {card['fingerprint']}" + ("  (eval key: publish it next to the "
                                                        "generation key's)" if args.eval else ""),
        f"layout: {'compact' if card['compact_layout'] else 'banked, %d matmul lanes' % card['mm_lanes']}"
        + (f"; {len(segs)} segment proofs of 2^{card['k']} rows each, linked" if segs else "")
        + (f"; fixed weights {card['weight_width']} a row" if card.get("weight_width") else ""),
        (f"circuit rows: 2^{card['k']}; eval windows of up to {card['max_tokens']} tokens" if args.eval
         else f"circuit rows: 2^{card['k']}; statements of up to {card['max_tokens']} tokens"),
        f"setup: {card['srs']}" + ("  (INSECURE development setup: for tests and demos only)"
                                   if card["insecure_setup"] else ""),
        f"setup took {card['setup_seconds']:.1f} s"]
        + ([f"weights: committed (hiding); keep {args.out}/committed.npz private and safe: "
            "without it no proof can be made for this key"] if args.weights == "committed" else []))
    return 0


def _prove(keydir, prompt, max_new, out, stats=None, cluster=None, as_json=False,
           cluster_keys="shared"):
    """Generate greedily, prove (here, or with ``cluster`` a `--cluster` spec on a Ray
    cluster: snarkgpt/cluster.py), write the proof file; returns (card, statement, proof,
    seconds). The cluster is connected first: a bad address fails before any work."""
    import time
    from .cluster import session
    from .model.keys import Prover
    from .model.statement import write_proof_file
    with session(cluster, progress=progress, as_json=as_json, keys=cluster_keys) as prove:
        prover = Prover(keydir, progress=progress, keep_keys=False)   # one proof: one segment key at a time
        st = prover.generate(prompt, max_new)
        progress(f"proving {st.n_prompt} + {st.n_new} tokens ...")
        t = time.perf_counter()
        proof = prove(prover, st, stats=stats)
        seconds = time.perf_counter() - t
    card = prover.card
    write_proof_file(out, card["fingerprint"], st, proof, text=decode(card, list(st.output)))
    return card, st, proof, seconds


def require_kind(card, kind):
    """Refuse a key directory whose statement kind (generation or eval) is not ``kind``."""
    from .model.keys import kind_error, statement_kind
    if statement_kind(card) != kind:
        raise UsageError(kind_error(statement_kind(card)))


def check_out_path(out):
    import os
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise UsageError(f"{out}: the folder {parent} does not exist")
    if os.path.isdir(out):
        raise UsageError(f"{out} is a folder: give the proof file's path")


def check_request(card, toks, max_new_tokens, out=None):
    """Refuse a request that cannot be proven before the (slow) proving key is built."""
    from .model.statement import Statement
    require_kind(card, "generate")
    if max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    Statement(tuple(toks), (0,) * max_new_tokens, int(card["max_tokens"]))  # length checks
    if out is not None:
        check_out_path(out)


def cmd_prove(args) -> int:
    import os
    from .model.keys import read_card
    card = read_card(args.keys)
    require_kind(card, "generate")
    toks = prompt_tokens(args, card)
    check_request(card, toks, args.max_new_tokens, args.out)
    card, st, proof, seconds = _prove(args.keys, toks, args.max_new_tokens, args.out,
                                      cluster=args.cluster, as_json=args.json,
                                      cluster_keys=args.cluster_keys)
    size = os.path.getsize(args.out)
    text = decode(card, list(st.output))
    result = {"model_fingerprint": card["fingerprint"], "prompt_tokens": list(st.prompt),
              "output_tokens": list(st.output), "text": text, "prove_seconds": seconds,
              "proof_bytes": len(proof), "proof_file_bytes": size, "k": card["k"],
              "insecure_setup": card["insecure_setup"]}
    emit(result, args.json, [
        f"generated: {text!r}" if text is not None else f"generated tokens: {list(st.output)}",
        f"proof written to {args.out} ({size} bytes; PLONK proof {len(proof)} bytes) in {seconds:.2f} s",
        f"model fingerprint: {card['fingerprint']}"])
    return 0


def eval_window(args, card) -> list:
    """The eval window's tokens from --tokens, --text or --text-file."""
    if args.tokens is not None:
        toks = parse_tokens(args.tokens, "--tokens")
    else:
        if args.text_file is not None:
            try:
                with open(args.text_file, encoding="utf-8") as f:
                    text = f.read()
            except OSError as e:
                raise UsageError(f"{args.text_file}: cannot read: {e.strerror}") from None
            except UnicodeDecodeError:
                raise UsageError(f"{args.text_file}: not UTF-8 text") from None
        else:
            text = args.text
        if not card.get("tokenizer"):
            raise UsageError("this model has no tokenizer: use --tokens")
        from .model.tokenizer import tokenizer_from_card
        toks = tokenizer_from_card(card["tokenizer"]).encode(text)
    V = card["config"]["vocab_size"]
    bad = [t for t in toks if not 0 <= t < V]
    if bad:
        raise UsageError(f"token {bad[0]} is outside the vocabulary [0, {V})")
    return toks


def cmd_prove_eval(args) -> int:
    """Prove how many of the model's next-token predictions over a public window are right."""
    import os
    import time
    from .model.keys import Prover, read_card, verify_statement
    from .model.statement import EvalStatement, write_proof_file
    card = read_card(args.keys)
    require_kind(card, "eval")
    toks = eval_window(args, card)
    EvalStatement(tuple(toks), int(card["max_tokens"]), 0)   # length checks, before any work
    check_out_path(args.out)
    from .cluster import session
    with session(args.cluster, progress=progress, as_json=args.json,
                 keys=args.cluster_keys) as prove:
        prover = Prover(args.keys, progress=progress, keep_keys=False)
        st = prover.evaluate(toks)
        progress(f"proving the {st.total} predictions over a window of {len(toks)} tokens ...")
        t = time.perf_counter()
        proof = prove(prover, st)
        seconds = time.perf_counter() - t
    # the file is written only for a proof that verifies against the published key
    valid = verify_statement(prover.vk, st, proof)
    if not valid:
        print("snarkgpt: the proof does not verify against this key: no proof file written",
              file=sys.stderr)
        return 1
    card = prover.card
    text = decode(card, toks)
    write_proof_file(args.out, card["fingerprint"], st, proof, text=text)
    size = os.path.getsize(args.out)
    result = {"valid": valid, "statement": "eval", "model_fingerprint": card["fingerprint"],
              "tokens": list(st.window), "text": text, "correct": st.correct, "total": st.total,
              "accuracy": st.accuracy, "prove_seconds": seconds, "proof_bytes": len(proof),
              "proof_file_bytes": size, "k": card["k"], "insecure_setup": card["insecure_setup"]}
    emit(result, args.json, [
        f"correct next-token predictions: {st.correct} of {st.total} "
        f"(accuracy {st.accuracy:.1%}) over a window of {len(toks)} tokens",
        f"proof written to {args.out} ({size} bytes; PLONK proof {len(proof)} bytes) in {seconds:.2f} s",
        f"model fingerprint (eval key): {card['fingerprint']}"])
    return 0


def cmd_verify(args) -> int:
    import time
    from . import audit
    from .model.keys import load_verifier, rejection
    from .model.statement import read_proof_file
    card, vk = load_verifier(args.keys)         # the card checked against the key's bytes
    check_srs(card, getattr(args, "srs_digest", None))
    header, st, proof = read_proof_file(args.proof)
    t = time.perf_counter()
    reason = rejection(vk, st, proof, fingerprint=header["fingerprint"])
    valid = reason is None
    ms = (time.perf_counter() - t) * 1e3
    file_bytes = open(args.proof, "rb").read()
    if args.log:
        audit.append(args.log, audit.record_for(file_bytes, valid))
    if st.kind == "eval":
        text = decode(card, list(st.window))
        result = {"valid": valid, "statement": "eval", "model_fingerprint": header["fingerprint"],
                  "tokens": list(st.window), "text": text, "correct": st.correct, "total": st.total,
                  "accuracy": st.accuracy}
        shown = [f"window: {text!r}" if text is not None else f"window tokens: {list(st.window)}",
                 ("correct next-token predictions: " if valid else "claimed correct predictions: ")
                 + f"{st.correct} of {st.total} (accuracy {st.accuracy:.1%})"]
    else:
        text = decode(card, list(st.output))
        result = {"valid": valid, "statement": "generate", "model_fingerprint": header["fingerprint"],
                  "prompt_tokens": list(st.prompt), "output_tokens": list(st.output), "text": text}
        shown = [f"prompt: {decode(card, list(st.prompt))!r}" if text is not None
                 else f"prompt tokens: {list(st.prompt)}",
                 f"output: {text!r}" if text is not None else f"output tokens: {list(st.output)}"]
    result.update({"verify_ms": ms, "proof_bytes": len(proof), "proof_file_bytes": len(file_bytes),
                   "k": card["k"], "insecure_setup": card["insecure_setup"],
                   "srs_digest": card["srs_digest"]})
    if reason:
        result["reason"] = reason
    emit(result, args.json, [
        ("VERIFIED" if valid else f"REJECTED: {reason}"),
        f"model fingerprint: {header['fingerprint']}"] + shown + [
        f"verified in {ms:.1f} ms"]
        + (["warning: these keys come from an INSECURE development setup"] if card["insecure_setup"]
           else [f"setup: {card['srs']} (srs digest {card['srs_digest']})"]))
    return 0 if valid else 1


def cmd_audit(args) -> int:
    from .audit import audit
    from .model.keys import load_verifier
    if not args.logs and not args.log_url:
        raise UsageError("give audit logs to check, or --log-url URL to monitor a transparency log")
    if args.heads and not args.log_url:
        raise UsageError("--heads are checked against a transparency log: give --log-url too")
    verifier = load_verifier(args.keys) if args.keys else None
    if verifier:
        check_srs(verifier[0], args.srs_digest)
    if args.log_url:
        code = cmd_monitor(args, verifier)
        if not args.logs:
            return code
    res = audit(args.logs, verifier=verifier, fingerprint=args.fingerprint)
    lines = [f"{res['records']} records; fingerprints: " +
             ", ".join(f"{f[:16]}... x{n}" for f, n in res["fingerprints"].items())]
    for r in res["results"]:
        if r["problems"]:
            lines.append(f"  {r['log']} record {r['record']}: " + "; ".join(r["problems"]))
    lines.append("all records used the same model" if res["same_model"] else
                 "RECORDS USED DIFFERENT MODELS (or not the expected one)")
    lines.append("AUDIT OK" if res["ok"] else "AUDIT FAILED")
    emit(res, args.json, lines)
    return 0 if res["ok"] and not (args.log_url and code) else 1


def cmd_monitor(args, verifier) -> int:
    """`audit --log-url`: the transparency log monitor (`audit.monitor`); every problem is
    printed with its evidence (the signed heads, entries and proofs that show it)."""
    from .audit import monitor
    from .client import ClientError
    try:
        res = monitor(args.log_url, heads=args.heads or (), verifier=verifier,
                      fingerprint=args.fingerprint)
    except ClientError as e:
        raise UsageError(str(e)) from None
    lines = [f"transparency log {res['log_id'][:16]}... at {res['url']}: {res['log_size']} entries, "
             f"{res['entries_verified']} re-verified, root recomputed; {res['heads_checked']} "
             "held head(s) checked"
             + (f" ({res['heads_of_other_logs']} of other logs ignored)"
                if res["heads_of_other_logs"] else "")]
    for p in res["problems"]:
        lines.append(f"{p['kind'].upper()}: {p['detail']}")
        lines.append("  evidence: " + json.dumps(p["evidence"], sort_keys=True))
    lines.append("LOG AUDIT OK" if res["ok"] else "LOG AUDIT FAILED")
    emit(res, args.json, lines)
    return 0 if res["ok"] else 1


def _demo_keydir(max_tokens: int) -> str:
    """The demo's cached key directory, named after a digest of the circuit's source (the
    proof system, the gadgets, the model circuit): keys made by another version of the code
    would no longer match the circuit, so a new version sets up once more and the demo's
    older key directories are removed."""
    import os
    import shutil
    from . import cache_home, source_digest
    base = cache_home()
    digest = source_digest(("plonk", "gadgets", "model"), (".py", ".npz", ".json"))
    name = f"demo-keys-L{max_tokens}-{digest[:12]}"
    if os.path.isdir(base):
        for old in os.listdir(base):
            if old.startswith(f"demo-keys-L{max_tokens}") and old != name:
                shutil.rmtree(os.path.join(base, old), ignore_errors=True)
    return os.path.join(base, name)


def cmd_demo(args) -> int:
    import os
    import time
    from .model.keys import read_card, setup, load_verifier, verify_statement
    from .model.statement import read_proof_file
    keydir = args.keys or _demo_keydir(args.max_tokens)
    if not os.path.exists(os.path.join(keydir, "card.json")):
        print(f"setting up keys for the bundled model in {keydir} (once; cached) ...", flush=True)
        setup("bundled", keydir, max_tokens=args.max_tokens, progress=progress)
    card = read_card(keydir)
    prompt = prompt_tokens(args, card)
    check_request(card, prompt, args.max_new_tokens)
    out = os.path.join(keydir, "demo.sgp")
    card, st, proof, prove_s = _prove(keydir, prompt, args.max_new_tokens, out,
                                      cluster=args.cluster, cluster_keys=args.cluster_keys)
    _, vk = load_verifier(keydir)
    _, st2, proof2 = read_proof_file(out)
    t = time.perf_counter()
    valid = verify_statement(vk, st2, proof2)
    cold_ms = (time.perf_counter() - t) * 1e3
    warm = []
    for _ in range(3):  # a verifier that checks many proofs pays the kernel loading once
        t = time.perf_counter()
        verify_statement(vk, st2, proof2)
        warm.append((time.perf_counter() - t) * 1e3)
    ms = sorted(warm)[1]
    print(f"prompt:      {decode(card, list(st.prompt))!r}")
    print(f"generated:   {decode(card, list(st.output))!r}")
    print(f"fingerprint: {card['fingerprint']}")
    print(f"circuit:     2^{card['k']} rows; setup {'INSECURE (development)' if card['insecure_setup'] else card['srs']}")
    print(f"prove:       {prove_s:.2f} s   verify: {ms:.1f} ms (first call {cold_ms:.0f} ms)   "
          f"proof: {os.path.getsize(out)} bytes")
    print("VERIFIED" if valid else "REJECTED")
    return 0 if valid else 1


def cmd_inspect(args) -> int:
    from .plonk.examples import build
    from .plonk.describe import describe, format_text
    if args.keys is not None:
        return _inspect_keys(args)
    if args.model is not None:
        from .model.keys import keygen_circuit
        from .model.quantize import calibrate, quantize_model
        from .model.weights import load_model
        from .plonk.circuit import ConstraintSystem, synthesize
        model = load_model(args.model)
        settings, _ = calibrate(model, report=False)
        kind = "eval" if args.eval else "generate"
        circuit = keygen_circuit(quantize_model(model, settings), settings,
                                 args.max_tokens or model.config.block_size + (kind == "eval"),
                                 statement=kind)
        cs = ConstraintSystem()
        config = circuit.configure(cs)
        asg = synthesize(cs, circuit, config)
        desc = describe(cs, asg)
    else:
        circuit = load_circuit(args.circuit)
        cs, _, asg = build(circuit, k=args.k)
        desc = describe(cs, asg)
    if args.json:
        print(json.dumps(desc))
    else:
        print(format_text(desc))
    return 0


def _inspect_keys(args) -> int:
    """A key directory's verifying key: its segments (k, columns, rows) or its one circuit."""
    from .model.chain import ChainKey, describe as describe_chain
    from .model.keys import load_verifier
    card, vk = load_verifier(args.keys)
    if isinstance(vk, ChainKey):
        segs = describe_chain(vk)
    else:
        d = vk.layout.desc
        segs = [{"index": 0, "part": "whole model", "blocks": [0, card["config"]["n_layer"]],
                 "k": d.k, "rows": d.n, "usable_rows": d.usable_rows,
                 "advice_columns": len(d.advice), "fixed_columns": len(d.fixed),
                 "instance_columns": [c.name for c in d.instance], "links": [],
                 "fingerprint": vk.digest().hex()}]
    info = {"fingerprint": card["fingerprint"], "segments": segs}
    emit(info, args.json, [f"model fingerprint: {card['fingerprint']}"] + [
        f"segment {s['index']} ({s['part']}): k = {s['k']}, {s['advice_columns']} advice + "
        f"{s['fixed_columns']} fixed columns, links {', '.join(s['links']) or '-'}" for s in segs])
    return 0


def cmd_bench(args) -> int:
    if args.what == "primitives":
        from .bench import primitives
        return primitives.main(args)
    if args.what == "prover":
        from .bench import prover
        return prover.main(args)
    if args.what == "model":
        from .bench import model
        return model.main(args)
    if args.what == "scaling":
        if getattr(args, "fit", None):
            from .bench import cost_model
            return cost_model.main(args)
        if args.against:
            raise UsageError("--against DIR compares a fit with another run: give --fit DIR too")
        if args.resume:
            from .bench import sweep
            return sweep.main(args)
        if args.retry_failed or args.point_timeout is not None:
            raise UsageError("--retry-failed and --point-timeout need --resume DIR")
        from .bench import scaling
        return scaling.main(args)
    if args.what == "quality":
        from .bench import quality
        return quality.main(args)
    raise UsageError(f"unknown benchmark {args.what!r}")


def cmd_serve(args) -> int:
    from .server import serve
    return serve(args.keys, host=args.host, port=args.port, workers=args.workers,
                 queue=args.queue, log=args.log, max_wait=args.max_wait,
                 per_client=args.per_client, max_body=args.max_body,
                 transparency_log=args.transparency_log, cluster=args.cluster,
                 cluster_keys=args.cluster_keys)


def cmd_srs_digest(args) -> int:
    if args.ptau:
        from .plonk.srs import SRS
        digest = SRS.from_ptau(args.ptau, n=1, check=False).digest().hex()
    else:
        from .model.keys import load_verifier
        digest = load_verifier(args.keys)[1].srs_digest.hex()
    print(digest)
    return 0


def cmd_ask(args) -> int:
    from .client import ClientError, ask
    toks = parse_tokens(args.prompt_tokens) if args.prompt_tokens is not None else None
    try:
        res = ask(args.url, prompt=args.prompt, prompt_tokens=toks,
                  max_new_tokens=args.max_new_tokens, fingerprint=args.fingerprint,
                  keydir=args.keys, log=args.log, timeout=args.timeout,
                  srs_digest=args.srs_digest)
    except ClientError as e:
        raise UsageError(str(e)) from None
    valid = res["valid"]
    shown = (f"output: {res['text']!r}" if res.get("text") is not None
             else f"output tokens: {res.get('output_tokens')}")
    logged = []
    if res.get("inclusion_verified"):
        logged.append(f"log index {res['log_index']} of {res['log_size']}, inclusion verified")
        if res.get("log_consistent_with") is not None:
            logged.append(f"log consistent with the head of size {res['log_consistent_with']} "
                          f"kept in {args.log}")
    emit(res, args.json, ([shown] if valid else [])
         + ["VERIFIED" if valid else f"REJECTED: {res['reason']}",
            f"model fingerprint: {res.get('model_fingerprint')}"] + logged
         + (["warning: the model's keys come from an INSECURE development setup"]
            if res.get("insecure_setup") else []))
    return 0 if valid else 1


def weight_width_arg(text: str):
    """``--weight-width``: "auto", "narrow" (None) or a positive integer."""
    if text in ("auto", "narrow"):
        return None if text == "narrow" else "auto"
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, narrow or a positive integer")
    return int(text)


def add_cluster_option(p) -> None:
    p.add_argument("--cluster", default=None, metavar="SPEC",
                   help="prove the segments on a Ray cluster (needs the 'cluster' extra): "
                        "local[:N] starts one here with N workers for this run, auto joins "
                        "RAY_ADDRESS, HOST:PORT joins that head node; docs/cluster.md")
    from .cluster import KEY_MODES      # no Ray import: cluster.py imports it only in use
    p.add_argument("--cluster-keys", choices=KEY_MODES, default="shared",
                   help="with --cluster: how workers get the key directory: shared (the same "
                        "path on every node, default) or object-store (sent once per proof "
                        "through Ray's object store, copied to each node's temporary folder)")


def add_device_option(p) -> None:
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                   help="where the MSMs and NTTs run: auto (default) uses a CUDA GPU when "
                        "numba.cuda finds one; docs/gpu.md")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snarkgpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="benchmarks (medians of several runs)")
    bench.add_argument("what", choices=["primitives", "prover", "model", "scaling", "quality"])
    bench.add_argument("--k", type=int, default=16, help="rows 2^k (bench prover)")
    bench.add_argument("--config", default=None,
                       help="bench model: n_layer=..,n_head=..,n_embd=..,block_size=..,vocab_size=..[,seed=..]")
    bench.add_argument("--max-tokens", type=int, default=None,
                       help="bench model: statement length (default: block size); bench "
                            "quality: held-out window length (eval proofs: one more token)")
    bench.add_argument("--layers-per-segment", type=int, default=None,
                       help="bench model: split into segment proofs of N blocks each")
    bench.add_argument("--memory-budget", default=None,
                       help="bench model: split into as few segments as fit this much memory")
    bench.add_argument("--quick", action="store_true",
                       help="bench scaling: small grid around the tiny model, small points proved")
    bench.add_argument("--prove", action="store_true",
                       help="bench scaling: also set up, prove and verify points within --budget")
    bench.add_argument("--budget", type=float, default=None,
                       help="bench scaling: seconds of proving allowed (default 150 quick, 1800 full)")
    bench.add_argument("--out", default=None,
                       help="bench scaling: folder for scaling.json and the PNG plots (with --fit: cost-model.png)")
    bench.add_argument("--ezkl", action="store_true",
                       help="bench scaling: compare with EZKL at the tiny model (if ezkl is installed)")
    bench.add_argument("--grid", default=None, choices=["full", "quick", "small", "test"],
                       help="bench scaling: the grid (default full; --quick: quick, or small with "
                            "--resume; docs/scaling.md)")
    bench.add_argument("--resume", default=None, metavar="DIR",
                       help="bench scaling: run each point in its own process, one result file "
                            "per point in DIR; a rerun skips the points DIR already holds")
    bench.add_argument("--fit", default=None, metavar="DIR", nargs="+",
                       help="bench scaling: fit the per-segment cost model on the proved points "
                            "of DIR (from --prove --resume DIR; several DIRs: runs of the same "
                            "grid, each point's median), check it on held-back points and "
                            "extrapolate to GPT-2 small, medium and large (--memory-budget, "
                            "default 12G)")
    bench.add_argument("--against", default=None, metavar="DIR",
                       help="bench scaling --fit: also compare the fitted model with the "
                            "records of another run of the grid in DIR (never fitted on)")
    bench.add_argument("--retry-failed", action="store_true",
                       help="bench scaling --resume: run the points recorded as failed again")
    bench.add_argument("--point-timeout", type=float, default=None, metavar="S",
                       help="bench scaling --resume: a point still running after S seconds is "
                            "killed and recorded as failed")
    bench.add_argument("--data", default=None,
                       help="bench quality: tiny-shakespeare text (default: $SNARKGPT_DATA, "
                            "else ../shared/data/tinyshakespeare.txt)")
    bench.add_argument("--model", default="bundled",
                       help="bench quality: the model (bundled, a path or random:...)")
    bench.add_argument("--scale-bits", default=None,
                       help="bench quality: comma-separated scales (default 6,7,...,14)")
    bench.add_argument("--widths", default=None,
                       help="bench quality: comma-separated widths of random models "
                            "(default 16,32,64,128,256; 'none' skips them)")
    bench.add_argument("--windows", type=int, default=None,
                       help="bench quality: held-out windows for the quantization error")
    bench.add_argument("--prove-windows", type=int, default=0,
                       help="bench quality: held-out windows to prove with prove-eval (default 0)")
    bench.add_argument("--users", type=int, default=8,
                       help="bench quality: simulated users whose audit logs are checked")
    bench.add_argument("--json", action="store_true", help="one JSON object on the last line")
    add_device_option(bench)
    add_cluster_option(bench)
    bench.set_defaults(func=cmd_bench)

    st = sub.add_parser("setup", help="calibrate, build the circuit and generate keys for a model")
    st.add_argument("--model", default="bundled", help="bundled, a path (.npz, ckpt.pt, GPT-2 folder) or random:...")
    st.add_argument("--out", required=True, help="the key directory to write")
    st.add_argument("--srs", default=None, help="a prepared snarkjs .ptau file (default: INSECURE dev setup)")
    st.add_argument("--max-tokens", type=int, default=None,
                    help="longest prompt + output (default: block size); with --eval, the longest "
                         "window (default and maximum: block size + 1)")
    st.add_argument("--eval", action="store_true",
                    help="an eval key: proves accuracy over a public window (snarkgpt prove-eval)")
    st.add_argument("--weights", choices=("fixed", "committed"), default="fixed",
                    help="fixed: the verifying key commits the weights (binding, not hiding); "
                         "committed: a hiding commitment, re-randomized in every proof "
                         "(docs/committed-weights.md)")
    sp = st.add_mutually_exclusive_group()
    sp.add_argument("--layers-per-segment", type=int, default=None,
                    help="split the model into segment proofs of N transformer blocks each "
                         "(docs/protocol.md, Segments and links)")
    sp.add_argument("--memory-budget", default=None,
                    help="split into as few segments as fit this much memory when proving "
                         "(e.g. 12G; default: 3/4 of the available memory)")
    st.add_argument("--layout", choices=("auto", "banked", "compact"), default="auto",
                    help="auto: the cheapest to prove (columns x rows); compact: fewer columns, "
                         "smaller proofs and faster verification, slower proving for large "
                         "models; banked: the cheapest banked layout (docs/quantization.md)")
    st.add_argument("--weight-width", type=weight_width_arg, default="auto", metavar="auto|narrow|N",
                    help="fixed weights per row of the weight products (gadgets/matmul.py, Wide "
                         "rows): auto (default: the cheapest estimate), narrow (4 weights in "
                         "4 slots a row) or N")
    for part, what in (("embed", "embedding"), ("head", "head")):
        st.add_argument(f"--{part}-chunk", type=int, default=None, metavar="TOKENS",
                        help=f"split the {what} into segments over chunks of TOKENS vocabulary "
                             "entries (default: only where it does not fit the blocks' "
                             "segments; docs/protocol.md, Segments and links)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_setup)

    pr = sub.add_parser("prove", help="generate greedily and prove the generation")
    pr.add_argument("--keys", required=True)
    g = pr.add_mutually_exclusive_group(required=True)
    g.add_argument("--prompt", help="prompt text (needs the model's tokenizer)")
    g.add_argument("--prompt-tokens", help="comma-separated token ids")
    pr.add_argument("--max-new-tokens", type=int, required=True)
    pr.add_argument("--out", required=True, help="the proof file to write")
    pr.add_argument("--json", action="store_true")
    add_device_option(pr)
    add_cluster_option(pr)
    pr.set_defaults(func=cmd_prove)

    pe = sub.add_parser("prove-eval", help="prove how many next-token predictions over a public "
                                           "window are correct (needs an eval key)")
    pe.add_argument("--keys", required=True, help="an eval key directory (snarkgpt setup --eval)")
    g = pe.add_mutually_exclusive_group(required=True)
    g.add_argument("--text", help="the window as text (needs the model's tokenizer)")
    g.add_argument("--tokens", help="the window as comma-separated token ids")
    g.add_argument("--text-file", help="the window as a UTF-8 text file")
    pe.add_argument("--out", required=True, help="the proof file to write")
    pe.add_argument("--json", action="store_true")
    add_device_option(pe)
    add_cluster_option(pe)
    pe.set_defaults(func=cmd_prove_eval)

    ve = sub.add_parser("verify", help="verify a proof file with the verifying key only")
    ve.add_argument("--keys", required=True)
    ve.add_argument("--proof", required=True)
    ve.add_argument("--log", default=None, help="append a record to this audit log (JSON lines)")
    ve.add_argument("--srs-digest", default=None,
                    help="require keys from this setup (`snarkgpt srs-digest FILE.ptau`)")
    ve.add_argument("--json", action="store_true")
    ve.set_defaults(func=cmd_verify)

    sd = sub.add_parser("srs-digest", help="the digest naming a setup: of a .ptau ceremony "
                                           "file's G2 points, or of a key directory's")
    g = sd.add_mutually_exclusive_group(required=True)
    g.add_argument("--ptau", help="a snarkjs .ptau file")
    g.add_argument("--keys", help="a key directory")
    sd.set_defaults(func=cmd_srs_digest)

    au = sub.add_parser("audit", help="re-check audit logs: same model for every record? With "
                                      "--log-url, monitor a server's transparency log")
    au.add_argument("logs", nargs="*")
    au.add_argument("--log-url", default=None, metavar="URL",
                    help="monitor this server's transparency log: re-verify every entry, "
                         "recompute the root, check the --heads users hold")
    au.add_argument("--heads", nargs="+", default=None, metavar="FILE",
                    help="users' `ask --log` files (or files of signed heads) to check against "
                         "the log: split views, missing entries, model changes")
    au.add_argument("--fingerprint", default=None, help="the fingerprint every record must carry")
    au.add_argument("--keys", default=None, help="re-verify records against these keys")
    au.add_argument("--srs-digest", default=None,
                    help="require --keys to come from this setup (`snarkgpt srs-digest`)")
    au.add_argument("--json", action="store_true")
    au.set_defaults(func=cmd_audit)

    de = sub.add_parser("demo", help="bundled model: set up (cached), prove a short generation, verify")
    de.add_argument("--keys", default=None, help="key directory (default: a cache in ~/.cache/snarkgpt)")
    g = de.add_mutually_exclusive_group()
    g.add_argument("--prompt", default="ROMEO:")
    g.add_argument("--prompt-tokens", default=None)
    de.add_argument("--max-new-tokens", type=int, default=8)
    de.add_argument("--max-tokens", type=int, default=16, help="statement length of the demo key")
    add_cluster_option(de)
    de.set_defaults(func=cmd_demo)

    insp = sub.add_parser("inspect", help="print a circuit's columns, gates, lookups and regions")
    insp.add_argument("--circuit", default="fibonacci",
                      help=f"an example ({', '.join(EXAMPLES)}) or module:attribute")
    insp.add_argument("--model", default=None, help="inspect a model's circuit instead (bundled, path, random:...)")
    insp.add_argument("--keys", default=None,
                      help="inspect a key directory instead: its segments with their k, columns, rows")
    insp.add_argument("--max-tokens", type=int, default=None)
    insp.add_argument("--eval", action="store_true", help="with --model: the eval statement's circuit")
    insp.add_argument("--k", type=int, default=None, help="rows 2^k (default: the smallest that fits)")
    insp.add_argument("--json", action="store_true")
    insp.set_defaults(func=cmd_inspect)

    sv = sub.add_parser("serve", help="serve generation proofs over HTTP (needs the 'serve' extra)")
    sv.add_argument("--keys", required=True, help="a full key directory (with model.npz, srs.npz)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--workers", type=int, default=None,
                    help="proving worker processes (default 1); with --cluster, proofs in "
                         "flight on the cluster (default: its task slots / segments, rounded up)")
    sv.add_argument("--queue", type=int, default=8,
                    help="jobs that may wait beyond those being proven; more get 429")
    sv.add_argument("--max-wait", type=float, default=60.0, help="longest ?wait= honoured (s)")
    sv.add_argument("--per-client", type=int, default=None,
                    help="jobs one client address may hold, queued or proving (default: a "
                         "quarter of workers + queue, at least 1); more get 429")
    sv.add_argument("--max-body", type=int, default=64 * 1024,
                    help="largest request body in bytes, counted while it streams (413 beyond)")
    sv.add_argument("--log", default=None, help="append every issued proof to this audit log")
    sv.add_argument("--transparency-log", default=None, metavar="PATH",
                    help="keep every issued answer in this transparency log (an SQLite "
                         "database; the provider's signing key is PATH.key, made on first "
                         "start): docs/transparency.md")
    add_device_option(sv)
    add_cluster_option(sv)
    sv.set_defaults(func=cmd_serve)

    ak = sub.add_parser("ask", help="ask a server for a proven generation and verify it locally")
    ak.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    g = ak.add_mutually_exclusive_group(required=True)
    g.add_argument("--prompt", help="prompt text (needs the model's tokenizer)")
    g.add_argument("--prompt-tokens", help="comma-separated token ids")
    ak.add_argument("--max-new-tokens", type=int, required=True)
    ak.add_argument("--fingerprint", default=None, help="the model fingerprint to require (pin it!)")
    ak.add_argument("--srs-digest", default=None,
                    help="require the model's keys to come from this setup (`snarkgpt srs-digest`)")
    ak.add_argument("--keys", default=None, help="use this key directory's verifying key, not the server's")
    ak.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    ak.add_argument("--log", default=None, help="append a record to this audit log (JSON lines)")
    ak.add_argument("--json", action="store_true")
    ak.set_defaults(func=cmd_ask)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        import os
        from . import device
        if args.command == "serve":           # worker processes route themselves (install)
            device.select(args.device)
            os.environ[device.ENV] = args.device
            return args.func(args)
        with device.use(getattr(args, "device", "cpu")):
            return args.func(args)
    except SetupMismatch as e:
        print(f"snarkgpt: {e}", file=sys.stderr)
        return 1
    except (UsageError, ValueError, OSError) as e:
        # every input problem (bad tokens, files, keys, proofs) is a ValueError subclass that
        # names the problem; one line, exit code 2, no traceback
        print(f"snarkgpt: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
