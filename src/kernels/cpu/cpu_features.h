/* Run-time choice of the CPU kernel ISA. Detection runs once (CPUID + XGETBV on x86;
 * getauxval(AT_HWCAP/AT_HWCAP2) on aarch64 Linux, sysctlbyname on macOS);
 * INFER_CPU_ISA=scalar|avx2|avx512|amx (x86) or scalar|neon|dotprod|i8mm (aarch64) may
 * force a lower path of the same family. */
#ifndef INFER_CPU_FEATURES_H
#define INFER_CPU_FEATURES_H

typedef enum infer_cpu_isa {
    INFER_ISA_SCALAR = 0,
    /* aarch64 levels, each including the one before; all below the x86 levels so that
     * `isa >= INFER_ISA_AVX2` is false on ARM */
    INFER_ISA_NEON,          /* base ASIMD (every ARMv8-A) */
    INFER_ISA_NEON_DOTPROD,  /* + SDOT/UDOT (FEAT_DotProd, ARMv8.2+; HWCAP_ASIMDDP) */
    INFER_ISA_NEON_I8MM,     /* + SMMLA int8 matrix multiply (FEAT_I8MM; HWCAP2_I8MM) */
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
/* 1 for the aarch64 levels (NEON, NEON_DOTPROD, NEON_I8MM). */
int infer_cpu_isa_is_arm(infer_cpu_isa isa);

#endif
