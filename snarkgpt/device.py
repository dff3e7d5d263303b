"""Device selection: run NTTs and MSMs on the CPU kernels (default) or on a CUDA GPU.

    from snarkgpt import device
    device.available()            # ("cpu",) or ("cpu", "cuda")
    be = device.select("auto")    # "cuda" only on a real GPU, else "cpu"
    be.ntt(a); be.intt(a); be.coset_ntt(a, 5); be.coset_intt(a, 5); be.msm(points, scalars)

Every backend takes and returns the same (n, 4) uint64 Fr arrays and (8,) affine G1 rows, with
bit-identical results. numba.cuda is imported lazily, so importing this module does not fix
whether the CUDA simulator is used: `enable_simulator()` (tests) sets NUMBA_ENABLE_CUDASIM=1
and reports whether the simulator is in effect (it cannot be once numba.cuda was imported
without it, in which case callers run their check in a subprocess).
"""
import os
import sys

DEVICES = ("cpu", "cuda", "auto")


def _cuda_module():
    import numba.cuda
    return numba.cuda


def _is_sim(mod) -> bool:
    return mod.jit.__module__.startswith("numba.cuda.simulator")


def simulator_active() -> bool:
    """True when numba.cuda is (or, imported now, would be) the CUDA simulator."""
    if "numba.cuda" in sys.modules:
        return _is_sim(sys.modules["numba.cuda"])
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


def enable_simulator() -> bool:
    """Ask for the CUDA simulator; True if it is in effect afterwards."""
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    if "numba.cuda" not in sys.modules and "numba" in sys.modules:
        import numba
        numba.config.reload_config()
    return _is_sim(_cuda_module())


def gpu_present() -> bool:
    """A real CUDA GPU is usable (never true under the simulator)."""
    try:
        mod = _cuda_module()
        return not _is_sim(mod) and bool(mod.is_available())
    except Exception:
        return False


def device_name() -> str:
    if simulator_active():
        return "CUDA simulator (CPU)"
    if not gpu_present():
        return "cpu"
    dev = _cuda_module().get_current_device()
    name = dev.name
    return name.decode() if isinstance(name, bytes) else str(name)


def available() -> tuple:
    """Device names select() accepts without error: "cpu", plus "cuda" with a GPU or the
    simulator (the simulator is for correctness checks only: it is very slow)."""
    ok = gpu_present() or (simulator_active() and _is_sim(_cuda_module()))
    return ("cpu", "cuda") if ok else ("cpu",)


class CPUBackend:
    name = "cpu"

    def ntt(self, a):
        from .field import ntt
        return ntt.ntt(a)

    def intt(self, a):
        from .field import ntt
        return ntt.intt(a)

    def coset_ntt(self, a, shift):
        from .field import ntt
        return ntt.coset_ntt(a, shift)

    def coset_intt(self, a, shift):
        from .field import ntt
        return ntt.coset_intt(a, shift)

    def msm(self, points, scalars):
        from .curve.msm import msm
        return msm(points, scalars)


class CUDABackend:
    name = "cuda"

    def ntt(self, a):
        from .field import cuda
        return cuda.ntt(a)

    def intt(self, a):
        from .field import cuda
        return cuda.intt(a)

    def coset_ntt(self, a, shift):
        from .field import cuda
        return cuda.coset_ntt(a, shift)

    def coset_intt(self, a, shift):
        from .field import cuda
        return cuda.coset_intt(a, shift)

    def msm(self, points, scalars):
        from .curve import cuda
        return cuda.msm(points, scalars)


_BACKENDS = {"cpu": CPUBackend(), "cuda": CUDABackend()}


def select(device: str = "cpu"):
    """The backend for "cpu", "cuda" or "auto" (cuda on a real GPU, else cpu)."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if device == "auto":
        device = "cuda" if gpu_present() else "cpu"
    if device == "cuda" and "cuda" not in available():
        raise RuntimeError("device 'cuda' requested but no CUDA GPU is available "
                           "(set NUMBA_ENABLE_CUDASIM=1 to run the kernels in the simulator)")
    return _BACKENDS[device]


def msm(points, scalars, device: str = "cpu"):
    return select(device).msm(points, scalars)


def ntt(a, device: str = "cpu"):
    return select(device).ntt(a)


def intt(a, device: str = "cpu"):
    return select(device).intt(a)
