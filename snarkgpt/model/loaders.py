"""Readers for foreign checkpoint formats, written without torch or safetensors installed.

* ``read_torch_zip(path)``: a file written by ``torch.save`` (zip format, torch >= 1.6), read
  through a RESTRICTED unpickler. Only the few globals a state dict needs are resolved
  (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``, the typed storage
  classes, dtype objects); any other global (``os.system``, ``builtins.eval``, ...) is refused
  with ``UnsafePickleError`` before anything is called, so loading an untrusted checkpoint never
  runs code from it. Tensors come back as NumPy arrays.
* ``read_safetensors(path)``: the safetensors format (8-byte little-endian header length, a
  JSON header ``{name: {dtype, shape, data_offsets}}``, then raw little-endian data).
* ``write_safetensors(path, tensors)``: the inverse, for tests and export.

Every error is a ``CheckpointError`` (a ``ValueError``) naming the file and the problem.
"""
from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np

__all__ = ["CheckpointError", "UnsafePickleError", "read_torch_zip", "read_safetensors",
           "write_safetensors", "bf16_to_f32"]


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

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "bf16", "I64": "<i8",
              "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}
_MAX_HEADER = 100 * 1024 * 1024


def read_safetensors(path) -> tuple[dict, dict]:
    """Return ``(tensors, metadata)``; floats stay in their stored precision except BF16 -> f32."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from None
    if len(blob) < 8:
        raise CheckpointError(f"{path}: truncated safetensors file ({len(blob)} bytes)")
    (hlen,) = struct.unpack("<Q", blob[:8])
    if hlen > min(_MAX_HEADER, len(blob) - 8):
        raise CheckpointError(f"{path}: safetensors header length {hlen} exceeds the file "
                              f"({len(blob)} bytes): truncated or not a safetensors file")
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    data = memoryview(blob)[8 + hlen:]
    tensors = {}
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            shape = tuple(int(s) for s in shape)
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: tensor {name!r}: malformed header entry {info!r}") \
                from None
        if dtype not in _ST_DTYPES:
            raise CheckpointError(f"{path}: tensor {name!r}: unsupported dtype {dtype!r}")
        code = _ST_DTYPES[dtype]
        itemsize = 2 if code == "bf16" else np.dtype(code).itemsize
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= begin <= end <= len(data)) or any(s < 0 for s in shape):
            raise CheckpointError(f"{path}: tensor {name!r}: data_offsets [{begin}, {end}] lie "
                                  f"outside the {len(data)} data bytes (truncated file?)")
        if end - begin != n * itemsize:
            raise CheckpointError(f"{path}: tensor {name!r}: {end - begin} bytes for shape "
                                  f"{shape} of {dtype} (expected {n * itemsize})")
        raw = data[begin:end]
        if code == "bf16":
            arr = bf16_to_f32(np.frombuffer(raw, dtype="<u2"))
        else:
            arr = np.frombuffer(raw, dtype=code).astype(np.dtype(code).newbyteorder("="))
        tensors[name] = arr.reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors: dict, metadata: dict | None = None) -> None:
    """Write float32/float16/float64 arrays as a safetensors file (sorted names, aligned)."""
    inv = {"<f8": "F64", "<f4": "F32", "<f2": "F16", "<i8": "I64", "<i4": "I32"}
    header, chunks, pos = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        code = a.dtype.newbyteorder("<").str
        if code not in inv:
            raise ValueError(f"write_safetensors: {name}: unsupported dtype {a.dtype}")
        b = a.astype(code).tobytes()
        header[name] = {"dtype": inv[code], "shape": list(a.shape),
                        "data_offsets": [pos, pos + len(b)]}
        chunks.append(b)
        pos += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))
