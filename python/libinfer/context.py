"""Context: KV cache with sequences, decode, logits, embeddings, sessions, cancel."""
import ctypes

from . import _lib
from ._lib import lib, InferError, c_int32, c_int8, c_size_t
from ._core import ERR_BUFFER_SMALL, LibinferError, _Handle, _check, _dec, _err_check, _path

BACKENDS = {"auto": 0, "cpu": 1, "vulkan": 2}
GPU_LAYERS_ALL, GPU_LAYERS_AUTO = -1, -2   # INFER_GPU_LAYERS_* of infer.h


def _gpu_layers(n):
    """n_gpu_layers as the library takes it: None or "auto" -> auto, "all" or -1 -> all, N >= 0."""
    if n is None or n == "auto":
        return GPU_LAYERS_AUTO
    if n == "all" or n == -1:
        return GPU_LAYERS_ALL
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n_gpu_layers: {n!r} (use N >= 0, -1 or 'all', None or 'auto')")
    return n
POOLING = {"none": 0, "mean": 1, "last": 2, "cls": 3}


class Context(_Handle):
    """An inference context: KV cache for n_seq_max sequences, worker threads, logits."""
    _free = staticmethod(lib.infer_ctx_free)

    def __init__(self, model, n_ctx=0, n_batch=0, n_threads=0, backend="auto", n_seq_max=1,
                 embeddings=False, pooling="mean", embd_normalize=False, kv_f16=False, device_index=-1,
                 n_gpu_layers=None, n_cpu_moe=0):
        """n_gpu_layers (GPU backends): layers on the GPU counted from the last, with the
        output head; None/"auto" (default) as many as fit, "all"/-1 all, 0 none. n_cpu_moe:
        the MoE experts of the first n layers stay on the CPU."""
        p = lib.infer_ctx_default_params()
        p.n_gpu_layers, p.n_cpu_moe = _gpu_layers(n_gpu_layers), int(n_cpu_moe)
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

    @property
    def backend_note(self):
        """"" or why backend "auto" fell back to the CPU (None: the library cannot say)."""
        return _dec(lib.infer_ctx_backend_note(self.handle)) if _lib.has("infer_ctx_backend_note") else None

    @property
    def placement(self):
        """Where the layers run: "layers 0-13 cpu, 14-27 + output vulkan; ..." (None: the
        library cannot say)."""
        return _dec(lib.infer_ctx_placement(self.handle)) if _lib.has("infer_ctx_placement") else None

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
