// The integer kernels as they were before the lane contract (commit bfda109), kept for the
// harness's old-vs-new benchmark only. Public symbols are renamed so both link in one binary.
#define persona_quantize_q8 old_persona_quantize_q8
#define persona_integer_supported old_persona_integer_supported
#define persona_integer_dot old_persona_integer_dot
#define persona_integer_rows old_persona_integer_rows
// Integer kernels: see include/persona_integer.h for the arithmetic contract. Block layouts follow
// ggml-common.h; each format has a plain function (the reference) and an AVX2 one that computes the
// same int32 sums with maddubs/madd and performs the same float operations in the same order.
#include "persona_integer.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma STDC FP_CONTRACT OFF

static inline float half_to_float(const uint8_t *p) {
    uint16_t h; memcpy(&h, p, 2);
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) bits = sign | 0x7F800000u | (mantissa << 13);
    else if (exponent == 0) {
        if (mantissa == 0) bits = sign;
        else {
            uint32_t e = 127 - 15 + 1;
            while ((mantissa & 0x400) == 0) { mantissa <<= 1; e -= 1; }
            bits = sign | (e << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    float f; memcpy(&f, &bits, 4); return f;
}

void persona_quantize_q8(const float *x, int n, int8_t *q, float *d, int32_t *s) {
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        float amax = 0; int finite = 1;
        for (int i = 0; i < 32; i++) {
            if (!isfinite(xb[i])) finite = 0;
            else { float a = fabsf(xb[i]); if (a > amax) amax = a; }
        }
        float scale = amax / 127.0f, inverse = scale != 0 ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            int v = finite ? (int)roundf(xb[i] * inverse) : 0;
            if (v > 127) v = 127; if (v < -127) v = -127;
            q[32 * b + i] = (int8_t)v; sum += v;
        }
        d[b] = finite ? scale : NAN; s[b] = sum;
    }
}

int persona_integer_supported(int type) {
    switch (type) {
    case PERSONA_INT_Q4_0: case PERSONA_INT_Q4_1: case PERSONA_INT_Q5_0: case PERSONA_INT_Q8_0:
    case PERSONA_INT_Q4_K: case PERSONA_INT_Q6_K: return 1;
    default: return 0;
    }
}

// MARK: Q4_K scale and minimum of sub-block j (ggml's get_scale_min_k4).
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *m) {
    if (j < 4) { *sc = q[j] & 63; *m = q[j + 4] & 63; }
    else { *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}

// MARK: Plain reference, one function per format. isum is exact; the float lines are the contract.

static float dot_q8_0_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 34) {
        const int8_t *wq = (const int8_t *)(w + 2); int32_t isum = 0;
        for (int i = 0; i < 32; i++) isum += wq[i] * q[32 * b + i];
        acc += (half_to_float(w) * d[b]) * (float)isum;
    }
    return acc;
}

static float dot_q4_0_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 18) {
        int32_t isum = 0;
        for (int i = 0; i < 16; i++) isum += (w[2 + i] & 0xF) * q[32 * b + i] + (w[2 + i] >> 4) * q[32 * b + 16 + i];
        isum -= 8 * s[b];
        acc += (half_to_float(w) * d[b]) * (float)isum;
    }
    return acc;
}

static float dot_q4_1_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 20) {
        int32_t isum = 0;
        for (int i = 0; i < 16; i++) isum += (w[4 + i] & 0xF) * q[32 * b + i] + (w[4 + i] >> 4) * q[32 * b + 16 + i];
        acc += (half_to_float(w) * d[b]) * (float)isum;
        acc += (half_to_float(w + 2) * d[b]) * (float)s[b];
    }
    return acc;
}

static float dot_q5_0_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 22) {
        uint32_t qh; memcpy(&qh, w + 2, 4);
        int32_t isum = 0;
        for (int i = 0; i < 16; i++) {
            int lo = (w[6 + i] & 0xF) | (((qh >> i) << 4) & 0x10);
            int hi = (w[6 + i] >> 4) | ((qh >> (i + 12)) & 0x10);
            isum += lo * q[32 * b + i] + hi * q[32 * b + 16 + i];
        }
        isum -= 16 * s[b];
        acc += (half_to_float(w) * d[b]) * (float)isum;
    }
    return acc;
}

static float dot_q4_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    for (int k = 0; k < n / 256; k++, w += 144) {
        float dw = half_to_float(w), mw = half_to_float(w + 2);
        const uint8_t *scales = w + 4, *qs = w + 16;
        for (int j = 0; j < 8; j++) {
            int b = 8 * k + j, sc, m; scale_min_k4(j, scales, &sc, &m);
            const uint8_t *p = qs + 32 * (j / 2); int shift = 4 * (j & 1);
            int32_t isum = 0;
            for (int i = 0; i < 32; i++) isum += ((p[i] >> shift) & 0xF) * q[32 * b + i];
            acc += (dw * (float)sc * d[b]) * (float)isum;
            acc -= (mw * (float)m * d[b]) * (float)s[b];
        }
    }
    return acc;
}

// Q6_K element e (0..255) of a super-block: quant (0..63) and its 16-element scale index.
static inline int q6_k_quant(const uint8_t *ql, const uint8_t *qh, int e) {
    int half = e / 128, r = e % 128, quarter = r / 32, l = r % 32;
    ql += 64 * half; qh += 32 * half;
    int low = quarter & 1 ? ql[l + 32] : ql[l];
    low = quarter >= 2 ? low >> 4 : low & 0xF;
    return low | (((qh[l] >> (2 * quarter)) & 3) << 4);
}

static float dot_q6_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc = 0;
    for (int k = 0; k < n / 256; k++, w += 210) {
        const uint8_t *ql = w, *qh = w + 128; const int8_t *sc = (const int8_t *)(w + 192);
        float dw = half_to_float(w + 208);
        for (int j = 0; j < 8; j++) {
            int b = 8 * k + j; int32_t isum = 0;
            for (int g = 0; g < 2; g++) {
                int32_t part = 0;
                for (int i = 0; i < 16; i++) {
                    int e = 32 * j + 16 * g + i;
                    part += (q6_k_quant(ql, qh, e) - 32) * q[32 * b + 16 * g + i];
                }
                isum += sc[(32 * j + 16 * g) / 16] * part;
            }
            acc += (dw * d[b]) * (float)isum;
        }
    }
    return acc;
}

// MARK: AVX2: the same integer sums (maddubs of unsigned weights and signed activations, madd to
// int32, a horizontal sum) and the same float lines.
#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

/// binary16 → float with F16C: exact, so equal to half_to_float.
AVX2 static inline float half_f16c(const uint8_t *p) {
    uint16_t h; memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

AVX2 static inline int32_t hsum_i32(__m256i v) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(x);
}

/// Σ u·v over 32 lanes, u unsigned (≤ 63), v signed int8: pairs never saturate int16.
AVX2 static inline __m256i dot_u8_i8(__m256i u, __m256i v) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, v), _mm256_set1_epi16(1));
}

/// 32 nibbles of 16 bytes: low nibbles first (elements 0..15), then high ones (16..31).
AVX2 static inline __m256i nibbles(const uint8_t *p) {
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

AVX2 static float dot_q8_0_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 34) {
        __m256i wq = _mm256_loadu_si256((const __m256i *)(w + 2));
        __m256i xq = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        // |w| · (x with w's sign): maddubs needs an unsigned first operand.
        __m256i prod = dot_u8_i8(_mm256_sign_epi8(wq, wq), _mm256_sign_epi8(xq, wq));
        int32_t isum = hsum_i32(prod);
        acc += (half_f16c(w) * d[b]) * (float)isum;
    }
    return acc;
}

AVX2 static float dot_q4_0_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 18) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        int32_t isum = hsum_i32(dot_u8_i8(nibbles(w + 2), xq));
        isum -= 8 * s[b];
        acc += (half_f16c(w) * d[b]) * (float)isum;
    }
    return acc;
}

AVX2 static float dot_q4_1_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    for (int b = 0; b < n / 32; b++, w += 20) {
        __m256i xq = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        int32_t isum = hsum_i32(dot_u8_i8(nibbles(w + 4), xq));
        acc += (half_f16c(w) * d[b]) * (float)isum;
        acc += (half_f16c(w + 2) * d[b]) * (float)s[b];
    }
    return acc;
}

AVX2 static float dot_q5_0_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    // Bit i of qh goes to byte i as 0x10: spread the 32 bits to 32 bytes.
    const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000);
    const __m256i bitMask = _mm256_set1_epi64x((long long)0x7fbfdfeff7fbfdfe);
    for (int b = 0; b < n / 32; b++, w += 22) {
        uint32_t qh; memcpy(&qh, w + 2, 4);
        __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuffle);
        spread = _mm256_or_si256(spread, bitMask);
        spread = _mm256_cmpeq_epi8(spread, _mm256_set1_epi64x(-1));   // 0xFF where the bit is set
        __m256i high = _mm256_and_si256(spread, _mm256_set1_epi8(0x10));
        __m256i wq = _mm256_or_si256(nibbles(w + 6), high);
        __m256i xq = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        int32_t isum = hsum_i32(dot_u8_i8(wq, xq));
        isum -= 16 * s[b];
        acc += (half_f16c(w) * d[b]) * (float)isum;
    }
    return acc;
}

AVX2 static float dot_q4_K_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc = 0;
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int k = 0; k < n / 256; k++, w += 144) {
        float dw = half_f16c(w), mw = half_f16c(w + 2);
        const uint8_t *scales = w + 4, *qs = w + 16;
        for (int c = 0; c < 4; c++) {
            __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            for (int h = 0; h < 2; h++) {
                int j = 2 * c + h, b = 8 * k + j, sc, m; scale_min_k4(j, scales, &sc, &m);
                __m256i wq = h == 0 ? _mm256_and_si256(bytes, low) : _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
                __m256i xq = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
                int32_t isum = hsum_i32(dot_u8_i8(wq, xq));
                acc += (dw * (float)sc * d[b]) * (float)isum;
                acc -= (mw * (float)m * d[b]) * (float)s[b];
            }
        }
    }
    return acc;
}

AVX2 static float dot_q6_K_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc = 0;
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    for (int k = 0; k < n / 256; k++, w += 210) {
        const int8_t *sc = (const int8_t *)(w + 192);
        float dw = half_f16c(w + 208);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = w + 64 * half, *qh = w + 128 + 32 * half;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            for (int quarter = 0; quarter < 4; quarter++) {
                __m256i lq = quarter & 1 ? l1 : l0;
                lq = quarter >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lq, 4), low) : _mm256_and_si256(lq, low);
                __m256i hq = _mm256_and_si256(_mm256_srli_epi16(hb, 2 * quarter), three);
                __m256i wq = _mm256_or_si256(lq, _mm256_slli_epi16(hq, 4));   // 0..63, no carry across bytes
                int j = 4 * half + quarter, b = 8 * k + j;
                __m256i xq = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
                // Σ (w − 32)·x per 16 elements, weighted by the two scales: int16 lanes 0..7 hold
                // elements 0..15, lanes 8..15 elements 16..31.
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(wq, xq), _mm256_maddubs_epi16(offset, xq));
                int s0 = sc[2 * j], s1 = sc[2 * j + 1];
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16((short)s1), _mm_set1_epi16((short)s0));
                int32_t isum = hsum_i32(_mm256_madd_epi16(p, scale));
                acc += (dw * d[b]) * (float)isum;
            }
        }
    }
    return acc;
}

// MARK: AVX2 over several activation rows: each weight block is unpacked once and used for up to
// GROUP activation rows. Every output keeps its own accumulator, updated block by block with the
// plain function's float lines, so each result is bit-identical to the single-row dot.
#define GROUP 8
#define ROWS_BEGIN(BYTES) \
    int blocks = n / 32; \
    for (int r0 = 0; r0 < count; r0 += GROUP) { \
        int m = count - r0 < GROUP ? count - r0 : GROUP; \
        float acc[GROUP] = {0, 0, 0, 0, 0, 0, 0, 0}; \
        const uint8_t *wb = w;
#define ROWS_END \
        for (int r = 0; r < m; r++) y[(int64_t)(r0 + r) * ldy] = acc[r]; \
    }
#define XQ(rr, b) _mm256_loadu_si256((const __m256i *)(q + (int64_t)(rr) * n + 32 * (b)))
#define XD(rr, b) d[(int64_t)(rr) * blocks + (b)]
#define XS(rr, b) s[(int64_t)(rr) * blocks + (b)]

AVX2 static void rows_q8_0_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n, int count, float *y, int64_t ldy) {
    ROWS_BEGIN(34)
        for (int b = 0; b < blocks; b++, wb += 34) {
            __m256i wq = _mm256_loadu_si256((const __m256i *)(wb + 2)), aw = _mm256_sign_epi8(wq, wq);
            float dw = half_f16c(wb);
            for (int r = 0; r < m; r++) {
                int32_t isum = hsum_i32(dot_u8_i8(aw, _mm256_sign_epi8(XQ(r0 + r, b), wq)));
                acc[r] += (dw * XD(r0 + r, b)) * (float)isum;
            }
        }
    ROWS_END
}

AVX2 static void rows_q4_0_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n, int count, float *y, int64_t ldy) {
    ROWS_BEGIN(18)
        for (int b = 0; b < blocks; b++, wb += 18) {
            __m256i wq = nibbles(wb + 2); float dw = half_f16c(wb);
            for (int r = 0; r < m; r++) {
                int32_t isum = hsum_i32(dot_u8_i8(wq, XQ(r0 + r, b)));
                isum -= 8 * XS(r0 + r, b);
                acc[r] += (dw * XD(r0 + r, b)) * (float)isum;
            }
        }
    ROWS_END
}

AVX2 static void rows_q4_1_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n, int count, float *y, int64_t ldy) {
    ROWS_BEGIN(20)
        for (int b = 0; b < blocks; b++, wb += 20) {
            __m256i wq = nibbles(wb + 4); float dw = half_f16c(wb), mw = half_f16c(wb + 2);
            for (int r = 0; r < m; r++) {
                int32_t isum = hsum_i32(dot_u8_i8(wq, XQ(r0 + r, b)));
                acc[r] += (dw * XD(r0 + r, b)) * (float)isum;
                acc[r] += (mw * XD(r0 + r, b)) * (float)XS(r0 + r, b);
            }
        }
    ROWS_END
}

AVX2 static void rows_q5_0_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n, int count, float *y, int64_t ldy) {
    const __m256i shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000);
    const __m256i bitMask = _mm256_set1_epi64x((long long)0x7fbfdfeff7fbfdfe);
    ROWS_BEGIN(22)
        for (int b = 0; b < blocks; b++, wb += 22) {
            uint32_t qh; memcpy(&qh, wb + 2, 4);
            __m256i spread = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuffle), bitMask);
            spread = _mm256_cmpeq_epi8(spread, _mm256_set1_epi64x(-1));
            __m256i wq = _mm256_or_si256(nibbles(wb + 6), _mm256_and_si256(spread, _mm256_set1_epi8(0x10)));
            float dw = half_f16c(wb);
            for (int r = 0; r < m; r++) {
                int32_t isum = hsum_i32(dot_u8_i8(wq, XQ(r0 + r, b)));
                isum -= 16 * XS(r0 + r, b);
                acc[r] += (dw * XD(r0 + r, b)) * (float)isum;
            }
        }
    ROWS_END
}

AVX2 static void rows_q4_K_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n, int count, float *y, int64_t ldy) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    ROWS_BEGIN(144)
        for (int k = 0; k < n / 256; k++, wb += 144) {
            float dw = half_f16c(wb), mw = half_f16c(wb + 2);
            const uint8_t *scales = wb + 4, *qs = wb + 16;
            for (int j = 0; j < 8; j++) {
                int b = 8 * k + j, sc, mn; scale_min_k4(j, scales, &sc, &mn);
                __m256i bytes = _mm256_loadu_si256((const __m256i *)(qs + 32 * (j / 2)));
                __m256i wq = (j & 1) == 0 ? _mm256_and_si256(bytes, low) : _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low);
                for (int r = 0; r < m; r++) {
                    int32_t isum = hsum_i32(dot_u8_i8(wq, XQ(r0 + r, b)));
                    acc[r] += (dw * (float)sc * XD(r0 + r, b)) * (float)isum;
                    acc[r] -= (mw * (float)mn * XD(r0 + r, b)) * (float)XS(r0 + r, b);
                }
            }
        }
    ROWS_END
}

AVX2 static void rows_q6_K_avx2(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n, int count, float *y, int64_t ldy) {
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    ROWS_BEGIN(210)
        for (int k = 0; k < n / 256; k++, wb += 210) {
            const int8_t *sc = (const int8_t *)(wb + 192);
            float dw = half_f16c(wb + 208);
            for (int j = 0; j < 8; j++) {
                int half = j / 4, quarter = j % 4, b = 8 * k + j;
                const uint8_t *ql = wb + 64 * half, *qh = wb + 128 + 32 * half;
                __m256i lq = _mm256_loadu_si256((const __m256i *)(ql + 32 * (quarter & 1)));
                lq = quarter >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lq, 4), low) : _mm256_and_si256(lq, low);
                __m256i hq = _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)qh), 2 * quarter), three);
                __m256i wq = _mm256_or_si256(lq, _mm256_slli_epi16(hq, 4));
                __m256i scale = _mm256_set_m128i(_mm_set1_epi16((short)sc[2 * j + 1]), _mm_set1_epi16((short)sc[2 * j]));
                for (int r = 0; r < m; r++) {
                    __m256i xq = XQ(r0 + r, b);
                    __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(wq, xq), _mm256_maddubs_epi16(offset, xq));
                    int32_t isum = hsum_i32(_mm256_madd_epi16(p, scale));
                    acc[r] += (dw * XD(r0 + r, b)) * (float)isum;
                }
            }
        }
    ROWS_END
}
#endif

typedef float (*dot_fn)(const uint8_t *, const int8_t *, const float *, const int32_t *, int);

static dot_fn dot_function(int type, int level) {
#if defined(__x86_64__)
    if (level == 1) {
        switch (type) {
        case PERSONA_INT_Q8_0: return dot_q8_0_avx2;
        case PERSONA_INT_Q4_0: return dot_q4_0_avx2;
        case PERSONA_INT_Q4_1: return dot_q4_1_avx2;
        case PERSONA_INT_Q5_0: return dot_q5_0_avx2;
        case PERSONA_INT_Q4_K: return dot_q4_K_avx2;
        case PERSONA_INT_Q6_K: return dot_q6_K_avx2;
        }
    }
#endif
    switch (type) {
    case PERSONA_INT_Q8_0: return dot_q8_0_plain;
    case PERSONA_INT_Q4_0: return dot_q4_0_plain;
    case PERSONA_INT_Q4_1: return dot_q4_1_plain;
    case PERSONA_INT_Q5_0: return dot_q5_0_plain;
    case PERSONA_INT_Q4_K: return dot_q4_K_plain;
    case PERSONA_INT_Q6_K: return dot_q6_K_plain;
    }
    return 0;
}

float persona_integer_dot(int type, int level, const void *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    dot_fn f = dot_function(type, level);
    return f ? f((const uint8_t *)w, q, d, s, n) : 0.0f;
}

typedef void (*rows_fn)(const uint8_t *, const int8_t *, const float *, const int32_t *, int, int, float *, int64_t);

void persona_integer_rows(int type, int level, const void *w, int64_t row_bytes, int n,
                          const int8_t *q, const float *d, const int32_t *s, int count,
                          int start, int end, float *y, int64_t ldy) {
#if defined(__x86_64__)
    if (level == 1 && count > 1) {
        rows_fn g = 0;
        switch (type) {
        case PERSONA_INT_Q8_0: g = rows_q8_0_avx2; break;
        case PERSONA_INT_Q4_0: g = rows_q4_0_avx2; break;
        case PERSONA_INT_Q4_1: g = rows_q4_1_avx2; break;
        case PERSONA_INT_Q5_0: g = rows_q5_0_avx2; break;
        case PERSONA_INT_Q4_K: g = rows_q4_K_avx2; break;
        case PERSONA_INT_Q6_K: g = rows_q6_K_avx2; break;
        }
        if (g) {
            for (int o = start; o < end; o++) g((const uint8_t *)w + (int64_t)o * row_bytes, q, d, s, n, count, y + o, ldy);
            return;
        }
    }
#endif
    dot_fn f = dot_function(type, level);
    if (!f) return;
    int blocks = n / 32;
    for (int o = start; o < end; o++) {
        const uint8_t *row = (const uint8_t *)w + (int64_t)o * row_bytes;
        for (int r = 0; r < count; r++)
            y[(int64_t)r * ldy + o] = f(row, q + (int64_t)r * n, d + (int64_t)r * blocks, s + (int64_t)r * blocks, n);
    }
}
