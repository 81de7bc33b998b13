/* The Vulkan loader unloads a driver at vkDestroyInstance; memory the driver keeps in its
 * own globals then looks leaked to LeakSanitizer, with no module left to name. Loading each
 * installed driver once more with RTLD_NODELETE keeps it mapped, so leak checking stays on
 * for our code in every test that may open a Vulkan device. */
#include "testdata.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pin_driver_of(const char *json_path) {
    size_t len;
    char *text = test_read_all(json_path, &len);
    if (!text) return;
    char *key = strstr(text, "\"library_path\"");
    char *q1 = key ? strchr(key + strlen("\"library_path\""), '"') : NULL;
    char *q2 = q1 ? strchr(q1 + 1, '"') : NULL;
    if (q2) {
        *q2 = 0;
        dlopen(q1 + 1, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    }
    free(text);
}

void test_pin_vulkan_drivers(void) {
    const char *dirs[] = {"/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        DIR *d = opendir(dirs[i]);
        if (!d) continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strstr(e->d_name, ".json")) continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[i], e->d_name);
            pin_driver_of(path);
        }
        closedir(d);
    }
}
