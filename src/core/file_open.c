#include "core/file_open.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* What a non-regular file is, for the message. */
static const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

static infer_status refuse(infer_error *err, const char *path, mode_t mode) {
    const char *kind = file_kind(mode);
    if (strcmp(kind, "not a regular file") == 0) return infer_err(err, INFER_ERR_IO, "'%s' is not a regular file", path);
    return infer_err(err, INFER_ERR_IO, "'%s' is %s, not a regular file", path, kind);
}

infer_status infer_file_open_regular(const char *path, int *fd_out, uint64_t *size_out, infer_error *err) {
    if (fd_out) *fd_out = -1;
    if (!path || !fd_out || !size_out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_file_open_regular: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        struct stat sb;
        /* A socket cannot be opened at all (ENXIO): say what it is rather than the errno text. */
        if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) return refuse(err, path, sb.st_mode);
        return infer_err(err, INFER_ERR_IO, "cannot open '%s': %s", path, strerror(e));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return infer_err(err, INFER_ERR_IO, "cannot stat '%s': %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return refuse(err, path, sb.st_mode);
    }
    /* Regular files ignore O_NONBLOCK, but a caller may hand the descriptor to code that
     * expects a blocking one: restore the ordinary mode. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *fd_out = fd;
    *size_out = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
    return INFER_OK;
}

infer_status infer_file_read_all(const char *path, uint64_t max_bytes, char **data_out, size_t *len_out,
                                 infer_error *err) {
    if (!data_out) return infer_err(err, INFER_ERR_INVALID_ARG, "infer_file_read_all: data_out is NULL");
    *data_out = NULL;
    if (len_out) *len_out = 0;
    int fd;
    uint64_t size;
    infer_status st = infer_file_open_regular(path, &fd, &size, err);
    if (st != INFER_OK) return st;
    if ((max_bytes && size > max_bytes) || size >= SIZE_MAX) {
        close(fd);
        return infer_err(err, INFER_ERR_IO, "'%s' is %" PRIu64 " bytes, more than the %" PRIu64 " allowed", path, size,
                         max_bytes ? max_bytes : (uint64_t)SIZE_MAX - 1);
    }
    /* The size is a hint (the file may change under us): read until end of file, growing
     * the buffer, but never past max_bytes. */
    size_t cap = (size_t)size + 1, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return infer_err(err, INFER_ERR_NOMEM, "out of memory reading '%s' (%" PRIu64 " bytes)", path, size);
    }
    for (;;) {
        if (len == cap) {
            if (max_bytes && len > max_bytes) break;
            size_t grown_cap = cap * 2;
            char *grown = grown_cap > cap ? realloc(buf, grown_cap + 1) : NULL;
            if (!grown) {
                free(buf);
                close(fd);
                return infer_err(err, INFER_ERR_NOMEM, "out of memory reading '%s'", path);
            }
            buf = grown;
            cap = grown_cap;
        }
        ssize_t got = read(fd, buf + len, cap - len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return infer_err(err, INFER_ERR_IO, "cannot read '%s': %s", path, strerror(e));
        }
        if (got == 0) break;
        len += (size_t)got;
    }
    close(fd);
    if (max_bytes && len > max_bytes) {
        free(buf);
        return infer_err(err, INFER_ERR_IO, "'%s' grew past the %" PRIu64 " bytes allowed while being read", path, max_bytes);
    }
    buf[len] = '\0';
    *data_out = buf;
    if (len_out) *len_out = len;
    return INFER_OK;
}
