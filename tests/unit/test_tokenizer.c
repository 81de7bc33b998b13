/* Tokenizer tests on the bundled vocabularies: exact match with the reference ids for
 * llama-spm (Llama 2 SentencePiece), GPT-2 (byte-level BPE) and stories260K. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tokenizer_expect.h"

static void test_llama_spm(void **state) {
    (void)state;
    char *p = test_fixture("tokenizer/llama-spm.gguf");
    assert_non_null(p);
    check_vocab(p, "llama-spm");
    free(p);
}

static void test_gpt2(void **state) {
    (void)state;
    char *p = test_fixture("tokenizer/gpt2.gguf");
    assert_non_null(p);
    check_vocab(p, "gpt2");
    free(p);
}

static void test_stories260k(void **state) {
    (void)state;
    char *p = test_fixture("models/stories260K.gguf");
    assert_non_null(p);
    check_vocab(p, "stories260K");
    free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_stories260k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
