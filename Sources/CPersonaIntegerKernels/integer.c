// Integer kernels: see include/persona_integer.h for the arithmetic contract (8 float lanes per
// output, lane l = elements 4l..4l+3 of each 32-value block). Block layouts follow ggml-common.h;
// each format has a plain function (the reference, written in the contract's terms) and tile
// functions (several weight rows × several activation rows in registers) doing the same integer
// sums and the same float operations, at each level: AVX2 (maddubs/madd), AVX-512 VNNI and
// AVX-VNNI (vpdpbusd); the tile bodies are integer_tiles.h, included once per level.
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

/// One block of 32 values whose scale is not zero but whose inverse 127/amax overflows to
/// infinity (amax between about 2e-43 and 4e-37): x·inverse would be infinite and (int) of it
/// undefined, so these rare blocks divide by the scale instead (|x / scale| ≤ 127 up to rounding,
/// which the clamp takes). Both quantizers call this one function for such a block.
static void quantize_tiny_block(const float *xb, float scale, int8_t *qb, int32_t *sb) {
    int32_t sum = 0;
    for (int i = 0; i < 32; i++) {
        float t = roundf(xb[i] / scale);
        int v = t > 127.0f ? 127 : (t < -127.0f ? -127 : (int)t);
        qb[i] = (int8_t)v; sum += v;
    }
    *sb = sum;
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
        if (finite && isinf(inverse)) {
            quantize_tiny_block(xb, scale, q + 32 * b, s + b); d[b] = scale;
            continue;
        }
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
    case PERSONA_INT_Q5_1: case PERSONA_INT_Q2_K: case PERSONA_INT_Q3_K: case PERSONA_INT_Q4_K:
    case PERSONA_INT_Q5_K: case PERSONA_INT_Q6_K: return 1;
    default: return 0;
    }
}

/// Q4_K's 12 scale bytes → 8 six-bit scales and 8 six-bit minima (sub-block j = 0..7).
/// Bytes 0..3: scale j (low 6 bits), bytes 4..7: minimum j (low 6 bits), for j < 4; for j ≥ 4
/// the low 4 bits come from byte 8+(j−4) (scale: low nibble, minimum: high nibble) and the high 2
/// bits from the top 2 bits of byte j−4 (scale) or byte j (minimum).
static inline void q4_k_scales(const uint8_t *p, uint8_t sc[8], uint8_t m[8]) {
    uint32_t a, b, c; memcpy(&a, p, 4); memcpy(&b, p + 4, 4); memcpy(&c, p + 8, 4);
    uint32_t s0 = a & 0x3F3F3F3Fu, m0 = b & 0x3F3F3F3Fu;
    uint32_t s1 = (c & 0x0F0F0F0Fu) | ((a >> 2) & 0x30303030u);
    uint32_t m1 = ((c >> 4) & 0x0F0F0F0Fu) | ((b >> 2) & 0x30303030u);
    memcpy(sc, &s0, 4); memcpy(sc + 4, &s1, 4); memcpy(m, &m0, 4); memcpy(m + 4, &m1, 4);
}

/// The contract's final reduction of the 8 lanes.
static inline float reduce_lanes(const float a[8]) {
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

// MARK: Plain reference, one function per format, in the contract's terms. w32[i] holds the 32
// signed (or, for Q4_1/Q4_K, unsigned) weight integers of a block in element order.

/// acc[l] = fmaf(c, t_l, acc[l]) with t_l = Σ_{i=4l..4l+3} w32[i]·x[i] (times scale16 of its half).
static inline void lanes_add(float acc[8], float c, const int w32[32], const int8_t *x) {
    for (int l = 0; l < 8; l++) {
        int32_t t = 0;
        for (int i = 4 * l; i < 4 * l + 4; i++) t += w32[i] * x[i];
        acc[l] = fmaf(c, (float)t, acc[l]);
    }
}

/// Lane sums t_l of a sub-block of a 256-value format, with its integer sub-scales (sc_lo for
/// lanes 0..3, sc_hi for lanes 4..7).
static inline void lanes_int(int32_t t[8], const int w32[32], const int8_t *x, int sc_lo, int sc_hi) {
    for (int l = 0; l < 8; l++) {
        int32_t u = 0;
        for (int i = 4 * l; i < 4 * l + 4; i++) u += w32[i] * x[i];
        t[l] = (l < 4 ? sc_lo : sc_hi) * u;
    }
}

// Q8_0, 34 bytes: f16 scale, 32 int8 (element i = byte 2+i).
static float dot_q8_0_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc[8] = {0};
    for (int b = 0; b < n / 32; b++, w += 34) {
        int v[32];
        for (int i = 0; i < 32; i++) v[i] = (int8_t)w[2 + i];
        lanes_add(acc, half_to_float(w) * d[b], v, q + 32 * b);
    }
    return reduce_lanes(acc);
}

// Q4_0, 18 bytes: f16 scale, 16 bytes; element i < 16 = low nibble of byte 2+i, element 16+i =
// its high nibble; value nibble − 8. Lane l holds elements 4l..4l+3 (low nibbles for l < 4).
static float dot_q4_0_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc[8] = {0};
    for (int b = 0; b < n / 32; b++, w += 18) {
        int v[32];
        for (int i = 0; i < 16; i++) { v[i] = (w[2 + i] & 0xF) - 8; v[16 + i] = (w[2 + i] >> 4) - 8; }
        lanes_add(acc, half_to_float(w) * d[b], v, q + 32 * b);
    }
    return reduce_lanes(acc);
}

/// Q4_1's and Q4_K's minimum terms for blocks g0 ..< g0+count: acc[j] = fmaf(m[j], d·s, acc[j]).
static inline void lanes_minimum(float acc[8], const float m[8], const float *d, const int32_t *s, int g0, int count) {
    for (int j = 0; j < count; j++) acc[j] = fmaf(m[j], d[g0 + j] * (float)s[g0 + j], acc[j]);
}

// Q4_1, 20 bytes: f16 scale, f16 minimum, 16 bytes of nibbles as Q4_0 (values 0..15). The
// minimum terms go to lane b mod 8 after each group of 8 blocks (header).
static float dot_q4_1_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc[8] = {0}, m[8];
    int blocks = n / 32;
    for (int b = 0; b < blocks; b++, w += 20) {
        int v[32];
        for (int i = 0; i < 16; i++) { v[i] = w[4 + i] & 0xF; v[16 + i] = w[4 + i] >> 4; }
        lanes_add(acc, half_to_float(w) * d[b], v, q + 32 * b);
        m[b % 8] = half_to_float(w + 2);
        if (b % 8 == 7 || b == blocks - 1) lanes_minimum(acc, m, d, s, b - b % 8, b % 8 + 1);
    }
    return reduce_lanes(acc);
}

// Q5_0, 22 bytes: f16 scale, 32 bits qh, 16 bytes of nibbles as Q4_0; element i's fifth bit is
// bit i of qh; value (nibble | bit·16) − 16.
static float dot_q5_0_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc[8] = {0};
    for (int b = 0; b < n / 32; b++, w += 22) {
        uint32_t qh; memcpy(&qh, w + 2, 4);
        int v[32];
        for (int i = 0; i < 16; i++) {
            v[i] = ((w[6 + i] & 0xF) | (((qh >> i) & 1) << 4)) - 16;
            v[16 + i] = ((w[6 + i] >> 4) | (((qh >> (16 + i)) & 1) << 4)) - 16;
        }
        lanes_add(acc, half_to_float(w) * d[b], v, q + 32 * b);
    }
    return reduce_lanes(acc);
}

/// The 256-value formats' float steps for super-block k, given its 8 sub-blocks' lane sums.
static inline void lanes_super(float acc[8], float dw, int32_t t[8][8], const float *d, int k) {
    float inner[8];
    for (int l = 0; l < 8; l++) inner[l] = d[8 * k] * (float)t[0][l];
    for (int j = 1; j < 8; j++)
        for (int l = 0; l < 8; l++) inner[l] = fmaf(d[8 * k + j], (float)t[j][l], inner[l]);
    for (int l = 0; l < 8; l++) acc[l] = fmaf(dw, inner[l], acc[l]);
}

// Q4_K, 144 bytes per 256 values: f16 scale, f16 minimum scale, 12 bytes of 6-bit scales and
// minima (q4_k_scales), 128 bytes of nibbles: sub-block j's element i is the low (j even) or high
// (j odd) nibble of byte 16 + 32·(j/2) + i. Weight = scale·sc_j·nibble − dmin·m_j.
static float dot_q4_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc[8] = {0};
    for (int k = 0; k < n / 256; k++, w += 144) {
        uint8_t sc[8], mn[8]; q4_k_scales(w + 4, sc, mn);
        int32_t t[8][8];
        for (int j = 0; j < 8; j++) {
            int v[32];
            for (int i = 0; i < 32; i++) v[i] = (w[16 + 32 * (j / 2) + i] >> (4 * (j & 1))) & 0xF;
            lanes_int(t[j], v, q + 256 * k + 32 * j, sc[j], sc[j]);
        }
        lanes_super(acc, half_to_float(w), t, d, k);
        float dmin = half_to_float(w + 2), m[8];
        for (int j = 0; j < 8; j++) m[j] = -(dmin * (float)mn[j]);
        lanes_minimum(acc, m, d, s, 8 * k, 8);
    }
    return reduce_lanes(acc);
}

// Q6_K, 210 bytes per 256 values: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 int8
// scales (one per 16 elements), f16 scale. Sub-block j (half h = j/4, quarter r = j%4), element
// i: low bits = nibble (low for r < 2, high otherwise) of ql[64h + 32(r&1) + i], high bits = bits
// 2r..2r+1 of qh[32h + i]; value 6-bit − 32; scale sc[2j] for i < 16, sc[2j+1] for i ≥ 16.
static float dot_q6_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc[8] = {0};
    for (int k = 0; k < n / 256; k++, w += 210) {
        const int8_t *sc = (const int8_t *)(w + 192);
        int32_t t[8][8];
        for (int j = 0; j < 8; j++) {
            int h = j / 4, r = j % 4, v[32];
            for (int i = 0; i < 32; i++) {
                int low = (w[64 * h + 32 * (r & 1) + i] >> (r < 2 ? 0 : 4)) & 0xF;
                int high = (w[128 + 32 * h + i] >> (2 * r)) & 3;
                v[i] = (low | (high << 4)) - 32;
            }
            lanes_int(t[j], v, q + 256 * k + 32 * j, sc[2 * j], sc[2 * j + 1]);
        }
        lanes_super(acc, half_to_float(w + 208), t, d, k);
    }
    return reduce_lanes(acc);
}

// Q5_1, 24 bytes: f16 scale, f16 minimum, 32 bits qh, 16 bytes of nibbles as Q4_0; element i's
// fifth bit is bit i of qh; value nibble | bit·16 (0..31). Minima as Q4_1.
static float dot_q5_1_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc[8] = {0}, m[8];
    int blocks = n / 32;
    for (int b = 0; b < blocks; b++, w += 24) {
        uint32_t qh; memcpy(&qh, w + 4, 4);
        int v[32];
        for (int i = 0; i < 16; i++) {
            v[i] = (w[8 + i] & 0xF) | (((qh >> i) & 1) << 4);
            v[16 + i] = (w[8 + i] >> 4) | (((qh >> (16 + i)) & 1) << 4);
        }
        lanes_add(acc, half_to_float(w) * d[b], v, q + 32 * b);
        m[b % 8] = half_to_float(w + 2);
        if (b % 8 == 7 || b == blocks - 1) lanes_minimum(acc, m, d, s, b - b % 8, b % 8 + 1);
    }
    return reduce_lanes(acc);
}

// Q5_K, 176 bytes per 256 values: f16 scale, f16 minimum scale, 12 bytes of scales and minima as
// Q4_K, 32 bytes qh, 128 bytes of nibbles as Q4_K (from byte 48); sub-block j's element i has
// fifth bit j of qh[i]. Weight = scale·sc_j·(nibble | bit·16) − dmin·m_j; floats as Q4_K.
static float dot_q5_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    float acc[8] = {0};
    for (int k = 0; k < n / 256; k++, w += 176) {
        uint8_t sc[8], mn[8]; q4_k_scales(w + 4, sc, mn);
        int32_t t[8][8];
        for (int j = 0; j < 8; j++) {
            int v[32];
            for (int i = 0; i < 32; i++)
                v[i] = ((w[48 + 32 * (j / 2) + i] >> (4 * (j & 1))) & 0xF) | (((w[16 + i] >> j) & 1) << 4);
            lanes_int(t[j], v, q + 256 * k + 32 * j, sc[j], sc[j]);
        }
        lanes_super(acc, half_to_float(w), t, d, k);
        float dmin = half_to_float(w + 2), m[8];
        for (int j = 0; j < 8; j++) m[j] = -(dmin * (float)mn[j]);
        lanes_minimum(acc, m, d, s, 8 * k, 8);
    }
    return reduce_lanes(acc);
}

/// Q3_K's 12 scale bytes → 16 signed scales (6-bit − 32), one per 16 elements: scale K has low 4
/// bits from byte K (K < 8, low nibble) or byte K−8 (high nibble), high 2 bits = bits 2·(K/4)..+1
/// of byte 8 + K%4.
static inline void q3_k_scales(const uint8_t *p, int8_t sc[16]) {
    for (int K = 0; K < 16; K++) {
        int low = K < 8 ? p[K] & 0xF : p[K - 8] >> 4, high = (p[8 + K % 4] >> (2 * (K / 4))) & 3;
        sc[K] = (int8_t)((low | (high << 4)) - 32);
    }
}

// Q3_K, 110 bytes per 256 values: 32 bytes hmask, 64 bytes qs (2 bits), 12 bytes scales
// (q3_k_scales), f16 scale. Sub-block j (half h = j/4, r = j%4), element i: 2 bits = bits 2r..2r+1
// of qs[32h + i], value = those − 4 unless bit j of hmask[i] is set (−4..3); scale sc[2j] for
// i < 16, sc[2j+1] for i ≥ 16. Floats as Q6_K.
static float dot_q3_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc[8] = {0};
    for (int k = 0; k < n / 256; k++, w += 110) {
        int8_t sc[16]; q3_k_scales(w + 96, sc);
        int32_t t[8][8];
        for (int j = 0; j < 8; j++) {
            int h = j / 4, r = j % 4, v[32];
            for (int i = 0; i < 32; i++) v[i] = ((w[32 + 32 * h + i] >> (2 * r)) & 3) - (((w[i] >> j) & 1) ? 0 : 4);
            lanes_int(t[j], v, q + 256 * k + 32 * j, sc[2 * j], sc[2 * j + 1]);
        }
        lanes_super(acc, half_to_float(w + 108), t, d, k);
    }
    return reduce_lanes(acc);
}

// Q2_K, 84 bytes per 256 values: 16 bytes of scales (low nibble scale, high nibble minimum, one
// per 16 elements), 64 bytes qs (2 bits), f16 scale, f16 minimum scale. Sub-block j (h = j/4,
// r = j%4), element i: value = bits 2r..2r+1 of qs[32h + i] (0..3); scale byte 2j for i < 16,
// 2j+1 for i ≥ 16. Weight = d·scale·value − dmin·minimum. The minimum is a second set of lane
// sums, tm_l = minimum(half of l)·Σ_{i=4l..4l+3} q_i, with its own inner sum (as the main one)
// after the main one: acc[l] = fmaf(−dmin, innerM[l], acc[l]).
static float dot_q2_K_plain(const uint8_t *w, const int8_t *q, const float *d, const int32_t *s, int n) {
    (void)s; float acc[8] = {0};
    int ones[32]; for (int i = 0; i < 32; i++) ones[i] = 1;
    for (int k = 0; k < n / 256; k++, w += 84) {
        int32_t t[8][8], tm[8][8];
        for (int j = 0; j < 8; j++) {
            int h = j / 4, r = j % 4, v[32];
            for (int i = 0; i < 32; i++) v[i] = (w[16 + 32 * h + i] >> (2 * r)) & 3;
            const int8_t *x = q + 256 * k + 32 * j;
            lanes_int(t[j], v, x, w[2 * j] & 0xF, w[2 * j + 1] & 0xF);
            lanes_int(tm[j], ones, x, w[2 * j] >> 4, w[2 * j + 1] >> 4);
        }
        lanes_super(acc, half_to_float(w + 80), t, d, k);
        lanes_super(acc, -half_to_float(w + 82), tm, d, k);
    }
    return reduce_lanes(acc);
}

// MARK: Tiles: WR weight rows × AR activation rows, one __m256 accumulator per pair (lane l
// = the contract's acc[l]). Each weight block is decoded once per tile; every pair follows the
// plain function's float steps, so each output is bit-identical to the single-row dot whatever
// the tile. A tile writes y[a·ldy + i] for weight row i < WR (w + i·rb) and activation row a < AR
// (q + a·n, d/s + a·n/32).
#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))
/// Helpers (AVX2 target; they inline into the higher levels, whose targets include AVX2).
#define TILE AVX2 static inline __attribute__((always_inline))
#define TILE_ARGS const uint8_t *w, int64_t rb, const int8_t *q, const float *d, const int32_t *s, int n, float *y, int64_t ldy
#define UNROLL _Pragma("GCC unroll 8")
#define MAXW 4
#define MAXA 4
/// Weights read from memory: the hardware prefetcher follows one row stream but not WR
/// interleaved ones, so each tile prefetches the rows two tiles ahead (2·WR·rb) as it goes.
#define PREFETCH_NEXT(p) _mm_prefetch((const char *)(p) + 2 * WR * rb, _MM_HINT_T0)

/// f16 at p → the float in all 8 lanes (exact, as half_to_float).
TILE __m256 half8(const uint8_t *p) {
    uint16_t h; memcpy(&h, p, 2);
    return _mm256_cvtph_ps(_mm_set1_epi16((short)h));
}

TILE __m256i load32(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/// The contract's reduction: ((a0+a4)+(a2+a6))+((a1+a5)+(a3+a7)).
TILE float reduce8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));   // a0+a4, a1+a5, a2+a6, a3+a7
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));                                            // (a0+a4)+(a2+a6), (a1+a5)+(a3+a7)
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/// 32 nibbles of 16 bytes: low nibbles first (elements 0..15), then high ones (16..31).
TILE __m256i nibbles(const uint8_t *p) {
    __m128i b = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0F));
}

#define TILE_BEGIN \
    const int blocks = n / 32; (void)blocks; (void)s; \
    __m256 acc[MAXW][MAXA]; \
    UNROLL for (int i = 0; i < WR; i++) UNROLL for (int a = 0; a < AR; a++) acc[i][a] = _mm256_setzero_ps();
#define TILE_END \
    UNROLL for (int i = 0; i < WR; i++) UNROLL for (int a = 0; a < AR; a++) y[a * ldy + i] = reduce8(acc[i][a]);
#define X(a, e) load32(q + (int64_t)(a) * n + (e))
#define D(a, b) (d + (int64_t)(a) * blocks + (b))
#define S(a, b) (s + (int64_t)(a) * blocks + (b))

/// A 32-value format with signed weights: per block, WR decoded blocks (absw, sw, scale dw)
/// applied to AR activation rows. DECODE(p, sw) sets sw from the block at p.
#define SIGNED_BLOCKS(BYTES, DECODE) \
    for (int b = 0; b < blocks; b++) { \
        __m256i aw[MAXW], sw[MAXW]; __m256 dw[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + (BYTES) * b; \
            PREFETCH_NEXT(p); DECODE(p, sw[i]); aw[i] = _mm256_abs_epi8(sw[i]); dw[i] = half8(p); \
        } \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256i x = X(a, 32 * b); __m256 da = _mm256_broadcast_ss(D(a, b)); \
            UNROLL for (int i = 0; i < WR; i++) { \
                __m256 t = _mm256_cvtepi32_ps(LANES(aw[i], _mm256_sign_epi8(x, sw[i]))); \
                acc[i][a] = _mm256_fmadd_ps(_mm256_mul_ps(dw[i], da), t, acc[i][a]); \
            } \
        } \
    }

#define DECODE_Q8_0(p, v) ((v) = load32((p) + 2))
#define DECODE_Q4_0(p, v) ((v) = _mm256_sub_epi8(nibbles((p) + 2), _mm256_set1_epi8(8)))


/// Bit i of the 32 bits at p → byte i: 0xFF where the bit is clear, 0 where set. Each byte takes
/// the byte holding its bit (shuffle), keeps its bit (and), and compares with zero.
TILE __m256i clear_bits(const uint8_t *p) {
    const __m256i which = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    uint32_t qh; memcpy(&qh, p, 4);
    __m256i spread = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), which), bit);
    return _mm256_cmpeq_epi8(spread, _mm256_setzero_si256());
}

/// Q5_0 unsigned: nibble | 16 where the fifth bit is set (0..31; the tile subtracts the 16).
TILE __m256i q5_0_unsigned(const uint8_t *p) {
    return _mm256_or_si256(nibbles(p + 6), _mm256_andnot_si256(clear_bits(p + 2), _mm256_set1_epi8(16)));
}

/// Q5_1: value = nibble | 16 where the fifth bit is set.
TILE __m256i q5_1_values(const uint8_t *p) {
    return _mm256_or_si256(nibbles(p + 8), _mm256_andnot_si256(clear_bits(p + 4), _mm256_set1_epi8(16)));
}


/// d[b]·(float)s[b] for blocks g0 ..< g0+count of activation row a (zero beyond count), and the
/// matching weight minima (zero beyond count): fmadd with zeros leaves a lane unchanged (acc is
/// never −0: it starts +0 and an exact zero sum rounds to +0).
TILE __m256 ds8(const float *d, const int32_t *s, int count) {
    if (count == 8) return _mm256_mul_ps(_mm256_loadu_ps(d), _mm256_cvtepi32_ps(load32(s)));
    float dd[8] = {0}; int32_t ss[8] = {0};
    for (int j = 0; j < count; j++) { dd[j] = d[j]; ss[j] = s[j]; }
    return _mm256_mul_ps(_mm256_loadu_ps(dd), _mm256_cvtepi32_ps(load32(ss)));
}

/// The f16 minima of `count` (≤ 8) blocks `bytes` apart from p, as floats (zero beyond count);
/// built in registers (a stack array of 2-byte stores read back as 16 bytes stalls forwarding).
TILE __m256 minima8(const uint8_t *p, int bytes, int count) {
    uint16_t h[8];
    for (int j = 0; j < 8; j++) { h[j] = 0; if (j < count) memcpy(&h[j], p + bytes * j, 2); }
    __m128i v = _mm_set_epi16((short)h[7], (short)h[6], (short)h[5], (short)h[4], (short)h[3], (short)h[2], (short)h[1], (short)h[0]);
    return _mm256_cvtph_ps(v);
}

/// Q4_1 and Q5_1: unsigned values straight into maddubs; f16 minimum at byte 2, added per group
/// of 8 blocks. DECODE(p) gives the block's 32 values.
#define MIN_BLOCKS(BYTES, DECODE) \
    for (int g0 = 0; g0 < blocks; g0 += 8) { \
        int count = blocks - g0 < 8 ? blocks - g0 : 8; \
        for (int b = g0; b < g0 + count; b++) { \
            __m256i v[MAXW]; __m256 dw[MAXW]; \
            UNROLL for (int i = 0; i < WR; i++) { \
                const uint8_t *p = w + i * rb + (BYTES) * b; PREFETCH_NEXT(p); v[i] = DECODE(p); dw[i] = half8(p); \
            } \
            UNROLL for (int a = 0; a < AR; a++) { \
                __m256i x = X(a, 32 * b); __m256 da = _mm256_broadcast_ss(D(a, b)); \
                UNROLL for (int i = 0; i < WR; i++) { \
                    __m256 t = _mm256_cvtepi32_ps(LANES(v[i], x)); \
                    acc[i][a] = _mm256_fmadd_ps(_mm256_mul_ps(dw[i], da), t, acc[i][a]); \
                } \
            } \
        } \
        __m256 m[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) m[i] = minima8(w + i * rb + (BYTES) * g0 + 2, BYTES, count); \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256 ds = ds8(D(a, g0), S(a, g0), count); \
            UNROLL for (int i = 0; i < WR; i++) acc[i][a] = _mm256_fmadd_ps(m[i], ds, acc[i][a]); \
        } \
    }

#define DECODE_Q4_1(p) nibbles((p) + 4)
#define DECODE_Q5_1(p) q5_1_values(p)


/// A 256-value format's super-block: inner sums over its 8 sub-blocks, then acc += dw·inner.
/// SUB(j) must set t[i][a] (lane sums, int32, sub-scale applied) for sub-block j, and when MIN
/// (Q2_K) also tm[i][a], whose inner sum is then added as acc = fmaf(−dmin, innerM, acc).
#define SUPER_BLOCK(k, DW, SUB, MIN, DMIN) { \
        __m256 inner[MAXW][MAXA], innerM[MAXW][MAXA]; (void)innerM; \
        UNROLL for (int j = 0; j < 8; j++) { \
            __m256i t[MAXW][MAXA], tm[MAXW][MAXA]; (void)tm; \
            SUB(j) \
            UNROLL for (int a = 0; a < AR; a++) { \
                __m256 da = _mm256_broadcast_ss(D(a, 8 * (k) + j)); \
                UNROLL for (int i = 0; i < WR; i++) { \
                    __m256 ft = _mm256_cvtepi32_ps(t[i][a]); \
                    inner[i][a] = j == 0 ? _mm256_mul_ps(da, ft) : _mm256_fmadd_ps(da, ft, inner[i][a]); \
                    if (MIN) { \
                        __m256 fm = _mm256_cvtepi32_ps(tm[i][a]); \
                        innerM[i][a] = j == 0 ? _mm256_mul_ps(da, fm) : _mm256_fmadd_ps(da, fm, innerM[i][a]); \
                    } \
                } \
            } \
        } \
        UNROLL for (int i = 0; i < WR; i++) UNROLL for (int a = 0; a < AR; a++) { \
            acc[i][a] = _mm256_fmadd_ps(DW[i], inner[i][a], acc[i][a]); \
            if (MIN) acc[i][a] = _mm256_fnmadd_ps(DMIN[i], innerM[i][a], acc[i][a]); \
        } \
    }

/// Q4_K and Q5_K: K4_BYTES per super-block, nibbles from byte K4_QS, K4_HIGH(i, j, v) adds Q5_K's
/// fifth bits to v (unsigned values into maddubs, the 6-bit scale in madd); minima per super-block.
/// K4_BYTES, K4_QS and K4_HIGH are defined around each use.
#define K4_TILE \
    TILE_BEGIN \
    const __m256i low = _mm256_set1_epi8(0x0F); \
    for (int k = 0; k < n / 256; k++) { \
        __m256 dw[MAXW], mins[MAXW]; uint8_t sc[MAXW][8]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + K4_BYTES * k; uint8_t mn[8]; \
            q4_k_scales(p + 4, sc[i], mn); \
            dw[i] = half8(p); \
            mins[i] = _mm256_mul_ps(half8(p + 2), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn)))); \
        } \
        SUPER_BLOCK(k, dw, K4_SUB, 0, dw) \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256 ds = ds8(D(a, 8 * k), S(a, 8 * k), 8); \
            UNROLL for (int i = 0; i < WR; i++) acc[i][a] = _mm256_fnmadd_ps(mins[i], ds, acc[i][a]); \
        } \
    } \
    TILE_END
#define K4_SUB(j) \
        __m256i v[MAXW], scale[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + K4_BYTES * k + K4_QS + 32 * (j / 2); \
            if ((j & 1) == 0) PREFETCH_NEXT(p); \
            __m256i bytes = load32(p); \
            v[i] = (j & 1) ? _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low) : _mm256_and_si256(bytes, low); \
            K4_HIGH(i, j, v[i]) \
            scale[i] = SCALE1(sc[i][j]); \
        } \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256i x = X(a, 256 * k + 32 * j); \
            UNROLL for (int i = 0; i < WR; i++) t[i][a] = LANES_SCALED(v[i], x, scale[i]); \
        }

/// Tile instances (one function per WR × AR) and a format's table of them; L(name) is the level's name.
typedef void (*tile_fn)(TILE_ARGS);
typedef struct { tile_fn tiles[5][5]; int wide, narrow; } tile_set;
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define INSTANCE(F, WR, AR) LEVEL_TARGET static void L(tile_##F##_##WR##_##AR)(TILE_ARGS) { L(tile_##F)(w, rb, q, d, s, n, y, ldy, WR, AR); }
#define INSTANCES(F) \
    INSTANCE(F, 1, 1) INSTANCE(F, 1, 2) INSTANCE(F, 1, 3) INSTANCE(F, 1, 4) \
    INSTANCE(F, 2, 1) INSTANCE(F, 2, 2) INSTANCE(F, 2, 3) INSTANCE(F, 2, 4) \
    INSTANCE(F, 4, 1) INSTANCE(F, 4, 2) INSTANCE(F, 4, 3) INSTANCE(F, 4, 4)
#define TABLE(F) { {0}, {0, L(tile_##F##_1_1), L(tile_##F##_1_2), L(tile_##F##_1_3), L(tile_##F##_1_4)}, \
                   {0, L(tile_##F##_2_1), L(tile_##F##_2_2), L(tile_##F##_2_3), L(tile_##F##_2_4)}, {0}, \
                   {0, L(tile_##F##_4_1), L(tile_##F##_4_2), L(tile_##F##_4_3), L(tile_##F##_4_4)} }
#define LEVEL_TILE LEVEL_TARGET static inline __attribute__((always_inline))

// Level 1, AVX2: lane sums as madd(maddubs(u, x), pairs). No int16 saturation in any format: a
// pair of products is at most 2·128·127 = 32512 (Q8_0's −128 as |w| = 128 with x's sign; the
// other formats' weights are ≤ 63 in magnitude; x is within ±127), so the int32 lane sums are
// exact, as VNNI's vpdpbusd (4 products straight into int32) computes them.
#define L(name) CAT(name, _avx2)
#define LEVEL_TARGET AVX2
#define LANES(u, x) _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1))
#define LANES_SCALED(u, x, scale) _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), scale)
#define SCALE1(v) _mm256_set1_epi16(v)
#define SCALE2(lo, hi) _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo))
#define Q5_0_UNSIGNED(p) q5_0_unsigned(p)
#define Q5_0_NARROW 2
#include "integer_tiles.h"
#undef L
#undef LEVEL_TARGET
#undef LANES
#undef LANES_FROM
#undef LANES_SCALED
#undef SCALE1
#undef SCALE2

// Level 2, AVX-512 VNNI on ymm registers (vpdpbusd: 4 u8·s8 products per lane into int32); the
// sub-scales multiply the lane sums as int32 (vpmulld).
#define VNNI512 __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))
#define L(name) CAT(name, _vnni)
#define LEVEL_TARGET VNNI512
#define LANES(u, x) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x)
#define LANES_FROM(from, u, x) _mm256_dpbusd_epi32(from, u, x)
#define LANES_SCALED(u, x, scale) _mm256_mullo_epi32(LANES(u, x), scale)
#define SCALE1(v) _mm256_set1_epi32(v)
#define SCALE2(lo, hi) _mm256_set_m128i(_mm_set1_epi32(hi), _mm_set1_epi32(lo))
#undef Q5_0_UNSIGNED
/// Q5_0's fifth bits straight from qh as an AVX-512 byte mask: nibbles + 16 where bit i is set.
#define Q5_0_UNSIGNED(p) q5_0_unsigned_mask(p)
#undef Q5_0_NARROW
#define Q5_0_NARROW 4
VNNI512 static inline __attribute__((always_inline)) __m256i q5_0_unsigned_mask(const uint8_t *p) {
    uint32_t qh; memcpy(&qh, p + 2, 4);
    __m256i v = nibbles(p + 6);
    return _mm256_mask_add_epi8(v, _cvtu32_mask32(qh), v, _mm256_set1_epi8(16));
}
#include "integer_tiles.h"
#undef L
#undef LEVEL_TARGET
#undef LANES
#undef LANES_FROM

// Level 3, AVX-VNNI (the VEX form, Intel Alder Lake and later without AVX-512): level 2's code
// with the VEX instruction.
#define AVXVNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define L(name) CAT(name, _avxvnni)
#define LEVEL_TARGET AVXVNNI
#define LANES(u, x) _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, x)
#define LANES_FROM(from, u, x) _mm256_dpbusd_avx_epi32(from, u, x)
#undef Q5_0_UNSIGNED
#define Q5_0_UNSIGNED(p) q5_0_unsigned(p)
#undef Q5_0_NARROW
#define Q5_0_NARROW 2
#include "integer_tiles.h"
#undef L
#undef LEVEL_TARGET
#undef LANES
#undef LANES_FROM
#undef LANES_SCALED
#undef SCALE1
#undef SCALE2
#undef Q5_0_UNSIGNED
#undef Q5_0_NARROW

/// persona_quantize_q8 with AVX2, 32 floats (4 registers) per block, bit-identical to the plain
/// function: the same amax (max of |x|, order-free), the scale and inverse as the same scalar float
/// ops, v = x·inverse, roundf as trunc(v) + copysign(1, v) where |v − trunc(v)| ≥ 0.5 (v − trunc(v)
/// is exact), the conversion as cvttps2dq (values are within ±128 here), then the clamp to ±127
/// and the int32 sum; a block with a NaN or an infinity gets q = 0, s = 0, d = NaN, and a block
/// whose 127/amax overflows goes through quantize_tiny_block, as in the plain code.
AVX2 static void quantize_q8_avx2(const float *x, int n, int8_t *q, float *d, int32_t *s) {
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF)), inf = _mm256_set1_ps(INFINITY);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    const __m256i hi = _mm256_set1_epi32(127), lo = _mm256_set1_epi32(-127), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        __m256 v[4], amax = _mm256_setzero_ps(), finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(xb + 8 * j);
            __m256 a = _mm256_and_ps(v[j], absmask), f = _mm256_cmp_ps(a, inf, _CMP_LT_OQ);   // false for ±inf and NaN
            finite = _mm256_and_ps(finite, f);
            amax = _mm256_max_ps(amax, _mm256_and_ps(a, f));
        }
        if (_mm256_movemask_ps(finite) != 0xFF) {
            memset(q + 32 * b, 0, 32); d[b] = NAN; s[b] = 0; continue;
        }
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        float m = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
        float scale = m / 127.0f, inverse = scale != 0 ? 127.0f / m : 0.0f;
        if (isinf(inverse)) {
            quantize_tiny_block(xb, scale, q + 32 * b, s + b); d[b] = scale;
            continue;
        }
        __m256 inv = _mm256_set1_ps(inverse);
        __m256i iv[4], sum = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256 y = _mm256_mul_ps(v[j], inv);
            __m256 t = _mm256_round_ps(y, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __m256 away = _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(y, t), absmask), half, _CMP_GE_OQ);
            t = _mm256_add_ps(t, _mm256_and_ps(away, _mm256_or_ps(_mm256_and_ps(y, sign), one)));
            iv[j] = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvttps_epi32(t), hi), lo);
            sum = _mm256_add_epi32(sum, iv[j]);
        }
        __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(iv[0], iv[1]), _mm256_packs_epi32(iv[2], iv[3]));
        _mm256_storeu_si256((__m256i *)(q + 32 * b), _mm256_permutevar8x32_epi32(bytes, order));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        d[b] = scale; s[b] = _mm_cvtsi128_si32(s4);
    }
}

/// The tiles of `type` at `level` (1, 2, 3); 0 for an unsupported type.
static const tile_set *tile_set_at(int type, int level) {
    switch (level) {
    case 1: return tile_set_for_avx2(type);
    case 2: return tile_set_for_vnni(type);
    default: return tile_set_for_avxvnni(type);
    }
}

/// Rows driver: activation rows in chunks that stay in L2 (about 96 KiB of q); per chunk, weight
/// rows in tiles of WR, each applied to the chunk's rows AR = 4 at a time (the weight rows stay
/// in L1 meanwhile).
static void rows_tiles(const tile_set *set, const uint8_t *w, int64_t rb, int n, const int8_t *q, const float *d,
                      const int32_t *s, int count, int start, int end, float *y, int64_t ldy) {
    int blocks = n / 32;
    int chunk = (96 * 1024 / n) & ~3; if (chunk < 4) chunk = 4;
    for (int c0 = 0; c0 < count; c0 += chunk) {
        int cn = count - c0 < chunk ? count - c0 : chunk;
        int wr = cn >= 4 ? set->wide : cn == 1 || set->narrow < 2 ? set->narrow : 2;
        for (int o = start; o < end;) {
            int wo = wr; while (wo > end - o) wo /= 2;
            for (int r = c0; r < c0 + cn;) {
                int ar = c0 + cn - r < MAXA ? c0 + cn - r : MAXA;
                set->tiles[wo][ar](w + (int64_t)o * rb, rb, q + (int64_t)r * n, d + (int64_t)r * blocks, s + (int64_t)r * blocks,
                                   n, y + (int64_t)r * ldy + o, ldy);
                r += ar;
            }
            o += wo;
        }
    }
}
#endif

typedef float (*dot_fn)(const uint8_t *, const int8_t *, const float *, const int32_t *, int);

static dot_fn plain_function(int type) {
    switch (type) {
    case PERSONA_INT_Q8_0: return dot_q8_0_plain;
    case PERSONA_INT_Q4_0: return dot_q4_0_plain;
    case PERSONA_INT_Q4_1: return dot_q4_1_plain;
    case PERSONA_INT_Q5_0: return dot_q5_0_plain;
    case PERSONA_INT_Q5_1: return dot_q5_1_plain;
    case PERSONA_INT_Q2_K: return dot_q2_K_plain;
    case PERSONA_INT_Q3_K: return dot_q3_K_plain;
    case PERSONA_INT_Q4_K: return dot_q4_K_plain;
    case PERSONA_INT_Q5_K: return dot_q5_K_plain;
    case PERSONA_INT_Q6_K: return dot_q6_K_plain;
    }
    return 0;
}

float persona_integer_dot(int type, int level, const void *w, const int8_t *q, const float *d, const int32_t *s, int n) {
#if defined(__x86_64__)
    if (level >= 1) {
        const tile_set *set = tile_set_at(type, level > 3 ? 3 : level);
        if (!set) return 0.0f;
        float y = 0;
        set->tiles[1][1]((const uint8_t *)w, 0, q, d, s, n, &y, 1);
        return y;
    }
#endif
    dot_fn f = plain_function(type);
    return f ? f((const uint8_t *)w, q, d, s, n) : 0.0f;
}

void persona_integer_rows(int type, int level, const void *w, int64_t row_bytes, int n,
                          const int8_t *q, const float *d, const int32_t *s, int count,
                          int start, int end, float *y, int64_t ldy) {
    if (count <= 0 || start >= end) return;
#if defined(__x86_64__)
    if (level >= 1) {
        const tile_set *set = tile_set_at(type, level > 3 ? 3 : level);
        if (set) rows_tiles(set, (const uint8_t *)w, row_bytes, n, q, d, s, count, start, end, y, ldy);
        return;
    }
#endif
    dot_fn f = plain_function(type);
    if (!f) return;
    int blocks = n / 32;
    for (int o = start; o < end; o++) {
        const uint8_t *row = (const uint8_t *)w + (int64_t)o * row_bytes;
        for (int r = 0; r < count; r++)
            y[(int64_t)r * ldy + o] = f(row, q + (int64_t)r * n, d + (int64_t)r * blocks, s + (int64_t)r * blocks, n);
    }
}

void persona_quantize_q8_level(const float *x, int n, int8_t *q, float *d, int32_t *s, int level) {
#if defined(__x86_64__)
    if (level >= 1) { quantize_q8_avx2(x, n, q, d, s); return; }
#endif
    (void)level;
    persona_quantize_q8(x, n, q, d, s);
}
