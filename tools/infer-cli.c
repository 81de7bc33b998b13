/* infer-cli: generate text from a prompt, or (with --tokens-file) dump the logits of a
 * token batch and its greedy continuation, the way the golden reference files were made.
 *
 *   infer-cli -m MODEL -p PROMPT [-n N] [--temp T --top-k K --top-p P --min-p M
 *             --repeat-penalty R --presence-penalty P --frequency-penalty F
 *             --repeat-last-n N --seed S] [-t THREADS] [-c CTX] [-b BATCH]
 *             [--backend auto|cpu|vulkan] [--device I] [--kv-f16] [--prompt-cache FILE]
 *             [--grammar GBNF | --grammar-file F | --json-schema F | -j]
 *             [--stop S]... [--logprobs N]
 *   infer-cli -m MODEL --tokens-file IDS.txt --logits-out OUT.f32 [--greedy N]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "prompt_cache.h"
#include "tool_args.h"
#include "tool_numbers.h"
#include "tool_sampling.h"
#include "tool_util.h"

typedef struct cli_args {
    const char *model, *prompt, *tokens_file, *logits_out, *prompt_cache;
    int n_predict, greedy;
    tool_ctx_opts ctx;
    infer_sampler_params sp;
    tool_sampling_opts out;
} cli_args;

static void usage(FILE *out, const char *argv0) {
    fprintf(out,
            "usage: %s -m MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--min-p M]\n"
            "          [--repeat-penalty R] [--presence-penalty P] [--frequency-penalty F]\n"
            "          [--repeat-last-n N] [--seed S] [-t THREADS] [-c CTX] [-b BATCH]\n"
            "          [--backend auto|cpu|vulkan] [--device I] [--kv-f16] [--force-threads] [--prompt-cache FILE]\n"
            "          [--grammar GBNF | --grammar-file F | --json-schema F | -j] [--stop S]... [--logprobs N]\n"
            "       %s -m MODEL --tokens-file IDS.txt --logits-out OUT.f32 [--greedy N]\n"
            "  -n N                   tokens to generate (default 128; -1: until a stop token or the context is full)\n%s",
            argv0, argv0, TOOL_CTX_OPTIONS_HELP);
}

/* 0: run; 1: --help/--version printed (exit 0); -1: a usage error (already reported). */
static int parse_args(int argc, char **argv, cli_args *a) {
    memset(a, 0, sizeof *a);
    a->n_predict = 128;
    tool_ctx_opts_init(&a->ctx);
    a->sp = infer_sampler_default_params();
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (tool_help_or_version(o, argv[0], usage)) return 1;
        int used = tool_model_option(o, v, &a->ctx, &a->sp);
        if (used < 0) return -1;
        if (used == 0) used = tool_sampling_option(o, v, &a->out);
        if (used < 0) return -1;
        if (used > 0) {
            i += used - 1;
            continue;
        }
#define OPT(name) (strcmp(o, name) == 0 && v && (i++, 1))
        if (OPT("-m") || OPT("--model")) a->model = v;
        else if (OPT("-p") || OPT("--prompt")) a->prompt = v;
        else if (OPT("-n") || OPT("--n-predict")) {
            if (tool_parse_int(o, v, -1, 0x7fffffff, &a->n_predict) != 0) return -1;
        }
        else if (OPT("--tokens-file")) a->tokens_file = v;
        else if (OPT("--logits-out")) a->logits_out = v;
        else if (OPT("--greedy")) {
            if (tool_parse_int(o, v, 0, 0x7fffffff, &a->greedy) != 0) return -1;
        } else if (OPT("--prompt-cache")) a->prompt_cache = v;
        else {
            fprintf(stderr, "error: unknown or incomplete option '%s'\n", o);
            return -1;
        }
#undef OPT
    }
    if (!a->model || (!a->prompt && !a->tokens_file) || (a->tokens_file && !a->logits_out)) {
        fprintf(stderr, "error: -m and -p (or --tokens-file with --logits-out) are required\n");
        return -1;
    }
    return 0;
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Whitespace-separated ids from a file into a growing array. */
static int32_t *read_ids(const char *path, int32_t *n_out) {
    size_t len;
    char *text = tool_read_file(path, &len);
    if (!text) return NULL;
    int32_t *ids = NULL, n = 0, cap = 0;
    char *p = text;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            int32_t *g = realloc(ids, (size_t)cap * sizeof *g);
            if (!g) {
                free(ids);
                free(text);
                return NULL;
            }
            ids = g;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    free(text);
    *n_out = n;
    return ids;
}

static int run_tokens_file(const cli_args *a, infer_model *m, infer_ctx *c) {
    int32_t n = 0;
    int32_t *ids = read_ids(a->tokens_file, &n);
    if (!ids || n == 0) {
        fprintf(stderr, "error: no token ids read from %s\n", a->tokens_file);
        free(ids);
        return 1;
    }
    const int32_t n_vocab = infer_model_n_vocab(m);
    int8_t *want = malloc((size_t)n);
    if (!want) {
        free(ids);
        return 1;
    }
    memset(want, 1, (size_t)n);
    infer_status st = infer_ctx_decode(c, ids, NULL, want, n);
    free(want);
    if (st != INFER_OK) {
        fprintf(stderr, "error: %s\n", infer_ctx_last_error(c));
        free(ids);
        return 1;
    }
    FILE *f = fopen(a->logits_out, "wb");
    if (!f) {
        fprintf(stderr, "error: cannot write %s\n", a->logits_out);
        free(ids);
        return 1;
    }
    for (int32_t i = 0; i < n; i++) fwrite(infer_ctx_logits(c, i), sizeof(float), (size_t)n_vocab, f);
    fclose(f);

    int32_t tok = argmax(infer_ctx_logits(c, n - 1), n_vocab);
    for (int i = 0; i < a->greedy; i++) {
        printf(i ? " %d" : "%d", tok);
        if (i + 1 == a->greedy) break;
        if ((st = infer_ctx_decode(c, &tok, NULL, NULL, 1)) != INFER_OK) {
            fprintf(stderr, "\nerror: %s\n", infer_ctx_last_error(c));
            free(ids);
            return 1;
        }
        tok = argmax(infer_ctx_logits(c, 0), n_vocab);
    }
    if (a->greedy > 0) printf("\n");
    free(ids);
    return 0;
}

/* Prints the token's text, holding back what may begin a stop string. Returns 1 when a
 * stop string completed (it is not printed). */
static int emit(infer_detok *d, infer_stop *stop, int32_t tok) {
    char buf[256], shown[256 + 1024];
    size_t n = 0, m = 0;
    int stopped = 0;
    if (infer_detok_push(d, tok, buf, sizeof buf, &n) != INFER_OK || n == 0) return 0;
    if (infer_stop_push(stop, buf, n, shown, sizeof shown, &m, &stopped) != INFER_OK) return 0;
    fwrite(shown, 1, m, stdout);
    fflush(stdout);
    return stopped;
}

static int run_prompt(const cli_args *a, infer_model *m, infer_ctx *c) {
    /* Special tokens written in the prompt (<|im_start|>, ...) are recognized, as the
     * reference's CLI does, so a hand-written chat prompt works. */
    size_t n = 0;
    infer_status st;
    int32_t *toks = tool_tokenize(m, a->prompt, strlen(a->prompt), infer_model_add_bos(m), 1, &n, &st);
    if (!toks || n == 0) {
        fprintf(stderr, "error: cannot tokenize the prompt (%s)\n", infer_status_str(st));
        free(toks);
        return 1;
    }
    infer_sampler *s = NULL;
    infer_stop *stop = NULL;
    infer_detok *d = NULL;
    infer_error err = {0};
    if (infer_detok_init(m, &d, &err) != INFER_OK || tool_sampler_make(m, &a->sp, &a->out, &s) != 0 ||
        infer_stop_new(a->out.stops, (size_t)a->out.n_stops, &stop, &err) != INFER_OK) {
        if (err.status) fprintf(stderr, "error: %s\n", err.message);
        free(toks);
        infer_sampler_free(s);
        infer_detok_free(d);
        return 1;
    }
    fputs(a->prompt, stdout);
    fflush(stdout);

    double t0 = tool_now_s();
    int32_t last = (int32_t)n - 1;   /* row of the logits to sample from */
    st = tool_prompt_eval(c, a->prompt_cache, toks, n, &last);
    double t_prompt = tool_now_s() - t0;
    int rc = 0, n_gen = 0;
    if (st != INFER_OK) {
        fprintf(stderr, "\nerror: %s\n", infer_ctx_last_error(c));
        rc = 1;
    }
    for (size_t i = 0; i < n; i++) infer_sampler_accept_prompt(s, toks[i]);

    double t1 = tool_now_s();
    for (int i = 0; rc == 0 && (a->n_predict < 0 || i < a->n_predict); i++) {
        const float *logits = infer_ctx_logits(c, last);
        int32_t tok = infer_sampler_sample(s, logits);
        last = 0;
        if (tok < 0) {
            fprintf(stderr, "\nerror: %s\n", infer_sampler_last_error(s));
            rc = 1;
            break;
        }
        if (a->out.logprobs > 0) tool_print_logprobs(m, logits, tok, a->out.logprobs);
        if (infer_token_is_eog(m, tok)) break;
        if (infer_sampler_accept(s, tok) != INFER_OK) {
            fprintf(stderr, "\nerror: %s\n", infer_sampler_last_error(s));
            rc = 1;
            break;
        }
        n_gen++;
        if (emit(d, stop, tok)) break;   /* a stop string completed */
        if (i + 1 == a->n_predict) break;
        st = infer_ctx_decode(c, &tok, NULL, NULL, 1);
        if (st == INFER_ERR_CONTEXT_FULL) {
            fprintf(stderr, "\n[context full after %d tokens]\n", infer_ctx_n_past(c));
            break;
        }
        if (st != INFER_OK) {
            fprintf(stderr, "\nerror: %s\n", infer_ctx_last_error(c));
            rc = 1;
        }
    }
    double t_gen = tool_now_s() - t1;
    char tail[64];
    size_t nt = 0;
    if (infer_stop_which(stop) < 0 && infer_detok_flush(d, tail, sizeof tail, &nt) == INFER_OK && nt) {
        char shown[64 + 1024];
        size_t m = 0;
        int stopped = 0;
        if (infer_stop_push(stop, tail, nt, shown, sizeof shown, &m, &stopped) == INFER_OK) fwrite(shown, 1, m, stdout);
    }
    if (infer_stop_which(stop) < 0) {
        char held[1024];
        size_t m = 0;
        if (infer_stop_flush(stop, held, sizeof held, &m) == INFER_OK) fwrite(held, 1, m, stdout);
    }
    printf("\n");
    fflush(stdout);   /* the statistics below go to stderr: keep them after the text */
    if (st == INFER_ERR_CONTEXT_FULL && n_gen == 0)
        fprintf(stderr, "the prompt (%zu tokens) does not fit in the context of %u tokens (-c)\n", n, infer_ctx_n_ctx(c));
    else fprintf(stderr, "prompt: %zu tokens in %.3f s (%.1f tok/s)\n", n, t_prompt, (double)n / t_prompt);
    if (n_gen > 1)
        fprintf(stderr, "generation: %d tokens in %.3f s (%.1f tok/s)\n", n_gen, t_gen, (double)(n_gen - 1) / t_gen);
    infer_sampler_free(s);
    infer_stop_free(stop);
    infer_detok_free(d);
    free(toks);
    return rc;
}

int main(int argc, char **argv) {
    cli_args a;
    int pr = parse_args(argc, argv, &a);
    if (pr != 0) return tool_parse_exit(pr, argv[0], usage);
    if (a.tokens_file) a.sp.temperature = 0.0f;

    infer_model *m;
    infer_ctx *c;
    double t0 = tool_now_s();
    if (tool_open_model(a.model, &a.ctx, &m, &c) != 0) return 1;
    fprintf(stderr, "loaded %s (%s, %d layers) in %.3f s on %s (%s), context %u\n", a.model, infer_model_arch(m),
            infer_model_n_layer(m), tool_now_s() - t0, infer_ctx_backend_name(c), infer_ctx_device_name(c),
            infer_ctx_n_ctx(c));

    int rc = a.tokens_file ? run_tokens_file(&a, m, c) : run_prompt(&a, m, c);
    infer_ctx_free(c);
    infer_model_free(m);
    return rc;
}
