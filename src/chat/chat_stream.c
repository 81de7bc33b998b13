/* Token-level parser of a streamed assistant reply: which tokens are answer text, which
 * are reasoning, and which are template markup.
 *
 * Harmony (gpt-oss) replies look like
 *   <|channel|>analysis<|message|>...<|end|><|start|>assistant<|channel|>final<|message|>...
 * (the generation prompt already wrote "<|start|>assistant"). The channel name is plain
 * text between <|channel|> and <|message|>; <|end|> closes a message but not the turn.
 * Other families may wrap reasoning in <think>...</think> (Qwen3). */
#include "chat/chat_style.h"
#include "core/error.h"
#include "models/model_internal.h"

#include <stdlib.h>
#include <string.h>

enum { MARK_START, MARK_CHANNEL, MARK_MESSAGE, MARK_END, MARK_THINK, MARK_THINK_END, N_MARKS };
static const char *const MARK_TEXT[N_MARKS] = {"<|start|>", "<|channel|>", "<|message|>", "<|end|>",
                                              "<think>", "</think>"};

struct infer_chat_stream {
    const infer_model *m;
    int harmony;
    int32_t mark[N_MARKS];     /* token id of each marker, -1 if not in the vocabulary */
    /* state */
    infer_chat_part part;      /* where text tokens go now */
    int in_header;             /* Harmony: between <|start|>/<|channel|> and <|message|> */
    char header[64];           /* Harmony: the channel header read so far (truncated) */
    size_t header_len;
};

void infer_chat_stream_reset(infer_chat_stream *s) {
    if (!s) return;
    s->part = s->harmony ? INFER_CHAT_PART_MARKUP : INFER_CHAT_PART_ANSWER;
    s->in_header = s->harmony;
    s->header_len = 0;
}

infer_status infer_chat_stream_init(const infer_model *m, infer_chat_stream **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_chat_stream_init: out is NULL");
    *out = NULL;
    if (!m) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_chat_stream_init: model is NULL");
    infer_chat_stream *s = calloc(1, sizeof *s);
    if (!s) return infer_err(err, INFER_ERR_NOMEM, "infer_chat_stream_init: out of memory");
    s->m = m;
    infer_chat_style st;
    infer_chat_style_detect(infer_model_chat_template(m), infer_model_chat_family_hint(m), &st);
    s->harmony = st.family == INFER_CHAT_HARMONY;
    for (int k = 0; k < N_MARKS; k++) s->mark[k] = -1;
    int32_t n_vocab = infer_model_n_vocab(m);
    for (int32_t id = 0; id < n_vocab; id++) {
        const char *t = infer_token_text(m, id);
        if (!t || t[0] != '<') continue;
        for (int k = 0; k < N_MARKS; k++)
            if (s->mark[k] < 0 && strcmp(t, MARK_TEXT[k]) == 0) s->mark[k] = id;
    }
    infer_chat_stream_reset(s);
    *out = s;
    return INFER_OK;
}

infer_chat_stream *infer_chat_stream_new(const infer_model *m) {
    infer_chat_stream *s = NULL;
    infer_chat_stream_init(m, &s, NULL);
    return s;
}

void infer_chat_stream_free(infer_chat_stream *s) { free(s); }

static infer_chat_part channel_part(const char *header, size_t n) {
    /* The header is the channel name, possibly followed by a recipient or content type
     * ("commentary to=functions.get_weather json"). */
    while (n && (*header == ' ' || *header == '\n')) header++, n--;
    if (n >= 5 && memcmp(header, "final", 5) == 0) return INFER_CHAT_PART_ANSWER;
    if (n >= 8 && memcmp(header, "analysis", 8) == 0) return INFER_CHAT_PART_REASONING;
    return INFER_CHAT_PART_OTHER;
}

static infer_chat_part push_harmony(infer_chat_stream *s, int32_t tok) {
    if (tok == s->mark[MARK_START] || tok == s->mark[MARK_CHANNEL]) {
        /* <|start|> opens a new message header (role first); <|channel|> starts the
         * channel name, which is all the header we need. */
        s->in_header = 1;
        s->header_len = 0;
        s->part = INFER_CHAT_PART_MARKUP;
        return INFER_CHAT_PART_MARKUP;
    }
    if (tok == s->mark[MARK_MESSAGE]) {
        s->part = channel_part(s->header, s->header_len);
        s->in_header = 0;
        s->header_len = 0;
        return INFER_CHAT_PART_MARKUP;
    }
    if (tok == s->mark[MARK_END]) {
        s->part = INFER_CHAT_PART_MARKUP;
        return INFER_CHAT_PART_MARKUP;
    }
    if (s->in_header) {
        char piece[32];
        size_t n = 0;
        if (infer_token_to_bytes(s->m, tok, piece, sizeof piece, &n) == INFER_OK) {
            size_t room = sizeof s->header - s->header_len;
            if (n > room) n = room;
            memcpy(s->header + s->header_len, piece, n);
            s->header_len += n;
        }
        return INFER_CHAT_PART_MARKUP;
    }
    return s->part;
}

infer_chat_part infer_chat_stream_push(infer_chat_stream *s, int32_t tok) {
    if (!s || tok < 0) return INFER_CHAT_PART_MARKUP;
    if (s->harmony) return push_harmony(s, tok);
    if (tok == s->mark[MARK_THINK]) {
        s->part = INFER_CHAT_PART_REASONING;
        return INFER_CHAT_PART_MARKUP;
    }
    if (tok == s->mark[MARK_THINK_END]) {
        s->part = INFER_CHAT_PART_ANSWER;
        return INFER_CHAT_PART_MARKUP;
    }
    return s->part;
}
