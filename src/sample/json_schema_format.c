/* String formats for the JSON-schema converter: the GBNF of a format's texts, inside
 * the quotes. Each grammar writes a subset of the format that validators accept (dates
 * keep days to 01-28, IPv6 only the full eight-group form, URIs only scheme://host/path,
 * e-mail a plain dot-atom address), so every text is valid whatever checker is used.
 * Formats the specification defines but this file does not write are refused; other
 * names (OpenAPI's int32, password, ...) are annotations and give a plain string. */
#include "sample/json_schema.h"

#include <string.h>

#define DATE "[0-9]{4} \"-\" (\"0\" [1-9] | \"1\" [0-2]) \"-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])"
#define TIME                                                                                                    \
    "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,6})? "                      \
    "(\"Z\" | [+-] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])"
#define HEX4 "[0-9a-fA-F]{4}"
/* A DNS label of 1-63 letters, digits and inner hyphens (kept short: at most 41), a
 * host of up to four labels (at most 167 characters, below hostname's 253). */
#define LABEL "[a-zA-Z0-9]{1,20} (\"-\" [a-zA-Z0-9]{1,20})?"
#define HOST "(" LABEL ") (\".\" " LABEL "){0,3}"
#define OCTET "(\"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9])"

/* min_len/max_len: the shortest and longest text each grammar writes (in characters),
 * so that min/maxLength beside a format can be checked against them. */
static const struct {
    const char *name, *gbnf;
    int min_len, max_len;
} formats[] = {
    {"date", DATE, 10, 10},
    {"time", TIME, 9, 21},
    {"date-time", DATE " \"T\" " TIME, 20, 32},
    {"uuid", "[0-9a-fA-F]{8} \"-\" " HEX4 " \"-\" " HEX4 " \"-\" " HEX4 " \"-\" [0-9a-fA-F]{12}", 36, 36},
    {"email", "[a-zA-Z0-9_+]{1,20} (\".\" [a-zA-Z0-9_+-]{1,20})? \"@\" " HOST " \".\" [a-zA-Z]{2,6}", 6, 216},
    {"hostname", HOST, 1, 167},
    {"ipv4", OCTET " (\".\" " OCTET "){3}", 7, 15},
    {"ipv6", "[0-9a-fA-F]{1,4} (\":\" [0-9a-fA-F]{1,4}){7}", 15, 39},
    {"uri", "(\"https\" | \"http\" | \"ftp\") \"://\" " HOST " (\"/\" [a-zA-Z0-9._~-]{1,20}){0,5} "
            "(\"?\" [a-zA-Z0-9._~-]{1,20} \"=\" [a-zA-Z0-9._~-]{0,20})?", 7, 322},
};
/* Defined by the specification (assertions under the format-assertion vocabulary) but
 * not written here. */
static const char *const refused[] = {"duration", "idn-email", "idn-hostname", "iri", "iri-reference",
                                      "json-pointer", "relative-json-pointer", "regex", "uri-template"};

int infer_json_format_gbnf(const char *name, const char **gbnf, int *min_len, int *max_len) {
    *gbnf = NULL;
    if (!strcmp(name, "uri-reference")) name = "uri";   /* an absolute URI is a URI reference */
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (!strcmp(name, formats[i].name)) {
            *gbnf = formats[i].gbnf;
            *min_len = formats[i].min_len;
            *max_len = formats[i].max_len;
            return 1;
        }
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        if (!strcmp(name, refused[i])) return -1;
    return 0;
}
