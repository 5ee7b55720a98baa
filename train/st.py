"""st.py: a small safetensors reader and writer (no `safetensors` package needed).

Format (https://github.com/huggingface/safetensors): u64 little-endian header length N, N bytes
of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}},
then the raw little-endian data. The header is padded with spaces to a multiple of 8 bytes, as
the reference writer does. Tensors are written in the order given (so files are reproducible).
"""
import json
import struct

import numpy as np
import torch

_DTYPES = {
	torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
	torch.int32: "I32", torch.int64: "I64", torch.uint8: "U8",
}
_TORCH = {v: k for k, v in _DTYPES.items()}
_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "I32": 4, "I64": 8, "U8": 1}


def _raw(t):
	"""Little-endian bytes of a contiguous CPU tensor (bf16 through an int16 view)."""
	t = t.detach().cpu().contiguous()
	if t.dtype == torch.bfloat16:
		t = t.view(torch.int16)
	a = t.numpy()
	return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def save(path, tensors, metadata=None):
	"""Writes tensors ({name: tensor}, insertion order kept) and optional {str: str} metadata."""
	header, blobs, off = {}, [], 0
	if metadata:
		header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
	for name, t in tensors.items():
		if t.dtype not in _DTYPES:
			raise ValueError(f"{path}: tensor '{name}': dtype {t.dtype} not supported")
		b = _raw(t)
		header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
				"data_offsets": [off, off + len(b)]}
		blobs.append(b)
		off += len(b)
	h = json.dumps(header, separators=(",", ":")).encode()
	h += b" " * (-len(h) % 8)
	with open(path, "wb") as f:
		f.write(struct.pack("<Q", len(h)))
		f.write(h)
		for b in blobs:
			f.write(b)


def load(path):
	"""Returns ({name: tensor}, metadata dict)."""
	with open(path, "rb") as f:
		data = f.read()
	n = struct.unpack("<Q", data[:8])[0]
	header = json.loads(data[8:8 + n])
	meta = header.pop("__metadata__", {})
	base = 8 + n
	out = {}
	for name, info in header.items():
		b, e = info["data_offsets"]
		dt = info["dtype"]
		buf = bytearray(data[base + b:base + e])
		if dt == "BF16":
			t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16) if buf else torch.zeros(0, dtype=torch.bfloat16)
		else:
			t = torch.frombuffer(buf, dtype=_TORCH[dt]) if buf else torch.zeros(0, dtype=_TORCH[dt])
		out[name] = t.reshape(info["shape"]).clone()
	return out, meta
