/* infer-perplexity: perplexity of a text file, computed the way llama.cpp's perplexity
 * tool does it: the text is tokenized (with BOS when the model adds one) and cut into non-overlapping chunks of
 * n_ctx tokens; each chunk (its first token replaced by BOS) is evaluated from an empty
 * cache, and only the second half is scored (logits at positions n_ctx/2 .. n_ctx-2
 * predicting the next token). PPL = exp(mean negative log-likelihood).
 *
 *   infer-perplexity -m MODEL -f TEXT [-c CTX] [-t THREADS] [--backend auto|cpu|vulkan]
 *                    [--device I] [--kv-f16] [--chunks N]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "tool_args.h"
#include "tool_util.h"

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s -m MODEL -f TEXT [-c CTX] [-t THREADS] [--backend auto|cpu|vulkan] [--device I]\n"
            "          [--kv-f16] [--chunks N]\n",
            argv0);
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

int main(int argc, char **argv) {
    const char *model = NULL, *file = NULL;
    int n_ctx = 512, n_threads = 0, device = -1, kv_f16 = 0, max_chunks = -1;
    infer_backend_kind backend = INFER_BACKEND_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(o, name) == 0 && v && (i++, 1))
        if (OPT("-m") || OPT("--model")) model = v;
        else if (OPT("-f") || OPT("--file")) file = v;
        else if (OPT("-c") || OPT("--ctx-size")) n_ctx = atoi(v);
        else if (OPT("-t") || OPT("--threads")) n_threads = atoi(v);
        else if (OPT("--device")) device = atoi(v);
        else if (OPT("--chunks")) max_chunks = atoi(v);
        else if (OPT("--backend")) {
            if (tool_parse_backend(v, &backend) != 0) {
                usage(argv[0]);
                return 2;
            }
        } else if (strcmp(o, "--kv-f16") == 0) kv_f16 = 1;
        else {
            usage(argv[0]);
            return 2;
        }
#undef OPT
    }
    if (!model || !file || n_ctx < 4) {
        usage(argv[0]);
        return 2;
    }

    size_t len = 0;
    char *text = tool_read_file(file, &len);
    if (!text) {
        fprintf(stderr, "error: cannot read %s\n", file);
        return 1;
    }
    infer_error err = {0};
    infer_model *m = NULL;
    if (infer_model_load(model, NULL, &m, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        free(text);
        return 1;
    }
    /* As the reference: BOS added (and put at the start of every chunk) when the model's
     * tokenizer adds one. */
    const int add_bos = infer_model_add_bos(m);
    size_t n_tok = 0;
    infer_status st;
    int32_t *toks = tool_tokenize(m, text, len, add_bos, 0, &n_tok, &st);
    if (!toks) {
        fprintf(stderr, "error: cannot tokenize %s\n", file);
        return 1;
    }
    free(text);

    int n_chunk = (int)(n_tok / (size_t)n_ctx);
    if (max_chunks >= 0 && max_chunks < n_chunk) n_chunk = max_chunks;
    if (n_tok < 2 * (size_t)n_ctx || n_chunk == 0) {
        fprintf(stderr, "error: %zu tokens; need at least 2 * n_ctx = %d\n", n_tok, 2 * n_ctx);
        return 1;
    }

    infer_ctx_params cp = infer_ctx_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)n_ctx;
    cp.n_threads = n_threads;
    cp.kv_type = kv_f16 ? INFER_KV_F16 : INFER_KV_F32;
    cp.backend = backend;
    cp.device_index = device;
    infer_ctx *c = NULL;
    if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    fprintf(stderr, "%zu tokens, %d chunks of %d, backend %s (%s), KV cache %.1f MiB\n", n_tok, n_chunk, n_ctx,
            infer_ctx_backend_name(c), infer_ctx_device_name(c), infer_ctx_kv_bytes(c) / 1048576.0);

    const int32_t n_vocab = infer_model_n_vocab(m);
    const int first = n_ctx / 2;
    const int32_t bos = infer_token_bos(m);
    int32_t *batch = malloc((size_t)n_ctx * sizeof *batch);
    int8_t *want = malloc((size_t)n_ctx);
    if (!batch || !want) return 1;
    for (int j = 0; j < n_ctx; j++) want[j] = j >= first;

    double nll = 0.0, nll2 = 0.0, t0 = tool_now_s();
    long count = 0;
    for (int ch = 0; ch < n_chunk; ch++) {
        const int32_t *chunk = toks + (size_t)ch * n_ctx;
        memcpy(batch, chunk, (size_t)n_ctx * sizeof *batch);
        if (add_bos && bos >= 0) batch[0] = bos;
        infer_ctx_kv_clear(c);
        if (infer_ctx_decode(c, batch, NULL, want, n_ctx) != INFER_OK) {
            fprintf(stderr, "error: chunk %d: %s\n", ch, infer_ctx_last_error(c));
            return 1;
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
    double mean = nll / (double)count;
    double var = nll2 / (double)count - mean * mean;
    double ppl = exp(mean);
    double se = var > 0.0 && count > 1 ? sqrt(var / (double)(count - 1)) * ppl : 0.0;
    printf("Final estimate: PPL = %.4f +/- %.5f\n", ppl, se);

    free(batch);
    free(want);
    free(toks);
    infer_ctx_free(c);
    infer_model_free(m);
    return 0;
}
