#include "core/meminfo.h"

#include <stdio.h>
#include <string.h>

int64_t infer_mem_available(void) {
    FILE *fp = fopen("/proc/meminfo", "r");
    if (!fp) return -1;
    char line[256];
    int64_t avail = -1;
    while (fgets(line, sizeof line, fp)) {
        long long kb;
        if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
            avail = (int64_t)kb * 1024;
            break;
        }
    }
    fclose(fp);
    return avail;
}
