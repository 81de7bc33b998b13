/* infer_cpu_moe (grouped expert matmuls) against two straightforward per-token references
 * that share no code with it:
 *   - per token, its own top-k (a full sort) and softmax, then each chosen expert's
 *     gate/up/down as one-token matvecs through infer_cpu_matmul on the scalar kernels,
 *     the SwiGLU-OAI formula written out here, and the weighted sum. The activations are
 *     rounded exactly as the op rounds them, so every ISA path must agree closely (1e-4
 *     relative L2 per token, measured <= 4e-7; only float summation order and the vector exp differ);
 *   - the same in double precision on the dequantized weights (the dequantizers are
 *     bit-exact with the reference engine, see test_dtype), with float activations: this
 *     checks that the scalar reference itself is sane, up to the 8-bit activation rounding
 *     (measured up to 2.5% per token for Q8_K's 256-wide blocks; bound 5e-2).
 * Shapes are awkward on purpose: fewer tokens than experts, one expert taking every token
 * (so AMX's 16-token tiles are used where the type has them), experts with no tokens,
 * tied router logits, n_ff not a multiple of the op's row blocks. Every ISA path this
 * machine has is run. */
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
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/threadpool.h"
#include "tensor/dtype.h"

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static double uniform01(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static float gauss(void) { return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01())); }

static const char *isa_env[] = {"scalar", "avx2", "avx512", "neon", "amx"};
static const infer_cpu_isa isa_val[] = {INFER_ISA_SCALAR, INFER_ISA_AVX2, INFER_ISA_AVX512, INFER_ISA_NEON,
                                        INFER_ISA_AMX};
static int isa_runnable(int i) {
    const infer_cpu_isa have = infer_cpu_isa_detect();
    if (isa_val[i] == INFER_ISA_NEON || have == INFER_ISA_NEON) return isa_val[i] == have || isa_val[i] == INFER_ISA_SCALAR;
    return isa_val[i] <= have;
}

typedef enum { ROUTE_RANDOM, ROUTE_ONE_EXPERT, ROUTE_TIES } route_kind;

typedef struct {
    int64_t T, E, F;
    int32_t NE, K;
    uint32_t type;
    void *wg, *wu, *wd;            /* quantized, NE x rows x cols */
    float *dg, *du, *dd;           /* dequantized */
    float *bg, *bu, *bd;           /* biases */
    float *x, *router;
    double *ref;                   /* T x E, double precision on dequantized weights */
    double *ref_q;                 /* T x E, per-token scalar kernels */
} moe_case;

static void *rand_weights(uint32_t type, int64_t n_rows, int64_t cols, float **deq) {
    const infer_dtype_traits *tr = infer_dtype_traits_get(type);
    const size_t rb = infer_dtype_row_bytes(type, cols);
    uint8_t *w = malloc(rb * (size_t)n_rows);
    *deq = malloc(sizeof(float) * (size_t)(n_rows * cols));
    float *tmp = malloc(sizeof(float) * (size_t)cols);
    for (int64_t r = 0; r < n_rows; r++) {
        for (int64_t c = 0; c < cols; c++) tmp[c] = gauss() * 0.08f;
        tr->from_float(tmp, w + rb * (size_t)r, cols);
        tr->to_float(w + rb * (size_t)r, *deq + r * cols, cols);
    }
    free(tmp);
    return w;
}

static float *rand_vec(int64_t n, float scale) {
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) v[i] = gauss() * scale;
    return v;
}

/* Reference top-k: a full sort by (logit descending, index ascending). */
static void ref_route(const float *logits, int32_t NE, int32_t K, int32_t *ids, double *w) {
    int32_t *order = malloc(sizeof(int32_t) * (size_t)NE);
    for (int32_t e = 0; e < NE; e++) order[e] = e;
    for (int32_t a = 1; a < NE; a++)
        for (int32_t b = a; b > 0; b--) {
            const int32_t p = order[b - 1], q = order[b];
            if (logits[q] > logits[p] || (logits[q] == logits[p] && q < p)) {
                order[b - 1] = q;
                order[b] = p;
            }
        }
    double sum = 0;
    for (int32_t s = 0; s < K; s++) {
        ids[s] = order[s];
        w[s] = exp((double)logits[order[s]] - logits[order[0]]);
        sum += w[s];
    }
    for (int32_t s = 0; s < K; s++) w[s] /= sum;
    free(order);
}

static double swiglu_oai(double g, double u) {
    const double alpha = 1.702, limit = 7.0;
    g = g < limit ? g : limit;
    u = u < -limit ? -limit : u > limit ? limit : u;
    return g / (1.0 + exp(-alpha * g)) * (u + 1.0);
}

static void case_make(moe_case *c, uint32_t type, int64_t T, int64_t E, int64_t F, int32_t NE, int32_t K,
                      route_kind route) {
    *c = (moe_case){.T = T, .E = E, .F = F, .NE = NE, .K = K, .type = type};
    c->wg = rand_weights(type, NE * F, E, &c->dg);
    c->wu = rand_weights(type, NE * F, E, &c->du);
    c->wd = rand_weights(type, NE * E, F, &c->dd);
    /* gate biases large enough that some pre-activations pass the +-7 clamp */
    c->bg = rand_vec(NE * F, 3.0f);
    c->bu = rand_vec(NE * F, 3.0f);
    c->bd = rand_vec(NE * E, 0.1f);
    c->x = rand_vec(T * E, 1.0f);
    for (int64_t i = 0; i < T * E; i++)
        if (i % E % 37 == 5) c->x[i] *= 6.0f;   /* a few large channels, as real hidden states have */
    c->router = rand_vec(T * NE, 1.0f);
    for (int64_t t = 0; t < T; t++) {
        float *r = c->router + t * NE;
        if (route == ROUTE_ONE_EXPERT) r[NE / 2 + 1] = 20.0f;                     /* slot 0 of every token */
        if (route == ROUTE_TIES && t % 2 == 0) for (int32_t e = 0; e < NE; e++) r[e] = 0.5f;   /* all tied */
    }
    c->ref = calloc((size_t)(T * E), sizeof(double));
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)K);
    double *w = malloc(sizeof(double) * (size_t)K), *g = malloc(sizeof(double) * (size_t)F);
    for (int64_t t = 0; t < T; t++) {
        const float *xt = c->x + t * E;
        ref_route(c->router + t * NE, NE, K, ids, w);
        for (int32_t s = 0; s < K; s++) {
            const int64_t e = ids[s];
            for (int64_t f = 0; f < F; f++) {
                const float *rg = c->dg + (e * F + f) * E, *ru = c->du + (e * F + f) * E;
                double sg = c->bg[e * F + f], su = c->bu[e * F + f];
                for (int64_t i = 0; i < E; i++) {
                    sg += (double)rg[i] * xt[i];
                    su += (double)ru[i] * xt[i];
                }
                g[f] = swiglu_oai(sg, su);
            }
            for (int64_t o = 0; o < E; o++) {
                const float *rd = c->dd + (e * E + o) * F;
                double sd = c->bd[e * E + o];
                for (int64_t f = 0; f < F; f++) sd += (double)rd[f] * g[f];
                c->ref[t * E + o] += w[s] * sd;
            }
        }
    }
    free(ids); free(w); free(g);
}

/* The per-token reference on the scalar kernels: one matvec per token and chosen expert. */
static void ref_scalar_kernels(moe_case *c) {
    const int64_t T = c->T, E = c->E, F = c->F;
    setenv("INFER_CPU_ISA", "scalar", 1);
    infer_threadpool *tp = infer_threadpool_new(1);
    infer_cpu_scratch *sc = infer_cpu_scratch_new();
    const size_t rbe = infer_dtype_row_bytes(c->type, E), rbf = infer_dtype_row_bytes(c->type, F);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)c->K);
    double *w = malloc(sizeof(double) * (size_t)c->K);
    float *g = malloc(sizeof(float) * (size_t)F), *u = malloc(sizeof(float) * (size_t)F);
    float *h = malloc(sizeof(float) * (size_t)F), *y = malloc(sizeof(float) * (size_t)E);
    c->ref_q = calloc((size_t)(T * E), sizeof(double));
    for (int64_t t = 0; t < T; t++) {
        ref_route(c->router + t * c->NE, c->NE, c->K, ids, w);
        for (int32_t s = 0; s < c->K; s++) {
            const int64_t e = ids[s];
            assert_int_equal(infer_cpu_matmul(tp, sc, (const uint8_t *)c->wg + (size_t)(e * F) * rbe, c->type, F, E,
                                              c->x + t * E, 1, g), 0);
            assert_int_equal(infer_cpu_matmul(tp, sc, (const uint8_t *)c->wu + (size_t)(e * F) * rbe, c->type, F, E,
                                              c->x + t * E, 1, u), 0);
            for (int64_t f = 0; f < F; f++) {
                const float gv = g[f] + c->bg[e * F + f], uv = u[f] + c->bu[e * F + f];
                h[f] = (float)swiglu_oai(gv, uv);
            }
            assert_int_equal(infer_cpu_matmul(tp, sc, (const uint8_t *)c->wd + (size_t)(e * E) * rbf, c->type, E, F,
                                              h, 1, y), 0);
            for (int64_t o = 0; o < E; o++) c->ref_q[t * E + o] += w[s] * (y[o] + c->bd[e * E + o]);
        }
    }
    unsetenv("INFER_CPU_ISA");
    free(ids); free(w); free(g); free(u); free(h); free(y);
    infer_cpu_scratch_free(sc);
    infer_threadpool_free(tp);
}

static void case_free(moe_case *c) {
    free(c->wg); free(c->wu); free(c->wd); free(c->dg); free(c->du); free(c->dd);
    free(c->bg); free(c->bu); free(c->bd); free(c->x); free(c->router); free(c->ref); free(c->ref_q);
}

/* Largest per-token relative L2 error of out against ref; fails above tol. */
static double worst_error(const moe_case *c, const float *out, const double *ref, double tol, const char *isa,
                          const char *what) {
    double worst = 0;
    for (int64_t t = 0; t < c->T; t++) {
        double d2 = 0, r2 = 0;
        for (int64_t o = 0; o < c->E; o++) {
            const double r = ref[t * c->E + o], d = out[t * c->E + o] - r;
            d2 += d * d;
            r2 += r * r;
        }
        const double rel = sqrt(d2 / (r2 > 0 ? r2 : 1));
        worst = rel > worst ? rel : worst;
        if (!(rel <= tol)) {
            print_error("%s %s T=%lld E=%lld F=%lld NE=%d K=%d: token %lld relative error %.3g > %.3g against the %s reference\n",
                        isa, infer_type_name(c->type), (long long)c->T, (long long)c->E, (long long)c->F, c->NE, c->K,
                        (long long)t, rel, tol, what);
            fail();
        }
    }
    return worst;
}

static void check_case(const moe_case *c) {
    infer_threadpool *tp = infer_threadpool_new(2);
    infer_cpu_scratch *sc = infer_cpu_scratch_new();
    infer_cpu_ws ws = {0};
    float *out = malloc(sizeof(float) * (size_t)(c->T * c->E));
    for (int i = 0; i < (int)(sizeof isa_env / sizeof isa_env[0]); i++) {
        if (!isa_runnable(i)) continue;
        setenv("INFER_CPU_ISA", isa_env[i], 1);
        memset(out, 0xFF, sizeof(float) * (size_t)(c->T * c->E));   /* NaN: every output must be written */
        infer_cpu_moe_args a = {
            .x = c->x, .router = c->router, .n_tok = c->T, .n_embd = c->E, .n_ff = c->F,
            .n_expert = c->NE, .k = c->K, .w_gate = c->wg, .w_up = c->wu, .w_down = c->wd,
            .w_gate_type = c->type, .w_up_type = c->type, .w_down_type = c->type,
            .b_gate = c->bg, .b_up = c->bu, .b_down = c->bd,
            .glu = INFER_GLU_SWIGLU_OAI, .alpha = 1.702f, .limit = 7.0f, .out = out,
        };
        infer_error err = {0};
        assert_int_equal(infer_cpu_moe(tp, sc, &ws, &a, &err), INFER_OK);
        const double worst_q = worst_error(c, out, c->ref_q, c->type == INFER_TYPE_F32 ? 1e-5 : 1e-4, isa_env[i], "scalar kernels");
        const double worst_d = worst_error(c, out, c->ref, c->type == INFER_TYPE_F32 ? 1e-5 : 5e-2, isa_env[i], "double");
        print_message("%-6s %-6s T=%-3lld NE=%-2d K=%d: worst token relative error %.2e (scalar kernels), %.2e (double)\n",
                      isa_env[i], infer_type_name(c->type), (long long)c->T, c->NE, c->K, worst_q, worst_d);
    }
    unsetenv("INFER_CPU_ISA");
    free(out);
    infer_cpu_ws_free(&ws);
    infer_cpu_scratch_free(sc);
    infer_threadpool_free(tp);
}

static void run(uint32_t type, int64_t T, int64_t E, int64_t F, int32_t NE, int32_t K, route_kind route) {
    moe_case c;
    case_make(&c, type, T, E, F, NE, K, route);
    ref_scalar_kernels(&c);
    check_case(&c);
    case_free(&c);
}

/* the gpt-oss formats, K-quant shapes where rows must be multiples of 256 */
static const uint32_t types_32[] = {INFER_TYPE_F32, INFER_TYPE_MXFP4, INFER_TYPE_Q8_0, INFER_TYPE_IQ4_NL, INFER_TYPE_Q4_0};

/* 3 tokens, top-4 of 32: fewer tokens than experts, most experts get none. */
static void test_few_tokens(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof types_32 / sizeof types_32[0]; i++) run(types_32[i], 3, 96, 160, 32, 4, ROUTE_RANDOM);
}

/* One token (decode). */
static void test_one_token(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof types_32 / sizeof types_32[0]; i++) run(types_32[i], 1, 64, 96, 8, 2, ROUTE_RANDOM);
}

/* 37 tokens all routed to one expert in slot 0 (>= 16: AMX tiles where the type has
 * them), the other slots spread; n_ff not a multiple of the op's 64-row blocks. */
static void test_one_expert_takes_all(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof types_32 / sizeof types_32[0]; i++) run(types_32[i], 37, 256, 224, 32, 4, ROUTE_ONE_EXPERT);
    run(INFER_TYPE_Q4_K, 37, 256, 256, 8, 2, ROUTE_ONE_EXPERT);
    run(INFER_TYPE_Q6_K, 20, 256, 512, 4, 4, ROUTE_ONE_EXPERT);   /* k == n_expert */
}

/* Every other token has all logits equal: the lowest expert indices win. */
static void test_tied_logits(void **state) {
    (void)state;
    run(INFER_TYPE_MXFP4, 9, 64, 64, 16, 4, ROUTE_TIES);
    run(INFER_TYPE_Q8_0, 9, 64, 64, 16, 4, ROUTE_TIES);
}

static void test_bad_shape(void **state) {
    (void)state;
    infer_threadpool *tp = infer_threadpool_new(1);
    infer_cpu_ws ws = {0};
    float x[64] = {0}, r[4] = {0}, out[64];
    uint8_t w[64 * 64 * 4] = {0};
    infer_cpu_moe_args a = {.x = x, .router = r, .n_tok = 1, .n_embd = 64, .n_ff = 64, .n_expert = 4, .k = 5,
                            .w_gate = w, .w_up = w, .w_down = w, .w_gate_type = INFER_TYPE_Q8_0,
                            .w_up_type = INFER_TYPE_Q8_0, .w_down_type = INFER_TYPE_Q8_0,
                            .glu = INFER_GLU_SWIGLU_OAI, .alpha = 1.702f, .limit = 7.0f, .out = out};
    infer_error err = {0};
    assert_int_equal(infer_cpu_moe(tp, NULL, &ws, &a, &err), INFER_ERR_INVALID_ARG);   /* k > n_expert */
    a.k = 2;
    a.n_embd = 48;   /* not a multiple of Q8_0's 32-weight blocks */
    assert_int_equal(infer_cpu_moe(tp, NULL, &ws, &a, &err), INFER_ERR_UNSUPPORTED);
    infer_cpu_ws_free(&ws);
    infer_threadpool_free(tp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_few_tokens),
        cmocka_unit_test(test_one_token),
        cmocka_unit_test(test_one_expert_takes_all),
        cmocka_unit_test(test_tied_logits),
        cmocka_unit_test(test_bad_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
