/* Partial selection and sorting of sampler candidates. */
#include "sample/candidates.h"

#include <stdlib.h>

/* Above this k a heap loses to quickselect. */
#define HEAP_SELECT_MAX_K 2048

static void swap_cand(infer_cand *a, infer_cand *b) {
    infer_cand t = *a;
    *a = *b;
    *b = t;
}

size_t infer_cand_argmax(const infer_cand *c, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (infer_cand_before(&c[i], &c[best])) best = i;
    return best;
}

static int cmp_cand(const void *pa, const void *pb) {
    const infer_cand *a = pa, *b = pb;
    if (infer_cand_before(a, b)) return -1;
    if (infer_cand_before(b, a)) return 1;
    return 0;
}

void infer_cand_sort(infer_cand *c, size_t n) {
    if (n > 1) qsort(c, n, sizeof *c, cmp_cand);
}

/* ---- bounded heap: c[0..k) is a heap whose root is the WORST of the k kept */

static void heap_sift_down(infer_cand *h, size_t k, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, worst = i;
        if (l < k && infer_cand_before(&h[worst], &h[l])) worst = l;
        if (r < k && infer_cand_before(&h[worst], &h[r])) worst = r;
        if (worst == i) return;
        swap_cand(&h[i], &h[worst]);
        i = worst;
    }
}

static void heap_top_k(infer_cand *c, size_t n, size_t k) {
    for (size_t i = k / 2; i-- > 0;) heap_sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (infer_cand_before(&c[i], &c[0])) {   /* beats the worst kept: swap it in */
            swap_cand(&c[i], &c[0]);
            heap_sift_down(c, k, 0);
        }
    }
    /* Heap sort: repeatedly move the worst to the end, leaving best first. */
    for (size_t end = k; end > 1; end--) {
        swap_cand(&c[0], &c[end - 1]);
        heap_sift_down(c, end - 1, 0);
    }
}

/* ---- quickselect */

/* Median of three as pivot keeps quickselect linear on already sorted logits. */
static size_t pick_pivot(infer_cand *c, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (infer_cand_before(&c[mid], &c[lo])) swap_cand(&c[mid], &c[lo]);
    if (infer_cand_before(&c[hi], &c[lo])) swap_cand(&c[hi], &c[lo]);
    if (infer_cand_before(&c[hi], &c[mid])) swap_cand(&c[hi], &c[mid]);
    return mid;
}

/* Partition of c[lo..hi] around the pivot: better candidates go left.
 * Returns the pivot's final index. */
static size_t partition(infer_cand *c, size_t lo, size_t hi, size_t pivot) {
    swap_cand(&c[pivot], &c[hi]);
    size_t store = lo;
    for (size_t i = lo; i < hi; i++) {
        if (infer_cand_before(&c[i], &c[hi])) swap_cand(&c[i], &c[store++]);
    }
    swap_cand(&c[store], &c[hi]);
    return store;
}

static void quickselect_top(infer_cand *c, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    /* Everything before lo ranks before everything in [lo, hi], which ranks before
     * everything after hi; stop once index k-1 holds its final candidate. */
    while (lo < hi) {
        size_t p = partition(c, lo, hi, pick_pivot(c, lo, hi));
        if (p == k - 1) return;
        if (p < k - 1) lo = p + 1;
        else hi = p - 1;
    }
}

void infer_cand_top_k(infer_cand *c, size_t n, size_t k) {
    if (k == 0 || n == 0) return;
    if (k > n) k = n;
    if (k <= HEAP_SELECT_MAX_K) {
        heap_top_k(c, n, k);
    } else {
        if (k < n) quickselect_top(c, n, k);
        infer_cand_sort(c, k);
    }
}
