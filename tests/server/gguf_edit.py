"""Writes a copy of a GGUF file with tokenizer.chat_template set (added or replaced), so
server tests can give the small bundled model a real model's chat template. Tensor data
offsets are relative to the data section, so only the metadata part is rewritten."""
import struct

ALIGN_KEY = "general.alignment"
TEMPLATE_KEY = "tokenizer.chat_template"
# GGUF value type -> struct format of a scalar (8: string, 9: array)
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class _Reader:
    def __init__(self, data):
        self.d, self.o = data, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.d, self.o)
        self.o += struct.calcsize("<" + fmt)
        return v[0]

    def string(self):
        n = self.take("Q")
        s = self.d[self.o:self.o + n]
        self.o += n
        return s.decode("utf-8")

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def with_chat_template(src, dst, template):
    data = open(src, "rb").read()
    r = _Reader(data)
    assert data[:4] == b"GGUF"
    r.o = 4
    version, n_tensors, n_kv = r.take("I"), r.take("Q"), r.take("Q")
    kvs = []   # (key, raw bytes of the whole entry)
    align = 32
    for _ in range(n_kv):
        start = r.o
        key = r.string()
        t = r.take("I")
        v = r.value(t)
        if key == ALIGN_KEY:
            align = v
        kvs.append((key, data[start:r.o]))
    info_start = r.o
    for _ in range(n_tensors):
        r.string()
        nd = r.take("I")
        r.o += 8 * nd + 4 + 8
    infos = data[info_start:r.o]
    data_start = (r.o + align - 1) // align * align
    kvs = [kv for kv in kvs if kv[0] != TEMPLATE_KEY]
    kvs.append((TEMPLATE_KEY, _string(TEMPLATE_KEY) + struct.pack("<I", 8) + _string(template)))
    head = b"GGUF" + struct.pack("<IQQ", version, n_tensors, len(kvs)) + b"".join(b for _, b in kvs) + infos
    head += b"\0" * ((-len(head)) % align)
    with open(dst, "wb") as f:
        f.write(head)
        f.write(data[data_start:])
