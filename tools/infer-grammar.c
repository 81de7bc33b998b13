/* infer-grammar: the grammar side of the library from the command line.
 *
 *   infer-grammar GRAMMAR                             print the GBNF (of a JSON schema, of -j)
 *   infer-grammar GRAMMAR --check-file T              does T match? (sentence/prefix/no)
 *   infer-grammar GRAMMAR -m VOCAB.gguf --random N [--seed S] [--end-prob P] [--temp T] [--compare]
 *       sample N tokens from random logits under the grammar (a vocab-only model is
 *       enough): a stress test of the grammar stage on a real vocabulary, and a speed
 *       measurement (CPU time per sampled token; --compare: also the same chain
 *       without the grammar on the same logits)
 *
 * GRAMMAR is --grammar TEXT, --grammar-file F, --json-schema F or -j. Exit status 0, or 1
 * with "error: ..." on stderr (a malformed grammar names its line and column).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infer.h"
#include "tool_util.h"

typedef struct args {
    const char *grammar, *grammar_file, *schema_file, *check_file, *model;
    int json_object, random_n, compare;
    uint64_t seed;
    double end_prob, temp;
} args;

/* CPU time of this thread: the machine may be shared, wall time would count others. */
static double cpu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) {   /* splitmix64: test logits, not the sampler's RNG */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* The GBNF text of the options (malloc'd), or NULL after printing the error. */
static char *grammar_text(const args *a, size_t *len) {
    if (a->grammar) {
        *len = strlen(a->grammar);
        return strdup(a->grammar);
    }
    if (a->json_object) {
        *len = strlen(infer_json_object_grammar());
        return strdup(infer_json_object_grammar());
    }
    const char *path = a->grammar_file ? a->grammar_file : a->schema_file;
    if (!path) {
        fprintf(stderr, "error: no grammar given (--grammar, --grammar-file, --json-schema, -j)\n");
        return NULL;
    }
    size_t n = 0;
    char *text = tool_read_file(path, &n);
    if (!text) {
        fprintf(stderr, "error: cannot read %s\n", path);
        return NULL;
    }
    if (a->grammar_file) {
        *len = n;
        return text;
    }
    infer_error err = {0};
    size_t need = 0;
    infer_status st = infer_json_schema_to_grammar(text, n, NULL, 0, &need, &err);
    char *g = st == INFER_ERR_BUFFER_SMALL ? malloc(need + 1) : NULL;
    if (g) st = infer_json_schema_to_grammar(text, n, g, need + 1, &need, &err);
    free(text);
    if (!g || st != INFER_OK) {
        fprintf(stderr, "error: %s: %s\n", path, g ? err.message : st == INFER_OK ? "?" : err.message);
        free(g);
        return NULL;
    }
    *len = need;
    return g;
}

static void fill_logits(float *l, int32_t n, uint64_t *rs, const infer_model *m, double end_prob) {
    for (int32_t i = 0; i < n; i++) {
        /* Two uniforms per 64-bit draw, summed: a cheap bell shape with sd ~2.4. */
        uint64_t r = rng_next(rs);
        l[i] = (float)((double)(r >> 40) * 0x1.0p-24 + (double)(r & 0xFFFFFF) * 0x1.0p-24 - 1.0) * 6.0f;
    }
    int end = rng_unit(rs) < end_prob;
    for (int32_t i = 0; i < n; i++)
        if (infer_token_is_eog(m, i)) l[i] = end ? 100.0f : -100.0f;
}

/* Samples n tokens twice per step: timing the chain with and without the grammar. */
static int random_walk(const args *a, const char *gbnf, size_t glen) {
    infer_model_params mp = infer_model_default_params();
    mp.vocab_only = 1;
    infer_model *m;
    infer_error err = {0};
    if (infer_model_load(a->model, &mp, &m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    int32_t nv = infer_model_n_vocab(m);
    infer_sampler_params sp = infer_sampler_default_params();
    sp.seed = a->seed;
    sp.temperature = (float)a->temp;
    infer_sampler *with = NULL, *plain = NULL;
    int rc = 1;
    float *logits = malloc((size_t)nv * sizeof *logits);
    if (!logits || infer_sampler_chain_new(m, 0, a->seed, &with, &err) != INFER_OK ||
        infer_sampler_init(m, 0, &sp, &plain, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message[0] ? err.message : "out of memory");
        goto done;
    }
    if (infer_sampler_add_grammar(with, gbnf, glen, NULL) != INFER_OK || infer_sampler_add_defaults(with, &sp) != INFER_OK) {
        fprintf(stderr, "error: %s\n", infer_sampler_last_error(with));
        goto done;
    }
    uint64_t rs = a->seed * 7919 + 1;
    double t_with = 0, t_plain = 0;
    int steps = 0, complete = 0;
    for (; steps < a->random_n; steps++) {
        fill_logits(logits, nv, &rs, m, a->end_prob);
        double t0 = cpu_now_s();
        int32_t tok = infer_sampler_sample(with, logits);
        double t1 = cpu_now_s();
        if (a->compare) {
            (void)infer_sampler_sample(plain, logits);
            t_plain += cpu_now_s() - t1;
        }
        t_with += t1 - t0;
        if (tok < 0) {
            fprintf(stderr, "\nerror: %s\n", infer_sampler_last_error(with));
            goto done;
        }
        if (infer_token_is_eog(m, tok)) {
            complete = 1;
            break;
        }
        if (infer_sampler_accept(with, tok) != INFER_OK) {
            fprintf(stderr, "\nerror: %s\n", infer_sampler_last_error(with));
            goto done;
        }
        char buf[512];
        size_t n = 0;
        if (infer_token_to_bytes(m, tok, buf, sizeof buf, &n) == INFER_OK) fwrite(buf, 1, n, stdout);
    }
    fflush(stdout);
    fprintf(stderr, "\n[%s after %d tokens] vocab %d: sampling %.1f us/token with the grammar", complete ? "complete" : "cut",
            steps, nv, 1e6 * t_with / (steps + complete ? steps + complete : 1));
    if (a->compare) fprintf(stderr, ", %.1f us/token without", 1e6 * t_plain / (steps + complete ? steps + complete : 1));
    fprintf(stderr, " (thread CPU time)\n");
    rc = 0;
done:
    free(logits);
    infer_sampler_free(with);
    infer_sampler_free(plain);
    infer_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    args a = {.seed = 1, .end_prob = 0.05, .temp = 0.8};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(o, name) == 0 && v && (i++, 1))
        if (strcmp(o, "-j") == 0) a.json_object = 1;
        else if (strcmp(o, "--compare") == 0) a.compare = 1;
        else if (OPT("--grammar")) a.grammar = v;
        else if (OPT("--grammar-file")) a.grammar_file = v;
        else if (OPT("--json-schema")) a.schema_file = v;
        else if (OPT("--check-file")) a.check_file = v;
        else if (OPT("-m")) a.model = v;
        else if (OPT("--random")) a.random_n = atoi(v);
        else if (OPT("--seed")) a.seed = strtoull(v, NULL, 10);
        else if (OPT("--end-prob")) a.end_prob = atof(v);
        else if (OPT("--temp")) a.temp = atof(v);
        else {
            fprintf(stderr, "usage: %s (--grammar G | --grammar-file F | --json-schema F | -j)\n"
                            "          [--check-file T | -m VOCAB.gguf --random N [--seed S] [--end-prob P] [--temp T] [--compare]]\n",
                    argv[0]);
            return 2;
        }
#undef OPT
    }
    size_t glen = 0;
    char *g = grammar_text(&a, &glen);
    if (!g) return 1;
    infer_grammar *gr;
    infer_error err = {0};
    if (infer_grammar_parse(g, glen, NULL, &gr, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        free(g);
        return 1;
    }
    int rc = 0;
    if (a.check_file) {
        size_t n = 0;
        char *t = tool_read_file(a.check_file, &n);
        if (!t) {
            fprintf(stderr, "error: cannot read %s\n", a.check_file);
            rc = 1;
        } else {
            int r = infer_grammar_match(gr, t, n);
            printf("%s\n", r == 1 ? "sentence" : r == 2 ? "prefix" : "no");
            free(t);
        }
    } else if (a.model && a.random_n > 0) {
        rc = random_walk(&a, g, glen);
    } else {
        fwrite(g, 1, glen, stdout);   /* the grammar itself (a schema's conversion, -j's) */
    }
    infer_grammar_free(gr);
    free(g);
    return rc;
}
