/* Hostile and malformed templates: each returns a clear error quickly (or renders what
 * jinja2 renders), never crashes, hangs or exhausts memory. Run under ASan+UBSan too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/jinja/jinja.h"
#include "jinja_render.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Renders src; returns the output (malloc'ed) or NULL with the error in err. */
static char *render(const char *src, size_t n, char *err, size_t errcap) {
    char *out = test_jinja_render(src, n, err, errcap);
    if (!out) assert_true(err[0] != 0);
    return out;
}

/* The template must fail, with `needle` in the message, within a few seconds. */
static void expect_error(const char *src, const char *needle) {
    char err[512] = {0};
    double t0 = now_s();
    char *out = render(src, strlen(src), err, sizeof err);
    double dt = now_s() - t0;
    if (out) fail_msg("rendered instead of failing: %.80s...", out);
    if (!strstr(err, needle)) fail_msg("error '%s' does not mention '%s'", err, needle);
    if (dt > 20.0) fail_msg("took %.1f s to fail", dt);
}

static void expect_output(const char *src, size_t n, const char *want) {
    char err[512] = {0};
    char *out = render(src, n, err, sizeof err);
    if (!out) fail_msg("failed: %s", err);
    assert_string_equal(out, want);
    free(out);
}

static char *repeat(const char *a, int n, const char *mid, const char *b) {
    size_t la = strlen(a), lb = strlen(b), lm = strlen(mid);
    char *s = malloc(la * (size_t)n + lm + lb * (size_t)n + 1), *p = s;
    assert_non_null(s);
    for (int i = 0; i < n; i++, p += la) memcpy(p, a, la);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lb) memcpy(p, b, lb);
    *p = 0;
    return s;
}

static void test_deep_nesting(void **state) {
    (void)state;
    char *s = repeat("(", 100000, "1", ")");
    char *wrapped = malloc(strlen(s) + 8);
    sprintf(wrapped, "{{ %s }}", s);
    expect_error(wrapped, "nesting too deep");
    free(wrapped);
    free(s);
    s = repeat("{% if true %}", 50000, "x", "{% endif %}");
    expect_error(s, "nesting too deep");
    free(s);
    s = repeat("[", 50000, "", "]");
    wrapped = malloc(strlen(s) + 8);
    sprintf(wrapped, "{{ %s }}", s);
    expect_error(wrapped, "nesting too deep");
    free(wrapped);
    free(s);
    expect_error("{{ not not not not not not not not not not not not not not not not not not not not not not not not not "
                 "not not not not not not not not not not not not not not not not not not not not not not not not not not "
                 "not not not not not not not not not not not not not not not not not not not not not not not not not not "
                 "not not not not not not not not not not not not not not not not not not not not not not not not not not "
                 "not not not not not not not not not not not not not not not not not not not not not not not not not 1 }}",
                 "nesting too deep");
}

static void test_infinite_recursion(void **state) {
    (void)state;
    expect_error("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion too deep");
    expect_error("{% macro f(n) %}{{ f(n + 1) ~ 'x' }}{% endmacro %}{{ f(0) }}", "recursion too deep");
    /* exponential fan-out: bounded by the step limit */
    expect_error("{% macro f(n) %}{% if n > 0 %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
                 "limit exceeded");
}

static void test_huge_loops(void **state) {
    (void)state;
    expect_error("{% for i in range(1000000000000) %}{% endfor %}", "range() too large");
    expect_error("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "step limit");
    expect_error("{% for i in range(1000000) %}{{ 'x' * 100 }}{% endfor %}", "output limit");
}

static void test_memory_bombs(void **state) {
    (void)state;
    expect_error("{% set s = 'x' * 100000000000 %}", "memory limit");
    expect_error("{% set l = [1] * 100000000000 %}", "memory limit");
    expect_error("{% set ns = namespace(s='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') %}{% for i in range(100) %}"
                 "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                 "limit");
    expect_error("{{ 9223372036854775807 + 1 }}", "overflow");
    /* a list nested a hundred thousand deep: comparing, printing or serializing it must
     * not recurse that deep */
    expect_error("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                 "{{ ns.x == ns.x }}{{ ns.x }}",
                 "nesting too deep");
    expect_error("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}"
                 "{{ ns.x | tojson }}",
                 "nested too deeply");
    expect_error("{% set ns = namespace(x={}) %}{% for i in range(100000) %}{% set ns.x = {'k': ns.x} %}{% endfor %}"
                 "{{ [ns.x] | sort }}{{ ns.x in [ns.x] }}{{ ns.x | string }}",
                 "nesting too deep");
    expect_error("{{ 2 ** 64 }}", "overflow");
}

static void test_malformed(void **state) {
    (void)state;
    static const char *const bad[] = {
        "{% if true %}no end",       "{{ x",           "{% for %}",      "{# open comment",
        "{{ 'unterminated }}",       "{% endif %}",    "{% if %}{% endfor %}", "{{ }}",
        "{{ 1 + }}",                 "{% set %}",      "{% macro %}",    "{{ a[ }}",
        "{% for x in y %}{% else %}", "{{ x | }}",     "{{ x is }}",     "{% raw %}never closed",
        "{{ '\\x4' }}",              "{% unknown_tag %}", "{{ @ }}",     "{% call %}{% endcall %}",
        "{{ f(a=1, 2) }}",           "{% set x = %}",  "{{ (1, 2 }}",   "{{ {1: } }}",
        "{%",                        "{{",             "{{ 99999999999999999999999 }}",
        /* found by fuzz_template: a long float literal overran the lexer's buffer */
        "{{ 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000.0 }}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = {0};
        char *out = render(bad[i], strlen(bad[i]), err, sizeof err);
        if (out) fail_msg("'%s' rendered '%s' instead of failing", bad[i], out);
        if (!strstr(err, "line ")) fail_msg("'%s': error without a line number: %s", bad[i], err);
    }
}

static void test_runtime_errors(void **state) {
    (void)state;
    expect_error("{{ x.y }}", "UndefinedError");
    expect_error("{{ x + 'a' }}", "UndefinedError");
    expect_error("{{ 'a' + 1 }}", "can only concatenate str");
    expect_error("{{ 1 / 0 }}", "ZeroDivisionError");
    expect_error("{{ [1].append(2) }}", "SecurityError");
    expect_error("{{ raise_exception('stop here') }}", "raise_exception: stop here");
    expect_error("{{ messages.pop() }}", "SecurityError");
    expect_error("{% for a, b in [1] %}{% endfor %}", "cannot unpack");
    expect_error("{{ 1 < 'a' }}", "not supported between");
    expect_error("{{ none.split() }}", "has no attribute 'split'");
    expect_error("{{ x | nosuchfilter }}", "no filter named");
    expect_error("{{ [1] | tojson(indent=none) | tojson(separators=1) }}", "separators");
}

/* Inputs fuzz_template found. */
static void test_fuzz_findings(void **state) {
    (void)state;
    const char src[] = "{{ 'abcdef'[::2, 3] }}|{{ [1][1:, 0] }}";
    expect_output(src, sizeof src - 1, "|");   /* jinja2 renders the same */
}

static void test_invalid_utf8(void **state) {
    (void)state;
    /* invalid bytes pass through text and strings unchanged, and methods never split them */
    const char src[] = "\xff{{ '\xc3' }}{{ '\xe2\x82'|upper }}{{ '\xf0\x9f\x98\x80x\xff'[1] }}{{ '\xc3\xa9\x80'|length }}";
    expect_output(src, sizeof src - 1, "\xff\xc3\xe2\x82x2");
    const char src2[] = "{{ ['\xff\xc3\xa9'] }}{{ '\xff\xfe'|tojson }}{{ '\xc3\xa9\xff'[::-1] }}";
    expect_output(src2, sizeof src2 - 1, "['\\xff\xc3\xa9']\"\xff\xfe\"\xff\xc3\xa9");
    /* NUL bytes and lone continuation bytes in the source */
    const char src3[] = "a\0b{{ 'x\x80' }}{% if true %}\x80{% endif %}";
    char err[256] = {0};
    char *out = render(src3, sizeof src3 - 1, err, sizeof err);
    free(out);
}

static void test_limits_custom(void **state) {
    (void)state;
    char err[256];
    const char *src = "{% for i in range(8) %}{% for j in range(8) %}{{ i }}{% endfor %}{% endfor %}";
    jinja_template *t = jinja_template_parse(src, strlen(src), err, sizeof err);
    assert_non_null(t);
    jinja_limits lim = jinja_default_limits();
    lim.max_steps = 10;
    jinja_ctx *c = jinja_ctx_new(&lim);
    char *out = NULL;
    assert_int_equal(jinja_render(c, t, &out, NULL), -1);
    assert_null(out);
    assert_non_null(strstr(jinja_ctx_error(c), "step limit"));
    jinja_ctx_free(c);
    lim = jinja_default_limits();
    lim.max_output = 20;
    c = jinja_ctx_new(&lim);
    assert_int_equal(jinja_render(c, t, &out, NULL), -1);
    assert_non_null(strstr(jinja_ctx_error(c), "output limit"));
    jinja_ctx_free(c);
    jinja_template_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_nesting),   cmocka_unit_test(test_infinite_recursion),
        cmocka_unit_test(test_huge_loops),     cmocka_unit_test(test_memory_bombs),
        cmocka_unit_test(test_malformed),      cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_invalid_utf8),   cmocka_unit_test(test_limits_custom),
        cmocka_unit_test(test_fuzz_findings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
