/* Reading everything a caller can read from an open GGUF, for the robustness test and
 * the GGUF fuzz target: under a sanitizer any read outside the file is then caught. */
#ifndef INFER_TEST_GGUF_WALK_H
#define INFER_TEST_GGUF_WALK_H

#include <stdint.h>

#include "infer.h"

/* Called when the handle contradicts itself: what names the check, i the entry. */
typedef void (*test_gguf_walk_broken_fn)(const char *what, int64_t i);

/* Reads every key and value (arrays element by element, strings byte by byte), finds
 * each key and tensor again by name, and reads the first and last byte of each tensor's
 * data. Calls broken() for a key that is NULL, a key or tensor name that finds another
 * entry, or a tensor of 0 bytes. Returns a sum of what it read (so the reads stay). */
unsigned test_gguf_walk(const infer_gguf *g, test_gguf_walk_broken_fn broken);

#endif
