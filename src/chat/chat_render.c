/* Rendering {role, content} conversations the way each family's real template does.
 * Each renderer mirrors the template's plain-conversation path; comments name the
 * template behaviour being reproduced. */
#include "chat/chat_style.h"
#include "chat/chat_text.h"
#include "core/error.h"

#include <stdlib.h>
#include <string.h>

static infer_span content_of(const infer_chat_msg *m) { return infer_span_of(m->content); }
static int role_is(const infer_chat_msg *m, const char *r) { return strcmp(m->role, r) == 0; }

/* ---------------------------------------------------------------- ChatML */

/* A template's string literal, with the escapes Jinja would resolve. */
static void put_unescaped(infer_strbuf *b, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n) {
            char e = p[++i];
            char c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
            infer_strbuf_put(b, &c, 1);
        } else {
            infer_strbuf_put(b, &p[i], 1);
        }
    }
}

static void chatml_turn(infer_strbuf *b, const char *role, infer_span content) {
    infer_strbuf_puts(b, "<|im_start|>");
    infer_strbuf_puts(b, role);
    infer_strbuf_puts(b, "\n");
    infer_strbuf_span(b, content);
    infer_strbuf_puts(b, "<|im_end|>\n");
}

static void render_chatml(infer_strbuf *b, const infer_chat_style *st, const infer_chat_msg *m, size_t n) {
    if (st->default_system && (n == 0 || !role_is(&m[0], "system"))) {
        infer_strbuf_puts(b, "<|im_start|>system\n");
        put_unescaped(b, st->default_system, st->default_system_len);
        infer_strbuf_puts(b, "<|im_end|>\n");
    }
    for (size_t i = 0; i < n; i++) chatml_turn(b, m[i].role, content_of(&m[i]));
}

/* Qwen3: the index of the last real user query (tool responses wrapped as user turns
 * do not count); the messages length - 1 when there is none. */
static size_t qwen3_last_query(const infer_chat_msg *m, size_t n) {
    for (size_t i = n; i-- > 0;) {
        infer_span c = content_of(&m[i]);
        if (role_is(&m[i], "user") &&
            !(infer_span_starts_with(c, "<tool_response>") && infer_span_ends_with(c, "</tool_response>")))
            return i;
    }
    return n ? n - 1 : 0;
}

static void render_qwen3(infer_strbuf *b, const infer_chat_msg *m, size_t n) {
    if (n > 0 && role_is(&m[0], "system")) chatml_turn(b, "system", content_of(&m[0]));
    size_t last_query = qwen3_last_query(m, n);
    for (size_t i = 0; i < n; i++) {
        infer_span c = content_of(&m[i]);
        if (role_is(&m[i], "user") || (role_is(&m[i], "system") && i > 0)) {
            chatml_turn(b, m[i].role, c);
        } else if (role_is(&m[i], "assistant")) {
            /* "<think>R</think>A": the answer follows the last </think>, the reasoning is
             * what precedes the first </think>, after the last <think>. */
            infer_span answer = c, reasoning = {"", 0};
            long close = infer_span_rfind(c, "</think>");
            if (close >= 0) {
                answer.p = c.p + close + 8;
                answer.n = c.n - (size_t)close - 8;
                answer = infer_span_lstrip_nl(answer);
                infer_span before = {c.p, (size_t)infer_span_find(c, "</think>")};
                before = infer_span_rstrip_nl(before);
                long open = infer_span_rfind(before, "<think>");
                if (open >= 0) {
                    before.p += open + 7;
                    before.n -= (size_t)open + 7;
                }
                reasoning = infer_span_lstrip_nl(before);
            }
            infer_strbuf_puts(b, "<|im_start|>assistant\n");
            if (i > last_query && (i == n - 1 || reasoning.n > 0)) {
                infer_strbuf_puts(b, "<think>\n");
                infer_strbuf_span(b, infer_span_rstrip_nl(infer_span_lstrip_nl(reasoning)));
                infer_strbuf_puts(b, "\n</think>\n\n");
                infer_strbuf_span(b, infer_span_lstrip_nl(answer));
            } else {
                infer_strbuf_span(b, answer);
            }
            infer_strbuf_puts(b, "<|im_end|>\n");
        } else if (role_is(&m[i], "tool")) {
            /* Consecutive tool results share one user turn. */
            if (i == 0 || !role_is(&m[i - 1], "tool")) infer_strbuf_puts(b, "<|im_start|>user");
            infer_strbuf_puts(b, "\n<tool_response>\n");
            infer_strbuf_span(b, c);
            infer_strbuf_puts(b, "\n</tool_response>");
            if (i == n - 1 || !role_is(&m[i + 1], "tool")) infer_strbuf_puts(b, "<|im_end|>\n");
        }
        /* other roles: the template prints nothing */
    }
}

/* ---------------------------------------------------------------- Llama 3 */

static void llama3_turn(infer_strbuf *b, const char *role, infer_span content) {
    infer_strbuf_puts(b, "<|start_header_id|>");
    infer_strbuf_puts(b, role);
    infer_strbuf_puts(b, "<|end_header_id|>\n\n");
    infer_strbuf_span(b, infer_span_trim(content));
    infer_strbuf_puts(b, "<|eot_id|>");
}

static void render_llama3(infer_strbuf *b, const infer_chat_style *st, const char *bos_text, const struct tm *now,
                          const infer_chat_msg *m, size_t n) {
    size_t first = 0;
    if (st->llama3_date_header) {
        /* 3.1+: BOS, then always a system block carrying the dates and the (trimmed)
         * first system message. */
        char date[32] = "26 Jul 2024";
        if (st->llama3_date_today && now) strftime(date, sizeof date, "%d %b %Y", now);
        infer_strbuf_puts(b, bos_text);
        infer_strbuf_puts(b, "<|start_header_id|>system<|end_header_id|>\n\n");
        infer_strbuf_puts(b, "Cutting Knowledge Date: December 2023\nToday Date: ");
        infer_strbuf_puts(b, date);
        infer_strbuf_puts(b, "\n\n");
        if (n > 0 && role_is(&m[0], "system")) {
            infer_strbuf_span(b, infer_span_trim(content_of(&m[0])));
            first = 1;
        }
        infer_strbuf_puts(b, "<|eot_id|>");
    } else if (n > 0) {
        infer_strbuf_puts(b, bos_text);   /* 3.0 prefixes the first turn with BOS */
    }
    for (size_t i = first; i < n; i++) llama3_turn(b, m[i].role, content_of(&m[i]));
}

/* ---------------------------------------------------------------- Harmony */

static void render_harmony(infer_strbuf *b, const struct tm *now, const infer_chat_msg *m, size_t n,
                           int add_generation_prompt) {
    /* The system turn is the template's own (identity, cutoff, today's date, medium
     * reasoning); the caller's system message becomes the developer instructions. */
    char date[32] = "1970-01-01";
    if (now) strftime(date, sizeof date, "%Y-%m-%d", now);
    infer_strbuf_puts(b, "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
                         "Knowledge cutoff: 2024-06\nCurrent date: ");
    infer_strbuf_puts(b, date);
    infer_strbuf_puts(b, "\n\nReasoning: medium\n\n"
                         "# Valid channels: analysis, commentary, final. Channel must be included for every message."
                         "<|end|>");
    size_t first = 0;
    if (n > 0 && (role_is(&m[0], "system") || role_is(&m[0], "developer"))) {
        first = 1;
        infer_span dev = content_of(&m[0]);
        if (dev.n > 0) {
            infer_strbuf_puts(b, "<|start|>developer<|message|># Instructions\n\n");
            infer_strbuf_span(b, dev);
            infer_strbuf_puts(b, "\n\n<|end|>");
        }
    }
    for (size_t i = first; i < n; i++) {
        if (role_is(&m[i], "assistant")) {
            /* Only the final channel is kept in history; <|return|> closes the last
             * turn only when it is a completed (training-style) transcript. */
            infer_strbuf_puts(b, "<|start|>assistant<|channel|>final<|message|>");
            infer_strbuf_span(b, content_of(&m[i]));
            infer_strbuf_puts(b, (i == n - 1 && !add_generation_prompt) ? "<|return|>" : "<|end|>");
        } else if (role_is(&m[i], "user")) {
            infer_strbuf_puts(b, "<|start|>user<|message|>");
            infer_strbuf_span(b, content_of(&m[i]));
            infer_strbuf_puts(b, "<|end|>");
        }
        /* later system/developer messages: the template prints nothing */
    }
}

/* ---------------------------------------------------------------- Gemma */

/* Gemma 3's template: BOS, then one turn per message with the assistant called "model"
 * and the content trimmed; a leading system message is not a turn of its own but its
 * (untrimmed) text and a blank line open the first turn. (The real template refuses
 * roles that do not alternate; we render them as they come.) */
static void render_gemma(infer_strbuf *b, const char *bos_text, const infer_chat_msg *m, size_t n) {
    infer_strbuf_puts(b, bos_text);
    size_t first = 0;
    if (n > 0 && role_is(&m[0], "system")) first = 1;
    for (size_t i = first; i < n; i++) {
        infer_strbuf_puts(b, "<start_of_turn>");
        infer_strbuf_puts(b, role_is(&m[i], "assistant") ? "model" : m[i].role);
        infer_strbuf_puts(b, "\n");
        if (i == first && first == 1) {
            infer_strbuf_span(b, content_of(&m[0]));
            infer_strbuf_puts(b, "\n\n");
        }
        infer_strbuf_span(b, infer_span_trim(content_of(&m[i])));
        infer_strbuf_puts(b, "<end_of_turn>\n");
    }
}

/* ---------------------------------------------------------------- entry point */

infer_status infer_chat_style_render(const infer_chat_style *st, const char *bos_text, const struct tm *now,
                                     const infer_chat_msg *msgs, size_t n_msgs, int add_generation_prompt,
                                     char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!st || (n_msgs > 0 && !msgs)) return INFER_ERR_INVALID_ARG;
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role) return INFER_ERR_INVALID_ARG;
    if (!bos_text) bos_text = "";

    infer_strbuf b = {0};
    switch (st->family) {
    case INFER_CHAT_CHATML:
        if (st->qwen3_think) render_qwen3(&b, msgs, n_msgs);
        else render_chatml(&b, st, msgs, n_msgs);
        if (add_generation_prompt) infer_strbuf_puts(&b, "<|im_start|>assistant\n");
        break;
    case INFER_CHAT_LLAMA3:
        render_llama3(&b, st, bos_text, now, msgs, n_msgs);
        if (add_generation_prompt || st->llama3_always_gen)
            infer_strbuf_puts(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case INFER_CHAT_HARMONY:
        render_harmony(&b, now, msgs, n_msgs, add_generation_prompt);
        if (add_generation_prompt) infer_strbuf_puts(&b, "<|start|>assistant");
        break;
    case INFER_CHAT_GEMMA:
        render_gemma(&b, bos_text, msgs, n_msgs);
        if (add_generation_prompt) infer_strbuf_puts(&b, "<start_of_turn>model\n");
        break;
    }
    if (b.oom) {
        infer_strbuf_free(&b);
        return INFER_ERR_NOMEM;
    }
    if (n_out) *n_out = b.len;
    infer_status st_out = INFER_OK;
    if (!buf || cap < b.len + 1) {
        st_out = INFER_ERR_BUFFER_SMALL;
    } else {
        if (b.len) memcpy(buf, b.data, b.len);
        buf[b.len] = '\0';
    }
    infer_strbuf_free(&b);
    return st_out;
}
