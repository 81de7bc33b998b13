/* infer-gguf: shows what a GGUF file holds (header, metadata, tensor table, totals),
 * as text or as one JSON object (--json). Uses only the public API of infer.h.
 *
 *   infer-gguf FILE [--json] [--full]
 *
 * A split model's first part (...-00001-of-0000N.gguf) shows the whole set: the first
 * part's header and metadata, every part's file, size and tensor count, and the tensors
 * of all parts with the part that holds each ("part" in --json).
 *
 * Exit status: 0 on success, 1 if the file cannot be read or is malformed (with
 * "error: <reason>" on stderr), 2 on a usage error. */
#include "infer.h"
#include "tool_args.h"
#include "tool_util.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define TEXT_ARRAY_ITEMS 8      /* array items shown in text mode without --full */
#define TEXT_STRING_BYTES 120   /* string bytes shown in text mode without --full */

static const char *value_type_name(infer_gguf_type t) {
    switch (t) {
    case INFER_GGUF_UINT8: return "uint8";
    case INFER_GGUF_INT8: return "int8";
    case INFER_GGUF_UINT16: return "uint16";
    case INFER_GGUF_INT16: return "int16";
    case INFER_GGUF_UINT32: return "uint32";
    case INFER_GGUF_INT32: return "int32";
    case INFER_GGUF_FLOAT32: return "float32";
    case INFER_GGUF_BOOL: return "bool";
    case INFER_GGUF_STRING: return "string";
    case INFER_GGUF_ARRAY: return "array";
    case INFER_GGUF_UINT64: return "uint64";
    case INFER_GGUF_INT64: return "int64";
    case INFER_GGUF_FLOAT64: return "float64";
    }
    return "?";
}

static bool is_unsigned(infer_gguf_type t) {
    return t == INFER_GGUF_UINT8 || t == INFER_GGUF_UINT16 || t == INFER_GGUF_UINT32 || t == INFER_GGUF_UINT64;
}

/* A JSON string literal: control characters escaped, invalid UTF-8 bytes as U+FFFD. */
static void json_str(FILE *out, const char *str, uint64_t len) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    for (uint64_t i = 0; i < len;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') { fputc('\\', out); fputc((int)c, out); i++; }
        else if (c == '\n') { fputs("\\n", out); i++; }
        else if (c == '\r') { fputs("\\r", out); i++; }
        else if (c == '\t') { fputs("\\t", out); i++; }
        else if (c < 0x20 || c == 0x7f) { fprintf(out, "\\u%04x", c); i++; }
        else {
            size_t n = tool_utf8_seq_len(s + i, (size_t)(len - i));
            if (n == 0) { fputs("\\ufffd", out); i++; }
            else { fwrite(s + i, 1, n, out); i += n; }
        }
    }
    fputc('"', out);
}

/* A quoted, C-escaped string for text mode; stops after `max` bytes. */
static void text_str(FILE *out, const char *str, uint64_t len, uint64_t max) {
    const unsigned char *s = (const unsigned char *)str;
    uint64_t shown = len < max ? len : max;
    fputc('"', out);
    for (uint64_t i = 0; i < shown;) {
        unsigned c = s[i];
        if (c == '"' || c == '\\') { fputc('\\', out); fputc((int)c, out); i++; }
        else if (c == '\n') { fputs("\\n", out); i++; }
        else if (c == '\t') { fputs("\\t", out); i++; }
        else if (c < 0x20 || c == 0x7f) { fprintf(out, "\\x%02x", c); i++; }
        else {
            size_t n = tool_utf8_seq_len(s + i, (size_t)(len - i));
            if (n == 0) { fprintf(out, "\\x%02x", c); i++; }
            else { fwrite(s + i, 1, n, out); i += n; }
        }
    }
    fputc('"', out);
    if (shown < len) fprintf(out, "... (%" PRIu64 " bytes)", len);
}

/* A number; non-finite floats become null in JSON, nan/inf in text. */
static void print_float(FILE *out, double v, bool is_f32, bool json) {
    if (!isfinite(v)) { fputs(json ? "null" : (isnan(v) ? "nan" : v > 0 ? "inf" : "-inf"), out); return; }
    fprintf(out, is_f32 ? "%.9g" : "%.17g", v);
}

static void print_scalar(FILE *out, const infer_gguf *g, int64_t i, bool json) {
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    if (t == INFER_GGUF_BOOL) fputs(infer_gguf_kv_int(g, i) ? "true" : "false", out);
    else if (t == INFER_GGUF_FLOAT32 || t == INFER_GGUF_FLOAT64)
        print_float(out, infer_gguf_kv_float(g, i), t == INFER_GGUF_FLOAT32, json);
    else if (is_unsigned(t)) fprintf(out, "%" PRIu64, infer_gguf_kv_uint(g, i));
    else fprintf(out, "%" PRId64, infer_gguf_kv_int(g, i));
}

static void print_elem(FILE *out, const infer_gguf *g, int64_t i, uint64_t j, bool json, bool full) {
    infer_gguf_type et = infer_gguf_kv_arr_type(g, i);
    uint64_t len;
    const char *s;
    switch (et) {
    case INFER_GGUF_STRING:
        s = infer_gguf_kv_arr_str(g, i, j, &len);
        if (json) json_str(out, s, len);
        else text_str(out, s, len, full ? UINT64_MAX : TEXT_STRING_BYTES);
        break;
    case INFER_GGUF_BOOL: fputs(infer_gguf_kv_arr_int(g, i, j) ? "true" : "false", out); break;
    case INFER_GGUF_FLOAT32: case INFER_GGUF_FLOAT64:
        print_float(out, infer_gguf_kv_arr_float(g, i, j), et == INFER_GGUF_FLOAT32, json);
        break;
    case INFER_GGUF_ARRAY:   /* the API reports nested arrays by their length only */
        if (json) fprintf(out, "{\"nested_array_length\": %" PRId64 "}", infer_gguf_kv_arr_int(g, i, j));
        else fprintf(out, "[array of %" PRId64 "]", infer_gguf_kv_arr_int(g, i, j));
        break;
    case INFER_GGUF_UINT64:  /* may exceed int64: read through the float view is lossy, so print raw */
    default:
        if (et == INFER_GGUF_UINT64 && infer_gguf_kv_arr_int(g, i, j) == INT64_MAX)
            fprintf(out, "%.0f", infer_gguf_kv_arr_float(g, i, j));
        else fprintf(out, "%" PRId64, infer_gguf_kv_arr_int(g, i, j));
        break;
    }
}

static void print_value(FILE *out, const infer_gguf *g, int64_t i, bool json, bool full) {
    infer_gguf_type t = infer_gguf_kv_type(g, i);
    uint64_t len;
    if (t == INFER_GGUF_STRING) {
        const char *s = infer_gguf_kv_str(g, i, &len);
        if (json) json_str(out, s, len);
        else text_str(out, s, len, full ? UINT64_MAX : TEXT_STRING_BYTES);
    } else if (t == INFER_GGUF_ARRAY) {
        uint64_t n = infer_gguf_kv_arr_len(g, i);
        uint64_t shown = json || full || n <= TEXT_ARRAY_ITEMS ? n : TEXT_ARRAY_ITEMS;
        fputc('[', out);
        for (uint64_t j = 0; j < shown; j++) {
            if (j) fputs(", ", out);
            print_elem(out, g, i, j, json, full);
        }
        if (shown < n) fprintf(out, ", ... (%" PRIu64 " items)", n);
        fputc(']', out);
    } else {
        print_scalar(out, g, i, json);
    }
}

typedef struct totals { uint64_t params, bytes; } totals;

static totals compute_totals(const infer_gguf *g) {
    totals t = {0, 0};
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        uint64_t n = 1;
        for (uint32_t d = 0; d < infer_gguf_tensor_n_dims(g, i); d++) n *= infer_gguf_tensor_dim(g, i, d);
        t.params += n;
        t.bytes += infer_gguf_tensor_bytes(g, i);
    }
    return t;
}

static const char *type_name_or_id(uint32_t type, char *buf, size_t cap) {
    const char *name = infer_type_name(type);
    if (name) return name;
    snprintf(buf, cap, "type%" PRIu32, type);
    return buf;
}

static void print_json(FILE *out, const char *path, const infer_gguf *g) {
    totals tot = compute_totals(g);
    fputs("{\n  \"file\": ", out);
    json_str(out, path, strlen(path));
    fprintf(out, ",\n  \"version\": %" PRIu32 ",\n  \"alignment\": %" PRIu64 ",\n  \"file_size\": %" PRIu64
            ",\n  \"data_offset\": %" PRIu64 ",\n  \"n_kv\": %" PRId64 ",\n  \"n_tensors\": %" PRId64 ",\n",
            infer_gguf_version(g), infer_gguf_alignment(g), infer_gguf_file_size(g), infer_gguf_data_offset(g),
            infer_gguf_n_kv(g), infer_gguf_n_tensors(g));
    fputs("  \"metadata_types\": {", out);
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const char *k = infer_gguf_kv_key(g, i);
        fputs(i ? ",\n    " : "\n    ", out);
        json_str(out, k, strlen(k));
        infer_gguf_type t = infer_gguf_kv_type(g, i);
        if (t == INFER_GGUF_ARRAY) fprintf(out, ": \"array[%s]\"", value_type_name(infer_gguf_kv_arr_type(g, i)));
        else fprintf(out, ": \"%s\"", value_type_name(t));
    }
    fputs(infer_gguf_n_kv(g) ? "\n  },\n" : "},\n", out);
    fputs("  \"metadata\": {", out);
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        const char *k = infer_gguf_kv_key(g, i);
        fputs(i ? ",\n    " : "\n    ", out);
        json_str(out, k, strlen(k));
        fputs(": ", out);
        print_value(out, g, i, true, true);
    }
    fputs(infer_gguf_n_kv(g) ? "\n  },\n" : "},\n", out);
    fputs("  \"tensors\": [", out);
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        const char *name = infer_gguf_tensor_name(g, i);
        char buf[32];
        fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", out);
        json_str(out, name, strlen(name));
        fprintf(out, ", \"type\": \"%s\", \"shape\": [",
                type_name_or_id(infer_gguf_tensor_type(g, i), buf, sizeof buf));
        for (uint32_t d = 0; d < infer_gguf_tensor_n_dims(g, i); d++)
            fprintf(out, d ? ", %" PRIu64 : "%" PRIu64, infer_gguf_tensor_dim(g, i, d));
        fprintf(out, "], \"offset\": %" PRIu64 ", \"bytes\": %" PRIu64, infer_gguf_tensor_offset(g, i),
                infer_gguf_tensor_bytes(g, i));
        if (infer_gguf_n_parts(g) > 1) fprintf(out, ", \"part\": %" PRId32, infer_gguf_tensor_part(g, i) + 1);
        fputc('}', out);
    }
    fputs(infer_gguf_n_tensors(g) ? "\n  ],\n" : "],\n", out);
    if (infer_gguf_n_parts(g) > 1) {   /* a split set: what each part holds */
        fputs("  \"parts\": [", out);
        for (int32_t p = 0; p < infer_gguf_n_parts(g); p++) {
            const infer_gguf *part = infer_gguf_part(g, p);
            const char *pp = infer_gguf_part_path(g, p);
            fprintf(out, "%s    {\"part\": %" PRId32 ", \"file\": ", p ? ",\n" : "\n", p + 1);
            json_str(out, pp, strlen(pp));
            fprintf(out, ", \"version\": %" PRIu32 ", \"alignment\": %" PRIu64 ", \"file_size\": %" PRIu64
                    ", \"data_offset\": %" PRIu64 ", \"n_kv\": %" PRId64 ", \"n_tensors\": %" PRId64 ", \"bytes\": %" PRIu64 "}",
                    infer_gguf_version(part), infer_gguf_alignment(part), infer_gguf_file_size(part),
                    infer_gguf_data_offset(part), infer_gguf_n_kv(part), infer_gguf_n_tensors(part),
                    compute_totals(part).bytes);
        }
        fputs("\n  ],\n", out);
    }
    fprintf(out, "  \"totals\": {\"params\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"bits_per_weight\": ",
            tot.params, tot.bytes);
    if (tot.params) fprintf(out, "%.4f}\n}\n", 8.0 * (double)tot.bytes / (double)tot.params);
    else fputs("null}\n}\n", out);
}

static void print_text(FILE *out, const char *path, const infer_gguf *g, bool full) {
    totals tot = compute_totals(g);
    fprintf(out, "file:        %s\n", path);
    fprintf(out, "version:     %" PRIu32 "\n", infer_gguf_version(g));
    fprintf(out, "alignment:   %" PRIu64 "\n", infer_gguf_alignment(g));
    fprintf(out, "file size:   %" PRIu64 " bytes\n", infer_gguf_file_size(g));
    fprintf(out, "data offset: %" PRIu64 "\n", infer_gguf_data_offset(g));
    fprintf(out, "metadata:    %" PRId64 " entries\n", infer_gguf_n_kv(g));
    fprintf(out, "tensors:     %" PRId64 "\n", infer_gguf_n_tensors(g));
    const int32_t n_parts = infer_gguf_n_parts(g);
    if (n_parts > 1) {   /* a split set: header and metadata above are the first part's */
        fprintf(out, "parts:       %" PRId32 " (the header and metadata shown are the first part's)\n", n_parts);
        for (int32_t p = 0; p < n_parts; p++) {
            const infer_gguf *part = infer_gguf_part(g, p);
            fprintf(out, "  part %" PRId32 ": %s  (%" PRIu64 " bytes, %" PRId64 " metadata entries, %" PRId64
                    " tensors, %" PRIu64 " bytes of tensor data, data offset %" PRIu64 ")\n",
                    p + 1, infer_gguf_part_path(g, p), infer_gguf_file_size(part), infer_gguf_n_kv(part),
                    infer_gguf_n_tensors(part), compute_totals(part).bytes, infer_gguf_data_offset(part));
        }
    }
    fputc('\n', out);

    int key_w = 8;
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        int n = (int)strlen(infer_gguf_kv_key(g, i));
        if (n > key_w) key_w = n < 48 ? n : 48;
    }
    fprintf(out, "metadata:\n");
    for (int64_t i = 0; i < infer_gguf_n_kv(g); i++) {
        infer_gguf_type t = infer_gguf_kv_type(g, i);
        char type[40];
        if (t == INFER_GGUF_ARRAY)
            snprintf(type, sizeof type, "%s[%" PRIu64 "]", value_type_name(infer_gguf_kv_arr_type(g, i)),
                     infer_gguf_kv_arr_len(g, i));
        else
            snprintf(type, sizeof type, "%s", value_type_name(t));
        fprintf(out, "  %-*s %-16s = ", key_w, infer_gguf_kv_key(g, i), type);
        print_value(out, g, i, false, full);
        fputc('\n', out);
    }

    int name_w = 4;
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        int n = (int)strlen(infer_gguf_tensor_name(g, i));
        if (n > name_w) name_w = n < 64 ? n : 64;
    }
    fprintf(out, "\ntensors:\n  %5s  %-*s %-8s %-24s %12s %12s%s\n", "#", name_w, "name", "type", "shape (ggml order)",
            "offset", "bytes", n_parts > 1 ? "  part" : "");
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        char shape[128] = "[", buf[32];
        size_t used = 1;
        for (uint32_t d = 0; d < infer_gguf_tensor_n_dims(g, i); d++)
            used += (size_t)snprintf(shape + used, sizeof shape - used, d ? ", %" PRIu64 : "%" PRIu64,
                                     infer_gguf_tensor_dim(g, i, d));
        snprintf(shape + used, sizeof shape - used, "]");
        fprintf(out, "  %5" PRId64 "  %-*s %-8s %-24s %12" PRIu64 " %12" PRIu64, i, name_w,
                infer_gguf_tensor_name(g, i), type_name_or_id(infer_gguf_tensor_type(g, i), buf, sizeof buf), shape,
                infer_gguf_tensor_offset(g, i), infer_gguf_tensor_bytes(g, i));
        if (n_parts > 1) fprintf(out, "  %4" PRId32, infer_gguf_tensor_part(g, i) + 1);
        fputc('\n', out);
    }
    fprintf(out, "\ntotals: %" PRId64 " tensors, %" PRIu64 " params, %" PRIu64 " bytes", infer_gguf_n_tensors(g),
            tot.params, tot.bytes);
    if (tot.params) fprintf(out, ", %.4f bits per weight", 8.0 * (double)tot.bytes / (double)tot.params);
    fputc('\n', out);
}

static void usage(FILE *out, const char *argv0) {
    (void)argv0;
    fprintf(out, "usage: infer-gguf FILE [--json] [--full]\n"
                 "  Shows the header, metadata, tensor table and totals of a GGUF file.\n"
                 "  --json  one JSON object: metadata {key: value} (arrays in full), tensors [...]\n"
                 "  --full  text mode: show every array item and whole strings\n"
                 "  -h, --help  this text;  --version  the library version\n");
}

int main(int argc, char **argv) {
    const char *path = NULL;
    bool json = false, full = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--full") == 0) full = true;
        else if (tool_help_or_version(argv[i], argv[0], usage)) return 0;
        else if (argv[i][0] == '-' && argv[i][1] != 0) {
            fprintf(stderr, "error: unknown option '%s'\n", argv[i]);
            usage(stderr, argv[0]);
            return 2;
        } else if (path) {
            fprintf(stderr, "error: more than one file given\n");
            usage(stderr, argv[0]);
            return 2;
        } else path = argv[i];
    }
    if (!path) {
        usage(stderr, argv[0]);
        return 2;
    }

    infer_gguf *g = NULL;
    infer_error err;
    infer_status st = infer_gguf_open(path, &g, &err);
    if (st != INFER_OK) {
        fprintf(stderr, "error: %s\n", err.message);
        return 1;
    }
    /* The first part of a split model: show the whole set (every part is opened and the
     * set checked; a missing or mismatched part is an error naming it). A later part is
     * shown alone. */
    int64_t ki = infer_gguf_find_key(g, "split.count"), ni = infer_gguf_find_key(g, "split.no");
    if (ki >= 0 && infer_gguf_kv_uint(g, ki) > 1 && (ni < 0 || infer_gguf_kv_uint(g, ni) == 0)) {
        infer_gguf_close(g);
        g = NULL;
        if ((st = infer_gguf_open_split(path, &g, &err)) != INFER_OK) {
            fprintf(stderr, "error: %s\n", err.message);
            return 1;
        }
    } else if (ki >= 0 && ni >= 0 && infer_gguf_kv_uint(g, ni) > 0) {
        fprintf(stderr, "note: this is part %" PRIu64 " of %" PRIu64 " of a split model; give the first part to see the set\n",
                infer_gguf_kv_uint(g, ni) + 1, infer_gguf_kv_uint(g, ki));
    }
    if (json) print_json(stdout, path, g);
    else print_text(stdout, path, g, full);
    infer_gguf_close(g);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: writing the output failed\n");
        return 1;
    }
    return 0;
}
