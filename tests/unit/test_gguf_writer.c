/* GGUF writer round trip: everything written is read back by the reader unchanged.
 * The byte layout itself is checked against a hand-encoded image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infer.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tensor/dtype.h"

static const char *const k_strs[] = {"", "hello", "\xe2\x96\x81the", "tab\there"};
static const float k_f32[] = {1.5f, -2.25f, 3.0e-7f};
static const int32_t k_i32[] = {-1, 0, 2147483647};
static const uint8_t k_bool[] = {1, 0, 1, 1};
static const int64_t k_i64[] = {INT64_MIN, 5};
static const double k_f64[] = {0.1, -1e300};
static const uint16_t k_u16[] = {65535, 7};

static float embd[8 * 3];
static uint8_t q4[2 * 18 * 2 * 2];   /* Q4_0 [64, 2, 2]: 2 blocks per row, 4 rows */
static uint16_t half[4 * 1 * 2 * 3];   /* F16 [4, 1, 2, 3] */

static infer_gguf_writer *build(uint32_t version, uint32_t alignment) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    assert_non_null(w);
    infer_gguf_writer_set_version(w, version);
    infer_gguf_writer_set_alignment(w, alignment);
    infer_gguf_writer_set_str(w, "general.architecture", "llama");
    infer_gguf_writer_set_strn(w, "bytes", "a\0b\xff", 4);
    infer_gguf_writer_set_u8(w, "u8", 200);
    infer_gguf_writer_set_i8(w, "i8", -100);
    infer_gguf_writer_set_u16(w, "u16", 60000);
    infer_gguf_writer_set_i16(w, "i16", -30000);
    infer_gguf_writer_set_u32(w, "u32", 4000000000u);
    infer_gguf_writer_set_i32(w, "i32", -2000000000);
    infer_gguf_writer_set_u64(w, "u64", 18000000000000000000ull);
    infer_gguf_writer_set_i64(w, "i64", -9000000000000000000ll);
    infer_gguf_writer_set_f32(w, "f32", 0.125f);
    infer_gguf_writer_set_f64(w, "f64", -3.5e100);
    infer_gguf_writer_set_bool(w, "yes", true);
    infer_gguf_writer_set_bool(w, "no", false);
    infer_gguf_writer_set_arr_str(w, "strs", k_strs, NULL, 4);
    infer_gguf_writer_set_arr(w, "f32s", INFER_GGUF_FLOAT32, k_f32, 3);
    infer_gguf_writer_set_arr(w, "i32s", INFER_GGUF_INT32, k_i32, 3);
    infer_gguf_writer_set_arr(w, "bools", INFER_GGUF_BOOL, k_bool, 4);
    infer_gguf_writer_set_arr(w, "i64s", INFER_GGUF_INT64, k_i64, 2);
    infer_gguf_writer_set_arr(w, "f64s", INFER_GGUF_FLOAT64, k_f64, 2);
    infer_gguf_writer_set_arr(w, "u16s", INFER_GGUF_UINT16, k_u16, 2);
    infer_gguf_writer_set_arr(w, "empty", INFER_GGUF_UINT32, NULL, 0);

    for (size_t i = 0; i < sizeof embd / sizeof embd[0]; i++) embd[i] = (float)i * 0.5f - 3.0f;
    for (size_t i = 0; i < sizeof q4; i++) q4[i] = (uint8_t)(i * 37 + 11);
    for (size_t i = 0; i < sizeof half / sizeof half[0]; i++) half[i] = (uint16_t)(0x3c00 + i);
    uint64_t ne_embd[2] = {8, 3}, ne_q4[3] = {64, 2, 2}, ne_half[4] = {4, 1, 2, 3};
    infer_gguf_writer_add_tensor(w, "token_embd.weight", INFER_TYPE_F32, 2, ne_embd, embd);
    infer_gguf_writer_add_tensor(w, "blk.0.q4", INFER_TYPE_Q4_0, 3, ne_q4, q4);
    infer_gguf_writer_add_tensor(w, "blk.0.half", INFER_TYPE_F16, 4, ne_half, half);
    return w;
}

static int64_t key(const infer_gguf *g, const char *k) {
    int64_t i = infer_gguf_find_key(g, k);
    assert_true(i >= 0);
    return i;
}

static void check_read_back(const infer_gguf *g, uint32_t version, uint32_t alignment) {
    assert_int_equal(infer_gguf_version(g), version);
    assert_int_equal(infer_gguf_alignment(g), alignment);
    assert_int_equal(infer_gguf_n_kv(g), alignment == 32 ? 22 : 23);
    assert_int_equal(infer_gguf_data_offset(g) % alignment, 0);
    uint64_t len;
    const char *s;
    s = infer_gguf_kv_str(g, key(g, "general.architecture"), &len);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);
    s = infer_gguf_kv_str(g, key(g, "bytes"), &len);
    assert_int_equal(len, 4);
    assert_memory_equal(s, "a\0b\xff", 4);
    assert_int_equal(infer_gguf_kv_type(g, key(g, "u8")), INFER_GGUF_UINT8);
    assert_int_equal(infer_gguf_kv_uint(g, key(g, "u8")), 200);
    assert_int_equal(infer_gguf_kv_type(g, key(g, "i8")), INFER_GGUF_INT8);
    assert_int_equal(infer_gguf_kv_int(g, key(g, "i8")), -100);
    assert_int_equal(infer_gguf_kv_uint(g, key(g, "u16")), 60000);
    assert_int_equal(infer_gguf_kv_int(g, key(g, "i16")), -30000);
    assert_int_equal(infer_gguf_kv_uint(g, key(g, "u32")), 4000000000u);
    assert_int_equal(infer_gguf_kv_int(g, key(g, "i32")), -2000000000);
    assert_true(infer_gguf_kv_uint(g, key(g, "u64")) == 18000000000000000000ull);
    assert_true(infer_gguf_kv_int(g, key(g, "i64")) == -9000000000000000000ll);
    assert_int_equal(infer_gguf_kv_type(g, key(g, "f32")), INFER_GGUF_FLOAT32);
    assert_true(infer_gguf_kv_float(g, key(g, "f32")) == 0.125);
    assert_int_equal(infer_gguf_kv_type(g, key(g, "f64")), INFER_GGUF_FLOAT64);
    assert_true(infer_gguf_kv_float(g, key(g, "f64")) == -3.5e100);
    assert_int_equal(infer_gguf_kv_type(g, key(g, "yes")), INFER_GGUF_BOOL);
    assert_int_equal(infer_gguf_kv_int(g, key(g, "yes")), 1);
    assert_int_equal(infer_gguf_kv_int(g, key(g, "no")), 0);

    int64_t a = key(g, "strs");
    assert_int_equal(infer_gguf_kv_arr_type(g, a), INFER_GGUF_STRING);
    assert_int_equal(infer_gguf_kv_arr_len(g, a), 4);
    for (uint64_t j = 0; j < 4; j++) {
        s = infer_gguf_kv_arr_str(g, a, j, &len);
        assert_int_equal(len, strlen(k_strs[j]));
        assert_memory_equal(s, k_strs[j], len);
    }
    a = key(g, "f32s");
    for (uint64_t j = 0; j < 3; j++) assert_true(infer_gguf_kv_arr_float(g, a, j) == k_f32[j]);
    a = key(g, "i32s");
    for (uint64_t j = 0; j < 3; j++) assert_int_equal(infer_gguf_kv_arr_int(g, a, j), k_i32[j]);
    a = key(g, "bools");
    assert_int_equal(infer_gguf_kv_arr_type(g, a), INFER_GGUF_BOOL);
    for (uint64_t j = 0; j < 4; j++) assert_int_equal(infer_gguf_kv_arr_int(g, a, j), k_bool[j]);
    a = key(g, "i64s");
    for (uint64_t j = 0; j < 2; j++) assert_true(infer_gguf_kv_arr_int(g, a, j) == k_i64[j]);
    a = key(g, "f64s");
    for (uint64_t j = 0; j < 2; j++) assert_true(infer_gguf_kv_arr_float(g, a, j) == k_f64[j]);
    a = key(g, "u16s");
    for (uint64_t j = 0; j < 2; j++) assert_int_equal(infer_gguf_kv_arr_int(g, a, j), k_u16[j]);
    a = key(g, "empty");
    assert_int_equal(infer_gguf_kv_arr_type(g, a), INFER_GGUF_UINT32);
    assert_int_equal(infer_gguf_kv_arr_len(g, a), 0);

    assert_int_equal(infer_gguf_n_tensors(g), 3);
    struct { const char *name; uint32_t type, n_dims; uint64_t ne[4], bytes; const void *data; } want[] = {
        {"token_embd.weight", INFER_TYPE_F32, 2, {8, 3, 1, 1}, sizeof embd, embd},
        {"blk.0.q4", INFER_TYPE_Q4_0, 3, {64, 2, 2, 1}, sizeof q4, q4},
        {"blk.0.half", INFER_TYPE_F16, 4, {4, 1, 2, 3}, sizeof half, half},
    };
    for (int64_t t = 0; t < 3; t++) {
        assert_string_equal(infer_gguf_tensor_name(g, t), want[t].name);
        assert_int_equal(infer_gguf_find_tensor(g, want[t].name), t);
        assert_int_equal(infer_gguf_tensor_type(g, t), want[t].type);
        assert_int_equal(infer_gguf_tensor_n_dims(g, t), want[t].n_dims);
        for (uint32_t d = 0; d < 4; d++) assert_int_equal(infer_gguf_tensor_dim(g, t, d), want[t].ne[d]);
        assert_int_equal(infer_gguf_tensor_bytes(g, t), want[t].bytes);
        assert_int_equal(infer_gguf_tensor_offset(g, t) % alignment, 0);
        assert_memory_equal(infer_gguf_tensor_data(g, t), want[t].data, want[t].bytes);
    }
}

static void round_trip_file(uint32_t version, uint32_t alignment) {
    infer_gguf_writer *w = build(version, alignment);
    char path[] = "/tmp/infer_gguf_writer_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    infer_error e;
    infer_status st = infer_gguf_writer_save(w, path, &e);
    if (st) print_error("%s\n", e.message);
    assert_int_equal(st, INFER_OK);
    infer_gguf *g = NULL;
    st = infer_gguf_open(path, &g, &e);
    if (st) print_error("%s\n", e.message);
    assert_int_equal(st, INFER_OK);
    check_read_back(g, version, alignment);
    infer_gguf_close(g);
    unlink(path);
    infer_gguf_writer_free(w);
}

static void test_round_trip_v3_default_alignment(void **state) { round_trip_file(3, 32); }
static void test_round_trip_v2_alignment_64(void **state) { round_trip_file(2, 64); }

static void test_round_trip_memory_matches_file_bytes(void **state) {
    infer_gguf_writer *w = build(3, 128);
    void *img = NULL;
    size_t n = 0;
    assert_int_equal(infer_gguf_writer_to_memory(w, &img, &n, NULL), INFER_OK);
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open_memory(img, n, &g, NULL), INFER_OK);
    check_read_back(g, 3, 128);
    /* the last tensor ends the file exactly */
    assert_int_equal(infer_gguf_data_offset(g) + infer_gguf_tensor_offset(g, 2) + infer_gguf_tensor_bytes(g, 2), n);
    infer_gguf_close(g);
    free(img);
    infer_gguf_writer_free(w);
}

/* The exact encoding of a tiny file, written out by hand from the GGUF spec. */
static void test_byte_layout(void **state) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    infer_gguf_writer_set_u32(w, "a", 7);
    float x = 1.0f;
    uint64_t ne = 1;
    infer_gguf_writer_add_tensor(w, "t", INFER_TYPE_F32, 1, &ne, &x);
    void *img = NULL;
    size_t n = 0;
    assert_int_equal(infer_gguf_writer_to_memory(w, &img, &n, NULL), INFER_OK);
    static const uint8_t want[] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0, 'a', 4, 0, 0, 0, 7, 0, 0, 0,                  /* kv "a" = u32 7 */
        1, 0, 0, 0, 0, 0, 0, 0, 't', 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,      /* "t", 1 dim, ne 1 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                  /* F32, offset 0 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,    /* 74 -> pad to 96 */
        0x00, 0x00, 0x80, 0x3f,                                              /* 1.0f */
    };
    assert_int_equal(n, sizeof want);
    assert_memory_equal(img, want, sizeof want);
    free(img);
    infer_gguf_writer_free(w);
}

static void test_writer_errors_are_sticky(void **state) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    assert_int_equal(infer_gguf_writer_set_u32(w, "k", 1), INFER_OK);
    assert_int_equal(infer_gguf_writer_set_u32(w, "k", 2), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_gguf_writer_set_u32(w, "other", 2), INFER_ERR_INVALID_ARG);  /* sticky */
    void *img = NULL;
    size_t n = 0;
    infer_error e;
    assert_int_equal(infer_gguf_writer_to_memory(w, &img, &n, &e), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(e.message, "'k'"));
    assert_null(img);
    infer_gguf_writer_free(w);

    w = infer_gguf_writer_new();
    uint64_t ne = 33;                                   /* not a multiple of Q4_0's 32 */
    assert_int_equal(infer_gguf_writer_add_tensor(w, "bad", INFER_TYPE_Q4_0, 1, &ne, q4), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_gguf_writer_save(w, "/tmp/never_written.gguf", &e), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(e.message, "'bad'"));
    assert_int_equal(access("/tmp/never_written.gguf", F_OK), -1);
    infer_gguf_writer_free(w);

    w = infer_gguf_writer_new();
    assert_int_equal(infer_gguf_writer_set_alignment(w, 48), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_gguf_writer_set_arr(w, "x", INFER_GGUF_STRING, k_strs, 1), INFER_ERR_INVALID_ARG);
    infer_gguf_writer_free(w);
    infer_gguf_writer_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_v3_default_alignment),
        cmocka_unit_test(test_round_trip_v2_alignment_64),
        cmocka_unit_test(test_round_trip_memory_matches_file_bytes),
        cmocka_unit_test(test_byte_layout),
        cmocka_unit_test(test_writer_errors_are_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
