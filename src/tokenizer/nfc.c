/* NFC normalization (Unicode canonical decomposition, canonical ordering, canonical
 * composition) for vocabularies whose Hugging Face tokenizer normalizes to NFC
 * before splitting (Qwen2 and its successors). Invalid UTF-8 bytes pass through. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/unicode.h"

/* Hangul syllables decompose and compose by arithmetic (Unicode ch. 3.12). */
enum {
    HANGUL_S = 0xAC00, HANGUL_L = 0x1100, HANGUL_V = 0x1161, HANGUL_T = 0x11A7,
    HANGUL_LN = 19, HANGUL_VN = 21, HANGUL_TN = 28,
    HANGUL_NN = HANGUL_VN * HANGUL_TN, HANGUL_SN = HANGUL_LN * HANGUL_NN,
};

static const infer_uc_decomp *find_decomp(uint32_t cp) {
    size_t lo = 0, hi = infer_uc_decomps_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < infer_uc_decomps[mid].cp) hi = mid;
        else if (cp > infer_uc_decomps[mid].cp) lo = mid + 1;
        else return &infer_uc_decomps[mid];
    }
    return NULL;
}

/* The composite of a + b, or 0 if they do not compose. */
static uint32_t compose_pair(uint32_t a, uint32_t b) {
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LN && b >= HANGUL_V && b < HANGUL_V + HANGUL_VN)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VN + (b - HANGUL_V)) * HANGUL_TN;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SN && (a - HANGUL_S) % HANGUL_TN == 0 &&
        b > HANGUL_T && b < HANGUL_T + HANGUL_TN)
        return a + (b - HANGUL_T);
    size_t lo = 0, hi = infer_uc_compositions_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const infer_uc_compose *c = &infer_uc_compositions[mid];
        if (a < c->first || (a == c->first && b < c->second)) hi = mid;
        else if (a > c->first || b > c->second) lo = mid + 1;
        else return c->composite;
    }
    return 0;
}

/* Appends the full canonical decomposition of cp; returns the new count. */
static size_t decompose(uint32_t cp, uint32_t *out, size_t n) {
    if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SN) {
        uint32_t s = cp - HANGUL_S;
        out[n++] = HANGUL_L + s / HANGUL_NN;
        out[n++] = HANGUL_V + (s % HANGUL_NN) / HANGUL_TN;
        if (s % HANGUL_TN) out[n++] = HANGUL_T + s % HANGUL_TN;
        return n;
    }
    const infer_uc_decomp *d = cp < 0xC0 ? NULL : find_decomp(cp);
    if (!d) { out[n++] = cp; return n; }
    for (uint32_t i = 0; i < d->len; i++) out[n++] = infer_uc_decomp_pool[d->offset + i];
    return n;
}

char *infer_utf8_nfc(const char *text, size_t len, size_t *out_len) {
    const uint8_t *s = (const uint8_t *)text;
    /* A character decomposes into at most 1.5 codepoints per byte of its UTF-8 form
     * (U+01D5: 2 bytes -> 3 codepoints); 2 per byte leaves room. */
    uint32_t *cps = malloc((2 * len + 4) * sizeof *cps);
    if (!cps) return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t k;
        uint32_t cp = infer_utf8_decode(s + i, len - i, &k);
        n = cp >= INFER_UC_INVALID_BASE ? (cps[n] = cp, n + 1) : decompose(cp, cps, n);
        i += k;
    }
    /* Canonical ordering: stable insertion sort of each run of non-starters by class. */
    for (size_t i = 1; i < n; i++) {
        unsigned c = infer_uc_ccc(cps[i]);
        if (c == 0) continue;
        size_t j = i;
        uint32_t cp = cps[i];
        while (j > 0) {
            unsigned pc = infer_uc_ccc(cps[j - 1]);
            if (pc <= c) break;
            cps[j] = cps[j - 1];
            j--;
        }
        cps[j] = cp;
    }
    /* Canonical composition: a character joins the last starter unless blocked by a
     * character of the same or higher class in between. */
    size_t w = 0;
    long starter = -1;
    unsigned last_ccc = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = cps[i];
        unsigned c = infer_uc_ccc(cp);
        if (starter >= 0 && cp < INFER_UC_INVALID_BASE) {
            bool blocked = (size_t)starter + 1 != w && (last_ccc == 0 || last_ccc >= c);
            uint32_t comp = blocked ? 0 : compose_pair(cps[starter], cp);
            if (comp) { cps[starter] = comp; continue; }
        }
        if (c == 0) { starter = (long)w; last_ccc = 0; }
        else last_ccc = c;
        cps[w++] = cp;
    }
    char *out = malloc(w * 4 + 1);
    if (!out) { free(cps); return NULL; }
    size_t o = 0;
    for (size_t i = 0; i < w; i++) {
        if (cps[i] >= INFER_UC_INVALID_BASE) out[o++] = (char)(cps[i] - INFER_UC_INVALID_BASE);
        else o += infer_utf8_encode(cps[i], (uint8_t *)out + o);
    }
    out[o] = 0;
    free(cps);
    *out_len = o;
    return out;
}
