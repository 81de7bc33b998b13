/* What the operating system says about memory, for refusing allocations that would
 * meet the OOM killer instead of an error. */
#ifndef INFER_CORE_MEMINFO_H
#define INFER_CORE_MEMINFO_H
#include <stdint.h>

/* MemAvailable from /proc/meminfo in bytes, or -1 when unknown (not Linux, no /proc). */
int64_t infer_mem_available(void);

#endif
