// Shared by the int8 GEMM variants: the tile epilogue (one scalar function for every ISA,
// so every variant stores the same bytes) and the variants themselves.
#ifndef LINESIGHT_QGEMM_INTERNAL_H
#define LINESIGHT_QGEMM_INTERNAL_H
#include "ckernels.h"

// max(v, lo) then min(., hi), as _mm_max_ps / _mm_min_ps do (a NaN v gives lo).
static inline float ls_clampf(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

// Round half to even without a libm call (the baseline build has no roundss): inside
// +-512, adding and taking away 1.5 * 2^23 leaves the nearest integer, ties to even;
// outside it every caller clamps the result to 0...255 anyway.
static inline float ls_round_even(float t) {
    t = ls_clampf(t, -512.0f, 512.0f);
    return (t + 12582912.0f) - 12582912.0f;
}

// Packed bytes of one block of 16 output channels.
static inline size_t ls_block_bytes(int k) { return (size_t)((k + 3) / 4) * 64; }

// Stores rows [m0, m0 + mr) and channels [n0, n0 + nr) of a tile of int32 sums, `acc`
// holding row r's channel j at acc[r * ld + j].
void ls_qepilogue_tile(const int32_t *acc, int ld, int m0, int mr, int n0, int nr, const ls_qepilogue *e);

// Where the rows of A are: one run of K bytes per row (a + m * lda), or, for a conv read in
// place, `taps` runs of `run` bytes (a multiple of 4) per row, the t-th at ind[m * taps + t].
typedef struct {
    const uint8_t *a;
    int lda;
    const uint8_t *const *ind;
    int taps, run;
} ls_qrows;

// The runs per row, and the groups of four bytes in one run.
static inline int ls_qrows_taps(const ls_qrows *s) { return s->ind ? s->taps : 1; }
static inline int ls_qrows_groups(const ls_qrows *s, int k) { return s->ind ? s->run / 4 : (k + 3) / 4; }

// Rows [m0, m0 + mr) at run t (rows past the end read the last row again).
static inline void ls_qrows_tap(const uint8_t **row, int mr, int m0, int rows, const ls_qrows *s, int t) {
    for (int r = 0; r < mr; r++) {
        size_t m = (size_t)(m0 + r < rows ? m0 + r : rows - 1);
        row[r] = s->ind ? s->ind[m * (size_t)s->taps + (size_t)t] : s->a + m * (size_t)s->lda;
    }
}

void ls_qgemm_baseline(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);
#if defined(__x86_64__)
void ls_qgemm_avx2(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);
void ls_qgemm_avxvnni(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);
void ls_qgemm_avx512vnni(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);

#endif
#endif
