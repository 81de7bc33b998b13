/* One Hermes/Qwen tool call, {"name": "f", "arguments": {...}}, read a byte at a time as a
 * model writes it, so a stream can send the arguments while they grow and the finished
 * reply's parser gets the very same text.
 *
 * The arguments' canonical text is the model's own JSON with the whitespace outside
 * strings removed: every byte the scanner emits is final the moment it is read (strings
 * and numbers are kept as written, so nothing is re-serialized later). Arguments given as
 * a JSON string ("arguments": "{\"a\": 1}") are that string decoded, as the whole-reply
 * parser has always given them.
 *
 * The scanner checks JSON's grammar (not the escapes inside strings nor UTF-8, nor
 * jansson's limits): a syntax error stops it at once. The whole-reply parser validates
 * the finished block with jansson and uses the scanner's text only then. */
#ifndef INFER_CHAT_CALL_SCAN_H
#define INFER_CHAT_CALL_SCAN_H

#include "chat/chat_text.h"

#include <stddef.h>

/* Nesting the arguments may use: jansson refuses deeper documents anyway. */
#define CALL_SCAN_MAX_DEPTH 2048

typedef enum call_scan_status {
    CALL_SCAN_RUNNING = 0,   /* the object is not finished */
    CALL_SCAN_DONE,          /* the object closed: a call with a name */
    CALL_SCAN_OTHER,         /* not one plain call object (an array, {"function": ...}, no
                                name, a non-string name): the whole-reply parser decides */
    CALL_SCAN_INVALID,       /* not JSON (or not a call the whole-reply parser accepts) */
} call_scan_status;

typedef struct call_scan {
    call_scan_status status;
    infer_strbuf name;   /* decoded once complete (named set) */
    infer_strbuf args;   /* the canonical arguments text so far */
    int named;           /* the name string is complete */
    /* internal state */
    int top;             /* where in the top-level object (chat_call_scan.c) */
    int key;             /* which key's value is being read */
    int seen_args;       /* the arguments key was read (a later one is skipped) */
    int in_str, esc, depth;
    int vexp;            /* what the tracked value expects next */
    int str_key;         /* the string being read is a key */
    int scalar;          /* a number's DFA state, or the letters of lit read (0: none) */
    const char *lit;     /* the literal being read (true, false, null) */
    int str_mode;        /* decoding a string: 0 none, else its destination */
    int esc_n;           /* bytes of the escape read so far (0: none) */
    unsigned cp, hi;     /* \uXXXX being read; a pending high surrogate */
    infer_strbuf keybuf; /* the current key, decoded (cut at 32 bytes) */
    unsigned char stack[CALL_SCAN_MAX_DEPTH];   /* '{' or '[' per open container */
} call_scan;

/* Starts a call (the bytes right after <tool_call>). Heap-allocate it: it holds the stack. */
void call_scan_init(call_scan *s);
void call_scan_free(call_scan *s);   /* frees the buffers; s may be reused after init */
/* Feeds bytes; returns the status. Bytes after the object closes are ignored. */
call_scan_status call_scan_push(call_scan *s, const char *p, size_t n);
/* The end of the call's text: RUNNING becomes INVALID (a truncated object). */
call_scan_status call_scan_end(call_scan *s);
/* Bytes of s->args a stream may send: the whole when done, else less an unfinished UTF-8
 * character at the end. */
size_t call_scan_args_ready(const call_scan *s);

#endif
