/* strftime_now(format): Hugging Face's template global, datetime.now().strftime(format).
 * Python hands the format to the C library's strftime (glibc on Linux) in the C locale,
 * after replacing %f, %z and %Z itself; written out here so that the output does not
 * depend on the process's locale or C library. glibc's '-' (no padding), '_' (space
 * padding) and '0' flags are honoured, since templates use "%-d" for "5" rather than "05". */
#include "chat/jinja/jinja_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const MONTHS[] = {"January", "February", "March", "April", "May", "June", "July", "August",
                                     "September", "October", "November", "December"};
static const char *const DAYS[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};

static int is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* ISO 8601 week number and week-based year (%V, %G). */
static int iso_week(const struct tm *tm, int *iso_year) {
    int year = tm->tm_year + 1900, wday = (tm->tm_wday + 6) % 7;   /* Monday = 0 */
    int week = (tm->tm_yday - wday + 10) / 7;
    if (week < 1) {
        year--;
        int days = 365 + is_leap(year);
        week = (tm->tm_yday + days - wday + 10) / 7;
    } else if (week == 53) {
        int days = 365 + is_leap(year);
        if (tm->tm_yday - wday + 3 >= days) {   /* the Thursday of this week is next year */
            week = 1;
            year++;
        }
    }
    *iso_year = year;
    return week;
}

/* Appends one numeric field: width digits padded with '0' (or ' ' for pad_space), or as
 * the flag says: '-' no padding, '_' spaces, '0' zeros. */
static void put_num(jinja_ctx *c, jbuf *b, long v, int width, int pad_space, char flag) {
    char tmp[32];
    if (flag == '-') snprintf(tmp, sizeof tmp, "%ld", v);
    else if (flag == '_' || (pad_space && flag != '0')) snprintf(tmp, sizeof tmp, "%*ld", width, v);
    else snprintf(tmp, sizeof tmp, "%0*ld", width, v);
    jbuf_put(c, b, tmp, strlen(tmp));
}

/* A name; glibc's '^' flag upper-cases it. */
static void put_str(jinja_ctx *c, jbuf *b, const char *s, size_t n, char flag) {
    for (size_t i = 0; i < n; i++) jbuf_putc(c, b, flag == '^' && s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 32) : s[i]);
}

/* Writes fmt for tm to b; usec fills %f. Codes glibc does not know are copied unchanged. */
static void format_tm(jinja_ctx *c, jbuf *b, const char *p, size_t n, const struct tm *tm, long usec) {
    int mon = tm->tm_mon >= 0 && tm->tm_mon < 12 ? tm->tm_mon : 0, wd = tm->tm_wday >= 0 && tm->tm_wday < 7 ? tm->tm_wday : 0;
    int hour12 = tm->tm_hour % 12 ? tm->tm_hour % 12 : 12, year = tm->tm_year + 1900;
    for (size_t i = 0; i < n && !c->failed; i++) {
        if (p[i] != '%' || i + 1 >= n) {
            jbuf_putc(c, b, p[i]);
            continue;
        }
        size_t start = i++;
        char flag = 0;
        if (strchr("-_0^#", p[i]) && i + 1 < n) flag = p[i++];
        int iso_year;
        switch (p[i]) {
        case 'Y': put_num(c, b, year, 1, 0, flag); break;
        case 'C': put_num(c, b, year / 100, 2, 0, flag); break;
        case 'y': put_num(c, b, year % 100, 2, 0, flag); break;
        case 'G': iso_week(tm, &iso_year); put_num(c, b, iso_year, 1, 0, flag); break;
        case 'g': iso_week(tm, &iso_year); put_num(c, b, iso_year % 100, 2, 0, flag); break;
        case 'V': put_num(c, b, iso_week(tm, &iso_year), 2, 0, flag); break;
        case 'm': put_num(c, b, tm->tm_mon + 1, 2, 0, flag); break;
        case 'd': put_num(c, b, tm->tm_mday, 2, 0, flag); break;
        case 'e': put_num(c, b, tm->tm_mday, 2, 1, flag); break;
        case 'j': put_num(c, b, tm->tm_yday + 1, 3, 0, flag); break;
        case 'H': put_num(c, b, tm->tm_hour, 2, 0, flag); break;
        case 'k': put_num(c, b, tm->tm_hour, 2, 1, flag); break;
        case 'I': put_num(c, b, hour12, 2, 0, flag); break;
        case 'l': put_num(c, b, hour12, 2, 1, flag); break;
        case 'M': put_num(c, b, tm->tm_min, 2, 0, flag); break;
        case 'S': put_num(c, b, tm->tm_sec, 2, 0, flag); break;
        case 'u': put_num(c, b, wd ? wd : 7, 1, 0, flag); break;
        case 'w': put_num(c, b, wd, 1, 0, flag); break;
        case 'U': put_num(c, b, (tm->tm_yday + 7 - wd) / 7, 2, 0, flag); break;
        case 'W': put_num(c, b, (tm->tm_yday + 7 - (wd + 6) % 7) / 7, 2, 0, flag); break;
        case 'f': put_num(c, b, usec, 6, 0, 0); break;
        case 'p': put_str(c, b, tm->tm_hour < 12 ? "AM" : "PM", 2, flag); break;
        case 'P': put_str(c, b, tm->tm_hour < 12 ? "am" : "pm", 2, flag); break;
        case 'B': put_str(c, b, MONTHS[mon], strlen(MONTHS[mon]), flag); break;
        case 'b': case 'h': put_str(c, b, MONTHS[mon], 3, flag); break;
        case 'A': put_str(c, b, DAYS[wd], strlen(DAYS[wd]), flag); break;
        case 'a': put_str(c, b, DAYS[wd], 3, flag); break;
        case 'z': case 'Z': break;   /* a naive datetime: empty */
        case 'n': jbuf_putc(c, b, '\n'); break;
        case 't': jbuf_putc(c, b, '\t'); break;
        case '%': jbuf_putc(c, b, '%'); break;
        case 'c': format_tm(c, b, "%a %b %e %H:%M:%S %Y", 20, tm, usec); break;
        case 'x': case 'D': format_tm(c, b, "%m/%d/%y", 8, tm, usec); break;
        case 'X': case 'T': format_tm(c, b, "%H:%M:%S", 8, tm, usec); break;
        case 'F': format_tm(c, b, "%Y-%m-%d", 8, tm, usec); break;
        case 'R': format_tm(c, b, "%H:%M", 5, tm, usec); break;
        case 'r': format_tm(c, b, "%I:%M:%S %p", 11, tm, usec); break;
        default: jbuf_put(c, b, p + start, i + 1 - start); break;
        }
    }
}

jv jinja_strftime_now(jinja_ctx *c, const jnode *at, const jargs *a) {
    const jv *f = jargs_get(a, 0, "format");
    if (!f || f->k != JV_STR) return jinja_fail(c, at, "TypeError: strftime_now() argument must be str");
    struct tm tm = {0};
    long usec = 0;
    if (c->has_date) {   /* a fixed date at midnight, for reproducible renderings */
        tm.tm_year = c->year - 1900;
        tm.tm_mon = c->month - 1;
        tm.tm_mday = c->day;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);   /* fills weekday and day of year */
        (void)t;
    } else {
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        localtime_r(&ts.tv_sec, &tm);
        usec = ts.tv_nsec / 1000;
    }
    jbuf b = {0};
    size_t before = c->out_total;
    format_tm(c, &b, f->u.s->p, f->u.s->n, &tm, usec);
    c->out_total = before;
    jv r = c->failed ? jv_undef(NULL) : jv_strn(c, b.p ? b.p : "", b.n);
    free(b.p);
    return r;
}
