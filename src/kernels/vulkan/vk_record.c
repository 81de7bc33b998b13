/* The pass: primary command buffers recorded between begin() and end(); the first ones
 * are submitted as they fill (after caps.submit_first dispatches, then twice as many each
 * time), so the device starts on a pass while the host still records it, and end()
 * submits the last and waits. Each new command buffer starts with a full barrier (its
 * first scope covers everything submitted earlier on the queue). Each dispatch gets a descriptor set from pools that are reset at begin() (more
 * pools are added when a long pass fills one). Barriers go only where needed: the byte
 * ranges each dispatch reads and writes (writes = bindings not declared readonly) are
 * remembered until the next barrier, and a dispatch that would read or write a range
 * written since then, or write one read since then, gets a full compute/transfer barrier
 * first. Independent dispatches (Q/K/V or gate/up matmuls) thus run back to back.
 * Transfers are not tracked: they are fenced by barriers on both sides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "infer_shaders.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"

#define SETS_PER_POOL 512
#define MAX_QUERIES 8192

bool vk_bind(vk_backend *vk, infer_bview v, size_t bytes, vk_binding *out, const char *what) {
    if (!v.buf) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: %s: no buffer", what);
        return false;
    }
    if (v.buf->n_parts) {
        if (v.offset > v.buf->size || bytes > v.buf->size - v.offset) {
            vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: %s: view [%zu, +%zu) outside its buffer of %llu bytes", what, v.offset, bytes,
                    (unsigned long long)v.buf->size);
            return false;
        }
        v = vk_part_view(v);
    }
    if (v.offset > v.buf->size || bytes > v.buf->size - v.offset) {
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: %s: view [%zu, +%zu) outside its buffer of %llu bytes", what, v.offset, bytes,
                (unsigned long long)v.buf->size);
        return false;
    }
    VkDeviceSize align = vk->caps.offset_align < 4 ? 4 : vk->caps.offset_align;
    VkDeviceSize start = v.offset / align * align;
    VkDeviceSize range = v.buf->size - start;
    VkDeviceSize max_range = vk->caps.max_storage_range & ~(VkDeviceSize)3;
    if (range > max_range) range = max_range;
    if (v.offset - start + bytes > range) {
        vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: %s: %zu bytes exceed maxStorageBufferRange (%llu) of '%s'", what, bytes,
                (unsigned long long)vk->caps.max_storage_range, vk->caps.device_name);
        return false;
    }
    *out = (vk_binding){.buf = v.buf, .offset = start, .range = range, .rem = (uint32_t)(v.offset - start),
                        .lo = v.offset, .hi = v.offset + bytes};
    return true;
}

static VkDescriptorSet alloc_set(vk_backend *vk, uint32_t nb) {
    for (;;) {
        if (vk->cur_pool == vk->n_pools) {
            VkDescriptorPool *p = realloc(vk->pools, (size_t)(vk->n_pools + 1) * sizeof *p);
            if (!p) {
                vk_fail(vk, INFER_ERR_NOMEM, "vulkan: out of memory (descriptor pools)");
                return VK_NULL_HANDLE;
            }
            vk->pools = p;
            VkDescriptorPoolSize ps = {.type = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, .descriptorCount = SETS_PER_POOL * VK_MAX_BINDINGS};
            VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO, .maxSets = SETS_PER_POOL,
                                             .poolSizeCount = 1, .pPoolSizes = &ps};
            VkResult r = vkCreateDescriptorPool(vk->device, &ci, NULL, &vk->pools[vk->n_pools]);
            if (r != VK_SUCCESS) {
                vk_fail(vk, vk_status_of(r), "vulkan: vkCreateDescriptorPool failed: %s", vk_result_str(r));
                return VK_NULL_HANDLE;
            }
            vk->n_pools++;
        }
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = vk->pools[vk->cur_pool], .descriptorSetCount = 1,
                                          .pSetLayouts = &vk->set_layouts[nb]};
        VkDescriptorSet set;
        VkResult r = vkAllocateDescriptorSets(vk->device, &ai, &set);
        if (r == VK_SUCCESS) return set;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL) {
            vk_fail(vk, vk_status_of(r), "vulkan: vkAllocateDescriptorSets failed: %s", vk_result_str(r));
            return VK_NULL_HANDLE;
        }
        vk->cur_pool++;
    }
}

void vk_barrier(vk_backend *vk) {
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                         VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    VkPipelineStageFlags st = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(vk->cmd, st, st, 0, 1, &mb, 0, NULL, 0, NULL);
    vk->n_touched = 0;
    vk->prof_barriers++;
}

void vk_flush(vk_backend *vk) {
    if (vk->n_touched) vk_barrier(vk);
}

/* Whether a dispatch with these bindings must wait for the ones since the last barrier. */
static bool hazard(const vk_backend *vk, const vk_binding *b, uint32_t nb, uint32_t writes) {
    if (vk->n_touched + (int)nb > VK_MAX_TOUCHES) return true;
    for (uint32_t i = 0; i < nb; i++) {
        bool w = (writes >> i) & 1u;
        for (int j = 0; j < vk->n_touched; j++) {
            const vk_touch *t = &vk->touched[j];
            if ((w || t->write) && t->buffer == b[i].buf->buffer && b[i].lo < t->hi && t->lo < b[i].hi) return true;
        }
    }
    return false;
}

static void remember(vk_backend *vk, const vk_binding *b, uint32_t nb, uint32_t writes) {
    for (uint32_t i = 0; i < nb && vk->n_touched < VK_MAX_TOUCHES; i++)
        vk->touched[vk->n_touched++] = (vk_touch){b[i].buf->buffer, b[i].lo, b[i].hi, ((writes >> i) & 1u) != 0};
}

static bool begin_cmd(vk_backend *vk) {
    vk->cmd = vk->cmds[vk->cur_cmd];
    vk->in_cmd = 0;
    VkResult r = vkResetCommandBuffer(vk->cmd, 0);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO, .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (r == VK_SUCCESS) r = vkBeginCommandBuffer(vk->cmd, &bi);
    if (r != VK_SUCCESS) vk_fail(vk, vk_status_of(r), "vulkan: vkBeginCommandBuffer failed: %s", vk_result_str(r));
    return r == VK_SUCCESS;
}

/* Submits the command buffer recorded so far (no fence: end() waits on the last one,
 * whose fence covers everything earlier on the queue) and continues in the next. */
static void submit_partial(vk_backend *vk) {
    if (vk->status || vk->cur_cmd + 1 >= VK_MAX_CMDS) return;
    VkResult r = vkEndCommandBuffer(vk->cmd);
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &vk->cmd};
        r = vkQueueSubmit(vk->queue, 1, &si, VK_NULL_HANDLE);
    }
    if (r != VK_SUCCESS) {
        vk_fail(vk, vk_status_of(r), "vulkan: mid-pass submit failed: %s", vk_result_str(r));
        begin_cmd(vk);   /* recording again (emptied), as end() expects */
        return;
    }
    vk->cur_cmd++;
    vk->prof_submits++;
    vk->submit_at *= 2;
    if (begin_cmd(vk)) vk_barrier(vk);
}

void vk_dispatch3(vk_backend *vk, vk_pipeline *p, const vk_binding *b, uint32_t nb, const void *push, uint32_t push_bytes,
                  uint32_t gx, uint32_t gy, uint32_t gz) {
    if (vk->status || !p) return;
    if (nb != p->n_bindings) {
        vk_fail(vk, INFER_ERR_BACKEND, "vulkan: internal: %u bindings given, pipeline has %u", nb, p->n_bindings);
        return;
    }
    if (gy > vk->caps.max_groups_yz || gz > vk->caps.max_groups_yz) {
        vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: dispatch of %u x %u x %u workgroups exceeds the device limits", gx, gy, gz);
        return;
    }
    if (gx == 0 || gy == 0 || gz == 0) return;
    VkDescriptorSet set = alloc_set(vk, nb);
    if (!set) return;
    VkDescriptorBufferInfo bi[VK_MAX_BINDINGS];
    VkWriteDescriptorSet w[VK_MAX_BINDINGS];
    for (uint32_t i = 0; i < nb; i++) {
        bi[i] = (VkDescriptorBufferInfo){.buffer = b[i].buf->buffer, .offset = b[i].offset, .range = b[i].range};
        w[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET, .dstSet = set, .dstBinding = i,
                                      .descriptorCount = 1, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                      .pBufferInfo = &bi[i]};
    }
    vkUpdateDescriptorSets(vk->device, nb, w, 0, NULL);
    if (hazard(vk, b, nb, p->writes)) vk_barrier(vk);
    remember(vk, b, nb, p->writes);
    vkCmdBindPipeline(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
    vkCmdBindDescriptorSets(vk->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->layout, 0, 1, &set, 0, NULL);
    vkCmdPushConstants(vk->cmd, p->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes, push);
    vkCmdDispatch(vk->cmd, gx, gy, gz);
    if (vk->profile && vk->n_queries < MAX_QUERIES) {
        vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vk->queries, vk->n_queries);
        vk->query_shader[vk->n_queries++] = (int32_t)(p - vk->pipelines);
    }
    vk->prof_dispatches++;
    if (++vk->in_cmd >= vk->submit_at && vk->submit_at) submit_partial(vk);
}

void vk_profile_init(vk_backend *vk) {
    const char *env = getenv("INFER_VK_PROFILE");
    if (!env || !*env || strcmp(env, "0") == 0) return;
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(vk->phys, &p);
    VkQueryPoolCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO, .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                .queryCount = MAX_QUERIES};
    vk->query_shader = calloc(MAX_QUERIES, sizeof *vk->query_shader);
    vk->prof_ms = calloc((size_t)infer_shader_blob_count, sizeof *vk->prof_ms);
    vk->prof_calls = calloc((size_t)infer_shader_blob_count, sizeof *vk->prof_calls);
    if (!vk->query_shader || !vk->prof_ms || !vk->prof_calls || p.limits.timestampComputeAndGraphics == VK_FALSE ||
        vkCreateQueryPool(vk->device, &qi, NULL, &vk->queries) != VK_SUCCESS)
        return;
    vk->ts_period_ns = p.limits.timestampPeriod;
    vk->profile = true;
}

/* Adds the pass's timestamps (each dispatch's end minus the previous one's) per shader. */
static void profile_collect(vk_backend *vk) {
    if (!vk->profile || vk->n_queries < 2) return;
    uint64_t *ts = malloc(sizeof *ts * vk->n_queries);
    if (ts && vkGetQueryPoolResults(vk->device, vk->queries, 0, vk->n_queries, sizeof *ts * vk->n_queries, ts, sizeof *ts,
                                    VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS) {
        for (uint32_t i = 1; i < vk->n_queries; i++) {
            vk->prof_ms[vk->query_shader[i]] += (double)(ts[i] - ts[i - 1]) * vk->ts_period_ns * 1e-6;
            vk->prof_calls[vk->query_shader[i]]++;
        }
    }
    free(ts);
}

void vk_profile_report(vk_backend *vk) {
    if (!vk->profile) return;
    double total = 0;
    for (int i = 0; i < infer_shader_blob_count; i++) total += vk->prof_ms[i];
    double np = vk->prof_passes ? (double)vk->prof_passes : 1.0;
    fprintf(stderr, "vulkan profile: %llu passes; per pass %.1f dispatches, %.1f barriers, %.1f submits\n",
            (unsigned long long)vk->prof_passes, (double)vk->prof_dispatches / np, (double)vk->prof_barriers / np,
            (double)vk->prof_submits / np);
    fprintf(stderr, "vulkan profile (GPU time between consecutive dispatch ends; first dispatch of each pass not counted):\n");
    for (;;) {
        int best = -1;
        for (int i = 0; i < infer_shader_blob_count; i++)
            if (vk->prof_calls[i] && (best < 0 || vk->prof_ms[i] > vk->prof_ms[best])) best = i;
        if (best < 0) break;
        fprintf(stderr, "  %-28s %8llu calls %10.3f ms %5.1f%%\n", infer_shader_blobs[best].name,
                (unsigned long long)vk->prof_calls[best], vk->prof_ms[best], total > 0 ? 100 * vk->prof_ms[best] / total : 0);
        vk->prof_calls[best] = 0;
    }
    vkDestroyQueryPool(vk->device, vk->queries, NULL);
    free(vk->query_shader);
    free(vk->prof_ms);
    free(vk->prof_calls);
}

void vk_dispatch(vk_backend *vk, vk_pipeline *p, const vk_binding *b, uint32_t nb, const void *push, uint32_t push_bytes,
                 uint64_t n_groups, uint32_t gz) {
    if (n_groups == 0) return;
    uint64_t gx = n_groups < vk->caps.max_groups_x ? n_groups : vk->caps.max_groups_x;
    uint64_t gy = (n_groups + gx - 1) / gx;
    if (gy > UINT32_MAX) {
        vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: %llu workgroups are too many", (unsigned long long)n_groups);
        return;
    }
    vk_dispatch3(vk, p, b, nb, push, push_bytes, (uint32_t)gx, (uint32_t)gy, gz);
}

bool vk_push_read(vk_backend *vk, vk_readback r) {
    if (vk->n_reads == vk->cap_reads) {
        int cap = vk->cap_reads ? 2 * vk->cap_reads : 8;
        vk_readback *p = realloc(vk->reads, (size_t)cap * sizeof *p);
        if (!p) {
            vk_fail(vk, INFER_ERR_NOMEM, "vulkan: out of memory (readback list)");
            return false;
        }
        vk->reads = p;
        vk->cap_reads = cap;
    }
    vk->reads[vk->n_reads++] = r;
    return true;
}

infer_bbuf *vk_check_buffer(vk_backend *vk) {
    if (!vk->check_buf) {
        infer_error e;
        if (vk_buffer_new(vk, 16, false, &vk->check_buf, &e)) {
            vk_fail(vk, e.status, "%s", e.message);
            return NULL;
        }
    }
    if (!vk->check_used) {
        vk_flush(vk);
        vkCmdFillBuffer(vk->cmd, vk->check_buf->buffer, 0, VK_WHOLE_SIZE, 0);
        vk_barrier(vk);
        vk->check_used = true;
    }
    return vk->check_buf;
}

void vk_pass_begin(vk_backend *vk) {
    if (vk->recording) return;
    vk->check_used = false;
    vk->act_cached.valid = false;
    vk->status = INFER_OK;
    vk->err.message[0] = 0;
    for (int i = 0; i < vk->n_pools; i++) vkResetDescriptorPool(vk->device, vk->pools[i], 0);
    vk->cur_pool = 0;
    vk->upload.used = 0;
    vk->readback.used = 0;
    vk->n_reads = 0;
    vk->cur_cmd = 0;
    vk->submit_at = vk->caps.submit_first;
    if (!begin_cmd(vk)) return;
    vk->recording = true;
    vk->n_touched = 0;
    if (vk->profile) {
        vkCmdResetQueryPool(vk->cmd, vk->queries, 0, MAX_QUERIES);
        vkCmdWriteTimestamp(vk->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vk->queries, 0);
        vk->n_queries = 1;
    }
}

bool vk_ensure_recording(vk_backend *vk) {
    if (!vk->recording) vk_pass_begin(vk);
    return vk->recording && !vk->status;
}

infer_status vk_pass_end(vk_backend *vk, infer_error *err) {
    if (!vk->recording) {
        infer_status st = vk->status;
        if (st && err) *err = vk->err;
        vk->status = INFER_OK;
        return st;
    }
    if (vk->check_used && !vk->status) {
        infer_bbuf *ab;
        VkDeviceSize off;
        if (vk_arena_push(vk, &vk->readback, NULL, 4, &ab, &off)) {
            vk_flush(vk);
            VkBufferCopy c = {.srcOffset = 0, .dstOffset = off, .size = 4};
            vkCmdCopyBuffer(vk->cmd, vk->check_buf->buffer, ab->buffer, 1, &c);
            vk->check_result = 0;
            vk_push_read(vk, (vk_readback){.dst = &vk->check_result, .src = ab, .offset = off, .bytes = 4});
        }
    }
    vk->recording = false;
    /* Make transfer results visible to the host reads below. */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT};
    vkCmdPipelineBarrier(vk->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult r = vkEndCommandBuffer(vk->cmd);
    if (r != VK_SUCCESS) vk_fail(vk, vk_status_of(r), "vulkan: vkEndCommandBuffer failed: %s", vk_result_str(r));
    if (!vk->status) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &vk->cmd};
        r = vkQueueSubmit(vk->queue, 1, &si, vk->fence);
        if (r == VK_SUCCESS) {
            r = vkWaitForFences(vk->device, 1, &vk->fence, VK_TRUE, UINT64_MAX);
            vkResetFences(vk->device, 1, &vk->fence);
            if (r != VK_SUCCESS) vk_fail(vk, vk_status_of(r), "vulkan: vkWaitForFences failed: %s", vk_result_str(r));
        } else {
            vk_fail(vk, vk_status_of(r), "vulkan: vkQueueSubmit failed: %s", vk_result_str(r));
        }
    }
    /* A failed pass may still have command buffers running: they finish before anything
     * they use is reset or freed. */
    if (vk->status && vk->cur_cmd > 0) vkQueueWaitIdle(vk->queue);
    if (!vk->status) profile_collect(vk);
    vk->prof_passes++;
    vk->prof_submits++;
    if (!vk->status)
        for (int i = 0; i < vk->n_reads; i++)
            memcpy(vk->reads[i].dst, (const char *)vk->reads[i].src->mapped + vk->reads[i].offset, vk->reads[i].bytes);
    vk->n_reads = 0;
    if (!vk->status && vk->check_used && vk->check_result)
        vk_fail(vk, INFER_ERR_INVALID_ARG, "vulkan: get_rows: a row id is outside its table");
    vk_free_retired(vk);
    infer_status st = vk->status;
    if (st && err) *err = vk->err;
    vk->status = INFER_OK;
    return st;
}
