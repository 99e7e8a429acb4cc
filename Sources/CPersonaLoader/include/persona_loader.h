// Small C helpers for the plugin host: dlopen/dlsym/dladdr with the flags Persona needs, and the
// path of the image that holds a given address (Swift's Glibc module does not export dladdr).
#ifndef PERSONA_LOADER_H
#define PERSONA_LOADER_H

/// dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE). NULL on failure (see persona_loader_error).
void *persona_loader_open(const char *path);
/// dlsym(handle, name).
void *persona_loader_symbol(void *handle, const char *name);
/// The last dlerror() text, or NULL. Valid until the next dl* call on this thread.
const char *persona_loader_error(void);
/// Path of the shared object or executable containing `address` (dladdr), or NULL.
const char *persona_loader_image_path(const void *address);

#endif
