/* Pre-tokenizers: the split regexes of the Hugging Face tokenizers, written out by hand
 * over codepoint classes. Each rule below names the regex alternative it implements;
 * alternatives are tried in order at each position and the first that matches wins,
 * with the greedy-then-backtrack semantics of a regex engine worked out per rule.
 *
 * Notation: L = \p{L}, N = \p{N}, S = \s, P = [^\r\n\p{L}\p{N}], Q = [^\s\p{L}\p{N}].
 * A byte that is not valid UTF-8 has no class: it counts as a symbol (P and Q). */
#include <stdlib.h>

#include "tokenizer/unicode.h"
#include "tokenizer/vocab_internal.h"

typedef struct text_cps {
    const uint32_t *cp;   /* [n] codepoints */
    const uint8_t *cls;   /* [n] INFER_UC_* class bits */
    size_t n;
} text_cps;

static bool is_crlf(const text_cps *t, size_t i) { return i < t->n && (t->cp[i] == '\r' || t->cp[i] == '\n'); }
static bool has(const text_cps *t, size_t i, unsigned bits) { return i < t->n && (t->cls[i] & bits); }
static bool is_p(const text_cps *t, size_t i) { return i < t->n && !is_crlf(t, i) && !(t->cls[i] & (INFER_UC_L | INFER_UC_N)); }
static bool is_q(const text_cps *t, size_t i) { return i < t->n && !(t->cls[i] & (INFER_UC_L | INFER_UC_N | INFER_UC_SPACE)); }

static size_t run(const text_cps *t, size_t i, unsigned bits) {
    size_t j = i;
    while (has(t, j, bits)) j++;
    return j - i;
}

static size_t q_run(const text_cps *t, size_t i) {
    size_t j = i;
    while (is_q(t, j)) j++;
    return j - i;
}

static uint32_t lower_ascii(uint32_t c, bool fold) {
    if (!fold) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x017F) return 's';   /* LATIN SMALL LETTER LONG S case-folds to s */
    return c;
}

/* 's|'t|'re|'ve|'m|'ll|'d (case-insensitive when fold): codepoints matched, or 0. */
static size_t contraction(const text_cps *t, size_t i, bool fold) {
    if (i + 1 >= t->n || t->cp[i] != '\'') return 0;
    uint32_t a = lower_ascii(t->cp[i + 1], fold);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= t->n) return 0;
    uint32_t b = lower_ascii(t->cp[i + 2], fold);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* The whitespace tail shared by all patterns: \s*[\r\n]+ (when with_newline_rule),
 * then \s+(?!\S), then \s+. */
static size_t whitespace(const text_cps *t, size_t i, bool with_newline_rule) {
    size_t r = run(t, i, INFER_UC_SPACE);
    if (r == 0) return 0;
    if (with_newline_rule) {
        /* \s* backtracks to the last \r or \n of the run; [\r\n]+ ends right after it. */
        for (size_t j = i + r; j > i; j--)
            if (is_crlf(t, j - 1)) return j - i;
    }
    if (i + r == t->n) return r;   /* (?!\S) holds at the end of the text */
    if (r >= 2) return r - 1;      /* leave the last space to the word after it */
    return r;                      /* \s+ */
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const text_cps *t, size_t i) {
    size_t k = contraction(t, i, false);
    if (k) return k;
    size_t sp = t->cp[i] == ' ' ? 1 : 0;
    if (has(t, i + sp, INFER_UC_L)) return sp + run(t, i + sp, INFER_UC_L);
    if (has(t, i + sp, INFER_UC_N)) return sp + run(t, i + sp, INFER_UC_N);
    if (is_q(t, i + sp)) return sp + q_run(t, i + sp);
    k = whitespace(t, i, false);
    return k ? k : 1;
}

/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}
 * | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static size_t match_llama3(const text_cps *t, size_t i, size_t max_digits) {
    size_t k = contraction(t, i, true);
    if (k) return k;
    if (is_p(t, i) && has(t, i + 1, INFER_UC_L)) return 1 + run(t, i + 1, INFER_UC_L);
    if (has(t, i, INFER_UC_L)) return run(t, i, INFER_UC_L);
    if (has(t, i, INFER_UC_N)) {
        k = run(t, i, INFER_UC_N);
        return k < max_digits ? k : max_digits;
    }
    size_t sp = t->cp[i] == ' ' ? 1 : 0;
    if (!is_q(t, i + sp)) sp = 0;
    if (is_q(t, i + sp)) {
        size_t j = i + sp + q_run(t, i + sp);
        while (is_crlf(t, j)) j++;
        return j - i;
    }
    k = whitespace(t, i, true);
    return k ? k : 1;
}

/* o200k (gpt-4o, gpt-oss):
 *   [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 * | [^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?
 * | \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
#define UPPERISH (INFER_UC_LU | INFER_UC_LT | INFER_UC_LM | INFER_UC_LO | INFER_UC_M)
#define LOWERISH (INFER_UC_LL | INFER_UC_LM | INFER_UC_LO | INFER_UC_M)

/* First alternative after the optional prefix, starting at s: end index or 0. The
 * greedy UPPERISH* gives back characters until a LOWERISH+ can follow. */
static size_t gpt4o_alt1_at(const text_cps *t, size_t s) {
    size_t k = run(t, s, UPPERISH);
    for (size_t j = s + k + 1; j-- > s;) {
        if (has(t, j, LOWERISH)) {
            size_t end = j + run(t, j, LOWERISH);
            return end + contraction(t, end, true);
        }
    }
    return 0;
}

static size_t gpt4o_alt2_at(const text_cps *t, size_t s) {
    size_t k = run(t, s, UPPERISH);
    if (k == 0) return 0;
    size_t end = s + k + run(t, s + k, LOWERISH);
    return end + contraction(t, end, true);
}

static size_t match_gpt4o(const text_cps *t, size_t i) {
    size_t end;
    if (is_p(t, i) && (end = gpt4o_alt1_at(t, i + 1))) return end - i;
    if ((end = gpt4o_alt1_at(t, i))) return end - i;
    if (is_p(t, i) && (end = gpt4o_alt2_at(t, i + 1))) return end - i;
    if ((end = gpt4o_alt2_at(t, i))) return end - i;
    if (has(t, i, INFER_UC_N)) {
        size_t k = run(t, i, INFER_UC_N);
        return k < 3 ? k : 3;
    }
    size_t sp = t->cp[i] == ' ' ? 1 : 0;
    if (!is_q(t, i + sp)) sp = 0;
    if (is_q(t, i + sp)) {
        size_t j = i + sp + q_run(t, i + sp);
        while (is_crlf(t, j) || (j < t->n && t->cp[j] == '/')) j++;
        return j - i;
    }
    size_t k = whitespace(t, i, true);
    return k ? k : 1;
}

bool infer_pretokenize(infer_pretok kind, const uint8_t *text, size_t len, infer_word_fn emit, void *user) {
    if (len == 0) return true;
    uint32_t *cp = malloc(len * sizeof *cp);
    uint8_t *cls = malloc(len);
    size_t *off = malloc((len + 1) * sizeof *off);
    if (!cp || !cls || !off) { free(cp); free(cls); free(off); return false; }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k;
        cp[n] = infer_utf8_decode(text + i, len - i, &k);
        cls[n] = (uint8_t)infer_uc_class(cp[n]);
        off[n++] = i;
        i += k;
    }
    off[n] = len;
    text_cps t = {cp, cls, n};
    for (size_t i = 0; i < n;) {
        size_t k;
        switch (kind) {
        case INFER_PRETOK_GPT2: k = match_gpt2(&t, i); break;
        case INFER_PRETOK_LLAMA3: k = match_llama3(&t, i, 3); break;
        case INFER_PRETOK_QWEN2: k = match_llama3(&t, i, 1); break;
        default: k = match_gpt4o(&t, i); break;
        }
        emit(text + off[i], off[i + k] - off[i], user);
        i += k;
    }
    free(cp);
    free(cls);
    free(off);
    return true;
}
