// Picks OpenBLAS's CPU kernels when the installed OpenBLAS does not know this processor.
//
// OpenBLAS (DYNAMIC_ARCH, Debian 12: 0.3.21) chooses its kernels from the CPUID family/model when
// the library loads. A processor newer than the library (e.g. Intel Emerald Rapids, family 6
// model 207) is not recognised and gets the generic "Prescott" SSE3 kernels: sgemm runs about 3-4x
// slower (prefill of qwen2.5-0.5b: 55 instead of 172 tokens/s, measured 2026-12-01). The choice
// can only be changed through the environment variable OPENBLAS_CORETYPE before the library
// initialises, so a constructor in every program that links PersonaTensor checks the choice and,
// when OpenBLAS fell back to Prescott on a CPU with AVX-512 (or AVX2+FMA), sets OPENBLAS_CORETYPE
// to the matching kernel family and re-executes the program once with the same arguments.
//
// Nothing happens when OPENBLAS_CORETYPE is already set (the user's or the machine's choice wins),
// when PERSONA_KEEP_OPENBLAS_CORE is set, or when OpenBLAS recognised the CPU.
#ifndef PERSONA_OPENBLAS_CORE_H
#define PERSONA_OPENBLAS_CORE_H

/// The kernel family OpenBLAS uses now (e.g. "Cooperlake", "Prescott"); owned by OpenBLAS.
const char *persona_openblas_core_name(void);

/// The OPENBLAS_CORETYPE the start-up check set for this process ("" when it set none).
const char *persona_openblas_core_override(void);

#endif
