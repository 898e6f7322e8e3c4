#include "qgemm_internal.h"
#include <stdlib.h>

void ls_qdepthwise(const uint8_t *x, int h, int w, int c, int ldx, int zx, const int8_t *wt, int k, int stride, int pad,
                   int oh, int ow, int row0, int rows, const ls_qepilogue *e) {
    int32_t stack[512];
    int32_t *acc = c <= 512 ? stack : malloc(sizeof(int32_t) * (size_t)c);
    if (!acc) return;
    for (int oy = row0; oy < row0 + rows && oy < oh; oy++) {
        for (int ox = 0; ox < ow; ox++) {
            for (int ch = 0; ch < c; ch++) acc[ch] = 0;
            for (int ky = 0; ky < k; ky++) {
                int iy = oy * stride - pad + ky;
                if (iy < 0 || iy >= h) continue;
                for (int kx = 0; kx < k; kx++) {
                    int ix = ox * stride - pad + kx;
                    if (ix < 0 || ix >= w) continue;
                    const uint8_t *px = x + ((size_t)iy * w + ix) * ldx;
                    const int8_t *tap = wt + (size_t)(ky * k + kx) * c;
                    for (int ch = 0; ch < c; ch++) acc[ch] += ((int32_t)px[ch] - zx) * (int32_t)tap[ch];
                }
            }
            ls_qepilogue_tile(acc, c, oy * ow + ox, 1, 0, c, e);
        }
    }
    if (acc != stack) free(acc);
}
