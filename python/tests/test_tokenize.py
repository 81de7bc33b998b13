"""Llama.tokenize against llama.cpp's tokenizer expectations (tests/data/tokenizer and
../shared/testdata/tokenizer: .inp strings separated by __ggml_vocab_test__ lines, .out
the reference ids, made without BOS and with special tokens parsed)."""
import os

import pytest

from conftest import DATA, REPO
from libinfer import Llama

SEP = "\n__ggml_vocab_test__\n"
SHARED = os.path.join(os.path.dirname(REPO), "shared", "testdata", "tokenizer")
VOCABS = {   # name: model file
    "stories260K": os.path.join(DATA, "models", "stories260K.gguf"),
    "llama-spm": os.path.join(DATA, "tokenizer", "llama-spm.gguf"),
    "gpt2": os.path.join(DATA, "tokenizer", "gpt2.gguf"),
    "llama3": os.path.join(SHARED, "llama3.gguf"),
    "qwen3": os.path.join(SHARED, "qwen3.gguf"),
    "gptoss": os.path.join(SHARED, "gptoss.gguf"),
}
IN_REPO = ("stories260K", "llama-spm", "gpt2")


def _cases(name):
    for d in (os.path.join(DATA, "tokenizer"), SHARED):
        inp, out = os.path.join(d, name + ".inp"), os.path.join(d, name + ".out")
        if os.path.exists(inp) and os.path.exists(out):
            with open(inp, "rb") as f:
                texts = f.read().decode("utf-8").split(SEP)
            with open(out) as f:
                ids = f.read().split("\n")
            texts = texts[:-1] if texts and texts[-1].strip() == "" else texts
            return list(zip(texts, [[int(x) for x in line.split()] for line in ids]))
    return None


@pytest.mark.parametrize("name", sorted(VOCABS))
def test_tokenize_matches_reference(name):
    cases, model = _cases(name), VOCABS[name]
    if cases is None or not os.path.exists(model):
        if name in IN_REPO:
            pytest.fail(f"fixture for {name} missing from the repository")
        pytest.skip(f"{name}: fixture not in ../shared/testdata/tokenizer")
    llm = Llama(model, vocab_only=True, verbose=False)
    bad = [(t, want, got) for t, want in cases
           if (got := llm.tokenize(t.encode("utf-8"), add_bos=False, special=True)) != want]
    assert len(cases) > 10
    assert not bad, f"{len(bad)}/{len(cases)} differ, first: {bad[0]!r}"


def test_bos_and_detokenize():
    llm = Llama(VOCABS["llama-spm"], vocab_only=True, verbose=False)
    assert llm.tokenize(b"Hello world") == [1, 15043, 3186]   # llama-spm.out's ids, BOS added
    assert llm.tokenize(b"Hello world", add_bos=False) == [15043, 3186]
    assert llm.detokenize([1, 15043, 3186]) == b" Hello world"
    assert llm.detokenize([15043, 3186], special=True) == b" Hello world"
