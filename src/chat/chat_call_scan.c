/* A Hermes call object read a byte at a time (chat_call_scan.h): a small state machine
 * over the top-level object, a string decoder for the name, the keys and string
 * arguments, and a structure tracker that copies the arguments object without the
 * whitespace between tokens. */
#include "chat/chat_call_scan.h"

#include <string.h>

enum { T_START, T_KEY_OR_END, T_KEY, T_IN_KEY, T_COLON, T_VALUE, T_IN_VALUE, T_AFTER, T_DONE };
enum { K_SKIP, K_NAME, K_ARGS };
enum { STR_NONE, STR_KEY, STR_NAME, STR_ARGS };

static int is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

void call_scan_init(call_scan *s) {
    memset(s, 0, offsetof(call_scan, stack));
    s->status = CALL_SCAN_RUNNING;
}

void call_scan_free(call_scan *s) {
    infer_strbuf_free(&s->name);
    infer_strbuf_free(&s->args);
    infer_strbuf_free(&s->keybuf);
}

static void put_utf8(infer_strbuf *b, unsigned cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (char)cp, n = 1;
    else if (cp < 0x800) u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else if (cp < 0x10000)
        u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3F)), u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3F)), u[2] = (char)(0x80 | (cp >> 6 & 0x3F)),
        u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    infer_strbuf_put(b, u, n);
}

static int hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void str_out(call_scan *s, const char *p, size_t n) {
    if (s->str_mode == STR_KEY) {
        if (s->keybuf.len < 32) infer_strbuf_put(&s->keybuf, p, n);   /* longer: no key of ours */
    } else {
        infer_strbuf_put(s->str_mode == STR_NAME ? &s->name : &s->args, p, n);
    }
}

/* One byte of a string's body, decoded as jansson decodes it (a lone surrogate or \u0000
 * is an error there too). 1 at the closing quote, 0 to go on, -1 invalid. */
static int str_byte(call_scan *s, unsigned char c) {
    if (s->esc_n == 0) {
        if (s->hi && c != '\\') return -1;   /* a high surrogate must be followed by \u */
        if (c == '"') return 1;
        if (c < 0x20) return -1;
        if (c == '\\') s->esc_n = 1;
        else str_out(s, (const char *)&c, 1);
        return 0;
    }
    if (s->esc_n == 1) {
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *k = c ? strchr(from, c) : NULL;
        if (c == 'u') {
            s->esc_n = 2, s->cp = 0;
            return 0;
        }
        if (!k || s->hi) return -1;
        str_out(s, &to[k - from], 1);
        s->esc_n = 0;
        return 0;
    }
    int h = hex(c);
    if (h < 0) return -1;
    s->cp = s->cp << 4 | (unsigned)h;
    if (++s->esc_n < 6) return 0;
    s->esc_n = 0;
    unsigned cp = s->cp;
    if (s->hi) {
        if (cp < 0xDC00 || cp > 0xDFFF) return -1;
        cp = 0x10000 + ((s->hi - 0xD800) << 10) + (cp - 0xDC00);
        s->hi = 0;
    } else if (cp >= 0xD800 && cp <= 0xDBFF) {
        s->hi = cp;
        return 0;
    } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
        return -1;
    }
    infer_strbuf b = {0};
    put_utf8(&b, cp);
    if (b.oom) return -1;
    str_out(s, b.data, b.len);
    infer_strbuf_free(&b);
    return 0;
}

/* What a tracked value expects next (E_VALUE first: a zeroed scanner starts there). */
enum { E_VALUE, E_VALUE_OR_CLOSE, E_KEY_OR_CLOSE, E_KEY, E_COLON, E_COMMA_OR_CLOSE };
/* A number's DFA (RFC 8259): the states after '-', '0', digits, '.', fraction digits,
 * 'e', the exponent's sign, exponent digits. */
enum { N_MINUS = 1, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

static int number_step(int st, unsigned char c) {
    int digit = c >= '0' && c <= '9';
    switch (st) {
    case 0: return c == '-' ? N_MINUS : c == '0' ? N_ZERO : digit ? N_INT : -1;
    case N_MINUS: return c == '0' ? N_ZERO : digit ? N_INT : -1;
    case N_ZERO:
    case N_INT: return c == '.' ? N_DOT : c == 'e' || c == 'E' ? N_E : digit && st == N_INT ? N_INT : -1;
    case N_DOT: return digit ? N_FRAC : -1;
    case N_FRAC: return digit ? N_FRAC : c == 'e' || c == 'E' ? N_E : -1;
    case N_E: return c == '+' || c == '-' ? N_ESIGN : digit ? N_EXP : -1;
    default: return digit ? N_EXP : -1;   /* N_ESIGN, N_EXP */
    }
}

/* A value inside the tracked one ended: what follows it. */
static void nested_done(call_scan *s) { s->vexp = E_COMMA_OR_CLOSE; }

/* One byte of a value whose structure is tracked (the arguments object, copied without
 * whitespace, when emit; a skipped value otherwise), checked against JSON's grammar.
 * 1: the value ended with this byte; 2: it ended before this byte (a number or literal
 * at the top); 0: go on; -1: invalid. */
static int value_byte(call_scan *s, unsigned char c, int emit) {
    infer_strbuf *out = emit ? &s->args : NULL;
    if (s->in_str) {
        if (out) infer_strbuf_put(out, (const char *)&c, 1);
        if (s->esc) s->esc = 0;
        else if (c == '\\') s->esc = 1;
        else if (c == '"') s->in_str = 0;
        else if (c < 0x20) return -1;
        if (s->in_str) return 0;
        if (s->str_key) {
            s->str_key = 0;
            s->vexp = E_COLON;
            return 0;
        }
        if (s->depth == 0) return 1;
        nested_done(s);
        return 0;
    }
    if (s->scalar) {
        if (s->lit) {   /* true, false, null */
            if (s->lit[s->scalar] && c == (unsigned char)s->lit[s->scalar]) {
                s->scalar++;
                if (out) infer_strbuf_put(out, (const char *)&c, 1);
                return 0;
            }
            if (s->lit[s->scalar]) return -1;
        } else {
            int st = number_step(s->scalar, c);
            if (st > 0) {
                s->scalar = st;
                if (out) infer_strbuf_put(out, (const char *)&c, 1);
                return 0;
            }
            if (s->scalar != N_ZERO && s->scalar != N_INT && s->scalar != N_FRAC && s->scalar != N_EXP) return -1;
        }
        s->scalar = 0;
        s->lit = NULL;
        if (s->depth == 0) return 2;
        nested_done(s);
    }
    if (is_ws(c)) return 0;   /* the whitespace between tokens: not part of the canonical text */
    int want_value = s->vexp == E_VALUE || s->vexp == E_VALUE_OR_CLOSE;
    if (c == '}' || c == ']') {
        unsigned char open = c == '}' ? '{' : '[';
        int ok = s->vexp == E_COMMA_OR_CLOSE || s->vexp == (c == '}' ? E_KEY_OR_CLOSE : E_VALUE_OR_CLOSE);
        if (!ok || s->depth == 0 || s->stack[s->depth - 1] != open) return -1;
        s->depth--;
        nested_done(s);
    } else if (c == '{' || c == '[') {
        if (!want_value || s->depth == CALL_SCAN_MAX_DEPTH) return -1;
        s->stack[s->depth++] = c;
        s->vexp = c == '{' ? E_KEY_OR_CLOSE : E_VALUE_OR_CLOSE;
    } else if (c == ',') {
        if (s->vexp != E_COMMA_OR_CLOSE || s->depth == 0) return -1;
        s->vexp = s->stack[s->depth - 1] == '{' ? E_KEY : E_VALUE;
    } else if (c == ':') {
        if (s->vexp != E_COLON) return -1;
        s->vexp = E_VALUE;
    } else if (c == '"') {
        if (!want_value && s->vexp != E_KEY && s->vexp != E_KEY_OR_CLOSE) return -1;
        s->in_str = 1;
        s->str_key = !want_value;
    } else {
        if (!want_value) return -1;
        s->lit = c == 't' ? "true" : c == 'f' ? "false" : c == 'n' ? "null" : NULL;
        if (s->lit) s->scalar = 1;
        else if ((s->scalar = number_step(0, c)) < 0) return -1;
    }
    if (out) infer_strbuf_put(out, (const char *)&c, 1);
    return (c == '}' || c == ']') && s->depth == 0;
}

/* The value of the key just read starts with c (not whitespace). */
static call_scan_status value_start(call_scan *s, unsigned char c) {
    s->key = K_SKIP;
    s->vexp = E_VALUE;
    if (s->keybuf.len == 4 && memcmp(s->keybuf.data, "name", 4) == 0 && !s->named) {
        if (c != '"') return CALL_SCAN_OTHER;   /* the whole-reply parser may still read {"function": ...} */
        s->key = K_NAME;
        s->str_mode = STR_NAME;
        return CALL_SCAN_RUNNING;
    }
    if (((s->keybuf.len == 9 && memcmp(s->keybuf.data, "arguments", 9) == 0) ||
         (s->keybuf.len == 10 && memcmp(s->keybuf.data, "parameters", 10) == 0)) &&
        !s->seen_args) {
        if (c != '{' && c != '"') return CALL_SCAN_OTHER;
        s->seen_args = 1;
        s->key = K_ARGS;
        if (c == '"') s->str_mode = STR_ARGS;
        else value_byte(s, c, 1);
        return CALL_SCAN_RUNNING;
    }
    /* keys that make the object another shape of call (or list of calls) */
    if ((s->keybuf.len == 8 && memcmp(s->keybuf.data, "function", 8) == 0) ||
        (s->keybuf.len >= 9 && memcmp(s->keybuf.data, "tool_call", 9) == 0 &&
         (s->keybuf.len == 9 || (s->keybuf.len == 10 && s->keybuf.data[9] == 's'))))
        return CALL_SCAN_OTHER;
    return value_byte(s, c, 0) < 0 ? CALL_SCAN_INVALID : CALL_SCAN_RUNNING;
}

static call_scan_status step(call_scan *s, unsigned char c) {
    int r;
    switch (s->top) {
    case T_START:
        if (is_ws(c)) return CALL_SCAN_RUNNING;
        if (c != '{') return CALL_SCAN_OTHER;   /* an array of calls, text: not streamed */
        s->top = T_KEY_OR_END;
        return CALL_SCAN_RUNNING;
    case T_KEY_OR_END:
    case T_KEY:
        if (is_ws(c)) return CALL_SCAN_RUNNING;
        if (c == '}' && s->top == T_KEY_OR_END) goto close;
        if (c != '"') return CALL_SCAN_INVALID;
        s->keybuf.len = 0;
        s->str_mode = STR_KEY;
        s->top = T_IN_KEY;
        return CALL_SCAN_RUNNING;
    case T_IN_KEY:
        if ((r = str_byte(s, c)) < 0) return CALL_SCAN_INVALID;
        if (r) s->str_mode = STR_NONE, s->top = T_COLON;
        return CALL_SCAN_RUNNING;
    case T_COLON:
        if (is_ws(c)) return CALL_SCAN_RUNNING;
        if (c != ':') return CALL_SCAN_INVALID;
        s->top = T_VALUE;
        return CALL_SCAN_RUNNING;
    case T_VALUE:
        if (is_ws(c)) return CALL_SCAN_RUNNING;
        s->top = T_IN_VALUE;
        return value_start(s, c);
    case T_IN_VALUE:
        if (s->str_mode != STR_NONE) {
            if ((r = str_byte(s, c)) < 0) return CALL_SCAN_INVALID;
            if (r) {
                if (s->str_mode == STR_NAME) s->named = 1;
                s->str_mode = STR_NONE;
                s->top = T_AFTER;
            }
            return CALL_SCAN_RUNNING;
        }
        if ((r = value_byte(s, c, s->key == K_ARGS)) < 0) return CALL_SCAN_INVALID;
        if (r == 0) return CALL_SCAN_RUNNING;
        s->top = T_AFTER;
        if (r == 1) return CALL_SCAN_RUNNING;
        /* a number or literal ended at this byte, which T_AFTER reads */
        /* fall through */
    case T_AFTER:
        if (is_ws(c)) return CALL_SCAN_RUNNING;
        if (c == ',') {
            s->top = T_KEY;
            return CALL_SCAN_RUNNING;
        }
        if (c == '}') goto close;
        return CALL_SCAN_INVALID;
    default:
        return s->status;
    }
close:
    if (!s->named) return CALL_SCAN_OTHER;
    if (s->args.len == 0) infer_strbuf_puts(&s->args, "{}");   /* none, or "" (as jansson's path gives) */
    s->top = T_DONE;
    return CALL_SCAN_DONE;
}

call_scan_status call_scan_push(call_scan *s, const char *p, size_t n) {
    for (size_t i = 0; i < n && s->status == CALL_SCAN_RUNNING; i++) {
        s->status = step(s, (unsigned char)p[i]);
        if (s->name.oom || s->args.oom || s->keybuf.oom) s->status = CALL_SCAN_INVALID;
    }
    return s->status;
}

call_scan_status call_scan_end(call_scan *s) {
    if (s->status == CALL_SCAN_RUNNING) s->status = CALL_SCAN_INVALID;
    return s->status;
}

size_t call_scan_args_ready(const call_scan *s) {
    size_t n = s->args.len;
    if (s->status == CALL_SCAN_DONE || n == 0) return n;
    const unsigned char *b = (const unsigned char *)s->args.data;
    size_t i = n;   /* the start of the last character */
    while (i > 0 && n - i < 4 && (b[i - 1] & 0xC0) == 0x80) i--;
    if (i == 0) return n;
    unsigned char lead = b[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return n - (i - 1) < want ? i - 1 : n;
}
