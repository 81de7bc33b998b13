/* Split GGUF models (llama.cpp's gguf-split layout).
 *
 * Reference: split/synth-llama-Q8_0-0000N-of-00003.gguf was split by llama.cpp's own
 * gguf-split from models/synth-llama-Q8_0.gguf. Loaded from its first part it must give
 * bit for bit the logits of the single file (as llama.cpp does), and the reference's
 * logits (golden/synth-llama-Q8_0.logits.f32) within the quantized tolerance of
 * ../shared/README.md.
 *
 * Hostile sets: the test splits the bundled stories260K into parts with the project's
 * GGUF writer, first as a valid set (must load and match the single file bit for bit),
 * then with one thing wrong each: a missing part, a wrong split.count, a wrong split.no,
 * a tensor in two parts, a tensor missing, a part of another model, a first part whose
 * name does not say where the others are, a later part given first, a truncated part, a
 * FIFO as a part. Each is refused with a message naming the part (or the tensor). */
#include "test_hostile_model.h"

#include <sys/stat.h>

#include "logits.h"

#define SPLIT_DIR "split"

static char *single_path;   /* stories260K */

/* Logits of `ids` (all rows) from the model at path, CPU, 2 threads; malloc'd. */
static float *logits_of(const char *path, const int32_t *ids, int32_t n, int32_t *n_vocab) {
    infer_model *m = NULL;
    infer_error err = {0};
    if (infer_model_load(path, NULL, &m, &err) != INFER_OK) fail_msg("%s: %s", path, err.message);
    infer_ctx_params cp = infer_ctx_default_params();
    cp.backend = INFER_BACKEND_CPU;
    cp.n_threads = 2;
    cp.n_ctx = 128;
    infer_ctx *c = NULL;
    if (infer_ctx_new(m, &cp, &c, &err) != INFER_OK) fail_msg("%s: %s", path, err.message);
    int8_t want[128];
    memset(want, 1, sizeof want);
    assert_true(n <= 128);
    if (infer_ctx_decode(c, ids, NULL, want, n) != INFER_OK) fail_msg("%s: %s", path, infer_ctx_last_error(c));
    *n_vocab = infer_model_n_vocab(m);
    float *out = malloc((size_t)n * (size_t)*n_vocab * sizeof *out);
    assert_non_null(out);
    for (int32_t i = 0; i < n; i++) memcpy(out + (size_t)i * *n_vocab, infer_ctx_logits(c, i), (size_t)*n_vocab * sizeof *out);
    infer_ctx_free(c);
    infer_model_free(m);
    return out;
}

/* ---------------------------------------------------------------- llama.cpp's split */

static void test_reference_split_matches_single_file(void **state) {
    (void)state;
    char *first = test_fixture(SPLIT_DIR "/synth-llama-Q8_0-00001-of-00003.gguf");
    char *single = test_fixture("models/synth-llama-Q8_0.gguf");
    char *golden = test_fixture("golden/synth-llama-Q8_0.logits.f32");
    char *prompt = test_fixture("golden/synth-llama-Q8_0.prompt.txt");
    if (!first || !golden || !prompt) {
        free(first), free(single), free(golden), free(prompt);
        skip();   /* cmocka reports it skipped, never passed */
    }
    int32_t n = 0, V = 0, V1 = 0;
    int32_t *ids = test_read_ids(prompt, &n);
    assert_non_null(ids);
    assert_int_equal(n, 64);

    infer_gguf *g = NULL;
    infer_error err = {0};
    assert_int_equal(infer_gguf_open_split(first, &g, &err), INFER_OK);
    assert_int_equal(infer_gguf_n_parts(g), 3);
    assert_int_equal(infer_gguf_n_tensors(g), 30);   /* split.tensors.count */
    /* every tensor's bytes lie inside the mapping of the part that lists it */
    for (int64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        const infer_gguf *part = infer_gguf_part(g, infer_gguf_tensor_part(g, i));
        int64_t j = infer_gguf_find_tensor(part, infer_gguf_tensor_name(g, i));
        assert_true(j >= 0);
        assert_ptr_equal(infer_gguf_tensor_data(g, i), infer_gguf_tensor_data(part, j));
    }
    infer_gguf_close(g);

    float *ours = logits_of(first, ids, n, &V);
    /* the reference's logits, within the quantized-file tolerance */
    size_t ref_len = 0;
    float *ref = test_read_all(golden, &ref_len);
    assert_int_equal(ref_len, (size_t)n * (size_t)V * sizeof(float));
    double kl = 0;
    for (int32_t i = 0; i < n; i++) kl += test_kl_row(ref + (size_t)i * V, ours + (size_t)i * V, V);
    print_message("split vs reference logits: mean KL %.3g over %d positions\n", kl / n, n);
    assert_true(kl / n <= 5e-3);
    /* The single file the split was made from, bit for bit. Where ../shared is absent,
     * the same tensors and metadata joined into one file by the GGUF writer stand in. */
    char *joined = NULL;
    if (!single) {
        assert_int_equal(infer_gguf_open_split(first, &g, &err), INFER_OK);
        static const char *const split_keys[] = {"split.no", "split.count", "split.tensors.count", NULL};
        joined = hm_save(hm_clone(g, split_keys, NULL), "joined-synth-llama-Q8_0.gguf");
        infer_gguf_close(g);
        print_message("models/synth-llama-Q8_0.gguf absent: comparing with the parts joined into one file\n");
    }
    float *one = logits_of(single ? single : joined, ids, n, &V1);
    assert_int_equal(V1, V);
    assert_memory_equal(one, ours, (size_t)n * (size_t)V * sizeof(float));
    free(one);
    if (joined) unlink(joined);
    free(joined);
    free(ours), free(ref), free(ids), free(first), free(single), free(golden), free(prompt);
}

/* ---------------------------------------------------------------- sets made here */

enum { N_PARTS = 3 };

/* What one hostile set changes (all zero: a valid set). */
typedef struct split_case {
    const char *name;            /* file prefix */
    int drop_part;               /* 1-based part not written (0: none) */
    int part_count_of;           /* 1-based part whose split.count is wrong */
    int part_no_of;              /* 1-based part whose split.no is wrong */
    int dup_tensor;              /* the first tensor written again into the last part */
    int drop_tensor;             /* the last tensor left out */
    int foreign_part;            /* 1-based part with another model's split.tensors.count */
    int foreign_arch;            /* 1-based part carrying general.architecture = qwen2 */
    int truncate_part;           /* 1-based part cut to half its size */
    int fifo_part;               /* 1-based part replaced by a FIFO */
    const char *first_suffix;    /* the first part's file name suffix (default gguf-split's) */
} split_case;

static char *part_name(const char *prefix, int no, int count) {
    char *p = malloc(512);
    assert_non_null(p);
    snprintf(p, 512, "%s/%s-%05d-of-%05d.gguf", hm_dir, prefix, no, count);
    return p;
}

/* Writes stories260K as N_PARTS parts with case c's defect; returns the first part's path. */
static char *write_split(const split_case *c) {
    infer_gguf *src = hm_open_fixture("models/stories260K.gguf");
    int64_t nt = infer_gguf_n_tensors(src);
    int64_t per = (nt + N_PARTS - 1) / N_PARTS;
    uint32_t total = (uint32_t)nt + (c->dup_tensor ? 1 : 0);   /* a dropped tensor is still counted */
    char *first = NULL;
    for (int p = 0; p < N_PARTS; p++) {
        infer_gguf_writer *w = infer_gguf_writer_new();   /* the metadata goes in the first part only */
        assert_non_null(w);
        for (int64_t k = 0; p == 0 && k < infer_gguf_n_kv(src); k++) hm_copy_kv(w, src, k);
        const int no1 = p + 1;
        infer_gguf_writer_set_u16(w, "split.no", (uint16_t)(c->part_no_of == no1 ? p + 1 : p));
        infer_gguf_writer_set_u16(w, "split.count", (uint16_t)(c->part_count_of == no1 ? N_PARTS + 1 : N_PARTS));
        infer_gguf_writer_set_i32(w, "split.tensors.count", (int32_t)(c->foreign_part == no1 ? total + 7 : total));
        if (c->foreign_arch == no1) infer_gguf_writer_set_str(w, "general.architecture", "qwen2");
        for (int64_t i = p * per; i < (p + 1) * per && i < nt; i++) {
            if (c->drop_tensor && i == nt - 1) continue;
            hm_copy_tensor(w, src, i);
        }
        if (c->dup_tensor && p == N_PARTS - 1) hm_copy_tensor(w, src, 0);
        char *path = part_name(c->name, no1, N_PARTS);
        if (p == 0 && c->first_suffix) snprintf(strrchr(path, '/') + 1, 256, "%s%s", c->name, c->first_suffix);
        infer_error err = {0};
        if (c->drop_part == no1) {
            infer_gguf_writer_free(w);
        } else if (c->fifo_part == no1) {
            infer_gguf_writer_free(w);
            assert_int_equal(mkfifo(path, 0600), 0);
        } else {
            if (infer_gguf_writer_save(w, path, &err) != INFER_OK) fail_msg("%s: %s", path, err.message);
            infer_gguf_writer_free(w);
            if (c->truncate_part == no1) {
                struct stat sb;
                assert_int_equal(stat(path, &sb), 0);
                assert_int_equal(truncate(path, sb.st_size / 2), 0);
            }
        }
        if (p == 0) first = path;
        else free(path);
    }
    infer_gguf_close(src);
    return first;
}

static void remove_split(const split_case *c, char *first) {
    if (!getenv("INFER_HOSTILE_KEEP")) {
        unlink(first);
        for (int p = 2; p <= N_PARTS; p++) {
            char *path = part_name(c->name, p, N_PARTS);
            unlink(path);
            free(path);
        }
    }
    free(first);
}

static void test_valid_split_matches_single_file(void **state) {
    (void)state;
    split_case c = {.name = "valid"};
    char *first = write_split(&c);
    static const int32_t ids[] = {1, 403, 407, 261, 378, 430, 271, 400, 261, 1, 21};
    int32_t V1 = 0, V2 = 0, n = (int32_t)(sizeof ids / sizeof ids[0]);
    float *a = logits_of(single_path, ids, n, &V1);
    float *b = logits_of(first, ids, n, &V2);
    assert_int_equal(V1, V2);
    assert_memory_equal(a, b, (size_t)n * (size_t)V1 * sizeof(float));
    /* the same set through the inspection API */
    infer_gguf *g = NULL;
    infer_error err = {0};
    assert_int_equal(infer_gguf_open_split(first, &g, &err), INFER_OK);
    assert_int_equal(infer_gguf_n_parts(g), N_PARTS);
    assert_string_equal(infer_gguf_part_path(g, 0), first);
    assert_null(infer_gguf_part(g, N_PARTS));
    infer_gguf_close(g);
    /* a single file is a set of one */
    assert_int_equal(infer_gguf_open_split(single_path, &g, &err), INFER_OK);
    assert_int_equal(infer_gguf_n_parts(g), 1);
    assert_ptr_equal(infer_gguf_part(g, 0), g);
    assert_int_equal(infer_gguf_tensor_part(g, 0), 0);
    infer_gguf_close(g);
    free(a), free(b);
    remove_split(&c, first);
}

static void expect_split_refused(const split_case *c, const char *load_path, infer_status want, const char *needle,
                                 const char *needle2) {
    infer_model *m = NULL;
    infer_error err = {0};
    infer_status st = infer_model_load(load_path, NULL, &m, &err);
    print_message("  %-16s %-22s %s\n", c->name, infer_status_str(st), err.message);
    if (st != want || !strstr(err.message, needle) || (needle2 && !strstr(err.message, needle2)))
        fail_msg("%s: got %s '%s', wanted %s with '%s'%s%s", c->name, infer_status_str(st), err.message,
                 infer_status_str(want), needle, needle2 ? " and " : "", needle2 ? needle2 : "");
    assert_null(m);
    /* the inspection API refuses the same set the same way */
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open_split(load_path, &g, &err), want);
    assert_null(g);
}

static void test_hostile_sets(void **state) {
    (void)state;
    static const struct {
        split_case c;
        infer_status want;
        const char *needle, *needle2;
    } cases[] = {
        {{.name = "missing", .drop_part = 2}, INFER_ERR_IO, "split part 2 of 3 (", "missing-00002-of-00003.gguf'): cannot open"},
        {{.name = "count", .part_count_of = 3}, INFER_ERR_FORMAT, "split part 3 of 3 (", "split.count = 4, but the first part says 3"},
        {{.name = "number", .part_no_of = 2}, INFER_ERR_FORMAT, "split part 2 of 3 (", "split.no = 2, expected 1"},
        {{.name = "duplicate", .dup_tensor = 1}, INFER_ERR_FORMAT, "tensor 'token_embd.weight' is in part 1 (", "and again in part 3 ("},
        {{.name = "short", .drop_tensor = 1}, INFER_ERR_FORMAT, "parts hold 47 tensors together, but split.tensors.count says 48", NULL},
        {{.name = "foreign", .foreign_part = 2}, INFER_ERR_FORMAT, "split part 2 of 3 (", "split.tensors.count = 55, but the first part says 48"},
        {{.name = "arch", .foreign_arch = 3}, INFER_ERR_FORMAT, "split part 3 of 3 (", "general.architecture differs"},
        {{.name = "truncated", .truncate_part = 3}, INFER_ERR_FORMAT, "split part 3 of 3 ('", "truncated-00003-of-00003.gguf'): "},
        {{.name = "fifo", .fifo_part = 2}, INFER_ERR_IO, "split part 2 of 3 (", "is a FIFO (named pipe), not a regular file"},
        {{.name = "renamed", .first_suffix = ".gguf"}, INFER_ERR_FORMAT, "does not end in '-00001-of-00003.gguf'", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *first = write_split(&cases[i].c);
        expect_split_refused(&cases[i].c, first, cases[i].want, cases[i].needle, cases[i].needle2);
        if (cases[i].c.fifo_part) {
            char *f = part_name(cases[i].c.name, cases[i].c.fifo_part, N_PARTS);
            unlink(f);
            free(f);
        }
        remove_split(&cases[i].c, first);
    }
    /* A later part given as the model: refused, naming the first part to give instead. */
    split_case c = {.name = "later"};
    char *first = write_split(&c);
    char *second = part_name(c.name, 2, N_PARTS);
    expect_split_refused(&c, second, INFER_ERR_INVALID_ARG, "is part 2 of 3 of a split model: load it from its first part",
                         "later-00001-of-00003.gguf");
    free(second);
    remove_split(&c, first);
}

int main(void) {
    single_path = test_fixture_or_skip("models/stories260K.gguf");
    hm_make_dir("split");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_split_matches_single_file),
        cmocka_unit_test(test_valid_split_matches_single_file),
        cmocka_unit_test(test_hostile_sets),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    if (!getenv("INFER_HOSTILE_KEEP")) rmdir(hm_dir);
    free(single_path);
    return rc;
}
