"""Streaming text: the detokenizer, reply-part classification, tool-call parsing."""
import ctypes

from . import _lib
from ._lib import lib, InferError, c_size_t
from ._core import LibinferError, _Handle, _check, _dec, _err_check, _grow_string

CHAT_PARTS = {0: "markup", 1: "answer", 2: "reasoning", 3: "other"}


def _new_handle(kind, model):
    """A handle from the library's status constructor (kind_init), with its error message;
    an older library without it: kind_new, NULL meaning failure."""
    if _lib.has(kind + "_init"):
        h, err = ctypes.c_void_p(), InferError()
        _err_check(getattr(lib, kind + "_init")(model.handle, ctypes.byref(h), ctypes.byref(err)), err)
        return h.value
    h = getattr(lib, kind + "_new")(model.handle)
    if not h:
        raise LibinferError(5, kind + "_new failed")
    return h


class Detokenizer(_Handle):
    """Streaming detokenizer: push() returns only complete UTF-8 characters."""
    _free = staticmethod(lib.infer_detok_free)

    def __init__(self, model):
        self.model = model
        self._h = _new_handle("infer_detok", model)
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
        self._h = _new_handle("infer_chat_stream", model)
        self._own_by(model)

    def push(self, tok):
        return CHAT_PARTS.get(lib.infer_chat_stream_push(self.handle, tok), "other")

    def reset(self):
        lib.infer_chat_stream_reset(self.handle)


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


def template_render(template, conversation, bos_token=None, eos_token=None, date=None):
    """Renders any Jinja chat template with a conversation ({"messages": [...], ...})."""
    if not _lib.has("infer_template_render"):
        raise NotImplementedError(f"Jinja templates need a libinfer with infer_template_render; {_lib.path} lacks it")
    import json
    conv = json.dumps(conversation).encode()
    enc = (lambda x: x.encode() if x is not None else None)
    opts = _lib.TemplateOpts(ctypes.sizeof(_lib.TemplateOpts), enc(bos_token), enc(eos_token), enc(date))
    err = InferError()
    s, text = _grow_string(lambda b, cap, n: lib.infer_template_render(template.encode(), conv, ctypes.byref(opts),
                                                                      b, cap, n, ctypes.byref(err)))
    _err_check(s, err)
    return text.decode("utf-8", errors="replace")
