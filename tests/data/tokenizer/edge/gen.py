#!/usr/bin/env python3
"""Makes the edge-case tokenizer fixtures in this folder (not run by the build).

edge.inp holds strings that stress the pre-tokenizers and SentencePiece (contractions,
long digit runs, whitespace runs, newlines, tabs, control characters, emoji with ZWJ,
CJK, Hangul jamo, combining marks in decomposed form, titlecase and modifier letters,
scripts with marks: Khmer, Devanagari, Thai), separated like the reference .inp files.
<vocab>.out holds the ids the reference libraries give, no BOS:
- byte-level BPE vocabs: Hugging Face `tokenizers` (pip install tokenizers), with a
  tokenizer built from the GGUF's own vocabulary and merges and the model's published
  pre-tokenizer: the Split regex of its tokenizer.json + ByteLevel (GPT-2: ByteLevel
  with its regex), NFC normalizer for Qwen2, ignore_merges for Llama 3 and gpt-oss;
- SentencePiece vocabs: the `sentencepiece` library (pip install sentencepiece
  protobuf) with a BPE ModelProto built from the GGUF's pieces, scores and types
  (byte_fallback, add_dummy_prefix, identity normalization), as Llama 2 ships it.

usage: python3 gen.py GGUF_DIR      (GGUF_DIR holds the tokenizer/ and models/ files)
"""
import json, os, random, struct, sys

SEP = "\n__ggml_vocab_test__\n"

def read_gguf_kv(path):
    f = open(path, "rb")
    f.read(4); f.read(4)
    n_tensors, n_kv = struct.unpack("<QQ", f.read(16))
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def rstr():
        (n,) = struct.unpack("<Q", f.read(8)); return f.read(n)
    def rval(t):
        if t == 8: return rstr()
        if t == 9:
            et, n = struct.unpack("<IQ", f.read(12))
            if et in scalar:
                fmt = scalar[et]; return list(struct.unpack("<%d%s" % (n, fmt), f.read(struct.calcsize(fmt) * n)))
            return [rval(et) for _ in range(n)]
        fmt = scalar[t]; return struct.unpack("<" + fmt, f.read(struct.calcsize(fmt)))[0]
    kv = {}
    for _ in range(n_kv):
        k = rstr().decode(); (t,) = struct.unpack("<I", f.read(4)); kv[k] = rval(t)
    return kv

SPLIT = {
    "llama-bpe": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "gpt-4o": r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}

def bpe_encoder(kv):
    from tokenizers import Tokenizer
    pre = kv["tokenizer.ggml.pre"].decode()
    toks = [t.decode("utf-8") for t in kv["tokenizer.ggml.tokens"]]
    types = kv["tokenizer.ggml.token_type"]
    added = [{"id": i, "content": toks[i], "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": types[i] == 3} for i in range(len(toks)) if types[i] in (3, 4)]
    if pre in SPLIT:
        pt = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT[pre]}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}
    else:
        pt = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    j = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
         "normalizer": {"type": "NFC"} if pre == "qwen2" else None, "pre_tokenizer": pt,
         "post_processor": None, "decoder": None,
         "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                   "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                   "ignore_merges": pre in ("llama-bpe", "gpt-4o"),
                   "vocab": {t: i for i, t in enumerate(toks)},
                   "merges": [m.decode("utf-8") for m in kv["tokenizer.ggml.merges"]]}}
    tk = Tokenizer.from_str(json.dumps(j))
    return lambda s: tk.encode(s, add_special_tokens=False).ids

def spm_encoder(kv):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as mp
    m = mp.ModelProto()
    m.trainer_spec.model_type = mp.TrainerSpec.BPE
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.vocab_size = len(kv["tokenizer.ggml.tokens"])
    m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id, m.trainer_spec.pad_id = 0, 1, 2, -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    for t, s, ty in zip(kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.scores"], kv["tokenizer.ggml.token_type"]):
        p = m.pieces.add(); p.piece = t.decode("utf-8"); p.score = s; p.type = ty
    sp = spm.SentencePieceProcessor(model_proto=m.SerializeToString())
    return lambda s: sp.encode(s)

HAND = [
    "it's", "It'S", "they're", "THEY'RE", "we've", "I'm", "you'll", "he'd", "'s'", "''", "don't", "x'", "'",
    "it\u2019s", "'\u017f", "can't won't shan't", "O'Neil's", "rock'n'roll",
    "1", "12", "123", "1234", "12345", "123456789012345678901234567890", "3.14159", "1,234,567", "-42", "1e10",
    "\u0663\u0664\u0665", "\u2163\u216b", "\u00bd", "\u2460\u2461", "x2y3z", "2023-11-22T15:30:05Z",
    " ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n ", "a \n b", "a\n\n\nb",
    "a  b", "a   b", "a \tb", "  leading", "trailing  ", "\u00a0nbsp\u00a0", "\u3000ideo\u3000", "a\u2009b",
    "\x00", "a\x01b", "\x1b[31mred\x1b[0m", "\x7f", "\x0b\x0c", "\u0085", "\u200b", "\u200d", "\ufeffBOM",
    "\U0001f999", "\U0001f600\U0001f601", "\U0001f636\u200d\U0001f32b\ufe0f", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\U0001f1fa\U0001f1f8", "\u2764\ufe0f", "\u2705", "x\U0001f680y",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01", "\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e",
    "\u3053\u3093\u306b\u3061\u306f", "\u30ab\u30bf\u30ab\u30ca", "\ud55c\uad6d\uc5b4", "\u1100\u1161\u11a8",
    "e\u0301", "E\u0301cole", "a\u0308\u0304", "o\u0323\u0302", "\u0301start", " \u0301", "\u212b", "\u00c5",
    "\u1e9b\u0323", "caf\u00e9 cafe\u0301", "\u01c5ungla \u01c8", "\u02b0\u02b2", "\u0130stanbul \u0131",
    "Stra\u00dfe", "\ufb01le \ufb00", "\u00b5m",
    "\u1780\u17b6\u1793\u17cb\u178f\u17c2", "\u0939\u093f\u0928\u094d\u0926\u0940", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
    "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac",
    "\u041d\u0415\u0429\u041e \u043d\u0430", "C\u1eeda Vi\u1ec7t",
    "HTTPServer", "iPhoneX", "McDonald'S", "camelCaseWord", "ALLCAPS", "x86_64", "snake_case_name",
    "https://example.com/path?q=1&r=2", "a/b//c///", "C:\\Windows\\", "foo.bar()", "{\"k\": [1, 2]}",
    "!!!???...", "-->", "<<>>", "#include <stdio.h>", "$$$", "@user #tag",
    "def f(x):\n\treturn x ** 2\n", "    indented\n        more\n", "line1\r\nline2\r\n",
]

def main():
    root = sys.argv[1]
    random.seed(20261122)
    pools = ["abcxyz", "ABCXYZ", "Hello", "WORLD", "0123456789", " ", "  ", "\n", "\r\n", "\t", "\u00a0",
             "'s", "'T", "'re", "'LL", "'d", "'", "\u4f60\u597d", "\u3053\u3093", "\ud55c\uad6d", "\u0435\u0449\u0451",
             "\u1780\u17b6\u1793\u17cb", "\u0939\u093f\u0928\u094d", "e\u0301", "\u0301", "\u01c5", "\u02b0",
             "\U0001f999", "\U0001f636\u200d\U0001f32b\ufe0f", "\u200d", "!!", "...", "/", "//", "(", "]", "$", "\\",
             "\x01", "\x7f", "\u00bd", "\u0663", "3.14", "\u00df", "\u0130"]
    rand = ["".join(random.choice(pools) for _ in range(random.randint(1, 10))) for _ in range(120)]
    cases = HAND + rand
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "edge.inp"), "w", encoding="utf-8", newline="") as f:
        f.write("".join(s + SEP for s in cases))
    vocabs = {"llama-spm": "tokenizer/llama-spm.gguf", "stories260K": "models/stories260K.gguf",
              "gpt2": "tokenizer/gpt2.gguf", "llama3": "tokenizer/llama3.gguf",
              "qwen3": "tokenizer/qwen3.gguf", "gptoss": "tokenizer/gptoss.gguf"}
    for name, rel in vocabs.items():
        kv = read_gguf_kv(os.path.join(root, rel))
        enc = spm_encoder(kv) if kv["tokenizer.ggml.model"] == b"llama" else bpe_encoder(kv)
        with open(os.path.join(here, name + ".out"), "w") as f:
            for s in cases:
                f.write(" ".join(map(str, enc(s))) + "\n")

if __name__ == "__main__":
    main()
