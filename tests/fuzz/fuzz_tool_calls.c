/* libFuzzer entry for the tool-call parser: the input is a generated reply (any bytes).
 * Parsing must succeed or fail cleanly, and every call it returns must carry a name, an
 * id and arguments. Seeds: tests/corpus/tool_calls. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"

static const char TOOLS[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"parameters\": {\"type\": \"object\"}}}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;   /* the API takes NUL-terminated text: an embedded NUL ends it */
    for (int with_tools = 0; with_tools < 2; with_tools++) {
        infer_chat_parsed *p = NULL;
        infer_error err;
        infer_status st = infer_chat_parse_reply(text, with_tools ? TOOLS : NULL, &p, &err);
        if (st != INFER_OK) {
            if (p) __builtin_trap();
            continue;
        }
        if (!infer_chat_parsed_content(p) || !infer_chat_parsed_reasoning(p)) __builtin_trap();
        for (size_t i = 0; i < infer_chat_parsed_n_tool_calls(p); i++) {
            const infer_chat_tool_call *c = infer_chat_parsed_tool_call(p, i);
            if (!c || !c->name || !c->id || !c->arguments) __builtin_trap();
        }
        infer_chat_parsed_free(p);
    }
    free(text);
    return 0;
}
