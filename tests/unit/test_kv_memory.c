/* The KV cache is reserved, not committed: a 2,000,000-position context on stories260K
 * (2.4 GiB of cache) raises the resident set by only what the used positions touch; a
 * cache larger than the memory the system has available is refused with a message that
 * names the size and the ways out (-c, --kv-f16); the size is reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "infer.h"
#include "testdata.h"

static infer_model *g_m;

/* VmRSS of this process in bytes. */
static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb * 1024;
}

static infer_status open_ctx(uint32_t n_ctx, infer_kv_type kv, infer_ctx **c, infer_error *err) {
    infer_ctx_params p = infer_ctx_default_params();
    p.n_ctx = n_ctx;
    p.n_threads = 2;
    p.kv_type = kv;
    p.backend = INFER_BACKEND_CPU;
    return infer_ctx_new(g_m, &p, c, err);
}

static void test_reserved_not_committed(void **state) {
    (void)state;
    infer_ctx *small = NULL, *c = NULL;
    infer_error err;
    assert_int_equal(open_ctx(2000, INFER_KV_F32, &small, &err), INFER_OK);
    const long long before = rss_bytes();
    assert_int_equal(open_ctx(2000000, INFER_KV_F32, &c, &err), INFER_OK);
    const long long after = rss_bytes();
    assert_int_equal(infer_ctx_kv_bytes(c), infer_ctx_kv_bytes(small) * 1000);
    /* Use the first positions and one far out. */
    int32_t t[16], far = 1999990, one = 1;
    for (int i = 0; i < 16; i++) t[i] = 1 + i;
    assert_int_equal(infer_ctx_decode(c, t, NULL, NULL, 16), INFER_OK);
    assert_int_equal(infer_ctx_decode(c, &one, &far, NULL, 1), INFER_OK);
    const long long used = rss_bytes();
    printf("  KV cache of %u positions: %.1f MiB reserved; resident set +%.1f MiB at creation, +%.1f MiB after "
           "decoding\n", infer_ctx_n_ctx(c), infer_ctx_kv_bytes(c) / 1048576.0, (after - before) / 1048576.0,
           (used - before) / 1048576.0);
    assert_true(before > 0);
    assert_true(infer_ctx_kv_bytes(c) > 2000000000ull);
    assert_true(used - before < 64ll << 20);
    infer_ctx_free(c);
    infer_ctx_free(small);
}

static void test_too_big_refused(void **state) {
    (void)state;
    infer_ctx *c = NULL;
    infer_error err;
    /* 2^30 positions: over a terabyte of cache on any machine this runs on. */
    assert_int_equal(open_ctx(1u << 30, INFER_KV_F32, &c, &err), INFER_ERR_NOMEM);
    assert_null(c);
    printf("  %s\n", err.message);
    assert_non_null(strstr(err.message, "MiB"));
    assert_non_null(strstr(err.message, "-c"));
    assert_non_null(strstr(err.message, "--kv-f16"));
    assert_int_equal(open_ctx(1u << 30, INFER_KV_F16, &c, &err), INFER_ERR_NOMEM);
    assert_null(strstr(err.message, "--kv-f16"));   /* already F16: only -c helps */
}

int main(void) {
    char *model = test_fixture_or_skip("models/stories260K.gguf");
    infer_error err;
    if (infer_model_load(model, NULL, &g_m, &err) != INFER_OK) {
        printf("cannot load %s: %s\n", model, err.message);
        return 1;
    }
    free(model);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserved_not_committed),
        cmocka_unit_test(test_too_big_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    infer_model_free(g_m);
    return rc;
}
