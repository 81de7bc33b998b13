/* Internal GGUF helpers on top of the public inspection API in infer.h.
 * Typed getters for the model loader: each fails with a message naming the key. */
#ifndef INFER_GGUF_H
#define INFER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "infer.h"

/* Any integer type whose value fits is accepted (INFER_ERR_TYPE otherwise). */
infer_status infer_gguf_get_u32(const infer_gguf *g, const char *key, uint32_t *out, infer_error *err);
/* FLOAT32 or FLOAT64. */
infer_status infer_gguf_get_f32(const infer_gguf *g, const char *key, float *out, infer_error *err);
infer_status infer_gguf_get_bool(const infer_gguf *g, const char *key, bool *out, infer_error *err);
/* STRING: pointer into the mapping and length (not NUL-terminated). */
infer_status infer_gguf_get_str(const infer_gguf *g, const char *key, const char **s, uint64_t *len, infer_error *err);
/* Optional variants: absent key -> *out = def, INFER_OK; present with wrong type -> error. */
infer_status infer_gguf_opt_u32(const infer_gguf *g, const char *key, uint32_t def, uint32_t *out, infer_error *err);
infer_status infer_gguf_opt_f32(const infer_gguf *g, const char *key, float def, float *out, infer_error *err);
infer_status infer_gguf_opt_bool(const infer_gguf *g, const char *key, bool def, bool *out, infer_error *err);

/* ARRAY: index of the key, element count, and element type check (elem_type as stored;
 * INFER_ERR_TYPE if the key is not an array of that type). Elements are then read with
 * infer_gguf_kv_arr_int/_float/_str(g, *index, j). */
infer_status infer_gguf_get_arr(const infer_gguf *g, const char *key, infer_gguf_type elem_type,
                                int64_t *index, uint64_t *len, infer_error *err);

/* Opens a GGUF image held in memory (fuzzing, tests, embedded models). The buffer is not
 * copied: it must stay valid and unchanged until infer_gguf_close. */
infer_status infer_gguf_open_memory(const void *data, size_t size, infer_gguf **out, infer_error *err);

#endif
