"""One GPU session: compile every numba.cuda kernel, check it against the CPU, time it.

    python benchmarks/gpu_bench.py --out DIR                 # on a CUDA machine
    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu_bench.py --sim --out DIR   # dry run, tiny sizes

Stages (each guarded: a failure is recorded and the next stage still runs):

1. env: versions, the GPU's name and compute capability, where NVVM was found;
2. compile: first call of every kernel in field/cuda.py and curve/cuda.py at small sizes,
   with its compile time and a bit-for-bit comparison with the CPU kernels (on failure the
   exception text, which holds NVVM's log);
3. mul: Fr Montgomery multiplies per second on the device (a dependent chain per thread);
4. ntt: NTT 2^k on the GPU (device arrays, and host arrays in and out) and on the CPU;
5. msm: MSM 2^k with full and 16-bit scalars on the GPU (host arrays in, affine point out)
   and on the CPU, results compared;
6. prove (with --prove K): the synthetic circuit of `snarkgpt bench prover` at 2^K proven on
   the CPU, routed (device.use, default thresholds) and with everything on the device; the
   three proofs' bytes compared.

The CPU kernels are compiled in a background process while the GPU kernels compile (both
populate the same Numba cache), so neither waits for the other; timing starts after both.
Results go to DIR/gpu_bench.json, rewritten after every stage so a run cut short keeps
what it measured. --deadline (seconds from start) skips the sizes that would overrun it.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

T0 = time.monotonic()


def elapsed() -> float:
    return time.monotonic() - T0


def log(msg: str) -> None:
    print(f"[{elapsed():7.1f}s] {msg}", flush=True)


def median_time(fn, repeats: int, sync=lambda: None):
    """(median seconds of `repeats` calls after one warm-up call, last result)."""
    r = fn()
    sync()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = fn()
        sync()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), r


def warm_cpu(sim: bool) -> None:
    """Compile (and cache) the CPU NTT and MSM kernels on the paths the timings take."""
    import numpy as np
    from snarkgpt.curve import msm as cpu_msm
    from snarkgpt.field import Fr
    from snarkgpt.field import ntt as cpu_ntt
    k = 8 if sim else 16
    a = Fr.random(1 << k, rng=np.random.default_rng(0))
    cpu_ntt.intt(cpu_ntt.ntt(a))
    pts = cpu_msm.random_points(1 << k, rng=np.random.default_rng(1))
    for bits in (None, 16):
        cpu_msm.msm(pts, cpu_msm.random_scalars(1 << k, bits, rng=np.random.default_rng(2)))


class Report:
    """The JSON document, written after every stage."""

    def __init__(self, out: Path, args):
        self.path = out / "gpu_bench.json"
        self.doc = dict(command=" ".join(sys.argv), sim=args.sim, stages={}, compile={},
                        ntt=[], msm=[], errors=[])

    def save(self):
        self.doc["elapsed_s"] = round(elapsed(), 1)
        self.path.write_text(json.dumps(self.doc, indent=2, default=str))

    def error(self, where: str, exc: BaseException):
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log(f"FAILED {where}: {type(exc).__name__}: {str(exc)[:2000]}")
        self.doc["errors"].append(dict(where=where, error=f"{type(exc).__name__}: {exc}",
                                       traceback=text[-6000:]))
        self.save()


def stage(rep: Report, name: str, fn):
    log(f"== {name}")
    t = time.perf_counter()
    try:
        fn()
        rep.doc["stages"][name] = dict(ok=True, seconds=round(time.perf_counter() - t, 2))
    except BaseException as e:                        # noqa: BLE001 - report every failure
        if isinstance(e, KeyboardInterrupt):
            raise
        rep.error(name, e)
        rep.doc["stages"][name] = dict(ok=False, seconds=round(time.perf_counter() - t, 2))
    rep.save()


# ---- stages ------------------------------------------------------------------------------
def env_stage(rep: Report):
    import llvmlite
    import numba
    import numpy as np
    from numba import cuda
    from snarkgpt import device
    from snarkgpt.field import ifma
    e = dict(python=platform.python_version(), numba=numba.__version__,
             numpy=np.__version__, llvmlite=llvmlite.__version__, cpus=os.cpu_count(),
             cpu=platform.processor() or platform.machine(), cpu_ifma=bool(ifma.available()),
             device=device.device_name(), cuda_home=os.environ.get("CUDA_HOME"))
    try:
        with open("/proc/cpuinfo") as f:
            e["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except Exception:
        pass
    if not device.simulator_active():
        dev = cuda.get_current_device()
        e["compute_capability"] = list(dev.compute_capability)
        e["sms"] = dev.MULTIPROCESSOR_COUNT
        try:
            from numba.cuda.cudadrv import nvvm
            e["nvvm_version"] = list(nvvm.NVVM().get_version())
        except Exception as x:
            e["nvvm_version"] = f"{type(x).__name__}: {x}"
        try:
            e["driver_version"] = list(cuda.cudadrv.driver.driver.get_version())
        except Exception as x:
            e["driver_version"] = str(x)
    rep.doc["env"] = e
    log(json.dumps(e))


def compile_stage(rep: Report, sim: bool):
    """First call of every kernel (its compile), each checked against the CPU bit for bit."""
    import numpy as np
    from snarkgpt.curve import cuda as gc
    from snarkgpt.curve import g1
    from snarkgpt.curve import msm as cpu_msm
    from snarkgpt.field import Fq, Fr
    from snarkgpt.field import cuda as fc
    from snarkgpt.field import ntt as cpu_ntt

    n = 16 if sim else 1024
    k = 4 if sim else 10
    rng = np.random.default_rng(5)
    pts = cpu_msm.random_points(32 if sim else 1024, rng=rng)

    def check_field(dev, F):
        a, b = F.random(n, rng=rng), F.random(n, rng=rng)
        assert np.array_equal(dev.mul(a, b), F.mul(a, b)), "mul"
        assert np.array_equal(dev.add(a, b), F.add(a, b)), "add"
        assert np.array_equal(dev.sub(a, b), F.sub(a, b)), "sub"
        assert F.to_ints(dev.scale(a, 12345)) == [x * 12345 % F.modulus for x in F.to_ints(a)]
        a[3] = 0
        inv = dev.batch_inverse(a)
        assert F.to_ints(inv) == [pow(x, -1, F.modulus) if x else 0 for x in F.to_ints(a)]

    def check_ntt(shared):
        a = Fr.random(1 << k, rng=rng)
        assert np.array_equal(fc.ntt(a, shared_log=shared), cpu_ntt.ntt(a)), "ntt"
        assert np.array_equal(fc.intt(a, shared_log=shared), cpu_ntt.intt(a)), "intt"
        assert np.array_equal(fc.coset_ntt(a, 7, shared_log=shared),
                              cpu_ntt.coset_ntt(a, 7)), "coset_ntt"
        assert np.array_equal(fc.coset_intt(a, 7, shared_log=shared),
                              cpu_ntt.coset_intt(a, 7)), "coset_intt"

    def check_points():
        a, b = pts[:8].copy(), pts[8:16].copy()
        b[0], b[1], a[2], b[3] = a[0], g1.neg(a[1]), 0, 0
        r = gc.point_ops(a, b)
        s, d = g1.add(a, b), g1.add(a, a)
        for f in (0, 1):
            assert np.array_equal(r[:, 0, f], s) and np.array_equal(r[:, 1, f], s)
            assert np.array_equal(r[:, 2, f], d)

    def check_msm(bits, c=None):
        m = pts.shape[0]
        sc = cpu_msm.random_scalars(m, bits, rng=rng)
        assert np.array_equal(gc.msm(pts, sc, c=c), cpu_msm.msm(pts, sc)), "msm"

    cases = [("field Fr (k_mul, k_add, k_sub, k_scale, k_batch_inv)",
              lambda: check_field(fc.FR_GPU, Fr)),
             ("field Fq", lambda: check_field(fc.FQ_GPU, Fq)),
             ("ntt global stages (_k_gather, _k_stage)", lambda: check_ntt(0)),
             ("ntt shared tiles (k_tiles)", lambda: check_ntt(None)),
             ("ntt shared tiles 2^3", lambda: check_ntt(3)),
             ("point formulas (k_point_ops)", check_points),
             ("msm full scalars (k_digits, k_hist, k_scatter, k_buckets, "
              "k_window_segments, k_tree_level)", lambda: check_msm(None)),
             ("msm 16-bit scalars", lambda: check_msm(16)),
             ("msm c=3", lambda: check_msm(None, 3))]
    for name, fn in cases:
        t = time.perf_counter()
        try:
            fn()
            rep.doc["compile"][name] = dict(ok=True, seconds=round(time.perf_counter() - t, 2))
            log(f"ok   {name}: {time.perf_counter() - t:.1f}s (compile + check)")
        except BaseException as e:                    # noqa: BLE001
            rep.doc["compile"][name] = dict(ok=False, seconds=round(time.perf_counter() - t, 2),
                                            error=f"{type(e).__name__}: {str(e)[:4000]}")
            rep.error(f"compile: {name}", e)
        rep.save()
    if not all(v["ok"] for v in rep.doc["compile"].values()):
        raise RuntimeError("some kernels failed to compile or to match the CPU")


def mul_stage(rep: Report, sim: bool):
    import numpy as np
    from numba import cuda
    from snarkgpt.field import Fr
    from snarkgpt.field import cuda as fc

    @cuda.jit
    def chain(a, out, iters):
        i = cuda.grid(1)
        if i < a.shape[0]:
            x = fc.ld(a, i)
            y = fc.ld(a, (i + 1) % a.shape[0])
            for _ in range(iters):
                x = fc.fr_mul(x, y)
            fc.st(out, i, x)

    if sim:                 # the simulator resolves `cuda` only as a module global
        log("skipped in the simulator")
        return
    n, iters = 1 << 20, 256
    d_a = cuda.to_device(Fr.random(n, rng=np.random.default_rng(0)))
    d_o = cuda.device_array((n, 4), dtype=np.uint64)
    with fc.quiet():
        t, _ = median_time(lambda: chain[fc.launch(n)](d_a, d_o, iters), 3, cuda.synchronize)
    rep.doc["fr_mul_per_s"] = n * iters / t
    log(f"Fr multiplies: {n * iters / t / 1e9:.2f} G/s")


def _fits(rep, k: int, deadline: float, est_s: float) -> bool:
    if elapsed() + est_s > deadline:
        log(f"skip 2^{k}: {elapsed():.0f}s + ~{est_s:.0f}s would pass the deadline {deadline:.0f}s")
        rep.doc.setdefault("skipped", []).append(f"2^{k} ({est_s:.0f}s estimated)")
        return False
    return True


def ntt_stage(rep: Report, ks, deadline: float, sim: bool):
    import numpy as np
    from numba import cuda
    from snarkgpt.field import Fr
    from snarkgpt.field import cuda as fc
    from snarkgpt.field import ntt as cpu_ntt
    for k in ks:
        if not _fits(rep, k, deadline, 3 + (1 << k) / 2e5):
            continue
        n = 1 << k
        row = dict(k=k)
        try:
            a = Fr.random(n, rng=np.random.default_rng(k))
            fc.twiddles_device(k)
            d_a = cuda.to_device(a)
            d_o = cuda.device_array((n, 4), dtype=np.uint64)
            reps = 2 if sim else 10
            row["gpu_device_ms"], _ = median_time(lambda: fc.ntt_device(d_a, d_o), reps,
                                                  cuda.synchronize)
            row["gpu_host_ms"], g = median_time(lambda: fc.ntt(a), 2 if sim else 5,
                                                cuda.synchronize)
            row["cpu_ms"], c = median_time(lambda: cpu_ntt.ntt(a), 2 if sim else 5)
            row["match"] = bool(np.array_equal(g, c)) and bool(
                np.array_equal(d_o.copy_to_host(), c))
            for key in ("gpu_device_ms", "gpu_host_ms", "cpu_ms"):
                row[key] = round(row[key] * 1e3, 3)
            log(f"NTT 2^{k}: GPU {row['gpu_device_ms']} ms (device arrays), "
                f"{row['gpu_host_ms']} ms (host in/out); CPU {row['cpu_ms']} ms; "
                f"match {row['match']}")
        except BaseException as e:                    # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
            rep.error(f"ntt 2^{k}", e)
        rep.doc["ntt"].append(row)
        rep.save()


def msm_stage(rep: Report, ks, deadline: float, sim: bool):
    import numpy as np
    from numba import cuda
    from snarkgpt.curve import cuda as gc
    from snarkgpt.curve import msm as cpu_msm
    base_k = min(ks)
    base = cpu_msm.random_points(1 << base_k, rng=np.random.default_rng(1))
    for k in ks:
        n = 1 << k
        pts = np.ascontiguousarray(np.tile(base, (n >> base_k, 1)))
        for bits in (None, 16):
            # rough guess of one row's cost on this machine: compile is done, CPU dominates
            if not _fits(rep, k, deadline, 5 + n / (1 << 20) * (6 if bits is None else 2)):
                continue
            row = dict(k=k, scalars="full" if bits is None else f"{bits}-bit")
            try:
                sc = cpu_msm.random_scalars(n, bits, rng=np.random.default_rng(k + (bits or 0)))
                reps = 1 if (sim or k >= 22) else 3
                tg, g = median_time(lambda: gc.msm(pts, sc), reps, cuda.synchronize)
                row["gpu_ms"] = round(tg * 1e3, 3)
                row.update({f"gpu_{a}": b for a, b in gc.MSMStats.last.items()})
                tc, c = median_time(lambda: cpu_msm.msm(pts, sc), reps)
                row["cpu_ms"] = round(tc * 1e3, 3)
                row["match"] = bool(np.array_equal(g, c))
                log(f"MSM 2^{k} {row['scalars']}: GPU {row['gpu_ms']} ms; "
                    f"CPU {row['cpu_ms']} ms; match {row['match']}")
            except BaseException as e:                # noqa: BLE001
                row["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
                rep.error(f"msm 2^{k} {row['scalars']}", e)
            rep.doc["msm"].append(row)
            rep.save()


def prove_stage(rep: Report, ks, deadline: float, sim: bool):
    """The synthetic circuit of `snarkgpt bench prover` at 2^k, proven on the CPU, routed with
    the default thresholds, and with everything on the device; same randomness, bytes compared."""
    import numpy as np
    from snarkgpt import device
    from snarkgpt.bench.synthetic import SyntheticCircuit
    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.keygen import keygen
    from snarkgpt.plonk.prover import prove
    from snarkgpt.plonk.srs import SRS
    rep.doc.setdefault("prove", [])
    for k in ks:
        if not _fits(rep, k, deadline, 20 + (1 << k) / 2e3):
            continue
        row = dict(k=k)
        try:
            circuit = SyntheticCircuit.for_k(k)
            cs = ConstraintSystem()
            cfg = circuit.configure(cs)
            srs = SRS.dev((1 << k) + 1, seed=b"bench-prover")
            pk, _ = keygen(srs, cs, circuit, cfg, k=k)
            run = lambda: prove(pk, circuit, cfg, rng=np.random.default_rng(7))  # noqa: E731
            row["cpu_s"], ref = median_time(run, 1)
            # the simulator's full-scalar MSM takes seconds: there, route the transforms only
            for name, kw in (("routed", {}), ("all_on_device", dict(min_ntt=1, min_msm=1))):
                if sim:
                    kw = dict(min_ntt=1, min_msm=1 << 30)
                with device.use("cuda", **kw) as be:
                    t, proof = median_time(run, 1)
                    row[f"{name}_s"], row[f"{name}_calls"] = t, dict(be.calls)
                row[f"{name}_same_bytes"] = proof == ref
            log(f"prove 2^{k}: " + ", ".join(f"{a}={b}" for a, b in row.items() if a != "k"))
        except BaseException as e:                    # noqa: BLE001
            row["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
            rep.error(f"prove 2^{k}", e)
        rep.doc["prove"].append(row)
        rep.save()


def summary(rep: Report) -> None:
    d = rep.doc
    print("\n==== summary ====")
    print(f"device: {d.get('env', {}).get('device')}  cpu: {d.get('env', {}).get('cpu')} "
          f"x{d.get('env', {}).get('cpus')}")
    for name, v in d["compile"].items():
        print(f"compile {'ok  ' if v['ok'] else 'FAIL'} {v['seconds']:7.1f}s  {name}")
    if "fr_mul_per_s" in d:
        print(f"Fr mul: {d['fr_mul_per_s'] / 1e9:.2f} G/s")
    for r in d["ntt"]:
        print(f"NTT 2^{r['k']}: " + ", ".join(f"{a}={b}" for a, b in r.items() if a != "k"))
    for r in d["msm"]:
        print(f"MSM 2^{r['k']} {r['scalars']}: GPU {r.get('gpu_ms')} ms, CPU {r.get('cpu_ms')} "
              f"ms, match {r.get('match')} {r.get('error', '')}")
    for r in d.get("prove", []):
        print(f"prove 2^{r['k']}: " + ", ".join(f"{a}={b}" for a, b in r.items() if a != "k"))
    print(f"errors: {len(d['errors'])}; elapsed {elapsed():.0f}s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="gpu-out")
    ap.add_argument("--sim", action="store_true", help="tiny sizes (NUMBA_ENABLE_CUDASIM=1)")
    ap.add_argument("--ntt", default=None, help="log2 sizes, e.g. 16,20,22")
    ap.add_argument("--msm", default=None, help="log2 sizes, e.g. 16,20,22")
    ap.add_argument("--prove", default="", help="log2 sizes of the synthetic circuit to prove "
                                                "on CPU and GPU, e.g. 16 (default: none)")
    ap.add_argument("--deadline", type=float, default=360.0, help="seconds from start")
    ap.add_argument("--warm-cpu", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warm_cpu:
        warm_cpu(args.sim)
        return 0
    if args.sim:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out, args)
    ntt_ks = [int(x) for x in (args.ntt or ("3,5" if args.sim else "16,20,22")).split(",")]
    msm_ks = [int(x) for x in (args.msm or ("4,5" if args.sim else "16,20,22")).split(",")]

    # The CPU kernels compile in a second process meanwhile (same Numba cache directory).
    warm = subprocess.Popen([sys.executable, __file__, "--warm-cpu"] +
                            (["--sim"] if args.sim else []),
                            stdout=open(out / "warm_cpu.log", "w"), stderr=subprocess.STDOUT)
    stage(rep, "env", lambda: env_stage(rep))
    stage(rep, "compile", lambda: compile_stage(rep, args.sim))
    stage(rep, "mul", lambda: mul_stage(rep, args.sim))
    log("waiting for the CPU kernels' compile")
    rc = warm.wait()
    rep.doc["stages"]["warm_cpu"] = dict(ok=rc == 0, done_at_s=round(elapsed(), 1))
    stage(rep, "ntt", lambda: ntt_stage(rep, ntt_ks, args.deadline, args.sim))
    stage(rep, "msm", lambda: msm_stage(rep, msm_ks, args.deadline, args.sim))
    if args.prove:
        prove_ks = [int(x) for x in args.prove.split(",")]
        stage(rep, "prove", lambda: prove_stage(rep, prove_ks, args.deadline, args.sim))
    summary(rep)
    rep.save()
    return 0 if not rep.doc["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
