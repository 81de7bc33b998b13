/* CPU feature detection. An instruction set is usable only when the CPU reports it
 * (CPUID) AND the OS saves its register state across context switches (XCR0 via XGETBV):
 * bits 1-2 (SSE/AVX) for AVX2, plus bits 5-7 (opmask, ZMM upper halves, ZMM16-31) for
 * AVX-512. AMX additionally needs CPUID AMX-TILE and AMX-INT8, XCR0 bits 17-18 (tile
 * config and tile data) and Linux's permission for the tile data state (XFD-guarded):
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) is asked once, during detection;
 * a refusal means no AMX, never a crash. */
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

static infer_cpu_isa detected_isa = INFER_ISA_SCALAR;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

static void detect(void) {
#if defined(__x86_64__) || defined(__i386__)
    detected_isa = detect_x86();
#elif defined(__aarch64__)
    detected_isa = INFER_ISA_NEON;
#else
    detected_isa = INFER_ISA_SCALAR;
#endif
}

infer_cpu_isa infer_cpu_isa_detect(void) {
    pthread_once(&detect_once, detect);
    return detected_isa;
}

infer_cpu_isa infer_cpu_isa_active(void) {
    infer_cpu_isa isa = infer_cpu_isa_detect();
    const char *force = getenv("INFER_CPU_ISA");
    if (force && *force) {
        infer_cpu_isa want = isa;
        if (!strcmp(force, "scalar")) want = INFER_ISA_SCALAR;
        else if (!strcmp(force, "avx2")) want = INFER_ISA_AVX2;
        else if (!strcmp(force, "avx512")) want = INFER_ISA_AVX512;
        else if (!strcmp(force, "amx")) want = INFER_ISA_AMX;
        else if (!strcmp(force, "neon")) want = INFER_ISA_NEON;
        /* only ever lower; an unknown value or a request above the hardware is ignored */
        if (want < isa && !(want == INFER_ISA_NEON && isa != INFER_ISA_NEON)) isa = want;
        else if (want == INFER_ISA_SCALAR) isa = want;
    }
    return isa;
}

const char *infer_cpu_isa_str(infer_cpu_isa isa) {
    switch (isa) {
    case INFER_ISA_AMX: return "amx-int8";
    case INFER_ISA_AVX512: return "avx512-vnni";
    case INFER_ISA_AVX2: return "avx2";
    case INFER_ISA_NEON: return "neon";
    default: return "scalar";
    }
}
