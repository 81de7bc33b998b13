#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

infer_status infer_err(infer_error *err, infer_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void infer_err_copy(char *dst, size_t cap, const infer_error *err) {
    if (!dst || cap == 0) return;
    snprintf(dst, cap, "%s", err ? err->message : "");
}
