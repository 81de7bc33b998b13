/* Cost of grammar-constrained sampling inside real generation.
 *
 *   bench-bench_grammar MODEL GRAMMAR.gbnf|SCHEMA.json [N] [THREADS]
 *
 * Generates N tokens (default 64) with the default chain (temperature 0.8, seed 1) from a
 * ChatML prompt asking for JSON, twice: without and with the grammar (a .json file is
 * read as a JSON schema). Reports per token: the decode's wall time, and the thread CPU
 * time of infer_sampler_sample + infer_sampler_accept (CPU time: the machines here are
 * shared, wall time of a sub-millisecond call would mostly measure the neighbours). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "infer.h"

static double cpu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (b && fread(b, 1, (size_t)len, f) != (size_t)len) len = 0;
    if (b) b[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return b;
}

static int run(infer_model *m, infer_ctx *c, const char *gtext, size_t glen, int schema, int n_gen) {
    static const char *prompt = "<|im_start|>user\nDescribe three cats as JSON: name, age, colors, indoor.<|im_end|>\n"
                                "<|im_start|>assistant\n";
    infer_sampler_params sp = infer_sampler_default_params();
    sp.seed = 1;
    infer_sampler *s;
    infer_error err = {0};
    if (infer_sampler_chain_new(m, 0, sp.seed, &s, &err) != INFER_OK) return 1;
    infer_status st = INFER_OK;
    if (gtext) st = schema ? infer_sampler_add_json_schema(s, gtext, glen) : infer_sampler_add_grammar(s, gtext, glen, NULL);
    if (st == INFER_OK) st = infer_sampler_add_defaults(s, &sp);
    if (st != INFER_OK) {
        fprintf(stderr, "error: %s\n", infer_sampler_last_error(s));
        infer_sampler_free(s);
        return 1;
    }
    int32_t toks[256];
    size_t n = 0;
    infer_tokenize(m, prompt, strlen(prompt), 0, 1, toks, 256, &n);
    infer_ctx_kv_clear(c);
    st = infer_ctx_decode(c, toks, NULL, NULL, (int32_t)n);
    double t_sample = 0, t_decode = 0;
    int i = 0;
    for (; i < n_gen && st == INFER_OK; i++) {
        double c0 = cpu_now_s();
        int32_t tok = infer_sampler_sample(s, infer_ctx_logits(c, i == 0 ? (int32_t)n - 1 : 0));
        if (tok < 0 || infer_token_is_eog(m, tok)) {
            t_sample += cpu_now_s() - c0;
            break;
        }
        infer_sampler_accept(s, tok);
        t_sample += cpu_now_s() - c0;
        double w0 = bench_now_s();
        st = infer_ctx_decode(c, &tok, NULL, NULL, 1);
        t_decode += bench_now_s() - w0;
    }
    printf("%-9s %4d tokens  decode %7.2f ms/token (wall)  sampling %7.1f us/token (CPU)\n", gtext ? "grammar" : "plain", i,
           i ? 1e3 * t_decode / i : 0.0, i ? 1e6 * t_sample / i : 0.0);
    infer_sampler_free(s);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL GRAMMAR.gbnf|SCHEMA.json [N] [THREADS]\n", argv[0]);
        return 2;
    }
    int n_gen = argc > 3 ? atoi(argv[3]) : 64;
    infer_model *m;
    infer_ctx *c;
    infer_error err = {0};
    if (infer_model_load(argv[1], NULL, &m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = 1024;
    cp.backend = INFER_BACKEND_CPU;
    cp.n_threads = argc > 4 ? atoi(argv[4]) : 0;
    if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    size_t glen = 0;
    char *g = read_all(argv[2], &glen);
    if (!g) {
        fprintf(stderr, "error: cannot read %s\n", argv[2]);
        return 1;
    }
    size_t pl = strlen(argv[2]);
    int schema = pl > 5 && strcmp(argv[2] + pl - 5, ".json") == 0;
    printf("%s, vocab %d, %s\n", argv[1], infer_model_n_vocab(m), argv[2]);
    int rc = run(m, c, NULL, 0, 0, n_gen) || run(m, c, g, glen, schema, n_gen);
    free(g);
    infer_ctx_free(c);
    infer_model_free(m);
    return rc;
}
