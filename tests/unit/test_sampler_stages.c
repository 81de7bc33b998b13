/* The composable sampler API and the generation helpers: the default chain built from
 * stages equals infer_sampler_new's; logit bias; mirostat v2 keeps its surprise near
 * tau; stop strings (spanning pushes, held back, never shown); logprobs against a
 * double-precision log-softmax computed here; JSON schema conversion errors and the
 * buffer-size protocol. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

static void fill(float *l, int n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 7;
    for (int i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        l[i] = (float)((x >> 8) & 0xFFFF) / 8192.0f - 4.0f;
    }
}

static void test_default_chain_equals_stages(void **state) {
    (void)state;
    enum { N = 3000 };
    float *l = malloc(N * sizeof *l);
    infer_sampler_params p = infer_sampler_default_params();
    p.seed = 99;
    p.repeat_penalty = 1.3f;
    infer_sampler *a = infer_sampler_new(&p, N), *b = NULL;
    assert_non_null(a);
    assert_int_equal(infer_sampler_chain_new(NULL, N, 99, &b, NULL), INFER_OK);
    assert_int_equal(infer_sampler_add_penalties(b, p.penalty_last_n, 1.3f, 0.0f, 0.0f), INFER_OK);
    assert_int_equal(infer_sampler_add_top_k(b, 40), INFER_OK);
    assert_int_equal(infer_sampler_add_top_p(b, 0.95f), INFER_OK);
    assert_int_equal(infer_sampler_add_min_p(b, 0.05f), INFER_OK);
    assert_int_equal(infer_sampler_add_temperature(b, 0.8f), INFER_OK);
    assert_int_equal(infer_sampler_add_dist(b), INFER_OK);
    for (uint32_t i = 0; i < 300; i++) {
        fill(l, N, i);
        int32_t ta = infer_sampler_sample(a, l), tb = infer_sampler_sample(b, l);
        assert_int_equal(ta, tb);
        assert_int_equal(infer_sampler_accept(a, ta), INFER_OK);
        assert_int_equal(infer_sampler_accept(b, tb), INFER_OK);
    }
    infer_sampler_free(a);
    infer_sampler_free(b);
    /* Status-returning constructors report bad arguments. */
    infer_error e = {0};
    infer_sampler *s = (infer_sampler *)1;
    assert_int_equal(infer_sampler_init(NULL, 0, NULL, &s, &e), INFER_ERR_INVALID_ARG);
    assert_null(s);
    assert_non_null(strstr(e.message, "n_vocab"));
    free(l);
}

static void test_logit_bias(void **state) {
    (void)state;
    float l[8] = {5, 4, 3, 2, 1, 0, -1, -2};
    infer_sampler *s = NULL;
    assert_int_equal(infer_sampler_chain_new(NULL, 8, 1, &s, NULL), INFER_OK);
    infer_logit_bias b[] = {{0, -INFINITY}, {6, 10.0f}};
    assert_int_equal(infer_sampler_add_logit_bias(s, b, 2), INFER_OK);
    assert_int_equal(infer_sampler_add_greedy(s), INFER_OK);
    assert_int_equal(infer_sampler_sample(s, l), 6);   /* -1 + 10 beats 4 */
    infer_logit_bias bad[] = {{8, 1.0f}};
    assert_int_equal(infer_sampler_add_logit_bias(s, bad, 1), INFER_ERR_INVALID_ARG);
    assert_non_null(strstr(infer_sampler_last_error(s), "token 8"));
    infer_sampler_free(s);
    /* After a truncation stage the bias applies by token id, not by position. */
    assert_int_equal(infer_sampler_chain_new(NULL, 8, 1, &s, NULL), INFER_OK);
    assert_int_equal(infer_sampler_add_top_k(s, 3), INFER_OK);
    infer_logit_bias b2[] = {{2, 5.0f}};
    assert_int_equal(infer_sampler_add_logit_bias(s, b2, 1), INFER_OK);
    assert_int_equal(infer_sampler_sample(s, l), 2);   /* no picking stage: the best left */
    infer_sampler_free(s);
}

/* Mirostat 2 drives the average surprise of the drawn tokens towards tau. */
static void test_mirostat_v2(void **state) {
    (void)state;
    enum { N = 2000 };
    float *l = malloc(N * sizeof *l);
    for (int i = 0; i < N; i++) l[i] = -0.3f * (float)i;   /* best token: 1.95 bits of surprise */
    for (int tau_i = 0; tau_i < 2; tau_i++) {
        float tau = tau_i ? 2.5f : 3.0f;   /* below the entropy, 3.19 bits: reachable */
        infer_sampler *s = NULL;
        assert_int_equal(infer_sampler_chain_new(NULL, N, 5, &s, NULL), INFER_OK);
        assert_int_equal(infer_sampler_add_mirostat_v2(s, tau, 0.1f), INFER_OK);
        double z = 0.0, sum = 0.0;
        for (int i = 0; i < N; i++) z += exp((double)l[i]);
        int count = 0;
        for (int it = 0; it < 3000; it++) {
            int32_t t = infer_sampler_sample(s, l);
            if (it >= 1000) {   /* after mu settles */
                sum += -log2(exp((double)l[t]) / z);
                count++;
            }
        }
        double mean = sum / count;
        /* Surprise under the full distribution, measured here: near tau (the algorithm
         * aims at it through the truncated distribution, so allow a margin). */
        assert_true(fabs(mean - tau) < 0.3);
        infer_sampler_free(s);
    }
    infer_sampler *s = NULL;
    assert_int_equal(infer_sampler_chain_new(NULL, N, 5, &s, NULL), INFER_OK);
    assert_int_equal(infer_sampler_add_mirostat_v2(s, -1.0f, 0.1f), INFER_ERR_INVALID_ARG);
    infer_sampler_free(s);
    free(l);
}

/* ---- stop strings */

static void push_all(infer_stop *st, const char *const *pieces, size_t n, char *shown, int *stopped_at) {
    shown[0] = 0;
    *stopped_at = -1;
    for (size_t i = 0; i < n; i++) {
        char buf[128];
        size_t m = 0;
        int stopped = 0;
        assert_int_equal(infer_stop_push(st, pieces[i], strlen(pieces[i]), buf, sizeof buf, &m, &stopped), INFER_OK);
        assert_int_equal(strlen(buf), m);
        strcat(shown, buf);
        if (stopped && *stopped_at < 0) *stopped_at = (int)i;
    }
    if (*stopped_at < 0) {
        char buf[128];
        size_t m = 0;
        assert_int_equal(infer_stop_flush(st, buf, sizeof buf, &m), INFER_OK);
        strcat(shown, buf);
    }
}

static void test_stop_strings(void **state) {
    (void)state;
    const char *stops[] = {"</answer>", "\n\n", "STOP"};
    infer_stop *st = NULL;
    assert_int_equal(infer_stop_new(stops, 3, &st, NULL), INFER_OK);
    char shown[512];
    int at;
    /* Spread over four pushes, with a false start ("</an" + "s" ... "</x"). */
    const char *p1[] = {"The result </x> is </an", "swe", "r> and more", " text"};
    push_all(st, p1, 4, shown, &at);
    assert_string_equal(shown, "The result </x> is ");
    assert_int_equal(at, 2);
    assert_int_equal(infer_stop_which(st), 0);
    /* After a stop nothing more is shown. */
    char buf[64];
    size_t m = 9;
    int stopped = 0;
    assert_int_equal(infer_stop_push(st, "x", 1, buf, sizeof buf, &m, &stopped), INFER_OK);
    assert_true(m == 0 && stopped == 1);
    infer_stop_reset(st);
    /* A held-back prefix that never completes comes out at the flush. */
    const char *p2[] = {"abc\n", "def ST", "O"};
    push_all(st, p2, 3, shown, &at);
    assert_string_equal(shown, "abc\ndef STO");
    assert_int_equal(at, -1);
    assert_int_equal(infer_stop_which(st), -1);
    infer_stop_reset(st);
    /* Two stops: the earliest position wins; a stop split byte by byte. */
    const char *p3[] = {"a", "\n", "\n", "S", "TOP"};
    push_all(st, p3, 5, shown, &at);
    assert_string_equal(shown, "a");
    assert_int_equal(infer_stop_which(st), 1);
    infer_stop_reset(st);
    /* A small buffer: BUFFER_SMALL with the need, nothing consumed. */
    assert_int_equal(infer_stop_push(st, "hello world", 11, buf, 4, &m, &stopped), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(m, 11);
    assert_int_equal(infer_stop_push(st, "", 0, buf, sizeof buf, &m, &stopped), INFER_OK);
    assert_int_equal(m, 0);
    infer_stop_free(st);
    /* No stop strings: everything passes through at once. */
    assert_int_equal(infer_stop_new(NULL, 0, &st, NULL), INFER_OK);
    assert_int_equal(infer_stop_push(st, "abc", 3, buf, sizeof buf, &m, &stopped), INFER_OK);
    assert_string_equal(buf, "abc");
    infer_stop_free(st);
    const char *nul[] = {NULL};
    assert_int_equal(infer_stop_new(nul, 1, &st, NULL), INFER_ERR_INVALID_ARG);
    infer_stop_free(NULL);
}

/* ---- logprobs */

static void test_logprobs(void **state) {
    (void)state;
    enum { N = 5000 };
    float *l = malloc(N * sizeof *l);
    fill(l, N, 3);
    l[17] = NAN;
    l[100] = 20.0f;
    l[200] = 20.0f;   /* a tie: lower id first */
    double m = 20.0, z = 0.0;
    for (int i = 0; i < N; i++)
        if (!isnan(l[i])) z += exp((double)l[i] - m);
    infer_token_logprob top[10];
    int32_t n_top = 0;
    float lp = 0.0f;
    assert_int_equal(infer_logprobs(l, N, 42, &lp, top, 10, &n_top), INFER_OK);
    assert_int_equal(n_top, 10);
    assert_true(fabs(lp - ((double)l[42] - m - log(z))) < 1e-4);
    assert_int_equal(top[0].token, 100);
    assert_int_equal(top[1].token, 200);
    for (int i = 0; i < 10; i++) {
        assert_true(fabs(top[i].logprob - ((double)l[top[i].token] - m - log(z))) < 1e-4);
        if (i) assert_true(top[i].logprob <= top[i - 1].logprob);
    }
    /* Every token outside the top 10 is at most as likely as the 10th. */
    for (int i = 0; i < N; i++) {
        int in_top = 0;
        for (int k = 0; k < 10; k++) in_top |= top[k].token == i;
        if (!in_top && !isnan(l[i])) assert_true(l[i] <= l[top[9].token]);
    }
    assert_int_equal(infer_logprobs(l, N, 17, &lp, NULL, 0, &n_top), INFER_OK);
    assert_true(isinf(lp) && lp < 0);   /* NaN counts as -inf */
    assert_int_equal(infer_logprobs(l, N, N, &lp, NULL, 0, &n_top), INFER_ERR_INVALID_ARG);
    assert_int_equal(infer_logprobs(NULL, N, 0, &lp, NULL, 0, &n_top), INFER_ERR_INVALID_ARG);
    free(l);
}

/* ---- JSON schema conversion errors */

static void expect_schema_error(const char *schema, infer_status want, const char *needle) {
    char buf[4096];
    size_t n = 0;
    infer_error e = {0};
    infer_status st = infer_json_schema_to_grammar(schema, strlen(schema), buf, sizeof buf, &n, &e);
    if (st != want || !strstr(e.message, needle)) fprintf(stderr, "got %d '%s', want '%s'\n", st, e.message, needle);
    assert_int_equal(st, want);
    assert_non_null(strstr(e.message, needle));
}

static void test_json_schema_errors(void **state) {
    (void)state;
    expect_schema_error("{\"type\": \"object\",\n  \"properties\": [1,}", INFER_ERR_FORMAT, "line 2, column");
    expect_schema_error("{\"type\": \"object\", \"properties\": {\"a\": {\"items\": {\"not\": {}}}}}", INFER_ERR_UNSUPPORTED,
                        "'not' at /properties/a/items");
    expect_schema_error("{\"allOf\": [{\"pattern\": \"a\"}, {\"pattern\": \"b\"}]}", INFER_ERR_UNSUPPORTED,
                        "disagree on 'pattern'");
    expect_schema_error("{\"type\": \"array\", \"uniqueItems\": true, \"minItems\": 2}", INFER_ERR_UNSUPPORTED, "uniqueItems");
    expect_schema_error("{\"type\": \"object\", \"multipleOf\": 1}", INFER_ERR_UNSUPPORTED, "'multipleOf' at /");
    expect_schema_error("{\"type\": \"number\", \"minimum\": 0.2, \"maximum\": 0.8}", INFER_ERR_UNSUPPORTED, "no value");
    expect_schema_error("{\"type\": \"string\", \"format\": \"regex\"}", INFER_ERR_UNSUPPORTED, "format 'regex'");
    expect_schema_error("{\"allOf\": [{\"$ref\": \"#\"}, {\"type\": \"object\"}]}", INFER_ERR_UNSUPPORTED, "nested too deeply");
    expect_schema_error("{\"allOf\": [{\"type\": \"object\", \"additionalProperties\": false}, {\"properties\": {\"a\": {}}, "
                        "\"required\": [\"a\"]}]}", INFER_ERR_UNSUPPORTED, "property 'a' is required");
    expect_schema_error("{\"type\": \"string\", \"pattern\": \"(a\"}", INFER_ERR_UNSUPPORTED, "expected ')'");
    expect_schema_error("{\"type\": \"string\", \"pattern\": \"a\\\\1\"}", INFER_ERR_UNSUPPORTED, "backreferences");
    expect_schema_error("{\"type\": \"bogus\"}", INFER_ERR_FORMAT, "unknown type 'bogus'");
    expect_schema_error("{\"$ref\": \"http://x/y\"}", INFER_ERR_UNSUPPORTED, "only local $ref");
    expect_schema_error("{\"type\": \"array\", \"minItems\": 3, \"maxItems\": 2}", INFER_ERR_UNSUPPORTED, "minItems above");
    expect_schema_error("false", INFER_ERR_UNSUPPORTED, "allows nothing");
    expect_schema_error("{\"type\": \"string\", \"enum\": [1, null]}", INFER_ERR_UNSUPPORTED, "allows nothing");
    expect_schema_error("{\"type\": \"string\", \"maxLength\": 3, \"enum\": [\"a\"]}", INFER_ERR_UNSUPPORTED, "combining");
    /* The buffer protocol: size query, then the text; the text is a grammar. */
    const char *schema = "{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\", \"minimum\": -3, "
                         "\"maximum\": 250}}, \"required\": [\"n\"]}";
    size_t need = 0;
    assert_int_equal(infer_json_schema_to_grammar(schema, strlen(schema), NULL, 0, &need, NULL), INFER_ERR_BUFFER_SMALL);
    char *g = malloc(need + 1);
    size_t n = 0;
    assert_int_equal(infer_json_schema_to_grammar(schema, strlen(schema), g, need + 1, &n, NULL), INFER_OK);
    assert_int_equal(n, need);
    infer_grammar *gr = NULL;
    assert_int_equal(infer_grammar_parse(g, n, NULL, &gr, NULL), INFER_OK);
    /* Integer bounds, every value from -10 to 300 (reference: plain comparison). */
    for (int v = -10; v <= 300; v++) {
        char text[64];
        snprintf(text, sizeof text, "{\"n\": %d}", v);
        assert_int_equal(infer_grammar_match(gr, text, strlen(text)), v >= -3 && v <= 250 ? 1 : 0);
    }
    assert_int_equal(infer_grammar_match(gr, "{\"n\": 007}", 10), 0);   /* no leading zeros */
    assert_int_equal(infer_grammar_match(gr, "{\"n\": -0}", 9), 0);
    infer_grammar_free(gr);
    free(g);
}

/* ---- JSON schema features: texts in and out, the verdict decided by hand from the
 * schema's meaning (JSON Schema 2020-12), not by the converter */

static infer_grammar *schema_grammar(const char *schema) {
    size_t need = 0;
    infer_error e = {0};
    infer_status st = infer_json_schema_to_grammar(schema, strlen(schema), NULL, 0, &need, &e);
    if (st != INFER_ERR_BUFFER_SMALL) fprintf(stderr, "%s: %s\n", schema, e.message);
    assert_int_equal(st, INFER_ERR_BUFFER_SMALL);
    char *g = malloc(need + 1);
    assert_int_equal(infer_json_schema_to_grammar(schema, strlen(schema), g, need + 1, NULL, NULL), INFER_OK);
    infer_grammar *gr = NULL;
    assert_int_equal(infer_grammar_parse(g, need, NULL, &gr, NULL), INFER_OK);
    free(g);
    return gr;
}

static void expect_texts(const char *schema, const char *const *yes, const char *const *no) {
    infer_grammar *gr = schema_grammar(schema);
    for (; yes && *yes; yes++) {
        if (infer_grammar_match(gr, *yes, strlen(*yes)) != 1) fprintf(stderr, "%s should accept %s\n", schema, *yes);
        assert_int_equal(infer_grammar_match(gr, *yes, strlen(*yes)), 1);
    }
    for (; no && *no; no++) {
        if (infer_grammar_match(gr, *no, strlen(*no)) == 1) fprintf(stderr, "%s should reject %s\n", schema, *no);
        assert_int_not_equal(infer_grammar_match(gr, *no, strlen(*no)), 1);
    }
    infer_grammar_free(gr);
}

static void test_json_schema_number_bounds(void **state) {
    (void)state;
    /* Every decimal text from -4.00 to 4.00 in steps of 0.05: accepted only inside the
     * interval (plain double comparison); the integers inside must all be accepted. */
    static const struct {
        const char *schema;
        double lo, hi;
        int lo_x, hi_x;
    } cases[] = {
        {"{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", 0, 1, 0, 0},
        {"{\"type\": \"number\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 3}", 0, 3, 1, 1},
        {"{\"type\": \"number\", \"minimum\": -2.5, \"maximum\": 2.5}", -2.5, 2.5, 0, 0},
        {"{\"type\": \"number\", \"exclusiveMaximum\": 0, \"minimum\": -3}", -3, 0, 0, 1},
        {"{\"type\": \"number\", \"exclusiveMinimum\": -1, \"maximum\": 1, \"minimum\": -2}", -1, 1, 1, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        infer_grammar *gr = schema_grammar(cases[k].schema);
        for (int i = -80; i <= 80; i++) {
            double v = i * 0.05;
            char text[32];
            if (i % 20 == 0) snprintf(text, sizeof text, "%d", i / 20);
            else snprintf(text, sizeof text, "%.2f", v);
            int in = (cases[k].lo_x ? v > cases[k].lo : v >= cases[k].lo) && (cases[k].hi_x ? v < cases[k].hi : v <= cases[k].hi);
            int got = infer_grammar_match(gr, text, strlen(text)) == 1;
            if (got && !in) fprintf(stderr, "%s accepts %s\n", cases[k].schema, text);
            assert_true(!got || in);
            if (i % 20 == 0 && in) assert_true(got);
        }
        infer_grammar_free(gr);
    }
    /* int64 limits (OpenAPI) lie beyond the 16 digits written: no bound on that side. */
    const char *s64 = "{\"type\": \"integer\", \"minimum\": -9223372036854775808, \"maximum\": 9223372036854775807}";
    const char *y64[] = {"0", "-42", "9999999999999999", NULL}, *n64[] = {"1.5", NULL};
    expect_texts(s64, y64, n64);
    const char *sx = "{\"type\": \"integer\", \"exclusiveMinimum\": 0, \"exclusiveMaximum\": 3.5}";
    const char *yx[] = {"1", "3", NULL}, *nx[] = {"0", "4", NULL};
    expect_texts(sx, yx, nx);
    expect_schema_error("{\"type\": \"integer\", \"minimum\": 1e17}", INFER_ERR_UNSUPPORTED, "beyond the 16-digit");
    expect_schema_error("{\"type\": \"number\", \"exclusiveMinimum\": true}", INFER_ERR_UNSUPPORTED, "draft 4");
    const char *yes[] = {"0.5", "0.999", "1", "0", NULL}, *no[] = {"1.5", "-0.5", "1e0", "2", NULL};
    expect_texts("{\"type\": \"number\", \"minimum\": 0, \"maximum\": 1}", yes, no);
}

static void test_json_schema_allof_and_refs(void **state) {
    (void)state;
    /* Pydantic v1 wrapper, a merged object, a bound added by a second part, $ref with siblings. */
    const char *s1 = "{\"$defs\": {\"E\": {\"enum\": [\"a\", \"b\"]}}, \"type\": \"object\", \"properties\": {\"e\": "
                     "{\"title\": \"E\", \"default\": \"a\", \"allOf\": [{\"$ref\": \"#/$defs/E\"}]}}, \"required\": [\"e\"]}";
    const char *y1[] = {"{\"e\": \"a\"}", "{\"e\":\"b\"}", NULL}, *n1[] = {"{\"e\": \"c\"}", "{}", NULL};
    expect_texts(s1, y1, n1);
    const char *s2 = "{\"$defs\": {\"B\": {\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}}, "
                     "\"required\": [\"id\"]}}, \"allOf\": [{\"$ref\": \"#/$defs/B\"}, {\"properties\": {\"id\": "
                     "{\"maximum\": 5}, \"n\": {\"type\": \"string\"}}, \"required\": [\"n\"]}]}";
    const char *y2[] = {"{\"id\": 5, \"n\": \"x\"}", NULL}, *n2[] = {"{\"id\": 6, \"n\": \"x\"}", "{\"id\": 1}", "{\"n\": \"x\"}", NULL};
    expect_texts(s2, y2, n2);
    const char *s3 = "{\"$defs\": {\"p\": {\"type\": \"integer\", \"minimum\": 1}}, \"$ref\": \"#/$defs/p\", \"maximum\": 3}";
    const char *y3[] = {"1", "3", NULL}, *n3[] = {"0", "4", NULL};
    expect_texts(s3, y3, n3);
    /* allOf of two enums: the values in both. */
    const char *s3b = "{\"allOf\": [{\"enum\": [\"a\", \"b\", \"c\"]}, {\"type\": \"string\", \"enum\": [\"b\", \"c\", \"d\"]}]}";
    const char *y3b[] = {"\"b\"", "\"c\"", NULL}, *n3b[] = {"\"a\"", "\"d\"", NULL};
    expect_texts(s3b, y3b, n3b);
    expect_schema_error("{\"allOf\": [{\"enum\": [1]}, {\"enum\": [2]}]}", INFER_ERR_UNSUPPORTED, "no enum value in common");
    /* An anyOf alternative the converter cannot write is left out (Pydantic's Decimal). */
    const char *s3c = "{\"anyOf\": [{\"type\": \"number\"}, {\"type\": \"string\", \"pattern\": \"^(?!x)y$\"}, "
                      "{\"$ref\": \"#/$defs/bad\"}], \"$defs\": {\"bad\": {\"not\": {}}}}";
    const char *y3c[] = {"1.5", NULL}, *n3c[] = {"\"y\"", NULL};
    expect_texts(s3c, y3c, n3c);
    expect_schema_error("{\"anyOf\": [{\"not\": {}}, {\"pattern\": \"(?=a)\"}]}", INFER_ERR_UNSUPPORTED, "at /anyOf/1");
    /* anyOf beside type/properties: each alternative with the rest. */
    const char *s4 = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, \"b\": {\"type\": \"integer\"}}, "
                     "\"anyOf\": [{\"required\": [\"a\"]}, {\"required\": [\"b\"]}]}";
    const char *y4[] = {"{\"a\": 1}", "{\"b\": 1}", "{\"a\": 1, \"b\": 2}", NULL}, *n4[] = {"{}", NULL};
    expect_texts(s4, y4, n4);
    /* $ref escapes: %25-style and ~1; a ref to the root. */
    const char *s5 = "{\"$defs\": {\"a b\": {\"const\": 1}, \"c/d\": {\"const\": 2}}, \"type\": \"array\", \"prefixItems\": "
                     "[{\"$ref\": \"#/$defs/a%20b\"}, {\"$ref\": \"#/$defs/c~1d\"}], \"items\": false, \"minItems\": 2}";
    const char *y5[] = {"[1, 2]", NULL}, *n5[] = {"[2, 1]", NULL};
    expect_texts(s5, y5, n5);
    const char *s6 = "{\"type\": \"object\", \"properties\": {\"k\": {\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}}, "
                     "\"required\": [\"k\"]}";
    const char *y6[] = {"{\"k\": [{\"k\": []}]}", NULL}, *n6[] = {"{\"k\": [{}]}", NULL};
    expect_texts(s6, y6, n6);
}

static void test_json_schema_literals_formats_unique(void **state) {
    (void)state;
    /* enum/const arrays and objects with a model's spacing; annotations (discriminator,
     * nullable, x-*) ignored. */
    const char *s1 = "{\"enum\": [[1, \"a\"], {\"k\": null}], \"x-note\": 1, \"nullable\": true, \"discriminator\": {}}";
    const char *y1[] = {"[1,\"a\"]", "[ 1, \"a\" ]", "{\"k\": null}", NULL}, *n1[] = {"[\"a\", 1]", "{\"k\": 0}", NULL};
    expect_texts(s1, y1, n1);
    const char *s2 = "{\"type\": \"array\", \"prefixItems\": [{\"format\": \"ipv4\"}, {\"format\": \"email\"}, "
                     "{\"type\": \"string\", \"format\": \"int32\", \"maxLength\": 2}], \"items\": false, \"minItems\": 3}";
    const char *y2[] = {"[\"10.0.255.1\", \"a.b@c.de\", \"xy\"]", NULL};
    const char *n2[] = {"[\"10.0.256.1\", \"a.b@c.de\", \"xy\"]", "[\"1.2.3.4\", \"ab.de\", \"xy\"]",
                        "[\"01.2.3.4\", \"a@b.de\", \"xy\"]", "[\"1.2.3.4\", \"a@b.de\", \"xyz\"]", NULL};
    expect_texts(s2, y2, n2);
    /* Lengths every text of the format meets are accepted; tighter ones are refused. */
    const char *s2b = "{\"type\": \"string\", \"format\": \"date\", \"minLength\": 10, \"maxLength\": 10}";
    const char *y2b[] = {"\"2024-02-28\"", NULL};
    expect_texts(s2b, y2b, NULL);
    expect_schema_error("{\"type\": \"string\", \"format\": \"email\", \"maxLength\": 20}", INFER_ERR_UNSUPPORTED, "combining");
    /* Pattern and lengths: one repeated character takes the bounds; a pattern whose
     * lengths all fit needs nothing more; others are refused. */
    const char *s2c = "{\"type\": \"string\", \"pattern\": \"^[a-z]+$\", \"minLength\": 2, \"maxLength\": 3}";
    const char *y2c[] = {"\"ab\"", "\"abc\"", NULL}, *n2c[] = {"\"a\"", "\"abcd\"", "\"\"", NULL};
    expect_texts(s2c, y2c, n2c);
    const char *s2d = "{\"type\": \"string\", \"pattern\": \"^(ab|c)[0-9]$\", \"maxLength\": 3}";
    const char *y2d[] = {"\"ab1\"", "\"c2\"", NULL};
    expect_texts(s2d, y2d, NULL);
    expect_schema_error("{\"type\": \"string\", \"pattern\": \"^(ab)+$\", \"maxLength\": 3}", INFER_ERR_UNSUPPORTED,
                        "min/maxLength beside a pattern");
    expect_schema_error("{\"type\": \"string\", \"pattern\": \"^a{2,3}$\", \"minLength\": 4}", INFER_ERR_UNSUPPORTED,
                        "leave no length");
    /* uniqueItems: enum values each at most once; other items at most one. */
    const char *s3 = "{\"type\": \"array\", \"items\": {\"enum\": [\"r\", \"g\", \"b\"]}, \"uniqueItems\": true}";
    const char *y3[] = {"[]", "[\"r\", \"b\"]", "[\"r\",\"g\",\"b\"]", "[\"g\"]", NULL}, *n3[] = {"[\"r\", \"r\"]", "[\"x\"]", NULL};
    expect_texts(s3, y3, n3);
    const char *s4 = "{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"uniqueItems\": true}";
    const char *y4[] = {"[]", "[7]", NULL}, *n4[] = {"[7, 7]", NULL};
    expect_texts(s4, y4, n4);
    /* Additional properties never reuse a declared name (its own schema would not hold). */
    const char *s6 = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, \"ab\": {\"type\": \"string\"}}, "
                     "\"additionalProperties\": {\"type\": \"boolean\"}}";
    const char *y6[] = {"{\"a\": 1, \"abc\": true, \"b\": false, \"\": true}", "{\"ab\": \"x\", \"A\": true}", NULL};
    const char *n6[] = {"{\"a\": true}", "{\"ab\": true}", "{\"a\": 1, \"a\": true}", "{\"\\u0061\": true}", NULL};
    expect_texts(s6, y6, n6);
    /* An object schema without properties takes any members (llama.cpp does the same). */
    const char *s8 = "{\"type\": \"object\", \"required\": [\"id\"]}";
    const char *y8[] = {"{\"id\": 1}", "{\"id\": [], \"x\": {\"y\": null}}", NULL}, *n8[] = {"{}", "{\"x\": 1}", NULL};
    expect_texts(s8, y8, n8);
    /* A required name that is not declared takes the additionalProperties schema. */
    const char *s9 = "{\"type\": \"object\", \"required\": [\"n\"], \"additionalProperties\": {\"type\": \"integer\"}}";
    const char *y9[] = {"{\"n\": 1}", "{\"n\": 1, \"m\": 2}", NULL}, *n9[] = {"{\"n\": \"x\"}", "{\"n\": 1, \"m\": \"x\"}", NULL};
    expect_texts(s9, y9, n9);
    expect_schema_error("{\"required\": [\"n\"], \"additionalProperties\": false}", INFER_ERR_UNSUPPORTED, "'n' is forbidden");
    /* Negated shorthands stay within ASCII (Python's re reads \\d \\w \\s as Unicode). */
    const char *s10 = "{\"pattern\": \"^\\\\D[^\\\\s]$\"}";
    const char *y10[] = {"\"a-\"", NULL}, *n10[] = {"\"1a\"", "\"a \"", "\"\u0663a\"", "\"a\u00a0\"", NULL};
    expect_texts(s10, y10, n10);
    /* patternProperties alone: keys that fully match the pattern. */
    const char *s7 = "{\"type\": \"object\", \"patternProperties\": {\"^v[0-9]$\": {\"type\": \"integer\"}}}";
    const char *y7[] = {"{}", "{\"v1\": 2, \"v9\": 0}", NULL}, *n7[] = {"{\"v10\": 1}", "{\"v1\": \"x\"}", "{\"w\": 1}", NULL};
    expect_texts(s7, y7, n7);
    expect_schema_error("{\"properties\": {\"a\": {}}, \"patternProperties\": {\"a\": {}}}", INFER_ERR_UNSUPPORTED, "patternProperties");
    expect_schema_error("{\"additionalProperties\": true, \"maxProperties\": 3}", INFER_ERR_UNSUPPORTED, "maxProperties");
    /* draft-7 tuples: items as an array, additionalItems for the rest. */
    const char *s5 = "{\"type\": \"array\", \"items\": [{\"type\": \"string\"}], \"additionalItems\": {\"type\": \"null\"}}";
    const char *y5[] = {"[\"a\"]", "[\"a\", null]", NULL}, *n5[] = {"[\"a\", 1]", "[1]", NULL};
    expect_texts(s5, y5, n5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_chain_equals_stages),
        cmocka_unit_test(test_logit_bias),
        cmocka_unit_test(test_mirostat_v2),
        cmocka_unit_test(test_stop_strings),
        cmocka_unit_test(test_logprobs),
        cmocka_unit_test(test_json_schema_errors),
        cmocka_unit_test(test_json_schema_number_bounds),
        cmocka_unit_test(test_json_schema_allof_and_refs),
        cmocka_unit_test(test_json_schema_literals_formats_unique),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
