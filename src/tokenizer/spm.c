/* SentencePiece (BPE-with-scores) encoding as llama.cpp and sentencepiece do it:
 * start from single UTF-8 characters, repeatedly merge the adjacent pair whose
 * concatenation is the vocabulary token with the highest score (leftmost on ties),
 * then emit each remaining piece, falling back to <0xNN> byte tokens for pieces that
 * are not in the vocabulary. */
#include <stdlib.h>

#include "tokenizer/unicode.h"
#include "tokenizer/tokvec.h"
#include "tokenizer/vocab_internal.h"

/* One piece of the text: a doubly linked list over the original positions. */
typedef struct spm_symbol {
    int32_t prev, next;   /* neighbour indices, -1 at the ends */
    uint32_t off, len;    /* bytes of text; len 0 once merged into the left neighbour */
} spm_symbol;

/* A candidate merge of two adjacent symbols. */
typedef struct spm_bigram {
    float score;
    int32_t left, right;
    uint32_t len;         /* combined length when queued: stale if it changed */
} spm_bigram;

typedef struct spm_heap {
    spm_bigram *a;
    size_t n, cap;
    bool oom;
} spm_heap;

/* Higher score first; on equal scores the leftmost pair first. */
static bool before(const spm_bigram *x, const spm_bigram *y) {
    if (x->score != y->score) return x->score > y->score;
    return x->left < y->left;
}

static void heap_push(spm_heap *h, spm_bigram b) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        spm_bigram *a = realloc(h->a, cap * sizeof *a);
        if (!a) { h->oom = true; return; }
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&b, &h->a[p])) break;
        h->a[i] = h->a[p];
        i = p;
    }
    h->a[i] = b;
}

static spm_bigram heap_pop(spm_heap *h) {
    spm_bigram top = h->a[0], last = h->a[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->a[c + 1], &h->a[c])) c++;
        if (!before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (h->n) h->a[i] = last;
    return top;
}

static void try_bigram(const struct infer_vocab *v, const char *text, const spm_symbol *sym,
                       int32_t left, int32_t right, spm_heap *h) {
    if (left < 0 || right < 0) return;
    uint32_t len = sym[left].len + sym[right].len;
    int32_t id = infer_token_map_find(&v->by_text, text + sym[left].off, len);
    if (id < 0) return;
    heap_push(h, (spm_bigram){v->scores[id], left, right, len});
}

static void emit_piece(const struct infer_vocab *v, const char *text, const spm_symbol *s, infer_tokvec *out) {
    int32_t id = infer_token_map_find(&v->by_text, text + s->off, s->len);
    if (id >= 0) { infer_tokvec_push(out, id); return; }
    for (uint32_t i = 0; i < s->len; i++) {
        int32_t b = v->byte_token[(uint8_t)text[s->off + i]];
        if (b >= 0) infer_tokvec_push(out, b);
        else if (v->unk >= 0) infer_tokvec_push(out, v->unk);
    }
}

void infer_spm_encode(const struct infer_vocab *v, const char *text, size_t len, infer_tokvec *out) {
    if (len == 0) return;
    spm_symbol *sym = malloc(len * sizeof *sym);
    if (!sym) { out->oom = true; return; }
    int32_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k;
        infer_utf8_decode((const uint8_t *)text + i, len - i, &k);  /* invalid bytes: 1 each */
        sym[n] = (spm_symbol){n - 1, (int32_t)(i + k < len ? n + 1 : -1), (uint32_t)i, (uint32_t)k};
        n++;
        i += k;
    }
    spm_heap h = {0};
    for (int32_t i = 1; i < n; i++) try_bigram(v, text, sym, i - 1, i, &h);
    while (h.n > 0) {
        spm_bigram b = heap_pop(&h);
        spm_symbol *l = &sym[b.left], *r = &sym[b.right];
        /* Stale: one side was merged away or grew since this pair was queued. */
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.len || l->next != b.right) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        try_bigram(v, text, sym, l->prev, b.left, &h);
        try_bigram(v, text, sym, b.left, l->next, &h);
    }
    if (h.oom) out->oom = true;
    for (int32_t i = 0; i >= 0 && n > 0; i = sym[i].next) emit_piece(v, text, &sym[i], out);
    free(h.a);
    free(sym);
}
