#include "tool_progress.h"
#include "tool_util.h"

#include <string.h>
#include <unistd.h>

#define PLAIN_INTERVAL_S 2.0   /* plain-line mode: at most one line per interval */
#define TTY_INTERVAL_S 0.1

const char *tool_format_bytes(char *buf, size_t cap, double bytes) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) { bytes /= 1024.0; u++; }
    snprintf(buf, cap, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

void tool_progress_start(tool_progress *p, FILE *out, const char *label, uint64_t total) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out)) == 1;
    p->t_start = tool_now_s();
    p->t_last = -1e9;
    p->total = total;
    snprintf(p->label, sizeof p->label, "%s", label);
}

static void draw(tool_progress *p, uint64_t done, bool final) {
    const double dt = tool_now_s() - p->t_start;
    const double rate = dt > 0 ? (double)done / dt : 0;
    char b_done[32], b_total[32], b_rate[32], eta[32] = "";
    tool_format_bytes(b_done, sizeof b_done, (double)done);
    tool_format_bytes(b_total, sizeof b_total, (double)p->total);
    tool_format_bytes(b_rate, sizeof b_rate, rate);
    if (p->total && rate > 0 && done < p->total && !final)
        snprintf(eta, sizeof eta, " ETA %.0fs", (double)(p->total - done) / rate);
    if (p->tty) {
        char bar[31] = "";
        if (p->total) {
            int fill = (int)(30.0 * (double)done / (double)p->total);
            if (fill > 30) fill = 30;
            memset(bar, '#', (size_t)fill);
            memset(bar + fill, '-', (size_t)(30 - fill));
            bar[30] = 0;
        }
        fprintf(p->out, "\r%s [%s] %s / %s  %s/s%s\033[K", p->label, bar, b_done, p->total ? b_total : "?", b_rate, eta);
    } else if (p->total) {
        fprintf(p->out, "%s: %s / %s (%.0f%%), %s/s%s\n", p->label, b_done, b_total, 100.0 * (double)done / (double)p->total,
                b_rate, eta);
    } else {
        fprintf(p->out, "%s: %s, %s/s\n", p->label, b_done, b_rate);
    }
    fflush(p->out);
}

void tool_progress_update(tool_progress *p, uint64_t done, bool force) {
    const double now = tool_now_s();
    if (!force && now - p->t_last < (p->tty ? TTY_INTERVAL_S : PLAIN_INTERVAL_S)) return;
    p->t_last = now;
    draw(p, done, false);
}

void tool_progress_finish(tool_progress *p, uint64_t done) {
    draw(p, done, true);
    if (p->tty) fputc('\n', p->out);
}
