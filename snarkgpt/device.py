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

Routing a whole prover run (what `--device` does on the command line):

    with device.use("auto"):      # cuda on a real GPU, else cpu; "cuda" without one: an error
        proof = prove(pk, circuit, cfg)

Inside, the MSMs (every commitment, the opening proofs) and the domain transforms (NTTs,
coset NTTs) at or above the backend's size thresholds run on the device, through the hooks
`curve.msm.offload` and `field.domain.offload`; smaller ones, where the CPU is faster (see
docs/gpu.md), stay on the CPU. Results are bit-identical, so the proof bytes are too.
"""
import contextlib
import os
import sys

DEVICES = ("cpu", "cuda", "auto")
ENV = "SNARKGPT_DEVICE"        # the device for `snarkgpt serve`'s worker processes (install)


class DeviceUnavailable(ValueError):
    """--device cuda where numba.cuda finds no GPU."""


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


def _driver_installed() -> bool:
    """An NVIDIA driver is on this machine: checked before importing numba.cuda, so "auto" on
    a machine without one costs nothing and leaves the simulator choice open (tests)."""
    import ctypes.util
    return (os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/nvidia0")
            or bool(os.environ.get("NUMBA_CUDA_DRIVER")) or ctypes.util.find_library("cuda") is not None)


def gpu_present() -> bool:
    """A real CUDA GPU is usable (never true under the simulator)."""
    if "numba.cuda" not in sys.modules and not _driver_installed():
        return False
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
    """The numba.cuda kernels (field/cuda.py, curve/cuda.py), host arrays in and out.

    min_msm / min_ntt: the smallest MSM (points) and transform (length) that `use` routes
    here. The defaults come from the H200 measurements in docs/gpu.md: below 2^20 points the
    CPU's MSM (16 cores) was faster, and from 2^16 the device's NTT with its copies was."""
    name = "cuda"
    MIN_MSM = 1 << 20
    MIN_NTT = 1 << 16

    def __init__(self):
        self.min_msm, self.min_ntt = self.MIN_MSM, self.MIN_NTT
        self.calls = {"msm": 0, "ntt": 0}         # routed calls since the last use()

    def transform(self, a, out=None, **kw):
        from .field import cuda
        return cuda.transform(a, out, **kw)

    def offload_msm(self, points, scalars):
        """The device MSM for at least min_msm points, else None (the CPU's)."""
        if len(points) < self.min_msm:
            return None
        self.calls["msm"] += 1
        return self.msm(points, scalars)

    def offload_ntt(self, a, out=None, **kw):
        """ntt.transform on the device for one (n, 4) column or each of (c, n, 4) columns of
        length at least min_ntt, else None (the CPU's)."""
        if a.shape[-2] < self.min_ntt:
            return None
        if a.ndim == 3:
            for i in range(a.shape[0]):
                self.calls["ntt"] += 1
                self.transform(a[i], out[i], **kw)
            return out
        self.calls["ntt"] += 1
        return self.transform(a, out, **kw)

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
        raise DeviceUnavailable("device 'cuda' requested but no CUDA GPU is available "
                           "(set NUMBA_ENABLE_CUDASIM=1 to run the kernels in the simulator)")
    return _BACKENDS[device]


_REQUESTS: list = []     # the devices the enclosing `use` blocks asked for, innermost last


def requested() -> str:
    """The device this process was asked to prove on, as asked ("cpu", "cuda" or "auto", not
    resolved): the innermost `use` block's (or `install`'s), else $SNARKGPT_DEVICE, else
    "cpu". `--cluster` sends it to its segment tasks, which resolve it on their own node (a
    GPU node may serve a coordinator that has none)."""
    return _REQUESTS[-1] if _REQUESTS else (os.environ.get(ENV) or "cpu")


@contextlib.contextmanager
def use(device: str = "auto", *, min_msm: int | None = None, min_ntt: int | None = None):
    """Route the prover's MSMs and domain transforms to `device` ("cpu", "cuda" or "auto")
    inside the block; yields the backend. min_msm / min_ntt override the backend's size
    thresholds (tests use 1 to send everything to the device)."""
    be = select(device)
    _REQUESTS.append(device)
    try:
        with _routed(be, min_msm, min_ntt):
            yield be
    finally:
        _REQUESTS.pop()


@contextlib.contextmanager
def _routed(be, min_msm, min_ntt):
    """The offload hooks pointed at ``be`` for the block (nothing to do for the CPU)."""
    if be.name == "cpu":
        yield be
        return
    from .curve import msm as msm_mod
    from .field import domain
    saved = (msm_mod.offload, domain.offload, be.min_msm, be.min_ntt)
    be.min_msm = be.MIN_MSM if min_msm is None else int(min_msm)
    be.min_ntt = be.MIN_NTT if min_ntt is None else int(min_ntt)
    be.calls = {"msm": 0, "ntt": 0}
    msm_mod.offload, domain.offload = be.offload_msm, be.offload_ntt
    try:
        yield be
    finally:
        msm_mod.offload, domain.offload, be.min_msm, be.min_ntt = saved


_INSTALLED: list = []


def install(device: str | None = None):
    """Route for the rest of this process, as `use` does inside a block (serve's workers):
    device defaults to $SNARKGPT_DEVICE, else "cpu". Returns the backend."""
    cm = use(device or os.environ.get(ENV) or "cpu")
    be = cm.__enter__()
    _INSTALLED.append(cm)
    return be


def msm(points, scalars, device: str = "cpu"):
    return select(device).msm(points, scalars)


def ntt(a, device: str = "cpu"):
    return select(device).ntt(a)


def intt(a, device: str = "cpu"):
    return select(device).intt(a)
