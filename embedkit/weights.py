"""Model weights on disk: the ``.safetensors`` format read and written in a few lines, no extra library.

A safetensors file is an 8-byte little-endian header size, a JSON header that
maps each tensor's name to its dtype, shape and byte range (plus an optional
``__metadata__`` dict of strings), then the raw little-endian bytes. It holds
no code, so loading it cannot run anything.

Left out: memory-mapping (the files here are small) and dtypes the book does
not use (int8, float64, ...).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from .errors import DataIntegrityError, DataNotFoundError

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I64": torch.int64}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load_safetensors(path: str | os.PathLike, with_metadata: bool = False):
    """All tensors in a ``.safetensors`` file, on the CPU (and the metadata dict, if ``with_metadata``)."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"weights file {path} does not exist.")
    raw = path.read_bytes()
    try:
        (size,) = struct.unpack("<Q", raw[:8])
        if 8 + size > len(raw):
            raise ValueError("header longer than the file")
        header = json.loads(raw[8:8 + size])
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
    except (struct.error, ValueError) as exc:
        raise DataIntegrityError(f"{path} is not a safetensors file (unreadable header: {exc}).") from exc
    data, tensors = memoryview(raw)[8 + size:], {}
    entries = [_checked_entry(path, name, info) for name, info in header.items() if name != "__metadata__"]
    position = 0
    for name, dtype, shape, start, end in sorted(entries, key=lambda e: e[3]):
        if start != position:  # the format stores tensors back to back: no holes, no overlaps
            raise DataIntegrityError(f"{path}: tensor {name!r} starts at byte {start}, expected {position} "
                                     "(overlapping or out-of-order offsets); the file is corrupted, re-create it.")
        if end > len(data):
            raise DataIntegrityError(f"{path}: tensor {name!r} ends at byte {end}, past the {len(data)} data bytes; "
                                     "the file is truncated, re-create it.")
        position = end
        flat = torch.frombuffer(bytearray(data[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(shape)
    if position != len(data):
        raise DataIntegrityError(f"{path}: the tensors cover {position} of {len(data)} data bytes; "
                                 "the file is truncated or padded, re-create it.")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise DataIntegrityError(f"{path}: __metadata__ must map strings to strings, as the format requires; "
                                 "the file is corrupted, re-create it.")
    return (tensors, metadata) if with_metadata else tensors


def _checked_entry(path: Path, name: str, info: object) -> tuple[str, torch.dtype, list[int], int, int]:
    """One header entry, validated: a known dtype, a shape, and offsets whose length fits dtype and shape."""
    try:
        dtype, shape, (start, end) = _DTYPES[info["dtype"]], list(info["shape"]), info["data_offsets"]
        # JSON true/false are Python bools, which are ints: a shape [true, 4] must not read as [1, 4]
        numbers = (*shape, start, end)
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in numbers) or end < start:
            raise ValueError
    except (KeyError, TypeError, ValueError) as exc:
        raise DataIntegrityError(f"{path}: tensor {name!r} has a bad header entry {info!r} (dtype one of "
                                 f"{sorted(_DTYPES)}, a shape of whole numbers, and offsets 0 <= start <= end); "
                                 "the file is corrupted, re-create it.") from exc
    expected = dtype.itemsize * int(torch.Size(shape).numel())
    if end - start != expected:
        raise DataIntegrityError(f"{path}: tensor {name!r} of shape {shape} needs {expected} bytes, "
                                 f"its offsets give {end - start}; the file is corrupted, re-create it.")
    return name, dtype, shape, start, end


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike,
                     metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` (any device; stored contiguous, little-endian) and string ``metadata`` to ``path``."""
    if metadata and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("metadata keys and values must be strings (the safetensors format allows no other); "
                        "convert them, e.g. str(value) or json.dumps(value).")
    if not all(isinstance(name, str) for name in tensors):
        raise TypeError("tensor names must be strings; rename them, e.g. {str(k): v for k, v in tensors.items()}.")
    if "__metadata__" in tensors:
        raise ValueError("no tensor may be called '__metadata__' (the header's own key); rename it.")
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name!r} is a {type(t).__name__}, not a tensor; convert it with torch.as_tensor first.")
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _NAMES:
            raise TypeError(f"tensor {name!r} has dtype {t.dtype}; use one of {sorted(map(str, _NAMES))}.")
        blob = t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data to 8 bytes
    Path(path).write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))
