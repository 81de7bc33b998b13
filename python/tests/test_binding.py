"""The ctypes layer: handles, errors as exceptions, sequences, sessions, cancel."""
import threading

import pytest

import libinfer
from libinfer import Context, LibinferError, Model, Sampler


def test_version_and_library():
    assert libinfer.version() == "0.1.0"
    assert libinfer.status_str(3) == libinfer._lib.lib.infer_status_str(3).decode()


def test_missing_file_raises_with_message(tmp_path):
    with pytest.raises(LibinferError) as e:
        Model(str(tmp_path / "nope.gguf"))
    assert e.value.status == 2 and e.value.status_name == "IO"
    assert "nope.gguf" in str(e.value)


def test_corrupt_file_raises_format(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\xff" * 60)   # v3, absurd counts
    with pytest.raises(LibinferError) as e:
        Model(str(bad))
    assert e.value.status_name == "FORMAT"
    assert e.value.message


def test_gguf_metadata(stories_path):
    with libinfer.Gguf(stories_path) as g:
        assert g.get("general.architecture") == "llama"
        assert "tokenizer.ggml.tokens" in g.keys()
        assert len(g.get("tokenizer.ggml.tokens")) == 512
        names = [t[0] for t in g.tensors()]
        assert "token_embd.weight" in names
        assert len(g.parts()) == 1


def test_context_full_raises(stories_path):
    m = Model(stories_path)
    c = Context(m, n_ctx=16, n_threads=2, backend="cpu")
    assert c.backend_name == "cpu" and c.backend_note in ("", None)
    with pytest.raises(LibinferError) as e:
        c.decode(list(range(1, 40)))
    assert e.value.status_name == "CONTEXT_FULL"
    assert c.seq_len(0) == 0   # nothing ran


def test_sequences_batch_equals_single(stories_path):
    """Two sequences decoded in one batch give the logits each gives alone."""
    m = Model(stories_path)
    a, b = m.tokenize("Once upon a time"), m.tokenize("The cat sat")
    single = Context(m, n_ctx=128, n_threads=2, backend="cpu")
    single.decode(a)
    la = single.logits(len(a) - 1)
    single.seq_clear()
    single.decode(b)
    lb = single.logits(len(b) - 1)
    multi = Context(m, n_ctx=256, n_threads=2, backend="cpu", n_seq_max=2)
    multi.decode_batch(a + b, seq_ids=[0] * len(a) + [1] * len(b))
    ga, gb = multi.logits(len(a) - 1), multi.logits(len(a) + len(b) - 1)
    assert max(abs(x - y) for x, y in zip(la, ga)) < 1e-3
    assert max(abs(x - y) for x, y in zip(lb, gb)) < 1e-3
    assert multi.seq_tokens(1) == b
    multi.seq_copy(0, 1)
    assert multi.seq_tokens(1) == a


def test_session_round_trip(stories_path, tmp_path):
    m = Model(stories_path)
    c = Context(m, n_ctx=128, n_threads=2, backend="cpu")
    toks = m.tokenize("Once upon a time")
    c.decode(toks)
    blob = c.seq_save(0)
    c.seq_clear()
    c.seq_load(blob, 0)
    assert c.seq_tokens(0) == toks
    with pytest.raises(LibinferError) as e:
        c.seq_load(blob[:-5] + b"xxxxx", 0)
    assert e.value.status_name in ("FORMAT", "UNSUPPORTED")


def test_abort_callback_cancels(stories_path):
    m = Model(stories_path)
    c = Context(m, n_ctx=512, n_threads=2, backend="cpu")
    c.set_abort_callback(lambda: True)
    with pytest.raises(LibinferError) as e:
        c.decode(m.tokenize("Once upon a time " * 20))
    assert e.value.status_name == "CANCELLED"
    c.set_abort_callback(None)
    c.decode(m.tokenize("Once"))


def test_decode_releases_gil(stories_path):
    """Another Python thread makes progress while a long decode runs in C."""
    m = Model(stories_path)
    c = Context(m, n_ctx=512, n_threads=1, backend="cpu")
    toks = m.tokenize("Once upon a time there was a girl " * 12)[:500]
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)

    t = threading.Thread(target=spin)
    t.start()
    try:
        for _ in range(3):
            c.seq_clear()
            c.decode(toks)
    finally:
        stop.set()
        t.join()
    assert len(ticks) > 1000


def test_sampler_greedy_is_argmax(stories_path):
    m = Model(stories_path)
    c = Context(m, n_ctx=64, n_threads=2, backend="cpu")
    toks = m.tokenize("Once upon")
    c.decode(toks)
    row = c.logits(len(toks) - 1)
    s = Sampler(m, temperature=0)
    assert s.sample(c.logits_ptr(len(toks) - 1)) == max(range(len(row)), key=row.__getitem__)


def test_detokenizer_streams_utf8(stories_path):
    m = Model(stories_path)
    d = libinfer.Detokenizer(m)
    text = "нещо 🦙"
    out = "".join(d.push(t) for t in m.tokenize(text, add_bos=False)) + d.flush()
    assert out == " " + text   # SentencePiece adds its dummy-prefix space


def test_model_outlives_its_dependents(stories_path):
    """Closing (or collecting) a model before its context defers the model's free until
    the context is gone (under the sanitizers a wrong order is a use after free)."""
    import gc
    m = Model(stories_path)
    c = Context(m, n_ctx=32, n_threads=1, backend="cpu")
    d = libinfer.Detokenizer(m)
    m.close()
    assert m._h and m._close_pending
    c.decode(m.tokenize("Once"))
    c.close()
    assert m._h
    d.close()
    assert not m._h
    m2 = Model(stories_path)
    loop = [m2, Context(m2, n_ctx=32, n_threads=1, backend="cpu")]
    loop.append(loop)   # a cycle: the collector finalizes its members in any order
    del m2, loop
    gc.collect()


def test_every_header_function_is_bound():
    """Each INFER_API function of include/infer.h has a ctypes signature in _lib.py (a new
    API function fails here until it is bound)."""
    import os
    import re
    from conftest import REPO
    with open(os.path.join(REPO, "include", "infer.h")) as f:
        header = f.read()
    declared = set(re.findall(r"INFER_API[^;(]*?\b(infer_[a-z0-9_]+)\s*\(", header))
    assert len(declared) > 100
    bound = set(libinfer._lib._SIGNATURES) | set(libinfer._lib._OPTIONAL)
    assert sorted(declared - bound) == []


@pytest.mark.parametrize("name,mirror", [("model", "ModelParams"), ("ctx", "CtxParams"),
                                         ("sampler", "SamplerParams"), ("quantize", "QuantizeParams")])
def test_params_mirrors_match_c(name, mirror):
    """Each params mirror starts with struct_size, and the library's defaults come back with
    it equal to the mirror's size (the C sizeof): a field missing or mistyped in _lib.py
    fails here."""
    import ctypes
    p = getattr(libinfer._lib.lib, f"infer_{name}_default_params")()
    assert p.struct_size == ctypes.sizeof(getattr(libinfer._lib, mirror))


def test_params_defaults_where_the_header_puts_them():
    lib = libinfer._lib.lib
    c = lib.infer_ctx_default_params()
    assert (c.n_ctx, c.device_index, c.n_seq_max, c.n_gpu_layers, c.n_cpu_moe) == (0, -1, 1, -2, 0)
    s = lib.infer_sampler_default_params()
    assert (s.top_k, s.penalty_last_n, s.seed) == (40, 64, 0)
    assert abs(s.top_p - 0.95) < 1e-6
    assert lib.infer_quantize_default_params().type == b"Q4_K_M"


def test_grammar_match():
    if not libinfer.library_has("infer_grammar_parse"):
        with pytest.raises(NotImplementedError):
            libinfer.Grammar('root ::= "a"')
        return
    g = libinfer.Grammar('root ::= "yes" | "no"')
    assert (g.match("yes"), g.match("ye"), g.match("maybe")) == (1, 2, 0)
    with pytest.raises(LibinferError) as e:
        libinfer.Grammar("root ::= (")
    assert e.value.status_name == "FORMAT" and "line 1" in e.value.message


def test_gpu_layers_placement(stories_path):
    """n_gpu_layers reaches the library: on Vulkan (lavapipe in CI) -ngl 2 of stories260K's
    5 layers runs layers 0-2 on the CPU; bad values are refused before any work."""
    m = Model(stories_path)
    with pytest.raises(ValueError):
        Context(m, n_gpu_layers=-5)
    with pytest.raises(ValueError):
        Context(m, n_gpu_layers="half")
    cpu = Context(m, n_ctx=64, backend="cpu", n_gpu_layers="all")
    assert cpu.placement == "all 5 layers + output cpu"
    cpu.close()
    try:
        c = Context(m, n_ctx=64, backend="vulkan", n_gpu_layers=2, n_cpu_moe=1)
    except LibinferError as e:
        if e.status_name == "NO_DEVICE":
            pytest.skip(f"no Vulkan device: {e}")
        raise
    assert c.placement.startswith("layers 0-2 cpu, 3-4 + output vulkan"), c.placement
    assert c.backend_name == "vulkan"
    c.close()
    m.close()
