/* GGUF writer: builds metadata and tensors in memory and saves a little-endian GGUF v3
 * file (or an in-memory image) that infer_gguf_open reads back. Used by tests to make
 * fixtures and later by a quantize tool.
 *
 * Usage:
 *   infer_gguf_writer *w = infer_gguf_writer_new();
 *   infer_gguf_writer_set_str(w, "general.architecture", "llama");
 *   infer_gguf_writer_set_u32(w, "llama.block_count", 2);
 *   infer_gguf_writer_add_tensor(w, "token_embd.weight", INFER_TYPE_F32, 2, ne, data);
 *   infer_status st = infer_gguf_writer_save(w, "out.gguf", &err);
 *   infer_gguf_writer_free(w);
 *
 * Adders never fail loudly: the first error (duplicate key, bad shape, out of memory) is
 * kept and returned by save/to_memory, so a sequence of adders needs one check. Every
 * adder also returns its own status for callers that want it. Metadata is written in the
 * order added; `general.alignment` (if set with set_alignment) is written as uint32. */
#ifndef INFER_GGUF_WRITER_H
#define INFER_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "infer.h"

typedef struct infer_gguf_writer infer_gguf_writer;

infer_gguf_writer *infer_gguf_writer_new(void);
void infer_gguf_writer_free(infer_gguf_writer *w);

/* GGUF version written in the header: 3 (default) or 2 (same layout). */
infer_status infer_gguf_writer_set_version(infer_gguf_writer *w, uint32_t version);
/* Tensor data alignment, a power of two (default 32). Also stores general.alignment
 * unless it equals the default. */
infer_status infer_gguf_writer_set_alignment(infer_gguf_writer *w, uint32_t alignment);

/* Scalars. */
infer_status infer_gguf_writer_set_u8(infer_gguf_writer *w, const char *key, uint8_t v);
infer_status infer_gguf_writer_set_i8(infer_gguf_writer *w, const char *key, int8_t v);
infer_status infer_gguf_writer_set_u16(infer_gguf_writer *w, const char *key, uint16_t v);
infer_status infer_gguf_writer_set_i16(infer_gguf_writer *w, const char *key, int16_t v);
infer_status infer_gguf_writer_set_u32(infer_gguf_writer *w, const char *key, uint32_t v);
infer_status infer_gguf_writer_set_i32(infer_gguf_writer *w, const char *key, int32_t v);
infer_status infer_gguf_writer_set_u64(infer_gguf_writer *w, const char *key, uint64_t v);
infer_status infer_gguf_writer_set_i64(infer_gguf_writer *w, const char *key, int64_t v);
infer_status infer_gguf_writer_set_f32(infer_gguf_writer *w, const char *key, float v);
infer_status infer_gguf_writer_set_f64(infer_gguf_writer *w, const char *key, double v);
infer_status infer_gguf_writer_set_bool(infer_gguf_writer *w, const char *key, bool v);
/* NUL-terminated string, or len bytes (may contain any byte) with set_strn. */
infer_status infer_gguf_writer_set_str(infer_gguf_writer *w, const char *key, const char *s);
infer_status infer_gguf_writer_set_strn(infer_gguf_writer *w, const char *key, const char *s, uint64_t len);

/* Array of n fixed-size elements of elem_type (any scalar type except STRING/ARRAY),
 * stored in host order in `values` (e.g. a float[] for FLOAT32, a uint8_t[] of 0/1 for BOOL). */
infer_status infer_gguf_writer_set_arr(infer_gguf_writer *w, const char *key, infer_gguf_type elem_type,
                                       const void *values, uint64_t n);
/* Array of n strings; lens may be NULL (then each string is NUL-terminated). */
infer_status infer_gguf_writer_set_arr_str(infer_gguf_writer *w, const char *key, const char *const *strs,
                                           const uint64_t *lens, uint64_t n);

/* A tensor of GGUF type id `type` with n_dims (1..4) dims in ggml order (ne[0] innermost;
 * a multiple of the type's block size). data holds the tensor's bytes (row bytes * rows
 * as the dtype traits table says) and is copied. */
infer_status infer_gguf_writer_add_tensor(infer_gguf_writer *w, const char *name, uint32_t type,
                                          uint32_t n_dims, const uint64_t *ne, const void *data);

/* Copies metadata entry i of an open file, value bytes as stored (any type, arrays of
 * strings included), under the same key. */
infer_status infer_gguf_writer_copy_kv(infer_gguf_writer *w, const infer_gguf *g, int64_t i);

/* Streaming (files larger than memory): declare every tensor with add_tensor_info, write
 * the header with write_header, then each tensor's bytes in declaration order with
 * write_tensor_data, in as many pieces as wanted (last_piece on the final one adds the
 * alignment padding). tensor_bytes gives the size a declared tensor must have. */
infer_status infer_gguf_writer_add_tensor_info(infer_gguf_writer *w, const char *name, uint32_t type,
                                               uint32_t n_dims, const uint64_t *ne);
uint64_t infer_gguf_writer_tensor_bytes(const infer_gguf_writer *w, uint64_t i);
infer_status infer_gguf_writer_write_header(infer_gguf_writer *w, FILE *f, infer_error *err);
infer_status infer_gguf_writer_write_tensor_data(infer_gguf_writer *w, FILE *f, uint64_t i, const void *data,
                                                 uint64_t n, bool last_piece, infer_error *err);

/* Writes the file (tensors in the order added, each aligned). */
infer_status infer_gguf_writer_save(infer_gguf_writer *w, const char *path, infer_error *err);
/* The same image in a malloc'ed buffer the caller frees. */
infer_status infer_gguf_writer_to_memory(infer_gguf_writer *w, void **data, size_t *size, infer_error *err);

#endif
