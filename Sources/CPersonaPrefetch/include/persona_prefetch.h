// A software prefetch for the fused kernels (Swift has no prefetch of its own): asks the processor
// to bring the cache line holding `p` towards L1 ahead of its use. A hint: never faults, never
// changes a result.
#ifndef PERSONA_PREFETCH_H
#define PERSONA_PREFETCH_H

static inline void persona_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
