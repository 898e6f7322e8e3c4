#include "qgemm_internal.h"
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// A short copy without a call, in whole words of eight bytes: it may write and read up to
// seven bytes past `n` (the caller leaves room: the next patch row, or the buffers' slack).
static inline void copy_words(uint8_t *restrict d, const uint8_t *restrict s, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v;
        memcpy(&v, s + i, 8);
        memcpy(d + i, &v, 8);
    }
}

void ls_im2col_u8(const uint8_t *x, int h, int w, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                  int m0, int m1, uint8_t *out, int patch) {
    size_t row = (size_t)k * ldx, used = (size_t)k * row;
    for (int m = m0; m < m1; m++) {
        int b = m / (oh * ow), p = m % (oh * ow), oy = p / ow, ox = p % ow;
        uint8_t *dst = out + (size_t)(m - m0) * patch;
        const uint8_t *image = x + (size_t)b * h * w * ldx;
        int ix0 = ox * stride - pad;
        // rows in order: a row's last word may spill into the next, which then overwrites it
        for (int ky = 0; ky < k; ky++) {
            uint8_t *d = dst + (size_t)ky * row;
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) { memset(d, zx, row); continue; }
            const uint8_t *src = image + (size_t)iy * w * ldx;
            if (ix0 >= 0 && ix0 + k <= w) { copy_words(d, src + (size_t)ix0 * ldx, row); continue; }
            for (int kx = 0; kx < k; kx++) {
                int ix = ix0 + kx;
                if (ix < 0 || ix >= w) memset(d + (size_t)kx * ldx, zx, (size_t)ldx);
                else memcpy(d + (size_t)kx * ldx, src + (size_t)ix * ldx, (size_t)ldx);
            }
        }
        if ((size_t)patch > used) memset(dst + used, 0, (size_t)patch - used);
    }
}

void ls_indirection_u8(const uint8_t *x, int h, int w, int ldx, const uint8_t *outside, int k, int stride, int pad,
                       int oh, int ow, int m0, int m1, const uint8_t **out) {
    for (int m = m0; m < m1; m++) {
        int b = m / (oh * ow), p = m % (oh * ow), oy = p / ow, ox = p % ow;
        const uint8_t **dst = out + (size_t)(m - m0) * k * k;
        const uint8_t *image = x + (size_t)b * h * w * ldx;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * stride - pad + ky;
            for (int kx = 0; kx < k; kx++) {
                int ix = ox * stride - pad + kx;
                bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
                dst[ky * k + kx] = inside ? image + ((size_t)iy * w + ix) * ldx : outside;
            }
        }
    }
}

void ls_qpool_u8(const uint8_t *restrict x, int h, int w, int c, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                 int row0, int rows, int is_max, uint8_t *restrict out, int ldo) {
    int32_t stack[512];
    int32_t *acc = c <= 512 ? stack : malloc(sizeof(int32_t) * (size_t)c);
    if (!acc) return;
    float count = (float)(k * k);
    for (int oy = row0; oy < row0 + rows && oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            uint8_t *restrict d = out + ((size_t)oy * ow + ox) * ldo;
            if (is_max) {
                // bytes are never below 0, and every window holds a pixel of the image
                for (int ch = 0; ch < c; ch++) d[ch] = 0;
                for (int ky = 0; ky < k; ky++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= h) continue;
                    for (int kx = 0; kx < k; kx++) {
                        int ix = ox * stride - pad + kx;
                        if (ix < 0 || ix >= w) continue;
                        const uint8_t *restrict px = x + ((size_t)iy * w + ix) * ldx;
                        for (int ch = 0; ch < c; ch++) d[ch] = d[ch] > px[ch] ? d[ch] : px[ch];
                    }
                }
                continue;
            }
            for (int ch = 0; ch < c; ch++) acc[ch] = 0;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * stride - pad + ky;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * stride - pad + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                        for (int ch = 0; ch < c; ch++) acc[ch] += zx;
                        continue;
                    }
                    const uint8_t *px = x + ((size_t)iy * w + ix) * ldx;
                    for (int ch = 0; ch < c; ch++) acc[ch] += px[ch];
                }
            }
            for (int ch = 0; ch < c; ch++) {
                float q = ls_round_even((float)acc[ch] / count);
                d[ch] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }
    if (acc != stack) free(acc);
}

static inline uint8_t quantize_one(float v, float inv, int zp) {
    float q = v == v ? ls_round_even(v * inv) + (float)zp : (float)zp;
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

#if defined(__SSE2__)
// Four pixels from `p` on, their first `c` (at most 8) channels quantized as quantize_one does
// (SSE2 only: the same operations, so the same bytes), gathered into one 32-bit word per pixel
// (word[0]: channels 0-3, word[1]: 4-7; unused bytes zero).
static inline void quantize_four(const float *x, int c, int plane, int p, float inv, int zp, __m128i word[2]) {
    const __m128 vinv = _mm_set1_ps(inv), vzp = _mm_set1_ps((float)zp), lo = _mm_set1_ps(-512), hi = _mm_set1_ps(512);
    const __m128 magic = _mm_set1_ps(12582912.0f), zero = _mm_setzero_ps(), top = _mm_set1_ps(255);
    word[0] = word[1] = _mm_setzero_si128();
    for (int ch = 0; ch < c; ch++) {
        __m128 v = _mm_loadu_ps(x + (size_t)ch * plane + p);
        __m128 nan = _mm_cmpunord_ps(v, v);
        __m128 t = _mm_min_ps(_mm_max_ps(_mm_mul_ps(v, vinv), lo), hi);
        __m128 q = _mm_add_ps(_mm_sub_ps(_mm_add_ps(t, magic), magic), vzp);
        q = _mm_or_ps(_mm_andnot_ps(nan, q), _mm_and_ps(nan, vzp));
        q = _mm_min_ps(_mm_max_ps(q, zero), top);
        __m128i b = _mm_cvttps_epi32(q);
        if (ch < 4) word[0] = _mm_or_si128(word[0], _mm_slli_epi32(b, 8 * ch));
        else word[1] = _mm_or_si128(word[1], _mm_slli_epi32(b, 8 * (ch - 4)));
    }
}
#endif

void ls_quantize_u8(const float *x, int c, int plane, float scale, int zp, uint8_t *out, int ldo) {
    float inv = 1.0f / scale;
    int p = 0;
#if defined(__SSE2__)
    if ((ldo == 4 && c == 4) || (ldo == 8 && c > 4 && c <= 8)) {
        for (; p + 4 <= plane; p += 4) {
            __m128i word[2];
            quantize_four(x, c, plane, p, inv, zp, word);
            if (ldo == 4) {
                _mm_storeu_si128((__m128i *)(out + (size_t)p * 4), word[0]);
            } else {
                _mm_storeu_si128((__m128i *)(out + (size_t)p * 8), _mm_unpacklo_epi32(word[0], word[1]));
                _mm_storeu_si128((__m128i *)(out + (size_t)p * 8 + 16), _mm_unpackhi_epi32(word[0], word[1]));
            }
        }
    } else if (ldo == 1 && c == 1) {
        // a gray image: four pixels' bytes at a time
        for (; p + 4 <= plane; p += 4) {
            __m128i word[2];
            quantize_four(x, c, plane, p, inv, zp, word);
            __m128i bytes = _mm_packus_epi16(_mm_packs_epi32(word[0], word[0]), word[0]);
            int32_t v = _mm_cvtsi128_si32(bytes);
            memcpy(out + p, &v, 4);
        }
    } else if (ldo == 3 && c == 3) {
        // an RGB image, packed: the four words' low three bytes, back to back (12 bytes, no more)
        for (; p + 4 <= plane; p += 4) {
            __m128i word[2];
            quantize_four(x, c, plane, p, inv, zp, word);
            uint32_t v[4];
            _mm_storeu_si128((__m128i *)v, word[0]);
            uint64_t a = (uint64_t)v[0] | ((uint64_t)v[1] << 24) | ((uint64_t)v[2] << 48);
            uint32_t b = (v[2] >> 16) | (v[3] << 8);
            memcpy(out + (size_t)p * 3, &a, 8);
            memcpy(out + (size_t)p * 3 + 8, &b, 4);
        }
    }
#endif
    for (; p < plane; p++) {
        uint8_t *dst = out + (size_t)p * ldo;
        for (int ch = 0; ch < c; ch++) dst[ch] = quantize_one(x[(size_t)ch * plane + p], inv, zp);
        for (int ch = c; ch < ldo; ch++) dst[ch] = 0;  // the padding, as the vector path writes it
    }
}

void ls_dequantize_u8(const uint8_t *x, int c, int plane, int ldx, float scale, int zp, float *out) {
    for (int ch = 0; ch < c; ch++) {
        float *dst = out + (size_t)ch * plane;
        for (int p = 0; p < plane; p++) dst[p] = (float)((int)x[(size_t)p * ldx + ch] - zp) * scale;
    }
}

void ls_dequantize_mean_u8(const uint8_t *x, int c, int plane, int ldx, float scale, int zp, float *out) {
    enum { CH = 256, SPAN = 1 << 23 };  // 2^23 bytes of 255 at most sum below 2^31
    for (int c0 = 0; c0 < c; c0 += CH) {
        int cn = c - c0 < CH ? c - c0 : CH;
        int64_t total[CH] = {0};
        for (int p0 = 0; p0 < plane; p0 += SPAN) {
            int pn = plane - p0 < SPAN ? plane - p0 : SPAN;
            int32_t sum[CH] = {0};
            for (int p = 0; p < pn; p++) {
                const uint8_t *px = x + (size_t)(p0 + p) * ldx + c0;
                for (int ch = 0; ch < cn; ch++) sum[ch] += px[ch];
            }
            for (int ch = 0; ch < cn; ch++) total[ch] += sum[ch];
        }
        for (int ch = 0; ch < cn; ch++)
            out[c0 + ch] = (float)((double)(total[ch] - (int64_t)zp * plane) / plane * scale);
    }
}
