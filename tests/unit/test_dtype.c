/* dtype traits table, fp16/bf16 conversions, and bit-exact dequantization of real
 * tensor blocks against the reference engine's output (tests/data/dequant). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer.h"
#include "tensor/dtype.h"
#include "testdata.h"

static void test_table_sizes(void **state) {
    /* GGUF block sizes and bytes, from the file-format specification */
    static const struct { uint32_t id; const char *name; int64_t bs; size_t bytes; bool supported; } want[] = {
        {0, "F32", 1, 4, true}, {1, "F16", 1, 2, true}, {2, "Q4_0", 32, 18, true},
        {3, "Q4_1", 32, 20, true}, {6, "Q5_0", 32, 22, true}, {7, "Q5_1", 32, 24, true},
        {8, "Q8_0", 32, 34, true}, {9, "Q8_1", 32, 36, true}, {10, "Q2_K", 256, 84, true},
        {11, "Q3_K", 256, 110, true}, {12, "Q4_K", 256, 144, true}, {13, "Q5_K", 256, 176, true},
        {14, "Q6_K", 256, 210, true}, {15, "Q8_K", 256, 292, true}, {16, "IQ2_XXS", 256, 66, false},
        {17, "IQ2_XS", 256, 74, false}, {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false},
        {20, "IQ4_NL", 32, 18, true}, {21, "IQ3_S", 256, 110, false}, {22, "IQ2_S", 256, 82, false},
        {23, "IQ4_XS", 256, 136, true}, {24, "I8", 1, 1, false}, {25, "I16", 1, 2, false},
        {26, "I32", 1, 4, false}, {27, "I64", 1, 8, false}, {28, "F64", 1, 8, false},
        {29, "IQ1_M", 256, 56, false}, {30, "BF16", 1, 2, true}, {34, "TQ1_0", 256, 54, false},
        {35, "TQ2_0", 256, 66, false}, {39, "MXFP4", 32, 17, true},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const infer_dtype_traits *t = infer_dtype_traits_get(want[i].id);
        assert_non_null(t);
        assert_string_equal(t->name, want[i].name);
        assert_string_equal(infer_type_name(want[i].id), want[i].name);
        assert_int_equal(t->block_size, want[i].bs);
        assert_int_equal(t->block_bytes, want[i].bytes);
        assert_int_equal(t->supported, want[i].supported);
        if (t->supported) assert_non_null(t->to_float);
        assert_int_equal(infer_dtype_row_bytes(want[i].id, want[i].bs * 7), want[i].bytes * 7);
    }
    static const uint32_t unassigned[] = {4, 5, 31, 32, 33, 36, 37, 38, 40, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof unassigned / sizeof unassigned[0]; i++) {
        assert_null(infer_dtype_traits_get(unassigned[i]));
        assert_null(infer_type_name(unassigned[i]));
        assert_int_equal(infer_dtype_row_bytes(unassigned[i], 32), 0);
    }
    /* a row that is not a whole number of blocks has no byte size */
    assert_int_equal(infer_dtype_row_bytes(INFER_TYPE_Q4_K, 100), 0);
    assert_int_equal(infer_dtype_row_bytes(INFER_TYPE_F32, -4), 0);
    /* sizes that would wrap around size_t are refused, not truncated */
    assert_int_equal(infer_dtype_row_bytes(INFER_TYPE_F64, INT64_MAX), 0);
    assert_int_equal(infer_dtype_row_bytes(INFER_TYPE_F32, INT64_MAX / 2 + 1), 0);   /* exactly 2^64 bytes */
}

static void test_vec_dot_partner(void **state) {
    /* The activation partner of every quantized weight type, as the reference engine's
     * type traits give it (its vec_dot_type); float weights take plain F32 activations. */
    static const struct { uint32_t w, partner; } want[] = {
        {INFER_TYPE_Q4_0, INFER_TYPE_Q8_0}, {INFER_TYPE_Q4_1, INFER_TYPE_Q8_0}, {INFER_TYPE_Q5_0, INFER_TYPE_Q8_0},
        {INFER_TYPE_Q5_1, INFER_TYPE_Q8_0}, {INFER_TYPE_Q8_0, INFER_TYPE_Q8_0}, {INFER_TYPE_MXFP4, INFER_TYPE_Q8_0},
        {INFER_TYPE_IQ4_NL, INFER_TYPE_Q8_0}, {INFER_TYPE_Q2_K, INFER_TYPE_Q8_K}, {INFER_TYPE_Q3_K, INFER_TYPE_Q8_K},
        {INFER_TYPE_Q4_K, INFER_TYPE_Q8_K}, {INFER_TYPE_Q5_K, INFER_TYPE_Q8_K}, {INFER_TYPE_Q6_K, INFER_TYPE_Q8_K},
        {INFER_TYPE_IQ4_XS, INFER_TYPE_Q8_K}, {INFER_TYPE_F32, INFER_TYPE_F32}, {INFER_TYPE_F16, INFER_TYPE_F32},
        {INFER_TYPE_BF16, INFER_TYPE_F32},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const infer_dtype_traits *t = infer_dtype_traits_get(want[i].w);
        assert_non_null(t);
        assert_int_equal(t->vec_dot_type, want[i].partner);
        /* a weight block never straddles two activation blocks */
        assert_int_equal(t->block_size % infer_dtype_traits_get(t->vec_dot_type)->block_size, 0);
    }
}

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_fp16(void **state) {
    /* known encodings */
    assert_true(infer_fp16_to_f32(0x3C00) == 1.0f);
    assert_true(infer_fp16_to_f32(0xC000) == -2.0f);
    assert_true(infer_fp16_to_f32(0x7BFF) == 65504.0f);
    assert_true(infer_fp16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(infer_fp16_to_f32(0x03FF) == ldexpf(1023.0f, -24));
    assert_true(isinf(infer_fp16_to_f32(0xFC00)) && infer_fp16_to_f32(0xFC00) < 0);
    assert_true(isnan(infer_fp16_to_f32(0x7E00)));
    assert_int_equal(bits(infer_fp16_to_f32(0x8000)), 0x80000000u);
    /* every finite half survives a round trip */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;
        assert_int_equal(infer_f32_to_fp16(infer_fp16_to_f32((uint16_t)h)), h);
    }
    /* rounding: ties to even, overflow to inf, underflow to zero/subnormal */
    assert_int_equal(infer_f32_to_fp16(1.0f + ldexpf(1.0f, -11)), 0x3C00);           /* tie -> even */
    assert_int_equal(infer_f32_to_fp16(1.0f + 3 * ldexpf(1.0f, -11)), 0x3C02);       /* tie -> even (up) */
    assert_int_equal(infer_f32_to_fp16(1.0f + ldexpf(1.0f, -11) + ldexpf(1.0f, -20)), 0x3C01);
    assert_int_equal(infer_f32_to_fp16(65519.0f), 0x7BFF);
    assert_int_equal(infer_f32_to_fp16(65520.0f), 0x7C00);
    assert_int_equal(infer_f32_to_fp16(1e10f), 0x7C00);
    assert_int_equal(infer_f32_to_fp16(-1e10f), 0xFC00);
    assert_int_equal(infer_f32_to_fp16(ldexpf(1.0f, -25)), 0x0000);                  /* tie -> even (0) */
    assert_int_equal(infer_f32_to_fp16(ldexpf(3.0f, -26)), 0x0001);
    assert_int_equal(infer_f32_to_fp16(ldexpf(3.0f, -25)), 0x0002);                  /* 1.5 ulp -> 2 */
    assert_int_equal(infer_f32_to_fp16(ldexpf(1023.5f, -24)), 0x0400);               /* rounds up to normal */
    assert_int_equal(infer_f32_to_fp16(-0.0f), 0x8000);
    assert_true((infer_f32_to_fp16(NAN) & 0x7C00) == 0x7C00 && (infer_f32_to_fp16(NAN) & 0x3FF));
    /* against the C library's double rounding on a sweep of values */
    for (int i = -30000; i <= 30000; i += 7) {
        float f = (float)i * 1.37f;
        float r = infer_fp16_to_f32(infer_f32_to_fp16(f));
        float err = fabsf(r - f);
        assert_true(err <= fabsf(f) * ldexpf(1.0f, -11) * 1.0001f + 1e-30f);
    }
}

static void test_bf16(void **state) {
    assert_true(infer_bf16_to_f32(0x3F80) == 1.0f);
    assert_int_equal(infer_f32_to_bf16(1.0f), 0x3F80);
    assert_int_equal(infer_f32_to_bf16(from_bits(0x3F808000u)), 0x3F80);  /* tie -> even */
    assert_int_equal(infer_f32_to_bf16(from_bits(0x3F818000u)), 0x3F82);  /* tie -> even (up) */
    assert_int_equal(infer_f32_to_bf16(from_bits(0x3F808001u)), 0x3F81);
    assert_true(isnan(infer_bf16_to_f32(infer_f32_to_bf16(NAN))));
    assert_int_equal(infer_f32_to_bf16(from_bits(0x7F7FFFFFu)), 0x7F80);  /* overflow -> inf */
    for (uint32_t h = 0; h < 65536; h++) {
        if ((h & 0x7F80) == 0x7F80 && (h & 0x7F)) continue;
        assert_int_equal(infer_f32_to_bf16(infer_bf16_to_f32((uint16_t)h)), h);
    }
}

static void check_dequant(const char *type_name, uint32_t type) {
    char rel[128];
    snprintf(rel, sizeof rel, "dequant/%s.raw", type_name);
    char *raw_path = test_fixture(rel);
    snprintf(rel, sizeof rel, "dequant/%s.f32", type_name);
    char *f32_path = test_fixture(rel);
    assert_non_null(raw_path);
    assert_non_null(f32_path);
    size_t raw_len = 0, f32_len = 0;
    void *raw = test_read_all(raw_path, &raw_len);
    float *want = test_read_all(f32_path, &f32_len);
    assert_non_null(raw);
    assert_non_null(want);
    const int64_t n = (int64_t)(f32_len / sizeof(float));
    assert_int_equal(n, 4096);
    assert_int_equal(raw_len, infer_dtype_row_bytes(type, n));
    const infer_dtype_traits *t = infer_dtype_traits_get(type);
    float *got = malloc((size_t)n * sizeof(float));
    t->to_float(raw, got, n);
    int64_t mismatches = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (bits(got[i]) != bits(want[i])) {
            if (first < 0) first = i;
            mismatches++;
        }
    }
    if (mismatches)
        print_error("%s: %lld of %lld values differ, first at %lld: got %.9g want %.9g\n", type_name,
                    (long long)mismatches, (long long)n, (long long)first, got[first], want[first]);
    assert_int_equal(mismatches, 0);
    free(got); free(raw); free(want); free(raw_path); free(f32_path);
}

#define DEQUANT_TEST(T) static void test_dequant_##T(void **state) { check_dequant(#T, INFER_TYPE_##T); }
DEQUANT_TEST(F16)
DEQUANT_TEST(BF16)
DEQUANT_TEST(Q4_0)
DEQUANT_TEST(Q4_1)
DEQUANT_TEST(Q5_0)
DEQUANT_TEST(Q5_1)
DEQUANT_TEST(Q8_0)
DEQUANT_TEST(Q4_K)
DEQUANT_TEST(Q5_K)
DEQUANT_TEST(Q6_K)
DEQUANT_TEST(Q2_K)
DEQUANT_TEST(Q3_K)
DEQUANT_TEST(IQ4_NL)
DEQUANT_TEST(IQ4_XS)
DEQUANT_TEST(MXFP4)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sizes),
        cmocka_unit_test(test_vec_dot_partner),
        cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_dequant_F16),
        cmocka_unit_test(test_dequant_BF16),
        cmocka_unit_test(test_dequant_Q4_0),
        cmocka_unit_test(test_dequant_Q4_1),
        cmocka_unit_test(test_dequant_Q5_0),
        cmocka_unit_test(test_dequant_Q5_1),
        cmocka_unit_test(test_dequant_Q8_0),
        cmocka_unit_test(test_dequant_Q4_K),
        cmocka_unit_test(test_dequant_Q5_K),
        cmocka_unit_test(test_dequant_Q6_K),
        cmocka_unit_test(test_dequant_Q2_K),
        cmocka_unit_test(test_dequant_Q3_K),
        cmocka_unit_test(test_dequant_IQ4_NL),
        cmocka_unit_test(test_dequant_IQ4_XS),
        cmocka_unit_test(test_dequant_MXFP4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
