/* Python semantics of the template engine that the real-template corpora
 * (tests/data/chat-templates*) do not reach, found by rendering probe templates with
 * jinja2: each expected text below is jinja2 3.1.6's output in the environment of
 * scripts/make-chat-expected.py (Hugging Face's), with messages = [{role: user, content: hi}]
 * and strftime_now's date fixed at 2026-01-15. Errors: jinja2 raised that kind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_render.h"

typedef struct jcase { const char *tmpl, *want; } jcase;

/* jinja2's output for each template */
static const jcase RENDERS[] = {
    {"{{ 'hell0 w0rld they\\'re a-b_c (x) [y]'|title }}|{{ 'hell0 w0rld they\\'re a-b_c'.title() }}",
     "Hell0 W0rld They're A-B_c (X) [Y]|Hell0 W0Rld They'Re A-B_C"},
    {"{{ 'Héllo wörld! 日本語 emoji 🦙🚀 under_score x-y'|wordcount }}",
     "7"},
    {"{{ 'a=b=c'.partition('=') }}{{ 'a=b=c'.rpartition('=') }}{{ 'abc'.partition('x') }}{{ 'abc'.rpartition('x') }}",
     "('a', '=', 'b=c')('a=b', '=', 'c')('abc', '', '')('', '', 'abc')"},
    {"{{ 'ÉCOLE'.casefold() }}|{{ 'a\\tbc\\tdef\\n\\tg'.expandtabs(4) }}|{{ 'a\\tb'.expandtabs() }}|{{ 'Ab Cd'.istitle() }}{{ 'Ab cd'.istitle() }}{{ '1'.istitle() }}",
     "école|a   bc  def\n    g|a       b|TrueFalseFalse"},
    {"{{ [1, 2, 3]|select('lessthan', 3)|list }}{{ 5 is greaterthan 4 }}{{ 'a'|safe is escaped }}{{ 'a' is escaped }}",
     "[1, 2]TrueTrueFalse"},
    {"{{ 'tojson' is filter }}{{ 'wordcount' is filter }}{{ 'nosuch' is filter }}{{ 'defined' is test }}{{ 'filter' is test }}{{ 'x' is test }}{{ 1 is filter }}",
     "TrueTrueFalseTrueTrueFalseFalse"},
    {"{{ 5|round(1) }} {{ 1234|round(-2) }} {{ 1250|round(-2) }} {{ 1234.5678|round(-2) }} {{ 250.0|round(-2) }} {{ true|round }} {{ 5|round(1, 'floor') }} {{ -1234.5|round(-1, 'ceil') }}",
     "5 1200 1200 1200.0 200.0 1 5.0 -1230.0"},
    {"{{ '_a1'.isidentifier() }}{{ '1a'.isidentifier() }}{{ 'é'.isascii() }}{{ 'ab\\n'.isprintable() }}{{ 'ab\n'.isprintable() }}|{{ '{a}-{b:>3}'.format_map({'a': 1, 'b': 'x'}) }}",
     "TrueFalseFalseFalseFalse|1-  x"},
    {"{{ [[1, 2], [3]]|sum(start=[]) }}{{ [(1,), (2,)]|sum(start=()) }}",
     "[1, 2, 3](1, 2)"},
    {"{{ '%s' % undefined_x }}|{{ '{}'.format(undefined_x) }}|{{ '%s'|format(undefined_x) }}",
     "||"},
    {"{{ '%(name)s is %(n)03d' % {'name': 'x', 'n': 7} }}|{{ '%c%c' % (65, 'é') }}|{{ '%-4s|%4s|%.2s' % ('é', 'ü', 'ñab') }}",
     "x is 007|Aé|é   |   ü|ña"},
    {"{{ '{:>8}|{:<4}|{:^7}|{:*^9}'.format('ab', 'é', 'c', 'mid') }}|{{ '{:08.3f}|{:+d}|{:,}|{:_}'.format(-3.14159, 5, 1234567.891, 1000000) }}",
     "      ab|é   |   c   |***mid***|-003.142|+5|1,234,567.891|1_000_000"},
    {"{{ '{:.2%}|{:e}|{:#x}|{:b}|{:o}|{:X}'.format(0.256, 12345.678, 255, 5, 8, 255) }}|{{ '{:.3}|{:.3}|{:g}|{:.1f}|{:5}|{:c}'.format(1.0, 'abcdef', 0.00001, 2.25, 7, 97) }}",
     "25.60%|1.234568e+04|0xff|101|10|FF|1.0|abc|1e-05|2.2|    7|a"},
    {"{{ '{0[role]} {0[content]}'.format(messages[0]) }}|{{ '{a}-{b!r}-{c:>3}'.format(a=1, b='x', c=2) }}|{{ '{}{{}}{}'.format(1, 2) }}",
     "user hi|1-'x'-  2|1{}2"},
    {"{{ 'Ευχαριστώ ά έ ή ί ό ύ ϊ ϋ ς µ ÿ ĺ ź'|upper }}|{{ 'ΆΈΉΊΌΎΏΪΫ Ÿ Ĺ Ź'|lower }}",
     "ΕΥΧΑΡΙΣΤΏ Ά Έ Ή Ί Ό Ύ Ϊ Ϋ Σ Μ Ÿ Ĺ Ź|άέήίόύώϊϋ ÿ ĺ ź"},
    {"{% macro f(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, k=3) }}",
     "1(2,){'k': 3}"},
    {"{% set y = 'o' %}{% for i in [1, 2] %}{{ y }}{% set y = 'a' %}{{ y }};{% endfor %}{{ y }}|{% for i in [1, 2] %}{% if loop.first %}{% set z = 'a' %}{% endif %}[{{ z }}]{% endfor %}",
     "oa;oa;o|[a][]"},
    {"{% for m in [1, 1, 2, 2, 1] %}{{ loop.changed(m) }}{% endfor %}|{% for m in ['a', 'a'] %}{{ loop.changed() }}{{ loop.changed(m, 1) }}{% endfor %}",
     "TrueFalseTrueFalseTrue|TrueTrueTrueTrue"},
    {"{% raw %}\nx\n{% endraw %}\ny",
     "\nx\ny"},
    {"a\n  {% raw %}b{% endraw %}  \n  {% raw %}c\n  {% endraw %}\nd",
     "a\nb  \nc\nd"},
    {"  {%- raw %}\n x\n {% endraw -%}\n y|x {% raw -%}  \n  a  {%+ endraw %}  \ny",
     "\n x\ny|x a    \ny"},
    {"{{ strftime_now('%-d %B %Y|%e|%-m/%-d|%U %W %V %G %u|%f|%z%Z|%c|%x %X|%D %F %T %R %r|%^a %^B|%I %p %j %C %y') }}",
     "15 January 2026|15|1/15|02 02 03 2026 4|000000||Thu Jan 15 00:00:00 2026|01/15/26 00:00:00|01/15/26 2026-01-15 00:00:00 00:00 12:00:00 AM|THU JANUARY|12 AM 015 20 26"},
};

/* templates jinja2 refuses, and the exception kind it raised */
static const jcase ERRORS[] = {
    {"{{ '{:>5}'.format(none) }}", "TypeError"},   /* TypeError: unsupported format string passed to NoneType.__format__ */
    {"{{ '{:d}'.format(1.5) }}", "ValueError"},   /* ValueError: Unknown format code 'd' for object of type 'float' */
    {"{{ '%(x)s' % {'y': 1} }}", "KeyError"},   /* KeyError: 'x' */
    {"{{ '{} {}'.format(1) }}", "IndexError"},   /* IndexError: tuple index out of range */
    {"{{ 'a}b'.format() }}", "ValueError"},   /* ValueError: Single '}' encountered in format string */
    {"{{ '%11111111111111s' % 'n' }}", "OverflowError"},   /* Python: MemoryError; we refuse widths over 1e6 */
    {"{{ 'x'.partition('') }}", "ValueError"},   /* ValueError: empty separator */
    {"{{ 1.5|round(0, 'up') }}", "FilterArgumentError"},   /* FilterArgumentError: method must be common, ceil or floor */
    {"{{ '%d' % undefined_x }}", "UndefinedError"},   /* UndefinedError: 'undefined_x' is undefined */
    {"{% macro f(x) %}X{% endmacro %}{{ f(1, 2) }}", "TypeError"},   /* TypeError: macro 'f' takes not more than 1 argument(s) */
    {"{% macro f(x) %}X{{ varargs }}{% endmacro %}{{ f(1, y=2) }}", "TypeError"},   /* TypeError: macro 'f' takes no keyword argument 'y' */
};

static char *render(const char *src, char *err, size_t errcap) { return test_jinja_render(src, strlen(src), err, errcap); }

static void test_renders_as_jinja2(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof RENDERS / sizeof RENDERS[0]; i++) {
        char err[512] = {0};
        char *out = render(RENDERS[i].tmpl, err, sizeof err);
        if (!out) fail_msg("%s\nfailed: %s", RENDERS[i].tmpl, err);
        if (strcmp(out, RENDERS[i].want)) fail_msg("%s\n got: %s\nwant: %s", RENDERS[i].tmpl, out, RENDERS[i].want);
        free(out);
    }
}

static void test_fails_as_jinja2(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++) {
        char err[512] = {0};
        char *out = render(ERRORS[i].tmpl, err, sizeof err);
        if (out) fail_msg("%s\nrendered '%s' instead of failing", ERRORS[i].tmpl, out);
        if (!strstr(err, ERRORS[i].want)) fail_msg("%s\nerror '%s' is not a %s", ERRORS[i].tmpl, err, ERRORS[i].want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_renders_as_jinja2),
        cmocka_unit_test(test_fails_as_jinja2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
