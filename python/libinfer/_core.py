"""Thin object wrappers over the C handles: Model, Context, Sampler, Detokenizer, Gguf.

Each object owns one handle and frees it in close() (also on garbage collection and as a
context manager). A failed call raises LibinferError carrying the library's status and
its message. As with the C API, a Context, Sampler or Detokenizer must be used by one
thread at a time; a Model may be shared.
"""
import ctypes
import os

from . import _lib
from ._lib import lib, InferError, c_int32, c_int8, c_size_t, c_uint64

STATUS_NAMES = {
    0: "OK", 1: "INVALID_ARG", 2: "IO", 3: "FORMAT", 4: "UNSUPPORTED", 5: "NOMEM", 6: "NOT_FOUND",
    7: "TYPE", 8: "CONTEXT_FULL", 9: "BUFFER_SMALL", 10: "BACKEND", 11: "NO_DEVICE", 12: "CANCELLED",
}
ERR_CONTEXT_FULL = 8
ERR_BUFFER_SMALL = 9
ERR_CANCELLED = 12

BACKENDS = {"auto": 0, "cpu": 1, "vulkan": 2}
POOLING = {"none": 0, "mean": 1, "last": 2, "cls": 3}
CHAT_PARTS = {0: "markup", 1: "answer", 2: "reasoning", 3: "other"}


class LibinferError(RuntimeError):
    """A libinfer call failed. `status` is the infer_status code, `status_name` its name
    ("FORMAT", "CONTEXT_FULL", ...) and the message is the library's own."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, str(self.status))
        self.message = message
        super().__init__(f"{message} [{self.status_name}]")


def status_str(status):
    return lib.infer_status_str(status).decode()


def _dec(b):
    return b.decode("utf-8", errors="replace") if b is not None else None


def _check(status, message_fn):
    if status != 0:
        msg = message_fn() if message_fn else ""
        raise LibinferError(status, msg or status_str(status))


def _err_check(status, err):
    if status != 0:
        msg = err.message.decode("utf-8", errors="replace") or status_str(status)
        raise LibinferError(status, msg)


def _path(p):
    return os.fsencode(p)


def version():
    return lib.infer_version().decode()


def _grow_string(call):
    """Runs call(buf, cap, n_out) with a growing buffer until it fits; returns bytes."""
    cap = 4096
    while True:
        buf = ctypes.create_string_buffer(cap + 1)
        n = c_size_t(0)
        status = call(buf, cap + 1, ctypes.byref(n))
        if status == ERR_BUFFER_SMALL and n.value + 1 > cap + 1:
            cap = n.value + 1
            continue
        return status, buf.raw[:n.value]


class _Handle:
    """Owns one C handle. A handle that uses a model's (a context, a detokenizer, ...)
    names it as its owner: the model's handle is then freed only after every such
    dependent's. Garbage collection finalizes a reference cycle in any order, so the
    Python references alone cannot guarantee that order."""
    _free = None
    _h = None
    _owner = None
    _deps = 0
    _close_pending = False

    def _own_by(self, model):
        self._owner = model
        model._deps += 1

    def close(self):
        if self._h and self._deps > 0:
            self._close_pending = True   # freed when the last dependent closes
            return
        if self._h:
            type(self)._free(self._h)
            self._h = None
        owner, self._owner = self._owner, None
        if owner is not None:
            owner._deps -= 1
            if owner._close_pending and owner._deps == 0:
                owner._close_pending = False
                owner.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def handle(self):
        if not self._h:
            raise LibinferError(1, f"{type(self).__name__} is closed")
        return self._h


class Gguf(_Handle):
    """A validated GGUF file (metadata and tensor directory)."""
    _free = staticmethod(lib.infer_gguf_close)

    def __init__(self, path):
        h, err = ctypes.c_void_p(), InferError()
        _err_check(lib.infer_gguf_open(_path(path), ctypes.byref(h), ctypes.byref(err)), err)
        self._h = h.value

    @property
    def version(self):
        return lib.infer_gguf_version(self.handle)

    def keys(self):
        return [lib.infer_gguf_kv_key(self.handle, i).decode() for i in range(lib.infer_gguf_n_kv(self.handle))]

    def _str(self, ptr, n):
        return ctypes.string_at(ptr, n.value).decode("utf-8", errors="replace") if ptr else ""

    def get(self, key, default=None):
        """The value of a metadata key as a Python value (arrays as lists)."""
        g = self.handle
        i = lib.infer_gguf_find_key(g, key.encode())
        if i < 0:
            return default
        t = lib.infer_gguf_kv_type(g, i)
        n = c_uint64(0)
        if t == 8:
            return self._str(lib.infer_gguf_kv_str(g, i, ctypes.byref(n)), n)
        if t in (6, 12):
            return lib.infer_gguf_kv_float(g, i)
        if t == 7:
            return bool(lib.infer_gguf_kv_int(g, i))
        if t == 10:
            return lib.infer_gguf_kv_uint(g, i)
        if t == 9:
            at, cnt = lib.infer_gguf_kv_arr_type(g, i), lib.infer_gguf_kv_arr_len(g, i)
            if at == 8:
                return [self._str(lib.infer_gguf_kv_arr_str(g, i, j, ctypes.byref(n)), n) for j in range(cnt)]
            if at in (6, 12):
                return [lib.infer_gguf_kv_arr_float(g, i, j) for j in range(cnt)]
            if at == 9:
                return cnt
            return [lib.infer_gguf_kv_arr_int(g, i, j) for j in range(cnt)]
        return lib.infer_gguf_kv_int(g, i)

    def tensors(self):
        """[(name, type name, shape in ggml order, bytes)] in file order."""
        g, out = self.handle, []
        for i in range(lib.infer_gguf_n_tensors(g)):
            t = lib.infer_gguf_tensor_type(g, i)
            shape = [lib.infer_gguf_tensor_dim(g, i, d) for d in range(lib.infer_gguf_tensor_n_dims(g, i))]
            out.append((lib.infer_gguf_tensor_name(g, i).decode(), _dec(lib.infer_type_name(t)) or str(t),
                        shape, lib.infer_gguf_tensor_bytes(g, i)))
        return out


class Model(_Handle):
    """A loaded model (weights mapped read-only). vocab_only loads the tokenizer only."""
    _free = staticmethod(lib.infer_model_free)

    def __init__(self, path, vocab_only=False):
        params = lib.infer_model_default_params()
        params.vocab_only = 1 if vocab_only else 0
        h, err = ctypes.c_void_p(), InferError()
        _err_check(lib.infer_model_load(_path(path), ctypes.byref(params), ctypes.byref(h), ctypes.byref(err)), err)
        self._h = h.value
        self.path = os.fspath(path)
        self.vocab_only = vocab_only

    arch = property(lambda self: lib.infer_model_arch(self.handle).decode())
    name = property(lambda self: _dec(lib.infer_model_name(self.handle)))
    n_vocab = property(lambda self: lib.infer_model_n_vocab(self.handle))
    n_ctx_train = property(lambda self: lib.infer_model_n_ctx_train(self.handle))
    n_embd = property(lambda self: lib.infer_model_n_embd(self.handle))
    n_layer = property(lambda self: lib.infer_model_n_layer(self.handle))
    n_params = property(lambda self: lib.infer_model_n_params(self.handle))
    size_bytes = property(lambda self: lib.infer_model_size_bytes(self.handle))
    token_bos = property(lambda self: lib.infer_token_bos(self.handle))
    token_eos = property(lambda self: lib.infer_token_eos(self.handle))
    token_eot = property(lambda self: lib.infer_token_eot(self.handle))
    add_bos = property(lambda self: bool(lib.infer_model_add_bos(self.handle)))
    chat_template_name = property(lambda self: lib.infer_chat_template_name(self.handle).decode())
    chat_template_is_fallback = property(lambda self: bool(lib.infer_chat_template_is_fallback(self.handle)))

    def is_eog(self, tok):
        return bool(lib.infer_token_is_eog(self.handle, tok))

    def tokenize(self, text, add_bos=True, parse_special=False):
        """Token ids of `text` (bytes or str). add_bos prepends BOS if the model has one."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        cap = len(text) + 8
        while True:
            arr = (c_int32 * cap)()
            n = c_size_t(0)
            s = lib.infer_tokenize(self.handle, text, len(text), int(bool(add_bos)), int(bool(parse_special)),
                                   arr, cap, ctypes.byref(n))
            if s == ERR_BUFFER_SMALL and n.value > cap:
                cap = n.value
                continue
            _check(s, None)
            return arr[:n.value]

    def token_to_bytes(self, tok):
        buf = ctypes.create_string_buffer(256)
        n = c_size_t(0)
        s = lib.infer_token_to_bytes(self.handle, tok, buf, 256, ctypes.byref(n))
        if s == ERR_BUFFER_SMALL:
            buf = ctypes.create_string_buffer(n.value)
            s = lib.infer_token_to_bytes(self.handle, tok, buf, n.value, ctypes.byref(n))
        _check(s, lambda: f"token {tok}: {status_str(s)}")
        return buf.raw[:n.value]

    def token_text(self, tok):
        return _dec(lib.infer_token_text(self.handle, tok))

    def stop_tokens(self):
        arr = (c_int32 * 64)()
        n = lib.infer_model_stop_tokens(self.handle, arr, 64)
        return arr[:min(n, 64)]

    def chat_render(self, messages, add_generation_prompt=True):
        """Prompt text for [{"role","content"}] turns, by the model's template family."""
        keep = [(m["role"].encode(), (m.get("content") or "").encode()) for m in messages]
        arr = (_lib.ChatMsg * max(1, len(keep)))(*[_lib.ChatMsg(r, c) for r, c in keep])
        s, text = _grow_string(lambda b, cap, n: lib.infer_chat_render(self.handle, arr, len(keep),
                                                                       int(add_generation_prompt), b, cap, n))
        _check(s, None)
        return text.decode("utf-8", errors="replace")

    def chat_render_json(self, request):
        """Renders an OpenAI-style request {"messages", "tools", ...} with the model's own
        (Jinja) template. Needs a library with infer_chat_render_json."""
        import json
        req = json.dumps(request).encode()
        err = InferError()
        s, text = _grow_string(lambda b, cap, n: lib.infer_chat_render_json(self.handle, req, b, cap, n,
                                                                            ctypes.byref(err)))
        _err_check(s, err)
        return text.decode("utf-8", errors="replace")


class Context(_Handle):
    """An inference context: KV cache for n_seq_max sequences, worker threads, logits."""
    _free = staticmethod(lib.infer_ctx_free)

    def __init__(self, model, n_ctx=0, n_batch=0, n_threads=0, backend="auto", n_seq_max=1,
                 embeddings=False, pooling="mean", embd_normalize=False, kv_f16=False, device_index=-1):
        p = lib.infer_ctx_default_params()
        p.n_ctx, p.n_batch, p.n_threads = n_ctx or 0, n_batch or 0, n_threads or 0
        p.backend = BACKENDS[backend] if isinstance(backend, str) else int(backend)
        p.n_seq_max, p.embeddings = n_seq_max, int(bool(embeddings))
        p.pooling = POOLING[pooling] if isinstance(pooling, str) else int(pooling)
        p.embd_normalize, p.kv_type, p.device_index = int(bool(embd_normalize)), int(bool(kv_f16)), device_index
        h, err = ctypes.c_void_p(), InferError()
        _err_check(lib.infer_ctx_new(model.handle, ctypes.byref(p), ctypes.byref(h), ctypes.byref(err)), err)
        self._h = h.value
        self.model = model   # keeps the model alive as long as the context
        self._own_by(model)
        self.n_vocab = model.n_vocab
        self._abort = None

    def _raise(self, s):
        _check(s, lambda: _dec(lib.infer_ctx_last_error(self.handle)))

    n_ctx = property(lambda self: lib.infer_ctx_n_ctx(self.handle))
    n_seq_max = property(lambda self: lib.infer_ctx_n_seq_max(self.handle))
    n_ctx_seq = property(lambda self: lib.infer_ctx_n_ctx_seq(self.handle))
    backend_name = property(lambda self: lib.infer_ctx_backend_name(self.handle).decode())
    device_name = property(lambda self: _dec(lib.infer_ctx_device_name(self.handle)))
    kv_bytes = property(lambda self: lib.infer_ctx_kv_bytes(self.handle))

    def decode(self, tokens, pos=None, want_logits=None):
        """Evaluates tokens of sequence 0 in one call (the library splits it into n_batch
        steps; the GIL is released throughout)."""
        n = len(tokens)
        toks = (c_int32 * n)(*tokens)
        p = (c_int32 * n)(*pos) if pos is not None else None
        w = (c_int8 * n)(*[1 if x else 0 for x in want_logits]) if want_logits is not None else None
        self._raise(lib.infer_ctx_decode(self.handle, toks, p, w, n))

    def decode_batch(self, tokens, seq_ids=None, pos=None, want_logits=None):
        """Evaluates tokens of several sequences in one forward pass."""
        n = len(tokens)
        b = _lib.Batch(n, (c_int32 * n)(*tokens),
                       (c_int32 * n)(*pos) if pos is not None else None,
                       (c_int32 * n)(*seq_ids) if seq_ids is not None else None,
                       (c_int8 * n)(*[1 if x else 0 for x in want_logits]) if want_logits is not None else None)
        self._raise(lib.infer_ctx_decode_batch(self.handle, ctypes.byref(b)))

    def logits_ptr(self, i):
        """The raw float* of the i-th token's logits of the last decode (None if not kept)."""
        p = lib.infer_ctx_logits(self.handle, i)
        return p if p else None

    def logits(self, i):
        p = self.logits_ptr(i)
        if p is None:
            raise LibinferError(1, f"no logits kept for token {i} of the last decode")
        return p[:self.n_vocab]

    def embeddings(self, i):
        p = lib.infer_ctx_embeddings(self.handle, i)
        return p[:self.model.n_embd] if p else None

    def embeddings_seq(self, seq=0):
        p = lib.infer_ctx_embeddings_seq(self.handle, seq)
        return p[:self.model.n_embd] if p else None

    def seq_len(self, seq=0):
        return lib.infer_ctx_seq_len(self.handle, seq)

    def seq_tokens(self, seq=0):
        n = c_int32(0)
        p = lib.infer_ctx_seq_tokens(self.handle, seq, ctypes.byref(n))
        return p[:n.value] if p and n.value > 0 else []

    def seq_clear(self, seq=-1):
        self._raise(lib.infer_ctx_seq_clear(self.handle, seq))

    def seq_truncate(self, seq, pos):
        self._raise(lib.infer_ctx_seq_truncate(self.handle, seq, pos))

    def seq_copy(self, src, dst):
        self._raise(lib.infer_ctx_seq_copy(self.handle, src, dst))

    def seq_save(self, seq=0):
        n = c_size_t(0)
        s = lib.infer_ctx_seq_save(self.handle, seq, None, 0, ctypes.byref(n))
        if s != ERR_BUFFER_SMALL:
            self._raise(s)
        buf = ctypes.create_string_buffer(n.value)
        self._raise(lib.infer_ctx_seq_save(self.handle, seq, buf, n.value, ctypes.byref(n)))
        return buf.raw[:n.value]

    def seq_load(self, data, seq=0):
        self._raise(lib.infer_ctx_seq_load(self.handle, seq, data, len(data)))

    def seq_save_file(self, path, seq=0):
        self._raise(lib.infer_ctx_seq_save_file(self.handle, seq, _path(path)))

    def seq_load_file(self, path, seq=0):
        self._raise(lib.infer_ctx_seq_load_file(self.handle, seq, _path(path)))

    def set_abort_callback(self, fn):
        """fn() -> bool, polled from the library's threads while a decode runs; a true
        result stops it (LibinferError CANCELLED). Calling back into Python takes the
        GIL, so prefer a cheap check (e.g. threading.Event.is_set). None removes it."""
        if fn is None:
            self._abort = None
            lib.infer_ctx_set_abort_callback(self.handle, _lib.ABORT_FN(), None)
            return
        self._abort = _lib.ABORT_FN(lambda _user: 1 if fn() else 0)   # kept alive here
        lib.infer_ctx_set_abort_callback(self.handle, self._abort, None)

    def close(self):
        super().close()
        self._abort = None


class Sampler(_Handle):
    """A sampler chain. grammar (GBNF text), json_schema (dict or JSON text) and
    logit_bias ({token id: bias}) add stages when the library has the grammar API."""
    _free = staticmethod(lib.infer_sampler_free)

    def __init__(self, model, temperature=0.8, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0,
                 presence_penalty=0.0, frequency_penalty=0.0, penalty_last_n=64, seed=0,
                 grammar=None, json_schema=None, logit_bias=None):
        p = lib.infer_sampler_default_params()
        p.temperature, p.top_k, p.top_p, p.min_p = temperature, top_k, top_p, min_p
        p.repeat_penalty, p.presence_penalty, p.frequency_penalty = repeat_penalty, presence_penalty, frequency_penalty
        p.penalty_last_n, p.seed = penalty_last_n, seed & 0xFFFFFFFFFFFFFFFF
        self.model = model
        if grammar is None and json_schema is None and not logit_bias:
            h = lib.infer_sampler_new(ctypes.byref(p), model.n_vocab)
            if not h:
                raise LibinferError(5, "infer_sampler_new failed (bad parameters or out of memory)")
            self._h = h
            self._own_by(model)
            return
        if not _lib.has("infer_sampler_chain_new"):
            what = "logit_bias" if logit_bias else "grammar / JSON-schema sampling"
            raise NotImplementedError(f"{what} needs a libinfer with the grammar API (infer_sampler_chain_new); "
                                      f"{_lib.path} lacks it")
        h, err = ctypes.c_void_p(), InferError()
        _err_check(lib.infer_sampler_chain_new(model.handle, model.n_vocab, p.seed, ctypes.byref(h),
                                               ctypes.byref(err)), err)
        self._h = h.value
        self._own_by(model)
        if logit_bias:
            items = [(int(t), float(b)) for t, b in logit_bias.items()]
            arr = (_lib.LogitBias * len(items))(*[_lib.LogitBias(t, b) for t, b in items])
            self._raise(lib.infer_sampler_add_logit_bias(self._h, arr, len(items)))
        if json_schema is not None:
            import json
            text = (json_schema if isinstance(json_schema, str) else json.dumps(json_schema)).encode()
            self._raise(lib.infer_sampler_add_json_schema(self._h, text, len(text)))
        elif grammar is not None:
            g = grammar.encode() if isinstance(grammar, str) else grammar
            self._raise(lib.infer_sampler_add_grammar(self._h, g, len(g), None))
        self._raise(lib.infer_sampler_add_defaults(self._h, ctypes.byref(p)))

    def _raise(self, s):
        msg = (lambda: _dec(lib.infer_sampler_last_error(self.handle))) if _lib.has("infer_sampler_last_error") else None
        _check(s, msg)

    def sample(self, logits_ptr):
        tok = lib.infer_sampler_sample(self.handle, logits_ptr)
        if tok < 0:
            self._raise(1)
        return tok

    def accept(self, tok):
        s = lib.infer_sampler_accept(self.handle, tok)
        if s:
            self._raise(s)

    def accept_prompt(self, tok):
        if _lib.has("infer_sampler_accept_prompt"):
            self._raise(lib.infer_sampler_accept_prompt(self.handle, tok))
        else:
            lib.infer_sampler_accept(self.handle, tok)

    def reset(self):
        lib.infer_sampler_reset(self.handle)


class Detokenizer(_Handle):
    """Streaming detokenizer: push() returns only complete UTF-8 characters."""
    _free = staticmethod(lib.infer_detok_free)

    def __init__(self, model):
        self.model = model
        self._h = lib.infer_detok_new(model.handle)
        if not self._h:
            raise LibinferError(5, "infer_detok_new failed")
        self._own_by(model)

    def _call(self, fn, *args):
        buf = ctypes.create_string_buffer(1024)
        n = c_size_t(0)
        _check(fn(self.handle, *args, buf, 1024, ctypes.byref(n)), None)
        return buf.raw[:n.value].decode("utf-8", errors="replace")

    def push(self, tok):
        return self._call(lib.infer_detok_push, tok)

    def flush(self):
        return self._call(lib.infer_detok_flush)


class ChatStream(_Handle):
    """Classifies streamed reply tokens: "markup", "answer", "reasoning", "other"."""
    _free = staticmethod(lib.infer_chat_stream_free)

    def __init__(self, model):
        self.model = model
        self._h = lib.infer_chat_stream_new(model.handle)
        if not self._h:
            raise LibinferError(5, "infer_chat_stream_new failed")
        self._own_by(model)

    def push(self, tok):
        return CHAT_PARTS.get(lib.infer_chat_stream_push(self.handle, tok), "other")

    def reset(self):
        lib.infer_chat_stream_reset(self.handle)


def logprobs(logits_ptr, n_vocab, tok, top_n):
    """(log-probability of tok, [(token, logprob)] of the top_n) from a raw logits row:
    the library's infer_logprobs when present, else a log-softmax computed here."""
    if _lib.has("infer_logprobs"):
        lp = ctypes.c_float(0)
        top = (_lib.TokenLogprob * max(1, top_n))()
        n_top = c_int32(0)
        _check(lib.infer_logprobs(logits_ptr, n_vocab, tok, ctypes.byref(lp), top, top_n, ctypes.byref(n_top)), None)
        return lp.value, [(top[i].token, top[i].logprob) for i in range(n_top.value)]
    import math
    row = logits_ptr[:n_vocab]
    row = [x if x == x else float("-inf") for x in row]   # NaN counts as -inf
    mx = max(row)
    lse = mx + math.log(sum(math.exp(x - mx) for x in row))
    best = sorted(range(n_vocab), key=lambda i: (-row[i], i))[:top_n] if top_n > 0 else []
    return row[tok] - lse, [(i, row[i] - lse) for i in best]


def json_schema_to_grammar(schema):
    """GBNF text whose sentences are the JSON texts valid under schema (dict or JSON text)."""
    if not _lib.has("infer_json_schema_to_grammar"):
        raise NotImplementedError("JSON schema to grammar needs a libinfer with the grammar API "
                                  f"(infer_json_schema_to_grammar); {_lib.path} lacks it")
    import json
    text = (schema if isinstance(schema, str) else json.dumps(schema)).encode()
    err = InferError()
    s, gbnf = _grow_string(lambda b, cap, n: lib.infer_json_schema_to_grammar(text, len(text), b, cap, n,
                                                                             ctypes.byref(err)))
    _err_check(s, err)
    return gbnf.decode()


def parse_reply(text, tools_json):
    """(content, reasoning, [tool calls]) of a finished reply, by the library's parser."""
    if not _lib.has("infer_chat_parse_reply"):
        raise NotImplementedError("tool-call parsing needs a libinfer with infer_chat_parse_reply; "
                                  f"{_lib.path} lacks it")
    h, err = ctypes.c_void_p(), InferError()
    _err_check(lib.infer_chat_parse_reply(text.encode(), tools_json.encode() if tools_json else None,
                                          ctypes.byref(h), ctypes.byref(err)), err)
    try:
        calls = []
        for i in range(lib.infer_chat_parsed_n_tool_calls(h)):
            c = lib.infer_chat_parsed_tool_call(h, i).contents
            calls.append({"id": _dec(c.id), "name": _dec(c.name), "arguments": _dec(c.arguments) or "{}"})
        return (_dec(lib.infer_chat_parsed_content(h)) or "", _dec(lib.infer_chat_parsed_reasoning(h)) or "", calls)
    finally:
        lib.infer_chat_parsed_free(h)
