/* GBNF grammars: the parsed form (grammar_parse.c) and the matcher (grammar_match.c).
 *
 * Parsed form: every rule is a list of alternatives, each a sequence of elements, laid
 * out flat in `elems`:
 *     rule r:  elems[rule_start[r]] ... : alt1 elements, G_ALT, alt2 elements, ..., G_END
 * An element is a reference to a rule or a character class. Repetitions, groups and
 * optionals become generated rules whose recursion is always in tail position, so a
 * matcher stack never grows with the length of a repetition.
 *
 * Matcher: the state after some text is a set of stacks; a stack lists, bottom to top,
 * positions in `elems` still to be matched (each the next element of some sequence).
 * After expansion the top of every stack is a character class, or the stack is empty
 * (the text so far is a whole sentence). Accepting a code point keeps the stacks whose
 * top class matches it, pops that class and expands again. */
#ifndef INFER_SAMPLE_GRAMMAR_H
#define INFER_SAMPLE_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "infer.h"

enum { G_END = 0, G_ALT = 1, G_REF = 2, G_CLASS = 3 };

typedef struct g_elem {
    uint32_t kind;    /* G_* */
    uint32_t value;   /* G_REF: rule index; G_CLASS: class index */
} g_elem;

typedef struct g_range {
    uint32_t lo, hi;   /* inclusive code points */
} g_range;

typedef struct g_class {
    uint32_t first, count;   /* ranges[first .. first+count) */
    int negated;
    uint32_t ascii[4];       /* 128-bit map of the ASCII code points the class matches */
} g_class;

struct infer_grammar {
    g_elem *elems;
    size_t n_elems;
    uint32_t *rule_start;   /* (n_rules) */
    char **rule_name;       /* (n_rules) source names; generated rules "name_N" */
    size_t n_rules;
    g_range *ranges;
    size_t n_ranges;
    g_class *classes;
    size_t n_classes;
    uint32_t root;
};

/* 1 if class index ci matches code point cp. */
int infer_grammar_class_match(const struct infer_grammar *g, uint32_t ci, uint32_t cp);
/* 1 if the class matches some code point in [lo, hi]. */
int infer_grammar_class_meets(const struct infer_grammar *g, uint32_t ci, uint32_t lo, uint32_t hi);

/* ---- matcher */

/* A set of stacks, stored back to back in one pool. */
typedef struct g_stacks {
    uint32_t *pool;
    size_t pool_len, pool_cap;
    uint32_t *off, *len;   /* (n) */
    uint64_t *hash;        /* (n) content hashes, for deduplication */
    size_t n, cap;
    int overflow;          /* stacks were dropped at a limit (the set stays sound) */
} g_stacks;

/* Scratch used by expansion. */
typedef struct g_work {
    uint32_t *v;
    size_t len, cap;
} g_work;

void infer_gstacks_free(g_stacks *s);
void infer_gstacks_clear(g_stacks *s);
int infer_gstacks_copy(g_stacks *dst, const g_stacks *src);   /* 0 ok, -1 no memory */
/* The stacks at the start of the text. 0 ok, -1 out of memory. */
int infer_grammar_start(const struct infer_grammar *g, g_stacks *out, g_work *w);
/* out = stacks after code point cp (out cleared first). 0 ok, -1 out of memory. */
int infer_grammar_step(const struct infer_grammar *g, const g_stacks *in, uint32_t cp, g_stacks *out, g_work *w);
/* 1 if some stack is empty (the text so far is a whole sentence). */
int infer_gstacks_can_end(const g_stacks *s);
/* 1 if some stack's top class matches a code point in [lo, hi] (a partial UTF-8 char). */
int infer_gstacks_meets(const struct infer_grammar *g, const g_stacks *s, uint32_t lo, uint32_t hi);

/* UTF-8 decoding that carries a character split between tokens. */
typedef struct utf8_partial {
    uint32_t value;    /* bits decoded so far */
    uint8_t remain;    /* continuation bytes still expected (0: none pending) */
    uint8_t min_len;   /* the sequence's length, to reject overlong forms */
} utf8_partial;

/* Decodes bytes continuing from *p: calls cps[] with complete code points (at most
 * cap), leaves an unfinished char in *p. Returns the number of code points, or -1 for
 * invalid UTF-8 (or more than cap). */
int infer_gutf8_decode(const unsigned char *b, size_t n, utf8_partial *p, uint32_t *cps, size_t cap);
/* The range of code points an unfinished char can still become; 0 if none (an
 * overlong or out-of-range start). */
int infer_gutf8_partial_range(const utf8_partial *p, uint32_t *lo, uint32_t *hi);

#endif
