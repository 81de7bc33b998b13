/* Internal error reporting: fill an infer_error (or a handle's message) and return the code. */
#ifndef INFER_CORE_ERROR_H
#define INFER_CORE_ERROR_H

#include "infer.h"

/* Formats the message into err (if not NULL) and returns status, so callers can write
 * `return infer_err(err, INFER_ERR_FORMAT, "tensor '%s': ...", name);`. */
infer_status infer_err(infer_error *err, infer_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies an error into a fixed buffer owned by a handle (last-error messages). */
void infer_err_copy(char *dst, size_t cap, const infer_error *err);

#endif
