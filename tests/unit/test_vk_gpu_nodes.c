/* The gate that lets INFER_BACKEND_AUTO skip loading the Vulkan drivers when no GPU can be
 * present (vk_gpu_nodes.c): device trees made in a temporary folder, with and without the
 * nodes each kind of GPU driver creates, and the loader variables that always probe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#ifdef INFER_TEST_HAVE_VULKAN
#include "kernels/vulkan/vk_internal.h"
#include "testdata.h"

static char g_root[64];

static void touch(const char *rel) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", g_root, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static void clear(void) {
    assert_int_equal(test_remove_tree(g_root), 0);
    assert_int_equal(mkdir(g_root, 0700), 0);
}

static int setup(void **s) {
    (void)s;
    snprintf(g_root, sizeof g_root, "/tmp/infer-vk-nodes-XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int teardown(void **s) {
    (void)s;
    return test_remove_tree(g_root);
}

static void test_no_nodes_means_no_gpu(void **s) {
    (void)s;
    clear();
    assert_false(vk_gpu_nodes_present(g_root));
    char dri[128];
    snprintf(dri, sizeof dri, "%s/dri", g_root);
    assert_int_equal(mkdir(dri, 0700), 0);
    touch("dri/by-path");   /* a DRM folder without a card or render node */
    touch("null");
    touch("nvme0");
    assert_false(vk_gpu_nodes_present(g_root));
    assert_false(vk_gpu_nodes_present("/nonexistent/dev"));
}

static void test_each_driver_node_counts(void **s) {
    (void)s;
    static const char *const nodes[] = {"dri/renderD128", "dri/card0", "nvidiactl", "nvidia0", "dxg", "kgsl-3d0", "mali0"};
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        clear();
        char dri[128];
        snprintf(dri, sizeof dri, "%s/dri", g_root);
        assert_int_equal(mkdir(dri, 0700), 0);
        touch(nodes[i]);
        if (!vk_gpu_nodes_present(g_root)) fail_msg("%s not taken for a GPU node", nodes[i]);
    }
}

/* A driver named by the user is always probed, whatever /dev holds. */
static void test_loader_variables_always_probe(void **s) {
    (void)s;
    static const char *const vars[] = {"VK_DRIVER_FILES", "VK_ICD_FILENAMES", "VK_ADD_DRIVER_FILES"};
    for (size_t i = 0; i < 3; i++) unsetenv(vars[i]);
    bool bare = vk_gpu_may_exist();
    assert_true(bare == vk_gpu_nodes_present("/dev"));
    for (size_t i = 0; i < 3; i++) {
        setenv(vars[i], "/some/icd.json", 1);
        assert_true(vk_gpu_may_exist());
        setenv(vars[i], "", 1);   /* empty: as if unset */
        assert_true(vk_gpu_may_exist() == bare);
        unsetenv(vars[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_nodes_means_no_gpu),
        cmocka_unit_test(test_each_driver_node_counts),
        cmocka_unit_test(test_loader_variables_always_probe),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
#else
int main(void) {
    puts("built without the Vulkan backend: nothing to test");
    return 77;
}
#endif
