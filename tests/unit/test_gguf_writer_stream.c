/* The GGUF writer's copy and streaming paths (used by infer_model_quantize): copying every
 * metadata entry of a file (strings, arrays of strings, empty arrays, every scalar) and
 * streaming tensor bytes in pieces must give exactly the bytes the in-memory writer
 * gives for the same content. Also: a declared tensor without data cannot be saved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tensor/dtype.h"

static const char *const k_strs[] = {"", "hello", "\xe2\x96\x81the"};
static const float k_f32[] = {1.5f, -2.25f, 3.0e-7f};
static float embd[64 * 3];
static uint16_t half[32 * 2];

static infer_gguf_writer *source(void) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    infer_gguf_writer_set_str(w, "general.architecture", "llama");
    infer_gguf_writer_set_strn(w, "bytes", "a\0b\xff", 4);
    infer_gguf_writer_set_u8(w, "u8", 200);
    infer_gguf_writer_set_i16(w, "i16", -30000);
    infer_gguf_writer_set_u64(w, "u64", 18000000000000000000ull);
    infer_gguf_writer_set_f64(w, "f64", -3.5e100);
    infer_gguf_writer_set_bool(w, "yes", true);
    infer_gguf_writer_set_arr_str(w, "strs", k_strs, NULL, 3);
    infer_gguf_writer_set_arr(w, "f32s", INFER_GGUF_FLOAT32, k_f32, 3);
    infer_gguf_writer_set_arr(w, "empty", INFER_GGUF_UINT32, NULL, 0);
    for (size_t i = 0; i < sizeof embd / sizeof embd[0]; i++) embd[i] = (float)i * 0.25f - 3.0f;
    for (size_t i = 0; i < sizeof half / sizeof half[0]; i++) half[i] = (uint16_t)(i * 977);
    const uint64_t ne_e[2] = {64, 3}, ne_h[2] = {32, 2};
    infer_gguf_writer_add_tensor(w, "embd", INFER_TYPE_F32, 2, ne_e, embd);
    infer_gguf_writer_add_tensor(w, "half", INFER_TYPE_F16, 2, ne_h, half);
    return w;
}

static void copy_and_stream_equal_memory_image(void **state) {
    (void)state;
    infer_gguf_writer *w = source();
    void *img = NULL;
    size_t img_len = 0;
    infer_error err;
    assert_int_equal(infer_gguf_writer_to_memory(w, &img, &img_len, &err), INFER_OK);
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open_memory(img, img_len, &g, &err), INFER_OK);

    infer_gguf_writer *c = infer_gguf_writer_new();
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) assert_int_equal(infer_gguf_writer_copy_kv(c, g, i), INFER_OK);
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        uint64_t ne[4];
        for (uint32_t d = 0; d < infer_gguf_tensor_n_dims(g, i); d++) ne[d] = infer_gguf_tensor_dim(g, i, d);
        assert_int_equal(infer_gguf_writer_add_tensor_info(c, infer_gguf_tensor_name(g, i), infer_gguf_tensor_type(g, i),
                                                           infer_gguf_tensor_n_dims(g, i), ne), INFER_OK);
        assert_int_equal(infer_gguf_writer_tensor_bytes(c, (uint64_t)i), infer_gguf_tensor_bytes(g, i));
    }
    /* a declared tensor has no data: only streaming can write it */
    void *bad = NULL;
    size_t bad_len = 0;
    assert_int_equal(infer_gguf_writer_to_memory(c, &bad, &bad_len, &err), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(err.message, "streaming"));

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(infer_gguf_writer_write_header(c, f, &err), INFER_OK);
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {   /* each tensor in three pieces */
        const uint8_t *d = infer_gguf_tensor_data(g, i);
        const uint64_t n = infer_gguf_tensor_bytes(g, i), a = n / 3, b = 2 * n / 3;
        assert_int_equal(infer_gguf_writer_write_tensor_data(c, f, (uint64_t)i, d, a, false, &err), INFER_OK);
        assert_int_equal(infer_gguf_writer_write_tensor_data(c, f, (uint64_t)i, d + a, b - a, false, &err), INFER_OK);
        assert_int_equal(infer_gguf_writer_write_tensor_data(c, f, (uint64_t)i, d + b, n - b, true, &err), INFER_OK);
    }
    long len = ftell(f);
    assert_int_equal((size_t)len, img_len);
    rewind(f);
    uint8_t *got = malloc(img_len);
    assert_int_equal(fread(got, 1, img_len, f), img_len);
    assert_memory_equal(got, img, img_len);
    fclose(f);
    free(got);
    infer_gguf_writer_free(c);
    infer_gguf_close(g);
    free(img);
    infer_gguf_writer_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(copy_and_stream_equal_memory_image),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
