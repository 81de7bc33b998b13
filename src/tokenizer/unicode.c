/* UTF-8 decoding and codepoint classes for the tokenizers. */
#include "tokenizer/unicode.h"

size_t infer_utf8_valid_len(const uint8_t *s, size_t len) {
    uint8_t b = s[0];
    if (b < 0x80) return 1;
    size_t need;
    uint32_t min, cp;
    if (b >= 0xC2 && b <= 0xDF) { need = 2; min = 0x80; cp = b & 0x1F; }
    else if (b >= 0xE0 && b <= 0xEF) { need = 3; min = 0x800; cp = b & 0x0F; }
    else if (b >= 0xF0 && b <= 0xF4) { need = 4; min = 0x10000; cp = b & 0x07; }
    else return 0;
    if (len < need) return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return need;
}

uint32_t infer_utf8_decode(const uint8_t *s, size_t len, size_t *n) {
    size_t k = infer_utf8_valid_len(s, len);
    if (k == 0) { *n = 1; return INFER_UC_INVALID_BASE + s[0]; }
    *n = k;
    switch (k) {
    case 1: return s[0];
    case 2: return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    case 3: return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    default:
        return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
               ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    }
}

size_t infer_utf8_incomplete_need(const uint8_t *s, size_t len) {
    uint8_t b = s[0];
    size_t need;
    if (b >= 0xC2 && b <= 0xDF) need = 2;
    else if (b >= 0xE0 && b <= 0xEF) need = 3;
    else if (b >= 0xF0 && b <= 0xF4) need = 4;
    else return 0;
    if (len >= need) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        /* The second byte narrows the range for E0/ED/F0/F4 leads. */
        if (i == 1) {
            if (b == 0xE0 && s[1] < 0xA0) return 0;
            if (b == 0xED && s[1] > 0x9F) return 0;
            if (b == 0xF0 && s[1] < 0x90) return 0;
            if (b == 0xF4 && s[1] > 0x8F) return 0;
        }
    }
    return need;
}

size_t infer_utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned range_lookup(const infer_uc_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].first) hi = mid;
        else if (cp > r[mid].last) lo = mid + 1;
        else return r[mid].value;
    }
    return 0;
}

unsigned infer_uc_class(uint32_t cp) {
    /* ASCII is most text: answer it without the search. */
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z')) return INFER_UC_LL;
        if ((cp >= 'A' && cp <= 'Z')) return INFER_UC_LU;
        if (cp >= '0' && cp <= '9') return INFER_UC_N;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return INFER_UC_SPACE;
        return 0;
    }
    return range_lookup(infer_uc_class_ranges, infer_uc_class_ranges_len, cp);
}

unsigned infer_uc_ccc(uint32_t cp) {
    if (cp < 0x300) return 0;
    return range_lookup(infer_uc_ccc_ranges, infer_uc_ccc_ranges_len, cp);
}
