// See include/openblas_core.h.
#include "openblas_core.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char *openblas_get_corename(void);

static const char *override_name = "";

const char *persona_openblas_core_name(void) {
    const char *name = openblas_get_corename();
    return name ? name : "";
}

const char *persona_openblas_core_override(void) { return override_name; }

/// The OpenBLAS kernel family this CPU can run, best first; NULL when nothing better than the
/// generic kernels fits.
static const char *better_core(void) {
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

// Runs after OpenBLAS's own constructor (a library initialises before the programs that use it).
// glibc passes argc, argv and envp to constructors.
__attribute__((constructor))
static void persona_choose_openblas_core(int argc, char **argv, char **envp) {
    (void)argc; (void)envp;
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    if (coretype != NULL) {
        // Set by the user, the machine, or our own re-execution.
        const char *mark = getenv("PERSONA_OPENBLAS_CORE_SET");
        if (mark != NULL && strcmp(mark, coretype) == 0) override_name = mark;
        return;
    }
    if (getenv("PERSONA_KEEP_OPENBLAS_CORE") != NULL || argv == NULL || argv[0] == NULL) return;
    if (strcasecmp(persona_openblas_core_name(), "prescott") != 0) return;
    const char *core = better_core();
    if (core == NULL) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("PERSONA_OPENBLAS_CORE_SET", core, 1);
    execv("/proc/self/exe", argv);
    // exec failed: go on with the generic kernels.
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("PERSONA_OPENBLAS_CORE_SET");
}
