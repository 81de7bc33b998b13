/* GGUF reader: maps the file read-only and validates every count, length, dimension and
 * offset against the file size before anything is used. All arithmetic on values read
 * from the file is overflow-checked; nothing is read outside [base, base + size). */
#include "gguf/gguf.h"
#include "gguf/gguf_internal.h"
#include "core/error.h"
#include "core/file_open.h"
#include "tensor/dtype.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Smallest possible encodings, used to refuse absurd counts before allocating. */
#define MIN_KV_BYTES 14u      /* u64 key length + 1 char + u32 type + 1-byte value */
#define MIN_TENSOR_BYTES 33u  /* u64 name length + 1 char + u32 n_dims + u64 ne + u32 type + u64 offset */

typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;             /* invariant: pos <= size */
} cursor;

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static bool take_u32(cursor *c, uint32_t *v) {
    if (left(c) < 4) return false;
    *v = gguf_le32(c->base + c->pos);
    c->pos += 4;
    return true;
}

static bool take_u64(cursor *c, uint64_t *v) {
    if (left(c) < 8) return false;
    *v = gguf_le64(c->base + c->pos);
    c->pos += 8;
    return true;
}

uint64_t gguf_type_fixed_size(infer_gguf_type t) {
    switch (t) {
    case INFER_GGUF_UINT8: case INFER_GGUF_INT8: case INFER_GGUF_BOOL: return 1;
    case INFER_GGUF_UINT16: case INFER_GGUF_INT16: return 2;
    case INFER_GGUF_UINT32: case INFER_GGUF_INT32: case INFER_GGUF_FLOAT32: return 4;
    case INFER_GGUF_UINT64: case INFER_GGUF_INT64: case INFER_GGUF_FLOAT64: return 8;
    case INFER_GGUF_STRING: case INFER_GGUF_ARRAY: return 0;
    }
    return 0;
}

const char *gguf_type_name(infer_gguf_type t) {
    static const char *const names[] = {
        [INFER_GGUF_UINT8] = "uint8", [INFER_GGUF_INT8] = "int8", [INFER_GGUF_UINT16] = "uint16",
        [INFER_GGUF_INT16] = "int16", [INFER_GGUF_UINT32] = "uint32", [INFER_GGUF_INT32] = "int32",
        [INFER_GGUF_FLOAT32] = "float32", [INFER_GGUF_BOOL] = "bool", [INFER_GGUF_STRING] = "string",
        [INFER_GGUF_ARRAY] = "array", [INFER_GGUF_UINT64] = "uint64", [INFER_GGUF_INT64] = "int64",
        [INFER_GGUF_FLOAT64] = "float64",
    };
    return (unsigned)t <= INFER_GGUF_FLOAT64 ? names[t] : "?";
}

static bool valid_value_type(uint32_t t) { return t <= INFER_GGUF_FLOAT64; }

/* Smallest encoding of one value of type t (strings: the length field; arrays: type + count). */
static uint64_t min_value_bytes(infer_gguf_type t) {
    if (t == INFER_GGUF_STRING) return 8;
    if (t == INFER_GGUF_ARRAY) return 12;
    return gguf_type_fixed_size(t);
}

/* Reads a string header at the cursor and checks that its bytes are in the file.
 * `what` names the owner for messages ("key of metadata entry 3", "tensor 5 name"). */
static infer_status take_str(cursor *c, uint64_t *len, const char *what, infer_error *err) {
    uint64_t at = c->pos;
    if (!take_u64(c, len))
        return infer_err(err, INFER_ERR_FORMAT, "%s at offset %" PRIu64 ": string length cut off by end of file", what, at);
    if (*len > left(c))
        return infer_err(err, INFER_ERR_FORMAT, "%s at offset %" PRIu64 ": string length %" PRIu64
                         " exceeds the %" PRIu64 " bytes left in the file", what, at, *len, left(c));
    return INFER_OK;
}

/* A NUL-terminated copy of a name (key or tensor name); embedded NULs are refused since
 * the copy could not represent them. */
static infer_status copy_name(cursor *c, char **out, const char *what, infer_error *err) {
    uint64_t at = c->pos, len = 0;
    infer_status st = take_str(c, &len, what, err);
    if (st) return st;
    if (len == 0) return infer_err(err, INFER_ERR_FORMAT, "%s at offset %" PRIu64 ": empty name", what, at);
    const uint8_t *p = c->base + c->pos;
    if (memchr(p, 0, len))
        return infer_err(err, INFER_ERR_FORMAT, "%s at offset %" PRIu64 ": name contains a NUL byte", what, at);
    char *s = malloc(len + 1);
    if (!s) return infer_err(err, INFER_ERR_NOMEM, "%s: out of memory copying a %" PRIu64 "-byte name", what, len);
    memcpy(s, p, len);
    s[len] = 0;
    c->pos += len;
    *out = s;
    return INFER_OK;
}

/* Skips one value of type t (already validated), recursing into nested arrays. */
static infer_status skip_value(cursor *c, infer_gguf_type t, unsigned depth, const char *key, infer_error *err);

/* Reads an array header and checks its count against the bytes left. When elem_off is
 * not NULL, variable-size elements get their offsets recorded (top-level arrays only). */
static infer_status take_array(cursor *c, unsigned depth, const char *key, infer_gguf_type *elem_type,
                               uint64_t *count, uint64_t **elem_off, infer_error *err) {
    uint64_t at = c->pos;
    uint32_t et = 0;
    if (depth >= GGUF_MAX_ARRAY_NESTING)
        return infer_err(err, INFER_ERR_FORMAT, "key '%s': array at offset %" PRIu64 " nested deeper than %u levels",
                         key, at, GGUF_MAX_ARRAY_NESTING);
    if (!take_u32(c, &et) || !take_u64(c, count))
        return infer_err(err, INFER_ERR_FORMAT, "key '%s': array header at offset %" PRIu64 " cut off by end of file", key, at);
    if (!valid_value_type(et))
        return infer_err(err, INFER_ERR_FORMAT, "key '%s': array at offset %" PRIu64 " has unknown element type id %" PRIu32,
                         key, at, et);
    *elem_type = (infer_gguf_type)et;
    uint64_t min = min_value_bytes(*elem_type);
    if (*count > left(c) / min)
        return infer_err(err, INFER_ERR_FORMAT, "key '%s': array at offset %" PRIu64 " claims %" PRIu64 " %s elements,"
                         " more than the %" PRIu64 " bytes left can hold", key, at, *count, gguf_type_name(*elem_type), left(c));
    uint64_t fixed = gguf_type_fixed_size(*elem_type);
    if (fixed) {                               /* count * fixed <= left, checked above */
        c->pos += *count * fixed;
        return INFER_OK;
    }
    uint64_t *offs = NULL;
    if (elem_off && *count > 0) {
        offs = malloc(*count * sizeof *offs);  /* count <= file size / 8: no overflow */
        if (!offs) return infer_err(err, INFER_ERR_NOMEM, "key '%s': out of memory for %" PRIu64 " array elements", key, *count);
    }
    for (uint64_t j = 0; j < *count; j++) {
        if (offs) offs[j] = c->pos;
        infer_status st = skip_value(c, *elem_type, depth + 1, key, err);
        if (st) {
            free(offs);
            if (err) {   /* say which element: "... (array element 52 of 512)" */
                char msg[sizeof err->message];
                snprintf(msg, sizeof msg, "%s", err->message);
                infer_err(err, st, "%s (array element %" PRIu64 " of %" PRIu64 ")", msg, j, *count);
            }
            return st;
        }
    }
    if (elem_off) *elem_off = offs;
    return INFER_OK;
}

static infer_status skip_value(cursor *c, infer_gguf_type t, unsigned depth, const char *key, infer_error *err) {
    if (t == INFER_GGUF_STRING) {
        uint64_t len = 0;
        char what[96];
        snprintf(what, sizeof what, "key '%s': string value", key);
        infer_status st = take_str(c, &len, what, err);
        if (st) return st;
        c->pos += len;
        return INFER_OK;
    }
    if (t == INFER_GGUF_ARRAY) {
        infer_gguf_type et;
        uint64_t n = 0;
        return take_array(c, depth, key, &et, &n, NULL, err);
    }
    uint64_t n = gguf_type_fixed_size(t);
    if (left(c) < n)
        return infer_err(err, INFER_ERR_FORMAT, "key '%s': %s value at offset %" PRIu64 " cut off by end of file",
                         key, gguf_type_name(t), c->pos);
    c->pos += n;
    return INFER_OK;
}

static infer_status parse_header(cursor *c, infer_gguf *g, uint64_t *n_tensors, uint64_t *n_kv, infer_error *err) {
    if (c->size < 4 || memcmp(c->base, "GGUF", 4) != 0)
        return infer_err(err, INFER_ERR_FORMAT, "not a GGUF file: the first 4 bytes are not \"GGUF\"");
    if (c->size < 8)
        return infer_err(err, INFER_ERR_FORMAT, "file of %" PRIu64 " bytes ends inside the GGUF header", c->size);
    uint32_t v = gguf_le32(c->base + 4);
    uint32_t swapped = __builtin_bswap32(v);
    if (v == 1)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "GGUF version 1 is not supported (only versions 2 and 3)");
    if ((v & 0xffffu) == 0 && swapped >= 1 && swapped <= 3)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "big-endian GGUF file (version field reads 0x%08" PRIx32
                         " = version %" PRIu32 " byte-swapped): only little-endian files are supported", v, swapped);
    if (v != 2 && v != 3)
        return infer_err(err, INFER_ERR_UNSUPPORTED, "unknown GGUF version %" PRIu32 " (only versions 2 and 3 are supported)", v);
    if (c->size < GGUF_HEADER_BYTES)
        return infer_err(err, INFER_ERR_FORMAT, "file of %" PRIu64 " bytes ends inside the %u-byte GGUF header",
                         c->size, GGUF_HEADER_BYTES);
    g->version = v;
    c->pos = 8;
    take_u64(c, n_tensors);
    take_u64(c, n_kv);
    /* Refuse counts the file could not possibly hold before allocating anything. */
    if (*n_kv > left(c) / MIN_KV_BYTES)
        return infer_err(err, INFER_ERR_FORMAT, "header claims %" PRIu64 " metadata entries; a %" PRIu64
                         "-byte file cannot hold that many", *n_kv, c->size);
    if (*n_tensors > left(c) / MIN_TENSOR_BYTES)
        return infer_err(err, INFER_ERR_FORMAT, "header claims %" PRIu64 " tensors; a %" PRIu64
                         "-byte file cannot hold that many", *n_tensors, c->size);
    return INFER_OK;
}

static infer_status parse_kv(cursor *c, infer_gguf *g, int64_t i, infer_error *err) {
    gguf_kv *kv = &g->kv[i];
    uint64_t at = c->pos;
    char what[64];
    snprintf(what, sizeof what, "key of metadata entry %" PRId64, i);
    infer_status st = copy_name(c, &kv->key, what, err);
    if (st) return st;
    uint32_t type = 0;
    uint64_t type_at = c->pos;
    if (!take_u32(c, &type))
        return infer_err(err, INFER_ERR_FORMAT, "key '%s' at offset %" PRIu64 ": value type cut off by end of file", kv->key, at);
    if (!valid_value_type(type))
        return infer_err(err, INFER_ERR_FORMAT, "key '%s': unknown value type id %" PRIu32 " at offset %" PRIu64,
                         kv->key, type, type_at);
    kv->type = (infer_gguf_type)type;
    if (kv->type == INFER_GGUF_ARRAY) {
        kv->value_off = c->pos + 12;            /* after the element type and count */
        st = take_array(c, 0, kv->key, &kv->arr_type, &kv->arr_len, &kv->elem_off, err);
        if (st) return st;
    } else {
        kv->value_off = c->pos;
        st = skip_value(c, kv->type, 0, kv->key, err);
        if (st) return st;
    }
    int64_t prev = gguf_name_index_insert(&g->kv_index, kv->key, i);
    if (prev >= 0)
        return infer_err(err, INFER_ERR_FORMAT, "duplicate metadata key '%s' at offset %" PRIu64 " (first seen as entry %" PRId64 ")",
                         kv->key, at, prev);
    return INFER_OK;
}

static infer_status parse_alignment(infer_gguf *g, infer_error *err) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = gguf_name_index_find(&g->kv_index, "general.alignment");
    if (i < 0) return INFER_OK;
    const gguf_kv *kv = &g->kv[i];
    uint64_t a;
    const uint8_t *p = g->base + kv->value_off;
    switch (kv->type) {
    case INFER_GGUF_UINT8: a = p[0]; break;
    case INFER_GGUF_UINT16: a = (uint64_t)p[0] | (uint64_t)p[1] << 8; break;
    case INFER_GGUF_UINT32: case INFER_GGUF_INT32: a = gguf_le32(p); break;
    case INFER_GGUF_UINT64: case INFER_GGUF_INT64: a = gguf_le64(p); break;
    default:
        return infer_err(err, INFER_ERR_FORMAT, "key 'general.alignment' at offset %" PRIu64 " has type %s, expected uint32",
                         kv->value_off, gguf_type_name(kv->type));
    }
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
        return infer_err(err, INFER_ERR_FORMAT, "key 'general.alignment' = %" PRIu64 " at offset %" PRIu64
                         " is not a power of two in [1, 2^30]", a, kv->value_off);
    g->alignment = a;
    return INFER_OK;
}

static infer_status parse_tensor_info(cursor *c, infer_gguf *g, int64_t i, infer_error *err) {
    gguf_tensor *t = &g->tensors[i];
    uint64_t at = c->pos;
    char what[64];
    snprintf(what, sizeof what, "name of tensor %" PRId64, i);
    infer_status st = copy_name(c, &t->name, what, err);
    if (st) return st;
    if (!take_u32(c, &t->n_dims))
        return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": info cut off by end of file", t->name, at);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": %" PRIu32 " dimensions (must be 1 to %u)",
                         t->name, at, t->n_dims, GGUF_MAX_DIMS);
    uint64_t n_elem = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d >= t->n_dims) continue;
        if (!take_u64(c, &t->ne[d]))
            return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": dims cut off by end of file", t->name, at);
        if (t->ne[d] == 0 || t->ne[d] > (uint64_t)INT64_MAX)
            return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": dimension %" PRIu32 " is %" PRIu64
                             " (must be in 1..2^63-1)", t->name, at, d, t->ne[d]);
        if (__builtin_mul_overflow(n_elem, t->ne[d], &n_elem) || n_elem > (uint64_t)INT64_MAX)
            return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": element count overflows", t->name, at);
    }
    uint64_t off = 0;
    if (!take_u32(c, &t->type) || !take_u64(c, &off))
        return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": info cut off by end of file", t->name, at);
    t->offset = off;
    const infer_dtype_traits *tr = infer_dtype_traits_get(t->type);
    if (!tr || tr->block_size <= 0 || tr->block_bytes == 0)
        return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": unknown tensor type id %" PRIu32,
                         t->name, at, t->type);
    if (t->ne[0] % (uint64_t)tr->block_size != 0)
        return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' (%s): ne[0] = %" PRIu64 " is not a multiple of the block size %" PRId64,
                         t->name, tr->name, t->ne[0], tr->block_size);
    uint64_t rows = n_elem / t->ne[0];
    uint64_t row_bytes = t->ne[0] / (uint64_t)tr->block_size * (uint64_t)tr->block_bytes;  /* <= 8 * ne[0]: no overflow */
    if (__builtin_mul_overflow(row_bytes, rows, &t->bytes))
        return infer_err(err, INFER_ERR_FORMAT, "tensor '%s' at offset %" PRIu64 ": byte size overflows", t->name, at);
    int64_t prev = gguf_name_index_insert(&g->tensor_index, t->name, i);
    if (prev >= 0)
        return infer_err(err, INFER_ERR_FORMAT, "duplicate tensor name '%s' at offset %" PRIu64 " (first seen as tensor %" PRId64 ")",
                         t->name, at, prev);
    return INFER_OK;
}

typedef struct extent { uint64_t begin, end; int64_t index; } extent;

static int cmp_extent(const void *a, const void *b) {
    const extent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Every tensor's data lies inside the data section, is aligned, and overlaps no other. */
static infer_status check_tensor_data(infer_gguf *g, infer_error *err) {
    if (g->n_tensors == 0) return INFER_OK;
    if (g->data_offset > g->size)
        return infer_err(err, INFER_ERR_FORMAT, "tensor data section would start at offset %" PRIu64
                         ", past the end of the %" PRIu64 "-byte file", g->data_offset, g->size);
    uint64_t data_size = g->size - g->data_offset;
    extent *ex = malloc((size_t)g->n_tensors * sizeof *ex);
    if (!ex) return infer_err(err, INFER_ERR_NOMEM, "out of memory checking %" PRId64 " tensors", g->n_tensors);
    infer_status st = INFER_OK;
    for (int64_t i = 0; i < g->n_tensors && !st; i++) {
        const gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            st = infer_err(err, INFER_ERR_FORMAT, "tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                           t->name, t->offset, g->alignment);
        else if (t->offset > data_size || t->bytes > data_size - t->offset)
            st = infer_err(err, INFER_ERR_FORMAT, "tensor '%s': data at offset %" PRIu64 " (+%" PRIu64 " bytes) runs past"
                           " the end of the file (the data section starts at file offset %" PRIu64 " and holds %" PRIu64 " bytes)",
                           t->name, t->offset, t->bytes, g->data_offset, data_size);
        ex[i] = (extent){t->offset, t->offset + t->bytes, i};
    }
    if (!st) {
        qsort(ex, (size_t)g->n_tensors, sizeof *ex, cmp_extent);
        for (int64_t i = 1; i < g->n_tensors && !st; i++)
            if (ex[i].begin < ex[i - 1].end)
                st = infer_err(err, INFER_ERR_FORMAT, "tensor '%s' (data at %" PRIu64 ") overlaps tensor '%s' (data [%" PRIu64
                               ", %" PRIu64 "))", g->tensors[ex[i].index].name, ex[i].begin,
                               g->tensors[ex[i - 1].index].name, ex[i - 1].begin, ex[i - 1].end);
    }
    free(ex);
    return st;
}

static infer_status parse(infer_gguf *g, infer_error *err) {
    cursor c = {g->base, g->size, 0};
    uint64_t n_tensors = 0, n_kv = 0;
    infer_status st = parse_header(&c, g, &n_tensors, &n_kv, err);
    if (st) return st;

    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors || !gguf_name_index_init(&g->kv_index, n_kv) ||
        !gguf_name_index_init(&g->tensor_index, n_tensors))
        return infer_err(err, INFER_ERR_NOMEM, "out of memory for %" PRIu64 " metadata entries and %" PRIu64 " tensors",
                         n_kv, n_tensors);
    /* Counts grow as entries are parsed so that close() frees exactly what was filled. */
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int64_t)i + 1;
        if ((st = parse_kv(&c, g, (int64_t)i, err))) return st;
    }
    if ((st = parse_alignment(g, err))) return st;
    for (uint64_t i = 0; i < n_tensors; i++) {
        g->n_tensors = (int64_t)i + 1;
        if ((st = parse_tensor_info(&c, g, (int64_t)i, err))) return st;
    }
    /* pos <= size < 2^63 and alignment <= 2^30: the round-up cannot overflow. */
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    return check_tensor_data(g, err);
}

static infer_status open_parsed(infer_gguf *g, infer_gguf **out, infer_error *err) {
    infer_status st = parse(g, err);
    if (st) {
        infer_gguf_close(g);
        return st;
    }
    if (err) { err->status = INFER_OK; err->message[0] = 0; }
    *out = g;
    return INFER_OK;
}

infer_status infer_gguf_open_memory(const void *data, size_t size, infer_gguf **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_gguf_open_memory: data is NULL");
    if ((uint64_t)size > (uint64_t)INT64_MAX) return infer_err(err, INFER_ERR_INVALID_ARG, "buffer too large");
    infer_gguf *g = calloc(1, sizeof *g);
    if (!g) return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    g->base = data;
    g->size = size;
    return open_parsed(g, out, err);
}

infer_status infer_gguf_open(const char *path, infer_gguf **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_gguf_open: out is NULL");
    *out = NULL;
    if (!path) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_gguf_open: path is NULL");
    /* Never blocks on a FIFO, refuses directories, devices and sockets. */
    int fd;
    uint64_t file_size;
    infer_status ost = infer_file_open_regular(path, &fd, &file_size, err);
    if (ost != INFER_OK) return ost;
    if (file_size > (uint64_t)INT64_MAX || file_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return infer_err(err, INFER_ERR_IO, "'%s' is too large to map (%" PRIu64 " bytes)", path, file_size);
    }
    infer_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        close(fd);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    }
    g->size = file_size;
    if (file_size > 0) {
        void *m = mmap(NULL, (size_t)file_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(g);
            return infer_err(err, INFER_ERR_IO, "cannot map '%s' (%" PRIu64 " bytes): %s", path, file_size, strerror(e));
        }
        g->map = m;
        g->map_len = (size_t)file_size;
        g->base = m;
    }
    close(fd);   /* the mapping keeps the file alive */
    g->path = strdup(path);
    if (!g->path) {
        infer_gguf_close(g);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory");
    }
    infer_status st = open_parsed(g, out, err);
    if (st && err) {
        /* Prefix the path so the message stands alone in a tool's output. */
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s", err->message);
        infer_err(err, st, "%s: %s", path, msg);
    }
    return st;
}

void infer_gguf_close(infer_gguf *g) {
    if (!g) return;
    if (g->parts) {
        gguf_split_close(g);
        return;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].elem_off);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    gguf_name_index_free(&g->kv_index);
    gguf_name_index_free(&g->tensor_index);
    if (g->map) munmap(g->map, g->map_len);
    free(g->path);
    free(g);
}
