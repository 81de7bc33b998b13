#!/usr/bin/env python3
"""Writes the small seed corpus for the GGUF fuzz target (tests/corpus/gguf/).
Hand-encoded from the GGUF spec with struct so the seeds do not depend on our writer.
Run from anywhere: python3 tests/corpus/make_gguf_corpus.py"""
import os, struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gguf")
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}

def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b

def val(t, v):
    if t == STR:
        return s(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(val(et, i) for i in items)
    return struct.pack("<" + FMT[t], v)

def gguf(kvs, tensors, align=32, version=3):
    """kvs: [(key, type, value)]; tensors: [(name, type, ne, nbytes)] laid out in order."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += s(k) + struct.pack("<I", t) + val(t, v)
    off, data = 0, b""
    for name, ty, ne, nbytes in tensors:
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", ty, off)
        chunk = bytes((i * 7 + 3) & 0xFF for i in range(nbytes))
        chunk += b"\0" * (-len(chunk) % align)
        data += chunk
        off += len(chunk)
    if tensors:
        out += b"\0" * (-len(out) % align)
    return out + data

seeds = {
    "empty-v3.gguf": gguf([], []),
    "empty-v2.gguf": gguf([], [], version=2),
    "all-types.gguf": gguf([
        ("general.architecture", STR, "llama"),
        ("general.alignment", U32, 64),
        ("u8", U8, 200), ("i8", I8, -5), ("u16", U16, 60000), ("i16", I16, -300),
        ("i32", I32, -70000), ("f32", F32, 0.5), ("b", BOOL, True), ("u64", U64, 1 << 40),
        ("i64", I64, -(1 << 40)), ("f64", F64, 1e-300),
        ("strs", ARR, (STR, ["a", "\u2581b", ""])),
        ("floats", ARR, (F32, [1.0, -2.0])),
        ("nested", ARR, (ARR, [(U8, [1, 2]), (STR, ["x"])])),
    ], [
        ("token_embd.weight", 0, [8, 2], 64),
        ("blk.0.q", 2, [32, 2], 36),          # Q4_0: 18 bytes per 32
        ("blk.0.h", 1, [4, 1, 2], 16),        # F16
        ("blk.0.k", 12, [256], 144),          # Q4_K
    ], align=64),
    "vocab.gguf": gguf([
        ("general.architecture", STR, "llama"),
        ("tokenizer.ggml.model", STR, "llama"),
        ("tokenizer.ggml.tokens", ARR, (STR, ["<unk>", "<s>", "</s>"] + [chr(97 + i) for i in range(26)])),
        ("tokenizer.ggml.scores", ARR, (F32, [0.0] * 3 + [-float(i) for i in range(26)])),
        ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3] + [1] * 26)),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
    ], []),
}

os.makedirs(HERE, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print(name, len(data))
