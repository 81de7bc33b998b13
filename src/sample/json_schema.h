/* Pieces of the JSON-schema-to-GBNF converter shared by its files: a growing string,
 * and the two sub-converters (regular-expression patterns, integer ranges). */
#ifndef INFER_SAMPLE_JSON_SCHEMA_H
#define INFER_SAMPLE_JSON_SCHEMA_H

#include <jansson.h>
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
/* The same, for strings of min_len to max_len code points (max_len < 0: no maximum):
 * works when every match has such a length, or when the pattern is one repeated
 * character (^[a-z]+$ with maxLength 20 becomes [a-z]{1,20}). */
int infer_json_regex_to_gbnf_len(const char *re, long min_len, long max_len, jstr *out, char *why, size_t why_cap);

/* Appends a GBNF expression for the integers in [lo, hi]; has_lo/has_hi 0: unbounded.
 * Unbounded sides stop at 16 digits (every such text is still in range). */
void infer_json_int_range(jstr *out, int has_lo, int64_t lo, int has_hi, int64_t hi);

/* Appends a GBNF expression for JSON numbers (no exponent) in the interval given by
 * the bounds (*_set 0: unbounded; *_excl: exclusive). Returns the number of
 * alternatives written; 0 when the interval holds no number the grammar can write. */
int infer_json_number_range(jstr *out, int lo_set, double lo, int lo_excl, int hi_set, double hi, int hi_excl);

/* The GBNF (inside the quotes) of a string format: 1 and *gbnf set (with the shortest
 * and longest text it writes) when written here, -1 for a format the specification
 * defines that is not written, 0 for other names (annotations: a plain string). */
int infer_json_format_gbnf(const char *name, const char **gbnf, int *min_len, int *max_len);

/* 1 when key never changes which instances a schema accepts (title, description,
 * unknown vendor keywords, ...), so the converter may ignore it. */
int infer_json_schema_is_annotation(const char *key);

/* The schema a local $ref ("#", "#/$defs/x", percent- and ~-escaped) names in doc, or
 * NULL. */
json_t *infer_json_schema_resolve(json_t *doc, const char *ref);

/* One schema equal to (or, where noted, a subset of) the allOf of `schema`'s parts:
 * its own keywords, its "allOf" entries and its "$ref" target merged (see
 * json_schema_allof.c). A new reference, or NULL with the reason in why. */
json_t *infer_json_schema_merge(json_t *doc, json_t *schema, char *why, size_t why_cap);

#endif
