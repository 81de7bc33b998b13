/* GGUF reader on real files. Expected values were read independently from the files
 * with a 40-line Python struct parser (not with our code) and are written out here. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "gguf/gguf.h"
#include "tensor/dtype.h"
#include "testdata.h"

static char *stories_path, *q4km_path, *spm_path;

static infer_gguf *open_ok(const char *path) {
    infer_gguf *g = NULL;
    infer_error e;
    infer_status st = infer_gguf_open(path, &g, &e);
    if (st) print_error("%s\n", e.message);
    assert_int_equal(st, INFER_OK);
    assert_non_null(g);
    return g;
}

static void test_stories_header(void **state) {
    infer_gguf *g = open_ok(stories_path);
    assert_int_equal(infer_gguf_version(g), 3);
    assert_int_equal(infer_gguf_alignment(g), 32);
    assert_int_equal(infer_gguf_n_kv(g), 19);
    assert_int_equal(infer_gguf_n_tensors(g), 48);
    assert_int_equal(infer_gguf_file_size(g), 1185376);
    /* tensor infos end at 14152, rounded up to the 32-byte alignment */
    assert_int_equal(infer_gguf_data_offset(g), 14176);
    infer_gguf_close(g);
}

static void test_stories_metadata(void **state) {
    infer_gguf *g = open_ok(stories_path);
    assert_string_equal(infer_gguf_kv_key(g, 0), "tokenizer.ggml.tokens");
    assert_string_equal(infer_gguf_kv_key(g, 18), "llama.attention.layer_norm_rms_epsilon");
    assert_null(infer_gguf_kv_key(g, 19));
    assert_int_equal(infer_gguf_find_key(g, "llama.block_count"), 16);
    assert_int_equal(infer_gguf_find_key(g, "llama.no_such_key"), -1);

    uint32_t u = 0;
    infer_error e;
    assert_int_equal(infer_gguf_get_u32(g, "llama.embedding_length", &u, &e), INFER_OK);
    assert_int_equal(u, 64);
    assert_int_equal(infer_gguf_get_u32(g, "llama.feed_forward_length", &u, &e), INFER_OK);
    assert_int_equal(u, 172);
    assert_int_equal(infer_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &u, &e), INFER_OK);
    assert_int_equal(u, 4294967295u);
    float f = 0;
    assert_int_equal(infer_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f, &e), INFER_OK);
    assert_true(f == 9.999999747378752e-06f);

    const char *s = NULL;
    uint64_t len = 0;
    assert_int_equal(infer_gguf_get_str(g, "general.architecture", &s, &len, &e), INFER_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "llama", 5);

    /* arrays: tokens (strings), scores (float32), token_type (int32) */
    int64_t ti = -1;
    assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.tokens", INFER_GGUF_STRING, &ti, &len, &e), INFER_OK);
    assert_int_equal(ti, 0);
    assert_int_equal(len, 512);
    s = infer_gguf_kv_arr_str(g, ti, 0, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "<unk>", 5);
    s = infer_gguf_kv_arr_str(g, ti, 511, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "\xe2\x80\x8a", 3);
    assert_null(infer_gguf_kv_arr_str(g, ti, 512, &len));
    int64_t si = infer_gguf_find_key(g, "tokenizer.ggml.scores");
    assert_int_equal(infer_gguf_kv_type(g, si), INFER_GGUF_ARRAY);
    assert_int_equal(infer_gguf_kv_arr_type(g, si), INFER_GGUF_FLOAT32);
    assert_true(infer_gguf_kv_arr_float(g, si, 511) == -252.0);
    int64_t tt = infer_gguf_find_key(g, "tokenizer.ggml.token_type");
    assert_int_equal(infer_gguf_kv_arr_type(g, tt), INFER_GGUF_INT32);
    assert_int_equal(infer_gguf_kv_arr_int(g, tt, 0), 2);
    assert_int_equal(infer_gguf_kv_arr_int(g, tt, 1), 3);
    assert_int_equal(infer_gguf_kv_arr_int(g, tt, 511), 1);
    infer_gguf_close(g);
}

static void test_typed_getter_errors(void **state) {
    infer_gguf *g = open_ok(stories_path);
    infer_error e;
    uint32_t u = 7;
    float f;
    bool b;
    int64_t i;
    assert_int_equal(infer_gguf_get_u32(g, "general.name", &u, &e), INFER_ERR_TYPE);
    assert_non_null(strstr(e.message, "general.name"));
    assert_int_equal(infer_gguf_get_u32(g, "llama.missing", &u, &e), INFER_ERR_NOT_FOUND);
    assert_non_null(strstr(e.message, "llama.missing"));
    assert_int_equal(infer_gguf_get_f32(g, "llama.block_count", &f, &e), INFER_ERR_TYPE);
    assert_int_equal(infer_gguf_get_bool(g, "llama.block_count", &b, &e), INFER_ERR_TYPE);
    assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.scores", INFER_GGUF_STRING, &i, NULL, &e), INFER_ERR_TYPE);
    assert_non_null(strstr(e.message, "tokenizer.ggml.scores"));
    assert_int_equal(infer_gguf_opt_u32(g, "llama.missing", 42, &u, &e), INFER_OK);
    assert_int_equal(u, 42);
    assert_int_equal(infer_gguf_opt_u32(g, "llama.block_count", 42, &u, &e), INFER_OK);
    assert_int_equal(u, 5);
    assert_int_equal(infer_gguf_opt_f32(g, "general.name", 1.0f, &f, &e), INFER_ERR_TYPE);
    assert_int_equal(infer_gguf_opt_bool(g, "x.y", true, &b, &e), INFER_OK);
    assert_true(b);
    /* wrong-kind accessors return neutral values */
    assert_null(infer_gguf_kv_str(g, 16, NULL));
    assert_int_equal(infer_gguf_kv_arr_len(g, 16), 0);
    assert_int_equal(infer_gguf_kv_int(g, 0), 0);
    infer_gguf_close(g);
}

static void test_stories_tensors(void **state) {
    infer_gguf *g = open_ok(stories_path);
    int64_t t = infer_gguf_find_tensor(g, "token_embd.weight");
    assert_int_equal(t, 0);
    assert_int_equal(infer_gguf_tensor_type(g, t), INFER_TYPE_F32);
    assert_int_equal(infer_gguf_tensor_n_dims(g, t), 2);
    assert_int_equal(infer_gguf_tensor_dim(g, t, 0), 64);
    assert_int_equal(infer_gguf_tensor_dim(g, t, 1), 512);
    assert_int_equal(infer_gguf_tensor_dim(g, t, 2), 1);
    assert_int_equal(infer_gguf_tensor_offset(g, t), 0);
    assert_int_equal(infer_gguf_tensor_bytes(g, t), 131072);
    float v[2];
    memcpy(v, infer_gguf_tensor_data(g, t), sizeof v);
    assert_true(v[0] == -0.29474878311157227f);
    assert_true(v[1] == 0.5618956089019775f);

    t = infer_gguf_find_tensor(g, "output_norm.weight");
    assert_int_equal(t, 1);
    assert_int_equal(infer_gguf_tensor_n_dims(g, t), 1);
    assert_int_equal(infer_gguf_tensor_offset(g, t), 131072);
    memcpy(v, infer_gguf_tensor_data(g, t), sizeof v);
    assert_true(v[0] == 2.4583089351654053f);
    assert_true(v[1] == 1.3673226833343506f);

    t = infer_gguf_find_tensor(g, "blk.4.ffn_norm.weight");
    assert_int_equal(t, 47);
    assert_int_equal(infer_gguf_tensor_offset(g, t), 1170944);
    assert_int_equal(infer_gguf_find_tensor(g, "blk.5.ffn_norm.weight"), -1);
    assert_null(infer_gguf_tensor_name(g, 48));
    assert_null(infer_gguf_tensor_data(g, -1));
    infer_gguf_close(g);
}

static void test_quantized_tensor_sizes(void **state) {
    infer_gguf *g = open_ok(q4km_path);
    int64_t t = infer_gguf_find_tensor(g, "output.weight");
    assert_int_equal(infer_gguf_tensor_type(g, t), INFER_TYPE_Q6_K);
    assert_int_equal(infer_gguf_tensor_bytes(g, t), 512 * 210);   /* 512 rows of one Q6_K block */
    t = infer_gguf_find_tensor(g, "token_embd.weight");
    assert_int_equal(infer_gguf_tensor_type(g, t), INFER_TYPE_Q4_K);
    assert_int_equal(infer_gguf_tensor_offset(g, t), 108544);
    assert_int_equal(infer_gguf_tensor_bytes(g, t), 512 * 144);
    uint32_t ft = 0;
    assert_int_equal(infer_gguf_get_u32(g, "general.file_type", &ft, NULL), INFER_OK);
    assert_int_equal(ft, 15);
    float base = 0;
    assert_int_equal(infer_gguf_get_f32(g, "llama.rope.freq_base", &base, NULL), INFER_OK);
    assert_true(base == 500000.0f);
    infer_gguf_close(g);
}

static void test_vocab_only_file(void **state) {
    infer_gguf *g = open_ok(spm_path);
    assert_int_equal(infer_gguf_n_tensors(g), 0);
    assert_int_equal(infer_gguf_n_kv(g), 22);
    int64_t i = -1;
    uint64_t n = 0;
    assert_int_equal(infer_gguf_get_arr(g, "tokenizer.ggml.tokens", INFER_GGUF_STRING, &i, &n, NULL), INFER_OK);
    assert_int_equal(n, 32000);
    bool add_bos = false, add_eos = true;
    assert_int_equal(infer_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add_bos, NULL), INFER_OK);
    assert_int_equal(infer_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &add_eos, NULL), INFER_OK);
    assert_true(add_bos);
    assert_false(add_eos);
    infer_gguf_close(g);
}

static void test_open_errors(void **state) {
    infer_gguf *g = (infer_gguf *)1;
    infer_error e;
    assert_int_equal(infer_gguf_open("/nonexistent/x.gguf", &g, &e), INFER_ERR_IO);
    assert_null(g);
    assert_non_null(strstr(e.message, "/nonexistent/x.gguf"));
    assert_int_equal(infer_gguf_open("/", &g, &e), INFER_ERR_IO);
    assert_int_equal(infer_gguf_open(NULL, &g, NULL), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_gguf_open(stories_path, NULL, &e), INFER_ERR_INVALID_ARG);
    infer_gguf_close(NULL);
    assert_int_equal(infer_gguf_n_kv(NULL), 0);
    assert_int_equal(infer_gguf_find_key(NULL, "a"), -1);
}

static void test_open_memory_matches_file(void **state) {
    size_t len = 0;
    void *buf = test_read_all(stories_path, &len);
    assert_non_null(buf);
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open_memory(buf, len, &g, NULL), INFER_OK);
    assert_int_equal(infer_gguf_n_tensors(g), 48);
    assert_ptr_equal(infer_gguf_tensor_data(g, 0), (char *)buf + 14176);
    infer_gguf_close(g);
    free(buf);
}

int main(void) {
    stories_path = test_fixture_or_skip("models/stories260K.gguf");
    q4km_path = test_fixture_or_skip("models/synth-llama-Q4_K_M.gguf");
    spm_path = test_fixture_or_skip("tokenizer/llama-spm.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories_header),
        cmocka_unit_test(test_stories_metadata),
        cmocka_unit_test(test_typed_getter_errors),
        cmocka_unit_test(test_stories_tensors),
        cmocka_unit_test(test_quantized_tensor_sizes),
        cmocka_unit_test(test_vocab_only_file),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_memory_matches_file),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(stories_path);
    free(q4km_path);
    free(spm_path);
    return rc;
}
