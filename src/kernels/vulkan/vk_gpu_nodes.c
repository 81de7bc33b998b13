/* Whether a GPU can be present at all, decided from device nodes before any Vulkan call.
 *
 * INFER_BACKEND_AUTO never uses a CPU implementation (lavapipe), yet asking the Vulkan
 * loader which devices exist loads every installed driver, lavapipe's LLVM among them:
 * about 0.1 s of a cold start on a machine with no GPU (most CPU-only users), and on some
 * CPUs lavapipe leaks a little at unload. Every GPU driver on Linux works through a device
 * node (a DRM render node, NVIDIA's control node, WSL2's /dev/dxg, Mali/Adreno's own), so
 * with none of them there is nothing for AUTO to find. A user who points the loader at a
 * driver of their own (VK_DRIVER_FILES, VK_ICD_FILENAMES, VK_ADD_DRIVER_FILES) is always
 * probed. Elsewhere than Linux the answer is always yes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/vulkan/vk_internal.h"

#define NODE_PATH_MAX 512

/* root/name into path (NODE_PATH_MAX bytes); false when it does not fit. */
static bool node_path(char *path, const char *root, const char *name) {
    int n = snprintf(path, NODE_PATH_MAX, "%s/%s", root, name);
    return n > 0 && n < NODE_PATH_MAX;
}

static bool exists(const char *root, const char *name) {
    char path[NODE_PATH_MAX];
    struct stat st;
    return node_path(path, root, name) && stat(path, &st) == 0;
}

static bool has_render_node(const char *root) {
    char path[NODE_PATH_MAX];
    if (!node_path(path, root, "dri")) return false;
    DIR *d = opendir(path);
    if (!d) return false;
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = strncmp(e->d_name, "renderD", 7) == 0 || strncmp(e->d_name, "card", 4) == 0;
    closedir(d);
    return found;
}

bool vk_gpu_nodes_present(const char *dev_root) {
    static const char *const nodes[] = {"nvidiactl", "nvidia0", "dxg", "kgsl-3d0", "mali0"};
    if (has_render_node(dev_root)) return true;
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++)
        if (exists(dev_root, nodes[i])) return true;
    return false;
}

bool vk_gpu_may_exist(void) {
#ifdef __linux__
    static const char *const user_drivers[] = {"VK_DRIVER_FILES", "VK_ICD_FILENAMES", "VK_ADD_DRIVER_FILES"};
    for (size_t i = 0; i < sizeof user_drivers / sizeof user_drivers[0]; i++) {
        const char *v = getenv(user_drivers[i]);
        if (v && *v) return true;
    }
    return vk_gpu_nodes_present("/dev");
#else
    return true;
#endif
}
