#include "tool_numbers.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* strtoll/strtod skip leading spaces and accept "": both are refused here. */
static int starts_like_number(const char *v) {
    return v && *v && !isspace((unsigned char)*v);
}

int tool_parse_int(const char *opt, const char *value, long long min, long long max, int *out) {
    char *end = NULL;
    errno = 0;
    long long v = starts_like_number(value) ? strtoll(value, &end, 10) : 0;
    if (!starts_like_number(value) || !end || end == value || *end) {
        fprintf(stderr, "error: %s: '%s' is not an integer\n", opt, value ? value : "");
        return -1;
    }
    if (errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "error: %s: '%s' is out of range (%lld to %lld)\n", opt, value, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int tool_parse_u64(const char *opt, const char *value, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    /* strtoull would turn "-1" into UINT64_MAX: a sign is refused before it. */
    int ok = starts_like_number(value) && *value != '-' && *value != '+';
    unsigned long long v = ok ? strtoull(value, &end, 10) : 0;
    if (!ok || !end || end == value || *end) {
        fprintf(stderr, "error: %s: '%s' is not a non-negative integer\n", opt, value ? value : "");
        return -1;
    }
    if (errno == ERANGE) {
        fprintf(stderr, "error: %s: '%s' is out of range (0 to %llu)\n", opt, value, (unsigned long long)UINT64_MAX);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int tool_parse_float(const char *opt, const char *value, double min, double max, float *out) {
    char *end = NULL;
    errno = 0;
    double v = starts_like_number(value) ? strtod(value, &end) : 0.0;
    if (!starts_like_number(value) || !end || end == value || *end) {
        fprintf(stderr, "error: %s: '%s' is not a number\n", opt, value ? value : "");
        return -1;
    }
    if (!isfinite(v) || errno == ERANGE || v < min || v > max) {
        fprintf(stderr, "error: %s: '%s' is out of range (%g to %g)\n", opt, value, min, max);
        return -1;
    }
    *out = (float)v;
    return 0;
}
