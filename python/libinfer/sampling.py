"""Sampler chains, log-probabilities and JSON-schema grammars."""
import ctypes
import json
import math

from . import _lib
from ._lib import lib, InferError, c_int32
from ._core import LibinferError, _Handle, _check, _dec, _err_check, _grow_string


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


def logprobs(logits_ptr, n_vocab, tok, top_n):
    """(log-probability of tok, [(token, logprob)] of the top_n) from a raw logits row:
    the library's infer_logprobs when present, else a log-softmax computed here."""
    if _lib.has("infer_logprobs"):
        lp = ctypes.c_float(0)
        top = (_lib.TokenLogprob * max(1, top_n))()
        n_top = c_int32(0)
        _check(lib.infer_logprobs(logits_ptr, n_vocab, tok, ctypes.byref(lp), top, top_n, ctypes.byref(n_top)), None)
        return lp.value, [(top[i].token, top[i].logprob) for i in range(n_top.value)]
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
    text = (schema if isinstance(schema, str) else json.dumps(schema)).encode()
    err = InferError()
    s, gbnf = _grow_string(lambda b, cap, n: lib.infer_json_schema_to_grammar(text, len(text), b, cap, n,
                                                                             ctypes.byref(err)))
    _err_check(s, err)
    return gbnf.decode()


class Grammar(_Handle):
    """A parsed GBNF grammar; match(text) is 1 (a sentence), 2 (a proper prefix) or 0."""
    _free = staticmethod(lambda h: lib.infer_grammar_free(h))

    def __init__(self, gbnf, root=None):
        if not _lib.has("infer_grammar_parse"):
            raise NotImplementedError(f"GBNF grammars need a libinfer with the grammar API; {_lib.path} lacks it")
        g = gbnf.encode() if isinstance(gbnf, str) else gbnf
        h, err = ctypes.c_void_p(), InferError()
        _err_check(lib.infer_grammar_parse(g, len(g), root.encode() if root else None, ctypes.byref(h),
                                           ctypes.byref(err)), err)
        self._h = h.value

    def match(self, text):
        b = text.encode() if isinstance(text, str) else text
        return lib.infer_grammar_match(self.handle, b, len(b))
