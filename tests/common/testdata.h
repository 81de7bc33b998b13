/* Locating fixtures: tests/data first (what the project carries), then
 * ../shared/testdata (reference data beside the checkout). */
#ifndef INFER_TEST_TESTDATA_H
#define INFER_TEST_TESTDATA_H

#include <stddef.h>

#define TEST_SKIP_EXIT 77

/* malloc'd path of an existing fixture (relative name like "models/stories260K.gguf"),
 * or NULL if neither location has it. */
char *test_fixture(const char *rel);
/* Like test_fixture, but exits the test program with TEST_SKIP_EXIT (ctest: Skipped)
 * after printing why, when the fixture is absent. Use before any cmocka group runs. */
char *test_fixture_or_skip(const char *rel);
/* Reads a whole fixture file; NULL if absent. *len set. */
void *test_read_all(const char *path, size_t *len);

/* Keeps installed Vulkan drivers mapped after the loader unloads them, so LeakSanitizer
 * can name (and does not misreport) the driver's own globals. Call first in main() of a
 * test that may open a Vulkan device. */
void test_pin_vulkan_drivers(void);

/* Tests that compare a batched run with a token-by-token one bit for bit check the
 * sequence and KV bookkeeping, which needs CPU kernels whose per-token result does not
 * depend on the batch size. AMX tiles and OpenBLAS sgemm add float partial sums in an
 * order that depends on the batch, and the panels (matmul_panels.h, AVX-512 and AVX2) in
 * another order than the one-token kernels (their accuracy is checked by test_matmul_amx,
 * test_matmul_panels, test_matmul and the golden tests), so this caps the ISA at AVX-512 (unless a lower
 * level was asked for) and turns OpenBLAS and the panels off. Call first in main(). */
void test_pin_batch_invariant_cpu(void);

/* Removes path and everything under it (links themselves, never their targets). 0 when
 * done or path did not exist, -1 (errno set) otherwise. */
int test_remove_tree(const char *path);

#endif
