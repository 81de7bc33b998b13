/* One-token kernels (gemv.h) against the AVX2 / AVX-512 tile kernels they stand in for: the same
 * bits for every row, as a token alone must give what it gives inside a batch (the tile
 * with 2 and with 8 tokens; the 256-bit MXFP4 kernel the tile used for one token before
 * rounds a subnormal block scale twice and can differ in the last bit there), over awkward block counts (odd ones, 1, the stack table's
 * limit), extreme block scales (E8M0 0 and 1 are subnormal halves, fp16 subnormals and
 * large values), and rows that end at an unmapped page (the kernels may not read past
 * the last block); and every row against the double-precision dot of the dequantized
 * weights (the dtype's reference to_float) with the quantized token, within float
 * rounding. The tiles themselves are checked against the double reference in test_matmul. Each ISA the CPU has; skipped (77) without AVX2. */
#define _DEFAULT_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "infer.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemv.h"
#include "kernels/cpu/vec_dot.h"
#include "quant/blocks.h"
#include "tensor/dtype.h"

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}
static float gauss(void) {
    const double u = ((next_u32() >> 8) + 0.5) / 16777216.0, v = ((next_u32() >> 8) + 0.5) / 16777216.0;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

static int failures;

/* rows x nb blocks of `type` ending exactly at a PROT_NONE page. */
typedef struct { uint8_t *map; size_t map_bytes; uint8_t *w; } guarded;

static int guarded_alloc(guarded *g, size_t bytes) {
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t body = (bytes + page - 1) / page * page;
    g->map_bytes = body + page;
    g->map = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) return -1;
    if (mprotect(g->map + body, page, PROT_NONE) != 0) return -1;
    g->w = g->map + body - bytes;
    return 0;
}

/* Random blocks; every `odd`-th block gets an extreme scale. */
static void fill_weights(uint32_t type, uint8_t *w, int64_t rows, int64_t nb) {
    const int64_t n = rows * nb;
    if (type == INFER_TYPE_MXFP4) {
        block_mxfp4 *b = (block_mxfp4 *)w;
        static const uint8_t extreme[] = {0, 1, 2, 60, 200};
        for (int64_t i = 0; i < n; i++) {
            b[i].e = (uint8_t)(118 + next_u32() % 14);
            if (next_u32() % 7 == 0) b[i].e = extreme[next_u32() % 5];
            for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)next_u32();
        }
    } else if (type == INFER_TYPE_IQ4_NL) {
        block_iq4_nl *b = (block_iq4_nl *)w;
        static const uint16_t extreme[] = {0x0001, 0x03FF, 0x8400, 0x7BFF, 0x0000};
        for (int64_t i = 0; i < n; i++) {
            b[i].d = infer_f32_to_fp16((next_u32() & 1 ? -0.001f : 0.001f) * (float)(1 + next_u32() % 100));
            if (next_u32() % 7 == 0) b[i].d = extreme[next_u32() % 5];
            for (int j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)next_u32();
        }
    } else {
        block_q8_0 *b = (block_q8_0 *)w;
        static const uint16_t extreme[] = {0x0001, 0x03FF, 0x0400, 0x7BFF, 0x8000 | 0x3C00, 0x0000};
        for (int64_t i = 0; i < n; i++) {
            b[i].d = infer_f32_to_fp16(0.01f * (0.5f + (float)(next_u32() % 1000) / 500.0f));
            if (next_u32() % 7 == 0) b[i].d = extreme[next_u32() % 6];
            for (int j = 0; j < 32; j++) b[i].qs[j] = (int8_t)next_u32();   /* -128 included */
        }
    }
}

/* isa: 0 = AVX2, 1 = AVX-512 (with VBMI where the CPU has it), 2 = AVX-512 without VBMI */
static void check(int isa, uint32_t type, int64_t rows, int64_t nb) {
    const infer_vec_dot_kernel *k = isa ? infer_vec_dot_avx512(type) : infer_vec_dot_avx2(type);
    const infer_dot_rows_fn gemv = isa == 2 ? infer_gemv_avx512_variant(type, 0) : isa ? infer_gemv_avx512(type) : infer_gemv_avx2(type);
    const infer_quantize_act_fn quantize = isa ? infer_quantize_act_avx512(INFER_ACT_Q8) : infer_quantize_act_avx2(INFER_ACT_Q8);
    const int wide = k && k->max_nt > 0 ? k->max_nt : INFER_DOT_MAX_NT;   /* the batch tile's width */
    if (!k || !gemv || !quantize) {
        printf("FAIL %s: no %s kernel\n", infer_type_name(type), isa ? "AVX-512" : "AVX2");
        failures++;
        return;
    }
    const int64_t cols = nb * 32;
    const size_t rb = infer_dtype_row_bytes(type, cols);
    const size_t xs = infer_act_row_bytes(INFER_ACT_Q8, cols);
    guarded g;
    if (guarded_alloc(&g, rb * (size_t)rows) != 0) {
        printf("FAIL: mmap\n");
        failures++;
        return;
    }
    fill_weights(type, g.w, rows, nb);
    /* 8 tokens for the batch tile; token 0 also runs alone. A few large channels and a
     * block of zeros (scale 0) as real activations have. */
    float *x = malloc(sizeof(float) * (size_t)(8 * cols));
    uint8_t *xq = malloc(xs * 8);
    float *y = malloc(sizeof(float) * (size_t)rows);
    for (int64_t i = 0; i < 8 * cols; i++) x[i] = gauss() * ((i % cols) % 53 == 7 ? 30.0f : 1.0f);
    if (nb > 2) memset(x + 32, 0, sizeof(float) * 32);
    for (int t = 0; t < 8; t++) quantize(x + t * cols, xq + (size_t)t * xs, cols);
    memset(y, 0xFF, sizeof(float) * (size_t)rows);
    if (gemv(nb, g.w, rb, rows, xq, y) != 0) {
        printf("FAIL %s nb=%lld: the kernel refused the shape\n", infer_type_name(type), (long long)nb);
        failures++;
    }
    int bad = 0;
    for (int64_t r = 0; r < rows && bad < 3; r++) {
        float two[2], many[8];
        k->dot(nb, g.w + (size_t)r * rb, xq, xs, 2, two);
        k->dot(nb, g.w + (size_t)r * rb, xq, xs, wide, many);
        if (memcmp(&y[r], &two[0], 4) != 0 || memcmp(&y[r], &many[0], 4) != 0) {
            printf("FAIL %s %s rows=%lld nb=%lld row %lld: gemv %.9g tile(2) %.9g tile(%d) %.9g\n",
                   isa == 2 ? "avx512-novbmi" : isa ? "avx512" : "avx2",
                   infer_type_name(type), (long long)rows, (long long)nb, (long long)r, y[r], two[0], wide, many[0]);
            bad++;
        }
    }
    /* and against the double-precision dot of the dequantized weights and the quantized
     * token (the scalar reference), within float rounding of the row's absolute mass */
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    float *wd = malloc(sizeof(float) * (size_t)cols);
    const infer_act_q8 *xb = (const infer_act_q8 *)xq;
    for (int64_t r = 0; r < rows && bad < 3; r++) {
        tr->to_float(g.w + (size_t)r * rb, wd, cols);
        double ref = 0.0, mass = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            const double p = (double)wd[c] * ((double)xb[c / 32].d * xb[c / 32].qs[c % 32]);
            ref += p;
            mass += fabs(p);
        }
        if (!(fabs((double)y[r] - ref) <= 1e-5 * mass + 1e-37)) {
            printf("FAIL %s %s rows=%lld nb=%lld row %lld: gemv %.9g reference %.9g (mass %.3g)\n",
                   isa == 2 ? "avx512-novbmi" : isa ? "avx512" : "avx2", infer_type_name(type), (long long)rows,
                   (long long)nb, (long long)r, y[r], ref, mass);
            bad++;
        }
    }
    free(wd);
    failures += bad;
    free(x);
    free(xq);
    free(y);
    munmap(g.map, g.map_bytes);
}

static void test_gemv_matches_tiles(void **state) {
    (void)state;
    static const uint32_t types[] = {INFER_TYPE_Q8_0, INFER_TYPE_MXFP4, INFER_TYPE_IQ4_NL};
    static const int64_t nbs[] = {1, 2, 3, 4, 5, 6, 7, 90, 91, 128, INFER_GEMV_MAX_BLOCKS - 1, INFER_GEMV_MAX_BLOCKS};
    static const int64_t rows[] = {1, 2, 4, 37, 67};   /* the kernels walk 4 row streams, then the rest one by one */
    int cases = 0;
    /* rows too long for the AVX-512 kernels' stack table are refused, not cut short */
    if (infer_cpu_isa_detect() >= INFER_ISA_AVX512) {
        float y0 = 0.0f;
        if (infer_gemv_avx512(INFER_TYPE_Q8_0)(INFER_GEMV_MAX_BLOCKS + 1, NULL, 0, 1, NULL, &y0) != -1 ||
            infer_gemv_avx512(INFER_TYPE_MXFP4)(INFER_GEMV_MAX_BLOCKS + 2, NULL, 0, 1, NULL, &y0) != -1 ||
            infer_gemv_avx512_variant(INFER_TYPE_MXFP4, 0)(INFER_GEMV_MAX_BLOCKS + 2, NULL, 0, 1, NULL, &y0) != -1) {
            printf("FAIL: a row over INFER_GEMV_MAX_BLOCKS was not refused\n");
            failures++;
        }
    }
    const infer_cpu_isa have = infer_cpu_isa_detect();
    for (int isa = 0; isa < 3; isa++) {
        if (have < (isa ? INFER_ISA_AVX512 : INFER_ISA_AVX2)) continue;
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
            for (size_t i = 0; i < sizeof nbs / sizeof nbs[0]; i++)
                for (size_t j = 0; j < sizeof rows / sizeof rows[0]; j++, cases++) check(isa, types[t], rows[j], nbs[i]);
    }
    printf("%d cases, %d failures\n", cases, failures);
    assert_int_equal(failures, 0);
}

int main(void) {
    if (infer_cpu_isa_is_arm(infer_cpu_isa_detect()) || infer_cpu_isa_detect() < INFER_ISA_AVX2) {
        printf("SKIP: no AVX2 on this CPU\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gemv_matches_tiles)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
