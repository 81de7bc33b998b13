/* libFuzzer entry for the JSON-schema converter: any input either fails with a message
 * or yields GBNF that the grammar parser accepts (the converter never writes a broken
 * grammar); the grammar then matches a few JSON texts without reading outside them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t need = 0;
    infer_error err = {0};
    infer_status st = infer_json_schema_to_grammar((const char *)data, size, NULL, 0, &need, &err);
    if (st != INFER_ERR_BUFFER_SMALL) {
        if (st == INFER_OK || err.message[0] == 0 || err.status != st) __builtin_trap();
        return 0;
    }
    char *g = malloc(need + 1);
    if (!g) return 0;
    size_t n = 0;
    if (infer_json_schema_to_grammar((const char *)data, size, g, need + 1, &n, &err) != INFER_OK || n != need)
        __builtin_trap();
    infer_grammar *gr = NULL;
    if (infer_grammar_parse(g, n, NULL, &gr, &err) != INFER_OK) __builtin_trap();
    static const char *texts[] = {"{}", "[]", "{\"a\": 1}", "\"x\"", "12", "null", "[1, \"b\", {\"c\": true}]",
                                  "-0.25", "[\"a\", \"b\"]", "{\"x-a\": \"b\", \"a\": [1]}", "\"a@b.co\""};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) (void)infer_grammar_match(gr, texts[i], strlen(texts[i]));
    infer_grammar_free(gr);
    free(g);
    return 0;
}
