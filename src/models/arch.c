#include "models/arch.h"

#include <string.h>

/* Every architecture the library can run. Adding one = one new file + one line here. */
static const infer_arch *const k_archs[] = {
    &infer_arch_llama,
    &infer_arch_qwen2,
    &infer_arch_qwen3,
    &infer_arch_gptoss,
    &infer_arch_gemma3,
};

const infer_arch *infer_arch_find(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++) {
        const char *n = k_archs[i]->name;
        if (strlen(n) == len && memcmp(n, name, len) == 0) return k_archs[i];
    }
    return NULL;
}
