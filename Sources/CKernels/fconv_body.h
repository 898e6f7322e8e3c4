// The fp32 conv micro-kernels, written once and compiled once per instruction set by
// fconv.c, which defines before each inclusion (and this file undefines at its end):
//   SFX   the suffix of this variant's functions (base, avx2, avx512)
//   TGT   its target attribute ("sse4.2", "avx2,fma", "avx512f,avx512vl,avx2,fma")
//   W     floats per vector (4, 8, 16)
//   PIX   output pixels per blocked tile (16 channels x PIX pixels of accumulators)
//   PAIRS (input channel, tap) pairs per weight-gradient tile
//   DW    floats per vector of the NCHW direct kernel (its 24 positions are 24 / DW vectors)
//   DPOS  positions per pass of the direct kernel (24, or 12 where registers are few)
// Multiply-adds contract to FMA where the target has it (the results then differ from the
// baseline's in the last bits; the tests compare each variant with the naive conv).

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name##_, SFX)
#ifdef TGT
#define TATTR __attribute__((target(TGT)))
#else
#define TATTR
#endif
#define ATTR static inline __attribute__((always_inline)) TATTR
#define NV (16 / W)

typedef float FN(vf) __attribute__((ext_vector_type(W)));
typedef int FN(vi) __attribute__((ext_vector_type(W)));
typedef float FN(v8) __attribute__((ext_vector_type(8)));
typedef int FN(v8i) __attribute__((ext_vector_type(8)));
typedef float FN(vd) __attribute__((ext_vector_type(DW)));

ATTR FN(vf) FN(ld)(const float *p) { FN(vf) v; __builtin_memcpy(&v, p, sizeof v); return v; }
ATTR FN(v8) FN(ld8)(const float *p) { FN(v8) v; __builtin_memcpy(&v, p, sizeof v); return v; }
ATTR void FN(st8)(float *p, FN(v8) v) { __builtin_memcpy(p, &v, sizeof v); }
ATTR FN(vd) FN(ldd)(const float *p) { FN(vd) v; __builtin_memcpy(&v, p, sizeof v); return v; }
ATTR void FN(std)(float *p, FN(vd) v) { __builtin_memcpy(p, &v, sizeof v); }

// 16 channels from two 8-channel planes: lanes 0-7 at a, 8-15 at b.
ATTR void FN(ld16)(const float *a, const float *b, FN(vf) *out) {
#if W == 4
    out[0] = FN(ld)(a); out[1] = FN(ld)(a + 4); out[2] = FN(ld)(b); out[3] = FN(ld)(b + 4);
#elif W == 8
    out[0] = FN(ld)(a); out[1] = FN(ld)(b);
#else
    FN(v8) lo = FN(ld8)(a), hi = FN(ld8)(b);
    out[0] = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#endif
}

// v + bias (+ residual), through ReLU (NaN kept, as the Swift kernels did), stored at y.
ATTR void FN(put8)(FN(v8) v, const float *bias, const float *res, int relu, float *y) {
    if (bias) v += FN(ld8)(bias);
    if (res) v += FN(ld8)(res);
    if (relu) {
        FN(v8i) neg = v < 0;
        v = (FN(v8))((FN(v8i))v & ~neg);
    }
    FN(st8)(y, v);
}

// One tile of the blocked conv: PIX pixels from p (fewer at the end), all input channels.
ATTR void FN(blocked_tile)(const ls_fconv_blocked_args *a, ptrdiff_t p, const int kind, const int nv) {
#pragma clang fp contract(fast)
    FN(vf) acc[PIX][NV];
    ptrdiff_t o[PIX];
    ptrdiff_t last = a->pixels - 1;
    for (int i = 0; i < PIX; i++) {
        o[i] = a->origins[p + i <= last ? p + i : last];
        for (int v = 0; v < nv; v++) acc[i][v] = 0;
    }
    const float *w = a->w;
#define TAP(q, wt)                                                        \
    do {                                                                  \
        FN(vf) w_[NV];                                                    \
        for (int v = 0; v < nv; v++) w_[v] = FN(ld)((wt) + v * W);        \
        for (int i = 0; i < PIX; i++) {                                   \
            FN(vf) x_ = (q)[o[i]];                                        \
            for (int v = 0; v < nv; v++) acc[i][v] += x_ * w_[v];         \
        }                                                                 \
    } while (0)
    const ptrdiff_t row = a->row, in_block = a->in_block;
    const float *qb = a->x;
    const int full = a->cin >> 3, rest = a->cin & 7;
    if (kind == LS_FCONV_POINTWISE) {
        // few FMAs a channel: walk the 8 channels of an input block by pointer, no address
        // arithmetic between them. Not unrolled: unrolled, the compiler loads the next
        // channel's weights early and spills an accumulator to make room.
        for (int b = 0; b < full; b++, qb += in_block) {
            const float *q = qb;
#pragma clang loop unroll(disable)
            for (int c = 0; c < 8; c++, q++, w += 16) TAP(q, w);
        }
#pragma clang loop unroll(disable)
        for (int c = 0; c < rest; c++, w += 16) TAP(qb + c, w);
    } else {
        const int step = kind == LS_FCONV_3X3 ? 144 : 16 * a->nt;
        for (int c = 0; c < a->cin; c++, w += step) {
            const float *q = qb + (c >> 3) * in_block + (c & 7);
            if (kind == LS_FCONV_3X3) {
                TAP(q, w); TAP(q + 8, w + 16); TAP(q + 16, w + 32);
                TAP(q + row, w + 48); TAP(q + row + 8, w + 64); TAP(q + row + 16, w + 80);
                TAP(q + 2 * row, w + 96); TAP(q + 2 * row + 8, w + 112); TAP(q + 2 * row + 16, w + 128);
            } else {
                for (int t = 0; t < a->nt; t++) TAP(q + a->taps[t], w + 16 * t);
            }
        }
    }
#undef TAP
    // The accumulators leave registers once, through constant indices only: an index known
    // at run time anywhere would keep the whole array in memory, stored at every FMA.
    float out[PIX][16];
#pragma clang loop unroll(full)
    for (int i = 0; i < PIX; i++)
#pragma clang loop unroll(full)
        for (int v = 0; v < nv; v++) __builtin_memcpy(&out[i][v * W], &acc[i][v], sizeof acc[i][v]);
    ptrdiff_t count = a->pixels - p < PIX ? a->pixels - p : PIX;
    for (ptrdiff_t i = 0; i < count; i++) {
        ptrdiff_t t = a->targets[p + i];
        for (int h = 0; h < nv * W / 8; h++) {
            ptrdiff_t at = h * a->out_block + t;
            FN(put8)(FN(ld8)(&out[i][8 * h]), a->bias ? a->bias + 8 * h : 0, a->residual ? a->residual + at : 0, a->relu,
                     a->y + at);
        }
    }
}

// The kind switch inside the tile's channel loop is the same every iteration: one copy of
// the tile per kind lets the compiler drop it.
static void TATTR FN(ls_fconv_blocked)(const ls_fconv_blocked_args *a) {
#if W == 16
    // half a block is one AVX2 register: the AVX2 variant's tile (this target has AVX2 and FMA)
    if (a->half) { ls_fconv_blocked_avx2(a); return; }
#endif
    if (a->half) {
        for (ptrdiff_t p = 0; p < a->pixels; p += PIX) {
            if (a->kind == LS_FCONV_POINTWISE) FN(blocked_tile)(a, p, LS_FCONV_POINTWISE, NV / 2);
            else if (a->kind == LS_FCONV_3X3) FN(blocked_tile)(a, p, LS_FCONV_3X3, NV / 2);
            else FN(blocked_tile)(a, p, LS_FCONV_TAPS, NV / 2);
        }
        return;
    }
    for (ptrdiff_t p = 0; p < a->pixels; p += PIX) {
        if (a->kind == LS_FCONV_POINTWISE) FN(blocked_tile)(a, p, LS_FCONV_POINTWISE, NV);
        else if (a->kind == LS_FCONV_3X3) FN(blocked_tile)(a, p, LS_FCONV_3X3, NV);
        else FN(blocked_tile)(a, p, LS_FCONV_TAPS, NV);
    }
}

// The weight gradient of one 16-channel output block over pixels [p0, p1).
static void TATTR FN(ls_fconv_weight_gradient)(const ls_fconv_wgrad_args *a) {
#pragma clang fp contract(fast)
    const int pairs = a->pairs;
    for (int j = 0; j < pairs; j += PAIRS) {
        ptrdiff_t o[PAIRS];
        FN(vf) acc[PAIRS][NV];
        for (int i = 0; i < PAIRS; i++) {
            o[i] = a->offsets[j + i < pairs ? j + i : pairs - 1];
            for (int v = 0; v < NV; v++) acc[i][v] = 0;
        }
        for (ptrdiff_t p = a->p0; p < a->p1; p++) {
            FN(vf) d[NV];
            ptrdiff_t t = a->targets[p];
            FN(ld16)(a->dy + t, a->dy + a->out_block + t, d);
            const float *q = a->x + a->origins[p];
            for (int i = 0; i < PAIRS; i++) {
                FN(vf) x_ = q[o[i]];
                for (int v = 0; v < NV; v++) acc[i][v] += x_ * d[v];
            }
        }
        float sums[PAIRS][16];
#pragma clang loop unroll(full)
        for (int i = 0; i < PAIRS; i++)
#pragma clang loop unroll(full)
            for (int v = 0; v < NV; v++) __builtin_memcpy(&sums[i][v * W], &acc[i][v], sizeof acc[i][v]);
        int n = pairs - j < PAIRS ? pairs - j : PAIRS;
        for (int i = 0; i < n; i++)
            for (int l = 0; l < 16; l++) a->dw[l * pairs + j + i] += sums[i][l];
    }
}

// The NCHW direct kernel's block: 4 output channels x 24 grid positions, DPOS at a time.
static void TATTR FN(ls_fconv_direct)(const ls_fconv_direct_args *a) {
#pragma clang fp contract(fast)
    enum { NP = DPOS / DW };
    for (int pos = 0; pos < 24; pos += DPOS) {
        FN(vd) acc[4][NP];
        for (int j = 0; j < 4; j++)
            for (int v = 0; v < NP; v++) acc[j][v] = 0;
        const float *base = a->p + pos, *w = a->w;
#define DTAP(q, wt)                                                          \
    do {                                                                     \
        FN(vd) x_[NP];                                                       \
        for (int v = 0; v < NP; v++) x_[v] = FN(ldd)((q) + v * DW);          \
        for (int j = 0; j < 4; j++) {                                        \
            FN(vd) w_ = (wt)[j];                                             \
            for (int v = 0; v < NP; v++) acc[j][v] += x_[v] * w_;            \
        }                                                                    \
    } while (0)
        if (a->row > 0) {
            const ptrdiff_t row = a->row;
            for (int c = 0; c < a->cin; c++) {
                const float *r0 = base, *r1 = base + row, *r2 = base + 2 * row;
                DTAP(r0, w); DTAP(r0 + 1, w + 4); DTAP(r0 + 2, w + 8);
                DTAP(r1, w + 12); DTAP(r1 + 1, w + 16); DTAP(r1 + 2, w + 20);
                DTAP(r2, w + 24); DTAP(r2 + 1, w + 28); DTAP(r2 + 2, w + 32);
                w += 36;
                base += a->channel_stride;
            }
        } else {
            for (int c = 0; c < a->cin; c++) {
                for (int t = 0; t < a->nt; t++) DTAP(base + a->taps[t], w + 4 * t);
                w += 4 * a->nt;
                base += a->channel_stride;
            }
        }
#undef DTAP
        for (int j = 0; j < 4; j++)
            for (int v = 0; v < NP; v++) FN(std)(a->out + j * 24 + pos + v * DW, acc[j][v]);
    }
}

// Winograd F(2x2, 3x3) input transform, V = B^T d B, for `count` tiles and every input block.
static void TATTR FN(ls_fwino_input)(const ls_fwino_input_args *a) {
    const ptrdiff_t row = a->row;
    for (int j = 0; j < a->blocks; j++) {
        for (int i = 0; i < a->count; i++) {
            const float *src = a->x + j * a->in_block + a->origins[i];
            float *dst = a->v + j * a->v_block + i * 8;
            FN(v8) d[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) d[r][c] = FN(ld8)(src + r * row + c * 8);
            FN(v8) t[4][4];  // B^T d: rows
            for (int c = 0; c < 4; c++) {
                t[0][c] = d[0][c] - d[2][c];
                t[1][c] = d[1][c] + d[2][c];
                t[2][c] = d[2][c] - d[1][c];
                t[3][c] = d[1][c] - d[3][c];
            }
            for (int r = 0; r < 4; r++) {  // (B^T d) B: columns
                FN(st8)(dst + (4 * r) * a->v_position, t[r][0] - t[r][2]);
                FN(st8)(dst + (4 * r + 1) * a->v_position, t[r][1] + t[r][2]);
                FN(st8)(dst + (4 * r + 2) * a->v_position, t[r][2] - t[r][1]);
                FN(st8)(dst + (4 * r + 3) * a->v_position, t[r][1] - t[r][3]);
            }
        }
    }
}

// Winograd output transform, Y = A^T M A, with bias, residual and ReLU, for `count` tiles of
// one 16-channel output block.
static void TATTR FN(ls_fwino_output)(const ls_fwino_output_args *a) {
    const ptrdiff_t row = a->row, pstride = a->position_stride;
    for (int h = 0; h < 2; h++) {
        const float *bias = a->bias + 8 * h;
        float *y = a->y + h * a->out_block;
        const float *res = a->residual ? a->residual + h * a->out_block : 0;
        for (int i = 0; i < a->count; i++) {
            const float *src = a->m + i * 16 + 8 * h;
            FN(v8) q[16];
            for (int p = 0; p < 16; p++) q[p] = FN(ld8)(src + p * pstride);
            FN(v8) s00 = q[0] + q[4] + q[8], s01 = q[1] + q[5] + q[9], s02 = q[2] + q[6] + q[10], s03 = q[3] + q[7] + q[11];
            FN(v8) s10 = q[4] - q[8] - q[12], s11 = q[5] - q[9] - q[13], s12 = q[6] - q[10] - q[14], s13 = q[7] - q[11] - q[15];
            ptrdiff_t at = a->targets[i];
            int e = a->extents[i];
            FN(put8)(s00 + s01 + s02, bias, res ? res + at : 0, a->relu, y + at);
            if (e & 1) FN(put8)(s01 - s02 - s03, bias, res ? res + at + 8 : 0, a->relu, y + at + 8);
            if (e & 2) {
                FN(put8)(s10 + s11 + s12, bias, res ? res + at + row : 0, a->relu, y + at + row);
                if (e & 1) FN(put8)(s11 - s12 - s13, bias, res ? res + at + row + 8 : 0, a->relu, y + at + row + 8);
            }
        }
    }
}

#undef CAT_
#undef CAT
#undef FN
#undef ATTR
#undef TATTR
#undef NV
// this variant's parameters: the next inclusion defines its own
#undef SFX
#undef TGT
#undef W
#undef PIX
#undef PAIRS
#undef DW
#undef DPOS
