/* Pieces of the JSON-schema-to-GBNF converter shared by its files: a growing string,
 * and the two sub-converters (regular-expression patterns, integer ranges). */
#ifndef INFER_SAMPLE_JSON_SCHEMA_H
#define INFER_SAMPLE_JSON_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

typedef struct jstr {
    char *s;
    size_t n, cap;
    int oom;   /* sticky: an append failed */
} jstr;

void jstr_add(jstr *b, const char *s);
void jstr_addn(jstr *b, const char *s, size_t n);
void jstr_addf(jstr *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jstr_free(jstr *b);
/* Appends code point cp as a GBNF literal "..." of its JSON encoding inside a string
 * (quote, backslash and control characters escaped the way JSON writes them). */
void jstr_add_json_char_literal(jstr *b, uint32_t cp);
/* Appends a GBNF string literal for len bytes of text (escaped for GBNF). */
void jstr_add_literal(jstr *b, const char *text, size_t len);

/* Appends a GBNF expression for the JSON string contents (without the quotes) that
 * fully match the regular expression `re`. Returns 0, or -1 with a message in why
 * (naming the offset in the pattern). */
int infer_json_regex_to_gbnf(const char *re, jstr *out, char *why, size_t why_cap);

/* Appends a GBNF expression for the integers in [lo, hi]; has_lo/has_hi 0: unbounded.
 * Unbounded sides stop at 16 digits (every such text is still in range). */
void infer_json_int_range(jstr *out, int has_lo, int64_t lo, int has_hi, int64_t hi);

#endif
