/* Buffers and the host side of data movement: device-local buffers for weights and
 * activations, host-visible arenas for per-pass uploads and readbacks, and a scratch
 * buffer for op intermediates. A buffer outgrown during a pass may still be referenced
 * by recorded commands, so it is retired and freed only after the pass completes. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"

#define STAGING_BYTES ((VkDeviceSize)64 << 20)

static int memory_type(vk_backend *vk, uint32_t allowed, uint32_t preferred) {
    if (allowed & (1u << preferred)) return (int)preferred;
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &mp);
    VkMemoryPropertyFlags want = mp.memoryTypes[preferred].propertyFlags;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++)
        if ((allowed & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want) return (int)i;
    return -1;
}

infer_status vk_buffer_new(vk_backend *vk, VkDeviceSize size, bool host, infer_bbuf **out, infer_error *err) {
    *out = NULL;
    if (size == 0) size = 4;
    size = (size + 3) & ~(VkDeviceSize)3;   /* whole words: shaders read uint[] */
    if (size > vk->caps.max_alloc)
        return infer_err(err, INFER_ERR_NOMEM, "vulkan: buffer of %llu bytes exceeds maxMemoryAllocationSize (%llu) of '%s'",
                         (unsigned long long)size, (unsigned long long)vk->caps.max_alloc, vk->caps.device_name);
    if (!host && vk->allocated + size > vk->caps.budget)
        return infer_err(err, INFER_ERR_NOMEM, "vulkan: %llu more bytes would exceed the memory budget of '%s' (%llu bytes, %llu in use)",
                         (unsigned long long)size, vk->caps.device_name, (unsigned long long)vk->caps.budget,
                         (unsigned long long)vk->allocated);
    infer_bbuf *b = calloc(1, sizeof *b);
    if (!b) return infer_err(err, INFER_ERR_NOMEM, "vulkan: out of memory (buffer handle)");
    b->size = size;
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(vk->device, &bci, NULL, &b->buffer);
    if (r != VK_SUCCESS) {
        free(b);
        return infer_err(err, vk_status_of(r), "vulkan: vkCreateBuffer(%llu bytes) failed: %s", (unsigned long long)size, vk_result_str(r));
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vk->device, b->buffer, &req);
    int mt = memory_type(vk, req.memoryTypeBits, host ? vk->caps.mem_host : vk->caps.mem_device);
    if (mt < 0) {
        vkDestroyBuffer(vk->device, b->buffer, NULL);
        free(b);
        return infer_err(err, INFER_ERR_BACKEND, "vulkan: no memory type fits a %s buffer", host ? "host-visible" : "device-local");
    }
    VkMemoryAllocateInfo mai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO, .allocationSize = req.size, .memoryTypeIndex = (uint32_t)mt};
    r = vkAllocateMemory(vk->device, &mai, NULL, &b->memory);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(vk->device, b->buffer, NULL);
        free(b);
        return infer_err(err, vk_status_of(r), "vulkan: vkAllocateMemory(%llu bytes) failed: %s", (unsigned long long)req.size, vk_result_str(r));
    }
    r = vkBindBufferMemory(vk->device, b->buffer, b->memory, 0);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &mp);
    if (r == VK_SUCCESS && (mp.memoryTypes[mt].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT))
        r = vkMapMemory(vk->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
    if (r != VK_SUCCESS) {
        vk_buffer_free(vk, b);
        return infer_err(err, vk_status_of(r), "vulkan: vkBindBufferMemory/vkMapMemory failed: %s", vk_result_str(r));
    }
    if (!host) {
        vk->allocated += b->size;
        b->counted = true;
    }
    *out = b;
    return INFER_OK;
}

void vk_buffer_free(vk_backend *vk, infer_bbuf *b) {
    if (!b) return;
    for (int i = 0; i < b->n_parts; i++) vk_buffer_free(vk, b->parts[i]);
    free(b->parts);
    if (b->counted) vk->allocated -= b->size;
    if (b->buffer) vkDestroyBuffer(vk->device, b->buffer, NULL);
    if (b->memory) vkFreeMemory(vk->device, b->memory, NULL);
    free(b);
}

infer_status vk_run_now(vk_backend *vk, void (*fn)(VkCommandBuffer cmd, void *u), void *u, infer_error *err) {
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vk->cmd_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    VkCommandBuffer cmd;
    VkResult r = vkAllocateCommandBuffers(vk->device, &ai, &cmd);
    if (r != VK_SUCCESS) return infer_err(err, vk_status_of(r), "vulkan: vkAllocateCommandBuffers failed: %s", vk_result_str(r));
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vkBeginCommandBuffer(cmd, &bi);
    fn(cmd, u);
    r = vkEndCommandBuffer(cmd);
    VkFence fence = VK_NULL_HANDLE;
    if (r == VK_SUCCESS) {
        VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
        r = vkCreateFence(vk->device, &fci, NULL, &fence);
    }
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
        r = vkQueueSubmit(vk->queue, 1, &si, fence);
        if (r == VK_SUCCESS) r = vkWaitForFences(vk->device, 1, &fence, VK_TRUE, UINT64_MAX);
    }
    if (fence) vkDestroyFence(vk->device, fence, NULL);
    vkFreeCommandBuffers(vk->device, vk->cmd_pool, 1, &cmd);
    if (r != VK_SUCCESS) return infer_err(err, vk_status_of(r), "vulkan: one-off submit (vkQueueSubmit/vkWaitForFences) failed: %s", vk_result_str(r));
    return INFER_OK;
}

typedef struct copy_job {
    VkBuffer src, dst;
    VkDeviceSize src_off, dst_off, bytes;
} copy_job;

static void record_copy(VkCommandBuffer cmd, void *u) {
    copy_job *j = u;
    VkBufferCopy c = {.srcOffset = j->src_off, .dstOffset = j->dst_off, .size = j->bytes};
    vkCmdCopyBuffer(cmd, j->src, j->dst, 1, &c);
}

infer_status vk_copy_now(vk_backend *vk, VkBuffer src, VkDeviceSize src_off, VkBuffer dst,
                         VkDeviceSize dst_off, VkDeviceSize bytes, infer_error *err) {
    copy_job j = {src, dst, src_off, dst_off, bytes};
    return vk_run_now(vk, record_copy, &j, err);
}

static infer_status upload_one(vk_backend *vk, const void *host, size_t bytes, infer_bbuf **out, infer_error *err) {
    infer_bbuf *b;
    infer_status st = vk_buffer_new(vk, bytes, false, &b, err);
    if (st) return st;
    if (b->mapped) {   /* unified memory: no staging needed */
        memcpy(b->mapped, host, bytes);
        *out = b;
        return INFER_OK;
    }
    VkDeviceSize chunk = bytes < STAGING_BYTES ? (bytes + 3) & ~(size_t)3 : STAGING_BYTES;
    infer_bbuf *staging;
    st = vk_buffer_new(vk, chunk, true, &staging, err);
    if (st) { vk_buffer_free(vk, b); return st; }
    for (size_t done = 0; done < bytes && !st; done += chunk) {
        size_t n = bytes - done < chunk ? bytes - done : chunk;
        memcpy(staging->mapped, (const char *)host + done, n);
        VkDeviceSize n4 = (n + 3) & ~(size_t)3;
        if (done + n4 > b->size) n4 = b->size - done;
        st = vk_copy_now(vk, staging->buffer, 0, b->buffer, done, n4, err);
    }
    vk_buffer_free(vk, staging);
    if (st) { vk_buffer_free(vk, b); return st; }
    *out = b;
    return INFER_OK;
}

/* Weights up to weight_split bytes get one allocation; larger ones are split into parts
 * of at most weight_split bytes that overlap by a quarter (at most 256 MiB), so every
 * row or expert matrix up to the overlap is whole in the part where it starts. */
infer_status vk_weight_upload(vk_backend *vk, const void *host, size_t bytes, infer_bbuf **out, infer_error *err) {
    VkDeviceSize limit = vk->caps.weight_split;
    if (bytes <= limit) return upload_one(vk, host, bytes, out, err);
    VkDeviceSize overlap = limit / 4 < ((VkDeviceSize)256 << 20) ? limit / 4 : ((VkDeviceSize)256 << 20);
    overlap &= ~(VkDeviceSize)255;
    VkDeviceSize stride = (limit - overlap) & ~(VkDeviceSize)255;
    size_t n = (size_t)((bytes - overlap + stride - 1) / stride);
    infer_bbuf *b = calloc(1, sizeof *b);
    if (b) b->parts = calloc(n, sizeof *b->parts);
    if (!b || !b->parts) {
        free(b);
        return infer_err(err, INFER_ERR_NOMEM, "vulkan: out of memory (split weight)");
    }
    b->size = bytes;
    b->part_stride = stride;
    b->part_overlap = overlap;
    for (size_t i = 0; i < n; i++) {
        size_t start = (size_t)(i * stride), len = bytes - start < limit ? bytes - start : (size_t)limit;
        infer_status st = upload_one(vk, (const char *)host + start, len, &b->parts[i], err);
        if (st) {
            vk_buffer_free(vk, b);
            return st;
        }
        b->n_parts = (int)i + 1;
    }
    *out = b;
    return INFER_OK;
}

void vk_retire(vk_backend *vk, infer_bbuf *b) {
    if (!b) return;
    if (!vk->recording) { vk_buffer_free(vk, b); return; }
    if (vk->n_retired == vk->cap_retired) {
        int cap = vk->cap_retired ? 2 * vk->cap_retired : 8;
        infer_bbuf **p = realloc(vk->retired, (size_t)cap * sizeof *p);
        if (!p) {   /* cannot defer: wait for the device instead of leaking or racing */
            vkDeviceWaitIdle(vk->device);
            vk_buffer_free(vk, b);
            return;
        }
        vk->retired = p;
        vk->cap_retired = cap;
    }
    vk->retired[vk->n_retired++] = b;
}

void vk_free_retired(vk_backend *vk) {
    for (int i = 0; i < vk->n_retired; i++) vk_buffer_free(vk, vk->retired[i]);
    vk->n_retired = 0;
}

bool vk_arena_push(vk_backend *vk, vk_arena *a, const void *src, size_t bytes, infer_bbuf **buf, VkDeviceSize *off) {
    VkDeviceSize need = (bytes + 15) & ~(VkDeviceSize)15;
    if (!a->buf || a->used + need > a->buf->size) {
        VkDeviceSize size = a->buf ? 2 * a->buf->size : ((VkDeviceSize)1 << 20);
        while (size < need) size *= 2;
        infer_bbuf *nb;
        infer_error e;
        if (vk_buffer_new(vk, size, true, &nb, &e)) {
            vk_fail(vk, e.status, "%s", e.message);
            return false;
        }
        vk_retire(vk, a->buf);
        a->buf = nb;
        a->used = 0;
    }
    *buf = a->buf;
    *off = a->used;
    if (src) memcpy((char *)a->buf->mapped + a->used, src, bytes);
    a->used += need;
    return true;
}

infer_bbuf *vk_scratch(vk_backend *vk, infer_bbuf **slot, size_t bytes) {
    if (*slot && (*slot)->size >= bytes) return *slot;
    VkDeviceSize size = *slot ? (*slot)->size : ((VkDeviceSize)1 << 20);
    while (size < bytes) size *= 2;
    infer_bbuf *nb;
    infer_error e;
    if (vk_buffer_new(vk, size, false, &nb, &e)) {
        vk_fail(vk, e.status, "%s", e.message);
        return NULL;
    }
    vk_retire(vk, *slot);
    *slot = nb;
    return nb;
}
