// Integer dot products of quantized weight rows with activations quantized per 32 values to int8
// (the fast arithmetic of DESIGN.md, "Arithmetic: exact and fast"; the scheme is llama.cpp's
// Q8 activations against its block formats, ggml-common.h).
//
// An activation row of n values (n a multiple of 32) becomes, per 32-value block b:
//   q[32b ..< 32b+32]  int8, d[b] = max|x| / 127 (float), s[b] = Σ q (int32, exact)
// with x ≈ d[b]·q.
//
// The arithmetic (one contract, followed by each `plain` function in integer.c and, with other
// instructions, by each AVX2 and VNNI function; bit-identical, tested by IntegerKernelTests and
// Tests/IntegerKernelHarness). For one weight row and one activation row:
//
// * Lanes. 8 float accumulators acc[0..7], all +0 at the start (one per 32-bit lane of a
//   __m256). In every format a 32-value block's elements are taken in ggml's element order
//   (element i of the block multiplies activation q[32b + i]), and lane l gets the four products
//   of elements 4l, 4l+1, 4l+2, 4l+3, summed exactly in int32 (the grouping of
//   _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), ·), whose int16 pairs never saturate here, and
//   of VNNI's _mm256_dpbusd_epi32):  t_l = Σ_{i=4l..4l+3} w_i·q_i.
//   Weight values w_i are the formats' signed integers (offsets folded in: Q4_0 nibble−8, Q5_0
//   5-bit−16, Q6_K 6-bit−32, Q3_K 2-bit−4 (unless its hmask bit is set), Q8_0 as stored; Q4_1,
//   Q5_1, Q4_K, Q5_K, Q2_K unsigned 0..15/0..31/0..3, their minimum is a separate term below).
//   For the 256-value formats t_l is multiplied (exactly, int32) by the block's integer
//   sub-scale: Q4_K's/Q5_K's 6-bit scale of sub-block j; Q6_K's int8, Q3_K's 6-bit−32 and Q2_K's
//   4-bit scale of elements 0..15 for lanes 0..3 and of elements 16..31 for lanes 4..7.
// * 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), block b with f16 scale dw:
//     c = dw·d[b] (float mul);  acc[l] = fmaf(c, (float)t_l, acc[l])  for l = 0..7.
//   Q4_1's and Q5_1's minimum (f16 mw_b) is added per group of 8 consecutive blocks
//   g = 8G..8G+7 (the last group may be shorter): after the group's last block, for each block b
//   of the group,  acc[b−8G] = fmaf(mw_b, d[b]·(float)s[b], acc[b−8G]).
// * 256-value formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), super-block k with f16 scale dw,
//   sub-blocks b = 8k+j:
//     inner[l] = d[8k]·(float)t_l(j=0);  inner[l] = fmaf(d[8k+j], (float)t_l(j), inner[l]), j=1..7;
//     acc[l] = fmaf(dw, inner[l], acc[l]);
//   Q4_K and Q5_K then subtract their minima (f16 dmin, 6-bit m_j): with M_j = dmin·(float)m_j,
//     acc[j] = fmaf(−M_j, d[8k+j]·(float)s[8k+j], acc[j])   for j = 0..7.
//   Q2_K's minima (f16 dmin, 4-bit m per 16 elements) are a second set of lane sums
//   tm_l = m(elements of lane l)·Σ_{i=4l..4l+3} q_i with their own inner sum innerM (the same
//   steps as inner), then  acc[l] = fmaf(−dmin, innerM[l], acc[l])  after the main step.
// * Result: ((acc[0]+acc[4]) + (acc[2]+acc[6])) + ((acc[1]+acc[5]) + (acc[3]+acc[7])).
//
// fmaf is one rounding (_mm256_fmadd_ps per lane); no other contraction happens (the file is
// compiled with -ffp-contract=off). Every output depends only on its weight row and activation
// row: not on the count of rows, the range of outputs or how the work is split.
//
// Bound. With x̂ = d·q (|x − x̂| ≤ d/2 per element) and a_i = |w_i| (for the formats with a
// minimum, Q4_1, Q5_1, Q2_K, Q4_K, Q5_K: |scale part| + |minimum part| of the element), u = 2^-24,
// k = n/32 + 8 (the longest chain of roundings any product goes through):
//   |y − Σ_i w_i·x̂_i| ≤ k·u/(1 − k·u) · Σ_i a_i·|x̂_i|      (float rounding; checked by the harness)
//   |y − Σ_i w_i·x_i| ≤ Σ_i |w_i|·d_i/2 + 1e-5·Σ_i |w_i|·(|x_i| + d_i)   (IntegerKernelTests, n = 1024)
// Levels (the `level` argument): 0 = plain reference, 1 = AVX2, 2 = AVX-512 VNNI (vpdpbusd on
// ymm), 3 = AVX-VNNI (its VEX form, for CPUs without AVX-512); the caller checks the CPU flags:
// level 1 needs avx2, fma, f16c; level 2 those and avx512f, avx512vl, avx512bw, avx512vnni;
// level 3 those of level 1 and avxvnni (cpuid leaf 7 subleaf 1, EAX bit 4). A level above 3
// runs level 3. All levels give bit-identical results.
#ifndef PERSONA_INTEGER_H
#define PERSONA_INTEGER_H
#include <stdint.h>

/// Quantizes `n` floats (n a multiple of 32) into q[n], d[n/32], s[n/32]: per block d = amax/127,
/// q = roundf(x · (127/amax)) clamped to ±127 (all 0 when amax is 0). A block holding a NaN or an
/// infinity gets d = NaN (its products are NaN, as the float path's would be); a block so small that
/// 127/amax overflows (amax ≈ 2e-43 … 4e-37) gets q = roundf(x / d) instead.
void persona_quantize_q8(const float *x, int n, int8_t *q, float *d, int32_t *s);

/// persona_quantize_q8 at `level`: 0 the plain reference above, ≥ 1 AVX2 (needs avx2; x86-64
/// only, elsewhere plain). Bit-identical to the plain function at every level (same scale and
/// inverse, roundf's half-away-from-zero rounding, clamping, non-finite blocks and sums).
void persona_quantize_q8_level(const float *x, int n, int8_t *q, float *d, int32_t *s, int level);

/// Weight formats with integer kernels (ggml type ids).
enum {
    PERSONA_INT_Q4_0 = 2, PERSONA_INT_Q4_1 = 3, PERSONA_INT_Q5_0 = 6, PERSONA_INT_Q5_1 = 7, PERSONA_INT_Q8_0 = 8,
    PERSONA_INT_Q2_K = 10, PERSONA_INT_Q3_K = 11, PERSONA_INT_Q4_K = 12, PERSONA_INT_Q5_K = 13, PERSONA_INT_Q6_K = 14,
};

/// 1 when `type` has integer kernels.
int persona_integer_supported(int type);

/// Σ over the row: weight row `w` (ggml `type`, `n` elements) · activation row (q, d, s).
/// level 0 = plain reference, 1 = AVX2, 2 = AVX-512 VNNI (vpdpbusd on ymm), 3 = AVX-VNNI; the
/// caller checks the CPU flags (above). 0 for an unsupported type.
float persona_integer_dot(int type, int level, const void *w, const int8_t *q, const float *d, const int32_t *s, int n);

/// y[r·ldy + o] = dot(row o of w, activation row r) for o in [start, end), r in [0, count):
/// levels ≥ 1 tile weight rows × activation rows in registers and blocks the activations
/// for the cache; each output is bit-identical to persona_integer_dot's.
void persona_integer_rows(int type, int level, const void *w, int64_t row_bytes, int n,
                          const int8_t *q, const float *d, const int32_t *s, int count,
                          int start, int end, float *y, int64_t ldy);

#endif
