/* Shared helpers of the hostile-model tests: a real model file is copied key by key
 * and tensor by tensor into a GGUF writer, minus the keys/tensors a case replaces, so
 * each hostile file differs from a file that loads and runs in exactly one thing.
 * Everything is static inline: each test program includes this once and uses what it needs. */
#ifndef TEST_HOSTILE_MODEL_H
#define TEST_HOSTILE_MODEL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "infer.h"
#include "tensor/dtype.h"
#include "testdata.h"

/* INFER_HOSTILE_KEEP=1 keeps the written files (and prints the folder) so that tools
 * can be tried on them by hand. */
static char hm_dir[256];

static inline void hm_make_dir(const char *tag) {
    snprintf(hm_dir, sizeof hm_dir, "/tmp/infer_%s_XXXXXX", tag);
    if (!mkdtemp(hm_dir)) {
        fprintf(stderr, "cannot create a temp folder\n");
        exit(1);
    }
    if (getenv("INFER_HOSTILE_KEEP")) fprintf(stderr, "hostile files kept in %s\n", hm_dir);
}

/* Opens a fixture as a GGUF handle (the copy source), exiting 77 if it is absent. */
static inline infer_gguf *hm_open_fixture(const char *rel) {
    char *path = test_fixture_or_skip(rel);
    infer_gguf *g = NULL;
    infer_error err = {0};
    if (infer_gguf_open(path, &g, &err) != INFER_OK) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        exit(1);
    }
    free(path);
    return g;
}

static inline bool hm_listed(const char *const *list, const char *s) {
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0) return true;
    return false;
}

/* Host-order element i of a fixed-size array value, stored at dst. */
static inline void hm_put_elem(infer_gguf_type t, const infer_gguf *g, int64_t k, uint64_t j, uint8_t *dst) {
    int64_t iv = (t == INFER_GGUF_FLOAT32 || t == INFER_GGUF_FLOAT64) ? 0 : infer_gguf_kv_arr_int(g, k, j);
    double fv = (t == INFER_GGUF_FLOAT32 || t == INFER_GGUF_FLOAT64) ? infer_gguf_kv_arr_float(g, k, j) : 0;
    switch (t) {
    case INFER_GGUF_UINT8: case INFER_GGUF_INT8: case INFER_GGUF_BOOL: { uint8_t v = (uint8_t)iv; memcpy(dst, &v, 1); break; }
    case INFER_GGUF_UINT16: case INFER_GGUF_INT16: { uint16_t v = (uint16_t)iv; memcpy(dst, &v, 2); break; }
    case INFER_GGUF_UINT32: case INFER_GGUF_INT32: { uint32_t v = (uint32_t)iv; memcpy(dst, &v, 4); break; }
    case INFER_GGUF_UINT64: case INFER_GGUF_INT64: { uint64_t v = (uint64_t)iv; memcpy(dst, &v, 8); break; }
    case INFER_GGUF_FLOAT32: { float v = (float)fv; memcpy(dst, &v, 4); break; }
    case INFER_GGUF_FLOAT64: memcpy(dst, &fv, 8); break;
    default: fail_msg("unexpected array element type %d", (int)t);
    }
}

static inline uint64_t hm_fixed_size(infer_gguf_type t) {
    switch (t) {
    case INFER_GGUF_UINT8: case INFER_GGUF_INT8: case INFER_GGUF_BOOL: return 1;
    case INFER_GGUF_UINT16: case INFER_GGUF_INT16: return 2;
    case INFER_GGUF_UINT32: case INFER_GGUF_INT32: case INFER_GGUF_FLOAT32: return 4;
    default: return 8;
    }
}

/* Copies metadata entry k of g into w unchanged. */
static inline void hm_copy_kv(infer_gguf_writer *w, const infer_gguf *g, int64_t k) {
    const char *key = infer_gguf_kv_key(g, k);
    infer_gguf_type t = infer_gguf_kv_type(g, k);
    switch (t) {
    case INFER_GGUF_UINT8: infer_gguf_writer_set_u8(w, key, (uint8_t)infer_gguf_kv_uint(g, k)); break;
    case INFER_GGUF_INT8: infer_gguf_writer_set_i8(w, key, (int8_t)infer_gguf_kv_int(g, k)); break;
    case INFER_GGUF_UINT16: infer_gguf_writer_set_u16(w, key, (uint16_t)infer_gguf_kv_uint(g, k)); break;
    case INFER_GGUF_INT16: infer_gguf_writer_set_i16(w, key, (int16_t)infer_gguf_kv_int(g, k)); break;
    case INFER_GGUF_UINT32: infer_gguf_writer_set_u32(w, key, (uint32_t)infer_gguf_kv_uint(g, k)); break;
    case INFER_GGUF_INT32: infer_gguf_writer_set_i32(w, key, (int32_t)infer_gguf_kv_int(g, k)); break;
    case INFER_GGUF_UINT64: infer_gguf_writer_set_u64(w, key, infer_gguf_kv_uint(g, k)); break;
    case INFER_GGUF_INT64: infer_gguf_writer_set_i64(w, key, infer_gguf_kv_int(g, k)); break;
    case INFER_GGUF_FLOAT32: infer_gguf_writer_set_f32(w, key, (float)infer_gguf_kv_float(g, k)); break;
    case INFER_GGUF_FLOAT64: infer_gguf_writer_set_f64(w, key, infer_gguf_kv_float(g, k)); break;
    case INFER_GGUF_BOOL: infer_gguf_writer_set_bool(w, key, infer_gguf_kv_int(g, k) != 0); break;
    case INFER_GGUF_STRING: {
        uint64_t len = 0;
        const char *s = infer_gguf_kv_str(g, k, &len);
        infer_gguf_writer_set_strn(w, key, s, len);
        break;
    }
    case INFER_GGUF_ARRAY: {
        infer_gguf_type et = infer_gguf_kv_arr_type(g, k);
        uint64_t n = infer_gguf_kv_arr_len(g, k);
        if (et == INFER_GGUF_STRING) {
            const char **strs = malloc((n ? n : 1) * sizeof *strs);
            uint64_t *lens = malloc((n ? n : 1) * sizeof *lens);
            assert_non_null(strs);
            assert_non_null(lens);
            for (uint64_t j = 0; j < n; j++) strs[j] = infer_gguf_kv_arr_str(g, k, j, &lens[j]);
            infer_gguf_writer_set_arr_str(w, key, strs, lens, n);
            free(strs);
            free(lens);
        } else {
            uint64_t es = hm_fixed_size(et);
            uint8_t *buf = malloc(n * es + 1);
            assert_non_null(buf);
            for (uint64_t j = 0; j < n; j++) hm_put_elem(et, g, k, j, buf + j * es);
            infer_gguf_writer_set_arr(w, key, et, buf, n);
            free(buf);
        }
        break;
    }
    default: fail_msg("key %s: unexpected type %d", key, (int)t);
    }
}

static inline void hm_copy_tensor(infer_gguf_writer *w, const infer_gguf *g, int64_t i) {
    uint64_t ne[4] = {1, 1, 1, 1};
    uint32_t nd = infer_gguf_tensor_n_dims(g, i);
    for (uint32_t d = 0; d < nd; d++) ne[d] = infer_gguf_tensor_dim(g, i, d);
    infer_gguf_writer_add_tensor(w, infer_gguf_tensor_name(g, i), infer_gguf_tensor_type(g, i), nd, ne,
                                 infer_gguf_tensor_data(g, i));
}

/* A writer holding everything of g except the keys and tensors listed (NULL-terminated
 * lists, either may be NULL). */
static inline infer_gguf_writer *hm_clone(const infer_gguf *g, const char *const *skip_keys, const char *const *skip_tensors) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    assert_non_null(w);
    for (int64_t k = 0; k < infer_gguf_n_kv(g); k++)
        if (!hm_listed(skip_keys, infer_gguf_kv_key(g, k))) hm_copy_kv(w, g, k);
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++)
        if (!hm_listed(skip_tensors, infer_gguf_tensor_name(g, i))) hm_copy_tensor(w, g, i);
    return w;
}

/* The tensor of g named `name` with a new type, shape and data (zeros when data is NULL). */
static inline void hm_add_tensor(infer_gguf_writer *w, const char *name, uint32_t type, uint32_t nd, const uint64_t *ne,
                          const void *data) {
    size_t rows = 1;
    for (uint32_t d = 1; d < nd; d++) rows *= (size_t)ne[d];
    size_t bytes = infer_dtype_row_bytes(type, (int64_t)ne[0]) * rows;
    void *zeros = data ? NULL : calloc(1, bytes ? bytes : 1);
    assert_int_equal(infer_gguf_writer_add_tensor(w, name, type, nd, ne, data ? data : zeros), INFER_OK);
    free(zeros);
}

/* Saves w under the temp folder (frees w); returns the malloc'd path. */
static inline char *hm_save(infer_gguf_writer *w, const char *file) {
    char *path = malloc(512);
    assert_non_null(path);
    snprintf(path, 512, "%s/%s", hm_dir, file);
    infer_error err = {0};
    infer_status st = infer_gguf_writer_save(w, path, &err);
    if (st != INFER_OK) fail_msg("writing %s: %s", file, err.message);
    infer_gguf_writer_free(w);
    return path;
}

/* Loads w's file: expects `want` and a message holding both needles (needle2 may be NULL). */
static inline void hm_expect_refused(infer_gguf_writer *w, const char *file, int vocab_only, infer_status want,
                              const char *needle, const char *needle2) {
    char *path = hm_save(w, file);
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = vocab_only;
    infer_model *m = (infer_model *)&mp;   /* must be reset to NULL */
    infer_error err = {0};
    infer_status st = infer_model_load(path, &mp, &m, &err);
    print_message("  %-28s %-22s %s\n", file, infer_status_str(st), err.message);
    if (st != want || !strstr(err.message, needle) || (needle2 && !strstr(err.message, needle2)))
        fail_msg("%s: got %s '%s', wanted %s with '%s'%s%s", file, infer_status_str(st), err.message,
                 infer_status_str(want), needle, needle2 ? " and " : "", needle2 ? needle2 : "");
    assert_int_equal(err.status, want);
    assert_null(m);
    if (!getenv("INFER_HOSTILE_KEEP")) unlink(path);
    free(path);
}

/* Loads w's file, which must load; the caller frees the model. */
static inline infer_model *hm_expect_loads(infer_gguf_writer *w, const char *file, int vocab_only) {
    char *path = hm_save(w, file);
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = vocab_only;
    infer_model *m = NULL;
    infer_error err = {0};
    infer_status st = infer_model_load(path, &mp, &m, &err);
    if (st != INFER_OK) fail_msg("%s: expected to load, got %s: %s", file, infer_status_str(st), err.message);
    if (!getenv("INFER_HOSTILE_KEEP")) unlink(path);   /* the mapping stays valid */
    free(path);
    return m;
}

#endif
