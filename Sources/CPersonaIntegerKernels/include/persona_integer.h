// Integer dot products of quantized weight rows with activations quantized per 32 values to int8
// (the fast arithmetic of DESIGN.md, "Arithmetic: exact and fast"; the scheme is llama.cpp's
// Q8 activations against its block formats, ggml-common.h).
//
// An activation row of n values (n a multiple of 32) becomes, per 32-value block b:
//   q[32b ..< 32b+32]  int8, d[b] = max|x| / 127 (float), s[b] = Σ q (int32, exact)
// with x ≈ d[b]·q. A weight row dotted with it is, per block, an exact int32 sum of integer
// products, combined in float in ONE fixed order, written once in each `plain` function:
//   acc = 0; for each block b in order: acc += (weight scale · d[b]) · (float)isum_b
//   [and for formats with a minimum: acc += (weight minimum · d[b]) · (float)s[b]]
// The AVX2 functions compute the same integer sums with other instructions and the same float
// operations in the same order (this file is compiled with -ffp-contract=off: no fused
// multiply-add is introduced), so they are bit-identical to the plain ones (IntegerKernelTests).
// Callers must check the processor's flags (avx2, fma, f16c) before calling an `_avx2` function.
#ifndef PERSONA_INTEGER_H
#define PERSONA_INTEGER_H
#include <stdint.h>

/// Quantizes `n` floats (n a multiple of 32) into q[n], d[n/32], s[n/32]. A block holding a NaN
/// or an infinity gets d = NaN (its products are NaN, as the float path's would be).
void persona_quantize_q8(const float *x, int n, int8_t *q, float *d, int32_t *s);

/// Weight formats with integer kernels (ggml type ids).
enum {
    PERSONA_INT_Q4_0 = 2, PERSONA_INT_Q4_1 = 3, PERSONA_INT_Q5_0 = 6, PERSONA_INT_Q8_0 = 8,
    PERSONA_INT_Q4_K = 12, PERSONA_INT_Q6_K = 14,
};

/// 1 when `type` has integer kernels.
int persona_integer_supported(int type);

/// Σ over the row: weight row `w` (ggml `type`, `n` elements) · activation row (q, d, s).
/// level 0 = plain reference, 1 = AVX2 (only after the caller checked the flags). 0 for an
/// unsupported type.
float persona_integer_dot(int type, int level, const void *w, const int8_t *q, const float *d, const int32_t *s, int n);

/// y[r·ldy + o] = dot(row o of w, activation row r) for o in [start, end), r in [0, count):
/// each weight row is read once for all `count` activation rows (it stays in L1 between them).
void persona_integer_rows(int type, int level, const void *w, int64_t row_bytes, int n,
                          const int8_t *q, const float *d, const int32_t *s, int count,
                          int start, int end, float *y, int64_t ldy);

#endif
