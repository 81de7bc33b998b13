/* UTF-8 (the tokenizer's codec) and the few Unicode properties Python's string methods need
 * (whitespace for strip/split, printability for repr, simple case mapping). */
#include "chat/jinja/jinja_internal.h"
#include "tokenizer/unicode.h"

/* The tokenizer's decoder, with its invalid-byte marker mapped to Python's surrogateescape
 * range (U+DC80..U+DCFF), which repr() prints as \xNN. */
size_t jutf8_next(const char *s, size_t n, uint32_t *cp) {
    size_t len = 1;
    uint32_t v = infer_utf8_decode((const uint8_t *)s, n, &len);
    *cp = v >= INFER_UC_INVALID_BASE ? 0xDC00 + (v - INFER_UC_INVALID_BASE) : v;
    return len ? len : 1;
}

size_t jutf8_put(uint32_t cp, char out[4]) { return infer_utf8_encode(cp, (uint8_t *)out); }

size_t jutf8_count(const char *p, size_t n) {
    size_t k = 0, i = 0;
    uint32_t cp;
    while (i < n) {
        i += jutf8_next(p + i, n - i, &cp);
        k++;
    }
    return k;
}

/* Python's str.isspace(): bidirectional class WS, B or S, or category Zs. */
int juni_is_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

/* Python's str.isprintable() for repr(): false for controls, separators other than the
 * ASCII space, format characters, surrogates and private use. */
int juni_is_printable(uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0xA0)) return 0;
    if (cp == 0xAD || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) ||
        (cp >= 0x205F && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x206F) || cp == 0x3000 || cp == 0xFEFF ||
        (cp >= 0x600 && cp <= 0x605) || cp == 0x61C || cp == 0x6DD || cp == 0x70F || cp == 0x180E ||
        (cp >= 0xFFF9 && cp <= 0xFFFB) || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0xE000 && cp <= 0xF8FF) ||
        cp == 0xFFFE || cp == 0xFFFF || cp >= 0xF0000 || cp == 0xE0001 || (cp >= 0xE0020 && cp <= 0xE007F))
        return 0;
    return 1;
}

/* Case pairs outside the regular runs below: Greek with tonos / dialytika, Latin
 * Extended-A's second half (where upper case is odd), Y with diaeresis. {lower, upper}. */
static const uint32_t CASE_PAIRS[][2] = {
    {0x3AC, 0x386}, {0x3AD, 0x388}, {0x3AE, 0x389}, {0x3AF, 0x38A}, {0x3CC, 0x38C}, {0x3CD, 0x38E},
    {0x3CE, 0x38F}, {0x3CA, 0x3AA}, {0x3CB, 0x3AB}, {0xFF, 0x178},
};

/* Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic: the scripts chat
 * templates meet in role names, keywords and the corpus conversations. Other code points
 * map to themselves (and the one-to-many mappings, ß -> SS, are not made). */
uint32_t juni_upper(uint32_t cp) {
    if (cp >= 'a' && cp <= 'z') return cp - 32;
    if ((cp >= 0xE0 && cp <= 0xFE && cp != 0xF7)) return cp - 32;
    if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) && (cp & 1) && cp != 0x131) return cp - 1;
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && !(cp & 1)) return cp - 1;
    if (cp == 0xB5) return 0x39C;   /* micro sign -> Greek capital mu, as Python */
    if (cp >= 0x3B1 && cp <= 0x3C9) return cp == 0x3C2 ? 0x3A3 : cp - 32;   /* final sigma too */
    if (cp >= 0x430 && cp <= 0x44F) return cp - 32;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 80;
    for (size_t i = 0; i < sizeof CASE_PAIRS / sizeof CASE_PAIRS[0]; i++)
        if (CASE_PAIRS[i][0] == cp) return CASE_PAIRS[i][1];
    return cp;
}

uint32_t juni_lower(uint32_t cp) {
    if (cp >= 'A' && cp <= 'Z') return cp + 32;
    if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)) return cp + 32;
    if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) && !(cp & 1) && cp != 0x130) return cp + 1;
    if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && (cp & 1)) return cp + 1;
    if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
    if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
    for (size_t i = 0; i < sizeof CASE_PAIRS / sizeof CASE_PAIRS[0]; i++)
        if (CASE_PAIRS[i][1] == cp) return CASE_PAIRS[i][0];
    return cp;
}

int juni_is_alpha(uint32_t cp) { return (infer_uc_class(cp) & INFER_UC_L) != 0; }

int juni_is_digit(uint32_t cp) { return (infer_uc_class(cp) & INFER_UC_N) != 0; }
