"""A minimal safetensors writer and reader on numpy/torch, independent of the C++ reader.

Used by the checkpoint generator and the reference forward; Debian ships no safetensors package.
"""
import json
import struct

import numpy as np
import torch

_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
           torch.int32: "I32", torch.int64: "I64"}
_FROM_NAME = {v: k for k, v in _DTYPES.items()}


def _tensor_bytes(t):
    t = t.contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def save(tensors, path, metadata=None):
    """Writes {name: tensor} in the safetensors layout (header padded to 8 bytes, as HF does)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = _tensor_bytes(tensors[name])
        header[name] = {"dtype": _DTYPES[tensors[name].dtype],
                        "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def save_streaming(entries, path, dtype, metadata=None):
    """Writes tensors one at a time, in the order given, so a checkpoint larger than memory can be
    made: entries are (name, shape, make) with make() returning the tensor, stored as dtype."""
    header = {"__metadata__": metadata} if metadata else {}
    itemsize = torch.empty((), dtype=dtype).element_size()
    offset = 0
    for name, shape, _ in entries:
        size = itemsize * int(np.prod(shape, dtype=np.int64))
        header[name] = {"dtype": _DTYPES[dtype], "shape": list(shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape, make in entries:
            tensor = make().to(dtype)
            assert tuple(tensor.shape) == tuple(shape), name
            f.write(_tensor_bytes(tensor))


def load(path):
    """Reads a safetensors file into {name: torch tensor}."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype = _FROM_NAME[info["dtype"]]
        chunk = bytearray(data[begin:end])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(chunk, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(chunk, dtype=dtype) if len(chunk) else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out
