/* Public chat API: template family, rendering and stop tokens of a loaded model. */
#include "chat/chat_style.h"
#include "models/model_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void style_of(const infer_model *m, infer_chat_style *st) {
    infer_chat_style_detect(infer_model_chat_template(m), infer_model_chat_family_hint(m), st);
}

static int has_template(const infer_model *m) {
    const char *t = infer_model_chat_template(m);
    return t && t[0];
}

/* A template that is none of the known families is still rendered exactly (Jinja):
 * "jinja" then, and no fallback. */
const char *infer_chat_template_name(const infer_model *m) {
    if (!m) return "chatml";
    infer_chat_style st;
    style_of(m, &st);
    if (st.fallback && has_template(m)) return "jinja";
    return infer_chat_family_name(st.family);
}

int infer_chat_template_is_fallback(const infer_model *m) {
    if (!m) return 1;
    infer_chat_style st;
    style_of(m, &st);
    return st.fallback && !has_template(m);
}

infer_status infer_chat_render_builtin(const infer_model *m, const infer_chat_msg *msgs, size_t n_msgs,
                                       int add_generation_prompt, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!m || (!msgs && n_msgs > 0)) return INFER_ERR_INVALID_ARG;
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role) return INFER_ERR_INVALID_ARG;   /* a NULL content is an empty turn */
    infer_chat_style st;
    style_of(m, &st);
    int32_t bos = infer_token_bos(m);
    const char *bos_text = bos >= 0 ? infer_token_text(m, bos) : NULL;
    time_t t = time(NULL);
    struct tm now;
    const struct tm *now_p = localtime_r(&t, &now) ? &now : NULL;
    return infer_chat_style_render(&st, bos_text ? bos_text : "", now_p, msgs, n_msgs, add_generation_prompt,
                                   buf, cap, n_out);
}

/* The model's own template when it has one (Jinja); a template that fails on these plain
 * turns falls back to the built-in family so existing callers keep a prompt. */
infer_status infer_chat_render(const infer_model *m, const infer_chat_msg *msgs, size_t n_msgs,
                               int add_generation_prompt, char *buf, size_t cap, size_t *n_out) {
    if (n_out) *n_out = 0;
    if (!m || (!msgs && n_msgs > 0)) return INFER_ERR_INVALID_ARG;
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role) return INFER_ERR_INVALID_ARG;
    const char *tmpl = infer_model_chat_template(m);
    if (tmpl && tmpl[0]) {
        infer_chat_message *full = calloc(n_msgs ? n_msgs : 1, sizeof *full);
        if (!full) return INFER_ERR_NOMEM;
        for (size_t i = 0; i < n_msgs; i++)
            full[i] = (infer_chat_message){.struct_size = sizeof full[i], .role = msgs[i].role,
                                           .content = msgs[i].content ? msgs[i].content : ""};
        infer_chat_render_opts o = {.struct_size = sizeof o, .add_generation_prompt = add_generation_prompt};
        infer_error err = {0};
        infer_status rs = infer_chat_render_messages(m, full, n_msgs, &o, buf, cap, n_out, &err);
        free(full);
        if (rs == INFER_OK || rs == INFER_ERR_BUFFER_SMALL) return rs;
    }
    return infer_chat_render_builtin(m, msgs, n_msgs, add_generation_prompt, buf, cap, n_out);
}

/* ---------------------------------------------------------------- stop tokens */

#define MAX_STOP_TEXTS 4

typedef struct stop_set {
    int32_t ids[MAX_STOP_TEXTS + 2];
    size_t n;
} stop_set;

static void stop_add(stop_set *s, int32_t id) {
    if (id < 0) return;
    for (size_t i = 0; i < s->n; i++)
        if (s->ids[i] == id) return;
    s->ids[s->n++] = id;
}

size_t infer_model_stop_tokens(const infer_model *m, int32_t *out, size_t cap) {
    if (!m) return 0;
    infer_chat_style st;
    style_of(m, &st);

    /* Turn-ending tokens are found by their text, since their ids differ per vocabulary.
     * Harmony's <|end|> closes every message, including the analysis channel before the
     * final answer, so it is deliberately not a stop token there. */
    const char *texts[MAX_STOP_TEXTS] = {0};
    int use_eos_eot = 1;
    switch (st.family) {
    case INFER_CHAT_CHATML:
        texts[0] = "<|im_end|>";
        texts[1] = "<|endoftext|>";
        break;
    case INFER_CHAT_LLAMA3:
        texts[0] = "<|eot_id|>";
        texts[1] = "<|eom_id|>";
        break;
    case INFER_CHAT_HARMONY:
        texts[0] = "<|return|>";
        texts[1] = "<|call|>";
        texts[2] = "<|endoftext|>";   /* never part of a valid reply: stop rather than run on */
        use_eos_eot = 0;
        break;
    case INFER_CHAT_GEMMA:
        texts[0] = "<end_of_turn>";
        break;
    }

    stop_set s = {.n = 0};
    int32_t found[MAX_STOP_TEXTS];
    for (size_t k = 0; k < MAX_STOP_TEXTS; k++) found[k] = -1;
    int32_t n_vocab = infer_model_n_vocab(m);
    for (int32_t id = 0; id < n_vocab; id++) {
        const char *t = infer_token_text(m, id);
        if (!t || t[0] != '<') continue;
        for (size_t k = 0; k < MAX_STOP_TEXTS; k++)
            if (texts[k] && found[k] < 0 && strcmp(t, texts[k]) == 0) found[k] = id;
    }
    for (size_t k = 0; k < MAX_STOP_TEXTS; k++) stop_add(&s, found[k]);
    if (use_eos_eot) {
        stop_add(&s, infer_token_eos(m));
        stop_add(&s, infer_token_eot(m));
    } else {
        /* gpt-oss's EOS is <|return|> already; keep any other EOS unless it is <|end|>. */
        int32_t eos = infer_token_eos(m);
        const char *et = eos >= 0 ? infer_token_text(m, eos) : NULL;
        if (et && strcmp(et, "<|end|>") != 0) stop_add(&s, eos);
    }
    for (size_t i = 0; i < s.n && i < cap && out; i++) out[i] = s.ids[i];
    return s.n;
}
