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

// Where the rows of A are: one run of K bytes per row (a + m * lda); or `taps` runs of `run`
// bytes (a multiple of 4) per row, for a conv read in place: the t-th at ind[m * taps + t]
// (indirect), or, for a conv on a padded input (offs set), at start(m) + offs[t], where
// output pixel first + m = (b, oy, ox) starts at a + b * plane + oy * row_step + ox * lda.
typedef struct {
    const uint8_t *a;
    int lda;
    const uint8_t *const *ind;
    const int *offs;
    int first, oh, ow;
    ptrdiff_t plane, row_step;
    int taps, run;
} ls_qrows;

// The runs per row, and the groups of four bytes in one run.
static inline int ls_qrows_taps(const ls_qrows *s) { return s->ind || s->offs ? s->taps : 1; }
static inline int ls_qrows_groups(const ls_qrows *s, int k) { return s->ind || s->offs ? s->run / 4 : (k + 3) / 4; }

// Where a conv's output row m lies, (b, oy, ox), kept from one tile to the next, so the
// divisions are done once per call, not once per tile (next = -1: not yet known).
typedef struct {
    int next, b, oy, ox;
} ls_qcursor;

#define LS_QCURSOR_START {-1, 0, 0, 0}

// Where rows [m0, m0 + mr) start, once per tile (rows past the end start where the last row
// does); unused for an indirect GEMM. `c` follows the rows of a conv: tiles called in order
// step on from where the last one ended.
static inline void ls_qrows_start(const uint8_t **start, int mr, int m0, int rows, const ls_qrows *s, ls_qcursor *c) {
    if (s->ind) return;
    if (!s->offs) {
        for (int r = 0; r < mr; r++) start[r] = s->a + (size_t)(m0 + r < rows ? m0 + r : rows - 1) * (size_t)s->lda;
        return;
    }
    if (c->next != m0) {
        int m = s->first + m0, plane = s->oh * s->ow;
        c->b = m / plane, c->oy = m % plane / s->ow, c->ox = m % s->ow;
    }
    int b = c->b, oy = c->oy, ox = c->ox;
    for (int r = 0; r < mr; r++) {
        if (m0 + r >= rows) {
            start[r] = start[r - 1];
            continue;
        }
        start[r] = s->a + b * s->plane + oy * s->row_step + (ptrdiff_t)ox * s->lda;
        if (++ox == s->ow) {
            ox = 0;
            if (++oy == s->oh) { oy = 0; b++; }
        }
    }
    c->next = m0 + mr, c->b = b, c->oy = oy, c->ox = ox;
}

// Rows [m0, m0 + mr) at run t, from where they start (rows past the end read the last row again).
static inline void ls_qrows_tap(const uint8_t **row, const uint8_t *const *start, int mr, int m0, int rows, const ls_qrows *s, int t) {
    if (s->ind) {
        for (int r = 0; r < mr; r++) row[r] = s->ind[(size_t)(m0 + r < rows ? m0 + r : rows - 1) * (size_t)s->taps + (size_t)t];
        return;
    }
    ptrdiff_t o = s->offs ? s->offs[t] : 0;
    for (int r = 0; r < mr; r++) row[r] = start[r] + o;
}

void ls_qgemm_baseline(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);
#if defined(__x86_64__)
void ls_qgemm_avx2(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);
void ls_qgemm_avxvnni(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);
void ls_qgemm_avx512vnni(int rows, int n, int k, const ls_qrows *src, const int8_t *packed, const ls_qepilogue *e);

#endif
#endif
