/* Which form of the cooperative-matrix prompt matmul (matmul_coop.comp) a device gets,
 * and what its device must enable for it.
 *
 * INFER_VK_COOPMAT, read when the backend is created:
 *   unset or 0  the tiled matmul_mat.comp (the default: the cooperative-matrix kernel has
 *               not run on a GPU with the units yet; it becomes the default once it has
 *               been checked and measured there, see bench/RESULTS.md)
 *   1           the GL_NV_cooperative_matrix kernel where the device has everything it
 *               needs (below), else the tiled kernel, silently
 *   emu         the plain-GLSL emulation of the same kernel, on any device (tests: the
 *               kernel's tiling, bounds, fp16 operands and MoE routing on lavapipe)
 * Nothing here fails device creation: a device that lacks a piece gets the tiled kernel.
 * The KHR form (VK_KHR_cooperative_matrix) is not chosen on the host: the Vulkan headers
 * we build against (1.3.239) do not define it. */
#include <stdlib.h>
#include <string.h>

#include "kernels/vulkan/vk_internal.h"

/* The fragment shape and types matmul_coop.comp uses: 16x16x16, fp16 A and B, fp32 C. */
static bool has_f16_16x16x16(vk_backend *vk) {
    PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV get =
        (PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)vkGetInstanceProcAddr(vk->instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV");
    uint32_t n = 0;
    if (!get || get(vk->phys, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkCooperativeMatrixPropertiesNV *p = calloc(n, sizeof *p);
    if (!p) return false;
    for (uint32_t i = 0; i < n; i++) p[i].sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV;
    bool ok = false;
    if (get(vk->phys, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !ok; i++)
            ok = p[i].MSize == 16 && p[i].NSize == 16 && p[i].KSize == 16 && p[i].AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
                 p[i].BType == VK_COMPONENT_TYPE_FLOAT16_NV && p[i].CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
                 p[i].DType == VK_COMPONENT_TYPE_FLOAT32_NV && p[i].scope == VK_SCOPE_SUBGROUP_NV;
    free(p);
    return ok;
}

/* The NV kernel needs: the extension with its feature and a 16x16x16 fp16/fp32 subgroup
 * shape in compute; subgroups of 32 (4 per workgroup of 128, one per 32x32 quarter of the
 * tile); shaderFloat16 (fp16 shared arrays); vulkanMemoryModel (glslang declares
 * cooperative-matrix modules with it). The last two through their extensions, since the
 * instance asks for Vulkan 1.1. */
static bool nv_usable(vk_backend *vk) {
    static const char *exts[] = {VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME,
                                 VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME};
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (!vk_device_has_ext(vk->phys, exts[i])) return false;
    if (vk->caps.subgroup_size != 32) return false;
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &coop};
    VkPhysicalDeviceVulkanMemoryModelFeatures mm = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES, .pNext = &f16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &mm};
    vkGetPhysicalDeviceFeatures2(vk->phys, &f2);
    VkPhysicalDeviceCooperativeMatrixPropertiesNV cp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &cp};
    vkGetPhysicalDeviceProperties2(vk->phys, &p2);
    return coop.cooperativeMatrix && f16.shaderFloat16 && mm.vulkanMemoryModel &&
           (cp.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && has_f16_16x16x16(vk);
}

void vk_coopmat_probe(vk_backend *vk) {
    const char *env = getenv("INFER_VK_COOPMAT");
    vk->caps.coopmat = VK_COOPMAT_OFF;
    if (env && strcmp(env, "emu") == 0) vk->caps.coopmat = VK_COOPMAT_EMU;
    else if (env && strcmp(env, "1") == 0 && !vk->caps.portable && nv_usable(vk)) vk->caps.coopmat = VK_COOPMAT_NV;
}

void *vk_coopmat_enable(vk_backend *vk, vk_coopmat_features *f, const char **exts, uint32_t *n_exts, void *next) {
    if (vk->caps.coopmat != VK_COOPMAT_NV) return next;
    exts[(*n_exts)++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    exts[(*n_exts)++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
    exts[(*n_exts)++] = VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME;
    f->coop = (VkPhysicalDeviceCooperativeMatrixFeaturesNV){.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
                                                            .pNext = next, .cooperativeMatrix = VK_TRUE};
    f->f16 = (VkPhysicalDeviceShaderFloat16Int8Features){.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
                                                         .pNext = &f->coop, .shaderFloat16 = VK_TRUE};
    f->mm = (VkPhysicalDeviceVulkanMemoryModelFeatures){.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES,
                                                        .pNext = &f->f16, .vulkanMemoryModel = VK_TRUE};
    return (void *)&f->mm;
}
