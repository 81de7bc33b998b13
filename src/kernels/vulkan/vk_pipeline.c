/* Compute pipelines from the SPIR-V embedded at build time (cmake/shaders.cmake).
 * A variant's pipeline is built the first time an op needs it, so opening a device
 * costs nothing for the formats a model does not use. Every pipeline has one
 * descriptor set of storage buffers (bindings 0..n-1, n read from the SPIR-V) and
 * 128 bytes of push constants. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "infer_shaders.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"

/* Highest `layout(binding = N)` in the module plus one (OpDecorate ... Binding N). */
static uint32_t count_bindings(const uint32_t *w, size_t n_words) {
    uint32_t n = 0;
    for (size_t i = 5; i < n_words;) {
        uint32_t len = w[i] >> 16, op = w[i] & 0xFFFF;
        if (len == 0) break;
        if (op == 71 /* OpDecorate */ && len >= 4 && w[i + 2] == 33 /* Binding */ && w[i + 3] + 1 > n) n = w[i + 3] + 1;
        i += len;
    }
    return n;
}

/* Bitmask of the bindings the module may write: every binding except those whose
 * variable, or every member of whose block, is decorated NonWritable (GLSL `readonly`).
 * Anything not understood counts as written, which only costs a barrier. */
static uint32_t written_bindings(const uint32_t *w, size_t n_words) {
    uint32_t all = 0xFFFFFFFFu;
    if (n_words < 5 || w[3] == 0 || w[3] > (1u << 22)) return all;
    size_t bound = w[3];
    uint32_t *binding = calloc(bound, sizeof *binding);   /* variable id -> binding + 1 */
    uint32_t *pointee = calloc(bound, sizeof *pointee);   /* pointer type id -> pointee id */
    uint32_t *var_type = calloc(bound, sizeof *var_type); /* variable id -> pointer type id */
    uint32_t *members = calloc(bound, sizeof *members);   /* struct id -> member count */
    uint32_t *readonly = calloc(bound, sizeof *readonly); /* struct id -> NonWritable members; var id -> 1 */
    uint32_t writes = all;
    if (!binding || !pointee || !var_type || !members || !readonly) goto done;
    for (size_t i = 5; i < n_words;) {
        uint32_t len = w[i] >> 16, op = w[i] & 0xFFFF;
        if (len == 0 || i + len > n_words) goto done;
        const uint32_t *a = &w[i + 1];
        switch (op) {
        case 71: /* OpDecorate target decoration [literal] */
            if (len >= 3 && a[0] < bound) {
                if (a[1] == 33 && len >= 4) binding[a[0]] = a[2] + 1;   /* Binding */
                if (a[1] == 24) readonly[a[0]] = 1;                   /* NonWritable */
            }
            break;
        case 72: /* OpMemberDecorate struct member decoration */
            if (len >= 4 && a[0] < bound && a[2] == 24) readonly[a[0]]++;
            break;
        case 30: /* OpTypeStruct result members... */
            if (len >= 2 && a[0] < bound) members[a[0]] = len - 2;
            break;
        case 32: /* OpTypePointer result storage type */
            if (len >= 4 && a[0] < bound) pointee[a[0]] = a[2];
            break;
        case 59: /* OpVariable type result storage */
            if (len >= 4 && a[1] < bound) var_type[a[1]] = a[0];
            break;
        default: break;
        }
        i += len;
    }
    writes = 0;
    for (size_t v = 0; v < bound; v++) {
        if (!binding[v]) continue;
        uint32_t bnd = binding[v] - 1;
        if (bnd >= 32) { writes = all; break; }
        uint32_t ptr = var_type[v], st = ptr < bound ? pointee[ptr] : 0;
        bool ro = readonly[v] || (st && st < bound && members[st] > 0 && readonly[st] >= members[st]);
        if (!ro) writes |= 1u << bnd;
    }
done:
    free(binding);
    free(pointee);
    free(var_type);
    free(members);
    free(readonly);
    return writes;
}

infer_status vk_pipelines_init(vk_backend *vk, infer_error *err) {
    vk->pipelines = calloc((size_t)infer_shader_blob_count, sizeof *vk->pipelines);
    if (!vk->pipelines) return infer_err(err, INFER_ERR_NOMEM, "vulkan: out of memory (pipeline table)");
    for (uint32_t n = 1; n <= VK_MAX_BINDINGS; n++) {
        VkDescriptorSetLayoutBinding b[VK_MAX_BINDINGS];
        for (uint32_t i = 0; i < n; i++)
            b[i] = (VkDescriptorSetLayoutBinding){.binding = i, .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                                                  .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
        VkDescriptorSetLayoutCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO, .bindingCount = n, .pBindings = b};
        VkResult r = vkCreateDescriptorSetLayout(vk->device, &ci, NULL, &vk->set_layouts[n]);
        if (r != VK_SUCCESS) return infer_err(err, vk_status_of(r), "vulkan: vkCreateDescriptorSetLayout failed: %s", vk_result_str(r));
    }
    return INFER_OK;
}

void vk_pipelines_free(vk_backend *vk) {
    if (vk->pipelines) {
        for (int i = 0; i < infer_shader_blob_count; i++) {
            if (vk->pipelines[i].pipeline) vkDestroyPipeline(vk->device, vk->pipelines[i].pipeline, NULL);
            if (vk->pipelines[i].layout) vkDestroyPipelineLayout(vk->device, vk->pipelines[i].layout, NULL);
        }
    }
    free(vk->pipelines);
    vk->pipelines = NULL;
    for (int n = 1; n <= VK_MAX_BINDINGS; n++)
        if (vk->set_layouts[n]) vkDestroyDescriptorSetLayout(vk->device, vk->set_layouts[n], NULL);
}

static bool build(vk_backend *vk, const infer_shader_blob *blob, vk_pipeline *p) {
    uint32_t nb = count_bindings(blob->words, blob->bytes / 4);
    if (nb == 0 || nb > VK_MAX_BINDINGS) {
        vk_fail(vk, INFER_ERR_BACKEND, "vulkan: shader '%s' declares %u bindings", blob->name, nb);
        return false;
    }
    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = blob->bytes, .pCode = blob->words};
    VkShaderModule mod;
    VkResult r = vkCreateShaderModule(vk->device, &mci, NULL, &mod);
    if (r != VK_SUCCESS) {
        vk_fail(vk, vk_status_of(r), "vulkan: vkCreateShaderModule('%s') failed: %s", blob->name, vk_result_str(r));
        return false;
    }
    VkPushConstantRange pcr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = VK_PUSH_WORDS * 4};
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &vk->set_layouts[nb],
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pcr,
    };
    r = vkCreatePipelineLayout(vk->device, &lci, NULL, &p->layout);
    if (r == VK_SUCCESS) {
        VkComputePipelineCreateInfo pci = {
            .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                      .module = mod, .pName = "main"},
            .layout = p->layout,
        };
        r = vkCreateComputePipelines(vk->device, VK_NULL_HANDLE, 1, &pci, NULL, &p->pipeline);
    }
    vkDestroyShaderModule(vk->device, mod, NULL);
    if (r != VK_SUCCESS) {
        vk_fail(vk, vk_status_of(r), "vulkan: creating pipeline '%s' (vkCreatePipelineLayout/vkCreateComputePipelines) failed: %s",
                blob->name, vk_result_str(r));
        return false;
    }
    p->n_bindings = nb;
    p->writes = written_bindings(blob->words, blob->bytes / 4);
    return true;
}

bool vk_pipeline_exists(const char *name) {
    for (int i = 0; i < infer_shader_blob_count; i++)
        if (strcmp(infer_shader_blobs[i].name, name) == 0) return true;
    return false;
}

vk_pipeline *vk_pipeline_get(vk_backend *vk, const char *name) {
    for (int i = 0; i < infer_shader_blob_count; i++) {
        if (strcmp(infer_shader_blobs[i].name, name) != 0) continue;
        vk_pipeline *p = &vk->pipelines[i];
        if (!p->pipeline && !build(vk, &infer_shader_blobs[i], p)) return NULL;
        return p;
    }
    vk_fail(vk, INFER_ERR_UNSUPPORTED, "vulkan: no shader variant '%s'", name);
    return NULL;
}
