/* The Vulkan backend's error helpers: VkResult names and statuses, and the sticky error
 * of a pass. Their own unit so that every vk_*.c file reports errors without depending on
 * the pass recorder (vk_record.c) or the allocator (vk_memory.c). */
#ifndef INFER_VK_ERROR_H
#define INFER_VK_ERROR_H

#include <vulkan/vulkan.h>

#include "infer.h"

typedef struct vk_backend vk_backend;

/* Records the first error of a pass (later ones are consequences). */
void vk_fail(vk_backend *vk, infer_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *vk_result_str(VkResult r);
/* VK_ERROR_OUT_OF_*_MEMORY -> INFER_ERR_NOMEM, everything else INFER_ERR_BACKEND. */
infer_status vk_status_of(VkResult r);

#endif
