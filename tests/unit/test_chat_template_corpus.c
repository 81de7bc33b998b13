/* Every template x conversation of the chat-template corpus, rendered by our Jinja engine,
 * equals Python jinja2's rendering (made as Hugging Face's apply_chat_template sets it
 * up) byte for byte; where jinja2 raised, we fail too, and a raise_exception message is
 * the template's own.
 *
 * Corpora checked: tests/data/chat-templates (a copy of the public set), the public set
 * in ../shared/testdata/chat-templates when present, tests/data/chat-templates-extra (more
 * real templates, rendered the same way by scripts/make-chat-expected.py, with the public
 * set's conversations), and the directory named by $INFER_CHAT_TEMPLATES_DIR (for other
 * sets of the same layout). A corpus without its own conversations/ uses the public set's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "infer.h"
#include "testdata.h"

static char *read_path(const char *path, size_t *len) { return test_read_all(path, len); }

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted names in dir ending with suffix, the suffix removed. */
static size_t list_names(const char *dir, const char *suffix, char ***out) {
    DIR *d = opendir(dir);
    size_t n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[n] = strndup(e->d_name, l - sl);
        n++;
    }
    if (d) closedir(d);
    if (n) qsort(v, n, sizeof *v, by_name);
    *out = v;
    return n;
}

typedef struct tally { size_t pairs, ok, mismatch, missed_error, unexpected_error; } tally;

static void check_pair(const char *root, const char *convs, const char *tname, const char *tmpl, const char *bos,
                       const char *eos, const char *cname, tally *t) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s.json", convs, cname);
    char *conv = read_path(path, NULL);
    assert_non_null(conv);
    infer_template_opts o = {sizeof o, bos, eos, "2026-01-15"};
    size_t need = 0;
    infer_error err = {0};
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    assert_non_null(buf);
    infer_status st = infer_template_render(tmpl, conv, &o, buf, cap, &need, &err);
    if (st == INFER_ERR_BUFFER_SMALL) {
        free(buf);
        cap = need + 1;
        buf = malloc(cap);
        assert_non_null(buf);
        st = infer_template_render(tmpl, conv, &o, buf, cap, &need, &err);
    }
    t->pairs++;
    snprintf(path, sizeof path, "%s/expected/%s/%s.txt", root, tname, cname);
    size_t exp_len = 0;
    char *exp = read_path(path, &exp_len);
    if (exp) {
        if (st != INFER_OK) {
            t->unexpected_error++;
            printf("FAIL %s x %s: error %s\n", tname, cname, err.message);
        } else if (need != exp_len || memcmp(buf, exp, exp_len) != 0) {
            t->mismatch++;
            size_t k = 0;
            while (k < need && k < exp_len && buf[k] == exp[k]) k++;
            printf("FAIL %s x %s: output differs at byte %zu (got %zu bytes, expected %zu)\n", tname, cname, k, need,
                   exp_len);
        } else {
            t->ok++;
        }
    } else {
        snprintf(path, sizeof path, "%s/expected/%s/%s.error", root, tname, cname);
        char *expected_err = read_path(path, NULL);
        assert_non_null(expected_err);
        int raise = strncmp(expected_err, "raise_exception: ", 17) == 0;
        if (st == INFER_OK) {
            t->missed_error++;
            printf("FAIL %s x %s: rendered, but jinja2 raised %s\n", tname, cname, expected_err);
        } else if (raise && strcmp(err.message, expected_err) != 0) {
            t->mismatch++;
            printf("FAIL %s x %s: error '%s', expected '%s'\n", tname, cname, err.message, expected_err);
        } else {
            t->ok++;
        }
        free(expected_err);
    }
    free(exp);
    free(buf);
    free(conv);
}

static void check_corpus(const char *root) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/templates", root);
    char **tn, **cn;
    size_t nt = list_names(dir, ".jinja", &tn);
    char convs[1024];
    snprintf(convs, sizeof convs, "%s/conversations", root);
    if (!exists(convs)) snprintf(convs, sizeof convs, "%s", INFER_TEST_DATA_DIR "/chat-templates/conversations");
    size_t nc = list_names(convs, ".json", &cn);
    assert_true(nt > 0 && nc > 0);
    tally t = {0};
    for (size_t i = 0; i < nt; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/templates/%s.jinja", root, tn[i]);
        char *tmpl = read_path(path, NULL);
        assert_non_null(tmpl);
        snprintf(path, sizeof path, "%s/templates/%s.meta.json", root, tn[i]);
        json_t *meta = json_load_file(path, 0, NULL);
        const char *bos = json_string_value(json_object_get(meta, "bos_token"));
        const char *eos = json_string_value(json_object_get(meta, "eos_token"));
        for (size_t k = 0; k < nc; k++) check_pair(root, convs, tn[i], tmpl, bos, eos, cn[k], &t);
        json_decref(meta);
        free(tmpl);
    }
    printf("%s: %zu templates x %zu conversations = %zu pairs: %zu ok, %zu differ, %zu should have failed, "
           "%zu failed unexpectedly\n",
           root, nt, nc, t.pairs, t.ok, t.mismatch, t.missed_error, t.unexpected_error);
    for (size_t i = 0; i < nt; i++) free(tn[i]);
    for (size_t k = 0; k < nc; k++) free(cn[k]);
    free(tn);
    free(cn);
    assert_int_equal(t.ok, t.pairs);
}

static void test_carried_corpus(void **state) {
    (void)state;
    check_corpus(INFER_TEST_DATA_DIR "/chat-templates");
}

static void test_extra_carried_corpus(void **state) {
    (void)state;
    check_corpus(INFER_TEST_DATA_DIR "/chat-templates-extra");
}

static void test_shared_corpus(void **state) {
    (void)state;
    const char *root = INFER_SHARED_DATA_DIR "/chat-templates";
    if (!exists(root)) {
        printf("skipped: %s is absent\n", root);
        skip();
    }
    check_corpus(root);
}

static void test_extra_corpus(void **state) {
    (void)state;
    const char *root = getenv("INFER_CHAT_TEMPLATES_DIR");
    if (!root || !exists(root)) skip();
    check_corpus(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_carried_corpus),
        cmocka_unit_test(test_extra_carried_corpus),
        cmocka_unit_test(test_shared_corpus),
        cmocka_unit_test(test_extra_corpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
