#!/usr/bin/env python3
"""Make Tests/PersonaCoreTests/Fixtures/vectors/tiny.pt (and its variants) without PyTorch.

The file reproduces what `torch.save(t, path)` writes for a contiguous float32 CPU tensor `t` of
shape [numLayers + 1, hidden] (the reference repo's persona vectors), following
torch/serialization.py (`_save`) and PyTorchStreamWriter:

- a zip archive, every entry stored (no compression) under one folder (`archive/`), each entry's
  data 64-byte aligned with an extra field (id "FB") of padding;
- entries in torch's order: `data.pkl`, `.format_version`, `.storage_alignment`, `byteorder`,
  `data/0`, `version`, `.data/serialization_id`;
- `data.pkl`: a protocol-2 pickle of `torch._utils._rebuild_tensor_v2(storage, 0, shape, stride,
  False, OrderedDict())`, the storage given by the persistent id
  `('storage', torch.FloatStorage, '0', 'cpu', numel)`. The pickle is made by Python's own pickler,
  like torch's, with stand-in `torch` modules so that the globals are written by reference;
- `data/0`: the raw little-endian float32 values.

Values: row 0 (the embeddings, dropped on import) is 100 + column; row r ≥ 1 holds
r * 0.5 + column * 0.01 - 0.25. Run: python3 scripts/make-pt-fixture.py

Also written, to test the ZIP reader's deflate support (torch itself never compresses):
- tiny-deflate.pt: the same records, every entry deflated (zipfile.ZIP_DEFLATED, level 9);
- deflate-check.zip: one deflated 20 000-byte text entry (dynamic Huffman blocks, back-references).
"""
import collections
import io
import os
import pickle
import struct
import sys
import types
import zipfile

LAYERS, HIDDEN = 4, 8
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "Tests", "PersonaCoreTests", "Fixtures", "vectors")
OUT = os.path.join(FIXTURES, "tiny.pt")

# Stand-ins so that pickle writes `torch._utils._rebuild_tensor_v2` and `torch.FloatStorage` by name.
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
class FloatStorage:
    pass
FloatStorage.__module__ = "torch"
def _rebuild_tensor_v2(*args):
    raise RuntimeError("stand-in")
_rebuild_tensor_v2.__module__ = "torch._utils"
torch.FloatStorage = FloatStorage
torch._utils = torch_utils
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils


class Storage:
    def __init__(self, values):
        self.values = values


class Tensor:
    def __init__(self, storage, shape):
        self.storage, self.shape = storage, shape

    def __reduce_ex__(self, protocol):
        stride = (self.shape[1], 1)
        return (_rebuild_tensor_v2, (self.storage, 0, self.shape, stride, False, collections.OrderedDict()))


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", FloatStorage, "0", "cpu", len(obj.values))
        return None


def main():
    rows = [[100.0 + c for c in range(HIDDEN)]]
    rows += [[r * 0.5 + c * 0.01 - 0.25 for c in range(HIDDEN)] for r in range(1, LAYERS + 1)]
    values = [v for row in rows for v in row]
    storage = Storage(values)
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump(Tensor(storage, (LAYERS + 1, HIDDEN)))
    raw = struct.pack("<%df" % len(values), *values)

    records = [
        ("data.pkl", buf.getvalue()),
        (".format_version", b"1"),
        (".storage_alignment", b"64"),
        ("byteorder", b"little"),
        ("data/0", raw),
        ("version", b"3\n"),
        (".data/serialization_id", b"0123456789012345678901234567890123456789"),
    ]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in records:
            info = zipfile.ZipInfo("archive/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            # PyTorchStreamWriter pads the local header with an "FB" extra field so data is 64-byte aligned.
            header = 30 + len(info.filename.encode())
            start = out.tell() + header + 4
            pad = (-start) % 64
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            z.writestr(info, data)
    with open(OUT, "wb") as f:
        f.write(out.getvalue())
    print(f"wrote {os.path.normpath(OUT)} ({len(out.getvalue())} bytes)")

    deflated = os.path.join(FIXTURES, "tiny-deflate.pt")
    with zipfile.ZipFile(deflated, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in records:
            info = zipfile.ZipInfo("archive/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    print(f"wrote {os.path.normpath(deflated)}")

    check = os.path.join(FIXTURES, "deflate-check.zip")
    text = "".join(f"line {i}: the quick brown fox {i * i % 97} jumps over the lazy dog\n" for i in range(400)).encode()[:20000]
    with zipfile.ZipFile(check, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("text.txt", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text)
    print(f"wrote {os.path.normpath(check)}")


if __name__ == "__main__":
    main()
