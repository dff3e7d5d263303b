"""Readers for foreign checkpoint formats, written without torch or safetensors installed.

* ``read_torch_zip(path)``: a file written by ``torch.save`` (zip format, torch >= 1.6), read
  through a RESTRICTED unpickler. Only the few globals a state dict needs are resolved
  (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the typed storage
  classes, dtype objects); any other global (``os.system``, ``builtins.eval``, ...) is refused
  with ``UnsafePickleError`` before anything is called, so loading an untrusted checkpoint never
  runs code from it. Tensors come back as NumPy arrays.
* ``SafetensorsFile(path)``: the safetensors format (8-byte little-endian header length, a
  JSON header ``{name: {dtype, shape, data_offsets}}``, then raw little-endian data), opened
  lazily: the header is read and checked in full, each tensor is read only when asked for.
  ``read_safetensors(path)`` reads every tensor (one at a time) into a dict.
* ``write_safetensors(path, tensors)``: the inverse, for tests and export, one tensor at a
  time.

Every error is a ``CheckpointError`` (a ``ValueError``) naming the file and the problem.
"""
from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import struct
import tempfile
import threading
import zipfile

import numpy as np

__all__ = ["CheckpointError", "UnsafePickleError", "read_torch_zip", "SafetensorsFile",
           "read_safetensors", "write_safetensors", "bf16_to_f32"]


class CheckpointError(ValueError):
    """A checkpoint file is malformed, truncated, or not what it claims to be."""


class UnsafePickleError(CheckpointError):
    """A pickle referenced a global outside the allow-list; nothing was executed."""


def bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) -> float32 (exact: bf16 is the top half of an f32)."""
    return (raw.astype(np.uint32) << 16).view(np.float32)


# ----------------------------------------------------------------------------- torch zip

# storage class name -> NumPy dtype (little endian; bf16 handled specially)
_STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}
_DTYPE_NAMES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
                "uint8", "bool", "float", "double", "half", "long", "int")


class _Frozen:
    """Objects the unpickler hands out cannot be modified by the pickle (BUILD / setattr)."""
    __slots__ = ()

    def __setattr__(self, key, value):
        raise UnsafePickleError(f"the pickle tried to set attribute {key!r} on {self!r}")

    def __setstate__(self, state):
        raise UnsafePickleError(f"the pickle tried to set the state of {self!r}")


class _StorageType(_Frozen):
    """Stands in for ``torch.FloatStorage`` etc.: only carries the element type."""
    __slots__ = ("name", "dtype")

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "dtype", _STORAGE_DTYPES[name])

    def __repr__(self):
        return f"torch.{self.name}"


class _DType(_Frozen):
    """Stands in for a ``torch.dtype`` object (``torch.float32``); inert."""
    __slots__ = ("name",)

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)

    def __repr__(self):
        return f"torch.{self.name}"


class _Function(_Frozen):
    """An allowed rebuild function, wrapped so the pickle cannot alter it."""
    __slots__ = ("func", "name")

    def __init__(self, func, name: str):
        object.__setattr__(self, "func", func)
        object.__setattr__(self, "name", name)

    def __call__(self, *args):
        return self.func(*args)

    def __repr__(self):
        return self.name


class _Storage(_Frozen):
    """A storage read from the zip: raw bytes interpreted with the storage dtype."""
    __slots__ = ("data",)

    def __init__(self, data: np.ndarray):
        object.__setattr__(self, "data", data)  # 1-D array, numel elements


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise UnsafePickleError("_rebuild_tensor_v2 called on something that is not a storage")
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    off = int(storage_offset)
    if len(size) != len(stride) or any(s < 0 for s in size) or any(s < 0 for s in stride) \
            or off < 0:
        raise CheckpointError(f"bad tensor geometry: size {size}, stride {stride}, offset {off}")
    data = storage.data
    n = int(np.prod(size, dtype=object))
    if n == 0:
        return np.zeros(size, dtype=data.dtype)
    if n > max(data.size, 1 << 24):
        raise CheckpointError(f"tensor of size {size} is larger than its storage of "
                              f"{data.size} elements")
    extent = off + sum((n - 1) * s for n, s in zip(size, stride)) + 1
    if extent > data.size:
        raise CheckpointError(f"tensor of size {size} (stride {stride}, offset {off}) runs past "
                              f"its storage of {data.size} elements")
    base = data[off:]
    arr = np.lib.stride_tricks.as_strided(
        base, shape=size, strides=tuple(s * data.itemsize for s in stride), writeable=False)
    return np.array(arr)  # own, contiguous copy


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *args):
    if not isinstance(data, np.ndarray):
        raise UnsafePickleError("_rebuild_parameter called on something that is not a tensor")
    return data


def _allowed_globals() -> dict:
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"):
            _Function(_rebuild_tensor_v2, "torch._utils._rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"):
            _Function(_rebuild_parameter, "torch._utils._rebuild_parameter"),
    }
    for name in _STORAGE_DTYPES:
        allowed[("torch", name)] = _StorageType(name)
    for name in _DTYPE_NAMES:
        allowed[("torch", name)] = _DType(name)
    return allowed


_ALLOWED = _allowed_globals()


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, where: str):
        super().__init__(file)
        self._load_storage = load_storage
        self._where = where

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._where}: the pickle references the global {module}.{name}, which is not "
                f"allowed in a weights checkpoint (refused without executing anything)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise UnsafePickleError(f"{self._where}: unsupported persistent id {pid!r}")
        _, stype, key, _location, numel = pid
        if not isinstance(stype, _StorageType):
            raise UnsafePickleError(f"{self._where}: persistent id names storage type {stype!r}")
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise CheckpointError(f"{self._where}: bad storage reference {pid!r}")
        return self._load_storage(stype, key, numel)


def read_torch_zip(path) -> object:
    """Unpickle a ``torch.save`` zip file into plain Python containers and NumPy arrays."""
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{path}: not a readable torch zip checkpoint ({e}); legacy "
                              "(pre-1.6, non-zip) torch files are not supported") from None
    with zf:
        names = zf.namelist()
        pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise CheckpointError(f"{path}: expected exactly one '<archive>/data.pkl' in the zip, "
                                  f"found {len(pkls)}")
        prefix = pkls[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = zf.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if byteorder not in ("little", "big"):
                raise CheckpointError(f"{path}: unknown byteorder {byteorder!r}")
        cache: dict = {}

        def load_storage(stype: _StorageType, key: str, numel: int) -> _Storage:
            if key in cache:
                return cache[key]
            member = prefix + "data/" + key
            try:
                raw = zf.read(member)
            except KeyError:
                raise CheckpointError(f"{path}: storage {member!r} is missing") from None
            except (zipfile.BadZipFile, EOFError, OSError, zlib_error) as e:
                raise CheckpointError(f"{path}: storage {member!r} is corrupt ({e})") from None
            code = stype.dtype
            bo = "<" if byteorder == "little" else ">"
            if code == "bf16":
                itemsize, dt = 2, np.dtype(bo + "u2")
            else:
                dt = np.dtype(bo + code) if code not in ("?", "i1", "u1") else np.dtype(code)
                itemsize = dt.itemsize
            if len(raw) < numel * itemsize:
                raise CheckpointError(f"{path}: storage {member!r} holds {len(raw)} bytes, "
                                      f"expected {numel * itemsize} ({numel} x {stype.name})")
            arr = np.frombuffer(raw, dtype=dt, count=numel)
            arr = bf16_to_f32(arr) if code == "bf16" else arr.astype(dt.newbyteorder("="))
            cache[key] = _Storage(arr)
            return cache[key]

        try:
            data = zf.read(pkls[0])
        except (zipfile.BadZipFile, EOFError, OSError, zlib_error) as e:
            raise CheckpointError(f"{path}: {pkls[0]} is corrupt ({e})") from None
        try:
            return _RestrictedUnpickler(io.BytesIO(data), load_storage, path).load()
        except CheckpointError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError, KeyError, struct.error, MemoryError, RecursionError,
                OverflowError) as e:
            raise CheckpointError(f"{path}: malformed pickle in {pkls[0]} ({type(e).__name__}: "
                                  f"{e})") from None


try:  # zlib errors surface from deflated members
    from zlib import error as zlib_error
except ImportError:  # pragma: no cover
    zlib_error = OSError


# ----------------------------------------------------------------------------- safetensors

# safetensors dtype -> NumPy dtype (little endian; BF16 is read as uint16 bit patterns)
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8",
              "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsFile:
    """A safetensors file opened for reading one tensor at a time.

    Opening reads only the 8-byte length and the JSON header, and checks the whole layout
    before any tensor is touched: the header is a JSON object with no repeated names; every
    entry has exactly a known ``dtype``, a ``shape`` of non-negative ints and
    ``data_offsets`` [begin, end] whose length is the shape's byte size; the entries, in
    offset order, tile the data region exactly (no overlap, no hole, nothing after the last,
    which is what the format requires). A failed check is a ``CheckpointError`` naming the
    file, the tensor and the problem.

    ``read(name)`` copies one tensor into a fresh array with a positioned read (native byte
    order; BF16 widened to float32): the process holds that tensor and nothing else of the
    file. ``memmap(name)`` is the zero-copy alternative, a read-only view of the file's pages
    (the pages a caller touches then count in its resident memory until the view is dropped).
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        try:
            self._f = open(self.path, "rb")
        except OSError as e:
            raise CheckpointError(f"{self.path}: cannot read ({e.strerror or e})") from None
        try:
            self._parse()
        except BaseException:
            self._f.close()
            raise

    def _error(self, msg: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {msg}")

    def _parse(self) -> None:
        size = os.fstat(self._f.fileno()).st_size
        head = self._f.read(8)
        if len(head) < 8:
            raise self._error(f"truncated safetensors file ({size} bytes)")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > min(_MAX_HEADER, size - 8):
            raise self._error(f"safetensors header length {hlen} exceeds the file ({size} "
                              "bytes): truncated or not a safetensors file")
        raw = self._f.read(hlen)
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_repeats)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise self._error(f"safetensors header is not valid JSON ({e})") from None
        except _Repeated as e:
            raise self._error(f"safetensors header names {e.args[0]!r} twice") from None
        if not isinstance(header, dict):
            raise self._error("safetensors header is not a JSON object")
        meta = header.pop("__metadata__", None) or {}
        if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
            raise self._error("safetensors '__metadata__' must map names to strings")
        self.metadata = meta
        self._start = 8 + hlen                    # where the data region begins
        n_data = size - self._start
        entries = {}
        for name, info in header.items():
            entries[name] = self._entry(name, info, n_data)
        # the entries must tile [0, n_data): sort by offsets, then compare neighbours
        pos, prev = 0, None
        for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: kv[1][2:]):
            if begin < pos:
                raise self._error(f"tensor {name!r}: data_offsets [{begin}, {end}] overlap "
                                  f"tensor {prev!r} (which ends at {pos})")
            if begin > pos:
                raise self._error(f"tensor {name!r}: data_offsets start at {begin}, leaving a "
                                  f"hole of {begin - pos} bytes after "
                                  + (f"tensor {prev!r}" if prev else "the header"))
            pos, prev = end, name
        if pos != n_data:
            raise self._error(f"{n_data - pos} bytes after the last tensor's data (the file is "
                              "longer than its header says: corrupt or not a safetensors file)")
        self._entries = entries

    def _entry(self, name: str, info, n_data: int):
        """(numpy dtype, shape, begin, end) of one header entry, checked."""
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise self._error(f"tensor {name!r}: malformed header entry {_clip(info)} (expected "
                              "exactly 'dtype', 'shape' and 'data_offsets')")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise self._error(f"tensor {name!r}: unsupported dtype {_clip(dtype)} (supported: "
                              f"{', '.join(_ST_DTYPES)})")
        if not isinstance(shape, list) or not all(_is_count(s) for s in shape):
            raise self._error(f"tensor {name!r}: shape {_clip(shape)} is not a list of "
                              "non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(_is_count(o) for o in offsets)):
            raise self._error(f"tensor {name!r}: data_offsets {_clip(offsets)} is not a pair of "
                              "non-negative integers")
        begin, end = offsets
        if not begin <= end <= n_data:
            raise self._error(f"tensor {name!r}: data_offsets [{begin}, {end}] lie outside the "
                              f"{n_data} data bytes (truncated file?)")
        nbytes = math.prod(shape) * np.dtype(_ST_DTYPES[dtype]).itemsize
        if end - begin != nbytes:
            raise self._error(f"tensor {name!r}: {end - begin} bytes for shape {tuple(shape)} of "
                              f"{dtype} (expected {nbytes})")
        return dtype, tuple(shape), begin, end

    # -- what the header says (no data read)
    @property
    def names(self) -> list:
        return list(self._entries)

    def __contains__(self, name) -> bool:
        return name in self._entries

    def shape(self, name: str) -> tuple:
        return self._info(name)[1]

    def dtype(self, name: str) -> str:
        """The stored dtype, as the format spells it (``"F32"``, ``"BF16"``, ...)."""
        return self._info(name)[0]

    def _info(self, name: str):
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor {name!r}") from None

    # -- data
    def read(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a new array (native byte order; BF16 -> float32)."""
        dtype, shape, begin, end = self._info(name)
        code = np.dtype(_ST_DTYPES[dtype])
        out = np.empty(shape, dtype=code)
        buf = memoryview(out.reshape(-1).view(np.uint8)) if out.size else memoryview(b"")
        with self._lock:                       # seek + read: one reader at a time
            f = self._file()
            f.seek(self._start + begin)
            got = 0
            while got < end - begin:           # a read may return short
                n = f.readinto(buf[got:])
                if not n:
                    raise self._error(f"tensor {name!r}: the file ended while reading it (was "
                                      "it truncated after opening?)")
                got += n
        return _native(out, dtype)

    def memmap(self, name: str) -> np.ndarray:
        """Tensor ``name`` as a read-only view of the file (no copy; BF16 stays uint16 bit
        patterns, see ``bf16_to_f32``)."""
        dtype, shape, begin, _ = self._info(name)
        if math.prod(shape) == 0:
            return np.empty(shape, dtype=_ST_DTYPES[dtype])
        return np.memmap(self.path, dtype=_ST_DTYPES[dtype], mode="r",
                         offset=self._start + begin, shape=shape)

    def _file(self):
        if self._f.closed:
            raise self._error("read after close")
        return self._f

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"SafetensorsFile({self.path!r}, {len(self._entries)} tensors)"


class _Repeated(Exception):
    pass


def _no_repeats(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _Repeated(k)
        seen[k] = v
    return seen


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _clip(v) -> str:
    s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _native(a: np.ndarray, st_dtype: str) -> np.ndarray:
    if st_dtype == "BF16":
        return bf16_to_f32(a)
    return a if a.dtype.isnative else a.astype(a.dtype.newbyteorder("="))


def read_safetensors(path) -> tuple[dict, dict]:
    """Return ``(tensors, metadata)``, every tensor read (eagerly, one at a time); floats stay
    in their stored precision except BF16 -> f32. ``SafetensorsFile`` reads lazily."""
    with SafetensorsFile(path) as f:
        return {name: f.read(name) for name in f.names}, dict(f.metadata)


def write_safetensors(path, tensors: dict, metadata: dict | None = None) -> None:
    """Write float32/float16/float64/int arrays as a safetensors file (sorted names, header
    padded to 8 bytes), streaming one tensor at a time (``tensors`` may be any mapping, a
    lazy one included: each tensor is asked for twice, for its header entry and for its
    data). Atomic: a temporary sibling renamed onto ``path``."""
    inv = {"<f8": "F64", "<f4": "F32", "<f2": "F16", "<i8": "I64", "<i4": "I32"}
    path = os.fspath(path)
    header, pos, names = {}, 0, sorted(tensors)
    for name in names:
        a = tensors[name]
        code = np.dtype(a.dtype).newbyteorder("<").str
        if code not in inv:
            raise ValueError(f"write_safetensors: {name}: unsupported dtype {a.dtype}")
        n = int(np.prod(a.shape, dtype=np.int64)) * np.dtype(code).itemsize
        header[name] = {"dtype": inv[code], "shape": [int(s) for s in a.shape],
                        "data_offsets": [pos, pos + n]}
        pos += n
        del a
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h)
            for name in names:
                a = tensors[name]
                f.write(np.ascontiguousarray(a, dtype=np.dtype(a.dtype).newbyteorder("<")).data)
        os.chmod(tmp, os.stat(path).st_mode & 0o777 if os.path.exists(path) else 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
