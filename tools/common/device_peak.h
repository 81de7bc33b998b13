/* Peak memory bandwidth of well-known GPUs, for infer-bench's "% of peak" on GPU rows.
 * Vendor datasheet figures (GB/s, 10^9 bytes). --peak-gbps overrides the table. */
#ifndef INFER_DEVICE_PEAK_H
#define INFER_DEVICE_PEAK_H

/* The peak GB/s of the device named `device` (as Vulkan reports it, e.g.
 * "NVIDIA H100 80GB HBM3"), or 0 when it is not in the table. */
double device_peak_gbps(const char *device);

#endif
