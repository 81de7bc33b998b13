"""Finds libinfer.so and declares the C signatures of include/infer.h for ctypes.

The library is looked for, in order, at $LIBINFER_LIBRARY, inside this package (where
`pip install ./python` puts the one it builds), then through the system loader. The
library is loaded with ctypes.CDLL, so every foreign call releases the GIL for its
duration: a decode or a sampling step lets other Python threads run.

Functions that a particular build may lack (the grammar, stop-string, logprob and
Jinja/tool-call APIs arrived in later versions) are declared only when present;
`has(name)` says whether the loaded library has one.
"""
import ctypes
import ctypes.util
import glob
import os
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float, c_int, c_int8, c_int32,
                    c_int64, c_size_t, c_uint32, c_uint64, c_void_p, CFUNCTYPE)

c_int32_p = POINTER(c_int32)
c_float_p = POINTER(c_float)


class InferError(Structure):
    _fields_ = [("status", c_int), ("message", c_char * 512)]


# The params structs start with struct_size, as in infer.h: their *_default_params() set it
# to the C sizeof, which tests/test_binding.py checks against ctypes.sizeof of each mirror.
class ModelParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("vocab_only", c_int), ("progress", c_void_p),
                ("progress_user", c_void_p)]


class CtxParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("n_ctx", c_uint32), ("n_batch", c_uint32), ("n_threads", c_int32),
                ("kv_type", c_int), ("backend", c_int), ("device_index", c_int32), ("n_seq_max", c_uint32),
                ("embeddings", c_int32), ("pooling", c_int), ("embd_normalize", c_int32),
                ("n_gpu_layers", c_int32), ("n_cpu_moe", c_int32)]


class Batch(Structure):
    _fields_ = [("n_tokens", c_int32), ("tokens", c_int32_p), ("pos", c_int32_p),
                ("seq_id", c_int32_p), ("want_logits", POINTER(c_int8))]


class SamplerParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("temperature", c_float), ("top_k", c_int32), ("top_p", c_float),
                ("min_p", c_float),
                ("repeat_penalty", c_float), ("presence_penalty", c_float), ("frequency_penalty", c_float),
                ("penalty_last_n", c_int32), ("seed", c_uint64)]


class ChatMsg(Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class QuantizeParams(Structure):
    _fields_ = [("struct_size", c_size_t), ("type", c_char_p), ("n_threads", c_int32), ("pure", c_int),
                ("allow_requantize", c_int),
                ("overrides", POINTER(c_char_p)), ("n_overrides", c_size_t), ("progress", c_void_p),
                ("progress_user", c_void_p)]


class QuantizeStats(Structure):
    _fields_ = [("n_tensors", c_int64), ("n_quantized", c_int64), ("n_fallback", c_int64),
                ("n_elements", c_uint64), ("bytes_in", c_uint64), ("bytes_out", c_uint64), ("seconds", c_double)]


class TokenLogprob(Structure):
    _fields_ = [("token", c_int32), ("logprob", c_float)]


class LogitBias(Structure):
    _fields_ = [("token", c_int32), ("bias", c_float)]


class ChatToolCall(Structure):
    _fields_ = [("struct_size", c_size_t), ("id", c_char_p), ("name", c_char_p), ("arguments", c_char_p)]


class ChatCallProgress(Structure):   # arguments: n_arguments bytes, not NUL-terminated while incomplete
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("arguments", POINTER(c_char)),
                ("n_arguments", c_size_t), ("complete", c_int)]


class TemplateOpts(Structure):
    _fields_ = [("struct_size", c_size_t), ("bos_token", c_char_p), ("eos_token", c_char_p), ("date", c_char_p)]


ABORT_FN = CFUNCTYPE(c_int, c_void_p)
PROGRESS_FN = CFUNCTYPE(c_int, c_float, c_void_p)

P = c_void_p   # every opaque handle
st = c_int     # infer_status

# name: (restype, argtypes). Everything in include/infer.h.
_SIGNATURES = {
    "infer_version": (c_char_p, []),
    "infer_status_str": (c_char_p, [st]),
    # GGUF inspection
    "infer_gguf_open": (st, [c_char_p, POINTER(P), POINTER(InferError)]),
    "infer_gguf_close": (None, [P]),
    "infer_gguf_version": (c_uint32, [P]),
    "infer_gguf_alignment": (c_uint64, [P]),
    "infer_gguf_file_size": (c_uint64, [P]),
    "infer_gguf_data_offset": (c_uint64, [P]),
    "infer_gguf_n_kv": (c_int64, [P]),
    "infer_gguf_kv_key": (c_char_p, [P, c_int64]),
    "infer_gguf_find_key": (c_int64, [P, c_char_p]),
    "infer_gguf_kv_type": (c_int, [P, c_int64]),
    "infer_gguf_kv_int": (c_int64, [P, c_int64]),
    "infer_gguf_kv_uint": (c_uint64, [P, c_int64]),
    "infer_gguf_kv_float": (c_double, [P, c_int64]),
    "infer_gguf_kv_str": (c_void_p, [P, c_int64, POINTER(c_uint64)]),
    "infer_gguf_kv_arr_type": (c_int, [P, c_int64]),
    "infer_gguf_kv_arr_len": (c_uint64, [P, c_int64]),
    "infer_gguf_kv_arr_int": (c_int64, [P, c_int64, c_uint64]),
    "infer_gguf_kv_arr_float": (c_double, [P, c_int64, c_uint64]),
    "infer_gguf_kv_arr_str": (c_void_p, [P, c_int64, c_uint64, POINTER(c_uint64)]),
    "infer_gguf_n_tensors": (c_int64, [P]),
    "infer_gguf_find_tensor": (c_int64, [P, c_char_p]),
    "infer_gguf_tensor_name": (c_char_p, [P, c_int64]),
    "infer_gguf_tensor_type": (c_uint32, [P, c_int64]),
    "infer_gguf_tensor_n_dims": (c_uint32, [P, c_int64]),
    "infer_gguf_tensor_dim": (c_uint64, [P, c_int64, c_uint32]),
    "infer_gguf_tensor_offset": (c_uint64, [P, c_int64]),
    "infer_gguf_tensor_bytes": (c_uint64, [P, c_int64]),
    "infer_gguf_tensor_data": (c_void_p, [P, c_int64]),
    "infer_type_name": (c_char_p, [c_uint32]),
    # model
    "infer_model_default_params": (ModelParams, []),
    "infer_model_load": (st, [c_char_p, POINTER(ModelParams), POINTER(P), POINTER(InferError)]),
    "infer_model_free": (None, [P]),
    "infer_model_arch": (c_char_p, [P]),
    "infer_model_name": (c_char_p, [P]),
    "infer_model_n_vocab": (c_int32, [P]),
    "infer_model_n_ctx_train": (c_int32, [P]),
    "infer_model_n_embd": (c_int32, [P]),
    "infer_model_n_layer": (c_int32, [P]),
    "infer_model_n_params": (c_uint64, [P]),
    "infer_model_size_bytes": (c_uint64, [P]),
    # tokenizer
    "infer_token_bos": (c_int32, [P]),
    "infer_token_eos": (c_int32, [P]),
    "infer_token_eot": (c_int32, [P]),
    "infer_token_is_eog": (c_int, [P, c_int32]),
    "infer_model_add_bos": (c_int, [P]),
    "infer_tokenize": (st, [P, c_char_p, c_size_t, c_int, c_int, c_int32_p, c_size_t, POINTER(c_size_t)]),
    "infer_token_to_bytes": (st, [P, c_int32, c_char_p, c_size_t, POINTER(c_size_t)]),
    "infer_token_text": (c_char_p, [P, c_int32]),
    "infer_detok_new": (P, [P]),
    "infer_detok_init": (st, [P, POINTER(P), POINTER(InferError)]),
    "infer_detok_free": (None, [P]),
    "infer_detok_push": (st, [P, c_int32, c_char_p, c_size_t, POINTER(c_size_t)]),
    "infer_detok_flush": (st, [P, c_char_p, c_size_t, POINTER(c_size_t)]),
    # context
    "infer_ctx_default_params": (CtxParams, []),
    "infer_ctx_new": (st, [P, POINTER(CtxParams), POINTER(P), POINTER(InferError)]),
    "infer_ctx_free": (None, [P]),
    "infer_ctx_last_error": (c_char_p, [P]),
    "infer_ctx_n_ctx": (c_uint32, [P]),
    "infer_ctx_backend_name": (c_char_p, [P]),
    "infer_ctx_device_name": (c_char_p, [P]),
    "infer_ctx_kv_bytes": (c_uint64, [P]),
    # sequences
    "infer_ctx_decode_batch": (st, [P, POINTER(Batch)]),
    "infer_ctx_decode": (st, [P, c_int32_p, c_int32_p, POINTER(c_int8), c_int32]),
    "infer_ctx_logits": (c_float_p, [P, c_int32]),
    "infer_ctx_n_seq_max": (c_uint32, [P]),
    "infer_ctx_n_ctx_seq": (c_uint32, [P]),
    "infer_ctx_seq_len": (c_int32, [P, c_int32]),
    "infer_ctx_seq_tokens": (c_int32_p, [P, c_int32, c_int32_p]),
    "infer_ctx_seq_clear": (st, [P, c_int32]),
    "infer_ctx_seq_truncate": (st, [P, c_int32, c_int32]),
    "infer_ctx_seq_copy": (st, [P, c_int32, c_int32]),
    "infer_ctx_n_past": (c_int32, [P]),
    "infer_ctx_kv_clear": (None, [P]),
    "infer_ctx_kv_truncate": (None, [P, c_int32]),
    # sessions
    "infer_ctx_seq_save": (st, [P, c_int32, c_void_p, c_size_t, POINTER(c_size_t)]),
    "infer_ctx_seq_load": (st, [P, c_int32, c_void_p, c_size_t]),
    "infer_ctx_seq_save_file": (st, [P, c_int32, c_char_p]),
    "infer_ctx_seq_load_file": (st, [P, c_int32, c_char_p]),
    # cancel
    "infer_ctx_set_abort_callback": (None, [P, ABORT_FN, c_void_p]),
    # embeddings
    "infer_ctx_embeddings": (c_float_p, [P, c_int32]),
    "infer_ctx_embeddings_seq": (c_float_p, [P, c_int32]),
    # sampling
    "infer_sampler_default_params": (SamplerParams, []),
    "infer_sampler_new": (P, [POINTER(SamplerParams), c_int32]),
    "infer_sampler_free": (None, [P]),
    "infer_sampler_sample": (c_int32, [P, c_float_p]),
    "infer_sampler_accept": (None, [P, c_int32]),
    "infer_sampler_reset": (None, [P]),
    # chat
    "infer_chat_template_name": (c_char_p, [P]),
    "infer_chat_template_is_fallback": (c_int, [P]),
    "infer_chat_render": (st, [P, POINTER(ChatMsg), c_size_t, c_int, c_char_p, c_size_t, POINTER(c_size_t)]),
    "infer_model_stop_tokens": (c_size_t, [P, c_int32_p, c_size_t]),
    "infer_chat_stream_new": (P, [P]),
    "infer_chat_stream_init": (st, [P, POINTER(P), POINTER(InferError)]),
    "infer_chat_stream_free": (None, [P]),
    "infer_chat_stream_push": (c_int, [P, c_int32]),
    "infer_chat_stream_reset": (None, [P]),
}

# Later additions (split files, backend notes, the grammar and Jinja work): declared
# when the library has them, so that an older libinfer.so still loads.
_OPTIONAL = {
    "infer_quantize_default_params": (QuantizeParams, []),
    "infer_quantize_type_names": (POINTER(c_char_p), []),
    "infer_model_quantize": (st, [c_char_p, c_char_p, POINTER(QuantizeParams), POINTER(QuantizeStats),
                                  POINTER(InferError)]),
    "infer_gguf_open_split": (st, [c_char_p, POINTER(P), POINTER(InferError)]),
    "infer_gguf_n_parts": (c_int32, [P]),
    "infer_gguf_part": (P, [P, c_int32]),
    "infer_gguf_part_path": (c_char_p, [P, c_int32]),
    "infer_gguf_tensor_part": (c_int32, [P, c_int64]),
    "infer_ctx_backend_note": (c_char_p, [P]),
    "infer_ctx_placement": (c_char_p, [P]),
    "infer_ctx_gpu_weight_bytes": (c_uint64, [P]),
    "infer_ctx_gpu_bytes_per_token": (c_uint64, [P]),
    "infer_sampler_init": (st, [P, c_int32, POINTER(SamplerParams), POINTER(P), POINTER(InferError)]),
    "infer_sampler_chain_new": (st, [P, c_int32, c_uint64, POINTER(P), POINTER(InferError)]),
    "infer_sampler_last_error": (c_char_p, [P]),
    "infer_sampler_add_defaults": (st, [P, POINTER(SamplerParams)]),
    "infer_sampler_add_grammar": (st, [P, c_char_p, c_size_t, c_char_p]),
    "infer_sampler_add_json_schema": (st, [P, c_char_p, c_size_t]),
    "infer_sampler_add_logit_bias": (st, [P, POINTER(LogitBias), c_size_t]),
    "infer_sampler_accept_prompt": (st, [P, c_int32]),
    "infer_sampler_add_penalties": (st, [P, c_int32, c_float, c_float, c_float]),
    "infer_sampler_add_top_k": (st, [P, c_int32]),
    "infer_sampler_add_top_p": (st, [P, c_float]),
    "infer_sampler_add_min_p": (st, [P, c_float]),
    "infer_sampler_add_temperature": (st, [P, c_float]),
    "infer_sampler_add_greedy": (st, [P]),
    "infer_sampler_add_dist": (st, [P]),
    "infer_sampler_add_mirostat_v2": (st, [P, c_float, c_float]),
    "infer_grammar_parse": (st, [c_char_p, c_size_t, c_char_p, POINTER(P), POINTER(InferError)]),
    "infer_grammar_free": (None, [P]),
    "infer_grammar_match": (c_int, [P, c_char_p, c_size_t]),
    "infer_stop_new": (st, [POINTER(c_char_p), c_size_t, POINTER(P), POINTER(InferError)]),
    "infer_stop_free": (None, [P]),
    "infer_stop_push": (st, [P, c_char_p, c_size_t, c_char_p, c_size_t, POINTER(c_size_t), POINTER(c_int)]),
    "infer_stop_flush": (st, [P, c_char_p, c_size_t, POINTER(c_size_t)]),
    "infer_stop_which": (c_int32, [P]),
    "infer_stop_reset": (None, [P]),
    "infer_json_object_grammar": (c_char_p, []),
    "infer_json_schema_to_grammar": (st, [c_char_p, c_size_t, c_char_p, c_size_t, POINTER(c_size_t),
                                          POINTER(InferError)]),
    "infer_logprobs": (st, [c_float_p, c_int32, c_int32, c_float_p, POINTER(TokenLogprob), c_int32, c_int32_p]),
    # infer_chat_message / infer_chat_render_opts are passed as raw pointers: Python
    # callers use infer_chat_render_json (the same rendering from a JSON request).
    "infer_chat_render_messages": (st, [P, c_void_p, c_size_t, c_void_p, c_char_p, c_size_t, POINTER(c_size_t),
                                        POINTER(InferError)]),
    "infer_template_render": (st, [c_char_p, c_char_p, POINTER(TemplateOpts), c_char_p, c_size_t,
                                   POINTER(c_size_t), POINTER(InferError)]),
    "infer_model_chat_template_text": (c_char_p, [P]),
    "infer_chat_render_json": (st, [P, c_char_p, c_char_p, c_size_t, POINTER(c_size_t), POINTER(InferError)]),
    "infer_chat_parse_reply": (st, [c_char_p, c_char_p, POINTER(P), POINTER(InferError)]),
    "infer_chat_parsed_free": (None, [P]),
    "infer_chat_parsed_content": (c_char_p, [P]),
    "infer_chat_parsed_reasoning": (c_char_p, [P]),
    "infer_chat_parsed_n_tool_calls": (c_size_t, [P]),
    "infer_chat_parsed_tool_call": (POINTER(ChatToolCall), [P, c_size_t]),
    "infer_chat_call_stream_new": (st, [POINTER(P)]),
    "infer_chat_call_stream_free": (None, [P]),
    "infer_chat_call_stream_push": (st, [P, c_char_p, c_size_t]),
    "infer_chat_call_stream_n_calls": (c_size_t, [P]),
    "infer_chat_call_stream_call": (st, [P, c_size_t, POINTER(ChatCallProgress)]),
    "infer_chat_call_stream_stopped": (c_int, [P]),
}

# The newer sampler API makes accept return a status; the older one returns nothing.
_ACCEPT_RETURNS_STATUS = "infer_sampler_accept_prompt"


def _candidates():
    env = os.environ.get("LIBINFER_LIBRARY")
    if env:
        return [env]   # an explicit choice: no silent fallback to another library
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "libinfer.so*")) + glob.glob(os.path.join(here, "libinfer*.dylib")))
    system = ctypes.util.find_library("infer")
    return found + ([system] if system else []) + ["libinfer.so"]


def _load():
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("libinfer: cannot load libinfer.so (set LIBINFER_LIBRARY to its path, or "
                      "`pip install ./python` from the repository to build one into the package):\n  "
                      + "\n  ".join(errors))


lib, path = _load()

_present = set()
for _name, (_res, _args) in list(_SIGNATURES.items()) + list(_OPTIONAL.items()):
    try:
        _fn = getattr(lib, _name)
    except AttributeError:
        if _name in _SIGNATURES:
            raise ImportError(f"libinfer: {path} lacks {_name}: not a libinfer of this API version")
        continue
    _fn.restype = _res
    _fn.argtypes = _args
    _present.add(_name)
if _ACCEPT_RETURNS_STATUS in _present:
    lib.infer_sampler_accept.restype = st


def has(name):
    """True when the loaded library exports the function `name`."""
    return name in _present
