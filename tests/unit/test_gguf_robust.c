/* Robustness: a small valid GGUF (made with the writer) is truncated at every length and
 * corrupted thousands of times with a fixed seed. Every attempt must end in a clean
 * status; whatever opens must be fully walkable. Each image is copied into an exactly
 * sized heap block so that ASan (CI builds this suite with it) flags any over-read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "gguf/gguf.h"
#include "gguf/gguf_writer.h"
#include "tensor/dtype.h"
#include "gguf_walk.h"

#define N_CORRUPTIONS 4000

static uint8_t *base_img;
static size_t base_len;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void) {          /* xorshift64*: fixed seed, same run every time */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static int setup(void **state) {
    infer_gguf_writer *w = infer_gguf_writer_new();
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81\x61", "b", "cd"};
    static const float scores[] = {0, 0, 0, -1.5f, -2, -3};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1};
    infer_gguf_writer_set_str(w, "general.architecture", "llama");
    infer_gguf_writer_set_u32(w, "llama.block_count", 1);
    infer_gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    infer_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    infer_gguf_writer_set_u64(w, "big", 1ull << 40);
    infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 6);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32, scores, 6);
    infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types, 6);
    static float f[32 * 2];
    static uint8_t q[18 * 2];
    static uint16_t h[16];
    uint64_t ne_f[2] = {32, 2}, ne_q[1] = {64}, ne_h[3] = {4, 2, 2};
    infer_gguf_writer_add_tensor(w, "token_embd.weight", INFER_TYPE_F32, 2, ne_f, f);
    infer_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", INFER_TYPE_Q4_0, 1, ne_q, q);
    infer_gguf_writer_add_tensor(w, "output_norm.weight", INFER_TYPE_F16, 3, ne_h, h);
    infer_status st = infer_gguf_writer_to_memory(w, (void **)&base_img, &base_len, NULL);
    infer_gguf_writer_free(w);
    return st == INFER_OK ? 0 : -1;
}

static int teardown(void **state) {
    free(base_img);
    return 0;
}

/* A walk over an opened image found the handle contradicting itself. */
static void walk_broken(const char *what, int64_t i) {
    fail_msg("%s (entry %lld)", what, (long long)i);
}

/* Opens the image from an exactly-sized copy. Returns the status; checks it is clean. */
static infer_status try_open(const uint8_t *data, size_t len) {
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    infer_gguf *g = NULL;
    infer_error e = {.status = INFER_OK, .message = ""};
    infer_status st = infer_gguf_open_memory(copy, len, &g, &e);
    if (st == INFER_OK) {
        assert_non_null(g);
        (void)test_gguf_walk(g, walk_broken);   /* ASan catches any read outside the image */
        infer_gguf_close(g);
    } else {
        assert_null(g);
        assert_true(st == INFER_ERR_FORMAT || st == INFER_ERR_UNSUPPORTED);
        assert_int_equal(e.status, st);
        assert_true(e.message[0] != 0);
    }
    free(copy);
    return st;
}

static void test_base_image_opens(void **state) {
    assert_int_equal(try_open(base_img, base_len), INFER_OK);
}

static void test_every_truncation(void **state) {
    /* Every proper prefix cuts the last tensor's data (or earlier): all must be refused. */
    for (size_t n = 0; n < base_len; n++) {
        infer_status st = try_open(base_img, n);
        if (st == INFER_OK) print_error("prefix of %zu bytes opened\n", n);
        assert_int_not_equal(st, INFER_OK);
    }
}

static const uint64_t interesting[] = {
    0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 33, 63, 64, 255, 256, 0x7fffffff, 0x80000000u, 0xffffffffu,
    1ull << 32, 1ull << 40, 1ull << 62, 0x7fffffffffffffffull, 0x8000000000000000ull, UINT64_MAX,
};

static void test_seeded_corruptions(void **state) {
    uint8_t *img = malloc(base_len);
    assert_non_null(img);
    unsigned ok = 0, refused = 0;
    for (int iter = 0; iter < N_CORRUPTIONS; iter++) {
        memcpy(img, base_img, base_len);
        int n_mut = 1 + (int)(rng() % 4);
        /* Most mutations hit the header/metadata/info part, where the parsing happens. */
        size_t region = rng() % 4 ? base_len / 2 : base_len;
        for (int k = 0; k < n_mut; k++) {
            size_t pos = (size_t)(rng() % region);
            switch (rng() % 4) {
            case 0: img[pos] ^= (uint8_t)(1u << (rng() % 8)); break;
            case 1: img[pos] = (uint8_t)rng(); break;
            case 2: {       /* an interesting 64-bit (or 32-bit) value, little-endian */
                uint64_t v = interesting[rng() % (sizeof interesting / sizeof interesting[0])];
                size_t w = rng() % 2 ? 8 : 4;
                for (size_t b = 0; b < w && pos + b < base_len; b++) img[pos + b] = (uint8_t)(v >> (8 * b));
                break;
            }
            default: img[pos] = (uint8_t)(rng() % 2 ? 0 : 0xff); break;
            }
        }
        size_t len = rng() % 8 ? base_len : (size_t)(rng() % base_len);
        if (try_open(img, len) == INFER_OK) ok++;
        else refused++;
    }
    free(img);
    print_message("%u corrupted images opened, %u refused\n", ok, refused);
    /* Both outcomes must occur, or the mutations are not exercising the parser. */
    assert_true(ok > 100);
    assert_true(refused > 100);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_image_opens),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_seeded_corruptions),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
