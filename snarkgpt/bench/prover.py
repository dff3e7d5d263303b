"""`snarkgpt bench prover --k K`: keygen, prove and verify the synthetic ML-shaped circuit.

Reports keygen / prove / verify time (medians of several proofs), proof bytes, peak memory,
the prover's time by stage, whether the honest proof verified and whether a proof with one
changed byte (in the middle of a commitment) was rejected. For scale it also times one
full-size MSM of 2^k points in the same run: the goal at k = 16 is a proof in at most 30 of
those.
"""
import resource
import statistics
import time
import warnings

from . import report
from .kernels import bench_msm
from .synthetic import SyntheticCircuit


def peak_rss_bytes() -> int:
    """This process's peak resident memory: VmHWM where /proc has it (Linux). getrusage's
    ru_maxrss survives exec, so a process spawned by a large parent would report the
    parent's size; VmHWM belongs to the process's own address space."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak_rss() -> bool:
    """Start this process's peak resident memory (VmHWM) again from its current size, so
    that `peak_rss_bytes` then measures a later phase alone (writing 5 to
    /proc/self/clear_refs, Linux 4.0 on). False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run(k: int, repeats: int = 3) -> dict:
    from ..plonk.circuit import ConstraintSystem
    from ..plonk.keygen import keygen
    from ..plonk.prover import prove
    from ..plonk.srs import SRS, InsecureSetupWarning
    from ..plonk.verifier import verify

    circuit = SyntheticCircuit.for_k(k)
    cs = ConstraintSystem()
    config = circuit.configure(cs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSetupWarning)
        t = time.perf_counter()
        srs = SRS.dev((1 << k) + 1, seed=b"bench-prover")
        srs.lagrange(k)
        srs_s = time.perf_counter() - t
    t = time.perf_counter()
    pk, vk = keygen(srs, cs, circuit, config, k=k)
    keygen_s = time.perf_counter() - t

    prove(pk, circuit, config)  # warm-up: compiles or loads every kernel
    times, stages = [], []
    for _ in range(repeats):
        st = {}
        t = time.perf_counter()
        proof = prove(pk, circuit, config, stats=st)
        times.append(time.perf_counter() - t)
        stages.append(st)
    instances = circuit.instances()
    verified = verify(vk, instances, proof)
    vt = []
    for _ in range(max(5, repeats)):
        t = time.perf_counter()
        verify(vk, instances, proof)
        vt.append(time.perf_counter() - t)
    tampered = bytearray(proof)
    tampered[len(proof) // 3] ^= 0x01
    try:
        tampered_rejected = not verify(vk, instances, bytes(tampered))
    except ValueError:  # a malformed proof is a rejection too
        tampered_rejected = True
    msm_s = bench_msm(k, repeats=3)
    prove_s = statistics.median(times)
    stage_median = {name: statistics.median(s[name] for s in stages) for name in stages[0]}
    return {
        "k": k, "rows": 1 << k, "advice_columns": cs.num_advice, "degree": cs.degree(),
        "srs_seconds": srs_s, "keygen_seconds": keygen_s,
        "prove_seconds": prove_s, "verify_ms": statistics.median(vt) * 1e3,
        "proof_bytes": len(proof), "verified": bool(verified),
        "tampered_rejected": bool(tampered_rejected), "peak_rss_bytes": peak_rss_bytes(),
        "msm_full_2^k_seconds": msm_s, "prove_over_msm": prove_s / msm_s,
        "stages": stage_median,
    }


def main(args) -> int:
    res = run(args.k)
    if args.json:
        report(res, True, "")
    else:
        stages = res.pop("stages")
        report(res, False, f"snarkgpt bench prover --k {args.k} (medians)")
        print("  prover stages (s):")
        for name, s in stages.items():
            print(f"    {name:<22} {s:.3f}")
    return 0 if res["verified"] and res["tampered_rejected"] else 1
