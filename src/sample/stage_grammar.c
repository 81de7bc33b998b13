/* The grammar stage: allows only tokens whose text continues a sentence of the grammar.
 *
 * Speed on large vocabularies comes from three things:
 * - every token's text is decoded to code points once, when the stage is made;
 * - a first-byte prefilter, computed once per call from the tops of the current
 *   stacks, rejects most tokens with one table lookup;
 * - fused with a following top-k (or greedy), candidates are checked best first and the
 *   scan stops at k allowed tokens, so the usual cost is a few dozen full checks.
 * A full check walks the token's code points through the stack sets, stopping at the
 * first code point no stack accepts. A token ending inside a UTF-8 character is allowed
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

typedef struct tok_info {
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

/* 1 if token tok is allowed now, 0 if not, -1 out of memory. Fills *after (the pending
 * char after it) when given. */
static int allowed(gstage *s, int32_t tok, utf8_partial *after) {
    const tok_info *t = &s->toks[tok];
    if (t->kind == TOK_EOG) return !s->part.remain && infer_gstacks_can_end(&s->cur);
    if (t->kind == TOK_NEVER) return 0;
    if (!s->part.remain) {
        if (t->kind == TOK_CONT || !s->first_ok[t->first]) return 0;
        if (after) *after = t->tail;
        return walk(s, &s->cur, s->cps + t->cp_off, t->n_cp, &t->tail);
    }
    utf8_partial p;
    int n = decode_pending(s, tok, &p);
    if (n < 0) return 0;
    if (after) *after = p;
    return walk(s, &s->cur, s->cpbuf, (size_t)n, &p);
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

/* Cheap test: can token tok pass at all? (kind and first byte only) */
static int may_pass(const gstage *s, int32_t tok) {
    const tok_info *t = &s->toks[tok];
    if (t->kind == TOK_EOG) return 1;
    if (t->kind == TOK_NEVER) return 0;
    if (s->part.remain) return 1;
    return t->kind == TOK_TEXT && s->first_ok[t->first];
}

infer_status infer_stage_grammar_filter(sampler_stage *st, const stage_env *env, cand_list *l, size_t k) {
    gstage *s = st->state;
    if (s->cur.n == 0) {
        infer_stage_seterr(env, "grammar: no parse left after %zu tokens", s->n_accepted);
        return INFER_ERR_INVALID_ARG;
    }
    compute_prefilter(s);
    infer_cand *c = l->c;
    size_t n = l->n, kept = 0;
    /* Prefilter pass: cheap, over everything; keeps the order. */
    for (size_t i = 0; i < n; i++)
        if (may_pass(s, c[i].id)) c[kept++] = c[i];
    n = kept;
    kept = 0;
    if (k == 0 || l->sorted) {
        for (size_t i = 0; i < n && (k == 0 || kept < k); i++) {
            int a = allowed(s, c[i].id, NULL);
            if (a < 0) goto nomem;
            if (a) c[kept++] = c[i];
        }
    } else {
        /* Best first in growing batches: each batch is the top of what is left. */
        size_t lo = 0, batch = k * 4 < 64 ? 64 : k * 4;
        while (lo < n && kept < k) {
            size_t take = batch < n - lo ? batch : n - lo;
            infer_cand_top_k(c + lo, n - lo, take);
            for (size_t i = lo; i < lo + take && kept < k; i++) {
                int a = allowed(s, c[i].id, NULL);
                if (a < 0) goto nomem;
                if (a) c[kept++] = c[i];
            }
            lo += take;
            batch *= 4;
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

infer_status infer_stage_grammar_make(sampler_stage *st, const infer_model *m, int32_t n_vocab, const char *gbnf,
                                      size_t len, const char *root, infer_error *err) {
    gstage *s = calloc(1, sizeof *s);
    if (!s) return infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory");
    st->ops = &infer_stage_grammar_ops;
    st->state = s;
    s->n_vocab = n_vocab;
    infer_status rc = infer_grammar_parse(gbnf, len, root, &s->g, err);
    if (rc == INFER_OK) rc = build_token_table(s, m, err);
    if (rc == INFER_OK && infer_grammar_start(s->g, &s->cur, &s->w)) rc = infer_err(err, INFER_ERR_NOMEM, "grammar: out of memory");
    if (rc != INFER_OK) {
        gs_free(st);
        st->state = NULL;
    }
    return rc;
}
