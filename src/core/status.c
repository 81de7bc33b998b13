#include "infer.h"

const char *infer_version(void) { return INFER_VERSION_STRING; }

const char *infer_status_str(infer_status status) {
    switch (status) {
    case INFER_OK: return "ok";
    case INFER_ERR_INVALID_ARG: return "invalid argument";
    case INFER_ERR_IO: return "i/o error";
    case INFER_ERR_FORMAT: return "format error";
    case INFER_ERR_UNSUPPORTED: return "unsupported";
    case INFER_ERR_NOMEM: return "out of memory";
    case INFER_ERR_NOT_FOUND: return "not found";
    case INFER_ERR_TYPE: return "wrong type or shape";
    case INFER_ERR_CONTEXT_FULL: return "context full";
    case INFER_ERR_BUFFER_SMALL: return "buffer too small";
    case INFER_ERR_BACKEND: return "backend failure";
    case INFER_ERR_NO_DEVICE: return "no usable device";
    case INFER_ERR_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
