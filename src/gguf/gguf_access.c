/* The public inspection API of infer.h: index-based accessors over the parsed file.
 * Out-of-range indices and wrong-type requests return 0 / NULL (documented neutral
 * values) instead of failing: everything was validated when the file was opened. */
#include "gguf/gguf_internal.h"
#include "gguf/gguf.h"

#include <math.h>
#include <string.h>

static const gguf_kv *kv_at(const infer_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

static const gguf_tensor *tensor_at(const infer_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

uint32_t infer_gguf_version(const infer_gguf *g) { return g ? g->version : 0; }
uint64_t infer_gguf_alignment(const infer_gguf *g) { return g ? g->alignment : 0; }
uint64_t infer_gguf_file_size(const infer_gguf *g) { return g ? g->size : 0; }
uint64_t infer_gguf_data_offset(const infer_gguf *g) { return g ? g->data_offset : 0; }
int64_t infer_gguf_n_kv(const infer_gguf *g) { return g ? g->n_kv : 0; }
int64_t infer_gguf_n_tensors(const infer_gguf *g) { return g ? g->n_tensors : 0; }

const char *infer_gguf_kv_key(const infer_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->key : NULL;
}

int64_t infer_gguf_find_key(const infer_gguf *g, const char *key) {
    return g ? gguf_name_index_find(&g->kv_index, key) : -1;
}

infer_gguf_type infer_gguf_kv_type(const infer_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv ? kv->type : INFER_GGUF_UINT8;
}

/* A scalar of type t stored at p, in the three views the API offers. */
typedef struct scalar { int64_t i; uint64_t u; double f; bool ok; } scalar;

static int64_t double_to_i64(double d) {
    if (isnan(d)) return 0;
    if (d >= 9223372036854775807.0) return INT64_MAX;
    if (d <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)d;
}

static uint64_t double_to_u64(double d) {
    if (isnan(d) || d <= 0) return 0;
    if (d >= 18446744073709551615.0) return UINT64_MAX;
    return (uint64_t)d;
}

static scalar read_scalar(infer_gguf_type t, const uint8_t *p) {
    scalar s = {0, 0, 0, true};
    switch (t) {
    case INFER_GGUF_UINT8: s.u = p[0]; s.i = (int64_t)s.u; s.f = (double)s.u; break;
    case INFER_GGUF_BOOL: s.u = p[0] != 0; s.i = (int64_t)s.u; s.f = (double)s.u; break;
    case INFER_GGUF_INT8: s.i = (int8_t)p[0]; break;
    case INFER_GGUF_UINT16: s.u = (uint16_t)(p[0] | p[1] << 8); s.i = (int64_t)s.u; s.f = (double)s.u; break;
    case INFER_GGUF_INT16: s.i = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case INFER_GGUF_UINT32: s.u = gguf_le32(p); s.i = (int64_t)s.u; s.f = (double)s.u; break;
    case INFER_GGUF_INT32: s.i = (int32_t)gguf_le32(p); break;
    case INFER_GGUF_UINT64:
        s.u = gguf_le64(p);
        s.i = s.u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)s.u;
        s.f = (double)s.u;
        break;
    case INFER_GGUF_INT64: s.i = (int64_t)gguf_le64(p); break;
    case INFER_GGUF_FLOAT32: {
        uint32_t b = gguf_le32(p);
        float f;
        memcpy(&f, &b, sizeof f);
        s.f = f;
        s.i = double_to_i64(s.f);
        s.u = double_to_u64(s.f);
        return s;
    }
    case INFER_GGUF_FLOAT64: {
        uint64_t b = gguf_le64(p);
        memcpy(&s.f, &b, sizeof s.f);
        s.i = double_to_i64(s.f);
        s.u = double_to_u64(s.f);
        return s;
    }
    default: s.ok = false; return s;
    }
    /* Signed kinds: derive the other views (negative values read as 0 unsigned). */
    if (t == INFER_GGUF_INT8 || t == INFER_GGUF_INT16 || t == INFER_GGUF_INT32 || t == INFER_GGUF_INT64) {
        s.u = s.i < 0 ? 0 : (uint64_t)s.i;
        s.f = (double)s.i;
    }
    return s;
}

static scalar kv_scalar(const infer_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type == INFER_GGUF_STRING || kv->type == INFER_GGUF_ARRAY) return (scalar){0, 0, 0, false};
    return read_scalar(kv->type, g->base + kv->value_off);
}

int64_t infer_gguf_kv_int(const infer_gguf *g, int64_t i) { return kv_scalar(g, i).i; }
uint64_t infer_gguf_kv_uint(const infer_gguf *g, int64_t i) { return kv_scalar(g, i).u; }
double infer_gguf_kv_float(const infer_gguf *g, int64_t i) { return kv_scalar(g, i).f; }

/* The string stored at file offset off (validated at open). */
static const char *str_at(const infer_gguf *g, uint64_t off, uint64_t *len) {
    if (len) *len = gguf_le64(g->base + off);
    return (const char *)g->base + off + 8;
}

const char *infer_gguf_kv_str(const infer_gguf *g, int64_t i, uint64_t *len) {
    const gguf_kv *kv = kv_at(g, i);
    if (!kv || kv->type != INFER_GGUF_STRING) {
        if (len) *len = 0;
        return NULL;
    }
    return str_at(g, kv->value_off, len);
}

static const gguf_kv *arr_at(const infer_gguf *g, int64_t i) {
    const gguf_kv *kv = kv_at(g, i);
    return kv && kv->type == INFER_GGUF_ARRAY ? kv : NULL;
}

infer_gguf_type infer_gguf_kv_arr_type(const infer_gguf *g, int64_t i) {
    const gguf_kv *kv = arr_at(g, i);
    return kv ? kv->arr_type : INFER_GGUF_UINT8;
}

uint64_t infer_gguf_kv_arr_len(const infer_gguf *g, int64_t i) {
    const gguf_kv *kv = arr_at(g, i);
    return kv ? kv->arr_len : 0;
}

/* Element j of a numeric array as a scalar; a nested array reads as its element count. */
static scalar arr_scalar(const infer_gguf *g, int64_t i, uint64_t j) {
    const gguf_kv *kv = arr_at(g, i);
    if (!kv || j >= kv->arr_len || kv->arr_type == INFER_GGUF_STRING) return (scalar){0, 0, 0, false};
    if (kv->arr_type == INFER_GGUF_ARRAY) {
        uint64_t n = gguf_le64(g->base + kv->elem_off[j] + 4);
        return (scalar){n > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)n, n, (double)n, true};
    }
    uint64_t size = gguf_type_fixed_size(kv->arr_type);
    return read_scalar(kv->arr_type, g->base + kv->value_off + j * size);
}

int64_t infer_gguf_kv_arr_int(const infer_gguf *g, int64_t i, uint64_t j) { return arr_scalar(g, i, j).i; }
double infer_gguf_kv_arr_float(const infer_gguf *g, int64_t i, uint64_t j) { return arr_scalar(g, i, j).f; }

const char *infer_gguf_kv_arr_str(const infer_gguf *g, int64_t i, uint64_t j, uint64_t *len) {
    const gguf_kv *kv = arr_at(g, i);
    if (!kv || kv->arr_type != INFER_GGUF_STRING || j >= kv->arr_len) {
        if (len) *len = 0;
        return NULL;
    }
    return str_at(g, kv->elem_off[j], len);
}

int64_t infer_gguf_find_tensor(const infer_gguf *g, const char *name) {
    return g ? gguf_name_index_find(&g->tensor_index, name) : -1;
}

const char *infer_gguf_tensor_name(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    return t ? t->name : NULL;
}

uint32_t infer_gguf_tensor_type(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    return t ? t->type : 0;
}

uint32_t infer_gguf_tensor_n_dims(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    return t ? t->n_dims : 0;
}

uint64_t infer_gguf_tensor_dim(const infer_gguf *g, int64_t i, uint32_t d) {
    const gguf_tensor *t = tensor_at(g, i);
    if (!t) return 0;
    return d < GGUF_MAX_DIMS ? t->ne[d] : 1;
}

uint64_t infer_gguf_tensor_offset(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    return t ? t->offset : 0;
}

uint64_t infer_gguf_tensor_bytes(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    return t ? t->bytes : 0;
}

const void *infer_gguf_tensor_data(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    if (!t) return NULL;
    const infer_gguf *p = g->parts ? g->parts[t->part] : g;   /* split sets: the part's mapping */
    return p->base + p->data_offset + t->offset;
}

int32_t infer_gguf_tensor_part(const infer_gguf *g, int64_t i) {
    const gguf_tensor *t = tensor_at(g, i);
    return t ? t->part : -1;
}

int32_t infer_gguf_n_parts(const infer_gguf *g) {
    if (!g) return 0;
    return g->parts ? g->n_parts : 1;
}

const infer_gguf *infer_gguf_part(const infer_gguf *g, int32_t i) {
    if (!g || i < 0 || i >= infer_gguf_n_parts(g)) return NULL;
    return g->parts ? g->parts[i] : g;
}

const char *infer_gguf_part_path(const infer_gguf *g, int32_t i) {
    const infer_gguf *p = infer_gguf_part(g, i);
    return p ? p->path : NULL;
}
