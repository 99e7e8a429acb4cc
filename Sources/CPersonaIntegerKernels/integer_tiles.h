// One level's integer tiles (included by integer.c once per level; no include guard). The
// including file defines:
//   L(name)                  the level's name for `name` (a suffix: tile_q8_0 → tile_q8_0_avx2)
//   LEVEL_TILE               static inline always_inline with the level's target attribute
//   LEVEL_TARGET             the level's target attribute (for the instances)
//   LANES(u, x)              int32 lane sums Σ_{i=4l..4l+3} u_i·x_i of unsigned bytes u, signed x
//   LANES_SCALED(u, x, sc)   the same, each lane times its integer sub-scale
//   LANES_FROM(from, u, x)   (VNNI levels only) from + LANES(u, x) in one instruction: there Q6_K
//                            takes its unsigned values with from = −32·Σx instead of the sign trick
//   SCALE1(v), SCALE2(lo, hi) the sub-scale operand: v in every lane, lo in lanes 0..3 / hi in 4..7
// and uses TILE_BEGIN, SIGNED_BLOCKS, MIN_BLOCKS, K4_TILE, SUPER_BLOCK, … from integer.c. The
// float steps are the same at every level (each output bit-identical to the plain function).

LEVEL_TILE void L(tile_q8_0)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN SIGNED_BLOCKS(34, DECODE_Q8_0) TILE_END
}

LEVEL_TILE void L(tile_q4_0)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN SIGNED_BLOCKS(18, DECODE_Q4_0) TILE_END
}

// Q5_0: unsigned values u = nibble | fifth bit·16 (0..31, Q5_0_UNSIGNED of the level), no sign
// trick; the −16 offset as a per-lane correction computed once per activation row and block and
// shared by the weight rows: VNNI levels start vpdpbusd from −16·Σx (LANES_FROM), AVX2 subtracts
// maddubs(16, x) from maddubs(u, x) at int16 (|pair| ≤ 2·31·127, no saturation) before madd.
// Lane l = Σ_{4l..4l+3} (u − 16)·x exactly, as the signed form.
#ifdef LANES_FROM
#define Q5_0_CORRECTION(x) _mm256_sub_epi32(_mm256_setzero_si256(), LANES(sixteen, x))
#define Q5_0_LANES(c, u, x) LANES_FROM(c, u, x)
#else
#define Q5_0_CORRECTION(x) _mm256_maddubs_epi16(sixteen, x)
#define Q5_0_LANES(c, u, x) _mm256_madd_epi16(_mm256_sub_epi16(_mm256_maddubs_epi16(u, x), c), _mm256_set1_epi16(1))
#endif
LEVEL_TILE void L(tile_q5_0)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN
    const __m256i sixteen = _mm256_set1_epi8(16);
    for (int b = 0; b < blocks; b++) {
        __m256i u[MAXW]; __m256 dw[MAXW];
        UNROLL for (int i = 0; i < WR; i++) {
            const uint8_t *p = w + i * rb + 22 * b;
            PREFETCH_NEXT(p); u[i] = Q5_0_UNSIGNED(p); dw[i] = half8(p);
        }
        UNROLL for (int a = 0; a < AR; a++) {
            __m256i x = X(a, 32 * b); __m256 da = _mm256_broadcast_ss(D(a, b));
            __m256i c = Q5_0_CORRECTION(x);
            UNROLL for (int i = 0; i < WR; i++) {
                __m256 t = _mm256_cvtepi32_ps(Q5_0_LANES(c, u[i], x));
                acc[i][a] = _mm256_fmadd_ps(_mm256_mul_ps(dw[i], da), t, acc[i][a]);
            }
        }
    }
    TILE_END
}
#undef Q5_0_CORRECTION
#undef Q5_0_LANES

LEVEL_TILE void L(tile_q4_1)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN MIN_BLOCKS(20, DECODE_Q4_1) TILE_END
}

LEVEL_TILE void L(tile_q5_1)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN MIN_BLOCKS(24, DECODE_Q5_1) TILE_END
}

#define K4_BYTES 144
#define K4_QS 16
#define K4_HIGH(i, j, v)
LEVEL_TILE void L(tile_q4_K)(TILE_ARGS, const int WR, const int AR) { K4_TILE }
#undef K4_BYTES
#undef K4_QS
#undef K4_HIGH

// Q5_K's fifth bits: bit j of qh[i] (bytes 16..47) → 16 in byte i.
#define K4_BYTES 176
#define K4_QS 48
#define K4_HIGH(i, j, v) { \
            __m256i bit = _mm256_set1_epi8((char)(1 << (j))); \
            __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(load32(w + (i) * rb + K4_BYTES * k + 16), bit), bit); \
            (v) = _mm256_or_si256((v), _mm256_and_si256(set, _mm256_set1_epi8(16))); }
LEVEL_TILE void L(tile_q5_K)(TILE_ARGS, const int WR, const int AR) { K4_TILE }
#undef K4_BYTES
#undef K4_QS
#undef K4_HIGH

/// Q6_K sub-block j (32 values) of the super-block at p as unsigned 6-bit values 0..63: the low
/// nibbles from ql, the two high bits from qh (ggml's layout).
LEVEL_TILE __m256i L(q6_K_unsigned)(const uint8_t *p, const int j, const __m256i low, const __m256i three) {
    __m256i lq = load32(p + 64 * (j / 4) + 32 * (j & 1));
    lq = (j % 4) >= 2 ? _mm256_and_si256(_mm256_srli_epi16(lq, 4), low) : _mm256_and_si256(lq, low);
    __m256i hq = _mm256_and_si256(_mm256_srli_epi16(load32(p + 128 + 32 * (j / 4)), 2 * (j % 4)), three);
    return _mm256_or_si256(lq, _mm256_slli_epi16(hq, 4));
}

LEVEL_TILE void L(tile_q6_K)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), offset = _mm256_set1_epi8(32);
    for (int k = 0; k < n / 256; k++) {
        __m256 dw[MAXW];
        UNROLL for (int i = 0; i < WR; i++) dw[i] = half8(w + i * rb + 210 * k + 208);
#ifdef LANES_FROM
// Unsigned 6-bit values straight into LANES_FROM, starting from −32·Σx per lane (the offset,
// once per activation row and sub-block, shared by the weight rows).
#define Q6K_SUB(j) \
        __m256i u[MAXW], scale[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + 210 * k; const int8_t *sc = (const int8_t *)(p + 192); \
            if (j < 4 || j == 7) PREFETCH_NEXT(p + (j == 7 ? 192 : 64 * j)); \
            u[i] = L(q6_K_unsigned)(p, j, low, three); \
            scale[i] = SCALE2(sc[2 * j], sc[2 * j + 1]); \
        } \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256i x = X(a, 256 * k + 32 * j); \
            __m256i from = _mm256_sub_epi32(_mm256_setzero_si256(), LANES(offset, x)); \
            UNROLL for (int i = 0; i < WR; i++) t[i][a] = _mm256_mullo_epi32(LANES_FROM(from, u[i], x), scale[i]); \
        }
#else
#define Q6K_SUB(j) \
        __m256i v[MAXW], av[MAXW], scale[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + 210 * k; const int8_t *sc = (const int8_t *)(p + 192); \
            if (j < 4 || j == 7) PREFETCH_NEXT(p + (j == 7 ? 192 : 64 * j)); \
            v[i] = _mm256_sub_epi8(L(q6_K_unsigned)(p, j, low, three), offset); \
            av[i] = _mm256_abs_epi8(v[i]); \
            scale[i] = SCALE2(sc[2 * j], sc[2 * j + 1]); \
        } \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256i x = X(a, 256 * k + 32 * j); \
            UNROLL for (int i = 0; i < WR; i++) t[i][a] = LANES_SCALED(av[i], _mm256_sign_epi8(x, v[i]), scale[i]); \
        }
#endif
        SUPER_BLOCK(k, dw, Q6K_SUB, 0, dw)
#undef Q6K_SUB
    }
    TILE_END
}

// Q3_K: signed values −4..3 (sign trick), the 16-element scales in LANES_SCALED; floats as Q6_K.
LEVEL_TILE void L(tile_q3_K)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN
    const __m256i three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    for (int k = 0; k < n / 256; k++) {
        __m256 dw[MAXW]; int8_t sc[MAXW][16];
        UNROLL for (int i = 0; i < WR; i++) {
            const uint8_t *p = w + i * rb + 110 * k;
            dw[i] = half8(p + 108); q3_k_scales(p + 96, sc[i]);
        }
#define Q3K_SUB(j) \
        __m256i v[MAXW], av[MAXW], scale[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + 110 * k; \
            if (j < 2) PREFETCH_NEXT(p + 64 * j); \
            __m256i two = _mm256_and_si256(_mm256_srli_epi16(load32(p + 32 + 32 * (j / 4)), 2 * (j % 4)), three); \
            __m256i bit = _mm256_set1_epi8((char)(1 << j)); \
            __m256i clear = _mm256_cmpeq_epi8(_mm256_and_si256(load32(p), bit), _mm256_setzero_si256()); \
            v[i] = _mm256_sub_epi8(two, _mm256_and_si256(clear, four)); \
            av[i] = _mm256_abs_epi8(v[i]); \
            scale[i] = SCALE2(sc[i][2 * j], sc[i][2 * j + 1]); \
        } \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256i x = X(a, 256 * k + 32 * j); \
            UNROLL for (int i = 0; i < WR; i++) t[i][a] = LANES_SCALED(av[i], _mm256_sign_epi8(x, v[i]), scale[i]); \
        }
        SUPER_BLOCK(k, dw, Q3K_SUB, 0, dw)
#undef Q3K_SUB
    }
    TILE_END
}

// Q2_K: unsigned values 0..3 with the 4-bit scales (LANES_SCALED); the minima as lane sums of x
// weighted by the 4-bit minima (LANES of the minima bytes with x).
LEVEL_TILE void L(tile_q2_K)(TILE_ARGS, const int WR, const int AR) {
    TILE_BEGIN
    const __m256i three = _mm256_set1_epi8(3);
    for (int k = 0; k < n / 256; k++) {
        __m256 dw[MAXW], dmin[MAXW];
        UNROLL for (int i = 0; i < WR; i++) {
            const uint8_t *p = w + i * rb + 84 * k;
            PREFETCH_NEXT(p); PREFETCH_NEXT(p + 64);
            dw[i] = half8(p + 80); dmin[i] = half8(p + 82);
        }
#define Q2K_SUB(j) \
        __m256i v[MAXW], scale[MAXW], mb[MAXW]; \
        UNROLL for (int i = 0; i < WR; i++) { \
            const uint8_t *p = w + i * rb + 84 * k; \
            v[i] = _mm256_and_si256(_mm256_srli_epi16(load32(p + 16 + 32 * (j / 4)), 2 * (j % 4)), three); \
            scale[i] = SCALE2(p[2 * j] & 0xF, p[2 * j + 1] & 0xF); \
            mb[i] = _mm256_set_m128i(_mm_set1_epi8((char)(p[2 * j + 1] >> 4)), _mm_set1_epi8((char)(p[2 * j] >> 4))); \
        } \
        UNROLL for (int a = 0; a < AR; a++) { \
            __m256i x = X(a, 256 * k + 32 * j); \
            UNROLL for (int i = 0; i < WR; i++) { \
                t[i][a] = LANES_SCALED(v[i], x, scale[i]); \
                tm[i][a] = LANES(mb[i], x); \
            } \
        }
        SUPER_BLOCK(k, dw, Q2K_SUB, 1, dmin)
#undef Q2K_SUB
    }
    TILE_END
}

// Tile instances: WR ∈ {1, 2, 4} weight rows × AR ∈ {1, 2, 3, 4} activation rows.
INSTANCES(q8_0) INSTANCES(q4_0) INSTANCES(q4_1) INSTANCES(q5_0) INSTANCES(q5_1)
INSTANCES(q2_K) INSTANCES(q3_K) INSTANCES(q4_K) INSTANCES(q5_K) INSTANCES(q6_K)

/// A format's tiles and its weight-row counts (measured on AMD EPYC Zen 4 with the AVX2 code): `wide` for ≥ 4 activation rows
/// (2 × 4 pairs; the 256-value formats' second accumulator spills a little, still faster than
/// 1 × 4), `narrow` for one
/// (decode: weights stream from memory, where several interleaved rows of the 32-value formats
/// and of Q6_K read slower than one row, measured on AMD EPYC Zen 4 (AVX2 code); Q4_K and Q4_1 gain from 4 rows; Q4_0,
/// Q5_1, Q3_K and Q2_K are untuned), at most 2
/// for 2 or 3 rows. Q5_0 (measured on Zen 4 with its unsigned-value tiles): 4 × 4 wide at every
/// level (+12 % at level 2, whose 32 ymm registers hold it, +3.5 % at level 1), narrow
/// Q5_0_NARROW of the level (level 1: 2 rows, +3..10 %; level 2: 4 rows, +10..25 %).
static const tile_set L(tiles_q8_0) = { TABLE(q8_0), 2, 1 }, L(tiles_q4_0) = { TABLE(q4_0), 2, 1 },
    L(tiles_q4_1) = { TABLE(q4_1), 2, 4 }, L(tiles_q5_0) = { TABLE(q5_0), 4, Q5_0_NARROW },
    L(tiles_q5_1) = { TABLE(q5_1), 2, 1 }, L(tiles_q4_K) = { TABLE(q4_K), 2, 4 },
    L(tiles_q5_K) = { TABLE(q5_K), 2, 4 }, L(tiles_q6_K) = { TABLE(q6_K), 2, 1 },
    L(tiles_q3_K) = { TABLE(q3_K), 2, 1 }, L(tiles_q2_K) = { TABLE(q2_K), 1, 1 };

static const tile_set *L(tile_set_for)(int type) {
    switch (type) {
    case PERSONA_INT_Q8_0: return &L(tiles_q8_0);
    case PERSONA_INT_Q4_0: return &L(tiles_q4_0);
    case PERSONA_INT_Q4_1: return &L(tiles_q4_1);
    case PERSONA_INT_Q5_0: return &L(tiles_q5_0);
    case PERSONA_INT_Q5_1: return &L(tiles_q5_1);
    case PERSONA_INT_Q2_K: return &L(tiles_q2_K);
    case PERSONA_INT_Q3_K: return &L(tiles_q3_K);
    case PERSONA_INT_Q4_K: return &L(tiles_q4_K);
    case PERSONA_INT_Q5_K: return &L(tiles_q5_K);
    case PERSONA_INT_Q6_K: return &L(tiles_q6_K);
    }
    return 0;
}
