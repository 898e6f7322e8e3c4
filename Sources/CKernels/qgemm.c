#include "qgemm_internal.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF

size_t ls_qpack_size(int n, int k) { return (size_t)((n + 15) / 16) * ls_block_bytes(k); }

void ls_qpack(const int8_t *w, int n, int k, int8_t *packed) {
    size_t block = ls_block_bytes(k);
    memset(packed, 0, ls_qpack_size(n, k));
    for (int o = 0; o < n; o++) {
        int8_t *dst = packed + (size_t)(o / 16) * block + (o % 16) * 4;
        for (int i = 0; i < k; i++) dst[(size_t)(i / 4) * 64 + i % 4] = w[(size_t)o * k + i];
    }
}

void ls_qepilogue_tile(const int32_t *acc, int ld, int m0, int mr, int n0, int nr, const ls_qepilogue *e) {
    for (int r = 0; r < mr; r++) {
        int m = m0 + r;
        for (int j = 0; j < nr; j++) {
            int c = n0 + j;
            float v = (float)(acc[r * ld + j] + e->offset[c]) * e->scale[c];
            v = v + e->bias[c];
            if (e->residual) v = v + (float)((int)e->residual[(size_t)m * e->ldr + c] - e->residual_zp) * e->residual_scale;
            v = ls_clampf(v, e->lo, e->hi);
            if (e->out_f32) {
                e->out_f32[(size_t)m * e->ldo + c] = v;
                continue;
            }
            float q = ls_round_even(v * e->out_inv_scale) + (float)e->out_zp;
            e->out[(size_t)m * e->ldo + c] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
        }
    }
}

// The plain twin: one row and one block of 16 channels at a time.
void ls_qgemm_baseline(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e) {
    size_t block = ls_block_bytes(k);
    int taps = ls_qrows_taps(src), groups = ls_qrows_groups(src, k);
    int32_t acc[16];
    for (int n0 = 0; n0 < n; n0 += 16) {
        const int8_t *b = packed + (size_t)(n0 / 16) * block;
        int nr = n - n0 < 16 ? n - n0 : 16;
        ls_qcursor cur = LS_QCURSOR_START;
        for (int m = 0; m < rows; m++) {
            for (int j = 0; j < 16; j++) acc[j] = 0;
            const uint8_t *start;
            ls_qrows_start(&start, 1, m, rows, src, &cur);
            for (int t = 0; t < taps; t++) {
                const uint8_t *x;
                ls_qrows_tap(&x, &start, 1, m, rows, src, t);
                for (int g = 0; g < groups; g++) {
                    const int8_t *w = b + ((size_t)t * groups + g) * 64;
                    for (int j = 0; j < 16; j++) {
                        int32_t s = 0;
                        for (int u = 0; u < 4; u++) s += (int32_t)x[g * 4 + u] * (int32_t)w[j * 4 + u];
                        acc[j] += s;
                    }
                }
            }
            ls_qepilogue_tile(acc, 16, m, 1, n0, nr, e);
        }
    }
}

static void qgemm_rows(int isa, int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e) {
    if (rows <= 0 || n <= 0) return;
#if defined(__x86_64__)
    switch (isa) {
    case LS_ISA_AVX512VNNI: ls_qgemm_avx512vnni(rows, n, k, src, packed, e); return;
    case LS_ISA_AVXVNNI: ls_qgemm_avxvnni(rows, n, k, src, packed, e); return;
    case LS_ISA_AVX2: ls_qgemm_avx2(rows, n, k, src, packed, e); return;
    default: break;
    }
#endif
    ls_qgemm_baseline(rows, n, k, src, packed, e);
}

void ls_qgemm(int isa, int rows, int n, int k, const uint8_t *a, int lda, const int8_t *packed, const ls_qepilogue *e) {
    ls_qrows src = {a, lda, NULL, NULL, 0, 0, 0, 0, 0, 1, 0};
    qgemm_rows(isa, rows, n, k, &src, packed, e);
}

void ls_qgemm_indirect(int isa, int rows, int n, int taps, int run, const uint8_t *const *ind, const int8_t *packed,
                       const ls_qepilogue *e) {
    ls_qrows src = {NULL, 0, ind, NULL, 0, 0, 0, 0, 0, taps, run};
    qgemm_rows(isa, rows, n, taps * run, &src, packed, e);
}

void ls_qgemm_conv(int isa, int rows, int n, const uint8_t *a, int first, int oh, int ow, ptrdiff_t plane, ptrdiff_t row_step, int lda,
                   int taps, const int *offs, int run, const int8_t *packed, const ls_qepilogue *e) {
    ls_qrows src = {a, lda, NULL, offs, first, oh, ow, plane, row_step, taps, run};
    qgemm_rows(isa, rows, n, taps * run, &src, packed, e);
}
