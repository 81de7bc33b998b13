/* Instance, physical device choice, feature probing and the logical device with one
 * compute queue. Everything that can fail says which call failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "kernels/vulkan/vk_error.h"
#include "kernels/vulkan/vk_internal.h"

static bool has_extension(const VkExtensionProperties *ext, uint32_t n, const char *name) {
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(ext[i].extensionName, name) == 0) return true;
    return false;
}

static infer_status create_instance(vk_backend *vk, infer_error *err) {
    uint32_t n_ext = 0;
    VkResult r = vkEnumerateInstanceExtensionProperties(NULL, &n_ext, NULL);
    if (r != VK_SUCCESS)
        return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: no Vulkan loader/driver usable (vkEnumerateInstanceExtensionProperties: %s)",
                         vk_result_str(r));
    VkExtensionProperties *ext = calloc(n_ext ? n_ext : 1, sizeof *ext);
    if (!ext) return infer_err(err, INFER_ERR_NOMEM, "vulkan: out of memory listing instance extensions");
    vkEnumerateInstanceExtensionProperties(NULL, &n_ext, ext);
    const char *names[1];
    uint32_t n_names = 0;
    VkInstanceCreateFlags flags = 0;
    /* Lets portability drivers (MoltenVK) be enumerated at all. */
    if (has_extension(ext, n_ext, "VK_KHR_portability_enumeration")) {
        names[n_names++] = "VK_KHR_portability_enumeration";
        flags |= 0x00000001; /* VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR */
    }
    free(ext);

    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "libinfer",
        .pEngineName = "libinfer",
        .apiVersion = VK_API_VERSION_1_1,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .flags = flags,
        .pApplicationInfo = &app,
        .enabledExtensionCount = n_names,
        .ppEnabledExtensionNames = names,
    };
    r = vkCreateInstance(&ci, NULL, &vk->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER || r == VK_ERROR_INITIALIZATION_FAILED)
        return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: no Vulkan driver found (vkCreateInstance: %s)", vk_result_str(r));
    if (r != VK_SUCCESS)
        return infer_err(err, vk_status_of(r), "vulkan: vkCreateInstance failed: %s", vk_result_str(r));
    return INFER_OK;
}

static int compute_queue_family(VkPhysicalDevice pd) {
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties q[32];
    if (n > 32) n = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int best = -1;
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        /* Prefer a family that also does graphics: it is the "main" queue on most
         * drivers and always supports the transfers we record. */
        if (best < 0 || (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) best = (int)i;
        if (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) break;
    }
    return best;
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 4;
    default: return 3;
    }
}

/* Usable: Vulkan 1.1 (subgroup and 16-bit queries) and a compute queue. */
static bool usable(VkPhysicalDevice pd, int require_gpu, char *why, size_t cap) {
    VkPhysicalDeviceProperties p;
    vkGetPhysicalDeviceProperties(pd, &p);
    if (p.apiVersion < VK_API_VERSION_1_1) {
        snprintf(why, cap, "'%.200s' supports only Vulkan %u.%u (1.1 needed)", p.deviceName,
                 VK_VERSION_MAJOR(p.apiVersion), VK_VERSION_MINOR(p.apiVersion));
        return false;
    }
    if (compute_queue_family(pd) < 0) {
        snprintf(why, cap, "'%.200s' has no compute queue", p.deviceName);
        return false;
    }
    if (require_gpu && p.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
        snprintf(why, cap, "'%.150s' is a CPU implementation (skipped for automatic choice)", p.deviceName);
        return false;
    }
    return true;
}

static infer_status choose_device(vk_backend *vk, int device_index, int require_gpu, infer_error *err) {
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(vk->instance, &n, NULL);
    if (r != VK_SUCCESS)
        return infer_err(err, vk_status_of(r), "vulkan: vkEnumeratePhysicalDevices failed: %s", vk_result_str(r));
    if (n == 0) return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: no Vulkan device found");
    VkPhysicalDevice devs[16];
    if (n > 16) n = 16;
    r = vkEnumeratePhysicalDevices(vk->instance, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return infer_err(err, vk_status_of(r), "vulkan: vkEnumeratePhysicalDevices failed: %s", vk_result_str(r));

    if (device_index < 0) {
        const char *env = getenv("INFER_VK_DEVICE");
        if (env && *env) {
            char *end;
            long v = strtol(env, &end, 10);
            if (*end || v < 0) return infer_err(err, INFER_ERR_INVALID_ARG, "vulkan: INFER_VK_DEVICE='%s' is not a device index", env);
            device_index = (int)v;
        }
    }
    char why[320] = "";
    if (device_index >= 0) {
        if ((uint32_t)device_index >= n)
            return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: device %d requested but only %u device(s) exist", device_index, n);
        if (!usable(devs[device_index], require_gpu, why, sizeof why))
            return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: device %d unusable: %s", device_index, why);
        vk->phys = devs[device_index];
        return INFER_OK;
    }
    int best = -1, best_rank = 99;
    for (uint32_t i = 0; i < n; i++) {
        if (!usable(devs[i], require_gpu, why, sizeof why)) continue;
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(devs[i], &p);
        int rank = type_rank(p.deviceType);
        if (rank < best_rank) { best = (int)i; best_rank = rank; }
    }
    if (best < 0)
        return infer_err(err, INFER_ERR_NO_DEVICE, "vulkan: no usable device among %u (%s)", n, why);
    vk->phys = devs[best];
    return INFER_OK;
}

bool vk_device_has_ext(VkPhysicalDevice pd, const char *name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || n == 0) return false;
    VkExtensionProperties *e = calloc(n, sizeof *e);
    if (!e) return false;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n, e);
    bool ok = has_extension(e, n, name);
    free(e);
    return ok;
}

static void probe(vk_backend *vk) {
    vk_caps *c = &vk->caps;
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    vkGetPhysicalDeviceProperties2(vk->phys, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;
    snprintf(c->device_name, sizeof c->device_name, "%s", p->deviceName);
    c->type = p->deviceType;
    c->api_version = p->apiVersion;
    c->subgroup_size = sub.subgroupSize;
    c->subgroup_arith = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                        (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    /* INFER_VK_PORTABLE=1: use only the plain 32-bit shader variants (tests the
     * fallback on devices that have the optional features). */
    const char *portable = getenv("INFER_VK_PORTABLE");
    c->portable = portable && *portable && strcmp(portable, "0") != 0;
    c->subgroup_shuffle = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                          (sub.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    if (c->portable) c->subgroup_arith = c->subgroup_shuffle = false;
    c->max_storage_range = p->limits.maxStorageBufferRange;
    c->offset_align = p->limits.minStorageBufferOffsetAlignment ? p->limits.minStorageBufferOffsetAlignment : 1;
    c->max_groups_x = p->limits.maxComputeWorkGroupCount[0];
    c->max_groups_yz = p->limits.maxComputeWorkGroupCount[1] < p->limits.maxComputeWorkGroupCount[2]
                           ? p->limits.maxComputeWorkGroupCount[1] : p->limits.maxComputeWorkGroupCount[2];

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(vk->phys, &p3);
    c->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : ((VkDeviceSize)1 << 30);
    /* INFER_VK_WEIGHT_SPLIT=BYTES lowers the size above which a weight is split across
     * allocations (tests exercise the split on small tensors). */
    c->weight_split = c->max_alloc;
    const char *split = getenv("INFER_VK_WEIGHT_SPLIT");
    if (split && *split) {
        unsigned long long v = strtoull(split, NULL, 10);
        if (v >= 4096 && v < c->weight_split) c->weight_split = v & ~3ull;
    }

    /* INFER_VK_ATTN_SPLIT=KEYS: split-K attention whenever the cache is longer than KEYS,
     * in parts of KEYS (tests exercise the split at small contexts). */
    const char *asplit = getenv("INFER_VK_ATTN_SPLIT");
    unsigned long long as = asplit && *asplit ? strtoull(asplit, NULL, 10) : 0;
    c->attn_split_len = as > 0 && as <= (1u << 20) ? (uint32_t)as : 0;

    /* INFER_VK_SUBMIT_FIRST=N: submit a pass's first command buffer after N dispatches
     * (0: the whole pass at end(), as one command buffer). */
    const char *sf = getenv("INFER_VK_SUBMIT_FIRST");
    c->submit_first = sf && *sf ? (uint32_t)strtoul(sf, NULL, 10) : 32;
    /* INFER_VK_MATVEC_ROWS=0: one-row decode by matmul_vec after a quantize_act dispatch,
     * as before matvec_rows.comp (A/B timing on a GPU). */
    const char *mr = getenv("INFER_VK_MATVEC_ROWS");
    c->matvec_rows = !(mr && strcmp(mr, "0") == 0);

    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &s16};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceShaderIntegerDotProductFeatures idot = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES};
    /* The instance asks for Vulkan 1.1, so integer dot products come through their
     * extension (core in 1.3, where drivers still list it). */
    bool idot_ext = vk_device_has_ext(vk->phys, VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME);
    if (p->apiVersion >= VK_API_VERSION_1_2) s16.pNext = &f16;
    if (idot_ext) f16.pNext = &idot;
    vkGetPhysicalDeviceFeatures2(vk->phys, &f2);
    c->storage16 = s16.storageBuffer16BitAccess && !c->portable;
    c->float16 = f16.shaderFloat16;
    /* Used only where the driver says the packed signed 4x8-bit form is accelerated (an
     * emulated one, as lavapipe's, is slower than float FMAs); INFER_VK_INT_DOT=1 uses
     * it wherever it exists (tests run the path on lavapipe), =0 never (A/B timing). */
    VkPhysicalDeviceShaderIntegerDotProductProperties idp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_PROPERTIES};
    VkPhysicalDeviceProperties2 pi = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &idp};
    if (idot_ext) vkGetPhysicalDeviceProperties2(vk->phys, &pi);
    const char *force_idot = getenv("INFER_VK_INT_DOT");
    bool idot_on = force_idot && strcmp(force_idot, "1") == 0, idot_off = force_idot && strcmp(force_idot, "0") == 0;
    bool want_idot = (idp.integerDotProduct4x8BitPackedSignedAccelerated && !idot_off) || idot_on;
    c->int_dot = idot_ext && idot.shaderIntegerDotProduct && want_idot && (!c->portable || idot_on);   /* forced: also portable */

    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(vk->phys, &mp);
    /* Device-local without host visibility first (the real VRAM on discrete cards),
     * else any device-local type; host: visible and coherent, cached preferred. */
    int dev = -1, dev_any = -1, host = -1, host_cached = -1;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
            if (dev_any < 0) dev_any = (int)i;
            if (dev < 0 && !(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)) dev = (int)i;
        }
        if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT)) {
            if (host < 0) host = (int)i;
            if (host_cached < 0 && (f & VK_MEMORY_PROPERTY_HOST_CACHED_BIT)) host_cached = (int)i;
        }
    }
    if (dev < 0) dev = dev_any >= 0 ? dev_any : host;
    if (host_cached >= 0) host = host_cached;
    c->mem_device = (uint32_t)(dev < 0 ? 0 : dev);
    c->mem_host = (uint32_t)(host < 0 ? 0 : host);
    c->device_is_host_visible = (mp.memoryTypes[c->mem_device].propertyFlags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) != 0;
    c->budget = mp.memoryHeaps[mp.memoryTypes[c->mem_device].heapIndex].size;
}

/* The budget extension reports what this process may still use; the heap size
 * overstates it when other programs hold memory. */
static void probe_budget(vk_backend *vk, bool have_budget_ext) {
    /* The margin left to the driver (descriptor pools, pipelines, fragmentation) when a
     * context places a model: a tenth of a reported budget (at most 1 GiB), a fifth of a
     * bare heap size (at most 2 GiB), which may also hold other programs' memory. */
    const VkDeviceSize GiB = (VkDeviceSize)1 << 30;
    VkDeviceSize margin = vk->caps.budget / 5 < 2 * GiB ? vk->caps.budget / 5 : 2 * GiB;
    if (have_budget_ext) {
        VkPhysicalDeviceMemoryBudgetPropertiesEXT b = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
        VkPhysicalDeviceMemoryProperties2 mp = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2, .pNext = &b};
        vkGetPhysicalDeviceMemoryProperties2(vk->phys, &mp);
        uint32_t heap = mp.memoryProperties.memoryTypes[vk->caps.mem_device].heapIndex;
        if (b.heapBudget[heap] > b.heapUsage[heap]) {
            /* The process's budget less what it already uses (other contexts' devices):
             * what this device may still take. */
            vk->caps.budget = b.heapBudget[heap] - b.heapUsage[heap];
            margin = vk->caps.budget / 10 < GiB ? vk->caps.budget / 10 : GiB;
        }
    }
    /* A budget set by hand (tests of partial offload) is taken exactly. */
    const char *env = getenv("INFER_VK_MEMORY_BUDGET");
    char *end = NULL;
    unsigned long long cap = env && *env ? strtoull(env, &end, 10) : 0;
    if (end && *end == 0 && cap > 0) {
        if (cap < vk->caps.budget) vk->caps.budget = cap;
        margin = 0;
    }
    vk->caps.budget_margin = margin;
}

infer_status vk_device_open(vk_backend *vk, int device_index, int require_gpu, infer_error *err) {
    infer_status st = create_instance(vk, err);
    if (st) return st;
    st = choose_device(vk, device_index, require_gpu, err);
    if (st) return st;
    probe(vk);
    vk_coopmat_probe(vk);
    bool budget_ext = vk_device_has_ext(vk->phys, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);
    probe_budget(vk, budget_ext);

    vk->queue_family = (uint32_t)compute_queue_family(vk->phys);
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vk->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    const char *exts[2 + VK_COOPMAT_MAX_EXTS];
    uint32_t n_exts = 0;
    if (budget_ext) exts[n_exts++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    if (vk->caps.int_dot) exts[n_exts++] = VK_KHR_SHADER_INTEGER_DOT_PRODUCT_EXTENSION_NAME;
    /* The optional features we turn on; variants that need them are chosen only then. */
    VkPhysicalDeviceShaderIntegerDotProductFeatures idot = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_INTEGER_DOT_PRODUCT_FEATURES,
                                                            .shaderIntegerDotProduct = VK_TRUE};
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
                                                .pNext = vk->caps.int_dot ? &idot : NULL,
                                                .storageBuffer16BitAccess = vk->caps.storage16};
    uint32_t n_base_exts = n_exts;
    vk_coopmat_features coop;
    void *features = vk_coopmat_enable(vk, &coop, exts, &n_exts, &s16);   /* (before n_exts is read) */
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = features,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = n_exts,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateDevice(vk->phys, &dci, NULL, &vk->device);
    if (r != VK_SUCCESS && vk->caps.coopmat == VK_COOPMAT_NV) {
        /* The cooperative-matrix kernel is an option, never a reason to fail: without it. */
        vk->caps.coopmat = VK_COOPMAT_OFF;
        dci.pNext = &s16;
        dci.enabledExtensionCount = n_base_exts;
        r = vkCreateDevice(vk->phys, &dci, NULL, &vk->device);
    }
    if (r != VK_SUCCESS)
        return infer_err(err, vk_status_of(r), "vulkan: vkCreateDevice('%s') failed: %s", vk->caps.device_name, vk_result_str(r));
    vkGetDeviceQueue(vk->device, vk->queue_family, 0, &vk->queue);
    return INFER_OK;
}

void vk_device_close(vk_backend *vk) {
    if (vk->device) vkDestroyDevice(vk->device, NULL);
    if (vk->instance) vkDestroyInstance(vk->instance, NULL);
    vk->device = VK_NULL_HANDLE;
    vk->instance = VK_NULL_HANDLE;
}
