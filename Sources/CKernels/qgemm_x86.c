// The x86 variants of the int8 GEMM, each compiled for its own instruction set with a target
// attribute (the file itself is built for the baseline): a tile of MR rows x 16, 32 or 64
// channels is summed in registers over K, then requantized: in registers where the tile's
// channels are whole vectors (AVX-512), else stored to a small buffer and handed to the
// vector or scalar epilogue, all with the same operations in the same order. Rows past the
// end read the last row again and are not stored. The rows are read in runs (`ls_qrows`):
// one run per row for a GEMM; for a conv, one per tap through a pointer each, or at fixed
// offsets from each row's start on a padded input.
#if defined(__x86_64__)
#include "qgemm_internal.h"
#include <immintrin.h>
#include <string.h>

static inline int32_t load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

// The epilogue of `ls_qepilogue_tile` on 8 (AVX2) or 16 (AVX-512) channels at once: the same
// operations in the same order, without fused multiply-adds (the file is built with
// -ffp-contract=off), so every variant stores the same bytes; channels past the last full
// vector go through the scalar one.
__attribute__((target("avx2,fma")))
static void epilogue_avx2(const int32_t *acc, int ld, int m0, int mr, int n0, int nr, const ls_qepilogue *e) {
    int full = nr & ~7;
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi), inv = _mm256_set1_ps(e->out_inv_scale);
    const __m256 zp = _mm256_set1_ps((float)e->out_zp), zero = _mm256_setzero_ps(), top = _mm256_set1_ps(255);
    for (int r = 0; r < mr; r++) {
        size_t m = (size_t)(m0 + r);
        for (int j = 0; j < full; j += 8) {
            int c = n0 + j;
            __m256i a = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(acc + r * ld + j)), _mm256_loadu_si256((const __m256i *)(e->offset + c)));
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_loadu_ps(e->scale + c));
            v = _mm256_add_ps(v, _mm256_loadu_ps(e->bias + c));
            if (e->residual) {
                __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(e->residual + m * e->ldr + c)));
                q = _mm256_sub_epi32(q, _mm256_set1_epi32(e->residual_zp));
                v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_cvtepi32_ps(q), _mm256_set1_ps(e->residual_scale)));
            }
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            if (e->out_f32) {
                _mm256_storeu_ps(e->out_f32 + m * e->ldo + c, v);
                continue;
            }
            __m256 q = _mm256_add_ps(_mm256_round_ps(_mm256_mul_ps(v, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
            __m256i b = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(q, zero), top));
            __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
            _mm_storel_epi64((__m128i *)(e->out + m * e->ldo + c), _mm_packus_epi16(w, w));
        }
    }
    if (full < nr) ls_qepilogue_tile(acc + full, ld, m0, mr, n0 + full, nr - full, e);
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static void epilogue_avx512(const int32_t *acc, int ld, int m0, int mr, int n0, int nr, const ls_qepilogue *e) {
    int full = nr & ~15;
    const __m512 lo = _mm512_set1_ps(e->lo), hi = _mm512_set1_ps(e->hi), inv = _mm512_set1_ps(e->out_inv_scale);
    const __m512 zp = _mm512_set1_ps((float)e->out_zp), zero = _mm512_setzero_ps(), top = _mm512_set1_ps(255);
    for (int r = 0; r < mr; r++) {
        size_t m = (size_t)(m0 + r);
        for (int j = 0; j < full; j += 16) {
            int c = n0 + j;
            __m512i a = _mm512_add_epi32(_mm512_loadu_si512((const void *)(acc + r * ld + j)), _mm512_loadu_si512((const void *)(e->offset + c)));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_loadu_ps(e->scale + c));
            v = _mm512_add_ps(v, _mm512_loadu_ps(e->bias + c));
            if (e->residual) {
                __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(e->residual + m * e->ldr + c)));
                q = _mm512_sub_epi32(q, _mm512_set1_epi32(e->residual_zp));
                v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(e->residual_scale)));
            }
            v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
            if (e->out_f32) {
                _mm512_storeu_ps(e->out_f32 + m * e->ldo + c, v);
                continue;
            }
            __m512 q = _mm512_add_ps(_mm512_roundscale_ps(_mm512_mul_ps(v, inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
            __m512i b = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, zero), top));
            _mm_storeu_si128((__m128i *)(e->out + m * e->ldo + c), _mm512_cvtepi32_epi8(b));
        }
    }
    if (full < nr) ls_qepilogue_tile(acc + full, ld, m0, mr, n0 + full, nr - full, e);
}

// The same epilogue on 16 channels still in a register, for a tile whose channels are all
// whole vectors: the channels' constants loaded once per tile, not once per row, and the sums
// never stored. The same operations in the same order as `epilogue_avx512`, so the same bytes.
typedef struct {
    __m512 lo, hi, inv, zp, zero, top, residual_scale;
    __m512i residual_zp;
} epi512_constants;

typedef struct {
    __m512i offset;
    __m512 scale, bias;
} epi512_channels;

__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline epi512_constants epi512_load_constants(const ls_qepilogue *e) {
    epi512_constants k;
    k.lo = _mm512_set1_ps(e->lo); k.hi = _mm512_set1_ps(e->hi); k.inv = _mm512_set1_ps(e->out_inv_scale);
    k.zp = _mm512_set1_ps((float)e->out_zp); k.zero = _mm512_setzero_ps(); k.top = _mm512_set1_ps(255);
    k.residual_scale = _mm512_set1_ps(e->residual_scale); k.residual_zp = _mm512_set1_epi32(e->residual_zp);
    return k;
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline epi512_channels epi512_load_channels(const ls_qepilogue *e, int c) {
    epi512_channels ch = {_mm512_loadu_si512((const void *)(e->offset + c)), _mm512_loadu_ps(e->scale + c), _mm512_loadu_ps(e->bias + c)};
    return ch;
}

__attribute__((target("avx512f,avx512bw,avx512vl")))
static inline void epi512_store(__m512i sums, const epi512_channels *ch, const epi512_constants *k, size_t m, int c, const ls_qepilogue *e) {
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(sums, ch->offset)), ch->scale);
    v = _mm512_add_ps(v, ch->bias);
    if (e->residual) {
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(e->residual + m * e->ldr + c)));
        q = _mm512_sub_epi32(q, k->residual_zp);
        v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_cvtepi32_ps(q), k->residual_scale));
    }
    v = _mm512_min_ps(_mm512_max_ps(v, k->lo), k->hi);
    if (e->out_f32) {
        _mm512_storeu_ps(e->out_f32 + m * e->ldo + c, v);
        return;
    }
    __m512 q = _mm512_add_ps(_mm512_roundscale_ps(_mm512_mul_ps(v, k->inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), k->zp);
    __m512i b = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(q, k->zero), k->top));
    _mm_storeu_si128((__m128i *)(e->out + m * e->ldo + c), _mm512_cvtepi32_epi8(b));
}

// AVX2 without VNNI: vpmaddubsw would saturate (255 * 127 * 2 > 32767), so the bytes are
// widened to int16 (vpmovsxbw, vpmovzxbw) and multiplied by vpmaddwd, which is exact: each
// lane holds two partial sums of a channel, added in the epilogue's buffer.
__attribute__((target("avx2,fma")))
void ls_qgemm_avx2(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e) {
    enum { MR = 2 };
    size_t block = ls_block_bytes(k);
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k);
    int32_t pairs[MR][32], acc[MR * 16];
    for (int n0 = 0; n0 < n; n0 += 16) {
        const int8_t *b = packed + (size_t)(n0 / 16) * block;
        int nr = n - n0 < 16 ? n - n0 : 16;
        ls_qcursor cur = LS_QCURSOR_START;
        for (int m0 = 0; m0 < rows; m0 += MR) {
            __m256i s[MR][4];
            for (int r = 0; r < MR; r++)
                for (int j = 0; j < 4; j++) s[r][j] = _mm256_setzero_si256();
            const uint8_t *start[MR];
            ls_qrows_start(start, MR, m0, rows, src, &cur);
            for (int t = 0; t < taps; t++) {
                const uint8_t *row[MR];
                ls_qrows_tap(row, start, MR, m0, rows, src, t);
                for (int g = 0; g < groups; g++) {
                    const int8_t *w = b + ((size_t)t * groups + g) * 64;
                    __m256i x[MR];
                    for (int r = 0; r < MR; r++)
                        x[r] = _mm256_broadcastq_epi64(_mm_cvtepu8_epi16(_mm_cvtsi32_si128(load4(row[r] + g * 4))));
                    for (int j = 0; j < 4; j++) {
                        __m256i wj = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + j * 16)));
                        for (int r = 0; r < MR; r++) s[r][j] = _mm256_add_epi32(s[r][j], _mm256_madd_epi16(wj, x[r]));
                    }
                }
            }
            int mr = rows - m0 < MR ? rows - m0 : MR;
            for (int r = 0; r < mr; r++) {
                for (int j = 0; j < 4; j++) _mm256_storeu_si256((__m256i *)(pairs[r] + j * 8), s[r][j]);
                for (int c = 0; c < 16; c++) acc[r * 16 + c] = pairs[r][2 * c] + pairs[r][2 * c + 1];
            }
            epilogue_avx2(acc, 16, m0, mr, n0, nr, e);
        }
    }
}

// AVX-VNNI: vpdpbusd on 256-bit registers, 6 rows x 16 channels (12 accumulators).
__attribute__((target("avx2,fma,avxvnni")))
void ls_qgemm_avxvnni(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e) {
    enum { MR = 6 };
    size_t block = ls_block_bytes(k);
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k);
    int32_t acc[MR * 16];
    for (int n0 = 0; n0 < n; n0 += 16) {
        const int8_t *b = packed + (size_t)(n0 / 16) * block;
        int nr = n - n0 < 16 ? n - n0 : 16;
        ls_qcursor cur = LS_QCURSOR_START;
        for (int m0 = 0; m0 < rows; m0 += MR) {
            __m256i s[MR][2];
            for (int r = 0; r < MR; r++) s[r][0] = s[r][1] = _mm256_setzero_si256();
            const uint8_t *start[MR];
            ls_qrows_start(start, MR, m0, rows, src, &cur);
            for (int t = 0; t < taps; t++) {
                const uint8_t *row[MR];
                ls_qrows_tap(row, start, MR, m0, rows, src, t);
                for (int g = 0; g < groups; g++) {
                    const int8_t *w = b + ((size_t)t * groups + g) * 64;
                    __m256i w0 = _mm256_loadu_si256((const __m256i *)w), w1 = _mm256_loadu_si256((const __m256i *)(w + 32));
                    for (int r = 0; r < MR; r++) {
                        __m256i x = _mm256_set1_epi32(load4(row[r] + g * 4));
                        s[r][0] = _mm256_dpbusd_avx_epi32(s[r][0], x, w0);
                        s[r][1] = _mm256_dpbusd_avx_epi32(s[r][1], x, w1);
                    }
                }
            }
            int mr = rows - m0 < MR ? rows - m0 : MR;
            for (int r = 0; r < mr; r++) {
                _mm256_storeu_si256((__m256i *)(acc + r * 16), s[r][0]);
                _mm256_storeu_si256((__m256i *)(acc + r * 16 + 8), s[r][1]);
            }
            epilogue_avx2(acc, 16, m0, mr, n0, nr, e);
        }
    }
}

// The most groups of four bytes per row the kernels that walk a list of offsets take.
enum { WIDE_MAX_GROUPS = 4096 };

// Rows [m0, m0 + mr) of one block of 16 channels, `nr` of them stored.
__attribute__((always_inline, target("avx512f,avx512bw,avx512vl")))
static inline void store_block16(const __m512i *s, int m0, int mr, int n0, int nr, const ls_qepilogue *e) {
    if (nr == 16) {
        epi512_constants kc = epi512_load_constants(e);
        epi512_channels ch = epi512_load_channels(e, n0);
        for (int r = 0; r < mr; r++) epi512_store(s[r], &ch, &kc, (size_t)(m0 + r), n0, e);
        return;
    }
    int32_t acc[16 * 16];
    for (int r = 0; r < mr; r++) _mm512_storeu_si512((void *)(acc + r * 16), s[r]);
    epilogue_avx512(acc, 16, m0, mr, n0, nr, e);
}

// One row's four bytes at p, broadcast, times the weight vectors w0... into its accumulators.
#define DOT1(p, a0) (a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(load4(p)), w0))
#define DOT2(p, a0, a1)                                                          \
    do {                                                                         \
        __m512i x_ = _mm512_set1_epi32(load4(p));                                \
        a0 = _mm512_dpbusd_epi32(a0, x_, w0), a1 = _mm512_dpbusd_epi32(a1, x_, w1); \
    } while (0)
// A row's four groups of four bytes at o0...o3 from p, each times its own weight vector.
#define DEEP4(p, a0, a1, a2, a3)                                                                     \
    do {                                                                                             \
        a0 = _mm512_dpbusd_epi32(a0, _mm512_set1_epi32(load4(p + o0)), w0);                          \
        a1 = _mm512_dpbusd_epi32(a1, _mm512_set1_epi32(load4(p + o1)), w1);                          \
        a2 = _mm512_dpbusd_epi32(a2, _mm512_set1_epi32(load4(p + o2)), w2);                          \
        a3 = _mm512_dpbusd_epi32(a3, _mm512_set1_epi32(load4(p + o3)), w3);                          \
    } while (0)
#define DOT4(p, a0, a1, a2, a3)                                                  \
    do {                                                                         \
        __m512i x_ = _mm512_set1_epi32(load4(p));                                \
        a0 = _mm512_dpbusd_epi32(a0, x_, w0), a1 = _mm512_dpbusd_epi32(a1, x_, w1); \
        a2 = _mm512_dpbusd_epi32(a2, x_, w2), a3 = _mm512_dpbusd_epi32(a3, x_, w3); \
    } while (0)

// AVX512-VNNI on one block of 16 channels (a layer of 16 or fewer, or the last block of an odd
// count): 12 rows x 16 channels (12 accumulators, the rows' pointers in registers).
__attribute__((noinline, target("avx512f,avx512bw,avx512vl,avx512vnni")))
static void qgemm_avx512vnni_block(int rows, int k, const ls_qrows *src, const int8_t *b, int n0, int nr, const ls_qepilogue *e) {
    enum { MR = 12 };
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k);
    ls_qcursor cur = LS_QCURSOR_START;
    for (int m0 = 0; m0 < rows; m0 += MR) {
        __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0;
        const uint8_t *start[MR];
        ls_qrows_start(start, MR, m0, rows, src, &cur);
        for (int t = 0; t < taps; t++) {
            const uint8_t *row[MR];
            ls_qrows_tap(row, start, MR, m0, rows, src, t);
            const uint8_t *r0 = row[0], *r1 = row[1], *r2 = row[2], *r3 = row[3], *r4 = row[4], *r5 = row[5];
            const uint8_t *r6 = row[6], *r7 = row[7], *r8 = row[8], *r9 = row[9], *r10 = row[10], *r11 = row[11];
            const int8_t *w = b + (size_t)t * groups * 64;
            for (int g = 0; g < groups; g++, w += 64) {
                __m512i w0 = _mm512_loadu_si512((const void *)w);
                int o = g * 4;
                DOT1(r0 + o, s0); DOT1(r1 + o, s1); DOT1(r2 + o, s2); DOT1(r3 + o, s3); DOT1(r4 + o, s4); DOT1(r5 + o, s5);
                DOT1(r6 + o, s6); DOT1(r7 + o, s7); DOT1(r8 + o, s8); DOT1(r9 + o, s9); DOT1(r10 + o, s10); DOT1(r11 + o, s11);
            }
        }
        __m512i s[MR] = {s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11};
        store_block16(s, m0, rows - m0 < MR ? rows - m0 : MR, n0, nr, e);
    }
}

// Each group of four bytes of a row as its offset from the row's start, in order (the
// kernels that keep six rows' pointers in registers walk this list).
static void run_offsets(const ls_qrows *src, int taps, int groups, int *at) {
    for (int t = 0; t < taps; t++)
        for (int g = 0; g < groups; g++) at[t * groups + g] = (src->offs ? src->offs[t] : 0) + g * 4;
}

// Where the tile's six rows start (r0...r5), and their four accumulators each, zero.
#define SIX_ROWS_ZEROS                                                                                             \
    const uint8_t *start[6];                                                                                       \
    ls_qrows_start(start, 6, m0, rows, src, &cur);                                                                 \
    const uint8_t *r0 = start[0], *r1 = start[1], *r2 = start[2], *r3 = start[3], *r4 = start[4], *r5 = start[5];  \
    __m512i s00 = _mm512_setzero_si512(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00, s12 = s00, s13 = s00; \
    __m512i s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00, s31 = s00, s32 = s00, s33 = s00;                    \
    __m512i s40 = s00, s41 = s00, s42 = s00, s43 = s00, s50 = s00, s51 = s00, s52 = s00, s53 = s00

// AVX512-VNNI on one block of 16 channels, read as a conv or contiguous rows (not indirect):
// 6 rows, each summing four groups of four bytes at once into four accumulators (24 in
// all, added at the end: the same int32 sums), so a layer of 16 channels keeps as many
// vpdpbusd in flight as the wide kernel. The runs are one list of offsets (`at`).
__attribute__((noinline, target("avx512f,avx512bw,avx512vl,avx512vnni")))
static void qgemm_avx512vnni_deep(int rows, int k, const ls_qrows *src, const int8_t *b, int n0, int nr, const ls_qepilogue *e) {
    enum { MR = 6 };
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k), steps = taps * groups, whole = steps & ~3;
    int at[WIDE_MAX_GROUPS];
    run_offsets(src, taps, groups, at);
    ls_qcursor cur = LS_QCURSOR_START;
    for (int m0 = 0; m0 < rows; m0 += MR) {
        SIX_ROWS_ZEROS;
        for (int i = 0; i < whole; i += 4) {
            const int8_t *w = b + (size_t)i * 64;
            __m512i w0 = _mm512_loadu_si512((const void *)w), w1 = _mm512_loadu_si512((const void *)(w + 64));
            __m512i w2 = _mm512_loadu_si512((const void *)(w + 128)), w3 = _mm512_loadu_si512((const void *)(w + 192));
            int o0 = at[i], o1 = at[i + 1], o2 = at[i + 2], o3 = at[i + 3];
            DEEP4(r0, s00, s01, s02, s03); DEEP4(r1, s10, s11, s12, s13); DEEP4(r2, s20, s21, s22, s23);
            DEEP4(r3, s30, s31, s32, s33); DEEP4(r4, s40, s41, s42, s43); DEEP4(r5, s50, s51, s52, s53);
        }
        for (int i = whole; i < steps; i++) {
            __m512i w0 = _mm512_loadu_si512((const void *)(b + (size_t)i * 64));
            int o = at[i];
            DOT1(r0 + o, s00); DOT1(r1 + o, s10); DOT1(r2 + o, s20); DOT1(r3 + o, s30); DOT1(r4 + o, s40); DOT1(r5 + o, s50);
        }
        __m512i s[MR] = {_mm512_add_epi32(_mm512_add_epi32(s00, s01), _mm512_add_epi32(s02, s03)),
                         _mm512_add_epi32(_mm512_add_epi32(s10, s11), _mm512_add_epi32(s12, s13)),
                         _mm512_add_epi32(_mm512_add_epi32(s20, s21), _mm512_add_epi32(s22, s23)),
                         _mm512_add_epi32(_mm512_add_epi32(s30, s31), _mm512_add_epi32(s32, s33)),
                         _mm512_add_epi32(_mm512_add_epi32(s40, s41), _mm512_add_epi32(s42, s43)),
                         _mm512_add_epi32(_mm512_add_epi32(s50, s51), _mm512_add_epi32(s52, s53))};
        store_block16(s, m0, rows - m0 < MR ? rows - m0 : MR, n0, nr, e);
    }
}

// AVX512-VNNI on four blocks (64 channels): 6 rows x 64 channels (24 accumulators), so each
// group of four bytes loads four weight vectors and six broadcasts for 24 vpdpbusd. The
// runs of a row are walked as one list of byte offsets from the row's start (`at`, one per
// group of four bytes), so the loop keeps nothing but the accumulators in vector registers.

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
__attribute__((noinline)) static void qgemm_avx512vnni_wide(int rows, int k, const ls_qrows *src, const int8_t *b0, size_t block, int n0, int nr, const ls_qepilogue *e) {
    enum { MR = 6 };
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k), steps = taps * groups;
    int at[WIDE_MAX_GROUPS];
    run_offsets(src, taps, groups, at);
    const int8_t *b1 = b0 + block, *b2 = b1 + block, *b3 = b2 + block;
    int32_t acc[MR * 64];
    ls_qcursor cur = LS_QCURSOR_START;
    for (int m0 = 0; m0 < rows; m0 += MR) {
        SIX_ROWS_ZEROS;
        for (int i = 0; i < steps; i++) {
            size_t w = (size_t)i * 64;
            int o = at[i];
            __m512i w0 = _mm512_loadu_si512((const void *)(b0 + w)), w1 = _mm512_loadu_si512((const void *)(b1 + w));
            __m512i w2 = _mm512_loadu_si512((const void *)(b2 + w)), w3 = _mm512_loadu_si512((const void *)(b3 + w));
            DOT4(r0 + o, s00, s01, s02, s03);
            DOT4(r1 + o, s10, s11, s12, s13);
            DOT4(r2 + o, s20, s21, s22, s23);
            DOT4(r3 + o, s30, s31, s32, s33);
            DOT4(r4 + o, s40, s41, s42, s43);
            DOT4(r5 + o, s50, s51, s52, s53);
        }
        __m512i s[MR][4] = {{s00, s01, s02, s03}, {s10, s11, s12, s13}, {s20, s21, s22, s23},
                            {s30, s31, s32, s33}, {s40, s41, s42, s43}, {s50, s51, s52, s53}};
        int mr = rows - m0 < MR ? rows - m0 : MR;
        if (nr == 64) {
            epi512_constants kc = epi512_load_constants(e);
            for (int q = 0; q < 4; q++) {
                epi512_channels ch = epi512_load_channels(e, n0 + 16 * q);
                for (int r = 0; r < mr; r++) epi512_store(s[r][q], &ch, &kc, (size_t)(m0 + r), n0 + 16 * q, e);
            }
            continue;
        }
        for (int r = 0; r < mr; r++)
            for (int q = 0; q < 4; q++) _mm512_storeu_si512((void *)(acc + r * 64 + 16 * q), s[r][q]);
        epilogue_avx512(acc, 64, m0, mr, n0, nr, e);
    }
}

// AVX512-VNNI on two blocks (32 channels): 8 rows x 32 channels (16 accumulators).
__attribute__((noinline, target("avx512f,avx512bw,avx512vl,avx512vnni")))
static void qgemm_avx512vnni_pair(int rows, int k, const ls_qrows *src, const int8_t *b0, size_t block, int n0, int nr, const ls_qepilogue *e) {
    enum { MR = 8 };
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k);
    int32_t acc[MR * 32];
    ls_qcursor cur = LS_QCURSOR_START;
    for (int m0 = 0; m0 < rows; m0 += MR) {
        __m512i s00 = _mm512_setzero_si512(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
        __m512i s40 = s00, s41 = s00, s50 = s00, s51 = s00, s60 = s00, s61 = s00, s70 = s00, s71 = s00;
        const uint8_t *start[MR];
        ls_qrows_start(start, MR, m0, rows, src, &cur);
        for (int t = 0; t < taps; t++) {
            const uint8_t *row[MR];
            ls_qrows_tap(row, start, MR, m0, rows, src, t);
            const uint8_t *r0 = row[0], *r1 = row[1], *r2 = row[2], *r3 = row[3], *r4 = row[4], *r5 = row[5], *r6 = row[6], *r7 = row[7];
            const int8_t *w = b0 + (size_t)t * groups * 64;
            for (int g = 0; g < groups; g++, w += 64) {
                __m512i w0 = _mm512_loadu_si512((const void *)w), w1 = _mm512_loadu_si512((const void *)(w + block));
                DOT2(r0 + g * 4, s00, s01);
                DOT2(r1 + g * 4, s10, s11);
                DOT2(r2 + g * 4, s20, s21);
                DOT2(r3 + g * 4, s30, s31);
                DOT2(r4 + g * 4, s40, s41);
                DOT2(r5 + g * 4, s50, s51);
                DOT2(r6 + g * 4, s60, s61);
                DOT2(r7 + g * 4, s70, s71);
            }
        }
        __m512i s[MR][2] = {{s00, s01}, {s10, s11}, {s20, s21}, {s30, s31}, {s40, s41}, {s50, s51}, {s60, s61}, {s70, s71}};
        int mr = rows - m0 < MR ? rows - m0 : MR;
        if (nr == 32) {
            epi512_constants kc = epi512_load_constants(e);
            epi512_channels c0 = epi512_load_channels(e, n0), c1 = epi512_load_channels(e, n0 + 16);
            for (int r = 0; r < mr; r++) {
                epi512_store(s[r][0], &c0, &kc, (size_t)(m0 + r), n0, e);
                epi512_store(s[r][1], &c1, &kc, (size_t)(m0 + r), n0 + 16, e);
            }
            continue;
        }
        for (int r = 0; r < mr; r++) {
            _mm512_storeu_si512((void *)(acc + r * 32), s[r][0]);
            _mm512_storeu_si512((void *)(acc + r * 32 + 16), s[r][1]);
        }
        epilogue_avx512(acc, 32, m0, mr, n0, nr, e);
    }
}

// AVX512-VNNI: vpdpbusd on 512-bit registers, 6 rows x 64 channels while four blocks are
// left (not for an indirect GEMM), then 8 rows x 32 channels, then one block of 16. Each
// kernel is its own function: inlined into one, clang's registers for the accumulators
// moved every step (15 vector moves per 16 vpdpbusd), at 0.7-0.9x the speed.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
void ls_qgemm_avx512vnni(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e) {
    size_t block = ls_block_bytes(k);
    int blocks = (n + 15) / 16, bl = 0;
    int wide = !src->ind && ls_qrows_taps(src) * ls_qrows_groups(src, k) <= WIDE_MAX_GROUPS;
    for (; wide && bl + 4 <= blocks; bl += 4) {
        int n0 = bl * 16;
        qgemm_avx512vnni_wide(rows, k, src, packed + (size_t)bl * block, block, n0, n - n0 < 64 ? n - n0 : 64, e);
    }
    for (; bl + 2 <= blocks; bl += 2) {
        int n0 = bl * 16;
        qgemm_avx512vnni_pair(rows, k, src, packed + (size_t)bl * block, block, n0, n - n0 < 32 ? n - n0 : 32, e);
    }
    if (bl == blocks) return;
    const int8_t *last = packed + (size_t)bl * block;
    if (wide) qgemm_avx512vnni_deep(rows, k, src, last, bl * 16, n - bl * 16, e);
    else qgemm_avx512vnni_block(rows, k, src, last, bl * 16, n - bl * 16, e);
}
#endif
