"""`snarkgpt bench model --config ...`: setup, prove and verify one generation on random weights.

The model is `random:<config>` (a seed may be given in the config, default 0). The run sets up
keys once into a temporary directory (INSECURE development setup), proves a generation that
fills the statement (a prompt of half the maximum length, the rest generated greedily), and
verifies it with the verifying key alone: `verify_ms` is the median of several in-process
verifications, the first call (kernel loading) excluded. It also checks that a proof with one
changed byte is rejected.

Reported: setup_seconds (calibration, circuit, SRS and keygen, written to disk),
prover_load_seconds (rebuilding the proving key from the key directory), prove_seconds (one
proof), verify_ms, proof_bytes (the PLONK proof), proof_file_bytes (the .sgp file), k, rows,
peak_rss_bytes (the process's peak; setup_peak_rss_bytes and prove_peak_rss_bytes: setup's and
the proof's apart, where /proc/self/clear_refs can restart the count), the prover's stages
(seconds) and whether the proof verified; for a model
set up in segments (``--layers-per-segment``, ``--memory-budget``, or the default budget),
``segments`` (how many), ``segment_seconds`` (each segment's proof), and for every model the
key directory's size on disk (``key_bytes``: all files; ``vk_bytes``: the public key).
"""
import gc
import os
import shutil
import statistics
import tempfile
import time

from . import report
from .prover import peak_rss_bytes, reset_peak_rss

VERIFY_REPEATS = 21


def model_spec(config: str) -> str:
    """`random:` + config, refusing an empty config (the model shape must be explicit)."""
    from ..model.weights import load_model
    config = config.strip()
    if config.startswith("random:"):
        config = config[len("random:"):]
    if not config:
        raise ValueError("--config is empty: give n_layer=..,n_head=..,n_embd=..,block_size=..,"
                         "vocab_size=..")
    spec = "random:" + config
    load_model(spec)  # a bad config is reported here, before any work
    return spec


def run(config: str, max_tokens=None, repeats: int = VERIFY_REPEATS, progress=None,
        layers_per_segment=None, memory_budget=None, cluster=None, scale_bits=None,
        cluster_keys: str = "shared") -> dict:
    """One benchmark run (module docstring); ``cluster``: a `--cluster` spec whose workers
    prove the segments (snarkgpt/cluster.py; the coordinator's generation and forward pass
    are inside ``prove_seconds``, as `snarkgpt prove --cluster` spends them); ``scale_bits``:
    the fixed-point scale (default: calibrate's choice)."""
    from ..cluster import session
    from ..device import requested, select
    from ..model.keys import Prover, load_verifier, setup, verify_statement
    from ..model.statement import Statement, parse_proof_file, write_proof_file

    def say(msg):
        if progress is not None:
            progress(msg)

    spec = model_spec(config)
    tmp = tempfile.mkdtemp(prefix="snarkgpt-bench-model-")
    try:
        keydir = os.path.join(tmp, "keys")
        say(f"setup of {spec} ...")
        t = time.perf_counter()
        card = setup(spec, keydir, max_tokens=max_tokens, progress=say,
                     layers_per_segment=layers_per_segment, memory_budget=memory_budget,
                     scale_bits=scale_bits)
        setup_s = time.perf_counter() - t
        # setup's peak (its layout choice builds every candidate's first pass) and the
        # proof's, apart: a worker that proves with a made key has only the second
        setup_peak = peak_rss_bytes()
        gc.collect()
        apart = reset_peak_rss()
        key_bytes = sum(os.path.getsize(os.path.join(keydir, f)) for f in os.listdir(keydir))
        vk_bytes = os.path.getsize(os.path.join(keydir, "vk.bin"))

        with session(cluster, progress=say, keys=cluster_keys) as prove:
            t = time.perf_counter()
            # one proof: a segmented key keeps one segment's proving key at a time
            prover = Prover(keydir, progress=say, keep_keys=False)
            load_s = time.perf_counter() - t
            L = prover.L
            V = card["config"]["vocab_size"]
            n_prompt = max(1, L // 2)
            prompt = [(7 * i + 1) % V for i in range(n_prompt)]
            st = prover.generate(prompt, L - n_prompt)
            say(f"proving {st.n_prompt} + {st.n_new} tokens ...")
            stages = {}
            t = time.perf_counter()
            proof = prove(prover, st, stats=stages)
            prove_s = time.perf_counter() - t
        prove_peak = peak_rss_bytes() if apart else None
        path = os.path.join(tmp, "bench.sgp")
        write_proof_file(path, card["fingerprint"], st, proof)
        file_bytes = os.path.getsize(path)

        # the verifier's side: the key directory's public files and the proof file only. The
        # proving key (gigabytes, and a large graph of Python objects that the garbage
        # collector would walk during the timed calls) is dropped first, as in a verifier's
        # own process.
        del prover
        gc.collect()
        _, vk = load_verifier(keydir)
        _, st2, proof2 = parse_proof_file(open(path, "rb").read())
        assert st2 == st and proof2 == proof
        verified = bool(verify_statement(vk, st2, proof2))  # first call: not timed
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            verify_statement(vk, st2, proof2)
            times.append(time.perf_counter() - t)
        tampered = bytearray(proof)
        tampered[len(proof) // 2] ^= 0x01
        try:
            tampered_rejected = not verify_statement(vk, st2, bytes(tampered))
        except ValueError:  # a malformed proof is a rejection too
            tampered_rejected = True
        # a statement that claims other output tokens must not verify either
        other = Statement(st.prompt, ((st.output[0] + 1) % V,) + st.output[1:], L)
        try:
            wrong_rejected = not verify_statement(vk, other, proof)
        except ValueError:
            wrong_rejected = True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    return {
        "model": spec, "k": card["k"], "rows": 1 << card["k"], "max_tokens": L,
        "prompt_tokens": st.n_prompt, "new_tokens": st.n_new,
        "setup_seconds": setup_s, "prover_load_seconds": load_s, "prove_seconds": prove_s,
        "verify_ms": statistics.median(times) * 1e3,
        "proof_bytes": len(proof), "proof_file_bytes": file_bytes,
        "peak_rss_bytes": max(setup_peak, peak_rss_bytes()), "verified": verified,
        "setup_peak_rss_bytes": setup_peak, "prove_peak_rss_bytes": prove_peak,
        "tampered_rejected": bool(tampered_rejected), "wrong_output_rejected": bool(wrong_rejected),
        "segments": len(card.get("segments") or []) or 1,
        "segment_seconds": stages.pop("segments", [prove_s]),
        # where the prover's MSMs and NTTs ran (with --cluster: each segment, on its node)
        "device": select(requested()).name,
        "segment_devices": stages.pop("segment_devices", None),
        "key_bytes": key_bytes, "vk_bytes": vk_bytes, "cluster": cluster,
        "cluster_keys": cluster_keys if cluster else None,
        "scale_bits": card.get("quant_settings", {}).get("scale_bits"),
        "compact_layout": card.get("compact_layout"), "mm_lanes": card.get("mm_lanes"),
        "stages": stages,
    }


def main(args) -> int:
    if not args.config:
        raise ValueError("bench model needs --config n_layer=..,n_head=..,n_embd=..,block_size=..,"
                         "vocab_size=..")
    from ..cli import progress
    res = run(args.config, max_tokens=args.max_tokens, progress=progress,
              layers_per_segment=getattr(args, "layers_per_segment", None),
              memory_budget=getattr(args, "memory_budget", None),
              cluster=getattr(args, "cluster", None),
              cluster_keys=getattr(args, "cluster_keys", "shared"))
    ok = res["verified"] and res["tampered_rejected"] and res["wrong_output_rejected"]
    if args.json:
        report(res, True, "")
    else:
        stages = res.pop("stages")
        report(res, False, f"snarkgpt bench model --config {args.config}")
        print("  prover stages (s):")
        for name, s in stages.items():
            print(f"    {name:<22} {s:.3f}")
    return 0 if ok else 1
