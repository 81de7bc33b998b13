/* libFuzzer entry for the GBNF parser and matcher: the input is a grammar, optionally
 * followed by a NUL byte and a text to match against it (and each of its prefixes). A
 * parse failure must explain itself with a line and column; matching must stay inside
 * its buffers whatever the grammar (ambiguity, deep nesting, big repetitions). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "infer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    const char *nul = memchr(text, 0, size);
    size_t glen = nul ? (size_t)(nul - text) : size;
    infer_grammar *g = NULL;
    infer_error err = {0};
    infer_status st = infer_grammar_parse(text, glen, NULL, &g, &err);
    if (st != INFER_OK) {
        if (g || err.status != st || (st == INFER_ERR_FORMAT && !strstr(err.message, "line "))) __builtin_trap();
        return 0;
    }
    if (nul) {
        const char *t = nul + 1;
        size_t tlen = size - glen - 1;
        if (tlen > 512) tlen = 512;   /* bounded work per input */
        int full = infer_grammar_match(g, t, tlen);
        if (full < 0 || full > 2) __builtin_trap();
        /* A sentence or prefix has only prefixes that are prefixes (or sentences). */
        if (full && tlen && infer_grammar_match(g, t, tlen - 1) == 0) {
            /* allowed only when the cut splits a UTF-8 character the grammar cannot start */
            if (((unsigned char)t[tlen - 1] & 0x80) == 0) __builtin_trap();
        }
    }
    infer_grammar_free(g);
    return 0;
}
