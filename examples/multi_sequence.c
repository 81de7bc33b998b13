/* Several conversations on one loaded model, stepped together (continuous batching):
 * a shared prompt is evaluated once in sequence 0, forked into the other sequences
 * with infer_ctx_seq_copy, each branch gets its own continuation, and then every step
 * decodes one token of every sequence in a single infer_ctx_decode_batch call.
 * Finally one sequence is saved to a buffer and restored into a fresh context.
 *
 *   cc multi_sequence.c $(pkg-config --cflags --libs infer) -o multi_sequence
 *   ./multi_sequence MODEL.gguf [N_TOKENS]
 */
#include <infer.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SEQ 4

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static int check(infer_ctx *c, infer_status st, const char *what) {
    if (st == INFER_OK) return 0;
    fprintf(stderr, "%s: %s (%s)\n", what, infer_status_str(st), c ? infer_ctx_last_error(c) : "");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [N_TOKENS]\n", argv[0]);
        return 2;
    }
    const int n_gen = argc > 2 ? atoi(argv[2]) : 16;
    infer_model *m = NULL;
    infer_error err;
    if (infer_model_load(argv[1], NULL, &m, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    infer_ctx_params p = infer_ctx_default_params();
    p.n_seq_max = N_SEQ;
    p.n_ctx = N_SEQ * 256;   /* 256 positions per sequence */
    infer_ctx *c = NULL;
    if (infer_ctx_new(m, &p, &c, &err) != INFER_OK) {
        fprintf(stderr, "%s\n", err.message);
        infer_model_free(m);
        return 1;
    }
    const int32_t V = infer_model_n_vocab(m);
    int rc = 1;
    char *text[N_SEQ] = {0};

    /* The shared prompt, once, in sequence 0; then forked. */
    const char *prompt = "Once upon a time, there was a";
    int32_t toks[64];
    size_t n = 0;
    if (infer_tokenize(m, prompt, strlen(prompt), infer_model_add_bos(m), 0, toks, 64, &n) != INFER_OK) goto out;
    if (check(c, infer_ctx_decode(c, toks, NULL, NULL, (int32_t)n), "prompt")) goto out;
    for (int s = 1; s < N_SEQ; s++)
        if (check(c, infer_ctx_seq_copy(c, 0, s), "fork")) goto out;

    /* Each branch its own next word, all four in one batch. */
    const char *words[N_SEQ] = {" little", " big", " happy", " tiny"};
    int32_t tok[N_SEQ], seq[N_SEQ];
    for (int s = 0; s < N_SEQ; s++) {
        size_t k = 0;
        int32_t w[8];
        if (infer_tokenize(m, words[s], strlen(words[s]), 0, 0, w, 8, &k) != INFER_OK || k == 0) goto out;
        tok[s] = w[k - 1];
        seq[s] = s;
        text[s] = calloc(4096, 1);
        if (!text[s]) goto out;
        snprintf(text[s], 4096, "%s%s", prompt, words[s]);
    }
    infer_batch b = {.n_tokens = N_SEQ, .tokens = tok, .seq_id = seq};   /* positions follow each sequence */
    for (int step = 0; step < n_gen; step++) {
        if (check(c, infer_ctx_decode_batch(c, &b), "decode")) goto out;
        for (int s = 0; s < N_SEQ; s++) {   /* want_logits NULL: the last token of each sequence */
            tok[s] = argmax(infer_ctx_logits(c, s), V);
            char piece[64];
            size_t k = 0;
            if (infer_token_to_bytes(m, tok[s], piece, sizeof piece - 1, &k) == INFER_OK) {
                piece[k] = 0;
                strncat(text[s], piece, 4095 - strlen(text[s]));
            }
        }
    }
    for (int s = 0; s < N_SEQ; s++) printf("sequence %d (%d tokens): %s\n", s, infer_ctx_seq_len(c, s), text[s]);

    /* Save sequence 2 and restore it into a one-sequence context: same next token. */
    size_t need = 0;
    infer_ctx_seq_save(c, 2, NULL, 0, &need);
    void *state = malloc(need);
    infer_ctx *c2 = NULL;
    infer_ctx_params p2 = infer_ctx_default_params();
    p2.n_ctx = 256;
    p2.backend = !strcmp(infer_ctx_backend_name(c), "cpu") ? INFER_BACKEND_CPU : INFER_BACKEND_VULKAN;
    if (!state || check(c, infer_ctx_seq_save(c, 2, state, need, &need), "save") ||
        infer_ctx_new(m, &p2, &c2, &err) != INFER_OK || check(c2, infer_ctx_seq_load(c2, 0, state, need), "load") ||
        check(c2, infer_ctx_decode(c2, &tok[2], NULL, NULL, 1), "decode restored") ||
        check(c, infer_ctx_decode_batch(c, &b), "decode")) {
        free(state);
        infer_ctx_free(c2);
        goto out;
    }
    const int32_t a = argmax(infer_ctx_logits(c, 2), V), r = argmax(infer_ctx_logits(c2, 0), V);
    printf("session of sequence 2: %zu bytes; next token %d in the original, %d restored\n", need, a, r);
    free(state);
    infer_ctx_free(c2);
    rc = a == r ? 0 : 1;
out:
    for (int s = 0; s < N_SEQ; s++) free(text[s]);
    infer_ctx_free(c);
    infer_model_free(m);
    return rc;
}
