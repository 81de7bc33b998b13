/* See test_pin_batch_invariant_cpu in testdata.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include "testdata.h"

void test_pin_batch_invariant_cpu(void) {
    const char *isa = getenv("INFER_CPU_ISA");
    if (!isa || !*isa || strcmp(isa, "amx") == 0) setenv("INFER_CPU_ISA", "avx512", 1);
    setenv("INFER_OPENBLAS", "0", 1);
    setenv("INFER_CPU_PANELS", "0", 1);
}
