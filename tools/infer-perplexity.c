/* infer-perplexity: perplexity of a text file, computed the way llama.cpp's perplexity
 * tool does it: the text is tokenized (with BOS when the model adds one) and cut into non-overlapping chunks of
 * n_ctx tokens; each chunk (its first token replaced by BOS) is evaluated from an empty
 * cache, and only the second half is scored (logits at positions n_ctx/2 .. n_ctx-2
 * predicting the next token). PPL = exp(mean negative log-likelihood).
 *
 *   infer-perplexity -m MODEL -f TEXT [-c CTX] [-t THREADS] [--backend auto|cpu|vulkan]
 *                    [--device I] [--kv-f16] [--force-threads] [--chunks N]
 *
 * Exit status: 0 on success, 1 on an error (file, model, text too short), 2 on a usage
 * error. Every error path frees what it allocated (checked under LeakSanitizer).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "tool_args.h"
#include "tool_numbers.h"
#include "tool_util.h"

static void usage(FILE *out, const char *argv0) {
    fprintf(out,
            "usage: %s -m MODEL -f TEXT [-c CTX] [-t THREADS] [--backend auto|cpu|vulkan] [--device I]\n"
            "          [--kv-f16] [--force-threads] [--chunks N]\n"
            "  -f TEXT                the text to score (a regular file)\n"
            "  -c N                   chunk size in tokens (default 512, at least 4)\n"
            "  --chunks N             score at most N chunks (default: all; -1: all)\n%s",
            argv0, TOOL_CTX_OPTIONS_HELP);
}

typedef struct ppl_args {
    const char *model, *file;
    int max_chunks;
    tool_ctx_opts ctx;
} ppl_args;

/* 0: run; 1: --help/--version printed (exit 0); -1: a usage error (already reported). */
static int parse_args(int argc, char **argv, ppl_args *a) {
    memset(a, 0, sizeof *a);
    a->max_chunks = -1;
    tool_ctx_opts_init(&a->ctx);
    a->ctx.n_ctx = 512;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (tool_help_or_version(o, argv[0], usage)) return 1;
        int used = tool_model_option(o, v, &a->ctx, NULL);
        if (used < 0) return -1;
        if (used > 0) {
            i += used - 1;
            continue;
        }
#define OPT(name) (strcmp(o, name) == 0 && v && (i++, 1))
        if (OPT("-m") || OPT("--model")) a->model = v;
        else if (OPT("-f") || OPT("--file")) a->file = v;
        else if (OPT("--chunks")) {
            if (tool_parse_int(o, v, -1, 0x7fffffff, &a->max_chunks) != 0) return -1;
        } else {
            fprintf(stderr, "error: unknown or incomplete option '%s'\n", o);
            return -1;
        }
#undef OPT
    }
    if (!a->model || !a->file) {
        fprintf(stderr, "error: -m MODEL and -f TEXT are required\n");
        return -1;
    }
    /* Each chunk scores its second half: fewer than 4 tokens leave nothing to score. The
     * upper bound keeps 2 * n_ctx an int. */
    if (a->ctx.n_ctx < 4 || a->ctx.n_ctx > (1 << 29)) {
        fprintf(stderr, "error: -c: %d is out of range (4 to %d)\n", a->ctx.n_ctx, 1 << 29);
        return -1;
    }
    return 0;
}

/* -log softmax(logits)[tok], in double like the reference. */
static double nll_of(const float *logits, int32_t n_vocab, int32_t tok) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - max));
    return log(sum) - (double)(logits[tok] - max);
}

/* Scores the chunks; returns the process exit status. */
static int score(const ppl_args *a, infer_model *m, infer_ctx *c, const int32_t *toks, int n_chunk) {
    const int n_ctx = a->ctx.n_ctx;
    const int add_bos = infer_model_add_bos(m);
    const int32_t n_vocab = infer_model_n_vocab(m);
    const int first = n_ctx / 2;
    const int32_t bos = infer_token_bos(m);
    int32_t *batch = malloc((size_t)n_ctx * sizeof *batch);
    int8_t *want = malloc((size_t)n_ctx);
    if (!batch || !want) {
        fprintf(stderr, "error: out of memory for a chunk of %d tokens\n", n_ctx);
        free(batch);
        free(want);
        return 1;
    }
    for (int j = 0; j < n_ctx; j++) want[j] = j >= first;

    double nll = 0.0, nll2 = 0.0, t0 = tool_now_s();
    long count = 0;
    int rc = 0;
    for (int ch = 0; ch < n_chunk; ch++) {
        const int32_t *chunk = toks + (size_t)ch * n_ctx;
        memcpy(batch, chunk, (size_t)n_ctx * sizeof *batch);
        if (add_bos && bos >= 0) batch[0] = bos;
        infer_ctx_kv_clear(c);
        if (infer_ctx_decode(c, batch, NULL, want, n_ctx) != INFER_OK) {
            fprintf(stderr, "error: chunk %d: %s\n", ch, infer_ctx_last_error(c));
            rc = 1;
            break;
        }
        for (int j = first; j < n_ctx - 1; j++) {
            double v = nll_of(infer_ctx_logits(c, j), n_vocab, chunk[j + 1]);
            nll += v;
            nll2 += v * v;
            count++;
        }
        fprintf(stderr, "[%d]%.4f%s", ch + 1, exp(nll / (double)count), ch + 1 < n_chunk ? "," : "\n");
        if (ch == 0) fprintf(stderr, " (%.2f s per chunk) ", tool_now_s() - t0);
    }
    if (rc == 0) {
        double mean = nll / (double)count;
        double var = nll2 / (double)count - mean * mean;
        double ppl = exp(mean);
        double se = var > 0.0 && count > 1 ? sqrt(var / (double)(count - 1)) * ppl : 0.0;
        printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, se);
    }
    free(batch);
    free(want);
    return rc;
}

int main(int argc, char **argv) {
    ppl_args a;
    int pr = parse_args(argc, argv, &a);
    if (pr != 0) return tool_parse_exit(pr, argv[0], usage);
    const int n_ctx = a.ctx.n_ctx;

    size_t len = 0;
    char *text = tool_read_file(a.file, &len);   /* prints the reason on failure */
    if (!text) return 1;
    infer_error err = {0};
    infer_model *m = NULL;
    if (infer_model_load(a.model, NULL, &m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        free(text);
        return 1;
    }
    /* As the reference: BOS added (and put at the start of every chunk) when the model's
     * tokenizer adds one. */
    size_t n_tok = 0;
    infer_status st;
    int32_t *toks = tool_tokenize(m, text, len, infer_model_add_bos(m), 0, &n_tok, &st);
    free(text);
    if (!toks) {
        fprintf(stderr, "error: cannot tokenize %s: %s\n", a.file, infer_status_str(st));
        infer_model_free(m);
        return 1;
    }

    int n_chunk = (int)(n_tok / (size_t)n_ctx);
    if (a.max_chunks >= 0 && a.max_chunks < n_chunk) n_chunk = a.max_chunks;
    if (n_tok < 2 * (size_t)n_ctx || n_chunk == 0) {
        fprintf(stderr, "error: %s is %zu tokens; need at least 2 * n_ctx = %d (and at least one chunk)\n", a.file,
                n_tok, 2 * n_ctx);
        free(toks);
        infer_model_free(m);
        return 1;
    }

    infer_ctx_params cp = tool_ctx_params(&a.ctx);
    cp.n_batch = (uint32_t)(a.ctx.n_batch > 0 && a.ctx.n_batch < n_ctx ? a.ctx.n_batch : n_ctx);
    infer_ctx *c = NULL;
    if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        free(toks);
        infer_model_free(m);
        return 1;
    }
    fprintf(stderr, "%zu tokens, %d chunks of %d, backend %s (%s), KV cache %.1f MiB\n", n_tok, n_chunk, n_ctx,
            infer_ctx_backend_name(c), infer_ctx_device_name(c), infer_ctx_kv_bytes(c) / 1048576.0);
    if (infer_ctx_gpu_weight_bytes(c) > 0) fprintf(stderr, "placement: %s\n", infer_ctx_placement(c));
    int rc = score(&a, m, c, toks, n_chunk);
    free(toks);
    infer_ctx_free(c);
    infer_model_free(m);
    return rc;
}
