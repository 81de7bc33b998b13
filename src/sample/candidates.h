/* Candidate tokens the sampler chain narrows down: (token id, logit) pairs.
 * Ordering helpers use a total order (higher logit first, then lower id) so that ties
 * resolve like a plain argmax that keeps the first maximum. */
#ifndef INFER_SAMPLE_CANDIDATES_H
#define INFER_SAMPLE_CANDIDATES_H

#include <stddef.h>
#include <stdint.h>

typedef struct infer_cand {
    int32_t id;
    float logit;
} infer_cand;

/* 1 if a ranks before b (higher logit, or equal logit and lower id). */
static inline int infer_cand_before(const infer_cand *a, const infer_cand *b) {
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Index of the best candidate of c[0..n), n >= 1. */
size_t infer_cand_argmax(const infer_cand *c, size_t n);
/* Moves the k best candidates of c[0..n) into c[0..k), sorted best first. 0 < k <= n.
 * Small k uses a bounded heap (one pass, O(n + k log k log n) on typical data);
 * large k falls back to quickselect + sort. */
void infer_cand_top_k(infer_cand *c, size_t n, size_t k);
/* Sorts c[0..n) best first (O(n log n)). */
void infer_cand_sort(infer_cand *c, size_t n);

#endif
