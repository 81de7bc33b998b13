/* JSON schema -> GBNF. The grammar's sentences are JSON texts valid under the schema
 * (a subset of them where the grammar cannot say everything, e.g. dates keep days to
 * 01-28 and objects list their properties in the schema's order). Keywords that would
 * change which texts are valid and that the converter does not implement are errors
 * naming the keyword and its JSON pointer; annotations (title, description, ...) are
 * ignored.
 *
 * Layout of the output: one rule per schema node (named after the property or $defs
 * entry it came from), identical bodies shared, and the primitive rules (ws, string,
 * number, ...) appended once when used. Objects: properties in schema order, required
 * ones always present, optional ones optional; extra properties only when
 * additionalProperties is true or a schema (absent counts as false where properties are
 * declared: every text the grammar allows is still valid; an object schema without
 * properties takes any members); extra keys never repeat a declared name.
 *
 * Keywords: type, properties, required, additionalProperties, enum, const, items,
 * prefixItems (and draft-7 tuple items/additionalItems), min/maxItems, uniqueItems (enum
 * items as an ordered subset, other items at most one), $ref (local, to $defs,
 * definitions or "#"), anyOf/oneOf (oneOf read as anyOf; beside other keywords each
 * alternative is merged with them), allOf and $ref with siblings (merged:
 * json_schema_allof.c), min/maxLength, pattern (json_schema_regex.c), format
 * (json_schema_format.c), minimum/maximum/exclusive* for integers (json_schema_int.c)
 * and numbers (json_schema_num.c). Refused: not, if/then/else, dependent*, contains,
 * unevaluated*, patternProperties, propertyNames, min/maxProperties, multipleOf,
 * dynamic refs, format beside pattern or lengths that cut into it, and a pattern with
 * lengths unless they fit (json_schema_regex.c). Known gap: oneOf is written as anyOf,
 * so alternatives that overlap (two objects without required properties both allow {})
 * can give a text that matches more than one of them. */
#include "core/error.h"
#include "sample/json_schema.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

/* ---- growing strings */

static void jstr_reserve(jstr *b, size_t extra) {
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + extra + 1) c *= 2;
    char *g = realloc(b->s, c);
    if (!g) {
        b->oom = 1;
        return;
    }
    b->s = g;
    b->cap = c;
}

void jstr_addn(jstr *b, const char *s, size_t n) {
    jstr_reserve(b, n);
    if (b->oom) return;
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

void jstr_add(jstr *b, const char *s) { jstr_addn(b, s, strlen(s)); }

void jstr_addf(jstr *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        jstr_addn(b, tmp, (size_t)n);
        return;
    }
    jstr_reserve(b, (size_t)n);
    if (b->oom) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

void jstr_free(jstr *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* A GBNF literal: quote, backslash and non-printable bytes escaped; other UTF-8 as is. */
void jstr_add_literal(jstr *b, const char *text, size_t len) {
    jstr_add(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') jstr_addf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7F) jstr_addf(b, "\\x%02X", c);
        else jstr_addn(b, (const char *)&c, 1);
    }
    jstr_add(b, "\"");
}

void jstr_add_json_char_literal(jstr *b, uint32_t cp) {
    char enc[16];
    size_t n;
    if (cp == '"') n = (size_t)snprintf(enc, sizeof enc, "\\\"");
    else if (cp == '\\') n = (size_t)snprintf(enc, sizeof enc, "\\\\");
    else if (cp == '\n') n = (size_t)snprintf(enc, sizeof enc, "\\n");
    else if (cp == '\t') n = (size_t)snprintf(enc, sizeof enc, "\\t");
    else if (cp == '\r') n = (size_t)snprintf(enc, sizeof enc, "\\r");
    else if (cp < 0x20) n = (size_t)snprintf(enc, sizeof enc, "\\u%04X", cp);
    else if (cp < 0x80) enc[0] = (char)cp, n = 1;
    else if (cp < 0x800) enc[0] = (char)(0xC0 | cp >> 6), enc[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        enc[0] = (char)(0xE0 | cp >> 12), enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), enc[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        enc[0] = (char)(0xF0 | cp >> 18), enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
        enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), enc[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    jstr_add_literal(b, enc, n);
    jstr_add(b, " ");
}

/* ---- primitives */

enum { P_WS, P_CHAR, P_STRING, P_INTEGER, P_NUMBER, P_BOOLEAN, P_NULL, P_VALUE, P_OBJECT, P_ARRAY, P_COUNT };

static const struct {
    const char *name, *body;
    unsigned deps;
} prims[P_COUNT] = {
    [P_WS] = {"ws", "| \" \" | \"\\n\" [ \\t]{0,20}", 0},
    [P_CHAR] = {"char", "[^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})", 0},
    [P_STRING] = {"string", "\"\\\"\" char* \"\\\"\"", 1u << P_CHAR},
    [P_INTEGER] = {"integer", "\"-\"? (\"0\" | [1-9] [0-9]{0,15})", 0},
    [P_NUMBER] = {"number", "\"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?", 0},
    [P_BOOLEAN] = {"boolean", "\"true\" | \"false\"", 0},
    [P_NULL] = {"null", "\"null\"", 0},
    [P_VALUE] = {"value", "object | array | string | number | boolean | null",
                 1u << P_OBJECT | 1u << P_ARRAY | 1u << P_STRING | 1u << P_NUMBER | 1u << P_BOOLEAN | 1u << P_NULL},
    [P_OBJECT] = {"object",
                  "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\"",
                  1u << P_WS | 1u << P_STRING | 1u << P_VALUE},
    [P_ARRAY] = {"array", "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\"", 1u << P_WS | 1u << P_VALUE},
};

/* ---- converter state */

typedef struct jrule {
    char *name, *body;   /* body NULL while a $ref target is being built */
} jrule;

typedef struct jref {
    char *ref;
    size_t rule;
} jref;

typedef struct conv {
    json_t *doc;
    jrule *rules;
    size_t n_rules, cap_rules;
    jref *refs;
    size_t n_refs, cap_refs;
    unsigned used;   /* primitives */
    infer_error *err;
    int failed;
    infer_status fail_status;
    char path[512];
    size_t path_len;
    int depth;
} conv;

static const char *fail(conv *c, infer_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *fail(conv *c, infer_status st, const char *fmt, ...) {
    if (c->failed) return NULL;
    c->failed = 1;
    c->fail_status = st;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    infer_err(c->err, st, "json schema: %s at %s", msg, c->path_len ? c->path : "/");
    return NULL;
}

static const char *prim(conv *c, int p) {
    c->used |= 1u << p;
    return prims[p].name;
}

static size_t path_push(conv *c, const char *seg) {
    size_t old = c->path_len;
    int n = snprintf(c->path + old, sizeof c->path - old, "/%s", seg);
    c->path_len = n < 0 || (size_t)n >= sizeof c->path - old ? sizeof c->path - 1 : old + (size_t)n;
    return old;
}
static void path_pop(conv *c, size_t old) {
    c->path_len = old;
    c->path[old] = 0;
}

static int name_taken(const conv *c, const char *name) {
    for (int p = 0; p < P_COUNT; p++)
        if (strcmp(prims[p].name, name) == 0) return 1;
    if (strcmp(name, "root") == 0) return 0;
    for (size_t i = 0; i < c->n_rules; i++)
        if (strcmp(c->rules[i].name, name) == 0) return 1;
    return 0;
}

/* Reserves a rule named after hint (word characters only); returns its index. */
static int64_t new_rule(conv *c, const char *hint) {
    char base[48], name[64];
    size_t n = 0;
    for (const char *h = hint; *h && n < sizeof base - 1; h++) {
        char ch = *h;
        int word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        base[n++] = word ? ch : '-';
    }
    if (n == 0) base[n++] = 'r';
    base[n] = 0;
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1; name_taken(c, name) || strcmp(name, "root") == 0; k++) snprintf(name, sizeof name, "%s-%d", base, k);
    if (c->n_rules == c->cap_rules) {
        size_t cap = c->cap_rules ? c->cap_rules * 2 : 32;
        jrule *g = realloc(c->rules, cap * sizeof *g);
        if (!g) return fail(c, INFER_ERR_NOMEM, "out of memory"), -1;
        c->rules = g;
        c->cap_rules = cap;
    }
    c->rules[c->n_rules].name = strdup(name);
    c->rules[c->n_rules].body = NULL;
    if (!c->rules[c->n_rules].name) return fail(c, INFER_ERR_NOMEM, "out of memory"), -1;
    return (int64_t)c->n_rules++;
}

/* Defines a rule with this body (sharing an existing rule with the same body). Takes
 * the body string (jstr) and frees it. */
static const char *define(conv *c, const char *hint, jstr *body) {
    if (body->n == 0) jstr_add(body, "\"\"");   /* the empty string, spelled out */
    if (body->oom) {
        jstr_free(body);
        return fail(c, INFER_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < c->n_rules; i++)
        if (c->rules[i].body && strcmp(c->rules[i].body, body->s) == 0) {
            jstr_free(body);
            return c->rules[i].name;
        }
    int64_t r = new_rule(c, hint);
    if (r < 0) {
        jstr_free(body);
        return NULL;
    }
    c->rules[r].body = body->s;
    body->s = NULL;
    jstr_free(body);
    return c->rules[r].name;
}

/* ---- keyword checks */

/* Keywords that change validity: handled ones, and those the converter refuses (an
 * error naming them beats a grammar that ignores them). Every other key is an annotation
 * (title, description, default, examples, Pydantic's discriminator, OpenAPI's nullable
 * and x-*, ...): 2020-12 validators ignore unknown keywords, and so does the converter. */
static const char *const handled_keywords[] = {
    "type", "properties", "required", "additionalProperties", "enum", "const", "items", "prefixItems",
    "minItems", "maxItems", "$ref", "anyOf", "oneOf", "allOf", "format", "minLength", "maxLength", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "uniqueItems", "additionalItems",
    "minProperties", "maxProperties", "patternProperties",
};
static const char *const refused_keywords[] = {
    "not", "if", "then", "else", "dependentSchemas", "dependentRequired", "dependencies", "contains",
    "minContains", "maxContains", "unevaluatedItems", "unevaluatedProperties",
    "propertyNames", "multipleOf", "$dynamicRef", "$recursiveRef",
};

static int in_list(const char *key, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, list[i]) == 0) return 1;
    return 0;
}

int infer_json_schema_is_annotation(const char *key) {
    return !in_list(key, handled_keywords, sizeof handled_keywords / sizeof *handled_keywords) &&
           !in_list(key, refused_keywords, sizeof refused_keywords / sizeof *refused_keywords);
}

static int check_keywords(conv *c, json_t *s) {
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (in_list(key, refused_keywords, sizeof refused_keywords / sizeof *refused_keywords)) {
            fail(c, INFER_ERR_UNSUPPORTED, "unsupported keyword '%s'", key);
            return -1;
        }
    }
    return 0;
}

/* 1 when s has a keyword besides `except` that changes validity. */
static int has_validating_sibling(json_t *s, const char *except) {
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (strcmp(key, except) != 0 && !infer_json_schema_is_annotation(key)) return 1;
    }
    return 0;
}

static int get_count(conv *c, json_t *s, const char *key, int64_t *out, int64_t dflt) {
    json_t *v = json_object_get(s, key);
    *out = dflt;
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000) {
        fail(c, INFER_ERR_UNSUPPORTED, "'%s' must be a non-negative integer up to 100000", key);
        return -1;
    }
    *out = json_integer_value(v);
    return 0;
}

/* ---- the walk */

static const char *visit(conv *c, json_t *s, const char *hint);

/* The texts of one JSON value: scalars as written compactly, arrays and objects with
 * the whitespace a model puts between tokens (members in the value's order). */
static int add_value(conv *c, jstr *b, json_t *v, int depth) {
    if (depth > MAX_DEPTH) return fail(c, INFER_ERR_UNSUPPORTED, "enum/const value nested too deeply"), -1;
    if (json_is_array(v) || json_is_object(v)) {
        int arr = json_is_array(v);
        size_t n = arr ? json_array_size(v) : json_object_size(v), i = 0;
        const char *key;
        json_t *m;
        jstr_add(b, arr ? "\"[\" ws " : "\"{\" ws ");
        prim(c, P_WS);
        if (arr) {
            for (i = 0; i < n; i++) {
                if (i) jstr_add(b, "\",\" ws ");
                if (add_value(c, b, json_array_get(v, i), depth + 1)) return -1;
                jstr_add(b, " ws ");
            }
        } else {
            json_object_foreach(v, key, m) {
                json_t *js = json_string(key);
                char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
                json_decref(js);
                if (!enc) return fail(c, INFER_ERR_NOMEM, "out of memory"), -1;
                if (i++) jstr_add(b, "\",\" ws ");
                jstr_add_literal(b, enc, strlen(enc));
                free(enc);
                jstr_add(b, " ws \":\" ws ");
                if (add_value(c, b, m, depth + 1)) return -1;
                jstr_add(b, " ws ");
            }
        }
        jstr_add(b, arr ? "\"]\"" : "\"}\"");
        return 0;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) return fail(c, INFER_ERR_NOMEM, "out of memory"), -1;
    jstr_add_literal(b, text, strlen(text));
    free(text);
    return 0;
}

static const char *literal_rule(conv *c, json_t *const *vals, size_t n, const char *hint) {
    jstr b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i) jstr_add(&b, " | ");
        if (add_value(c, &b, vals[i], 0)) {
            jstr_free(&b);
            return NULL;
        }
    }
    return define(c, hint, &b);
}

/* 1 when v is an instance of the JSON schema type name t. */
static int has_type(json_t *v, const char *t) {
    if (strcmp(t, "string") == 0) return json_is_string(v);
    if (strcmp(t, "number") == 0) return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    if (strcmp(t, "boolean") == 0) return json_is_boolean(v);
    if (strcmp(t, "null") == 0) return json_is_null(v);
    if (strcmp(t, "object") == 0) return json_is_object(v);
    if (strcmp(t, "array") == 0) return json_is_array(v);
    return 0;
}

/* enum (or const) next to "type": a value must satisfy both, so the literals of the
 * type(s) are the alternatives. */
static const char *typed_literal_rule(conv *c, json_t *lits, int is_const, json_t *type, const char *hint) {
    if (!is_const && (!json_is_array(lits) || json_array_size(lits) == 0))
        return fail(c, INFER_ERR_FORMAT, "'enum' must be a non-empty array");
    size_t n = is_const ? 1 : json_array_size(lits), k = 0;
    json_t **vals = malloc(n * sizeof *vals);
    if (!vals) return fail(c, INFER_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *v = is_const ? lits : json_array_get(lits, i);
        int ok = 0;
        if (json_is_string(type)) ok = has_type(v, json_string_value(type));
        for (size_t t = 0; json_is_array(type) && t < json_array_size(type) && !ok; t++)
            ok = json_is_string(json_array_get(type, t)) && has_type(v, json_string_value(json_array_get(type, t)));
        if (ok) vals[k++] = v;
    }
    const char *r = k ? literal_rule(c, vals, k, hint)
                      : fail(c, INFER_ERR_UNSUPPORTED, "no value of '%s' has the schema's type: the schema allows nothing",
                             is_const ? "const" : "enum");
    free(vals);
    return r;
}

static int hex_digit(char ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* A $ref is a URI fragment holding a JSON pointer (RFC 6901): %XX escapes first, then
 * ~1 and ~0 within each segment. */
json_t *infer_json_schema_resolve(json_t *doc, const char *ref) {
    if (!ref || ref[0] != '#') return NULL;
    json_t *t = doc;
    const char *p = ref + 1;
    char seg[256];
    while (*p) {
        if (*p != '/') return NULL;
        p++;
        size_t n = 0;
        while (*p && *p != '/') {
            if (n == sizeof seg - 1) return NULL;
            char ch = *p++;
            if (ch == '%' && hex_digit(p[0]) >= 0 && hex_digit(p[1]) >= 0) {
                ch = (char)(hex_digit(p[0]) * 16 + hex_digit(p[1]));
                p += 2;
            }
            if (ch == '~' && (*p == '0' || *p == '1')) ch = *p++ == '1' ? '/' : '~';
            seg[n++] = ch;
        }
        seg[n] = 0;
        if (json_is_object(t)) t = json_object_get(t, seg);
        else if (json_is_array(t) && n > 0 && strspn(seg, "0123456789") == n) t = json_array_get(t, strtoul(seg, NULL, 10));
        else t = NULL;
        if (!t) return NULL;
    }
    return t;
}

static const char *visit_ref(conv *c, const char *ref) {
    for (size_t i = 0; i < c->n_refs; i++)
        if (strcmp(c->refs[i].ref, ref) == 0) return c->rules[c->refs[i].rule].name;
    if (strncmp(ref, "#", 1) != 0) return fail(c, INFER_ERR_UNSUPPORTED, "only local $ref (#/...) is supported, not '%s'", ref);
    json_t *t = infer_json_schema_resolve(c->doc, ref);
    if (!t) return fail(c, INFER_ERR_FORMAT, "$ref '%s' points nowhere", ref);
    const char *last = strrchr(ref, '/') ? strrchr(ref, '/') + 1 : "ref";
    if (c->n_refs == c->cap_refs) {
        size_t cap = c->cap_refs ? c->cap_refs * 2 : 8;
        jref *g = realloc(c->refs, cap * sizeof *g);
        if (!g) return fail(c, INFER_ERR_NOMEM, "out of memory");
        c->refs = g;
        c->cap_refs = cap;
    }
    int64_t r = new_rule(c, last);
    if (r < 0) return NULL;
    c->refs[c->n_refs].ref = strdup(ref);
    if (!c->refs[c->n_refs].ref) return fail(c, INFER_ERR_NOMEM, "out of memory");
    c->refs[c->n_refs++].rule = (size_t)r;
    size_t old = path_push(c, ref[1] ? ref + 2 : "");
    const char *target = visit(c, t, last);
    path_pop(c, old);
    if (!target) return NULL;
    jstr b = {0};
    jstr_add(&b, target);
    if (b.oom) return fail(c, INFER_ERR_NOMEM, "out of memory");
    c->rules[r].body = b.s;   /* name ::= target */
    return c->rules[r].name;
}

/* One step of an optional-members chain (object properties, unique enum items), built
 * from the back: <hint>-rest (something came before) and <hint>-first (nothing yet).
 * Takes both bodies. */
static int define_chain_step(conv *c, const char *hint, jstr *rest_body, jstr *first_body, const char **rest,
                             const char **first) {
    char hr[80], hf[80];
    snprintf(hr, sizeof hr, "%s-rest", hint);
    snprintf(hf, sizeof hf, "%s-first", hint);
    const char *r = define(c, hr, rest_body);
    if (!r) {
        jstr_free(first_body);
        return -1;
    }
    const char *f = define(c, hf, first_body);
    if (!f) return -1;
    *rest = r;
    *first = f;
    return 0;
}

/* Keys of additional properties: any string except the declared names, or a text could
 * repeat a declared property with a value its schema rejects (or that the schema's
 * own rule would have written differently). A trie over the names' code points: at each
 * node the key may end (unless a name ends there), go on with a character no name
 * continues with, or follow a name. Escapes are left out so that a name cannot come
 * back spelled as \u0061. */
static int utf8_next(const char *s, uint32_t *cp) {
    const unsigned char *p = (const unsigned char *)s;
    int n = p[0] < 0x80 ? 1 : p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 1;
    uint32_t v = n == 1 ? p[0] : n == 2 ? p[0] & 0x1Fu : n == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return *cp = p[0], 1;
        v = v << 6 | (p[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

/* The rule for keys whose first `depth` code points equal those of names[0..n) (all
 * sharing that prefix at byte offset `off`). */
static const char *other_key_node(conv *c, const char *const *names, size_t n, size_t off, int depth, const char *hint) {
    if (depth > 256) return fail(c, INFER_ERR_UNSUPPORTED, "property names too long");
    jstr b = {0}, cls = {0};
    int ends_here = 0;
    for (size_t i = 0; i < n; i++) ends_here |= names[i][off] == 0;
    if (!ends_here) jstr_add(&b, "\"\\\"\" | ");
    jstr_add(&cls, "[^\"\\\\\\x7F\\x00-\\x1F");
    int first_alt = 1;
    for (size_t i = 0; i < n && !c->failed; i++) {
        if (names[i][off] == 0) continue;
        uint32_t cp;
        int len = utf8_next(names[i] + off, &cp);
        int seen = 0;   /* this code point already followed */
        for (size_t j = 0; j < i && !seen; j++) seen = names[j][off] && strncmp(names[j] + off, names[i] + off, (size_t)len) == 0;
        if (seen) continue;
        jstr_addf(&cls, "\\U%08X", cp);
        const char **sub = malloc(n * sizeof *sub);
        if (!sub) {
            fail(c, INFER_ERR_NOMEM, "out of memory");
            break;
        }
        size_t m = 0;
        for (size_t j = i; j < n; j++)
            if (names[j][off] && strncmp(names[j] + off, names[i] + off, (size_t)len) == 0) sub[m++] = names[j];
        const char *child = other_key_node(c, sub, m, off + (size_t)len, depth + 1, hint);
        free(sub);
        if (!child) break;
        jstr_addf(&b, "%s", first_alt ? "" : " | ");
        first_alt = 0;
        jstr tmp = {0};
        jstr_add_json_char_literal(&tmp, cp);   /* quote/backslash/control as JSON escapes */
        jstr_addf(&b, "%s%s", tmp.s ? tmp.s : "", child);
        jstr_free(&tmp);
    }
    jstr_add(&cls, "]");
    if (c->failed) {
        jstr_free(&b);
        jstr_free(&cls);
        return NULL;
    }
    jstr_addf(&b, "%s%s [^\"\\\\\\x7F\\x00-\\x1F]* \"\\\"\"", first_alt ? "" : " | ", cls.s);
    jstr_free(&cls);
    return define(c, hint, &b);
}

static const char *other_key_rule(conv *c, const char *const *names, size_t n) {
    if (n == 0) return prim(c, P_STRING);
    jstr b = {0};
    const char *node = other_key_node(c, names, n, 0, 0, "other-key-tail");
    if (!node) return NULL;
    jstr_addf(&b, "\"\\\"\" %s", node);
    return define(c, "other-key", &b);
}

static const char *visit_object(conv *c, json_t *s, const char *hint) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties");
    /* An object schema that declares no properties at all ({"type": "object"} for
     * free-form metadata) means any members, as in llama.cpp; with declared properties
     * an absent additionalProperties still means none beyond them. */
    if (!addl && !props && !json_object_get(s, "patternProperties")) addl = json_true();
    if (props && !json_is_object(props)) return fail(c, INFER_ERR_FORMAT, "'properties' must be an object");
    if (req && !json_is_array(req)) return fail(c, INFER_ERR_FORMAT, "'required' must be an array");
    /* The property list: declared ones in order, then required names not declared. */
    size_t n = json_object_size(props) + json_array_size(req);
    const char **names = calloc(n ? n : 1, sizeof *names);
    const char **vals = calloc(n ? n : 1, sizeof *vals);
    int *is_req = calloc(n ? n : 1, sizeof *is_req);
    const char *result = NULL;
    if (!names || !vals || !is_req) {
        fail(c, INFER_ERR_NOMEM, "out of memory");
        goto done;
    }
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(props, key, v) {
        size_t old = path_push(c, "properties");
        path_push(c, key);
        vals[k] = visit(c, v, key);
        path_pop(c, old);
        if (!vals[k]) goto done;
        names[k++] = key;
    }
    for (size_t i = 0; i < json_array_size(req); i++) {
        json_t *r = json_array_get(req, i);
        if (!json_is_string(r)) {
            fail(c, INFER_ERR_FORMAT, "'required' entries must be strings");
            goto done;
        }
        size_t j = 0;
        while (j < k && strcmp(names[j], json_string_value(r)) != 0) j++;
        if (j == k) {   /* required but not declared: additionalProperties says what it holds */
            names[k] = json_string_value(r);
            if (json_is_false(addl)) {
                fail(c, INFER_ERR_UNSUPPORTED, "required property '%s' is forbidden by additionalProperties: false",
                     names[k]);
                goto done;
            }
            if (addl && !json_is_true(addl)) {
                size_t old = path_push(c, "additionalProperties");
                vals[k] = visit(c, addl, "additional");
                path_pop(c, old);
                if (!vals[k]) goto done;
            } else {
                vals[k] = prim(c, P_VALUE);
            }
            k++;
        }
        is_req[j] = 1;
    }
    /* min/maxProperties only where the grammar meets them anyway: required ones count
     * towards the minimum, and without extras the declared ones bound the maximum. */
    json_t *pp = json_object_get(s, "patternProperties");
    int64_t min_p, max_p, n_req = 0;
    for (size_t i = 0; i < k; i++) n_req += is_req[i];
    if (get_count(c, s, "minProperties", &min_p, 0) || get_count(c, s, "maxProperties", &max_p, -1)) goto done;
    if (min_p > n_req) {
        fail(c, INFER_ERR_UNSUPPORTED, "minProperties above the number of required properties is not supported");
        goto done;
    }
    if (max_p >= 0 && ((addl && !json_is_false(addl)) || pp || (int64_t)k > max_p)) {
        fail(c, INFER_ERR_UNSUPPORTED, "maxProperties below the number of properties the object may have is not supported");
        goto done;
    }
    const char *extra = NULL;   /* rule for one additional "key": value pair */
    if (pp) {
        /* Keys matching the one pattern, with its schema; only where no declared name or
         * other extra key could also have to match it. */
        const char *re = NULL;
        json_t *pv = NULL;
        if (json_is_object(pp) && json_object_size(pp) == 1) {
            void *it = json_object_iter(pp);
            re = json_object_iter_key(it);
            pv = json_object_iter_value(it);
        }
        if (!re || k > 0 || (addl && !json_is_false(addl))) {
            fail(c, INFER_ERR_UNSUPPORTED, "patternProperties is supported only as one pattern, with no properties, "
                                           "required or additionalProperties beside it");
            goto done;
        }
        size_t old = path_push(c, "patternProperties");
        path_push(c, re);
        const char *pval = visit(c, pv, "pattern-value");
        path_pop(c, old);
        if (!pval) goto done;
        jstr b = {0};
        char why[160];
        jstr_add(&b, "\"\\\"\" ");
        if (infer_json_regex_to_gbnf(re, &b, why, sizeof why)) {
            jstr_free(&b);
            fail(c, INFER_ERR_UNSUPPORTED, "patternProperties key: %s", why);
            goto done;
        }
        jstr_addf(&b, " \"\\\"\" ws \":\" ws %s ws", pval);
        prim(c, P_WS);
        if (!(extra = define(c, "pattern-kv", &b))) goto done;
    } else if (addl && !json_is_false(addl)) {
        size_t old = path_push(c, "additionalProperties");
        const char *av = json_is_true(addl) ? prim(c, P_VALUE) : visit(c, addl, "additional");
        path_pop(c, old);
        if (!av) goto done;
        const char *key_rule = other_key_rule(c, names, k);
        if (!key_rule) goto done;
        jstr b = {0};
        jstr_addf(&b, "%s ws \":\" ws %s ws", key_rule, av);
        prim(c, P_WS);
        if (!(extra = define(c, "additional-kv", &b))) goto done;
    }
    /* Chains from the last property back: R_i (something came before) and F_i
     * (nothing yet). */
    const char *r_next, *f_next;
    {
        jstr rb = {0}, fb = {0};
        if (extra) {
            jstr_addf(&rb, "( \",\" ws %s )*", extra);
            jstr_addf(&fb, "( %s ( \",\" ws %s )* )?", extra, extra);
        }
        if (!(r_next = define(c, "obj-end", &rb))) goto done;
        if (!(f_next = define(c, "obj-empty", &fb))) goto done;
    }
    for (size_t i = k; i-- > 0;) {
        /* key literal: the JSON encoding of the name */
        json_t *js = json_string(names[i]);
        char *enc = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
        json_decref(js);
        if (!enc) {
            fail(c, INFER_ERR_NOMEM, "out of memory");
            goto done;
        }
        jstr pair = {0};
        jstr_add_literal(&pair, enc, strlen(enc));
        free(enc);
        jstr_addf(&pair, " ws \":\" ws %s ws", vals[i]);
        prim(c, P_WS);
        char hint_kv[80];
        snprintf(hint_kv, sizeof hint_kv, "%s-%s-kv", hint, names[i]);
        const char *kvr = define(c, hint_kv, &pair);
        if (!kvr) goto done;
        jstr rb = {0}, fb = {0};
        if (is_req[i]) {
            jstr_addf(&rb, "\",\" ws %s %s", kvr, r_next);
            jstr_addf(&fb, "%s %s", kvr, r_next);
        } else {
            jstr_addf(&rb, "( \",\" ws %s )? %s", kvr, r_next);
            jstr_addf(&fb, "%s %s | %s", kvr, r_next, f_next);
        }
        if (define_chain_step(c, hint, &rb, &fb, &r_next, &f_next)) goto done;
    }
    jstr body = {0};
    jstr_addf(&body, "\"{\" ws %s \"}\"", f_next);
    prim(c, P_WS);
    result = define(c, hint, &body);
done:
    free(names);
    free(vals);
    free(is_req);
    return result;
}

/* uniqueItems over enum (or const) items: the distinct values in enum order, each
 * present or not (every subset, in one order). Only when min/maxItems do not count:
 * returns NULL without failing when the items are not a literal list or counts matter. */
static const char *unique_literals(conv *c, json_t *items, int64_t min, int64_t max, const char *hint) {
    json_t *en = json_object_get(items, "enum"), *cn = json_object_get(items, "const"), *type = json_object_get(items, "type");
    if (!json_is_object(items) || !!en + !!cn != 1 || (en && !json_is_array(en)) || min > 1) return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(items, key, v) {
        if (!infer_json_schema_is_annotation(key) && strcmp(key, "enum") && strcmp(key, "const") && strcmp(key, "type"))
            return NULL;
    }
    size_t n = en ? json_array_size(en) : 1, k = 0;
    json_t **vals = malloc((n ? n : 1) * sizeof *vals);
    if (!vals) return fail(c, INFER_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *x = en ? json_array_get(en, i) : cn;
        int ok = !type;
        if (json_is_string(type)) ok = has_type(x, json_string_value(type));
        for (size_t t = 0; json_is_array(type) && t < json_array_size(type) && !ok; t++)
            ok = json_is_string(json_array_get(type, t)) && has_type(x, json_string_value(json_array_get(type, t)));
        for (size_t j = 0; j < k && ok; j++)   /* equal values (1 and 1.0 too) once */
            ok = !(json_equal(vals[j], x) ||
                   (json_is_number(x) && json_is_number(vals[j]) && json_number_value(x) == json_number_value(vals[j])));
        if (ok) vals[k++] = x;
    }
    const char *result = NULL;
    if (k == 0 || (max >= 0 && (size_t)max < k)) goto done;
    /* From the back: rest_i (something came before) and first_i (nothing yet). */
    const char *rest = NULL, *first = NULL;
    for (size_t i = k; i-- > 0;) {
        const char *lit = literal_rule(c, &vals[i], 1, "item");
        if (!lit) goto done;
        jstr rb = {0}, fb = {0};
        jstr_addf(&rb, "( \",\" ws %s ws )? %s", lit, rest ? rest : "");
        if (first) jstr_addf(&fb, "%s ws %s | %s", lit, rest ? rest : "", first);
        else jstr_addf(&fb, "%s ws %s%s", lit, rest ? rest : "", min == 0 ? " | \"\"" : "");
        if (define_chain_step(c, hint, &rb, &fb, &rest, &first)) goto done;
    }
    jstr b = {0};
    jstr_addf(&b, "\"[\" ws %s \"]\"", first);
    prim(c, P_WS);
    result = define(c, hint, &b);
done:
    free(vals);
    return result;
}

static const char *visit_array(conv *c, json_t *s, const char *hint) {
    int64_t min, max;
    if (get_count(c, s, "minItems", &min, 0) || get_count(c, s, "maxItems", &max, -1)) return NULL;
    if (max >= 0 && min > max) return fail(c, INFER_ERR_UNSUPPORTED, "minItems above maxItems");
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    if (json_is_array(items)) {   /* draft 4-2019: items as a tuple, additionalItems for the rest */
        prefix = items;
        items = json_object_get(s, "additionalItems");
    }
    if (prefix && !json_is_array(prefix)) return fail(c, INFER_ERR_FORMAT, "'prefixItems' must be an array");
    int64_t np = (int64_t)json_array_size(prefix);
    json_t *uniq = json_object_get(s, "uniqueItems");
    if (uniq && !json_is_boolean(uniq)) return fail(c, INFER_ERR_FORMAT, "'uniqueItems' must be a boolean");
    if (json_is_true(uniq) && max != 0 && max != 1) {
        const char *r = np == 0 && items ? unique_literals(c, items, min, max, hint) : NULL;
        if (r || c->failed) return r;
        /* Otherwise one item at most: always unique, a subset of what the schema allows. */
        if (min > 1 || np > 1)
            return fail(c, INFER_ERR_UNSUPPORTED, "uniqueItems with more than one item is only supported for enum items");
        max = 1;
    }
    if (max >= 0 && np > max) return fail(c, INFER_ERR_UNSUPPORTED, "more prefixItems than maxItems");
    jstr b = {0};
    jstr_add(&b, "\"[\" ws ");
    prim(c, P_WS);
    for (int64_t i = 0; i < np; i++) {
        char seg[48];
        snprintf(seg, sizeof seg, "prefixItems/%lld", (long long)i);
        size_t old = path_push(c, seg);
        const char *it = visit(c, json_array_get(prefix, (size_t)i), "item");
        path_pop(c, old);
        if (!it) {
            jstr_free(&b);
            return NULL;
        }
        jstr_addf(&b, "%s%s ws ", i ? "\",\" ws " : "", it);
    }
    /* The rest: [lo, hi] more items (hi < 0: unbounded). */
    int64_t lo = min > np ? min - np : 0, hi = max >= 0 ? max - np : -1;
    const char *it = NULL;
    if (items && json_is_false(items)) hi = 0;
    else if (items) {
        size_t old = path_push(c, "items");
        it = visit(c, items, "item");
        path_pop(c, old);
        if (!it) {
            jstr_free(&b);
            return NULL;
        }
    } else if (np == 0 || lo > 0) {
        it = prim(c, P_VALUE);
    } else {
        hi = 0;   /* after prefixItems, further items are optional: emit none */
    }
    if (lo > 0 && hi == 0) {
        jstr_free(&b);
        return fail(c, INFER_ERR_UNSUPPORTED, "minItems needs more items than allowed");
    }
    if (hi != 0) {
        if (np > 0) {
            /* ("," item){lo,hi} */
            if (hi < 0) jstr_addf(&b, "( \",\" ws %s ws ){%lld,} ", it, (long long)lo);
            else jstr_addf(&b, "( \",\" ws %s ws ){%lld,%lld} ", it, (long long)lo, (long long)hi);
        } else {
            /* item ("," item){lo-1, hi-1}, optional when lo == 0 */
            int64_t rlo = lo > 0 ? lo - 1 : 0;
            jstr_addf(&b, "%s%s ws ", lo == 0 ? "( " : "", it);
            if (hi < 0) jstr_addf(&b, "( \",\" ws %s ws ){%lld,} ", it, (long long)rlo);
            else if (hi > 1) jstr_addf(&b, "( \",\" ws %s ws ){%lld,%lld} ", it, (long long)rlo, (long long)(hi - 1));
            if (lo == 0) jstr_add(&b, ")? ");
        }
    }
    jstr_add(&b, "\"]\"");
    return define(c, hint, &b);
}

static const char *visit_string(conv *c, json_t *s, const char *hint) {
    json_t *fmt = json_object_get(s, "format"), *pat = json_object_get(s, "pattern");
    int64_t min, max;
    if (get_count(c, s, "minLength", &min, 0) || get_count(c, s, "maxLength", &max, -1)) return NULL;
    int has_len = json_object_get(s, "minLength") || json_object_get(s, "maxLength");
    const char *fmt_gbnf = NULL;
    int fmt_min = 0, fmt_max = 0;
    int fmt_known = fmt && json_is_string(fmt) ? infer_json_format_gbnf(json_string_value(fmt), &fmt_gbnf, &fmt_min, &fmt_max) : 0;
    if (fmt && json_is_string(fmt) && fmt_known == 0) fmt = NULL;
    /* Lengths that every text of the format meets say nothing more. */
    if (fmt_known > 0 && has_len && !pat && min <= fmt_min && (max < 0 || max >= fmt_max)) has_len = 0;
    if (fmt && (pat || has_len))
        return fail(c, INFER_ERR_UNSUPPORTED, "combining format, pattern and min/maxLength is not supported");
    jstr b = {0};
    if (fmt) {
        const char *f = json_string_value(fmt);
        if (!f) return fail(c, INFER_ERR_FORMAT, "'format' must be a string");
        if (fmt_known < 0) return fail(c, INFER_ERR_UNSUPPORTED, "unsupported string format '%s'", f);
        if (fmt_known > 0) {
            jstr_addf(&b, "\"\\\"\" %s \"\\\"\"", fmt_gbnf);
            return define(c, hint, &b);
        }
        /* an annotation-only format: the string rules below */
    }
    if (pat) {
        if (!json_is_string(pat)) return fail(c, INFER_ERR_FORMAT, "'pattern' must be a string");
        char why[160];
        if (has_len && max >= 0 && min > max) return fail(c, INFER_ERR_UNSUPPORTED, "minLength above maxLength");
        jstr_add(&b, "\"\\\"\" ");
        if (has_len ? infer_json_regex_to_gbnf_len(json_string_value(pat), (long)min, (long)max, &b, why, sizeof why)
                    : infer_json_regex_to_gbnf(json_string_value(pat), &b, why, sizeof why)) {
            jstr_free(&b);
            return fail(c, INFER_ERR_UNSUPPORTED, "%s", why);
        }
        jstr_add(&b, " \"\\\"\"");
        return define(c, hint, &b);
    }
    if (has_len) {
        if (max >= 0 && min > max) return fail(c, INFER_ERR_UNSUPPORTED, "minLength above maxLength");
        prim(c, P_CHAR);
        if (max < 0) jstr_addf(&b, "\"\\\"\" char{%lld,} \"\\\"\"", (long long)min);
        else jstr_addf(&b, "\"\\\"\" char{%lld,%lld} \"\\\"\"", (long long)min, (long long)max);
        return define(c, hint, &b);
    }
    return prim(c, P_STRING);
}

/* Integer parts are written with at most 16 digits: a bound at or beyond 1e16 on the
 * far side (int64 limits in OpenAPI schemas) says nothing; on the near side nothing
 * the grammar writes meets it. */
#define FAR_BOUND 1e16

/* One bound of a number or integer schema: the tighter of the plain and the exclusive
 * keyword (*set 0: none). */
static int num_bound(conv *c, json_t *s, const char *plain, const char *excl, int lower, int *set, double *v, int *is_excl) {
    *set = 0;
    const char *keys[2] = {plain, excl};
    for (int k = 0; k < 2; k++) {
        json_t *j = json_object_get(s, keys[k]);
        if (!j) continue;
        if (json_is_boolean(j)) {   /* draft 4: exclusiveMinimum: true modifies minimum */
            fail(c, INFER_ERR_UNSUPPORTED, "boolean '%s' (draft 4) is not supported", keys[k]);
            return -1;
        }
        double d = json_number_value(j);
        if (!json_is_number(j) || isnan(d)) {
            fail(c, INFER_ERR_FORMAT, "'%s' must be a number", keys[k]);
            return -1;
        }
        if (fabs(d) >= FAR_BOUND) {
            if (lower ? d < 0 : d > 0) continue;
            fail(c, INFER_ERR_UNSUPPORTED, "'%s' lies beyond the 16-digit numbers the grammar writes", keys[k]);
            return -1;
        }
        int tighter = !*set || (lower ? d > *v : d < *v) || (d == *v && k == 1);
        if (tighter) *v = d, *is_excl = k == 1, *set = 1;
    }
    return 0;
}

static const char *visit_integer(conv *c, json_t *s, const char *hint) {
    int has_lo, has_hi, lo_x = 0, hi_x = 0;
    double dlo = 0, dhi = 0;
    if (num_bound(c, s, "minimum", "exclusiveMinimum", 1, &has_lo, &dlo, &lo_x) ||
        num_bound(c, s, "maximum", "exclusiveMaximum", 0, &has_hi, &dhi, &hi_x))
        return NULL;
    if (!has_lo && !has_hi) return prim(c, P_INTEGER);
    /* The tightest integer bounds: ceil / floor, one further for an exclusive integer. */
    int64_t lo = (int64_t)ceil(dlo), hi = (int64_t)floor(dhi);
    if (lo_x && (double)lo == dlo) lo++;
    if (hi_x && (double)hi == dhi) hi--;
    if (has_lo && has_hi && lo > hi) return fail(c, INFER_ERR_UNSUPPORTED, "no integer lies between the bounds");
    jstr b = {0};
    infer_json_int_range(&b, has_lo, lo, has_hi, hi);
    return define(c, hint, &b);
}

static const char *visit_number(conv *c, json_t *s, const char *hint) {
    int lo_set, hi_set, lo_excl = 0, hi_excl = 0;
    double lo = 0, hi = 0;
    if (num_bound(c, s, "minimum", "exclusiveMinimum", 1, &lo_set, &lo, &lo_excl) ||
        num_bound(c, s, "maximum", "exclusiveMaximum", 0, &hi_set, &hi, &hi_excl))
        return NULL;
    if (!lo_set && !hi_set) return prim(c, P_NUMBER);
    jstr b = {0};
    if (infer_json_number_range(&b, lo_set, lo, lo_excl, hi_set, hi, hi_excl) == 0) {
        jstr_free(&b);
        return fail(c, INFER_ERR_UNSUPPORTED, "the number bounds leave no value this converter can write "
                                              "(it writes integral parts within the bounds)");
    }
    return define(c, hint, &b);
}

static const char *visit_type(conv *c, json_t *s, const char *type, const char *hint) {
    if (strcmp(type, "object") == 0) return visit_object(c, s, hint);
    if (strcmp(type, "array") == 0) return visit_array(c, s, hint);
    if (strcmp(type, "string") == 0) return visit_string(c, s, hint);
    if (strcmp(type, "integer") == 0) return visit_integer(c, s, hint);
    if (strcmp(type, "number") == 0) return visit_number(c, s, hint);
    if (strcmp(type, "boolean") == 0) return prim(c, P_BOOLEAN);
    if (strcmp(type, "null") == 0) return prim(c, P_NULL);
    return fail(c, INFER_ERR_FORMAT, "unknown type '%s'", type);
}

/* The type implied by type-specific keywords when "type" is absent, or NULL. */
static const char *implied_type(conv *c, json_t *s) {
    static const struct {
        const char *key, *type;
    } kw[] = {{"properties", "object"}, {"required", "object"}, {"additionalProperties", "object"},
              {"minProperties", "object"}, {"maxProperties", "object"}, {"patternProperties", "object"},
              {"items", "array"},       {"prefixItems", "array"}, {"minItems", "array"},
              {"maxItems", "array"},    {"minLength", "string"}, {"maxLength", "string"},
              {"pattern", "string"},    {"format", "string"},    {"minimum", "integer"},
              {"maximum", "integer"},   {"exclusiveMinimum", "integer"}, {"exclusiveMaximum", "integer"}};
    const char *t = NULL;
    for (size_t i = 0; i < sizeof kw / sizeof *kw; i++) {
        if (!json_object_get(s, kw[i].key)) continue;
        if (t && strcmp(t, kw[i].type) != 0) {
            fail(c, INFER_ERR_UNSUPPORTED, "keywords of several types without 'type'");
            return "";
        }
        t = kw[i].type;
    }
    return t;
}

/* One anyOf/oneOf alternative. When may_drop, an alternative the converter cannot
 * write (an unsupported keyword or pattern, e.g. the lookahead in Pydantic's Decimal
 * string) is left out and NULL returned without failing: the other alternatives still
 * give texts valid under the schema. Its half-built rules are rolled back. */
static const char *visit_alternative(conv *c, json_t *alt, const char *hint, const char *seg, int may_drop) {
    size_t mark_rules = c->n_rules, mark_refs = c->n_refs;
    unsigned mark_used = c->used;
    infer_error saved = {0};
    if (c->err) saved = *c->err;
    size_t old = path_push(c, seg);
    const char *r = visit(c, alt, hint);
    path_pop(c, old);
    if (r || !may_drop || c->fail_status != INFER_ERR_UNSUPPORTED) return r;
    for (size_t i = mark_rules; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].body);
    }
    for (size_t i = mark_refs; i < c->n_refs; i++) free(c->refs[i].ref);
    c->n_rules = mark_rules;
    c->n_refs = mark_refs;
    c->used = mark_used;
    c->failed = 0;
    if (c->err) *c->err = saved;
    return NULL;
}

/* allOf, or $ref with validating siblings: one merged schema (json_schema_allof.c). A
 * lone allOf entry is visited as it is, so a wrapped $ref keeps its rule (and recursion). */
static const char *visit_allof(conv *c, json_t *s, const char *hint) {
    json_t *all = json_object_get(s, "allOf");
    if (all && !json_object_get(s, "$ref") && json_is_array(all) && json_array_size(all) == 1 &&
        !has_validating_sibling(s, "allOf")) {
        size_t old = path_push(c, "allOf/0");
        const char *r = visit(c, json_array_get(all, 0), hint);
        path_pop(c, old);
        return r;
    }
    char why[300];
    json_t *m = infer_json_schema_merge(c->doc, s, why, sizeof why);
    if (!m) return fail(c, INFER_ERR_UNSUPPORTED, "%s", why);
    const char *r = visit(c, m, hint);
    json_decref(m);
    return r;
}

/* anyOf/oneOf next to other keywords: the alternatives of (the rest AND alternative i).
 * oneOf is read as anyOf here too, as everywhere in this converter. */
static const char *visit_distributed(conv *c, json_t *s, const char *key, const char *hint) {
    json_t *alts = json_object_get(s, key);
    if (!json_is_array(alts) || json_array_size(alts) == 0) return fail(c, INFER_ERR_FORMAT, "'%s' must be a non-empty array", key);
    json_t *rest = json_copy(s);
    if (!rest) return fail(c, INFER_ERR_NOMEM, "out of memory");
    json_object_del(rest, key);
    jstr b = {0};
    for (size_t i = 0; i < json_array_size(alts) && !c->failed; i++) {
        char seg[48];
        snprintf(seg, sizeof seg, "%s/%zu", key, i);
        size_t old = path_push(c, seg);
        json_t *both = json_pack("{s:[OO]}", "allOf", rest, json_array_get(alts, i));
        const char *alt = both ? visit(c, both, hint) : fail(c, INFER_ERR_NOMEM, "out of memory");
        json_decref(both);
        path_pop(c, old);
        if (alt) jstr_addf(&b, "%s%s", i ? " | " : "", alt);
    }
    json_decref(rest);
    if (c->failed) {
        jstr_free(&b);
        return NULL;
    }
    return define(c, hint, &b);
}

static const char *visit(conv *c, json_t *s, const char *hint) {
    if (c->failed) return NULL;
    if (json_is_true(s)) return prim(c, P_VALUE);
    if (json_is_false(s)) return fail(c, INFER_ERR_UNSUPPORTED, "the schema 'false' allows nothing");
    if (!json_is_object(s)) return fail(c, INFER_ERR_FORMAT, "a schema must be an object or a boolean");
    if (++c->depth > MAX_DEPTH) return fail(c, INFER_ERR_UNSUPPORTED, "schema nested too deeply");
    const char *r = NULL;
    if (check_keywords(c, s)) goto out;
    json_t *ref = json_object_get(s, "$ref"), *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    json_t *any = json_object_get(s, "anyOf"), *one = json_object_get(s, "oneOf"), *type = json_object_get(s, "type");
    json_t *all = json_object_get(s, "allOf");
    if (all || (ref && has_validating_sibling(s, "$ref"))) {
        r = visit_allof(c, s, hint);
        goto out;
    }
    if ((any || one) && !(any && one) && has_validating_sibling(s, any ? "anyOf" : "oneOf")) {
        r = visit_distributed(c, s, any ? "anyOf" : "oneOf", hint);
        goto out;
    }
    int n_kinds = !!ref + !!en + !!cn + !!any + !!one;
    /* enum/const with a bare "type" (as tool schemas write them): the literals of that type */
    int typed_literals = (en || cn) && n_kinds == 1 && type && !implied_type(c, s) && !c->failed;
    if (n_kinds > 1 || (n_kinds == 1 && !typed_literals && (type || implied_type(c, s)))) {
        if (!c->failed) fail(c, INFER_ERR_UNSUPPORTED, "combining $ref, enum, const, anyOf, oneOf or type is not supported");
        goto out;
    }
    if (ref) {
        if (!json_is_string(ref)) {
            fail(c, INFER_ERR_FORMAT, "'$ref' must be a string");
            goto out;
        }
        r = visit_ref(c, json_string_value(ref));
    } else if (typed_literals) {
        r = typed_literal_rule(c, en ? en : cn, !en, type, hint);
    } else if (cn) {
        r = literal_rule(c, &cn, 1, hint);
    } else if (en) {
        if (!json_is_array(en) || json_array_size(en) == 0) {
            fail(c, INFER_ERR_FORMAT, "'enum' must be a non-empty array");
            goto out;
        }
        json_t **vals = malloc(json_array_size(en) * sizeof *vals);
        if (!vals) {
            fail(c, INFER_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < json_array_size(en); i++) vals[i] = json_array_get(en, i);
        r = literal_rule(c, vals, json_array_size(en), hint);
        free(vals);
    } else if (any || one) {
        json_t *list = any ? any : one;
        if (!json_is_array(list) || json_array_size(list) == 0) {
            fail(c, INFER_ERR_FORMAT, "'%s' must be a non-empty array", any ? "anyOf" : "oneOf");
            goto out;
        }
        jstr b = {0};
        size_t n = json_array_size(list), written = 0;
        for (size_t i = 0; i < n; i++) {
            char seg[48];
            snprintf(seg, sizeof seg, "%s/%zu", any ? "anyOf" : "oneOf", i);
            const char *alt = visit_alternative(c, json_array_get(list, i), hint, seg, written > 0 || i + 1 < n);
            if (c->failed) {
                jstr_free(&b);
                goto out;
            }
            if (alt) jstr_addf(&b, "%s%s", written++ ? " | " : "", alt);
        }
        r = define(c, hint, &b);
    } else if (type) {
        if (json_is_string(type)) {
            r = visit_type(c, s, json_string_value(type), hint);
        } else if (json_is_array(type) && json_array_size(type) > 0) {
            jstr b = {0};
            for (size_t i = 0; i < json_array_size(type); i++) {
                const char *t = json_string_value(json_array_get(type, i));
                const char *alt = t ? visit_type(c, s, t, hint) : fail(c, INFER_ERR_FORMAT, "'type' entries must be strings");
                if (!alt) {
                    jstr_free(&b);
                    goto out;
                }
                jstr_addf(&b, "%s%s", i ? " | " : "", alt);
            }
            r = define(c, hint, &b);
        } else {
            fail(c, INFER_ERR_FORMAT, "'type' must be a string or a non-empty array");
        }
    } else {
        const char *t = implied_type(c, s);
        if (!c->failed) r = t ? visit_type(c, s, t, hint) : prim(c, P_VALUE);
    }
out:
    c->depth--;
    return c->failed ? NULL : r;
}

static void free_conv(conv *c) {
    for (size_t i = 0; i < c->n_rules; i++) {
        free(c->rules[i].name);
        free(c->rules[i].body);
    }
    free(c->rules);
    for (size_t i = 0; i < c->n_refs; i++) free(c->refs[i].ref);
    free(c->refs);
}

infer_status infer_json_schema_to_grammar(const char *schema, size_t len, char *buf, size_t cap, size_t *n_out,
                                          infer_error *err) {
    if (n_out) *n_out = 0;
    if ((!schema && len) || (!buf && cap)) return infer_err(err, INFER_ERR_INVALID_ARG, "json schema: NULL argument");
    json_error_t je;
    json_t *doc = json_loadb(schema ? schema : "", len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return infer_err(err, INFER_ERR_FORMAT, "json schema: line %d, column %d: %s", je.line, je.column, je.text);
    conv c = {.doc = doc, .err = err};
    const char *top = visit(&c, doc, "root-value");
    jstr out = {0};
    if (top) {
        jstr_addf(&out, "root ::= %s\n", top);
        for (size_t i = 0; i < c.n_rules; i++)
            if (c.rules[i].body) jstr_addf(&out, "%s ::= %s\n", c.rules[i].name, c.rules[i].body);
        unsigned used = c.used;
        for (int again = 1; again;) {   /* close over dependencies */
            again = 0;
            for (int p = 0; p < P_COUNT; p++)
                if ((used >> p & 1) && (used | prims[p].deps) != used) used |= prims[p].deps, again = 1;
        }
        for (int p = 0; p < P_COUNT; p++)
            if (used >> p & 1) jstr_addf(&out, "%s ::= %s\n", prims[p].name, prims[p].body);
    }
    free_conv(&c);
    json_decref(doc);
    if (!top) {
        jstr_free(&out);
        return err ? err->status : INFER_ERR_FORMAT;
    }
    if (out.oom) {
        jstr_free(&out);
        return infer_err(err, INFER_ERR_NOMEM, "json schema: out of memory");
    }
    /* Safety net: never hand out a grammar the parser refuses (a pattern like "()*" or a
     * schema that is its own $ref would be left-recursive). */
    infer_grammar *check = NULL;
    infer_error perr = {0};
    infer_status pst = infer_grammar_parse(out.s, out.n, NULL, &check, &perr);
    infer_grammar_free(check);
    if (pst != INFER_OK) {
        jstr_free(&out);
        return infer_err(err, pst == INFER_ERR_NOMEM ? pst : INFER_ERR_UNSUPPORTED,
                         "json schema: the schema needs a grammar this converter cannot express (%s)", perr.message);
    }
    if (n_out) *n_out = out.n;
    if (out.n + 1 > cap) {
        jstr_free(&out);
        return INFER_ERR_BUFFER_SMALL;
    }
    memcpy(buf, out.s, out.n + 1);
    jstr_free(&out);
    return INFER_OK;
}

const char *infer_json_object_grammar(void) {
    return "root ::= object\n"
           "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\")\n"
           "object ::= \"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\"\n"
           "array ::= \"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\"\n"
           "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4}) )* \"\\\"\"\n"
           "number ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"
           "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n";
}
