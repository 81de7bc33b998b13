/* The grammar matcher: sets of stacks (grammar.h) advanced one code point at a time,
 * plus the UTF-8 decoding that lets a token end in the middle of a character. */
#include "sample/grammar.h"

#include <stdlib.h>
#include <string.h>

/* Ambiguous grammars can multiply stacks; past these limits stacks are dropped, which
 * keeps the set sound (every kept stack is a real parse) at the risk of refusing a
 * continuation that only a dropped parse allowed. */
#define MAX_STACKS 1024
#define MAX_EXPAND_DEPTH 2000
#define MAX_EXPAND_CALLS 200000

int infer_grammar_class_match(const infer_grammar *g, uint32_t ci, uint32_t cp) {
    const g_class *c = &g->classes[ci];
    if (cp < 128) return (c->ascii[cp / 32] >> (cp % 32)) & 1;
    const g_range *r = g->ranges + c->first;
    int in = 0;
    for (uint32_t i = 0; i < c->count && !in; i++) in = cp >= r[i].lo && cp <= r[i].hi;
    return in != c->negated;
}

int infer_grammar_class_meets(const infer_grammar *g, uint32_t ci, uint32_t lo, uint32_t hi) {
    const g_class *c = &g->classes[ci];
    const g_range *r = g->ranges + c->first;
    for (uint32_t i = 0; i < c->count; i++) {
        int overlaps = r[i].lo <= hi && r[i].hi >= lo;
        if (!c->negated && overlaps) return 1;
        if (c->negated && r[i].lo <= lo && r[i].hi >= hi) return 0;   /* one range covers it all */
    }
    return c->negated;   /* negated: assume some code point stays outside the ranges */
}

/* ---- stack sets */

void infer_gstacks_free(g_stacks *s) {
    free(s->pool);
    free(s->off);
    free(s->len);
    free(s->hash);
    memset(s, 0, sizeof *s);
}

void infer_gstacks_clear(g_stacks *s) {
    s->n = 0;
    s->pool_len = 0;
    s->overflow = 0;
}

static uint64_t hash_stack(const uint32_t *v, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ v[i]) * 0x100000001B3ull;
    return h;
}

static int grow32(uint32_t **v, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    uint32_t *g = realloc(*v, c * sizeof *g);
    if (!g) return -1;
    *v = g;
    *cap = c;
    return 0;
}

/* Adds a copy of v[0..n) unless an equal stack is present. 0 ok, -1 no memory. */
static int add_stack(g_stacks *s, const uint32_t *v, size_t n) {
    uint64_t h = hash_stack(v, n);
    for (size_t i = 0; i < s->n; i++)
        if (s->hash[i] == h && s->len[i] == n && (n == 0 || memcmp(s->pool + s->off[i], v, n * sizeof *v) == 0)) return 0;
    if (s->n >= MAX_STACKS) {
        s->overflow = 1;
        return 0;
    }
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 16;
        uint32_t *o = realloc(s->off, c * sizeof *o);
        if (!o) return -1;
        s->off = o;
        uint32_t *l = realloc(s->len, c * sizeof *l);
        if (!l) return -1;
        s->len = l;
        uint64_t *hh = realloc(s->hash, c * sizeof *hh);
        if (!hh) return -1;
        s->hash = hh;
        s->cap = c;
    }
    if (grow32(&s->pool, &s->pool_cap, s->pool_len + n + 1)) return -1;
    if (n) memcpy(s->pool + s->pool_len, v, n * sizeof *v);
    s->off[s->n] = (uint32_t)s->pool_len;
    s->len[s->n] = (uint32_t)n;
    s->hash[s->n] = h;
    s->pool_len += n;
    s->n++;
    return 0;
}

int infer_gstacks_copy(g_stacks *dst, const g_stacks *src) {
    infer_gstacks_clear(dst);
    for (size_t i = 0; i < src->n; i++)
        if (add_stack(dst, src->pool + src->off[i], src->len[i])) return -1;
    dst->overflow = src->overflow;
    return 0;
}

static int push(g_work *w, uint32_t v) {
    if (grow32(&w->v, &w->cap, w->len + 1)) return -1;
    w->v[w->len++] = v;
    return 0;
}

static int is_seq_end(const infer_grammar *g, uint32_t pos) {
    return g->elems[pos].kind == G_END || g->elems[pos].kind == G_ALT;
}

static uint32_t next_alt(const infer_grammar *g, uint32_t pos) {
    while (!is_seq_end(g, pos)) pos++;
    return pos;
}

/* Expands the stack in w until its top is a class (or it is empty), adding each result
 * to out. w is left as it was. `calls` bounds the work of one step. */
static int expand(const infer_grammar *g, g_work *w, g_stacks *out, int depth, size_t *calls) {
    if (w->len == 0) return add_stack(out, w->v, 0);
    uint32_t top = w->v[w->len - 1];
    if (g->elems[top].kind == G_CLASS) return add_stack(out, w->v, w->len);
    if (depth > MAX_EXPAND_DEPTH || ++*calls > MAX_EXPAND_CALLS) {
        out->overflow = 1;
        return 0;
    }
    w->len--;
    size_t base = w->len;
    if (!is_seq_end(g, top + 1) && push(w, top + 1)) return -1;
    size_t after = w->len;
    int rc = 0;
    for (uint32_t a = g->rule_start[g->elems[top].value]; rc == 0;) {
        if (!is_seq_end(g, a)) {
            rc = push(w, a);
            if (rc == 0) rc = expand(g, w, out, depth + 1, calls);
        } else {
            rc = expand(g, w, out, depth + 1, calls);
        }
        w->len = after;
        a = next_alt(g, a);
        if (g->elems[a].kind == G_END) break;
        a++;
    }
    w->len = base;
    w->v[w->len++] = top;   /* capacity is there: top was popped from this slot */
    return rc;
}

int infer_grammar_start(const infer_grammar *g, g_stacks *out, g_work *w) {
    infer_gstacks_clear(out);
    w->len = 0;
    size_t calls = 0;
    for (uint32_t a = g->rule_start[g->root];;) {
        w->len = 0;
        if (!is_seq_end(g, a) && push(w, a)) return -1;
        if (expand(g, w, out, 0, &calls)) return -1;
        a = next_alt(g, a);
        if (g->elems[a].kind == G_END) break;
        a++;
    }
    return 0;
}

int infer_grammar_step(const infer_grammar *g, const g_stacks *in, uint32_t cp, g_stacks *out, g_work *w) {
    infer_gstacks_clear(out);
    size_t calls = 0;
    for (size_t i = 0; i < in->n; i++) {
        uint32_t n = in->len[i];
        if (n == 0) continue;
        const uint32_t *st = in->pool + in->off[i];
        uint32_t top = st[n - 1];
        if (!infer_grammar_class_match(g, g->elems[top].value, cp)) continue;
        w->len = 0;
        if (grow32(&w->v, &w->cap, n + 1)) return -1;
        memcpy(w->v, st, (n - 1) * sizeof *st);
        w->len = n - 1;
        if (!is_seq_end(g, top + 1)) w->v[w->len++] = top + 1;
        if (expand(g, w, out, 0, &calls)) return -1;
    }
    out->overflow |= in->overflow;
    return 0;
}

int infer_gstacks_can_end(const g_stacks *s) {
    for (size_t i = 0; i < s->n; i++)
        if (s->len[i] == 0) return 1;
    return 0;
}

int infer_gstacks_meets(const infer_grammar *g, const g_stacks *s, uint32_t lo, uint32_t hi) {
    for (size_t i = 0; i < s->n; i++) {
        if (s->len[i] == 0) continue;
        uint32_t top = s->pool[s->off[i] + s->len[i] - 1];
        if (infer_grammar_class_meets(g, g->elems[top].value, lo, hi)) return 1;
    }
    return 0;
}

/* ---- UTF-8 */

int infer_gutf8_decode(const unsigned char *b, size_t n, utf8_partial *p, uint32_t *cps, size_t cap) {
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = b[i];
        if (p->remain) {
            if ((c & 0xC0) != 0x80) return -1;
            p->value = (p->value << 6) | (c & 0x3F);
            if (--p->remain) continue;
            if (p->value < min_of_len[p->min_len] || p->value > 0x10FFFF ||
                (p->value >= 0xD800 && p->value <= 0xDFFF))
                return -1;
            if (k == cap) return -1;
            cps[k++] = p->value;
            continue;
        }
        if (c < 0x80) {
            if (k == cap) return -1;
            cps[k++] = c;
        } else if (c >= 0xC2 && c < 0xE0) {
            p->value = c & 0x1F, p->remain = 1, p->min_len = 2;
        } else if (c >= 0xE0 && c < 0xF0) {
            p->value = c & 0x0F, p->remain = 2, p->min_len = 3;
        } else if (c >= 0xF0 && c < 0xF5) {
            p->value = c & 0x07, p->remain = 3, p->min_len = 4;
        } else {
            return -1;   /* a stray continuation byte, or a byte UTF-8 never uses */
        }
    }
    return (int)k;
}

int infer_gutf8_partial_range(const utf8_partial *p, uint32_t *lo, uint32_t *hi) {
    static const uint32_t min_of_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned shift = 6u * p->remain;
    *lo = p->value << shift;
    *hi = *lo | ((1u << shift) - 1);
    if (*hi > 0x10FFFF) *hi = 0x10FFFF;
    if (*lo < min_of_len[p->min_len]) *lo = min_of_len[p->min_len];   /* overlong forms are invalid */
    return *lo <= *hi;
}

/* ---- whole-text matching */

int infer_grammar_match(const infer_grammar *g, const char *text, size_t len) {
    if (!g || (!text && len)) return 0;
    g_stacks a = {0}, b = {0};
    g_work w = {0};
    int result = 0;
    utf8_partial part = {0};
    if (infer_grammar_start(g, &a, &w)) goto done;
    for (size_t i = 0; i < len; i++) {
        uint32_t cp;
        int k = infer_gutf8_decode((const unsigned char *)text + i, 1, &part, &cp, 1);
        if (k < 0) goto done;
        if (k == 0) continue;
        if (infer_grammar_step(g, &a, cp, &b, &w)) goto done;
        g_stacks t = a;
        a = b;
        b = t;
        if (a.n == 0) goto done;
    }
    if (part.remain) {   /* an unfinished last char: a prefix if some stack can take it */
        uint32_t lo, hi;
        result = infer_gutf8_partial_range(&part, &lo, &hi) && infer_gstacks_meets(g, &a, lo, hi) ? 2 : 0;
        goto done;
    }
    result = infer_gstacks_can_end(&a) ? 1 : 2;
done:
    infer_gstacks_free(&a);
    infer_gstacks_free(&b);
    free(w.v);
    return result;
}
