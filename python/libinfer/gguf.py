"""Gguf: a validated GGUF file's metadata and tensor directory."""
import ctypes

from . import _lib
from ._lib import lib, InferError, c_uint64
from ._core import _Handle, _dec, _err_check, _path


class Gguf(_Handle):
    """A validated GGUF file (metadata and tensor directory)."""
    _free = staticmethod(lib.infer_gguf_close)

    def __init__(self, path):
        """Opens path; the first part of a split model (llama.cpp's gguf-split) opens with
        all its parts when the library reads split files."""
        h, err = ctypes.c_void_p(), InferError()
        opener = lib.infer_gguf_open_split if _lib.has("infer_gguf_open_split") else lib.infer_gguf_open
        _err_check(opener(_path(path), ctypes.byref(h), ctypes.byref(err)), err)
        self._h = h.value

    def parts(self):
        """Paths of the files the handle reads (one for a single file)."""
        if not _lib.has("infer_gguf_n_parts"):
            return [None]
        return [_dec(lib.infer_gguf_part_path(self.handle, i)) for i in range(lib.infer_gguf_n_parts(self.handle))]

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
