/* allOf (and $ref with validating siblings, which 2020-12 reads as an allOf of the
 * target and the rest) for the JSON-schema converter: the parts are merged into one
 * schema that the converter then walks as usual. A grammar cannot intersect two
 * languages cheaply, but schemas from Pydantic, OpenAPI and hand-written tool
 * definitions use allOf for things a merge says exactly: a single-$ref wrapper, an
 * object extended with more properties, a bound added to a type. The merge:
 *   type            the intersection (integer within number)
 *   properties      union in first-seen order; a name in several parts gets an
 *                   allOf of its schemas (merged again when the converter gets there)
 *   required        union
 *   additionalProperties false/schema in a part: properties from other parts that it
 *                   does not declare are dropped (false; an error when required) or
 *                   get the schema as another allOf part
 *   min* / max* / exclusive*  the tighter bound
 *   enum            the values in both (a const must be among them)
 *   anything else   kept when only one part has it or all parts agree; otherwise
 *                   an error naming the keyword (e.g. two enums, two patterns).
 * Annotations are dropped; $ref inside a part is resolved before merging. */
#include "sample/json_schema.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_MERGE_DEPTH 32

typedef struct merger {
    json_t *doc, *out;
    json_t *closed;   /* array of parts with additionalProperties false or a schema */
    char *why;
    size_t why_cap;
    int depth;
} merger;

static int m_fail(merger *m, const char *fmt, const char *arg) {
    snprintf(m->why, m->why_cap, fmt, arg);
    return -1;
}

static int is_lower(const char *k) {
    return !strcmp(k, "minimum") || !strcmp(k, "exclusiveMinimum") || !strcmp(k, "minLength") ||
           !strcmp(k, "minItems") || !strcmp(k, "minProperties");
}
static int is_upper(const char *k) {
    return !strcmp(k, "maximum") || !strcmp(k, "exclusiveMaximum") || !strcmp(k, "maxLength") ||
           !strcmp(k, "maxItems") || !strcmp(k, "maxProperties");
}

/* The type names a "type" value allows, as a bit set (bit order of names[]). */
static const char *const type_names[] = {"string", "number", "integer", "boolean", "null", "object", "array"};
enum { N_TYPES = 7 };

static unsigned type_bits(json_t *t) {
    unsigned bits = 0;
    for (size_t i = 0; i < (json_is_array(t) ? json_array_size(t) : 1); i++) {
        const char *s = json_string_value(json_is_array(t) ? json_array_get(t, i) : t);
        for (int k = 0; s && k < N_TYPES; k++)
            if (!strcmp(s, type_names[k])) bits |= 1u << k;
    }
    if (bits & 2u) bits |= 4u;   /* number includes integer */
    return bits;
}

static json_t *type_json(unsigned bits) {
    if (bits & 2u) bits &= ~4u;
    json_t *a = json_array();
    for (int k = 0; k < N_TYPES; k++)
        if (bits >> k & 1) json_array_append_new(a, json_string(type_names[k]));
    if (json_array_size(a) == 1) {
        json_t *one = json_incref(json_array_get(a, 0));
        json_decref(a);
        return one;
    }
    return a;
}

static json_t *allof2(json_t *a, json_t *b) { return json_pack("{s:[OO]}", "allOf", a, b); }

static int merge_part(merger *m, json_t *part);

static int merge_key(merger *m, const char *key, json_t *v) {
    json_t *out = m->out, *old = json_object_get(out, key);
    if (!strcmp(key, "allOf")) {
        if (!json_is_array(v)) return m_fail(m, "'%s' must be an array", key);
        for (size_t i = 0; i < json_array_size(v); i++)
            if (merge_part(m, json_array_get(v, i))) return -1;
        return 0;
    }
    if (!strcmp(key, "$ref") || infer_json_schema_is_annotation(key) || !strcmp(key, "$defs") ||
        !strcmp(key, "definitions"))
        return 0;
    if (!old) return json_object_set(out, key, v);
    if (json_equal(old, v)) return 0;
    if (!strcmp(key, "type")) {
        unsigned bits = type_bits(old) & type_bits(v);
        if (!bits) return m_fail(m, "allOf parts have no type in common%s", "");
        return json_object_set_new(out, key, type_json(bits));
    }
    if (!strcmp(key, "required")) {
        if (!json_is_array(v) || !json_is_array(old)) return m_fail(m, "'%s' must be an array", key);
        json_t *u = json_copy(old);
        for (size_t i = 0; i < json_array_size(v); i++) {
            int seen = 0;
            for (size_t j = 0; j < json_array_size(u) && !seen; j++) seen = json_equal(json_array_get(u, j), json_array_get(v, i));
            if (!seen) json_array_append(u, json_array_get(v, i));
        }
        return json_object_set_new(out, key, u);
    }
    if (!strcmp(key, "properties")) {
        if (!json_is_object(v) || !json_is_object(old)) return m_fail(m, "'%s' must be an object", key);
        json_t *u = json_copy(old);
        const char *name;
        json_t *sub;
        json_object_foreach(v, name, sub) {
            json_t *prev = json_object_get(u, name);
            json_object_set_new(u, name, prev ? allof2(prev, sub) : json_incref(sub));
        }
        return json_object_set_new(out, key, u);
    }
    if (!strcmp(key, "additionalProperties") && (json_is_false(old) || json_is_false(v)))
        return json_object_set_new(out, key, json_false());
    if (!strcmp(key, "items") || !strcmp(key, "additionalProperties"))
        return json_object_set_new(out, key, allof2(old, v));
    if (!strcmp(key, "enum") && json_is_array(old) && json_is_array(v)) {   /* values in both */
        json_t *both = json_array();
        for (size_t i = 0; i < json_array_size(old); i++)
            for (size_t j = 0; j < json_array_size(v); j++)
                if (json_equal(json_array_get(old, i), json_array_get(v, j))) {
                    json_array_append(both, json_array_get(old, i));
                    break;
                }
        if (json_array_size(both) == 0) {
            json_decref(both);
            return m_fail(m, "allOf parts have no enum value in common%s", "");
        }
        return json_object_set_new(out, key, both);
    }
    if ((is_lower(key) || is_upper(key)) && json_is_number(old) && json_is_number(v)) {
        double a = json_number_value(old), b = json_number_value(v);
        if (is_lower(key) ? b > a : b < a) return json_object_set(out, key, v);
        return 0;
    }
    return m_fail(m, "allOf parts disagree on '%s', which the converter cannot intersect", key);
}

static int merge_part(merger *m, json_t *part) {
    if (++m->depth > MAX_MERGE_DEPTH) return m_fail(m, "allOf/$ref nested too deeply%s", "");
    int rc = 0;
    if (json_is_true(part)) goto out;
    if (json_is_false(part)) {
        rc = m_fail(m, "an allOf part is 'false': the schema allows nothing%s", "");
        goto out;
    }
    if (!json_is_object(part)) {
        rc = m_fail(m, "allOf parts must be schemas%s", "");
        goto out;
    }
    json_t *ref = json_object_get(part, "$ref");
    if (ref) {
        const char *r = json_string_value(ref);
        json_t *target = r ? infer_json_schema_resolve(m->doc, r) : NULL;
        if (!target) {
            rc = m_fail(m, "$ref '%s' points nowhere (or is not local)", r ? r : "?");
            goto out;
        }
        if ((rc = merge_part(m, target))) goto out;
    }
    json_t *addl = json_object_get(part, "additionalProperties");
    if (addl && !json_is_true(addl)) json_array_append(m->closed, part);
    const char *key;
    json_t *v;
    json_object_foreach(part, key, v) {
        if ((rc = merge_key(m, key, v))) goto out;
    }
out:
    m->depth--;
    return rc;
}

/* Applies each closed part's additionalProperties to properties it does not declare. */
static int close_properties(merger *m) {
    json_t *props = json_object_get(m->out, "properties"), *req = json_object_get(m->out, "required");
    if (!json_is_object(props)) return 0;
    for (size_t i = 0; i < json_array_size(m->closed); i++) {
        json_t *part = json_array_get(m->closed, i), *own = json_object_get(part, "properties");
        json_t *addl = json_object_get(part, "additionalProperties");
        const char *name;
        json_t *sub;
        void *tmp;
        json_object_foreach_safe(props, tmp, name, sub) {
            if (json_object_get(own, name)) continue;
            if (!json_is_false(addl)) {
                json_object_set_new(props, name, allof2(sub, addl));
                continue;
            }
            for (size_t r = 0; r < json_array_size(req); r++)
                if (!strcmp(json_string_value(json_array_get(req, r)) ? json_string_value(json_array_get(req, r)) : "", name))
                    return m_fail(m, "allOf: property '%s' is required but another part's additionalProperties forbids it",
                                  name);
            json_object_del(props, name);
        }
    }
    return 0;
}

json_t *infer_json_schema_merge(json_t *doc, json_t *schema, char *why, size_t why_cap) {
    merger m = {.doc = doc, .out = json_object(), .closed = json_array(), .why = why, .why_cap = why_cap};
    if (!m.out || !m.closed) {
        snprintf(why, why_cap, "out of memory");
        json_decref(m.out);
        json_decref(m.closed);
        return NULL;
    }
    int rc = merge_part(&m, schema);
    if (!rc) rc = close_properties(&m);
    json_t *cn = json_object_get(m.out, "const"), *en = json_object_get(m.out, "enum");
    if (!rc && cn && json_is_array(en)) {   /* const and enum from different parts */
        int in = 0;
        for (size_t i = 0; i < json_array_size(en) && !in; i++) in = json_equal(json_array_get(en, i), cn);
        if (in) json_object_del(m.out, "enum");
        else rc = m_fail(&m, "allOf: the const is not among the enum values%s", "");
    }
    json_decref(m.closed);
    if (rc) {
        json_decref(m.out);
        return NULL;
    }
    return m.out;
}
