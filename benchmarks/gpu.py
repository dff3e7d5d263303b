"""GPU benchmark of the numba.cuda kernels: NTT 2^20 / 2^24 and MSM 2^20 / 2^24.

    python benchmarks/gpu.py                   # all sizes, medians of a few runs
    python benchmarks/gpu.py --quick           # 2^20 only
    python benchmarks/gpu.py --json out.json   # also write the numbers

Reports, per case, the median wall time and two floors for this GPU:

* memory floor: the bytes the kernels must move (each NTT launch reads and writes the whole
  array; the MSM reads points and scalars once and the buckets a few times) divided by the
  peak DRAM bandwidth (from the device's memory clock and bus width, or --bandwidth GB/s);
* multiply floor: the Montgomery multiplications the algorithm does divided by the Fr/Fq
  multiply throughput measured here by a dependent-multiply kernel (the same CIOS code);

and, for MSM 2^20, the ratio to ICICLE's published 14.8 ms on an RTX 4090 (a different GPU:
a pointer, not a like-for-like comparison). NTT times are given both on device arrays and
end to end (host arrays in and out, as the host wrappers do); MSM times are end to end.

Without a GPU (or under NUMBA_ENABLE_CUDASIM=1) it prints a message and exits with status 0.
"""
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ICICLE_MSM_2_20_MS = 14.8           # ICICLE, BN254 MSM 2^20 on an RTX 4090
KNOWN_BW_GBS = {"H100": 3350.0, "H200": 4800.0, "A100": 2039.0, "4090": 1008.0, "L4": 300.0}


def no_gpu(msg: str) -> None:
    print(f"benchmarks/gpu.py: {msg}; nothing measured.")
    sys.exit(0)


def median_time(fn, repeats: int, sync) -> float:
    fn()
    sync()                                          # compile and warm up
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def peak_bandwidth(dev, name: str, override: float | None) -> float:
    """Peak DRAM bandwidth in bytes/s."""
    if override:
        return override * 1e9
    try:
        clock_khz = dev.MEMORY_CLOCK_RATE
        bus_bits = dev.GLOBAL_MEMORY_BUS_WIDTH
        bw = 2.0 * clock_khz * 1e3 * bus_bits / 8       # double data rate
        if bw > 0:
            return bw
    except Exception:
        pass
    for key, gbs in KNOWN_BW_GBS.items():
        if key in name:
            return gbs * 1e9
    return 1000e9


def mul_throughput(cuda, fc, np) -> float:
    """Fr Montgomery multiplies per second: every thread runs a dependent chain."""

    @cuda.jit
    def chain(a, out, iters):
        i = cuda.grid(1)
        if i < a.shape[0]:
            x = fc.ld(a, i)
            y = fc.ld(a, (i + 1) % a.shape[0])
            for _ in range(iters):
                x = fc.fr_mul(x, y)
            fc.st(out, i, x)

    from snarkgpt.field import Fr
    n, iters = 1 << 20, 256
    d_a = cuda.to_device(Fr.random(n, rng=np.random.default_rng(0)))
    d_o = cuda.device_array((n, 4), dtype=np.uint64)
    t = median_time(lambda: chain[n // 256, 256](d_a, d_o, iters), 3, cuda.synchronize)
    return n * iters / t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2^20 sizes only")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--bandwidth", type=float, default=None, help="peak DRAM GB/s")
    ap.add_argument("--no-check", action="store_true", help="skip the CPU cross-checks")
    ap.add_argument("--json", type=str, default=None)
    args = ap.parse_args()

    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        no_gpu("NUMBA_ENABLE_CUDASIM is set (the simulator is for correctness, not timing)")
    try:
        from numba import cuda
        ok = cuda.is_available()
    except Exception as e:                                  # numba/numpy mismatch, no driver
        no_gpu(f"numba.cuda unusable ({type(e).__name__}: {e})")
    if not ok:
        no_gpu("no CUDA GPU available")

    import numpy as np
    from snarkgpt import device
    from snarkgpt.curve import cuda as gc
    from snarkgpt.curve import msm as cpu_msm
    from snarkgpt.field import Fr
    from snarkgpt.field import cuda as fc
    from snarkgpt.field import ntt as cpu_ntt

    dev = cuda.get_current_device()
    name = device.device_name()
    bw = peak_bandwidth(dev, name, args.bandwidth)
    mps = mul_throughput(cuda, fc, np)
    print(f"device: {name}; peak DRAM {bw / 1e9:.0f} GB/s; measured {mps / 1e9:.1f} G Fr-mul/s")
    rows = []

    def report(case, t, mem_bytes, muls, extra=""):
        mem_floor, mul_floor = mem_bytes / bw, muls / mps
        rows.append(dict(case=case, median_ms=t * 1e3, mem_floor_ms=mem_floor * 1e3,
                         mul_floor_ms=mul_floor * 1e3, note=extra))
        print(f"{case:34s} {t * 1e3:10.2f} ms   floors: memory {mem_floor * 1e3:8.2f} ms, "
              f"multiply {mul_floor * 1e3:8.2f} ms   {extra}")

    ks = [20] if args.quick else [20, 24]
    for k in ks:
        n = 1 << k
        a = Fr.random(n, rng=np.random.default_rng(k))
        if k == 20 and not args.no_check:
            assert np.array_equal(fc.ntt(a), cpu_ntt.ntt(a)), "GPU NTT differs from the CPU NTT"
        d_a = cuda.to_device(a)
        d_o = cuda.device_array((n, 4), dtype=np.uint64)
        fc.twiddles_device(k)
        t_dev = median_time(lambda: fc.ntt_device(d_a, d_o), args.repeats, cuda.synchronize)
        t_e2e = median_time(lambda: fc.ntt(a), max(1, args.repeats // 2), cuda.synchronize)
        sl = min(k, fc.MAX_SHARED_LOG)
        launches = 2 + (k - sl)                   # gather, shared tiles, one per global stage
        report(f"NTT 2^{k} (device arrays)", t_dev, launches * 2 * 32 * n + 32 * n,
               n // 2 * k + n, f"{launches} launches")
        report(f"NTT 2^{k} (host in/out)", t_e2e, launches * 2 * 32 * n + 32 * n,
               n // 2 * k + n, "incl. PCIe copies")

    base = cpu_msm.random_points(1 << 16, rng=np.random.default_rng(1))
    for k in ks:
        n = 1 << k
        pts = np.ascontiguousarray(np.tile(base, (n >> 16, 1)))
        for bits in (None, 16):
            sc = cpu_msm.random_scalars(n, bits, rng=np.random.default_rng(k + (bits or 0)))
            if k == 20 and not args.no_check:
                assert np.array_equal(gc.msm(pts, sc), cpu_msm.msm(pts, sc)), \
                    "GPU MSM differs from the CPU MSM"
            reps = args.repeats if k == 20 else max(1, args.repeats // 2)
            t = median_time(lambda: gc.msm(pts, sc), reps, cuda.synchronize)
            st = gc.MSMStats.last
            adds = n * st["nwin"]                                    # mixed additions
            muls = adds * 10 + st["buckets"] * 2 * 14 + n           # + bucket reduction
            mem = n * (64 + 32) + st["buckets"] * 128 * 3 + n * st["nwin"] * 8 * 4
            extra = f"c={st['c']} windows={st['nwin']}"
            if k == 20 and bits is None:
                extra += f"; ICICLE RTX 4090: {ICICLE_MSM_2_20_MS} ms (x{t * 1e3 / ICICLE_MSM_2_20_MS:.2f})"
            report(f"MSM 2^{k} ({'full' if bits is None else '16-bit'} scalars)", t, mem,
                   muls, extra)
    if args.json:
        Path(args.json).write_text(json.dumps(dict(device=name, bandwidth_gbs=bw / 1e9,
                                                   fr_mul_per_s=mps, rows=rows), indent=2))


if __name__ == "__main__":
    main()
