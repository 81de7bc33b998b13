/* Opening files the library or a tool reads (models, texts, and later session files,
 * templates, grammars, schemas): the one rule for all of them.
 *
 * A path may name a FIFO with no writer, a directory, a device (/dev/zero never ends)
 * or a socket. A plain open() of a FIFO blocks until a writer appears, and reading a
 * device may never stop, so every reader goes through infer_file_open_regular: it opens
 * with O_NONBLOCK (which never waits), checks with fstat that the result is a regular
 * file, and refuses anything else with a message naming the path and what it is. */
#ifndef INFER_CORE_FILE_OPEN_H
#define INFER_CORE_FILE_OPEN_H

#include <stddef.h>
#include <stdint.h>

#include "infer.h"

/* Opens path read-only (close-on-exec, blocking mode restored once it is known to be a
 * regular file). On success *fd_out is the descriptor (the caller closes it) and
 * *size_out the file size. Errors: INFER_ERR_IO with "cannot open 'P': reason" or
 * "'P' is a directory / FIFO / socket / character device / block device, not a regular
 * file"; INFER_ERR_INVALID_ARG for NULL arguments. Never blocks. */
infer_status infer_file_open_regular(const char *path, int *fd_out, uint64_t *size_out, infer_error *err);

/* Reads a whole regular file (opened as above) into a malloc'd buffer with a NUL after
 * the last byte; *len_out (may be NULL) gets the length without that NUL. Files larger
 * than max_bytes are refused (INFER_ERR_IO naming the size; 0 means no limit). The caller
 * frees *data_out. On error *data_out is NULL. */
infer_status infer_file_read_all(const char *path, uint64_t max_bytes, char **data_out, size_t *len_out,
                                 infer_error *err);

#endif
