#include "testdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *join(const char *dir, const char *rel) {
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, rel);
    return p;
}

char *test_fixture(const char *rel) {
    const char *dirs[] = {INFER_TEST_DATA_DIR, INFER_SHARED_DATA_DIR};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char *p = join(dirs[i], rel);
        if (p && access(p, R_OK) == 0) return p;
        free(p);
    }
    return NULL;
}

char *test_fixture_or_skip(const char *rel) {
    char *p = test_fixture(rel);
    if (!p) {
        printf("SKIPPED: fixture %s found neither in tests/data nor in ../shared/testdata\n", rel);
        exit(TEST_SKIP_EXIT);
    }
    return p;
}

void *test_read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = 0; if (len) *len = (size_t)n; }
    return buf;
}
