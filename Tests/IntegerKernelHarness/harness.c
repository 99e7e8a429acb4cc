// Standalone harness for the integer kernels (Sources/CPersonaIntegerKernels), run by run.sh:
//  (a) AVX2, AVX-512 VNNI and AVX-VNNI each bit-identical to plain for every format, on random
//      valid blocks (f16 scales of varied magnitude and sign, zero and subnormal among them) and
//      random activations (zeros, large values, all-zero blocks), n = 32·k (256·k for the k-quants), count ∈ {1,2,3,5,8,9,16,37};
//      every output also equal to the count = 1 dot and to runs split at random start/end;
//  (b) the plain result within the header's bound of Σ dequant(w)·(d·q) computed in double;
//  (c) single-threaded benchmark, old kernels (integer_old.c) vs new, at qwen2.5-0.5b's shapes;
//  (d) single-threaded benchmark, AVX2 (level 1) vs AVX-512 VNNI (level 2), at the same shapes;
//  (e) persona_quantize_q8_level AVX2 bit-identical to the plain reference (ties, zeros,
//      subnormals, ±inf, NaN); (f) its timing, plain vs AVX2 (with (c), or --quantize-bench).
// Levels 2 and 3 are checked only where the CPU has their flags (level 3, AVX-VNNI, needs Intel).
#include "persona_integer.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int old_persona_integer_supported(int type);
float old_persona_integer_dot(int type, int level, const void *w, const int8_t *q, const float *d, const int32_t *s, int n);
void old_persona_integer_rows(int type, int level, const void *w, int64_t row_bytes, int n,
                              const int8_t *q, const float *d, const int32_t *s, int count,
                              int start, int end, float *y, int64_t ldy);

// MARK: random numbers (SplitMix64)
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double unit(void) { return (next64() >> 11) * (1.0 / 9007199254740992.0); }

// MARK: formats
typedef struct { int type; const char *name; int block; int bytes; } format;
static const format formats[] = {
    {PERSONA_INT_Q8_0, "Q8_0", 32, 34}, {PERSONA_INT_Q4_0, "Q4_0", 32, 18}, {PERSONA_INT_Q4_1, "Q4_1", 32, 20},
    {PERSONA_INT_Q5_0, "Q5_0", 32, 22}, {PERSONA_INT_Q4_K, "Q4_K", 256, 144}, {PERSONA_INT_Q6_K, "Q6_K", 256, 210},
    {PERSONA_INT_Q5_1, "Q5_1", 32, 24}, {PERSONA_INT_Q5_K, "Q5_K", 256, 176}, {PERSONA_INT_Q3_K, "Q3_K", 256, 110},
    {PERSONA_INT_Q2_K, "Q2_K", 256, 84},
};
static const format *format_of(int type) {
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++) if (formats[i].type == type) return &formats[i];
    return 0;
}

/// A random finite f16: mostly normal with exponents spread over 2^-14 .. 2^4, some zero or subnormal.
static uint16_t random_half(int allow_negative) {
    uint16_t sign = allow_negative && (next64() & 1) ? 0x8000 : 0;
    int pick = (int)(next64() % 20);
    if (pick == 0) return sign;                                     // ±0
    if (pick == 1) return sign | (uint16_t)(1 + next64() % 0x3FF);  // subnormal
    int exponent = 1 + (int)(next64() % 19);                        // 2^-14 .. 2^4
    return sign | (uint16_t)(exponent << 10) | (uint16_t)(next64() & 0x3FF);
}
static void put_half(uint8_t *p, uint16_t h) { memcpy(p, &h, 2); }

/// Random bytes with valid finite scale fields.
static void random_row(const format *f, uint8_t *row, int n) {
    int blocks = n / f->block;
    for (int i = 0; i < blocks * f->bytes; i++) row[i] = (uint8_t)next64();
    for (int b = 0; b < blocks; b++) {
        uint8_t *p = row + b * f->bytes;
        switch (f->type) {
        case PERSONA_INT_Q8_0: case PERSONA_INT_Q4_0: case PERSONA_INT_Q5_0: put_half(p, random_half(1)); break;
        case PERSONA_INT_Q4_1: case PERSONA_INT_Q5_1: put_half(p, random_half(1)); put_half(p + 2, random_half(1)); break;
        case PERSONA_INT_Q4_K: case PERSONA_INT_Q5_K: put_half(p, random_half(0)); put_half(p + 2, random_half(0)); break;
        case PERSONA_INT_Q6_K: put_half(p + 208, random_half(1)); break;
        case PERSONA_INT_Q3_K: put_half(p + 108, random_half(1)); break;
        case PERSONA_INT_Q2_K: put_half(p + 80, random_half(0)); put_half(p + 82, random_half(0)); break;
        }
    }
}

static double half_value(const uint8_t *p) {
    uint16_t h; memcpy(&h, p, 2);
    int e = (h >> 10) & 31, m = h & 1023; double v;
    if (e == 0) v = ldexp(m, -24); else v = ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/// Exact dequantized weights (double) and the magnitudes a_i of the header's bound, written
/// independently of the kernels from ggml's layouts.
static void dequantize(const format *f, const uint8_t *row, int n, double *w, double *a) {
    for (int b = 0; b < n / f->block; b++) {
        const uint8_t *p = row + b * f->bytes; double *wb = w + b * f->block, *ab = a + b * f->block;
        switch (f->type) {
        case PERSONA_INT_Q8_0:
            for (int i = 0; i < 32; i++) { wb[i] = half_value(p) * (int8_t)p[2 + i]; ab[i] = fabs(wb[i]); }
            break;
        case PERSONA_INT_Q4_0:
            for (int i = 0; i < 32; i++) {
                int v = (i < 16 ? p[2 + i] & 15 : p[2 + i - 16] >> 4) - 8;
                wb[i] = half_value(p) * v; ab[i] = fabs(wb[i]);
            }
            break;
        case PERSONA_INT_Q4_1:
            for (int i = 0; i < 32; i++) {
                int v = i < 16 ? p[4 + i] & 15 : p[4 + i - 16] >> 4;
                double x = half_value(p) * v, m = half_value(p + 2);
                wb[i] = x + m; ab[i] = fabs(x) + fabs(m);
            }
            break;
        case PERSONA_INT_Q5_0: {
            uint32_t qh = p[2] | p[3] << 8 | p[4] << 16 | (uint32_t)p[5] << 24;
            for (int i = 0; i < 32; i++) {
                int v = (i < 16 ? p[6 + i] & 15 : p[6 + i - 16] >> 4) + 16 * ((qh >> i) & 1) - 16;
                wb[i] = half_value(p) * v; ab[i] = fabs(wb[i]);
            }
            break;
        }
        case PERSONA_INT_Q5_1: {
            uint32_t qh = p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24;
            for (int i = 0; i < 32; i++) {
                int v = (i < 16 ? p[8 + i] & 15 : p[8 + i - 16] >> 4) + 16 * ((qh >> i) & 1);
                double x = half_value(p) * v, m = half_value(p + 2);
                wb[i] = x + m; ab[i] = fabs(x) + fabs(m);
            }
            break;
        }
        case PERSONA_INT_Q5_K: {
            // ggml order: per 64 elements (pair c), 32 low nibbles then 32 high nibbles of ql[32c..];
            // fifth bits u1 = 1 << 2c, u2 = 2 << 2c of qh[l].
            const uint8_t *sc = p + 4, *qh = p + 16, *ql = p + 48;
            for (int j = 0; j < 8; j++) {
                int scale, min;
                if (j < 4) { scale = sc[j] & 63; min = sc[j + 4] & 63; }
                else { scale = (sc[j + 4] & 15) | (sc[j - 4] >> 6) << 4; min = (sc[j + 4] >> 4) | (sc[j] >> 6) << 4; }
                for (int l = 0; l < 32; l++) {
                    int c = j / 2, nib = j % 2 ? ql[32 * c + l] >> 4 : ql[32 * c + l] & 15;
                    int v = nib + (qh[l] & (1 << (2 * c + j % 2)) ? 16 : 0);
                    double x = half_value(p) * scale * v, m = half_value(p + 2) * min;
                    wb[32 * j + l] = x - m; ab[32 * j + l] = fabs(x) + fabs(m);
                }
            }
            break;
        }
        case PERSONA_INT_Q3_K: {
            // ggml's kmask unpacking of 16 6-bit scales, then per 128: 4 shifts × (16 + 16) elements,
            // hmask bit m advancing per shift across both halves.
            uint32_t aux[4]; memcpy(aux, p + 96, 12);
            uint32_t tmp = aux[2], k1 = 0x03030303, k2 = 0x0f0f0f0f;
            aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
            aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
            aux[0] = (aux[0] & k2) | (((tmp >> 0) & k1) << 4);
            aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
            const int8_t *scales = (const int8_t *)aux; const uint8_t *q = p + 32, *hm = p;
            int is = 0, e = 0; unsigned m = 1;
            for (int h = 0; h < 2; h++, q += 32)
                for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                    for (int half = 0; half < 2; half++) {
                        double dl = half_value(p + 108) * (scales[is++] - 32);
                        for (int l = 16 * half; l < 16 * half + 16; l++, e++) {
                            wb[e] = dl * (((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4)); ab[e] = fabs(wb[e]);
                        }
                    }
            break;
        }
        case PERSONA_INT_Q2_K: {
            const uint8_t *q = p + 16; int is = 0, e = 0;
            for (int h = 0; h < 2; h++, q += 32)
                for (int shift = 0; shift < 8; shift += 2)
                    for (int half = 0; half < 2; half++) {
                        uint8_t sc = p[is++];
                        double dl = half_value(p + 80) * (sc & 15), ml = half_value(p + 82) * (sc >> 4);
                        for (int l = 16 * half; l < 16 * half + 16; l++, e++) {
                            double x = dl * ((q[l] >> shift) & 3);
                            wb[e] = x - ml; ab[e] = fabs(x) + fabs(ml);
                        }
                    }
            break;
        }
        case PERSONA_INT_Q4_K: {
            const uint8_t *sc = p + 4;
            for (int j = 0; j < 8; j++) {
                int scale, min;
                if (j < 4) { scale = sc[j] & 63; min = sc[j + 4] & 63; }
                else { scale = (sc[j + 4] & 15) | (sc[j - 4] >> 6) << 4; min = (sc[j + 4] >> 4) | (sc[j] >> 6) << 4; }
                for (int i = 0; i < 32; i++) {
                    int v = (p[16 + 32 * (j / 2) + i] >> (4 * (j % 2))) & 15;
                    double x = half_value(p) * scale * v, m = half_value(p + 2) * min;
                    wb[32 * j + i] = x - m; ab[32 * j + i] = fabs(x) + fabs(m);
                }
            }
            break;
        }
        case PERSONA_INT_Q6_K:
            // ggml order: per 128-half, l in 0..31: elements l, l+32, l+64, l+96.
            for (int h = 0; h < 2; h++)
                for (int l = 0; l < 32; l++) {
                    const uint8_t *ql = p + 64 * h, *qh = p + 128 + 32 * h; const int8_t *sc = (const int8_t *)(p + 192 + 8 * h);
                    int v[4] = { (ql[l] & 15) | ((qh[l] >> 0) & 3) << 4, (ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4,
                                 (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4, (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4 };
                    for (int r = 0; r < 4; r++) {
                        int e = 128 * h + 32 * r + l;
                        wb[e] = half_value(p + 208) * sc[l / 16 + 2 * r] * (v[r] - 32); ab[e] = fabs(wb[e]);
                    }
                }
            break;
        }
    }
}

/// Random activations: mostly in ±1, every 97th ×40, some huge, some blocks all zero, some zeros.
static void random_activations(float *x, int count, int n) {
    for (int r = 0; r < count; r++)
        for (int b = 0; b < n / 32; b++) {
            int kind = (int)(next64() % 10);
            float scale = kind == 0 ? 0.0f : kind == 1 ? 1e4f : kind == 2 ? 1e-3f : 1.0f;
            for (int i = 0; i < 32; i++) {
                float v = (float)(unit() - 0.5) * scale;
                if ((r * n + 32 * b + i) % 97 == 0) v *= 40;
                if (next64() % 13 == 0) v = 0;
                x[(size_t)r * n + 32 * b + i] = v;
            }
        }
}

typedef struct { int n, count, rows; uint8_t *w; int8_t *q; float *d; int32_t *s; int64_t rb; } problem;

static problem make_problem(const format *f, int rows, int n, int count) {
    problem p = { n, count, rows, 0, 0, 0, 0, (int64_t)(n / f->block) * f->bytes };
    p.w = malloc((size_t)(rows * p.rb)); p.q = malloc((size_t)count * n);
    p.d = malloc(sizeof(float) * (size_t)count * (n / 32)); p.s = malloc(sizeof(int32_t) * (size_t)count * (n / 32));
    for (int o = 0; o < rows; o++) random_row(f, p.w + o * p.rb, n);
    float *x = malloc(sizeof(float) * (size_t)count * n);
    random_activations(x, count, n);
    persona_quantize_q8(x, count * n, p.q, p.d, p.s);   // rows are whole blocks: one call quantizes all
    free(x);
    return p;
}
static void free_problem(problem *p) { free(p->w); free(p->q); free(p->d); free(p->s); }

static int same_bits(float a, float b) { uint32_t x, y; memcpy(&x, &a, 4); memcpy(&y, &b, 4); return x == y; }

// MARK: (a) bit identity and independence
static const char *level_name(int level) { return level == 1 ? "AVX2" : level == 2 ? "AVX-512 VNNI" : "AVX-VNNI"; }

/// Whether this CPU runs `level` (1 AVX2+FMA+F16C, 2 + AVX-512 F/VL/BW/VNNI, 3 + AVX-VNNI).
static int level_supported(int level) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (level == 1) return avx2;
    if (level == 2) return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
    if (level == 3) {   // AVX-VNNI: cpuid leaf 7 subleaf 1, EAX bit 4
        unsigned a = 7, b, c = 1, d;
        __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
        return avx2 && ((a >> 4) & 1);
    }
    return 0;
}

static int check_identity(int level) {
    static const int counts[] = {1, 2, 3, 5, 8, 9, 16, 37};
    int failures = 0;
    printf("(a) bit identity plain vs %s, level %d (rows 11; every output also = count-1 dot, = split runs)\n", level_name(level), level);
    printf("%-6s %-28s", "format", "n");
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) printf(" c=%-3d", counts[c]);
    printf("\n");
    for (size_t fi = 0; fi < sizeof formats / sizeof *formats; fi++) {
        const format *f = &formats[fi];
        int ns32[] = {32, 64, 96, 224, 256, 288, 800, 896, 4864}, ns256[] = {256, 512, 768, 2048, 4864};
        int *ns = f->block == 32 ? ns32 : ns256, nn = f->block == 32 ? 9 : 5;
        char nlist[64] = ""; for (int i = 0; i < nn; i++) snprintf(nlist + strlen(nlist), sizeof nlist - strlen(nlist), "%s%d", i ? "," : "", ns[i]);
        printf("%-6s %-28s", f->name, nlist);
        for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
            int count = counts[c], bad = 0;
            for (int ni = 0; ni < nn; ni++) {
                int n = ns[ni], rows = 11;
                problem p = make_problem(f, rows, n, count);
                int blocks = n / 32;
                float *plain = malloc(sizeof(float) * count * rows), *wide = malloc(sizeof(float) * count * rows);
                float *split = malloc(sizeof(float) * count * rows);
                persona_integer_rows(f->type, 0, p.w, p.rb, n, p.q, p.d, p.s, count, 0, rows, plain, rows);
                persona_integer_rows(f->type, level, p.w, p.rb, n, p.q, p.d, p.s, count, 0, rows, wide, rows);
                // Split at random points into [start, end) ranges.
                for (int o = 0; o < rows;) {
                    int e = o + 1 + (int)(next64() % 5); if (e > rows) e = rows;
                    persona_integer_rows(f->type, level, p.w, p.rb, n, p.q, p.d, p.s, count, o, e, split, rows);
                    o = e;
                }
                for (int r = 0; r < count; r++)
                    for (int o = 0; o < rows; o++) {
                        const uint8_t *row = p.w + o * p.rb; const int8_t *q = p.q + (size_t)r * n;
                        const float *d = p.d + r * blocks; const int32_t *s = p.s + r * blocks;
                        float one0 = persona_integer_dot(f->type, 0, row, q, d, s, n);
                        float one1 = persona_integer_dot(f->type, level, row, q, d, s, n);
                        float single[16];
                        persona_integer_rows(f->type, level, p.w, p.rb, n, q, d, s, 1, o, o + 1, single, 1);
                        float y0 = plain[r * rows + o], y1 = wide[r * rows + o], y2 = split[r * rows + o];
                        if (!same_bits(y0, y1) || !same_bits(y0, one0) || !same_bits(y0, one1) || !same_bits(y0, y2) || !same_bits(y0, single[o])) {
                            if (bad < 3)
                                fprintf(stderr, "\n  MISMATCH level %d %s n=%d count=%d r=%d o=%d: plain %.9g rows %.9g dot0 %.9g dot %.9g split %.9g single %.9g",
                                        level, f->name, n, count, r, o, y0, y1, one0, one1, y2, single[o]);
                            bad++;
                        }
                    }
                free(plain); free(wide); free(split); free_problem(&p);
            }
            printf(" %-5s", bad ? "FAIL" : "ok");
            failures += bad;
        }
        printf("\n");
    }
    return failures;
}

// MARK: (b) float bound
static int check_bound(void) {
    int failures = 0;
    printf("(b) |y − Σ w·(d·q)| ≤ k·u/(1−k·u)·Σ a·|d·q|, k = n/32 + 8 (plain; the other levels are bit-identical)\n");
    for (size_t fi = 0; fi < sizeof formats / sizeof *formats; fi++) {
        const format *f = &formats[fi];
        int ns[] = {256, 1024, 4864 / 256 * 256, 4864, 8192};
        double worst = 0; int checked = 0;
        for (int ni = 0; ni < 5; ni++) {
            int n = ns[ni]; if (n % f->block) continue;
            int rows = 23, count = 3, blocks = n / 32;
            problem p = make_problem(f, rows, n, count);
            double *w = malloc(sizeof(double) * n), *a = malloc(sizeof(double) * n);
            double k = n / 32 + 8, u = ldexp(1, -24), gamma = k * u / (1 - k * u);
            for (int o = 0; o < rows; o++) {
                dequantize(f, p.w + o * p.rb, n, w, a);
                for (int r = 0; r < count; r++) {
                    double exact = 0, magnitude = 0;
                    for (int i = 0; i < n; i++) {
                        double x = (double)p.d[r * blocks + i / 32] * p.q[(size_t)r * n + i];
                        exact += w[i] * x; magnitude += a[i] * fabs(x);
                    }
                    float y = persona_integer_dot(f->type, 0, p.w + o * p.rb, p.q + (size_t)r * n, p.d + r * blocks, p.s + r * blocks, n);
                    double error = fabs((double)y - exact), bound = gamma * magnitude;
                    if (!(error <= bound)) {
                        if (failures < 5) fprintf(stderr, "  BOUND %s n=%d o=%d r=%d: y %.9g exact %.9g error %.3g bound %.3g\n", f->name, n, o, r, y, exact, error, bound);
                        failures++;
                    }
                    if (bound > 0 && error / bound > worst) worst = error / bound;
                    checked++;
                }
            }
            free(w); free(a); free_problem(&p);
        }
        printf("  %-5s %4d outputs, worst error/bound %.4f %s\n", f->name, checked, worst, failures ? "FAIL" : "ok");
    }
    return failures;
}

// MARK: (e) quantization: persona_quantize_q8_level at level 1 (AVX2) bit-identical to the plain one
/// A block of 32 floats of kind `kind`: random at varied magnitudes, ties (k + 0.5 after scaling:
/// amax 127 makes the inverse 1, amax 254 makes it 0.5), zeros, subnormals (amax so small that
/// 127/amax is infinite, or the scale 0), huge values, and ±inf / NaN at a random place.
static void quant_block(float *x, int kind) {
    double mag = pow(10.0, (int)(next64() % 13) - 6);
    for (int i = 0; i < 32; i++) {
        switch (kind) {
        case 0: x[i] = (float)((2 * unit() - 1) * mag); break;
        case 1: x[i] = (float)((int)(next64() % 254) - 127) + 0.5f * (next64() & 1); x[0] = 127.0f; break;   // inverse 1
        case 2: x[i] = (float)(2 * ((int)(next64() % 127) - 63) + 1); x[0] = -254.0f; break;                 // inverse 0.5, v = k + 0.5
        case 3: x[i] = 0.0f * ((next64() & 1) ? 1 : -1); break;
        case 4: { uint32_t bits = (uint32_t)(next64() % 0x800000) | (uint32_t)(next64() & 1) << 31; memcpy(&x[i], &bits, 4); break; }  // subnormal
        case 5: x[i] = (float)((2 * unit() - 1) * 1e-38); break;
        case 6: x[i] = (float)((2 * unit() - 1) * 3e38); break;
        case 7: x[i] = (float)((2 * unit() - 1) * mag) * (float)(next64() % 3); break;
        default: x[i] = (float)((2 * unit() - 1) * mag); break;
        }
    }
    if (kind >= 8) {
        static const float specials[3] = {INFINITY, -INFINITY, NAN};
        x[next64() % 32] = specials[kind - 8];
    }
    if (kind == 0 && (next64() & 3) == 0) {   // an exact tie against a random amax: x = amax·(k + 0.5)/127 where exact
        float amax = 0; for (int i = 0; i < 32; i++) if (fabsf(x[i]) > amax) amax = fabsf(x[i]);
        float inverse = 127.0f / amax;
        for (int i = 0; i < 32; i += 3) { float k = (float)((int)(next64() % 200) - 100) + 0.5f; float t = k / inverse; if (fabsf(t) <= amax) x[i] = t; }
    }
}

static int check_quantize(void) {
    if (!level_supported(1)) { printf("(e) quantize: skipped (no AVX2)\n"); return 0; }
    static const int ns[] = {32, 64, 96, 800, 896, 4864, 40, 33};
    int failures = 0, blocks_checked = 0;
    for (int rep = 0; rep < 400; rep++) {
        int n = ns[rep % 8], nb = n / 32;
        float *x = malloc(sizeof(float) * n);
        for (int b = 0; b < (n + 31) / 32; b++) {
            float block[32]; quant_block(block, (int)(next64() % 11));
            for (int i = 0; i < 32 && 32 * b + i < n; i++) x[32 * b + i] = block[i];
        }
        int8_t q0[4864], q1[4864]; float d0[152], d1[152]; int32_t s0[152], s1[152];
        memset(q0, 0x55, sizeof q0); memset(q1, 0x55, sizeof q1);
        persona_quantize_q8_level(x, n, q0, d0, s0, 0);
        persona_quantize_q8_level(x, n, q1, d1, s1, 1);
        if (memcmp(q0, q1, sizeof q0)) { if (failures < 3) fprintf(stderr, "  quantize MISMATCH q n=%d rep=%d\n", n, rep); failures++; }
        for (int b = 0; b < nb; b++) {
            blocks_checked++;
            if (!same_bits(d0[b], d1[b]) || s0[b] != s1[b]) {
                if (failures < 3) fprintf(stderr, "  quantize MISMATCH n=%d b=%d: d %.9g/%.9g s %d/%d\n", n, b, d0[b], d1[b], s0[b], s1[b]);
                failures++;
            }
        }
        free(x);
    }
    // Every tie of the inverse-1 and inverse-0.5 blocks once, both signs.
    float x[256]; int8_t q0[256], q1[256]; float d0[8], d1[8]; int32_t s0[8], s1[8];
    for (int i = 0; i < 256; i++) x[i] = (i % 32 == 0) ? 127.0f : (float)(i - 128) * 0.5f;
    persona_quantize_q8_level(x, 256, q0, d0, s0, 0); persona_quantize_q8_level(x, 256, q1, d1, s1, 1);
    if (memcmp(q0, q1, 256) || memcmp(d0, d1, sizeof d0) || memcmp(s0, s1, sizeof s0)) { fprintf(stderr, "  quantize MISMATCH ties\n"); failures++; }
    printf("(e) quantize plain vs AVX2 (level 1): %d blocks (random, ties, zeros, subnormals, huge, ±inf, NaN): %s\n",
           blocks_checked + 8, failures ? "FAIL" : "ok");
    return failures;
}

static double now(void);
static int compare_double(const void *a, const void *b);
static void bench_quantize(void) {
    printf("(f) quantize benchmark, plain (level 0) vs AVX2 (level 1), median of 15 interleaved runs (µs per call)\n");
    static const int ns[] = {896, 4864};
    for (int k = 0; k < 2; k++) {
        int n = ns[k], calls = 4864 * 200 / n;
        float *x = malloc(sizeof(float) * n); int8_t *q = malloc(n); float *d = malloc(sizeof(float) * n / 32); int32_t *s = malloc(4 * n / 32);
        for (int i = 0; i < n; i++) x[i] = (float)((2 * unit() - 1) * 3.0);
        double t0[15], t1[15];
        for (int r = 0; r < 15; r++) {
            double a = now(); for (int c = 0; c < calls; c++) persona_quantize_q8_level(x, n, q, d, s, 0); t0[r] = (now() - a) / calls;
            a = now(); for (int c = 0; c < calls; c++) persona_quantize_q8_level(x, n, q, d, s, 1); t1[r] = (now() - a) / calls;
        }
        qsort(t0, 15, sizeof(double), compare_double); qsort(t1, 15, sizeof(double), compare_double);
        printf("  n=%-5d plain %8.3f µs  AVX2 %8.3f µs  speedup %.2fx\n", n, 1e6 * t0[7], 1e6 * t1[7], t0[7] / t1[7]);
        free(x); free(q); free(d); free(s);
    }
}

// MARK: (c) benchmark
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int compare_double(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }

static void bench(int quick) {
    typedef struct { int type, rows, cols; const char *what; } shape;
    static const shape shapes[] = {
        {PERSONA_INT_Q8_0, 896, 896, "q/o"}, {PERSONA_INT_Q8_0, 128, 896, "k/v"}, {PERSONA_INT_Q8_0, 4864, 896, "gate/up"},
        {PERSONA_INT_Q8_0, 896, 4864, "down"}, {PERSONA_INT_Q8_0, 151936, 896, "output"},
        {PERSONA_INT_Q4_K, 896, 896, "q/o"}, {PERSONA_INT_Q4_K, 128, 896, "k/v"}, {PERSONA_INT_Q4_K, 4864, 896, "gate/up"},
        {PERSONA_INT_Q4_K, 896, 4864, "down"},
        {PERSONA_INT_Q6_K, 896, 896, "q/o"}, {PERSONA_INT_Q6_K, 128, 896, "k/v"}, {PERSONA_INT_Q6_K, 4864, 896, "gate/up"},
        {PERSONA_INT_Q6_K, 896, 4864, "down"},
        // The other formats (new only where the old kernels had none) at one shape.
        {PERSONA_INT_Q4_0, 4864, 896, "gate/up"}, {PERSONA_INT_Q4_1, 4864, 896, "gate/up"},
        {PERSONA_INT_Q5_0, 4864, 896, "gate/up"}, {PERSONA_INT_Q5_1, 4864, 896, "gate/up"},
        {PERSONA_INT_Q2_K, 4864, 896, "gate/up"}, {PERSONA_INT_Q3_K, 4864, 896, "gate/up"},
        {PERSONA_INT_Q5_K, 4864, 896, "gate/up"},
    };
    static const int counts[] = {1, 16, 32, 256};
    printf("(c) benchmark, single thread, median of ≥5 interleaved old/new runs (ms per call; GOPS = 2·rows·cols·count/s)\n");
    printf("%-5s %-8s %-12s %5s %10s %10s %8s %8s %8s\n", "type", "matrix", "rows×cols", "count", "old ms", "new ms", "old GOPS", "new GOPS", "speedup");
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape *sh = &shapes[si]; const format *f = format_of(sh->type);
        int maxc = counts[sizeof counts / sizeof *counts - 1];
        problem p = make_problem(f, sh->rows, sh->cols, maxc);
        float *y = malloc(sizeof(float) * (size_t)maxc * sh->rows);
        for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
            int count = counts[ci];
            double ops = 2.0 * sh->rows * sh->cols * count;
            if (quick && ops > 2e10) continue;
            // Repetitions: at least 5, more for short calls (about 0.3 s of work per kernel).
            double t0 = now(); persona_integer_rows(sh->type, 1, p.w, p.rb, sh->cols, p.q, p.d, p.s, count, 0, sh->rows, y, sh->rows);
            double once = now() - t0;
            int reps = (int)(0.3 / (once > 1e-6 ? once : 1e-6)); if (reps < 5) reps = 5; if (reps > 201) reps = 201;
            double *told = malloc(sizeof(double) * reps), *tnew = malloc(sizeof(double) * reps);
            int has_old = old_persona_integer_supported(sh->type);
            for (int i = 0; i < reps; i++) {
                told[i] = NAN; if (has_old) { t0 = now(); old_persona_integer_rows(sh->type, 1, p.w, p.rb, sh->cols, p.q, p.d, p.s, count, 0, sh->rows, y, sh->rows);
                told[i] = now() - t0; }
                t0 = now(); persona_integer_rows(sh->type, 1, p.w, p.rb, sh->cols, p.q, p.d, p.s, count, 0, sh->rows, y, sh->rows);
                tnew[i] = now() - t0;
            }
            qsort(told, reps, sizeof(double), compare_double); qsort(tnew, reps, sizeof(double), compare_double);
            double mo = told[reps / 2], mn = tnew[reps / 2];
            char dims[32]; snprintf(dims, sizeof dims, "%d×%d", sh->rows, sh->cols);
            if (has_old)
                printf("%-5s %-8s %-12s %5d %10.3f %10.3f %8.1f %8.1f %7.2fx\n", f->name, sh->what, dims, count, 1e3 * mo, 1e3 * mn,
                       ops / mo * 1e-9, ops / mn * 1e-9, mo / mn);
            else
                printf("%-5s %-8s %-12s %5d %10s %10.3f %8s %8.1f %8s\n", f->name, sh->what, dims, count, "-", 1e3 * mn, "-", ops / mn * 1e-9, "-");
            fflush(stdout);
            free(told); free(tnew);
        }
        free(y); free_problem(&p);
    }
}

/// AVX2 (level 1) vs VNNI (level 2) at qwen2.5-0.5b's shapes, single thread, median of ≥5
/// interleaved runs.
static void bench_vnni(int quick) {
    typedef struct { int type, rows, cols; const char *what; } shape;
    static const shape shapes[] = {
        {PERSONA_INT_Q8_0, 896, 896, "q/o"}, {PERSONA_INT_Q8_0, 128, 896, "k/v"}, {PERSONA_INT_Q8_0, 4864, 896, "gate/up"},
        {PERSONA_INT_Q8_0, 896, 4864, "down"}, {PERSONA_INT_Q8_0, 151936, 896, "output"},
        {PERSONA_INT_Q4_K, 896, 896, "q/o"}, {PERSONA_INT_Q4_K, 128, 896, "k/v"}, {PERSONA_INT_Q4_K, 4864, 896, "gate/up"},
        {PERSONA_INT_Q4_K, 896, 4864, "down"},
        {PERSONA_INT_Q6_K, 896, 896, "q/o"}, {PERSONA_INT_Q6_K, 128, 896, "k/v"}, {PERSONA_INT_Q6_K, 4864, 896, "gate/up"},
        {PERSONA_INT_Q6_K, 896, 4864, "down"},
    };
    static const int counts[] = {1, 16, 32, 256};
    if (!level_supported(2)) { printf("(d) AVX2 vs VNNI: skipped (this CPU lacks AVX-512 VNNI)\n"); return; }
    printf("(d) benchmark AVX2 (level 1) vs AVX-512 VNNI (level 2), single thread, median of ≥5 interleaved runs (ms per call; GOPS = 2·rows·cols·count/s)\n");
    printf("%-5s %-8s %-12s %5s %10s %10s %9s %9s %8s\n", "type", "matrix", "rows×cols", "count", "AVX2 ms", "VNNI ms", "AVX2 GOPS", "VNNI GOPS", "speedup");
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const shape *sh = &shapes[si]; const format *f = format_of(sh->type);
        int maxc = counts[sizeof counts / sizeof *counts - 1];
        problem p = make_problem(f, sh->rows, sh->cols, maxc);
        float *y = malloc(sizeof(float) * (size_t)maxc * sh->rows);
        for (size_t ci = 0; ci < sizeof counts / sizeof *counts; ci++) {
            int count = counts[ci];
            double ops = 2.0 * sh->rows * sh->cols * count;
            if (quick && ops > 2e10) continue;
            double t0 = now(); persona_integer_rows(sh->type, 2, p.w, p.rb, sh->cols, p.q, p.d, p.s, count, 0, sh->rows, y, sh->rows);
            double once = now() - t0;
            int reps = (int)(0.3 / (once > 1e-6 ? once : 1e-6)); if (reps < 5) reps = 5; if (reps > 201) reps = 201;
            double *ta = malloc(sizeof(double) * reps), *tb = malloc(sizeof(double) * reps);
            for (int i = 0; i < reps; i++) {
                t0 = now(); persona_integer_rows(sh->type, 1, p.w, p.rb, sh->cols, p.q, p.d, p.s, count, 0, sh->rows, y, sh->rows);
                ta[i] = now() - t0;
                t0 = now(); persona_integer_rows(sh->type, 2, p.w, p.rb, sh->cols, p.q, p.d, p.s, count, 0, sh->rows, y, sh->rows);
                tb[i] = now() - t0;
            }
            qsort(ta, reps, sizeof(double), compare_double); qsort(tb, reps, sizeof(double), compare_double);
            double ma = ta[reps / 2], mb = tb[reps / 2];
            char dims[32]; snprintf(dims, sizeof dims, "%d×%d", sh->rows, sh->cols);
            printf("%-5s %-8s %-12s %5d %10.3f %10.3f %9.1f %9.1f %7.2fx\n", f->name, sh->what, dims, count, 1e3 * ma, 1e3 * mb,
                   ops / ma * 1e-9, ops / mb * 1e-9, ma / mb);
            fflush(stdout);
            free(ta); free(tb);
        }
        free(y); free_problem(&p);
    }
}

int main(int argc, char **argv) {
    int do_checks = 1, do_bench = 1, do_vnni = 1, quick = 0, do_quant_bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-bench")) do_bench = do_vnni = 0;
        else if (!strcmp(argv[i], "--bench-only")) do_checks = 0;
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--vnni")) do_bench = 0;            // checks + AVX2-vs-VNNI table only
        else if (!strcmp(argv[i], "--vnni-bench-only")) { do_checks = 0; do_bench = 0; }
        else if (!strcmp(argv[i], "--no-vnni-bench")) do_vnni = 0;
        else if (!strcmp(argv[i], "--quantize-bench")) do_quant_bench = 1;   // (f) also when the other benchmarks are off
    }
    int failures = 0;
    if (do_checks) {
        for (int level = 1; level <= 3; level++) {
            if (level_supported(level)) failures += check_identity(level);
            else printf("(a) %s, level %d: skipped (this CPU lacks its flags)\n", level_name(level), level);
        }
        failures += check_bound();
        failures += check_quantize();
        printf("checks: %s\n", failures ? "FAILED" : "all passed");
    }
    if (do_bench || do_quant_bench) bench_quantize();
    if (do_bench) bench(quick);
    if (do_vnni) bench_vnni(quick);
    return failures ? 1 : 0;
}
