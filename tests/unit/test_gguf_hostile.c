/* Hand-made hostile and malformed GGUF headers: each must be refused with the right
 * status and a message naming what is wrong, never crash or read outside the buffer
 * (the image is copied into an exactly-sized heap block so ASan sees any over-read). */
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

/* A little-endian byte builder for GGUF images. */
typedef struct img { uint8_t b[8192]; size_t n; } img;

static void u8(img *m, uint8_t v) { assert_true(m->n < sizeof m->b); m->b[m->n++] = v; }
static void u32(img *m, uint32_t v) { for (int i = 0; i < 4; i++) u8(m, (uint8_t)(v >> (8 * i))); }
static void u64(img *m, uint64_t v) { for (int i = 0; i < 8; i++) u8(m, (uint8_t)(v >> (8 * i))); }
static void str(img *m, const char *s) { u64(m, strlen(s)); for (; *s; s++) u8(m, (uint8_t)*s); }
static void header(img *m, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    m->n = 0;
    u8(m, 'G'); u8(m, 'G'); u8(m, 'U'); u8(m, 'F');
    u32(m, version); u64(m, n_tensors); u64(m, n_kv);
}
static void kv_u32(img *m, const char *k, uint32_t v) { str(m, k); u32(m, INFER_GGUF_UINT32); u32(m, v); }
/* Tensor info with up to 4 dims. */
static void tinfo(img *m, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    str(m, name); u32(m, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) u64(m, ne[d]);
    u32(m, type); u64(m, off);
}
static void pad_to(img *m, size_t align) { while (m->n % align) u8(m, 0); }
static void zeros(img *m, size_t n) { while (n--) u8(m, 0); }

static infer_error last;
static void *kept_copy;      /* the image behind a handle returned by open_img */

static infer_status open_img(const img *m, infer_gguf **out) {
    uint8_t *copy = malloc(m->n ? m->n : 1);
    assert_non_null(copy);
    memcpy(copy, m->b, m->n);
    infer_gguf *g = NULL;
    memset(&last, 0, sizeof last);
    infer_status st = infer_gguf_open_memory(copy, m->n, &g, &last);
    if (st == INFER_OK && out) {
        *out = g;
        kept_copy = copy;
        return st;
    }
    infer_gguf_close(g);
    free(copy);
    return st;
}

static void close_img(infer_gguf *g) {
    infer_gguf_close(g);
    free(kept_copy);
    kept_copy = NULL;
}

/* Expects failure with `status` and a message containing `needle`. */
static void refuse(const img *m, infer_status status, const char *needle) {
    infer_status st = open_img(m, NULL);
    if (getenv("GGUF_TEST_VERBOSE")) print_message("%s\n", last.message);
    if (st != status || !strstr(last.message, needle))
        print_error("status %d, message: %s (wanted %d and '%s')\n", st, last.message, status, needle);
    assert_int_equal(st, status);
    assert_int_equal(last.status, status);
    assert_non_null(strstr(last.message, needle));
}

static void test_bad_magic_and_tiny_files(void **state) {
    img m = {.n = 0};
    refuse(&m, INFER_ERR_FORMAT, "not a GGUF file");
    header(&m, 3, 0, 0);
    m.n = 3;
    refuse(&m, INFER_ERR_FORMAT, "not a GGUF file");
    m.n = 6;
    refuse(&m, INFER_ERR_FORMAT, "header");
    m.n = 20;
    refuse(&m, INFER_ERR_FORMAT, "header");
    header(&m, 3, 0, 0);
    m.b[0] = 'g';
    refuse(&m, INFER_ERR_FORMAT, "not a GGUF file");
}

static void test_versions(void **state) {
    img m;
    header(&m, 1, 0, 0);
    refuse(&m, INFER_ERR_UNSUPPORTED, "version 1");
    header(&m, 4, 0, 0);
    refuse(&m, INFER_ERR_UNSUPPORTED, "unknown GGUF version 4");
    header(&m, 0, 0, 0);
    refuse(&m, INFER_ERR_UNSUPPORTED, "unknown GGUF version 0");
    header(&m, 0x03000000u, 0, 0);          /* a big-endian v3 file: version reads byte-swapped */
    refuse(&m, INFER_ERR_UNSUPPORTED, "big-endian");
    header(&m, 0x02000000u, 0, 0);
    refuse(&m, INFER_ERR_UNSUPPORTED, "big-endian");
    header(&m, 2, 0, 0);                    /* v2 and v3 with nothing in them are valid */
    assert_int_equal(open_img(&m, NULL), INFER_OK);
    header(&m, 3, 0, 0);
    assert_int_equal(open_img(&m, NULL), INFER_OK);
}

static void test_absurd_counts(void **state) {
    img m;
    header(&m, 3, 0, UINT64_MAX);
    refuse(&m, INFER_ERR_FORMAT, "metadata entries");
    header(&m, 3, 0, 1ull << 40);
    refuse(&m, INFER_ERR_FORMAT, "metadata entries");
    header(&m, 3, UINT64_MAX, 0);
    refuse(&m, INFER_ERR_FORMAT, "tensors");
    header(&m, 3, 3, 0);                    /* 3 claimed, but room for none */
    refuse(&m, INFER_ERR_FORMAT, "tensors");
    header(&m, 3, 0, 2);                    /* 2 claimed, only one present */
    kv_u32(&m, "a.b", 1);
    zeros(&m, 20);
    refuse(&m, INFER_ERR_FORMAT, "metadata entry 1");
}

static void test_huge_string_lengths(void **state) {
    img m;
    header(&m, 3, 0, 1);
    u64(&m, UINT64_MAX);                    /* key length */
    zeros(&m, 16);
    refuse(&m, INFER_ERR_FORMAT, "string length 18446744073709551615");
    header(&m, 3, 0, 1);
    str(&m, "general.name");
    u32(&m, INFER_GGUF_STRING);
    u64(&m, 1ull << 62);                    /* value length */
    zeros(&m, 8);
    refuse(&m, INFER_ERR_FORMAT, "general.name");
    header(&m, 3, 0, 1);
    str(&m, "k");
    u32(&m, INFER_GGUF_ARRAY);
    u32(&m, INFER_GGUF_STRING);
    u64(&m, 2);
    str(&m, "ok");
    u64(&m, 1000);                          /* second element runs past the end */
    zeros(&m, 8);
    refuse(&m, INFER_ERR_FORMAT, "exceeds");
    header(&m, 3, 0, 1);                    /* NUL inside a key */
    u64(&m, 3); u8(&m, 'a'); u8(&m, 0); u8(&m, 'b');
    u32(&m, INFER_GGUF_UINT8); u8(&m, 1);
    zeros(&m, 8);
    refuse(&m, INFER_ERR_FORMAT, "NUL");
    header(&m, 3, 0, 1);                    /* empty key */
    u64(&m, 0);
    u32(&m, INFER_GGUF_UINT8); u8(&m, 1);
    zeros(&m, 8);
    refuse(&m, INFER_ERR_FORMAT, "empty name");
}

static void test_arrays(void **state) {
    img m;
    /* array of 2^61 uint64 in a small file */
    header(&m, 3, 0, 1);
    str(&m, "big");
    u32(&m, INFER_GGUF_ARRAY); u32(&m, INFER_GGUF_UINT64); u64(&m, 1ull << 61);
    zeros(&m, 64);
    refuse(&m, INFER_ERR_FORMAT, "key 'big': array at offset 39 claims 2305843009213693952");
    /* nested array bomb: 64 levels of single-element arrays */
    header(&m, 3, 0, 1);
    str(&m, "bomb");
    u32(&m, INFER_GGUF_ARRAY);
    for (int i = 0; i < 64; i++) { u32(&m, INFER_GGUF_ARRAY); u64(&m, 1); }
    u32(&m, INFER_GGUF_UINT8); u64(&m, 0);
    refuse(&m, INFER_ERR_FORMAT, "nested deeper");
    /* array of 2^40 empty nested arrays */
    header(&m, 3, 0, 1);
    str(&m, "wide");
    u32(&m, INFER_GGUF_ARRAY); u32(&m, INFER_GGUF_ARRAY); u64(&m, 1ull << 40);
    for (int i = 0; i < 4; i++) { u32(&m, INFER_GGUF_UINT8); u64(&m, 0); }
    refuse(&m, INFER_ERR_FORMAT, "claims 1099511627776 array elements");
    /* unknown element type and unknown value type */
    header(&m, 3, 0, 1);
    str(&m, "arr");
    u32(&m, INFER_GGUF_ARRAY); u32(&m, 13); u64(&m, 0);
    refuse(&m, INFER_ERR_FORMAT, "unknown element type id 13");
    header(&m, 3, 0, 1);
    str(&m, "val");
    u32(&m, 0xdeadbeef); u64(&m, 0);
    refuse(&m, INFER_ERR_FORMAT, "unknown value type id 3735928559");
    assert_non_null(strstr(last.message, "offset 35"));  /* 24 header + 8 + 3 key bytes */

    /* a valid nested array: [[1,2,3],[]] of uint8, then a string array of 2 */
    header(&m, 3, 0, 2);
    str(&m, "nested");
    u32(&m, INFER_GGUF_ARRAY); u32(&m, INFER_GGUF_ARRAY); u64(&m, 2);
    u32(&m, INFER_GGUF_UINT8); u64(&m, 3); u8(&m, 1); u8(&m, 2); u8(&m, 3);
    u32(&m, INFER_GGUF_UINT8); u64(&m, 0);
    str(&m, "after");
    u32(&m, INFER_GGUF_ARRAY); u32(&m, INFER_GGUF_STRING); u64(&m, 2);
    str(&m, "x"); str(&m, "yz");
    infer_gguf *g = NULL;
    assert_int_equal(open_img(&m, &g), INFER_OK);
    assert_int_equal(infer_gguf_kv_arr_type(g, 0), INFER_GGUF_ARRAY);
    assert_int_equal(infer_gguf_kv_arr_len(g, 0), 2);
    assert_int_equal(infer_gguf_kv_arr_int(g, 0, 0), 3);
    assert_int_equal(infer_gguf_kv_arr_int(g, 0, 1), 0);
    uint64_t len = 0;
    const char *s = infer_gguf_kv_arr_str(g, 1, 1, &len);
    assert_int_equal(len, 2);
    assert_memory_equal(s, "yz", 2);
    close_img(g);
}

static void test_duplicates(void **state) {
    img m;
    header(&m, 3, 0, 2);
    kv_u32(&m, "general.alignment", 32);
    kv_u32(&m, "general.alignment", 64);
    refuse(&m, INFER_ERR_FORMAT, "duplicate metadata key 'general.alignment'");
    uint64_t ne[1] = {8};
    header(&m, 3, 2, 0);
    tinfo(&m, "w", 1, ne, INFER_TYPE_F32, 0);
    tinfo(&m, "w", 1, ne, INFER_TYPE_F32, 32);
    pad_to(&m, 32);
    zeros(&m, 64);
    refuse(&m, INFER_ERR_FORMAT, "duplicate tensor name 'w'");
}

static void test_alignment_key(void **state) {
    img m;
    header(&m, 3, 0, 1);
    kv_u32(&m, "general.alignment", 3);
    refuse(&m, INFER_ERR_FORMAT, "power of two");
    header(&m, 3, 0, 1);
    kv_u32(&m, "general.alignment", 0);
    refuse(&m, INFER_ERR_FORMAT, "power of two");
    header(&m, 3, 0, 1);
    str(&m, "general.alignment"); u32(&m, INFER_GGUF_STRING); str(&m, "32");
    refuse(&m, INFER_ERR_FORMAT, "general.alignment");
    /* alignment 64 honoured: a tensor at offset 32 is misaligned */
    uint64_t ne[1] = {8};
    header(&m, 3, 1, 1);
    kv_u32(&m, "general.alignment", 64);
    tinfo(&m, "w", 1, ne, INFER_TYPE_F32, 32);
    pad_to(&m, 64);
    zeros(&m, 128);
    refuse(&m, INFER_ERR_FORMAT, "not a multiple of the alignment 64");
}

static void test_tensor_shapes(void **state) {
    img m;
    uint64_t ne_over[4] = {1ull << 32, 1ull << 32, 1ull << 32, 1ull << 32};
    header(&m, 3, 1, 0);
    tinfo(&m, "big", 4, ne_over, INFER_TYPE_F32, 0);
    pad_to(&m, 32);
    refuse(&m, INFER_ERR_FORMAT, "overflows");
    uint64_t ne_bytes[2] = {1ull << 31, 1ull << 31};  /* elements fit in int64, bytes (x4) do not... */
    header(&m, 3, 1, 0);
    tinfo(&m, "bytes", 2, ne_bytes, INFER_TYPE_F64, 0);
    pad_to(&m, 32);
    refuse(&m, INFER_ERR_FORMAT, "byte size overflows");
    uint64_t ne5[5] = {1, 1, 1, 1, 1};
    header(&m, 3, 1, 0);
    tinfo(&m, "five", 5, ne5, INFER_TYPE_F32, 0);
    pad_to(&m, 32);
    refuse(&m, INFER_ERR_FORMAT, "5 dimensions");
    header(&m, 3, 1, 0);
    tinfo(&m, "none", 0, ne5, INFER_TYPE_F32, 0);
    zeros(&m, 32);
    refuse(&m, INFER_ERR_FORMAT, "0 dimensions");
    uint64_t ne0[2] = {8, 0};
    header(&m, 3, 1, 0);
    tinfo(&m, "zero", 2, ne0, INFER_TYPE_F32, 0);
    pad_to(&m, 32);
    refuse(&m, INFER_ERR_FORMAT, "dimension 1 is 0");
    uint64_t ne33[1] = {33};
    header(&m, 3, 1, 0);
    tinfo(&m, "q", 1, ne33, INFER_TYPE_Q4_0, 0);
    pad_to(&m, 32);
    zeros(&m, 64);
    refuse(&m, INFER_ERR_FORMAT, "block size 32");
}

static void test_tensor_types(void **state) {
    img m;
    uint64_t ne[1] = {256};
    header(&m, 3, 1, 0);
    tinfo(&m, "t", 1, ne, 99, 0);
    pad_to(&m, 32);
    zeros(&m, 1024);
    refuse(&m, INFER_ERR_FORMAT, "unknown tensor type id 99");
    assert_non_null(strstr(last.message, "'t'"));
    header(&m, 3, 1, 0);
    tinfo(&m, "t", 1, ne, 4, 0);            /* id 4 is unassigned (old Q4_2) */
    pad_to(&m, 32);
    zeros(&m, 1024);
    refuse(&m, INFER_ERR_FORMAT, "unknown tensor type id 4");
    /* known but unsupported (IQ2_XXS: 66 bytes per 256) still opens */
    header(&m, 3, 1, 0);
    tinfo(&m, "iq", 1, ne, INFER_TYPE_IQ2_XXS, 0);
    pad_to(&m, 32);
    zeros(&m, 66);
    infer_gguf *g = NULL;
    assert_int_equal(open_img(&m, &g), INFER_OK);
    assert_int_equal(infer_gguf_tensor_type(g, 0), INFER_TYPE_IQ2_XXS);
    assert_int_equal(infer_gguf_tensor_bytes(g, 0), 66);
    close_img(g);
}

static void test_tensor_data_placement(void **state) {
    img m;
    uint64_t ne[1] = {16};                 /* 64 bytes of F32 */
    header(&m, 3, 2, 0);
    tinfo(&m, "a", 1, ne, INFER_TYPE_F32, 0);
    tinfo(&m, "b", 1, ne, INFER_TYPE_F32, 32);
    pad_to(&m, 32);
    zeros(&m, 128);
    refuse(&m, INFER_ERR_FORMAT, "overlaps");
    assert_non_null(strstr(last.message, "'a'"));
    header(&m, 3, 2, 0);                   /* same offset */
    tinfo(&m, "a", 1, ne, INFER_TYPE_F32, 64);
    tinfo(&m, "b", 1, ne, INFER_TYPE_F32, 64);
    pad_to(&m, 32);
    zeros(&m, 128);
    refuse(&m, INFER_ERR_FORMAT, "overlaps");
    header(&m, 3, 1, 0);
    tinfo(&m, "mis", 1, ne, INFER_TYPE_F32, 4);
    pad_to(&m, 32);
    zeros(&m, 128);
    refuse(&m, INFER_ERR_FORMAT, "'mis': data offset 4 is not a multiple of the alignment 32");
    header(&m, 3, 1, 0);
    tinfo(&m, "eof", 1, ne, INFER_TYPE_F32, 0);
    pad_to(&m, 32);
    zeros(&m, 63);                         /* one byte short */
    refuse(&m, INFER_ERR_FORMAT, "past the end");
    header(&m, 3, 1, 0);
    tinfo(&m, "far", 1, ne, INFER_TYPE_F32, UINT64_MAX - 31);
    pad_to(&m, 32);
    zeros(&m, 64);
    refuse(&m, INFER_ERR_FORMAT, "past the end");
    header(&m, 3, 1, 0);                   /* data section itself missing */
    tinfo(&m, "nodata", 1, ne, INFER_TYPE_F32, 0);
    refuse(&m, INFER_ERR_FORMAT, "past the end");
    /* back to back, in reverse file order: valid */
    header(&m, 3, 2, 0);
    tinfo(&m, "a", 1, ne, INFER_TYPE_F32, 64);
    tinfo(&m, "b", 1, ne, INFER_TYPE_F32, 0);
    pad_to(&m, 32);
    zeros(&m, 128);
    assert_int_equal(open_img(&m, NULL), INFER_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_magic_and_tiny_files),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_absurd_counts),
        cmocka_unit_test(test_huge_string_lengths),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_alignment_key),
        cmocka_unit_test(test_tensor_shapes),
        cmocka_unit_test(test_tensor_types),
        cmocka_unit_test(test_tensor_data_placement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
