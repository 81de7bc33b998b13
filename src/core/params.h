/* Public params structs that can grow: each starts with size_t struct_size, the sizeof the
 * caller compiled, and fields are only ever appended. The library reads a caller's struct
 * up to that size, the newer fields keeping their defaults.
 *
 * A struct's reader lists its fields after struct_size (INFER_PARAMS_FIELD) and
 * static_asserts that its sizeof is the end of its last field: with tail padding, a later
 * field could fit inside it, and an older caller's sizeof would cover a field it never set
 * (add an explicit reserved field instead). */
#ifndef INFER_CORE_PARAMS_H
#define INFER_CORE_PARAMS_H

#include <stddef.h>
#include "infer.h"

typedef struct infer_params_field {
    size_t offset, size;
} infer_params_field;

#define INFER_PARAMS_FIELD(type, f) {offsetof(type, f), sizeof(((type *)0)->f)}
#define INFER_PARAMS_FIELD_END(type, f) (offsetof(type, f) + sizeof(((type *)0)->f))

/* out holds the defaults (out_size bytes, struct_size first); in is the caller's struct or
 * NULL (the defaults stay). The caller's struct_size must take in at least the first of
 * the n_fields fields, at most out_size bytes, and cut no field (an older header's sizeof
 * ends where a field ends, or in the padding before the next); then in's first
 * struct_size bytes are copied over out. Else INFER_ERR_INVALID_ARG naming `what` and
 * struct_size, and nothing past in's struct_size field is read. out's struct_size ends as
 * out_size. */
infer_status infer_params_read(const void *in, void *out, size_t out_size, const infer_params_field *fields,
                               size_t n_fields, const char *what, infer_error *err);

#endif
