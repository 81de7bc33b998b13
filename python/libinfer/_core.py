"""What the handle wrappers share: LibinferError, status checks, buffer growth, _Handle.

Each wrapper (gguf.py, model.py, context.py, sampling.py, text.py) owns one C handle and
frees it in close() (also on garbage collection and as a context manager). A failed call
raises LibinferError carrying the library's status and its message. As with the C API, a
Context, Sampler or Detokenizer must be used by one thread at a time; a Model may be
shared.
"""
import ctypes
import os

from ._lib import lib, c_size_t

STATUS_NAMES = {
    0: "OK", 1: "INVALID_ARG", 2: "IO", 3: "FORMAT", 4: "UNSUPPORTED", 5: "NOMEM", 6: "NOT_FOUND",
    7: "TYPE", 8: "CONTEXT_FULL", 9: "BUFFER_SMALL", 10: "BACKEND", 11: "NO_DEVICE", 12: "CANCELLED",
}
ERR_CONTEXT_FULL = 8
ERR_BUFFER_SMALL = 9
ERR_CANCELLED = 12



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
