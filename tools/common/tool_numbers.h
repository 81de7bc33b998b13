/* The one parser for numeric command-line values, used by every tool: the whole value
 * must be a number (no trailing text, no empty string), within the option's range and
 * the destination type. On failure it prints
 *   error: -c: '4000000000' is out of range (0 to 1073741824)
 *   error: --temp: 'hot' is not a number
 * to stderr and returns -1; the caller exits with its usage-error status. */
#ifndef INFER_TOOL_NUMBERS_H
#define INFER_TOOL_NUMBERS_H

#include <stdint.h>

/* A base-10 integer in [min, max] into an int (min and max must fit an int). */
int tool_parse_int(const char *opt, const char *value, long long min, long long max, int *out);
/* A base-10 unsigned integer (no sign) in [0, UINT64_MAX]. */
int tool_parse_u64(const char *opt, const char *value, uint64_t *out);
/* A finite decimal number in [min, max] into a float. */
int tool_parse_float(const char *opt, const char *value, double min, double max, float *out);

#endif
