/* Comparing logits with the reference's, as the golden tests and the context tests do. */
#ifndef INFER_TEST_LOGITS_H
#define INFER_TEST_LOGITS_H

#include <stddef.h>
#include <stdint.h>

#include "infer.h"

/* Index of the largest of n values (the first one on ties). */
int32_t test_argmax(const float *x, int32_t n);
/* KL(p_ref || p_ours) of two rows of n logits, in double. */
double test_kl_row(const float *ref, const float *ours, int32_t n);
/* Largest minus second largest of n values: the golden tests check the argmax only
 * where the reference has decided (gap above 0.05). */
double test_top2_gap(const float *x, int32_t n);
/* llama.cpp's perplexity: toks cut into chunks of n_ctx (the first token of each replaced
 * by BOS), each decoded from an empty cache on c, positions n_ctx/2 .. n_ctx-2 scored
 * against the next token. Returns exp(mean NLL), or NAN when a decode fails or there is
 * no whole chunk; *n_chunk_out the chunks used. */
double test_chunk_perplexity(infer_ctx *c, const infer_model *m, const int32_t *toks, size_t n_tok, int n_ctx,
                             int *n_chunk_out);
/* Whitespace-separated token ids of a fixture file (golden/<name>.prompt.txt and the like),
 * malloc'd, *n_out set; NULL if the file cannot be read. */
int32_t *test_read_ids(const char *path, int32_t *n_out);

#endif
