/* Python string operations shared by the methods (`s.strip()`) and filters (`|trim`). */
#ifndef INFER_CHAT_JINJA_STR_H
#define INFER_CHAT_JINJA_STR_H

#include "chat/jinja/jinja_internal.h"

/* JCASE_TITLE is str.title() (a word starts after any uncased character); JCASE_TITLE_WORDS
 * is jinja2's |title (words start after whitespace, '-', '(', '{', '[' or '<'). */
enum { JCASE_LOWER, JCASE_UPPER, JCASE_CAPITALIZE, JCASE_TITLE, JCASE_TITLE_WORDS, JCASE_SWAP };

/* str.strip / lstrip / rstrip; chars NULL strips Unicode whitespace. */
jv jstr_strip(jinja_ctx *c, jv s, const jstr *chars, int left, int right);
jv jstr_case(jinja_ctx *c, jv s, int mode);
/* str.replace(old, new, count); count < 0 replaces all. */
jv jstr_replace(jinja_ctx *c, jv s, jv old, jv rep, int64_t count);
jv jstr_splitlines(jinja_ctx *c, jv s, int keepends);

#endif
