// See persona_loader.h. Libraries are never closed: Swift images cannot be unloaded safely.
#define _GNU_SOURCE
#include <dlfcn.h>
#include "persona_loader.h"

void *persona_loader_open(const char *path) {
    return dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
}

void *persona_loader_symbol(void *handle, const char *name) {
    return dlsym(handle, name);
}

const char *persona_loader_error(void) {
    return dlerror();
}

const char *persona_loader_image_path(const void *address) {
    Dl_info info;
    if (dladdr(address, &info) == 0) return 0;
    return info.dli_fname;
}
