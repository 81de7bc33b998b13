/* Exact match with the reference ids for the large BPE vocabularies that live in
 * ../shared/testdata/tokenizer (Llama 3, Qwen3, gpt-oss): skipped when absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_tokenizer_expect.h"

static char *g_llama3, *g_qwen3, *g_gptoss;

static void test_llama3(void **state) { (void)state; check_vocab(g_llama3, "llama3"); }
static void test_qwen3(void **state) { (void)state; check_vocab(g_qwen3, "qwen3"); }
static void test_gptoss(void **state) { (void)state; check_vocab(g_gptoss, "gptoss"); }

int main(void) {
    g_llama3 = test_fixture_or_skip("tokenizer/llama3.gguf");
    g_qwen3 = test_fixture_or_skip("tokenizer/qwen3.gguf");
    g_gptoss = test_fixture_or_skip("tokenizer/gptoss.gguf");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama3),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_gptoss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
