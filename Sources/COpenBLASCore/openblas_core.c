// See include/openblas_core.h.
#include "openblas_core.h"
#include <stddef.h>
#include <strings.h>

extern char *openblas_get_corename(void);

const char *persona_openblas_core_name(void) {
    const char *name = openblas_get_corename();
    return name ? name : "";
}

const char *persona_openblas_better_core(void) {
    if (strcasecmp(persona_openblas_core_name(), "prescott") != 0) return NULL;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
        return __builtin_cpu_supports("avx512bf16") ? "COOPERLAKE" : "SKYLAKEX";
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "HASWELL";
#endif
    return NULL;
}
