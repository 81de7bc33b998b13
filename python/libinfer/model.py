"""Model: a loaded model, its tokenizer and its chat template."""
import ctypes
import json
import os

from . import _lib
from ._lib import lib, InferError, c_int32, c_size_t
from ._core import ERR_BUFFER_SMALL, _Handle, _check, _dec, _err_check, _grow_string, _path, status_str


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

    @property
    def chat_template(self):
        """The file's tokenizer.chat_template text, or None."""
        if not _lib.has("infer_model_chat_template_text"):
            raise NotImplementedError(f"{_lib.path} lacks infer_model_chat_template_text")
        return _dec(lib.infer_model_chat_template_text(self.handle))

    def chat_render_json(self, request):
        """Renders an OpenAI-style request {"messages", "tools", ...} with the model's own
        (Jinja) template. Needs a library with infer_chat_render_json."""
        req = json.dumps(request).encode()
        err = InferError()
        s, text = _grow_string(lambda b, cap, n: lib.infer_chat_render_json(self.handle, req, b, cap, n,
                                                                            ctypes.byref(err)))
        _err_check(s, err)
        return text.decode("utf-8", errors="replace")
