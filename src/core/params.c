/* See params.h. */
#include "core/params.h"

#include <string.h>

#include "core/error.h"

/* A struct of `size` bytes holds whole fields only, at least the first, none past out_size. */
static int size_ok(size_t size, size_t out_size, const infer_params_field *fields, size_t n_fields) {
    if (n_fields == 0 || size < fields[0].offset + fields[0].size || size > out_size) return 0;
    for (size_t i = 0; i < n_fields; i++)
        if (size > fields[i].offset && size < fields[i].offset + fields[i].size) return 0;
    return 1;
}

infer_status infer_params_read(const void *in, void *out, size_t out_size, const infer_params_field *fields,
                               size_t n_fields, const char *what, infer_error *err) {
    if (!in) return INFER_OK;
    size_t size;
    memcpy(&size, in, sizeof size);   /* struct_size, the first field */
    if (!size_ok(size, out_size, fields, n_fields))
        return infer_err(err, INFER_ERR_INVALID_ARG,
                         "%s: struct_size %zu is no size this library knows (%zu now): start from the "
                         "defaults function or set sizeof",
                         what, size, out_size);
    memcpy(out, in, size);
    memcpy(out, &out_size, sizeof out_size);
    return INFER_OK;
}
