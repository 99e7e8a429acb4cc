#!/usr/bin/env python3
# Seeds for the GGUF fuzz target that reach the tensor table: the default models' metadata run to
# several MB (vocabularies, merges), so a prefix of the file never gets past it. Each seed keeps a
# model's scalar metadata and short arrays, drops long arrays, and keeps its whole tensor table
# (plus the first 4 KiB of tensor data), and a small synthetic file is valid end to end. The script
# checks that every seed's tensor table lies inside the seed.
#   usage: seeds.py OUT_DIR [MODEL.gguf …]
import struct, sys, pathlib

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

class Reader:
    def __init__(self, b): self.b, self.o = b, 0
    def take(self, n):
        if self.o + n > len(self.b): raise EOFError(f"needs {n} bytes at {self.o}, file has {len(self.b)}")
        v = self.b[self.o:self.o + n]; self.o += n; return v
    def u(self, fmt): return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
    def string(self): return self.take(self.u("<Q"))
    def value(self, t):
        if t in SCALAR: self.take(struct.calcsize(SCALAR[t])); return 1
        if t == 8: self.string(); return 1
        if t == 9:
            et, n = self.u("<I"), self.u("<Q")
            for _ in range(n): self.value(et)
            return n
        raise ValueError(f"unknown value type {t}")

def table_seed(path, max_array=64):
    """The model's header with arrays longer than max_array dropped, its tensor table, 4 KiB of data."""
    with open(path, "rb") as f: b = f.read(64 << 20)   # the headers of the default models are < 64 MiB
    r = Reader(b)
    assert r.take(4) == b"GGUF", f"{path}: not GGUF"
    version, tensors, kvs = r.u("<I"), r.u("<Q"), r.u("<Q")
    kept, alignment = [], 32
    for _ in range(kvs):
        start = r.o
        key = r.string(); t = r.u("<I")
        if key == b"general.alignment": alignment = struct.unpack("<I", b[r.o:r.o + 4])[0]
        count = r.value(t)
        if t != 9 or count <= max_array: kept.append(b[start:r.o])
    table_start = r.o
    for _ in range(tensors):
        r.string(); dims = r.u("<I")
        for _ in range(dims): r.u("<Q")
        r.u("<I"); r.u("<Q")
    table = b[table_start:r.o]
    out = b"GGUF" + struct.pack("<IQQ", version, tensors, len(kept)) + b"".join(kept)
    table_offset = len(out)
    out += table
    out += b"\0" * (-len(out) % alignment)
    data_start = r.o + (-r.o % alignment)
    out += b[data_start:data_start + 4096]
    return out, table_offset, len(table), tensors

def small_seed():
    """A valid little llama file: metadata, three tensors, their data."""
    def s(x): x = x.encode(); return struct.pack("<Q", len(x)) + x
    kv = [s("general.architecture") + struct.pack("<I", 8) + s("llama"),
          s("llama.block_count") + struct.pack("<II", 4, 1),
          s("llama.embedding_length") + struct.pack("<II", 4, 8),
          s("llama.attention.head_count") + struct.pack("<II", 4, 2),
          s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + s("a") + s("b") + s("<s>")]
    specs = [("token_embd.weight", [8, 4], 0, 8 * 4 * 4), ("blk.0.attn_norm.weight", [8], 1, 8 * 2), ("output.weight", [32, 2], 8, 2 * 34)]
    table, offset = b"", 0
    for name, dims, typ, size in specs:
        table += s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", typ, offset)
        offset += size + (-size % 32)
    out = b"GGUF" + struct.pack("<IQQ", 3, len(specs), len(kv)) + b"".join(kv) + table
    out += b"\0" * (-len(out) % 32)
    return out + bytes((i * 37) & 0x3B for i in range(offset))

def main():
    out = pathlib.Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
    (out / "small.gguf").write_bytes(small_seed())
    for model in sys.argv[2:]:
        seed, table_offset, table_length, tensors = table_seed(model)
        assert table_offset + table_length <= len(seed) and tensors > 0, f"{model}: the seed does not hold the tensor table"
        name = pathlib.Path(model).stem + ".table.gguf"
        (out / name).write_bytes(seed)
        print(f"{name}: {len(seed)} bytes, {tensors} tensors, table at {table_offset}..{table_offset + table_length}")

main()
