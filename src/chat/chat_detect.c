/* Template family detection from tokenizer.chat_template and the architecture's hint. */
#include "chat/chat_style.h"

#include <stdbool.h>
#include <string.h>

const char *infer_chat_family_name(infer_chat_family f) {
    switch (f) {
    case INFER_CHAT_LLAMA3: return "llama3";
    case INFER_CHAT_HARMONY: return "harmony";
    case INFER_CHAT_GEMMA: return "gemma";
    case INFER_CHAT_CHATML: break;
    }
    return "chatml";
}

/* Qwen2/2.5 templates print a fixed system turn when the conversation has none:
 *   '<|im_start|>system\nYou are Qwen, ...<|im_end|>\n'
 * i.e. a string literal in which the header is followed directly by text and the end
 * tag. Templates that build the system turn from messages[0] have a quote or a `+`
 * right after the header instead, and are not matched. */
static bool forbidden_in_default(char c) { return c == '\'' || c == '"' || c == '{' || c == '+'; }

static void find_default_system(const char *tmpl, infer_chat_style *st) {
    static const char *const headers[] = {"<|im_start|>system\\n", "<|im_start|>system\n"};
    for (size_t h = 0; h < 2; h++) {
        /* One scan per end tag (the first after the header) and per end tag the last
         * forbidden character before it, so a hostile template stays linear. */
        const char *end = NULL, *last_bad = NULL;
        for (const char *p = strstr(tmpl, headers[h]); p; p = strstr(p + 1, headers[h])) {
            const char *text = p + strlen(headers[h]);
            if (!end || end < text) {
                end = strstr(text, "<|im_end|>");
                if (!end) break;   /* no later header has an end tag either */
                last_bad = NULL;
                for (const char *q = end; q > text && !last_bad;)
                    if (forbidden_in_default(*--q)) last_bad = q;
            }
            if (end == text || (last_bad && last_bad >= text)) continue;
            st->default_system = text;
            st->default_system_len = (size_t)(end - text);
            return;
        }
    }
}

/* The architecture's claim, by family name; anything else is ChatML as a fallback. */
static void detect_from_hint(const char *hint, infer_chat_style *st) {
    static const infer_chat_family families[] = {INFER_CHAT_CHATML, INFER_CHAT_LLAMA3, INFER_CHAT_HARMONY,
                                                 INFER_CHAT_GEMMA};
    st->family = INFER_CHAT_CHATML;
    st->fallback = 1;
    for (size_t i = 0; hint && i < sizeof families / sizeof families[0]; i++) {
        if (strcmp(hint, infer_chat_family_name(families[i])) == 0) {
            st->family = families[i];
            st->fallback = 0;
        }
    }
}

void infer_chat_style_detect(const char *tmpl, const char *family_hint, infer_chat_style *st) {
    memset(st, 0, sizeof *st);
    if (!tmpl || !*tmpl) {
        detect_from_hint(family_hint, st);
        return;
    }
    if (strstr(tmpl, "<|start|>") && strstr(tmpl, "<|message|>")) {
        st->family = INFER_CHAT_HARMONY;
    } else if (strstr(tmpl, "<|start_header_id|>")) {
        st->family = INFER_CHAT_LLAMA3;
        st->llama3_always_gen = strstr(tmpl, "add_generation_prompt") == NULL;
        st->llama3_date_header = strstr(tmpl, "Cutting Knowledge Date") != NULL;
        st->llama3_date_today = strstr(tmpl, "strftime_now") != NULL;
    } else if (strstr(tmpl, "<start_of_turn>")) {
        st->family = INFER_CHAT_GEMMA;
    } else if (strstr(tmpl, "<|im_start|>")) {
        st->family = INFER_CHAT_CHATML;
        st->qwen3_think = strstr(tmpl, "reasoning_content") != NULL && strstr(tmpl, "</think>") != NULL;
        if (!st->qwen3_think) find_default_system(tmpl, st);
    } else {
        st->family = INFER_CHAT_CHATML;
        st->fallback = 1;
    }
}
