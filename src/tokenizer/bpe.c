/* Byte-level BPE of one pre-tokenized word: the word's bytes start as byte tokens and
 * the adjacent pair with the lowest merge rank is merged first (leftmost on ties),
 * as the Hugging Face BPE model does. Symbols are token ids, so a merge is one
 * hash lookup of the id pair. */
#include <stdlib.h>

#include "tokenizer/tokvec.h"
#include "tokenizer/vocab_internal.h"

typedef struct bpe_symbol {
    int32_t id;           /* token id, -1 once merged into the left neighbour */
    int32_t prev, next;   /* neighbour indices, -1 at the ends */
} bpe_symbol;

typedef struct bpe_merge {
    uint32_t rank;
    int32_t left, right;  /* symbol indices */
    int32_t left_id, right_id, result;  /* ids when queued: stale if they changed */
} bpe_merge;

struct infer_bpe_scratch {
    bpe_symbol *sym;
    size_t sym_cap;
    bpe_merge *heap;
    size_t heap_n, heap_cap;
    char *mapped;         /* the word in the byte-level alphabet (ignore_merges lookup) */
    size_t mapped_cap;
    bool oom;
};

infer_bpe_scratch *infer_bpe_scratch_new(void) { return calloc(1, sizeof(infer_bpe_scratch)); }

void infer_bpe_scratch_free(infer_bpe_scratch *s) {
    if (!s) return;
    free(s->sym);
    free(s->heap);
    free(s->mapped);
    free(s);
}

static bool merge_before(const bpe_merge *x, const bpe_merge *y) {
    if (x->rank != y->rank) return x->rank < y->rank;
    return x->left < y->left;
}

static void heap_push(infer_bpe_scratch *s, bpe_merge m) {
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? 2 * s->heap_cap : 64;
        bpe_merge *h = realloc(s->heap, cap * sizeof *h);
        if (!h) { s->oom = true; return; }
        s->heap = h;
        s->heap_cap = cap;
    }
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_before(&m, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = m;
}

static bpe_merge heap_pop(infer_bpe_scratch *s) {
    bpe_merge top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && merge_before(&s->heap[c + 1], &s->heap[c])) c++;
        if (!merge_before(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n) s->heap[i] = last;
    return top;
}

static void try_merge(const struct infer_vocab *v, infer_bpe_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    int32_t a = s->sym[left].id, b = s->sym[right].id;
    uint32_t rank;
    int32_t result;
    if (a < 0 || b < 0 || !infer_pair_map_find(&v->merges, a, b, &rank, &result)) return;
    heap_push(s, (bpe_merge){rank, left, right, a, b, result});
}

/* The whole word as one token, when the vocabulary has it (ignore_merges). */
static int32_t whole_word_token(const struct infer_vocab *v, const uint8_t *word, size_t len, infer_bpe_scratch *s) {
    if (s->mapped_cap < 2 * len) {
        free(s->mapped);
        s->mapped_cap = 2 * len;
        s->mapped = malloc(s->mapped_cap);
        if (!s->mapped) { s->mapped_cap = 0; return -1; }
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint16_t cp = v->byte_to_cp[word[i]];
        if (cp < 0x80) s->mapped[n++] = (char)cp;
        else {
            s->mapped[n++] = (char)(0xC0 | (cp >> 6));
            s->mapped[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return infer_token_map_find(&v->by_text, s->mapped, n);
}

void infer_bpe_encode_word(const struct infer_vocab *v, const uint8_t *word, size_t len,
                           infer_bpe_scratch *s, infer_tokvec *out) {
    if (len == 0) return;
    if (v->ignore_merges) {
        int32_t id = whole_word_token(v, word, len, s);
        if (id >= 0) { infer_tokvec_push(out, id); return; }
    }
    if (s->sym_cap < len) {
        free(s->sym);
        s->sym = malloc(len * sizeof *s->sym);
        if (!s->sym) { s->sym_cap = 0; out->oom = true; return; }
        s->sym_cap = len;
    }
    bpe_symbol *sym = s->sym;
    int32_t n = (int32_t)len;
    for (int32_t i = 0; i < n; i++) sym[i] = (bpe_symbol){v->byte_token[word[i]], i - 1, i + 1 < n ? i + 1 : -1};
    s->heap_n = 0;
    for (int32_t i = 1; i < n; i++) try_merge(v, s, i - 1, i);
    while (s->heap_n > 0) {
        bpe_merge m = heap_pop(s);
        bpe_symbol *l = &sym[m.left], *r = &sym[m.right];
        if (l->id != m.left_id || r->id != m.right_id || l->next != m.right) continue;
        l->id = m.result;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = m.left;
        try_merge(v, s, l->prev, m.left);
        try_merge(v, s, m.left, l->next);
    }
    if (s->oom) { out->oom = true; s->oom = false; }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        if (sym[i].id >= 0) infer_tokvec_push(out, sym[i].id);
        else if (v->unk >= 0) infer_tokvec_push(out, v->unk);  /* a byte the vocabulary lacks */
    }
}
