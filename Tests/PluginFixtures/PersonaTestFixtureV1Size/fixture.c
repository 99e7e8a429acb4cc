/*
 * A plugin built against version 1 of the ABI, whose structs end where version 1 ends: the
 * descriptor and the function table declare PERSONA_*_V1_SIZE and are placed so that the byte just
 * past them is the first byte of an unreadable page. A host built against a header with fields
 * appended must read only the declared bytes (reading one byte more faults).
 *   "c-v1-hook"    hook, descriptor and table of exactly the version-1 sizes, before a guard page
 *   "c-newer-hook" hook whose descriptor declares 8 bytes more than version 1 (a field this host
 *                  does not know yet), which the host must ignore
 */
#define _DEFAULT_SOURCE 1   /* MAP_ANONYMOUS under -std=c11 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../../../Sources/PersonaABI/include/persona_abi.h"

static int32_t v1_create(const persona_plugin_descriptor *d, const persona_host_services *host,
                         const char *config, void **out, persona_error *e) {
    (void)d; (void)config; (void)e;
    if (!host || host->struct_size < PERSONA_HOST_SERVICES_V1_SIZE) return PERSONA_ERROR_UNAVAILABLE;
    *out = (void *)1;
    return PERSONA_OK;
}
static void v1_destroy(void *c) { (void)c; }
static int32_t v1_layers(void *c, int32_t *out_layers, uint32_t capacity) {
    (void)c;
    if (capacity >= 1) out_layers[0] = 3;
    return 1;
}
static int32_t v1_process(void *c, const persona_residual_stream *s, persona_error *e) { (void)c; (void)s; (void)e; return PERSONA_OK; }

/* Two pages: the structs end at the end of the first, the second is PROT_NONE. */
static unsigned char *guarded_end(void) {
    static unsigned char *end = 0;
    if (end) return end;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *base = mmap(0, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return 0;
    if (mprotect(base + page, (size_t)page, PROT_NONE) != 0) return 0;
    end = base + page;
    return end;
}

const persona_plugin_descriptor *persona_plugin_entry(uint32_t host_abi_version, uint32_t index) {
    static const persona_plugin_descriptor *descriptors[2];
    (void)host_abi_version;
    if (index > 1) return 0;
    if (!descriptors[0]) {
        unsigned char *end = guarded_end();
        if (!end) return 0;
        /* Layout, growing down from the guard page: v1 descriptor, v1 table, newer descriptor (+8 bytes). */
        unsigned char *d1 = end - PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE;
        unsigned char *t1 = d1 - PERSONA_HOOK_FUNCTIONS_V1_SIZE;
        unsigned char *d2 = t1 - 128;
        persona_hook_functions table;
        memset(&table, 0, sizeof table);
        table.struct_size = PERSONA_HOOK_FUNCTIONS_V1_SIZE;
        table.layers = v1_layers;
        table.process = v1_process;
        memcpy(t1, &table, PERSONA_HOOK_FUNCTIONS_V1_SIZE);
        persona_plugin_descriptor d;
        memset(&d, 0, sizeof d);
        d.abi_version = PERSONA_ABI_VERSION;
        d.struct_size = PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE;
        d.name = "c-v1-hook";
        d.version = "1.0.0";
        d.kind = PERSONA_KIND_HOOK;
        d.description = "a hook whose structs end at an unreadable page";
        d.create = v1_create;
        d.destroy = v1_destroy;
        d.functions = t1;
        memcpy(d1, &d, PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE);
        d.struct_size = PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE + 8;
        d.name = "c-newer-hook";
        memcpy(d2, &d, PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE);
        memset(d2 + PERSONA_PLUGIN_DESCRIPTOR_V1_SIZE, 0xAB, 8);   /* the field this host does not know */
        descriptors[0] = (const persona_plugin_descriptor *)(const void *)d1;
        descriptors[1] = (const persona_plugin_descriptor *)(const void *)d2;
    }
    return descriptors[index];
}
