/* Run-time choice of the CPU kernel ISA. Detection runs once (CPUID + XGETBV on x86,
 * compile-time on aarch64); INFER_CPU_ISA=scalar|avx2|avx512|amx may force a lower path. */
#ifndef INFER_CPU_FEATURES_H
#define INFER_CPU_FEATURES_H

typedef enum infer_cpu_isa {
    INFER_ISA_SCALAR = 0,
    INFER_ISA_NEON,
    INFER_ISA_AVX2,        /* AVX2 + FMA + F16C */
    INFER_ISA_AVX512,      /* F/BW/VL/DQ + VNNI, with the OS saving ZMM and opmask state */
    INFER_ISA_AMX,         /* AVX512 + AMX-TILE/AMX-INT8, XCR0 tile state, and the kernel's
                            * permission to use tile data (asked once per process) */
} infer_cpu_isa;

/* Best ISA this machine and OS support (cached after the first call). */
infer_cpu_isa infer_cpu_isa_detect(void);
/* The ISA kernels should use: detected, lowered by INFER_CPU_ISA if set (re-read each
 * call so tests can switch paths with setenv). Never above what was detected. */
infer_cpu_isa infer_cpu_isa_active(void);
const char *infer_cpu_isa_str(infer_cpu_isa isa);

#endif
