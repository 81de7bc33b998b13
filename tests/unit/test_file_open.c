/* infer_file_open_regular / infer_file_read_all and the readers built on them (GGUF,
 * model load): a FIFO with no writer, a directory, /dev/zero and a unix socket are each
 * refused at once with INFER_ERR_IO and a message naming the path and what it is. A
 * blocking open would hang on the FIFO: alarm() turns that hang into a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/file_open.h"
#include "infer.h"

static char dir[64], fifo[96], sock_path[96], regular[96];

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "test_file_open: an open blocked for 10 s (FIFO without a writer?)\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(1);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/infer_file_open_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(sock_path, sizeof sock_path, "%s/sock", dir);
    snprintf(regular, sizeof regular, "%s/text.txt", dir);
    if (mkfifo(fifo, 0600) != 0) return -1;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) return -1;
    close(s);   /* the socket file stays */
    FILE *f = fopen(regular, "wb");
    if (!f) return -1;
    fputs("hello", f);
    fclose(f);
    signal(SIGALRM, on_alarm);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    unlink(fifo);
    unlink(sock_path);
    unlink(regular);
    rmdir(dir);
    return 0;
}

typedef struct bad_path { const char *path, *kind; } bad_path;

static void expect_refused(infer_status st, const infer_error *e, const bad_path *b) {
    assert_int_equal(st, INFER_ERR_IO);
    if (!strstr(e->message, b->kind) || !strstr(e->message, b->path)) fail_msg("message: %s", e->message);
}

static const bad_path *bad_paths(void) {
    static bad_path b[5];
    b[0] = (bad_path){fifo, "is a FIFO (named pipe), not a regular file"};
    b[1] = (bad_path){dir, "is a directory, not a regular file"};
    b[2] = (bad_path){"/dev/zero", "is a character device, not a regular file"};
    b[3] = (bad_path){sock_path, "is a socket, not a regular file"};
    b[4] = (bad_path){NULL, NULL};
    return b;
}

static void test_open_regular_refuses(void **state) {
    (void)state;
    for (const bad_path *b = bad_paths(); b->path; b++) {
        infer_error e = {0};
        int fd = 7;
        uint64_t size = 0;
        alarm(10);
        infer_status st = infer_file_open_regular(b->path, &fd, &size, &e);
        alarm(0);
        expect_refused(st, &e, b);
        assert_int_equal(fd, -1);
    }
}

static void test_read_all(void **state) {
    (void)state;
    char *data = NULL;
    size_t len = 0;
    infer_error e = {0};
    assert_int_equal(infer_file_read_all(regular, 0, &data, &len, &e), INFER_OK);
    assert_int_equal(len, 5);
    assert_string_equal(data, "hello");
    free(data);
    /* over the limit */
    assert_int_equal(infer_file_read_all(regular, 4, &data, &len, &e), INFER_ERR_IO);
    assert_null(data);
    assert_non_null(strstr(e.message, "5 bytes"));
    for (const bad_path *b = bad_paths(); b->path; b++) {
        alarm(10);
        infer_status st = infer_file_read_all(b->path, 0, &data, &len, &e);
        alarm(0);
        expect_refused(st, &e, b);
        assert_null(data);
    }
    assert_int_equal(infer_file_read_all("/nonexistent/x", 0, &data, &len, &e), INFER_ERR_IO);
    assert_non_null(strstr(e.message, "cannot open '/nonexistent/x'"));
}

/* The library's file readers go through the same rule. */
static void test_gguf_and_model_refuse(void **state) {
    (void)state;
    for (const bad_path *b = bad_paths(); b->path; b++) {
        infer_error e = {0};
        infer_gguf *g = NULL;
        alarm(10);
        infer_status st = infer_gguf_open(b->path, &g, &e);
        alarm(0);
        expect_refused(st, &e, b);
        assert_null(g);
        infer_model *m = NULL;
        alarm(10);
        st = infer_model_load(b->path, NULL, &m, &e);
        alarm(0);
        expect_refused(st, &e, b);
        assert_null(m);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_regular_refuses),
        cmocka_unit_test(test_read_all),
        cmocka_unit_test(test_gguf_and_model_refuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
