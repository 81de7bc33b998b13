/* Without the Vulkan backend compiled in, its constructor still links and says why. */
#include "kernels/backend.h"
#include "core/error.h"

#ifndef INFER_HAVE_VULKAN
infer_status infer_backend_vulkan_new(int device_index, int require_gpu, infer_backend **out, infer_error *err) {
    if (out) *out = NULL;
    return infer_err(err, INFER_ERR_NO_DEVICE, "built without Vulkan");
}
#else
/* The real constructor lives in src/kernels/vulkan/. ISO C wants a non-empty unit. */
typedef int infer_backend_novulkan_unused;
#endif
