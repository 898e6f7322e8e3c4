#include "ckernels.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

void ls_im2col_u8(const uint8_t *x, int h, int w, int c, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                  int m0, int m1, uint8_t *out, int patch) {
    int used = k * k * c;
    for (int m = m0; m < m1; m++) {
        int b = m / (oh * ow), p = m % (oh * ow), oy = p / ow, ox = p % ow;
        uint8_t *dst = out + (size_t)(m - m0) * patch;
        const uint8_t *image = x + (size_t)b * h * w * ldx;
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * stride - pad + ky;
            for (int kx = 0; kx < k; kx++) {
                int ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) memset(dst, zx, (size_t)c);
                else memcpy(dst, image + ((size_t)iy * w + ix) * ldx, (size_t)c);
                dst += c;
            }
        }
        if (patch > used) memset(dst, 0, (size_t)(patch - used));
    }
}

void ls_quantize_u8(const float *x, int c, int plane, float scale, int zp, uint8_t *out, int ldo) {
    for (int ch = 0; ch < c; ch++) {
        const float *src = x + (size_t)ch * plane;
        for (int p = 0; p < plane; p++) {
            float v = src[p];
            float q = isnan(v) ? (float)zp : nearbyintf(v / scale) + (float)zp;
            out[(size_t)p * ldo + ch] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
    }
}

void ls_dequantize_u8(const uint8_t *x, int c, int plane, int ldx, float scale, int zp, float *out) {
    for (int ch = 0; ch < c; ch++) {
        float *dst = out + (size_t)ch * plane;
        for (int p = 0; p < plane; p++) dst[p] = (float)((int)x[(size_t)p * ldx + ch] - zp) * scale;
    }
}
