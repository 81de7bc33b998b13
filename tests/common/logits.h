/* Comparing logits with the reference's, as the golden tests and the context tests do. */
#ifndef INFER_TEST_LOGITS_H
#define INFER_TEST_LOGITS_H

#include <stdint.h>

/* Index of the largest of n values (the first one on ties). */
int32_t test_argmax(const float *x, int32_t n);
/* KL(p_ref || p_ours) of two rows of n logits, in double. */
double test_kl_row(const float *ref, const float *ours, int32_t n);
/* Whitespace-separated token ids of a fixture file (golden/<name>.prompt.txt and the like),
 * malloc'd, *n_out set; NULL if the file cannot be read. */
int32_t *test_read_ids(const char *path, int32_t *n_out);

#endif
