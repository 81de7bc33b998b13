/* See test_remove_tree in testdata.h. nftw walks depth first (FTW_DEPTH: a folder after
 * its entries) without following links (FTW_PHYS: a link is removed, never what it points
 * to), so a test's temporary tree goes without a shell or rm. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include "testdata.h"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int test_remove_tree(const char *path) {
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0) return 0;
    return errno == ENOENT ? 0 : -1;
}
