/* The parsed form of a GGUF file, shared by the reader, the accessors and the typed
 * getters. Nothing outside src/gguf/ sees these structs: the rest of the library goes
 * through infer.h and gguf.h.
 *
 * Layout on disk (little-endian, GGUF v2/v3):
 *   "GGUF" u32 version  u64 n_tensors  u64 n_kv
 *   n_kv      x { str key, u32 value_type, value }
 *   n_tensors x { str name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to general.alignment, then the tensor data section.
 * where str = { u64 len, len bytes } and an array value = { u32 elem_type, u64 n, n values }. */
#ifndef INFER_GGUF_INTERNAL_H
#define INFER_GGUF_INTERNAL_H

#include <stdint.h>
#include "infer.h"
#include "gguf/gguf_name_index.h"

#define GGUF_HEADER_BYTES 24u        /* magic + version + n_tensors + n_kv */
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_DIMS 4u
#define GGUF_MAX_ARRAY_NESTING 8u    /* deeper nesting is refused (bounds recursion) */

/* One metadata entry. The value stays in the mapping; only the key is copied. */
typedef struct gguf_kv {
    char *key;                 /* NUL-terminated copy, no embedded NUL */
    infer_gguf_type type;
    uint64_t value_off;        /* file offset of the value; for ARRAY, of its first element */
    infer_gguf_type arr_type;  /* ARRAY only: element type */
    uint64_t arr_len;          /* ARRAY only: element count */
    uint64_t *elem_off;        /* ARRAY of STRING/ARRAY only: file offset of each element */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;                /* NUL-terminated copy */
    uint32_t type;             /* GGUF type id, known to the dtype traits table */
    uint32_t n_dims;           /* 1..4 */
    uint64_t ne[GGUF_MAX_DIMS];/* ggml order (ne[0] innermost); unused dims are 1 */
    uint64_t offset;           /* relative to the data section, aligned */
    uint64_t bytes;            /* from the traits table: rows * row bytes */
    int32_t part;              /* split sets: the part holding the data (else 0) */
} gguf_tensor;

struct infer_gguf {
    const uint8_t *base;       /* the whole file (mapping or caller's buffer) */
    uint64_t size;
    void *map;                 /* our mmap, unmapped on close; NULL for memory buffers */
    size_t map_len;

    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;      /* file offset of the data section */

    int64_t n_kv;
    gguf_kv *kv;               /* [n_kv] in file order */
    int64_t n_tensors;
    gguf_tensor *tensors;      /* [n_tensors] in file order */

    gguf_name_index kv_index;      /* key -> kv index */
    gguf_name_index tensor_index;  /* name -> tensor index */

    char *path;                /* as opened (NULL for memory images) */
    /* Split sets (gguf_split.c): the parts, owned; the metadata above is borrowed from
     * parts[0] and the tensor table is the union of the parts' (names borrowed). */
    struct infer_gguf **parts;
    int32_t n_parts;           /* 0 for a single file */
};

/* Frees a split set's own tables and its parts (infer_gguf_close calls it). */
void gguf_split_close(infer_gguf *g);

/* Little-endian loads from possibly unaligned bytes. */
static inline uint32_t gguf_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t gguf_le64(const uint8_t *p) {
    return (uint64_t)gguf_le32(p) | (uint64_t)gguf_le32(p + 4) << 32;
}

/* Byte size of one element of a fixed-size value type; 0 for STRING, ARRAY, unknown. */
uint64_t gguf_type_fixed_size(infer_gguf_type t);
/* Name of a metadata value type ("uint32", "string", ...), "?" if unknown. */
const char *gguf_type_name(infer_gguf_type t);

#endif
