/* The grammar stage: allows only tokens whose text continues a sentence of the grammar.
 *
 * Speed on large vocabularies comes from three things:
 * - every token's text is decoded to code points once, when the stage is made;
 * - a first-byte prefilter, computed once per call from the tops of the current
 *   stacks, rejects most tokens with one table lookup;
 * - fused with a following top-k (or greedy), candidates are checked best first and the
 *   scan stops at k allowed tokens, so the usual cost is a few dozen full checks.
 * A full check walks the token's code points through the stack sets, stopping at the
 * first code point no stack accepts. The sets after a token's first MEMO_DEPTH code
 * points are memoized per call in a trie over the vocabulary, so tokens sharing a
 * prefix (" the", " then", " there") pay for it once, and a dead prefix rejects all
 * of them with one lookup. A token ending inside a UTF-8 character is allowed
 * when some stack accepts a code point the character can still become; the pending
 * bytes are carried to the next token. */
#include "core/error.h"
#include "models/model_internal.h"
#include "sample/grammar.h"
#include "sample/stage.h"
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

enum { TOK_TEXT = 0, TOK_EOG = 1, TOK_NEVER = 2, TOK_CONT = 3 /* starts inside a char */ };

#define MEMO_DEPTH 3
enum { KEY_EOG = 256, KEY_NEVER = 257, KEY_CONT = 258, KEY_COUNT = 259 };

typedef struct tok_info {
    uint32_t node[MEMO_DEPTH];   /* trie node of the first 1..MEMO_DEPTH code points (0: none) */
    uint32_t cp_off, byte_off;
    uint16_t n_cp, n_bytes;
    uint8_t kind, first;
    utf8_partial tail;   /* unfinished char at the end (decoded from a clean start) */
} tok_info;

typedef struct gstage {
    infer_grammar *g;
    int32_t n_vocab;
    tok_info *toks;       /* (n_vocab) */
    uint32_t *cps;        /* decoded code points of all tokens */
    unsigned char *bytes; /* raw bytes of all tokens */
    g_stacks cur;         /* state after the accepted text */
    utf8_partial part;    /* unfinished char of the accepted text */
    size_t n_accepted;
    g_stacks a, b;        /* scratch for checks */
    g_work w;
    uint32_t *cpbuf;      /* scratch decoding when a char is pending */
    size_t cpbuf_cap;
    uint8_t first_ok[256];
    /* Prefilter in one small array, scanned for every candidate: per token its first
     * byte (0-255), or KEY_EOG / KEY_NEVER / KEY_CONT; pass[key] says if it may pass. */
    uint16_t *key;          /* (n_vocab) */
    uint8_t pass[KEY_COUNT];
    /* Prefix trie (nodes 1..n_nodes-1; 0 is the root, the current state) and its
     * per-call memo: memo_stamp[n] == call when memo_set[n] is valid for this call. */
    uint32_t n_nodes;
    uint32_t *memo_stamp;   /* (n_nodes) */
    int32_t *memo_set;      /* (n_nodes) index into sets, -1: dead prefix */
    uint32_t call;
    g_stacks *sets;         /* reused between calls */
    size_t n_sets, cap_sets;
} gstage;

static void gs_free(sampler_stage *st) {
    gstage *s = st->state;
    if (!s) return;
    infer_grammar_free(s->g);
    free(s->toks);
    free(s->cps);
    free(s->bytes);
    infer_gstacks_free(&s->cur);
    infer_gstacks_free(&s->a);
    infer_gstacks_free(&s->b);
    free(s->w.v);
    free(s->cpbuf);
    free(s->key);
    free(s->memo_stamp);
    free(s->memo_set);
    for (size_t i = 0; i < s->cap_sets; i++) infer_gstacks_free(&s->sets[i]);
    free(s->sets);
    free(s);
}

static void gs_reset(sampler_stage *st) {
    gstage *s = st->state;
    memset(&s->part, 0, sizeof s->part);
    s->n_accepted = 0;
    if (infer_grammar_start(s->g, &s->cur, &s->w)) infer_gstacks_clear(&s->cur);
}

/* Walks code points cps[0..n) (then an unfinished char `tail`) from `from`. Returns 1
 * if the text can continue a sentence, 0 if not, -1 out of memory; the resulting set is
 * left in s->a. */
static int walk(gstage *s, const g_stacks *from, const uint32_t *cps, size_t n, const utf8_partial *tail) {
    const g_stacks *in = from;
    for (size_t i = 0; i < n; i++) {
        g_stacks *out = in == &s->a ? &s->b : &s->a;
        if (infer_grammar_step(s->g, in, cps[i], out, &s->w)) return -1;
        if (out->n == 0) return 0;
        in = out;
    }
    if (in != &s->a) {   /* leave the result in a */
        if (in == &s->b) {
            g_stacks t = s->a;
            s->a = s->b;
            s->b = t;
        } else if (infer_gstacks_copy(&s->a, in)) {
            return -1;
        }
    }
    if (tail && tail->remain) {
        uint32_t lo, hi;
        if (!infer_gutf8_partial_range(tail, &lo, &hi)) return 0;
        return infer_gstacks_meets(s->g, &s->a, lo, hi);
    }
    return 1;
}

/* Decodes token tok continuing the pending char into s->cpbuf; returns the count or -1. */
static int decode_pending(gstage *s, int32_t tok, utf8_partial *p) {
    const tok_info *t = &s->toks[tok];
    if (s->cpbuf_cap < (size_t)t->n_bytes + 1) {
        uint32_t *g = realloc(s->cpbuf, ((size_t)t->n_bytes + 1) * sizeof *g);
        if (!g) return -1;
        s->cpbuf = g;
        s->cpbuf_cap = (size_t)t->n_bytes + 1;
    }
    *p = s->part;
    return infer_gutf8_decode(s->bytes + t->byte_off, t->n_bytes, p, s->cpbuf, s->cpbuf_cap);
}

/* A fresh stack set slot for this call's memo, or NULL. */
static g_stacks *memo_slot(gstage *s, int32_t *index) {
    if (s->n_sets == s->cap_sets) {
        size_t cap = s->cap_sets ? s->cap_sets * 2 : 64;
        g_stacks *g = realloc(s->sets, cap * sizeof *g);
        if (!g) return NULL;
        memset(g + s->cap_sets, 0, (cap - s->cap_sets) * sizeof *g);
        s->sets = g;
        s->cap_sets = cap;
    }
    *index = (int32_t)s->n_sets;
    return &s->sets[s->n_sets++];
}

/* allowed() for a text token with no char pending, through the prefix memo. */
static int allowed_memo(gstage *s, const tok_info *t) {
    int32_t from = -1;   /* index into s->sets; -1: the current state (sets may move) */
    size_t depth = t->n_cp < MEMO_DEPTH ? t->n_cp : MEMO_DEPTH, d = 0;
    /* Down the known prefixes: a dead one rejects at once (the common case). */
    for (; d < depth; d++) {
        uint32_t node = t->node[d];
        if (s->memo_stamp[node] != s->call) break;
        if (s->memo_set[node] < 0) return 0;
        from = s->memo_set[node];
    }
    for (; d < depth; d++) {   /* extend the memo along this token's prefix */
        uint32_t node = t->node[d];
        int32_t idx;
        g_stacks *out = memo_slot(s, &idx);
        if (!out) return -1;
        const g_stacks *in = from < 0 ? &s->cur : &s->sets[from];
        if (infer_grammar_step(s->g, in, s->cps[t->cp_off + d], out, &s->w)) return -1;
        s->memo_stamp[node] = s->call;
        if (out->n == 0) {
            s->memo_set[node] = -1;
            s->n_sets--;   /* the slot is free again */
            return 0;
        }
        s->memo_set[node] = idx;
        from = idx;
    }
    return walk(s, from < 0 ? &s->cur : &s->sets[from], s->cps + t->cp_off + depth, t->n_cp - depth, &t->tail);
}

/* 1 if token tok is allowed now, 0 if not, -1 out of memory. Fills *after (the pending
 * char after it) when given. */
static int allowed(gstage *s, int32_t tok, utf8_partial *after) {
    const tok_info *t = &s->toks[tok];
    if (t->kind == TOK_EOG) return !s->part.remain && infer_gstacks_can_end(&s->cur);
    if (t->kind == TOK_NEVER) return 0;
    if (!s->part.remain) {
        if (t->kind == TOK_CONT || !s->first_ok[t->first]) return 0;
        if (after) *after = t->tail;
        if (s->memo_stamp && t->n_cp > 0) return allowed_memo(s, t);
        return walk(s, &s->cur, s->cps + t->cp_off, t->n_cp, &t->tail);
    }
    utf8_partial p;
    int n = decode_pending(s, tok, &p);
    if (n < 0) return 0;
    if (after) *after = p;
    return walk(s, &s->cur, s->cpbuf, (size_t)n, &p);
}

/* Starts a new memo generation: the current state changed or a new call begins. */
static void new_call(gstage *s) {
    s->n_sets = 0;
    if (++s->call == 0) {   /* wrap-around: forget all stamps */
        if (s->memo_stamp) memset(s->memo_stamp, 0, s->n_nodes * sizeof *s->memo_stamp);
        s->call = 1;
    }
}

/* first_ok[b]: some stack top could match a character whose first byte is b. */
static void compute_prefilter(gstage *s) {
    const infer_grammar *g = s->g;
    memset(s->first_ok, 0, sizeof s->first_ok);
    for (uint32_t b = 0; b < 128; b++) s->first_ok[b] = (uint8_t)infer_gstacks_meets(g, &s->cur, b, b);
    for (uint32_t b = 0xC2; b <= 0xF4; b++) {
        utf8_partial p = {0};
        uint32_t lo, hi, cp;
        unsigned char byte = (unsigned char)b;
        if (infer_gutf8_decode(&byte, 1, &p, &cp, 1) == 0 && infer_gutf8_partial_range(&p, &lo, &hi))
            s->first_ok[b] = (uint8_t)infer_gstacks_meets(g, &s->cur, lo, hi);
    }
}

/* pass[] for this call: first bytes from first_ok, EOG always (checked fully later),
 * continuation-start tokens only while a char is pending. */
static void compute_pass(gstage *s) {
    for (int b = 0; b < 256; b++) s->pass[b] = s->part.remain ? 1 : s->first_ok[b];
    s->pass[KEY_EOG] = 1;
    s->pass[KEY_NEVER] = 0;
    s->pass[KEY_CONT] = s->part.remain != 0;
}

infer_status infer_stage_grammar_filter(sampler_stage *st, const stage_env *env, cand_list *l, size_t k) {
    gstage *s = st->state;
    if (s->cur.n == 0) {
        infer_stage_seterr(env, "grammar: no parse left after %zu tokens", s->n_accepted);
        return INFER_ERR_INVALID_ARG;
    }
    compute_prefilter(s);
    compute_pass(s);
    new_call(s);
    infer_cand *c = l->c;
    size_t n = l->n, kept = 0;
    /* Prefilter pass: cheap, over everything; keeps the order. */
    const uint16_t *key = s->key;
    for (size_t i = 0; i < n; i++) {
        infer_cand x = c[i];
        c[kept] = x;
        kept += s->pass[key[x.id]];
    }
    n = kept;
    kept = 0;
    if (k == 0 || l->sorted) {
        for (size_t i = 0; i < n && (k == 0 || kept < k); i++) {
            int a = allowed(s, c[i].id, NULL);
            if (a < 0) goto nomem;
            if (a) c[kept++] = c[i];
        }
    } else {
        /* Best first in two growing batches (each the top of what is left); if they do
         * not hold k allowed tokens, the allowed ones are rare: check the rest in any
         * order and select the best of those. */
        size_t lo = 0, batch = k * 4 < 64 ? 64 : k * 4;
        for (int round = 0; round < 2 && lo < n && kept < k; round++) {
            size_t take = batch < n - lo ? batch : n - lo;
            infer_cand_top_k(c + lo, n - lo, take);
            for (size_t i = lo; i < lo + take && kept < k; i++) {
                int a = allowed(s, c[i].id, NULL);
                if (a < 0) goto nomem;
                if (a) c[kept++] = c[i];
            }
            lo += take;
            batch *= 8;
        }
        if (kept < k && lo < n) {
            size_t more = kept;
            for (size_t i = lo; i < n; i++) {
                int a = allowed(s, c[i].id, NULL);
                if (a < 0) goto nomem;
                if (a) c[more++] = c[i];
            }
            size_t want = k - kept < more - kept ? k - kept : more - kept;
            if (want) infer_cand_top_k(c + kept, more - kept, want);
            kept += want;
        }
        l->sorted = 1;
    }
    if (kept == 0) {
        infer_stage_seterr(env, "grammar: no token can continue the text after %zu tokens", s->n_accepted);
        return INFER_ERR_INVALID_ARG;
    }
    if (kept != l->n) l->identity = 0;
    l->n = kept;
    return INFER_OK;
nomem:
    infer_stage_seterr(env, "grammar: out of memory");
    return INFER_ERR_NOMEM;
}

static infer_status gs_apply(sampler_stage *st, const stage_env *env, cand_list *l) {
    return infer_stage_grammar_filter(st, env, l, 0);
}

static infer_status gs_accept(sampler_stage *st, const stage_env *env, int32_t tok, int generated) {
    gstage *s = st->state;
    if (!generated) return INFER_OK;
    if (s->toks[tok].kind == TOK_EOG) {
        if (!s->part.remain && infer_gstacks_can_end(&s->cur)) return INFER_OK;
        infer_stage_seterr(env, "grammar: end of generation (token %d) before the grammar is complete", tok);
        return INFER_ERR_INVALID_ARG;
    }
    memset(s->first_ok, 1, sizeof s->first_ok);   /* no prefilter for a single token */
    new_call(s);
    utf8_partial after = {0};
    int a = allowed(s, tok, &after);
    if (a < 0) {
        infer_stage_seterr(env, "grammar: out of memory");
        return INFER_ERR_NOMEM;
    }
    if (!a) {
        infer_stage_seterr(env, "grammar: token %d is not allowed after %zu tokens", tok, s->n_accepted);
        return INFER_ERR_INVALID_ARG;
    }
    g_stacks t = s->cur;   /* the walk left the new state in s->a */
    s->cur = s->a;
    s->a = t;
    s->part = after;
    s->n_accepted++;
    return INFER_OK;
}

const stage_ops infer_stage_grammar_ops = {
    .name = "grammar", .apply = gs_apply, .accept = gs_accept, .reset = gs_reset, .free = gs_free};

/* Decodes every token's text once. */
static infer_status build_token_table(gstage *s, const infer_model *m, infer_error *err) {
    const struct infer_vocab *v = infer_model_vocab(m);
    size_t total = 0, cap = 0;
    char buf[512];
    for (int32_t t = 0; t < s->n_vocab; t++) {
        size_t n = 0;
        if (infer_token_to_bytes(m, t, buf, sizeof buf, &n) == INFER_OK) total += n;
    }
    s->toks = calloc(s->n_vocab > 0 ? (size_t)s->n_vocab : 1, sizeof *s->toks);
    s->bytes = malloc(total ? total : 1);
    s->cps = malloc((total ? total : 1) * sizeof *s->cps);
    if (!s->toks || !s->bytes || !s->cps) return infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory for the vocabulary");
    cap = total;
    size_t at_b = 0, at_c = 0;
    for (int32_t t = 0; t < s->n_vocab; t++) {
        tok_info *ti = &s->toks[t];
        size_t n = 0;
        if (infer_vocab_is_eog(v, t)) {
            ti->kind = TOK_EOG;
            continue;
        }
        if (infer_vocab_is_control(v, t) || infer_token_to_bytes(m, t, buf, sizeof buf, &n) != INFER_OK || n == 0 ||
            n > UINT16_MAX || at_b + n > cap) {
            ti->kind = TOK_NEVER;
            continue;
        }
        memcpy(s->bytes + at_b, buf, n);
        ti->byte_off = (uint32_t)at_b;
        ti->n_bytes = (uint16_t)n;
        ti->first = (uint8_t)buf[0];
        at_b += n;
        utf8_partial p = {0};
        int k = infer_gutf8_decode((const unsigned char *)buf, n, &p, s->cps + at_c, n);
        if (k < 0) {
            /* Not valid from a clean start: usable only to finish a pending char. */
            ti->kind = ((unsigned char)buf[0] & 0xC0) == 0x80 ? TOK_CONT : TOK_NEVER;
            continue;
        }
        ti->cp_off = (uint32_t)at_c;
        ti->n_cp = (uint16_t)k;
        ti->tail = p;
        at_c += (size_t)k;
    }
    return INFER_OK;
}

/* Numbers the distinct prefixes of up to MEMO_DEPTH code points of the text tokens
 * (a trie: a node is its parent and one code point) and allocates the memo. */
static infer_status build_prefix_trie(gstage *s, infer_error *err) {
    size_t cap = 1024;
    while (cap < (size_t)s->n_vocab * MEMO_DEPTH * 2) cap *= 2;
    uint64_t *keys = calloc(cap, sizeof *keys);   /* (parent << 32 | cp) + 1, 0 empty */
    uint32_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory for the token trie");
    }
    uint32_t n_nodes = 1;
    for (int32_t t = 0; t < s->n_vocab; t++) {
        tok_info *ti = &s->toks[t];
        if (ti->kind != TOK_TEXT) continue;
        uint32_t parent = 0;
        for (size_t d = 0; d < ti->n_cp && d < MEMO_DEPTH; d++) {
            uint64_t key = ((uint64_t)parent << 32 | s->cps[ti->cp_off + d]) + 1;
            size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
            while (keys[h] && keys[h] != key) h = (h + 1) & (cap - 1);
            if (!keys[h]) {
                keys[h] = key;
                vals[h] = n_nodes++;
            }
            parent = ti->node[d] = vals[h];
        }
    }
    free(keys);
    free(vals);
    s->n_nodes = n_nodes;
    s->key = malloc((size_t)s->n_vocab * sizeof *s->key);
    if (!s->key) return infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory");
    for (int32_t t = 0; t < s->n_vocab; t++) {
        const tok_info *ti = &s->toks[t];
        s->key[t] = ti->kind == TOK_TEXT ? ti->first : ti->kind == TOK_EOG ? KEY_EOG : ti->kind == TOK_CONT ? KEY_CONT : KEY_NEVER;
    }
    s->memo_stamp = calloc(n_nodes, sizeof *s->memo_stamp);
    s->memo_set = malloc(n_nodes * sizeof *s->memo_set);
    if (!s->memo_stamp || !s->memo_set) return infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory for the token trie");
    return INFER_OK;
}

infer_status infer_stage_grammar_make(sampler_stage *st, const infer_model *m, int32_t n_vocab, const char *gbnf,
                                      size_t len, const char *root, infer_error *err) {
    gstage *s = calloc(1, sizeof *s);
    if (!s) return infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory");
    st->ops = &infer_stage_grammar_ops;
    st->state = s;
    s->n_vocab = n_vocab;
    infer_status rc = infer_grammar_parse(gbnf, len, root, &s->g, err);
    if (rc == INFER_OK) rc = build_token_table(s, m, err);
    if (rc == INFER_OK) rc = build_prefix_trie(s, err);
    if (rc == INFER_OK && infer_grammar_start(s->g, &s->cur, &s->w)) rc = infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory");
    if (rc != INFER_OK) {
        gs_free(st);
        st->state = NULL;
    }
    return rc;
}
