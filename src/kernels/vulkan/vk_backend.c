/* The Vulkan backend: the ops table of kernels/backend.h and its constructor. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"

static void fill_zero(VkCommandBuffer cmd, void *u) {
    infer_bbuf *b = u;
    vkCmdFillBuffer(cmd, b->buffer, 0, VK_WHOLE_SIZE, 0);
}

static infer_status vk_alloc(infer_backend *be, size_t bytes, infer_bbuf **out) {
    vk_backend *vk = vk_of(be);
    vk->act_cached.valid = false;   /* a new buffer may reuse a freed one's address */
    infer_error e;
    infer_bbuf *b;
    infer_status st = vk_buffer_new(vk, bytes, false, &b, &e);
    if (!st) {
        if (b->mapped) memset(b->mapped, 0, b->size);
        else st = vk_run_now(vk, fill_zero, b, &e);
        if (st) vk_buffer_free(vk, b);
    }
    if (st) {
        vk_fail(vk, st, "%s", e.message);   /* also surfaces at the next end() */
        *out = NULL;
        return st;
    }
    *out = b;
    return INFER_OK;
}

static infer_status vk_weight(infer_backend *be, const void *host, size_t bytes, infer_bbuf **out) {
    vk_backend *vk = vk_of(be);
    infer_error e;
    infer_status st = vk_weight_upload(vk, host, bytes, out, &e);
    if (st) {
        vk_fail(vk, st, "%s", e.message);
        *out = NULL;
    }
    return st;
}

static void vk_release(infer_backend *be, infer_bbuf *buf) {
    vk_of(be)->act_cached.valid = false;
    vk_retire(vk_of(be), buf);
}

static void vk_begin(infer_backend *be) {
    vk_of(be)->pending_add.on = false;
    vk_of(be)->pending_rope.on = false;
    vk_pass_begin(vk_of(be));
}

static infer_status vk_end(infer_backend *be, infer_error *err) {
    vk_pending_flush(vk_of(be));
    return vk_pass_end(vk_of(be), err);
}

static const char *vk_device_name(infer_backend *be) { return vk_of(be)->caps.device_name; }

static uint64_t vk_memory_free(infer_backend *be) {
    const vk_backend *vk = vk_of(be);
    const VkDeviceSize held = vk->allocated + vk->caps.budget_margin;
    return vk->caps.budget > held ? vk->caps.budget - held : 0;
}

static void vk_destroy(infer_backend *be) {
    vk_backend *vk = vk_of(be);
    if (!vk) return;
    if (vk->device) {
        vkDeviceWaitIdle(vk->device);
        vk_profile_report(vk);
        vk_free_retired(vk);
        vk_buffer_free(vk, vk->upload.buf);
        vk_buffer_free(vk, vk->readback.buf);
        vk_buffer_free(vk, vk->scratch);
        vk_buffer_free(vk, vk->act_scratch);
        vk_buffer_free(vk, vk->check_buf);
        for (int i = 0; i < vk->n_pools; i++) vkDestroyDescriptorPool(vk->device, vk->pools[i], NULL);
        vk_pipelines_free(vk);
        if (vk->fence) vkDestroyFence(vk->device, vk->fence, NULL);
        if (vk->cmd_pool) vkDestroyCommandPool(vk->device, vk->cmd_pool, NULL);
    }
    vk_device_close(vk);
    free(vk->pools);
    free(vk->retired);
    free(vk->reads);
    free(vk);
}

static const infer_backend_ops vk_ops = {
    .name = "vulkan",
    .destroy = vk_destroy,
    .device_name = vk_device_name,
    .supports = vk_supports,
    .alloc = vk_alloc,
    .weight = vk_weight,
    .release = vk_release,
    .memory_free = vk_memory_free,
    .write = vk_op_write,
    .read = vk_op_read,
    .begin = vk_begin,
    .end = vk_end,
    .get_rows = vk_op_get_rows,
    .rms_norm = vk_op_rms_norm,
    .matmul = vk_op_matmul,
    .rope = vk_op_rope,
    .kv_store = vk_op_kv_store,
    .attention = vk_op_attention,
    .glu = vk_op_glu,
    .add = vk_op_add,
    .scale = vk_op_scale,
    .moe = vk_op_moe,
};

infer_status infer_backend_vulkan_new(int device_index, int require_gpu, infer_backend **out, infer_error *err) {
    if (!out) return infer_err(err, INFER_ERR_INVALID_ARG, "vulkan: out is NULL");
    *out = NULL;
    if (require_gpu && !vk_gpu_may_exist())
        return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: no GPU device node (/dev/dri, /dev/nvidiactl, /dev/dxg)");
    vk_backend *vk = calloc(1, sizeof *vk);
    if (!vk) return infer_err(err, INFER_ERR_NOMEM, "vulkan: out of memory");
    vk->base.ops = &vk_ops;
    infer_status st = vk_device_open(vk, device_index, require_gpu, err);
    if (!st) {
        VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                       .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                       .queueFamilyIndex = vk->queue_family};
        VkResult r = vkCreateCommandPool(vk->device, &pci, NULL, &vk->cmd_pool);
        if (r == VK_SUCCESS) {
            VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO, .commandPool = vk->cmd_pool,
                                              .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY, .commandBufferCount = VK_MAX_CMDS};
            r = vkAllocateCommandBuffers(vk->device, &ai, vk->cmds);
            vk->cmd = vk->cmds[0];
        }
        if (r == VK_SUCCESS) {
            VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
            r = vkCreateFence(vk->device, &fci, NULL, &vk->fence);
        }
        if (r != VK_SUCCESS)
            st = infer_err(err, vk_status_of(r), "vulkan: command pool/buffer/fence creation failed: %s", vk_result_str(r));
    }
    if (!st) st = vk_pipelines_init(vk, err);
    if (!st) vk_profile_init(vk);
    if (st) {
        vk_destroy(&vk->base);
        return st;
    }
    *out = &vk->base;
    return INFER_OK;
}
