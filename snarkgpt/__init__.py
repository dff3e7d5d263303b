"""snarkgpt: zk-SNARK proofs that a GPT generated a text, written in Python with Numba kernels."""
import hashlib as _hashlib
import os as _os
import sys as _sys

# Numba's OpenMP threading layer spins between parallel regions by default; with more threads
# than free cores (a busy laptop, CI, several processes) each small parallel call then costs
# milliseconds instead of microseconds. Passive waiting keeps small calls cheap. Must be set
# before the OpenMP runtime loads, so it lives here; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def source_digest(subdirs=("",), suffixes=(".py",), contains: bytes | None = None) -> str:
    """sha256 (hex) over the package's files under ``subdirs`` with these suffixes (and, when
    given, containing ``contains``): each file's path relative to the package, then its
    bytes, in sorted order (``__pycache__`` skipped)."""
    root = _os.path.dirname(_os.path.abspath(__file__))
    h = _hashlib.sha256()
    for sub in subdirs:
        for dirpath, dirnames, filenames in _os.walk(_os.path.join(root, sub)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                if name.endswith(suffixes):
                    path = _os.path.join(dirpath, name)
                    with open(path, "rb") as f:
                        src = f.read()
                    if contains is None or contains in src:
                        h.update(_os.path.relpath(path, root).encode())
                        h.update(src)
    return h.hexdigest()


def cache_home() -> str:
    """snarkgpt's cache directory: $XDG_CACHE_HOME/snarkgpt or ~/.cache/snarkgpt."""
    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    return _os.path.join(base, "snarkgpt")


def _kernel_cache_dir() -> str:
    """A Numba cache directory keyed by a hash of the package's kernel sources.

    Numba invalidates a cached kernel only when the file defining it changes, but our kernels
    inline arithmetic from other modules (field/arith.py into the NTT, the MSM, the pairing):
    after an edit there, a stale cached kernel would silently run the old code. Keying the
    cache on every module that uses Numba makes any kernel edit recompile everything, once;
    edits to plain-Python modules keep the cache."""
    return _os.path.join(cache_home(), "kernels", source_digest(contains=b"numba")[:16])


if "NUMBA_CACHE_DIR" not in _os.environ:
    _os.environ["NUMBA_CACHE_DIR"] = _kernel_cache_dir()
    if "numba" in _sys.modules:  # numba already configured: point it at the directory too
        from numba.core import config as _numba_config
        _numba_config.CACHE_DIR = _os.environ["NUMBA_CACHE_DIR"]

__version__ = "0.1.0"
