/* CPU feature detection. An instruction set is usable only when the CPU reports it
 * (CPUID) AND the OS saves its register state across context switches (XCR0 via XGETBV):
 * bits 1-2 (SSE/AVX) for AVX2, plus bits 5-7 (opmask, ZMM upper halves, ZMM16-31) for
 * AVX-512. AMX additionally needs CPUID AMX-TILE and AMX-INT8, XCR0 bits 17-18 (tile
 * config and tile data) and Linux's permission for the tile data state (XFD-guarded):
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) is asked once, during detection;
 * a refusal means no AMX, never a crash.
 * On aarch64 the kernel tells what the CPU has: Linux through the auxiliary vector
 * (HWCAP_ASIMD, HWCAP_ASIMDDP for SDOT, HWCAP2_I8MM for SMMLA), macOS through
 * sysctlbyname("hw.optional.arm.FEAT_*"). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "kernels/cpu/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

/* Asks Linux for the tile data state; 1 when granted (or already held). */
static int request_amx_permission(void) {
#if defined(__linux__) && defined(SYS_arch_prctl)
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    unsigned long bits = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &bits) != 0) return 0;
    return (bits >> XFEATURE_XTILEDATA) & 1;
#else
    return 0;
#endif
}

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static infer_cpu_isa detect_x86(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return INFER_ISA_SCALAR;
    const int has_osxsave = (c >> 27) & 1, has_fma = (c >> 12) & 1, has_f16c = (c >> 29) & 1;
    const int has_avx = (c >> 28) & 1;
    if (!has_osxsave || !has_avx) return INFER_ISA_SCALAR;
    const unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return INFER_ISA_SCALAR;
    if (__get_cpuid_max(0, NULL) < 7) return INFER_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    const int has_avx2 = (b >> 5) & 1;
    if (!(has_avx2 && has_fma && has_f16c)) return INFER_ISA_SCALAR;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
              avx512vl = (b >> 31) & 1, avx512vnni = (c >> 11) & 1;
    if (avx512f && avx512dq && avx512bw && avx512vl && avx512vnni && (xcr0 & 0xE6) == 0xE6) {
        const int amx_tile = (d >> 24) & 1, amx_int8 = (d >> 25) & 1;
        const unsigned long long xtile = (1ull << 17) | (1ull << 18);
        if (amx_tile && amx_int8 && (xcr0 & xtile) == xtile && request_amx_permission()) return INFER_ISA_AMX;
        return INFER_ISA_AVX512;
    }
    return INFER_ISA_AVX2;
}
#endif

#if defined(__aarch64__)
#if defined(__linux__)
#include <sys/auxv.h>
/* The bit values of the Linux arm64 ABI (asm/hwcap.h), for C libraries without them. */
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
#elif defined(__APPLE__)
#include <sys/sysctl.h>
static int sysctl_flag(const char *name) {
    int v = 0;
    size_t len = sizeof v;
    return sysctlbyname(name, &v, &len, NULL, 0) == 0 && v != 0;
}
#endif

static infer_cpu_isa detect_arm(void) {
#if defined(__linux__)
    const unsigned long hw = getauxval(AT_HWCAP);
#if defined(AT_HWCAP2)
    const unsigned long hw2 = getauxval(AT_HWCAP2);
#else
    const unsigned long hw2 = 0;
#endif
    if (!(hw & HWCAP_ASIMD)) return INFER_ISA_SCALAR;
    const int dotprod = (hw & HWCAP_ASIMDDP) != 0, i8mm = (hw2 & HWCAP2_I8MM) != 0;
#elif defined(__APPLE__)
    /* every Apple arm64 CPU has ASIMD; M1 and later have DotProd, M2 and later I8MM */
    const int dotprod = sysctl_flag("hw.optional.arm.FEAT_DotProd");
    const int i8mm = sysctl_flag("hw.optional.arm.FEAT_I8MM");
#else
    const int dotprod = 0, i8mm = 0;   /* no known way to ask: the ABI's baseline */
#endif
    /* the i8mm level's kernels use SDOT as well, so that level needs both */
    if (dotprod && i8mm) return INFER_ISA_NEON_I8MM;
    if (dotprod) return INFER_ISA_NEON_DOTPROD;
    return INFER_ISA_NEON;
}
#endif

static infer_cpu_isa detected_isa = INFER_ISA_SCALAR;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    detected_isa = detect_x86();
#elif defined(__aarch64__)
    detected_isa = detect_arm();
#else
    detected_isa = INFER_ISA_SCALAR;
#endif
}

infer_cpu_isa infer_cpu_isa_detect(void) {
    pthread_once(&detect_once, detect);
    return detected_isa;
}

int infer_cpu_isa_is_arm(infer_cpu_isa isa) {
    return isa == INFER_ISA_NEON || isa == INFER_ISA_NEON_DOTPROD || isa == INFER_ISA_NEON_I8MM;
}

infer_cpu_isa infer_cpu_isa_active(void) {
    const infer_cpu_isa isa = infer_cpu_isa_detect();
    const char *force = getenv("INFER_CPU_ISA");
    if (!force || !*force) return isa;
    static const struct { const char *name; infer_cpu_isa isa; } names[] = {
        {"scalar", INFER_ISA_SCALAR}, {"neon", INFER_ISA_NEON}, {"dotprod", INFER_ISA_NEON_DOTPROD},
        {"i8mm", INFER_ISA_NEON_I8MM}, {"avx2", INFER_ISA_AVX2}, {"avx512", INFER_ISA_AVX512},
        {"amx", INFER_ISA_AMX},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(force, names[i].name) != 0) continue;
        const infer_cpu_isa want = names[i].isa;
        /* only ever lower, and only within the machine's family (scalar is in both); an
         * unknown value or a request above the hardware is ignored */
        if (want == INFER_ISA_SCALAR) return want;
        if (infer_cpu_isa_is_arm(want) == infer_cpu_isa_is_arm(isa) && want <= isa) return want;
        return isa;
    }
    return isa;
}

const char *infer_cpu_isa_str(infer_cpu_isa isa) {
    switch (isa) {
    case INFER_ISA_AMX: return "amx-int8";
    case INFER_ISA_AVX512: return "avx512-vnni";
    case INFER_ISA_AVX2: return "avx2";
    case INFER_ISA_NEON_I8MM: return "neon-i8mm";
    case INFER_ISA_NEON_DOTPROD: return "neon-dotprod";
    case INFER_ISA_NEON: return "neon";
    default: return "scalar";
    }
}
