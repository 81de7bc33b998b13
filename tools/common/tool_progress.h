/* Progress display shared by the long-running tools (infer-quantize, infer-pull): a bar
 * redrawn in place on a terminal, plain lines at most every few seconds otherwise (logs,
 * pipes, CI). */
#ifndef INFER_TOOL_PROGRESS_H
#define INFER_TOOL_PROGRESS_H
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct tool_progress {
    FILE *out;
    bool tty;            /* redraw in place */
    double t_start, t_last;
    uint64_t total;      /* 0: unknown */
    char label[96];
} tool_progress;

/* Starts a display on out (stderr usually) for `total` units (bytes; 0 if unknown). */
void tool_progress_start(tool_progress *p, FILE *out, const char *label, uint64_t total);
/* Reports `done` units so far (bytes: shown with rate and ETA). force: draw even if a
 * line was drawn a moment ago. */
void tool_progress_update(tool_progress *p, uint64_t done, bool force);
/* Final state and a newline. */
void tool_progress_finish(tool_progress *p, uint64_t done);
/* "1.5 MiB", "230 B": human-readable bytes into buf. */
const char *tool_format_bytes(char *buf, size_t cap, double bytes);

#endif
