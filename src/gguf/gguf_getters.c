/* Typed metadata getters for the model loader and tokenizer (src/gguf/gguf.h).
 * Every failure names the key and what was expected. */
#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"
#include "core/error.h"

#include <inttypes.h>
#include <math.h>

static infer_status find(const infer_gguf *g, const char *key, int64_t *i, infer_error *err) {
    if (!g || !key) return infer_err(err, INFER_ERR_INVALID_ARG, "metadata lookup with a NULL handle or key");
    *i = infer_gguf_find_key(g, key);
    if (*i < 0) return infer_err(err, INFER_ERR_NOT_FOUND, "metadata key '%s' not found", key);
    return INFER_OK;
}

static bool is_signed_int(infer_gguf_type t) {
    return t == INFER_GGUF_INT8 || t == INFER_GGUF_INT16 || t == INFER_GGUF_INT32 || t == INFER_GGUF_INT64;
}

static bool is_unsigned_int(infer_gguf_type t) {
    return t == INFER_GGUF_UINT8 || t == INFER_GGUF_UINT16 || t == INFER_GGUF_UINT32 || t == INFER_GGUF_UINT64;
}

infer_status infer_gguf_get_u32(const infer_gguf *g, const char *key, uint32_t *out, infer_error *err) {
    int64_t i = -1;
    infer_status st = find(g, key, &i, err);
    if (st) return st;
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (is_unsigned_int(t)) {
        uint64_t v = infer_gguf_kv_uint(g, i);
        if (v > UINT32_MAX)
            return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' = %" PRIu64 " does not fit in uint32", key, v);
        *out = (uint32_t)v;
        return INFER_OK;
    }
    if (is_signed_int(t)) {
        int64_t v = infer_gguf_kv_int(g, i);
        if (v < 0 || v > (int64_t)UINT32_MAX)
            return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' = %" PRId64 " does not fit in uint32", key, v);
        *out = (uint32_t)v;
        return INFER_OK;
    }
    return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' has type %s, expected an integer", key, gguf_type_name(t));
}

infer_status infer_gguf_get_f32(const infer_gguf *g, const char *key, float *out, infer_error *err) {
    int64_t i = -1;
    infer_status st = find(g, key, &i, err);
    if (st) return st;
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (t != INFER_GGUF_FLOAT32 && t != INFER_GGUF_FLOAT64)
        return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' has type %s, expected float32", key, gguf_type_name(t));
    *out = (float)infer_gguf_kv_float(g, i);
    return INFER_OK;
}

infer_status infer_gguf_get_bool(const infer_gguf *g, const char *key, bool *out, infer_error *err) {
    int64_t i = -1;
    infer_status st = find(g, key, &i, err);
    if (st) return st;
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (t != INFER_GGUF_BOOL)
        return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' has type %s, expected bool", key, gguf_type_name(t));
    *out = infer_gguf_kv_uint(g, i) != 0;
    return INFER_OK;
}

infer_status infer_gguf_get_str(const infer_gguf *g, const char *key, const char **s, uint64_t *len, infer_error *err) {
    int64_t i = -1;
    infer_status st = find(g, key, &i, err);
    if (st) return st;
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (t != INFER_GGUF_STRING)
        return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' has type %s, expected string", key, gguf_type_name(t));
    *s = infer_gguf_kv_str(g, i, len);
    return INFER_OK;
}

infer_status infer_gguf_get_arr(const infer_gguf *g, const char *key, infer_gguf_type elem_type,
                                int64_t *index, uint64_t *len, infer_error *err) {
    int64_t i = -1;
    infer_status st = find(g, key, &i, err);
    if (st) return st;
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (t != INFER_GGUF_ARRAY)
        return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' has type %s, expected an array of %s",
                         key, gguf_type_name(t), gguf_type_name(elem_type));
    infer_gguf_type et = infer_gguf_kv_arr_type(g, i);
    if (et != elem_type)
        return infer_err(err, INFER_ERR_TYPE, "metadata key '%s' is an array of %s, expected an array of %s",
                         key, gguf_type_name(et), gguf_type_name(elem_type));
    *index = i;
    if (len) *len = infer_gguf_kv_arr_len(g, i);
    return INFER_OK;
}

infer_status infer_gguf_opt_u32(const infer_gguf *g, const char *key, uint32_t def, uint32_t *out, infer_error *err) {
    if (g && key && infer_gguf_find_key(g, key) < 0) { *out = def; return INFER_OK; }
    return infer_gguf_get_u32(g, key, out, err);
}

infer_status infer_gguf_opt_f32(const infer_gguf *g, const char *key, float def, float *out, infer_error *err) {
    if (g && key && infer_gguf_find_key(g, key) < 0) { *out = def; return INFER_OK; }
    return infer_gguf_get_f32(g, key, out, err);
}

infer_status infer_gguf_opt_bool(const infer_gguf *g, const char *key, bool def, bool *out, infer_error *err) {
    if (g && key && infer_gguf_find_key(g, key) < 0) { *out = def; return INFER_OK; }
    return infer_gguf_get_bool(g, key, out, err);
}
