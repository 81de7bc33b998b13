/* GGUF writer. Metadata is encoded into a byte buffer as it is added (so the writer
 * holds no per-type value structs); tensors are kept as copies until saved. */
#include "gguf/gguf_writer.h"
#include "gguf/gguf_internal.h"
#include "core/error.h"
#include "tensor/dtype.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bytebuf {
    uint8_t *p;
    size_t len, cap;
} bytebuf;

typedef struct writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];  /* ggml order, unused dims 1 */
    uint8_t *data;               /* [bytes] copy */
    uint64_t bytes;
} writer_tensor;

struct infer_gguf_writer {
    uint32_t version;
    uint32_t alignment;
    bytebuf kv;                  /* encoded metadata entries, in order added */
    uint64_t n_kv;
    char **keys;                 /* [n_kv] for duplicate detection */
    writer_tensor *tensors;      /* [n_tensors] */
    uint64_t n_tensors, cap_tensors;
    infer_status status;         /* first error, sticky */
    infer_error error;
};

/* Records the first error (later ones are consequences) and returns st. */
static infer_status fail(infer_gguf_writer *w, infer_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static infer_status fail(infer_gguf_writer *w, infer_status st, const char *fmt, ...) {
    if (w && w->status == INFER_OK) {
        w->status = st;
        w->error.status = st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->error.message, sizeof w->error.message, fmt, ap);
        va_end(ap);
    }
    return st;
}

static bool buf_reserve(bytebuf *b, size_t extra) {
    if (extra <= b->cap - b->len) return true;
    if (extra > SIZE_MAX / 2 - b->len) return false;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Appends assume buf_reserve succeeded for the whole entry. */
static void put_bytes(bytebuf *b, const void *src, size_t n) {
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void put_u32(bytebuf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put_bytes(b, x, 4);
}
static void put_u64(bytebuf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
/* The low `size` bytes of v, little-endian. */
static void put_le(bytebuf *b, uint64_t v, uint64_t size) {
    for (uint64_t i = 0; i < size; i++) {
        uint8_t byte = (uint8_t)(v >> (8 * i));
        put_bytes(b, &byte, 1);
    }
}

/* A fixed-size element in host representation, as raw bits. */
static uint64_t host_bits(const uint8_t *host, uint64_t size) {
    switch (size) {
    case 1: return host[0];
    case 2: { uint16_t x; memcpy(&x, host, 2); return x; }
    case 4: { uint32_t x; memcpy(&x, host, 4); return x; }
    default: { uint64_t x; memcpy(&x, host, 8); return x; }
    }
}

infer_gguf_writer *infer_gguf_writer_new(void) {
    infer_gguf_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->version = 3;
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    }
    return w;
}

void infer_gguf_writer_free(infer_gguf_writer *w) {
    if (!w) return;
    for (uint64_t i = 0; i < w->n_kv; i++) free(w->keys[i]);
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->keys);
    free(w->tensors);
    free(w->kv.p);
    free(w);
}

infer_status infer_gguf_writer_set_version(infer_gguf_writer *w, uint32_t version) {
    if (!w) return INFER_ERR_INVALID_ARG;
    if (version != 2 && version != 3) return fail(w, INFER_ERR_INVALID_ARG, "GGUF version %" PRIu32 " cannot be written (2 or 3)", version);
    w->version = version;
    return INFER_OK;
}

/* Starts an entry: checks the key, records it, reserves room and writes key + type. */
static infer_status begin_kv(infer_gguf_writer *w, const char *key, infer_gguf_type type, size_t value_bytes) {
    if (!w) return INFER_ERR_INVALID_ARG;
    if (w->status) return w->status;
    if (!key || !*key) return fail(w, INFER_ERR_INVALID_ARG, "metadata key is NULL or empty");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0) return fail(w, INFER_ERR_INVALID_ARG, "duplicate metadata key '%s'", key);
    size_t klen = strlen(key);
    char **keys = realloc(w->keys, (w->n_kv + 1) * sizeof *keys);
    if (keys) w->keys = keys;
    char *copy = strdup(key);
    if (!keys || !copy || value_bytes > SIZE_MAX - 12 - klen || !buf_reserve(&w->kv, 12 + klen + value_bytes)) {
        free(copy);
        return fail(w, INFER_ERR_NOMEM, "out of memory adding metadata key '%s'", key);
    }
    w->keys[w->n_kv++] = copy;
    put_u64(&w->kv, klen);
    put_bytes(&w->kv, key, klen);
    put_u32(&w->kv, (uint32_t)type);
    return INFER_OK;
}

static infer_status set_scalar(infer_gguf_writer *w, const char *key, infer_gguf_type type, uint64_t bits) {
    uint64_t size = gguf_type_fixed_size(type);
    infer_status st = begin_kv(w, key, type, size);
    if (!st) put_le(&w->kv, bits, size);
    return st;
}

infer_status infer_gguf_writer_set_u8(infer_gguf_writer *w, const char *k, uint8_t v) { return set_scalar(w, k, INFER_GGUF_UINT8, v); }
infer_status infer_gguf_writer_set_i8(infer_gguf_writer *w, const char *k, int8_t v) { return set_scalar(w, k, INFER_GGUF_INT8, (uint8_t)v); }
infer_status infer_gguf_writer_set_u16(infer_gguf_writer *w, const char *k, uint16_t v) { return set_scalar(w, k, INFER_GGUF_UINT16, v); }
infer_status infer_gguf_writer_set_i16(infer_gguf_writer *w, const char *k, int16_t v) { return set_scalar(w, k, INFER_GGUF_INT16, (uint16_t)v); }
infer_status infer_gguf_writer_set_u32(infer_gguf_writer *w, const char *k, uint32_t v) { return set_scalar(w, k, INFER_GGUF_UINT32, v); }
infer_status infer_gguf_writer_set_i32(infer_gguf_writer *w, const char *k, int32_t v) { return set_scalar(w, k, INFER_GGUF_INT32, (uint32_t)v); }
infer_status infer_gguf_writer_set_u64(infer_gguf_writer *w, const char *k, uint64_t v) { return set_scalar(w, k, INFER_GGUF_UINT64, v); }
infer_status infer_gguf_writer_set_i64(infer_gguf_writer *w, const char *k, int64_t v) { return set_scalar(w, k, INFER_GGUF_INT64, (uint64_t)v); }
infer_status infer_gguf_writer_set_f32(infer_gguf_writer *w, const char *k, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return set_scalar(w, k, INFER_GGUF_FLOAT32, bits);
}
infer_status infer_gguf_writer_set_f64(infer_gguf_writer *w, const char *k, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    return set_scalar(w, k, INFER_GGUF_FLOAT64, bits);
}
infer_status infer_gguf_writer_set_bool(infer_gguf_writer *w, const char *k, bool v) {
    return set_scalar(w, k, INFER_GGUF_BOOL, v ? 1 : 0);
}

infer_status infer_gguf_writer_set_alignment(infer_gguf_writer *w, uint32_t alignment) {
    if (!w) return INFER_ERR_INVALID_ARG;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1u << 30))
        return fail(w, INFER_ERR_INVALID_ARG, "alignment %" PRIu32 " is not a power of two up to 2^30", alignment);
    infer_status st = INFER_OK;
    if (alignment != GGUF_DEFAULT_ALIGNMENT) st = infer_gguf_writer_set_u32(w, "general.alignment", alignment);
    if (!st) w->alignment = alignment;
    return st;
}

infer_status infer_gguf_writer_set_strn(infer_gguf_writer *w, const char *key, const char *s, uint64_t len) {
    if (w && !s && len) return fail(w, INFER_ERR_INVALID_ARG, "metadata key '%s': NULL string", key ? key : "");
    if (len > SIZE_MAX - 8) return fail(w, INFER_ERR_NOMEM, "metadata key '%s': string too long", key ? key : "");
    infer_status st = begin_kv(w, key, INFER_GGUF_STRING, 8 + (size_t)len);
    if (!st) {
        put_u64(&w->kv, len);
        put_bytes(&w->kv, s, (size_t)len);
    }
    return st;
}

infer_status infer_gguf_writer_set_str(infer_gguf_writer *w, const char *key, const char *s) {
    return infer_gguf_writer_set_strn(w, key, s, s ? strlen(s) : 0);
}

infer_status infer_gguf_writer_set_arr(infer_gguf_writer *w, const char *key, infer_gguf_type elem_type,
                                       const void *values, uint64_t n) {
    uint64_t size = gguf_type_fixed_size(elem_type);
    if (w && size == 0)
        return fail(w, INFER_ERR_INVALID_ARG, "metadata key '%s': set_arr needs a fixed-size element type", key ? key : "");
    if (w && !values && n) return fail(w, INFER_ERR_INVALID_ARG, "metadata key '%s': NULL values", key ? key : "");
    if (size && n > (SIZE_MAX - 12) / size)
        return fail(w, INFER_ERR_NOMEM, "metadata key '%s': array too long", key ? key : "");
    infer_status st = begin_kv(w, key, INFER_GGUF_ARRAY, 12 + (size_t)(n * size));
    if (st) return st;
    put_u32(&w->kv, (uint32_t)elem_type);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) put_le(&w->kv, host_bits((const uint8_t *)values + i * size, size), size);
    return INFER_OK;
}

infer_status infer_gguf_writer_set_arr_str(infer_gguf_writer *w, const char *key, const char *const *strs,
                                           const uint64_t *lens, uint64_t n) {
    if (w && !strs && n) return fail(w, INFER_ERR_INVALID_ARG, "metadata key '%s': NULL strings", key ? key : "");
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i] && (!lens || lens[i]))
            return fail(w, INFER_ERR_INVALID_ARG, "metadata key '%s': NULL string in array", key ? key : "");
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        if (len > SIZE_MAX / 2 || total > SIZE_MAX / 2 - 8 - len)
            return fail(w, INFER_ERR_NOMEM, "metadata key '%s': array too long", key ? key : "");
        total += 8 + (size_t)len;
    }
    infer_status st = begin_kv(w, key, INFER_GGUF_ARRAY, total);
    if (st) return st;
    put_u32(&w->kv, INFER_GGUF_STRING);
    put_u64(&w->kv, n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(strs[i]);
        put_u64(&w->kv, len);
        put_bytes(&w->kv, strs[i], (size_t)len);
    }
    return INFER_OK;
}

/* Validates and appends a tensor; data (bytes as the traits table says) is copied, or
 * left NULL for a tensor whose bytes the caller streams later (write_tensor_data). */
static infer_status add_tensor(infer_gguf_writer *w, const char *name, uint32_t type,
                               uint32_t n_dims, const uint64_t *ne, const void *data, bool streamed) {
    if (!w) return INFER_ERR_INVALID_ARG;
    if (w->status) return w->status;
    if (!name || !*name) return fail(w, INFER_ERR_INVALID_ARG, "tensor name is NULL or empty");
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) return fail(w, INFER_ERR_INVALID_ARG, "duplicate tensor name '%s'", name);
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    if (!tr) return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': unknown type id %" PRIu32, name, type);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne) return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': needs 1 to 4 dims", name);
    writer_tensor t = {.type = type, .n_dims = n_dims, .ne = {1, 1, 1, 1}};
    uint64_t rows = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] == 0 || ne[d] > (uint64_t)INT64_MAX) return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': zero or huge dim", name);
        t.ne[d] = ne[d];
        if (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows)) return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': size overflows", name);
    }
    if (ne[0] % (uint64_t)tr->block_size != 0)
        return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': ne[0] is not a multiple of the type's block size", name);
    uint64_t row_bytes = ne[0] / (uint64_t)tr->block_size * tr->block_bytes;
    if (__builtin_mul_overflow(row_bytes, rows, &t.bytes) || t.bytes > SIZE_MAX)
        return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': size overflows", name);
    if (!data && !streamed) return fail(w, INFER_ERR_INVALID_ARG, "tensor '%s': NULL data", name);
    if (w->n_tensors == w->cap_tensors) {
        uint64_t cap = w->cap_tensors ? w->cap_tensors * 2 : 16;
        writer_tensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p) return fail(w, INFER_ERR_NOMEM, "out of memory adding tensor '%s'", name);
        w->tensors = p;
        w->cap_tensors = cap;
    }
    t.name = strdup(name);
    t.data = streamed ? NULL : malloc((size_t)t.bytes ? (size_t)t.bytes : 1);
    if (!t.name || (!streamed && !t.data)) {
        free(t.name);
        free(t.data);
        return fail(w, INFER_ERR_NOMEM, "out of memory copying tensor '%s'", name);
    }
    if (!streamed) memcpy(t.data, data, (size_t)t.bytes);
    w->tensors[w->n_tensors++] = t;
    return INFER_OK;
}

infer_status infer_gguf_writer_add_tensor(infer_gguf_writer *w, const char *name, uint32_t type,
                                          uint32_t n_dims, const uint64_t *ne, const void *data) {
    return add_tensor(w, name, type, n_dims, ne, data, false);
}

infer_status infer_gguf_writer_add_tensor_info(infer_gguf_writer *w, const char *name, uint32_t type,
                                               uint32_t n_dims, const uint64_t *ne) {
    return add_tensor(w, name, type, n_dims, ne, NULL, true);
}

uint64_t infer_gguf_writer_tensor_bytes(const infer_gguf_writer *w, uint64_t i) {
    return w && i < w->n_tensors ? w->tensors[i].bytes : 0;
}

/* The encoded size of a value at off in g's file: fixed-size scalars, strings and arrays
 * of either (nested arrays are walked element by element). 0 if it runs past the file. */
static uint64_t value_span(const infer_gguf *g, infer_gguf_type type, uint64_t off, unsigned depth) {
    uint64_t fixed = gguf_type_fixed_size(type);
    if (fixed) return fixed;
    if (type == INFER_GGUF_STRING) {
        if (off > g->size || g->size - off < 8) return 0;
        uint64_t len = gguf_le64(g->base + off);
        return len > g->size - off - 8 ? 0 : 8 + len;
    }
    if (type != INFER_GGUF_ARRAY || depth > GGUF_MAX_ARRAY_NESTING || off > g->size || g->size - off < 12) return 0;
    infer_gguf_type et = (infer_gguf_type)gguf_le32(g->base + off);
    uint64_t n = gguf_le64(g->base + off + 4), span = 12;
    uint64_t efixed = gguf_type_fixed_size(et);
    if (efixed) return n > (g->size - off - 12) / efixed ? 0 : 12 + n * efixed;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = value_span(g, et, off + span, depth + 1);
        if (e == 0) return 0;
        span += e;
    }
    return span;
}

infer_status infer_gguf_writer_copy_kv(infer_gguf_writer *w, const infer_gguf *g, int64_t i) {
    if (!w) return INFER_ERR_INVALID_ARG;
    if (!g || i < 0 || i >= g->n_kv) return fail(w, INFER_ERR_INVALID_ARG, "copy_kv: no metadata entry %lld", (long long)i);
    const gguf_kv *kv = &g->kv[i];
    /* an array's value_off is its first element; the encoded value starts at its header */
    uint64_t off = kv->type == INFER_GGUF_ARRAY ? kv->value_off - 12 : kv->value_off;
    uint64_t span = value_span(g, kv->type, off, 0);
    if (span == 0 || span > SIZE_MAX) return fail(w, INFER_ERR_FORMAT, "copy_kv: metadata key '%s' cannot be copied", kv->key);
    infer_status st = begin_kv(w, kv->key, kv->type, (size_t)span);
    if (!st) put_bytes(&w->kv, g->base + off, (size_t)span);
    return st;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* Where the bytes go: a FILE or a growing buffer. */
typedef struct sink {
    FILE *f;
    bytebuf *buf;
    bool failed;
} sink;

static void sink_write(sink *s, const void *p, size_t n) {
    if (s->failed || n == 0) return;
    if (s->f) {
        if (fwrite(p, 1, n, s->f) != n) s->failed = true;
    } else if (!buf_reserve(s->buf, n)) {
        s->failed = true;
    } else {
        put_bytes(s->buf, p, n);
    }
}

static void sink_pad(sink *s, uint64_t n) {
    static const uint8_t zeros[64];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        sink_write(s, zeros, k);
        n -= k;
    }
}

/* Emits header, metadata, tensor infos and the padding up to the data section. */
static infer_status emit_header(infer_gguf_writer *w, sink *s, infer_error *err) {
    if (!w) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL writer");
    if (w->status) {
        if (err) *err = w->error;
        return w->status;
    }
    bytebuf head = {0};
    size_t info_bytes = GGUF_HEADER_BYTES + w->kv.len;
    for (uint64_t i = 0; i < w->n_tensors; i++) info_bytes += 8 + strlen(w->tensors[i].name) + 4 + 8 * w->tensors[i].n_dims + 4 + 8;
    if (!buf_reserve(&head, info_bytes)) return infer_err(err, INFER_ERR_NOMEM, "out of memory writing GGUF header");
    put_bytes(&head, "GGUF", 4);
    put_u32(&head, w->version);
    put_u64(&head, w->n_tensors);
    put_u64(&head, w->n_kv);
    put_bytes(&head, w->kv.p, w->kv.len);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        size_t nl = strlen(t->name);
        put_u64(&head, nl);
        put_bytes(&head, t->name, nl);
        put_u32(&head, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&head, t->ne[d]);
        put_u32(&head, t->type);
        put_u64(&head, offset);
        offset = align_up(offset + t->bytes, w->alignment);
    }
    sink_write(s, head.p, head.len);
    if (w->n_tensors > 0) sink_pad(s, align_up(head.len, w->alignment) - head.len);
    free(head.p);
    return s->failed ? INFER_ERR_IO : INFER_OK;
}

/* Emits the whole file: header, then each tensor's data, aligned. */
static infer_status emit(infer_gguf_writer *w, sink *s, infer_error *err) {
    for (uint64_t i = 0; w && !w->status && i < w->n_tensors; i++)   /* not sticky: streaming still works */
        if (!w->tensors[i].data)
            return infer_err(err, INFER_ERR_INVALID_ARG, "tensor '%s' was declared for streaming: write it with write_tensor_data",
                             w->tensors[i].name);
    infer_status st = emit_header(w, s, err);
    if (st) return st;
    for (uint64_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        sink_write(s, t->data, (size_t)t->bytes);
        if (i + 1 < w->n_tensors) sink_pad(s, align_up(t->bytes, w->alignment) - t->bytes);
    }
    return s->failed ? INFER_ERR_IO : INFER_OK;
}

infer_status infer_gguf_writer_save(infer_gguf_writer *w, const char *path, infer_error *err) {
    if (!path) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL path");
    FILE *f = fopen(path, "wb");
    if (!f) return infer_err(err, INFER_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
    sink s = {.f = f};
    infer_status st = emit(w, &s, err);
    if (fclose(f) != 0 && !st) st = INFER_ERR_IO;
    if (st == INFER_ERR_IO) infer_err(err, st, "error writing '%s'", path);
    if (st) remove(path);
    return st;
}

infer_status infer_gguf_writer_to_memory(infer_gguf_writer *w, void **data, size_t *size, infer_error *err) {
    if (!data || !size) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL output");
    *data = NULL;
    *size = 0;
    bytebuf b = {0};
    sink s = {.buf = &b};
    infer_status st = emit(w, &s, err);
    if (st == INFER_ERR_IO) st = infer_err(err, INFER_ERR_NOMEM, "out of memory building GGUF image");
    if (st) {
        free(b.p);
        return st;
    }
    *data = b.p;
    *size = b.len;
    return INFER_OK;
}

infer_status infer_gguf_writer_write_header(infer_gguf_writer *w, FILE *f, infer_error *err) {
    if (!f) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL file");
    sink s = {.f = f};
    infer_status st = emit_header(w, &s, err);
    if (st == INFER_ERR_IO) infer_err(err, st, "error writing the GGUF header: %s", strerror(errno));
    return st;
}

infer_status infer_gguf_writer_write_tensor_data(infer_gguf_writer *w, FILE *f, uint64_t i, const void *data,
                                                 uint64_t n, bool last_piece, infer_error *err) {
    if (!w || !f || (!data && n)) return infer_err(err, INFER_ERR_INVALID_ARG, "NULL writer, file or data");
    if (i >= w->n_tensors) return infer_err(err, INFER_ERR_INVALID_ARG, "no tensor %llu", (unsigned long long)i);
    sink s = {.f = f};
    sink_write(&s, data, (size_t)n);
    const writer_tensor *t = &w->tensors[i];
    if (last_piece && i + 1 < w->n_tensors) sink_pad(&s, align_up(t->bytes, w->alignment) - t->bytes);
    if (s.failed) return infer_err(err, INFER_ERR_IO, "error writing tensor '%s': %s", t->name, strerror(errno));
    return INFER_OK;
}
