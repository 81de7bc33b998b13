/* Internal GGUF helpers on top of the public inspection API in infer.h.
 * Typed getters for the model loader: each fails with a message naming the key. */
#ifndef INFER_GGUF_H
#define INFER_GGUF_H

#include <stdbool.h>
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

#endif
