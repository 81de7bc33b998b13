/* Chat templates: detection, and rendering compared byte for byte with what the models'
 * real Jinja templates print (tests/data/chat, made by make_expected.py with jinja2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat/chat_style.h"
#include "infer.h"
#include "testdata.h"

/* The conversations rendered by make_expected.py. */
static const char *const CONVERSATIONS[] = {
    "user_only", "system_user", "multi_turn", "ends_with_assistant", "no_system_multi",
    "whitespace_unicode", "think_history", "think_last", "two_systems", "empty_user",
};
#define N_CONV (sizeof CONVERSATIONS / sizeof CONVERSATIONS[0])

typedef struct conversation {
    char *blob;               /* the .msgs file; roles and contents point into it */
    infer_chat_msg msgs[16];
    size_t n;
} conversation;

/* Parses "<role> <n_bytes>\n<content>\n" records; contents are NUL-terminated in place. */
static void load_conversation(const char *name, conversation *c) {
    char rel[128];
    snprintf(rel, sizeof rel, "chat/conversations/%s.msgs", name);
    char *path = test_fixture(rel);
    assert_non_null(path);
    size_t len = 0;
    c->blob = test_read_all(path, &len);
    free(path);
    assert_non_null(c->blob);
    c->n = 0;
    size_t off = 0;
    while (off < len) {
        assert_true(c->n < 16);
        char *role = c->blob + off;
        char *sp = memchr(role, ' ', len - off);
        assert_non_null(sp);
        *sp = '\0';
        char *nl;
        size_t n = strtoul(sp + 1, &nl, 10);
        assert_true(*nl == '\n');
        char *content = nl + 1;
        assert_true((size_t)(content - c->blob) + n < len + 1);
        content[n] = '\0';   /* overwrites the record's trailing newline */
        c->msgs[c->n].role = role;
        c->msgs[c->n].content = content;
        c->n++;
        off = (size_t)(content - c->blob) + n + 1;
    }
}

static char *read_fixture(const char *rel, size_t *len) {
    char *path = test_fixture(rel);
    assert_non_null(path);
    char *data = test_read_all(path, len);
    free(path);
    assert_non_null(data);
    return data;
}

/* The date the reference renderings carry (make_expected.py's DATE_SENTINEL). */
static struct tm sentinel_date(void) {
    struct tm t = {0};
    t.tm_year = 2099 - 1900;
    t.tm_mon = 11;
    t.tm_mday = 31;
    return t;
}

static void check_family_against_reference(const infer_chat_style *st, const char *dir, const char *bos) {
    struct tm date = sentinel_date();
    for (size_t i = 0; i < N_CONV; i++) {
        conversation c;
        load_conversation(CONVERSATIONS[i], &c);
        for (int gen = 1; gen >= 0; gen--) {
            char rel[160];
            snprintf(rel, sizeof rel, "chat/%s/%s.%s.txt", dir, CONVERSATIONS[i], gen ? "gen" : "nogen");
            size_t want_len = 0;
            char *want = read_fixture(rel, &want_len);
            size_t need = 0;
            assert_int_equal(infer_chat_style_render(st, bos, &date, c.msgs, c.n, gen, NULL, 0, &need),
                             INFER_ERR_BUFFER_SMALL);
            char *got = malloc(need + 1);
            size_t got_len = 0;
            assert_int_equal(infer_chat_style_render(st, bos, &date, c.msgs, c.n, gen, got, need + 1, &got_len),
                             INFER_OK);
            if (got_len != want_len || memcmp(got, want, want_len) != 0) {
                print_error("%s differs\n--- expected ---\n%s\n--- rendered ---\n%s\n", rel, want, got);
                fail();
            }
            free(got);
            free(want);
        }
        free(c.blob);
    }
}

static void test_qwen3_template(void **state) {
    char *tmpl = read_fixture("chat/templates/qwen3.jinja", NULL);
    infer_chat_style st;
    infer_chat_style_detect(tmpl, "qwen3", &st);
    assert_int_equal(st.family, INFER_CHAT_CHATML);
    assert_true(st.qwen3_think);
    assert_false(st.fallback);
    assert_null(st.default_system);
    check_family_against_reference(&st, "qwen3", "");
    free(tmpl);
}

static void test_qwen25_template(void **state) {
    /* A real Qwen2.5 GGUF template: default system turn when the conversation has none. */
    char *tmpl = read_fixture("chat/templates/qwen2.5.jinja", NULL);
    infer_chat_style st;
    infer_chat_style_detect(tmpl, "qwen2", &st);
    assert_int_equal(st.family, INFER_CHAT_CHATML);
    assert_false(st.qwen3_think);
    assert_false(st.fallback);
    assert_non_null(st.default_system);
    check_family_against_reference(&st, "qwen2.5", "");
    free(tmpl);
}

static void test_llama3_template(void **state) {
    char *tmpl = read_fixture("chat/templates/llama3.jinja", NULL);
    infer_chat_style st;
    infer_chat_style_detect(tmpl, "llama", &st);
    assert_int_equal(st.family, INFER_CHAT_LLAMA3);
    assert_false(st.fallback);
    assert_true(st.llama3_always_gen);   /* this template ignores add_generation_prompt */
    assert_false(st.llama3_date_header);
    /* bos_token of tokenizer/llama3.gguf (token 128000) */
    check_family_against_reference(&st, "llama3", "<|begin_of_text|>");
    free(tmpl);
}

static void test_harmony_from_architecture(void **state) {
    /* gpt-oss GGUFs may lack tokenizer.chat_template: the architecture's hint decides. */
    infer_chat_style st;
    infer_chat_style_detect(NULL, "harmony", &st);
    assert_int_equal(st.family, INFER_CHAT_HARMONY);
    assert_false(st.fallback);
    check_family_against_reference(&st, "harmony", "");
    /* A template carrying the Harmony markers is detected as such too. */
    infer_chat_style_detect("{{- \"<|start|>system<|message|>\" }}", "other", &st);
    assert_int_equal(st.family, INFER_CHAT_HARMONY);
}

static void test_detection_fallbacks(void **state) {
    infer_chat_style st;
    infer_chat_style_detect(NULL, "chatml", &st);   /* qwen2's hint */
    assert_int_equal(st.family, INFER_CHAT_CHATML);
    assert_false(st.fallback);
    infer_chat_style_detect(NULL, "qwen2", &st);    /* an architecture name is not a family */
    assert_true(st.fallback);
    infer_chat_style_detect(NULL, "llama", &st);   /* stories260K: no template */
    assert_int_equal(st.family, INFER_CHAT_CHATML);
    assert_true(st.fallback);
    infer_chat_style_detect("[INST] {{ message }} [/INST]", "llama", &st);
    assert_int_equal(st.family, INFER_CHAT_CHATML);
    assert_true(st.fallback);
    infer_chat_style_detect("", NULL, &st);
    assert_true(st.fallback);
    assert_string_equal(infer_chat_family_name(INFER_CHAT_CHATML), "chatml");
    assert_string_equal(infer_chat_family_name(INFER_CHAT_LLAMA3), "llama3");
    assert_string_equal(infer_chat_family_name(INFER_CHAT_HARMONY), "harmony");
    assert_string_equal(infer_chat_family_name(INFER_CHAT_GEMMA), "gemma");
}

static void test_gemma3_template(void **state) {
    /* Gemma 3's real template (google/gemma-3-4b-it), rendered by jinja2. */
    char *tmpl = read_fixture("chat/templates/gemma3.jinja", NULL);
    infer_chat_style st;
    infer_chat_style_detect(tmpl, NULL, &st);
    assert_int_equal(st.family, INFER_CHAT_GEMMA);
    assert_false(st.fallback);
    check_family_against_reference(&st, "gemma3", "<bos>");
    free(tmpl);
    /* Gemma 3 GGUFs without a template (the 270M file): gemma3's hint decides. */
    infer_chat_style_detect(NULL, "gemma", &st);
    assert_int_equal(st.family, INFER_CHAT_GEMMA);
    assert_false(st.fallback);
    check_family_against_reference(&st, "gemma3", "<bos>");
}

static char *render(const infer_chat_style *st, const infer_chat_msg *m, size_t n, int gen) {
    static char buf[4096];
    struct tm date = sentinel_date();
    size_t len = 0;
    assert_int_equal(infer_chat_style_render(st, "<s>", &date, m, n, gen, buf, sizeof buf, &len), INFER_OK);
    assert_int_equal(strlen(buf), len);
    return buf;
}

/* Qwen2.5's template prints a default system turn when the conversation has none; the
 * text comes from the template itself (escapes resolved). Expected strings written from
 * that template's logic. */
static void test_chatml_default_system(void **state) {
    const char *tmpl =
        "{%- if messages[0]['role'] == 'system' %}\n"
        "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
        "{%- else %}\n"
        "    {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}\n"
        "{%- endif %}\n";
    infer_chat_style st;
    infer_chat_style_detect(tmpl, "qwen2", &st);
    assert_int_equal(st.family, INFER_CHAT_CHATML);
    assert_false(st.qwen3_think);
    assert_non_null(st.default_system);
    const infer_chat_msg user[] = {{"user", "Hi"}};
    assert_string_equal(render(&st, user, 1, 1),
                        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
                        "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    const infer_chat_msg sys[] = {{"system", "S"}, {"user", "Hi"}};
    assert_string_equal(render(&st, sys, 2, 0), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n");
}

static void test_llama31_date_header(void **state) {
    infer_chat_style st;
    infer_chat_style_detect("<|start_header_id|> Cutting Knowledge Date add_generation_prompt", "llama", &st);
    assert_true(st.llama3_date_header);
    assert_false(st.llama3_always_gen);
    assert_false(st.llama3_date_today);
    const infer_chat_msg m[] = {{"system", " Be brief. "}, {"user", "Hi"}};
    assert_string_equal(render(&st, m, 2, 1),
                        "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
                        "Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
                        "Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    infer_chat_style_detect("<|start_header_id|> Cutting Knowledge Date strftime_now add_generation_prompt", "llama", &st);
    assert_true(st.llama3_date_today);
    const char *out = render(&st, m + 1, 1, 0);
    assert_non_null(strstr(out, "Today Date: 31 Dec 2099\n\n<|eot_id|>"));
}

static void test_bad_arguments(void **state) {
    infer_chat_style st;
    infer_chat_style_detect(NULL, "qwen3", &st);
    size_t n = 99;
    const infer_chat_msg no_role[] = {{NULL, "x"}};
    char buf[64];
    assert_int_equal(infer_chat_style_render(&st, "", NULL, no_role, 1, 1, buf, sizeof buf, &n), INFER_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(infer_chat_style_render(&st, "", NULL, NULL, 2, 1, buf, sizeof buf, &n), INFER_ERR_INVALID_ARG);
    /* NULL content reads as empty; no messages is just the generation prompt. */
    const infer_chat_msg null_content[] = {{"user", NULL}};
    assert_int_equal(infer_chat_style_render(&st, "", NULL, null_content, 1, 0, buf, sizeof buf, &n), INFER_OK);
    assert_string_equal(buf, "<|im_start|>user\n<|im_end|>\n");
    assert_int_equal(infer_chat_style_render(&st, "", NULL, NULL, 0, 1, buf, sizeof buf, &n), INFER_OK);
    assert_string_equal(buf, "<|im_start|>assistant\n");
    /* Exactly-too-small buffer: the NUL needs room too. */
    const infer_chat_msg hi[] = {{"user", "hi"}};
    size_t need = 0;
    assert_int_equal(infer_chat_style_render(&st, "", NULL, hi, 1, 0, NULL, 0, &need), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(need, strlen("<|im_start|>user\nhi<|im_end|>\n"));
    assert_int_equal(infer_chat_style_render(&st, "", NULL, hi, 1, 0, buf, need, &n), INFER_ERR_BUFFER_SMALL);
    assert_int_equal(infer_chat_style_render(&st, "", NULL, hi, 1, 0, buf, need + 1, &n), INFER_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_template),
        cmocka_unit_test(test_qwen25_template),
        cmocka_unit_test(test_llama3_template),
        cmocka_unit_test(test_harmony_from_architecture),
        cmocka_unit_test(test_detection_fallbacks),
        cmocka_unit_test(test_gemma3_template),
        cmocka_unit_test(test_chatml_default_system),
        cmocka_unit_test(test_llama31_date_header),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
