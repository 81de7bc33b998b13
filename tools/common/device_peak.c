#include "device_peak.h"

#include <string.h>

/* First match wins: more specific names before their prefixes. */
static const struct {
    const char *name;   /* a substring of the device name */
    double gbps;
} k_peaks[] = {
    {"H200", 4800},     {"H100 PCIe", 2000}, {"H100 NVL", 3900}, {"H100", 3350},
    {"A100-SXM4-80GB", 2039}, {"A100 80GB", 1935}, {"A100", 1555},
    {"L40S", 864},      {"L40", 864},        {"L4", 300},        {"A10G", 600}, {"A10", 600},
    {"RTX 5090", 1792}, {"RTX 4090", 1008},  {"RTX 4080", 717},  {"RTX 3090 Ti", 1008},
    {"RTX 3090", 936},  {"RTX 3080", 760},   {"MI300X", 5300},   {"RX 7900 XTX", 960},
};

double device_peak_gbps(const char *device) {
    if (!device) return 0;
    for (size_t i = 0; i < sizeof k_peaks / sizeof *k_peaks; i++)
        if (strstr(device, k_peaks[i].name)) return k_peaks[i].gbps;
    return 0;
}
