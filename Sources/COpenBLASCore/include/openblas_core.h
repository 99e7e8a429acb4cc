// Which OpenBLAS kernels this processor should run: a query, with no side effect.
//
// OpenBLAS (DYNAMIC_ARCH, Debian 12: 0.3.21) chooses its kernels from the CPUID family/model when
// the library loads. A processor newer than the library (e.g. Intel Emerald Rapids, family 6
// model 207) is not recognised and gets the generic "Prescott" SSE3 kernels: sgemm runs about 3-4x
// slower (prefill of qwen2.5-0.5b: 55 instead of 172 tokens/s, measured 2026-12-01). The choice
// can only be changed through the environment variable OPENBLAS_CORETYPE before the library
// initialises. The policy (set it and re-execute once) belongs to a program's entry point:
// `persona` applies it in Sources/persona/OpenBLASCoreChoice.swift; `make test` passes the same
// choice to the test processes.
#ifndef PERSONA_OPENBLAS_CORE_H
#define PERSONA_OPENBLAS_CORE_H

/// The kernel family OpenBLAS uses now (e.g. "Cooperlake", "Prescott"); owned by OpenBLAS.
const char *persona_openblas_core_name(void);

/// The OPENBLAS_CORETYPE value that fits this processor better than OpenBLAS's own choice, or NULL:
/// only when OpenBLAS fell back to its generic Prescott kernels on a processor with AVX-512
/// ("SKYLAKEX", or "COOPERLAKE" with BF16) or with AVX2 and FMA ("HASWELL").
const char *persona_openblas_better_core(void);

#endif
