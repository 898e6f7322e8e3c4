// Per-ISA C kernels, chosen at run time: the int8 GEMM of quantized inference (plain C,
// AVX2, AVX-VNNI, AVX512-VNNI) and the CPU's features. Each variant is compiled with a
// target attribute, so the binary runs on any x86-64 CPU and uses what it finds.
#ifndef LINESIGHT_CKERNELS_H
#define LINESIGHT_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

// Instruction sets of the int8 kernels, slowest first.
enum {
    LS_ISA_BASELINE = 0,    // plain C (SSE2 at most): any x86-64, and every other architecture
    LS_ISA_AVX2 = 1,        // vpmovsxbw + vpmaddwd: exact u8 x s8 products, 8 lanes of int32
    LS_ISA_AVXVNNI = 2,     // vpdpbusd on 256-bit registers (Alder Lake, Sapphire Rapids)
    LS_ISA_AVX512VNNI = 3,  // vpdpbusd on 512-bit registers (Cascade Lake and newer Xeons, Ice Lake)
};

typedef struct {
    int sse42, avx, avx2, fma, avx512f, avx512bw, avx512vl, avx512vnni, avxvnni;
} ls_cpu_features;

// What this CPU and its operating system allow (CPUID, with XGETBV for the register state).
void ls_cpu_detect(ls_cpu_features *out);
// The fastest int8 variant the CPU allows.
int ls_int8_best_isa(void);

// Weights packed for the GEMM: output channels in blocks of 16; each block holds, for every
// group of 4 reduction indices, 16 channels x 4 int8 (64 bytes). N is padded to a multiple
// of 16 and K to a multiple of 4, with zero weights.
size_t ls_qpack_size(int n, int k);
// `w` is [n][k] row-major int8.
void ls_qpack(const int8_t *w, int n, int k, int8_t *packed);

// What happens to each int32 sum of a tile before it is stored (the fused requantization):
//   v = (acc + offset[n]) * scale[n] + bias[n]
//   v += (residual[m][n] - residual_zp) * residual_scale       (when residual is set)
//   v = min(max(v, lo), hi)                                    (ReLU: lo 0; ReLU6: hi 6)
//   out[m][n] = clamp(round_half_even(v * out_inv_scale) + out_zp, 0, 255)
// or, when out_f32 is set, out_f32[m * ldo + n] = v (dequantized, NHWC).
typedef struct {
    const int32_t *offset;
    const float *scale;
    const float *bias;
    const uint8_t *residual;
    int ldr;
    float residual_scale;
    int residual_zp;
    float lo, hi;
    float out_inv_scale;
    int out_zp;
    uint8_t *out;
    float *out_f32;
    int ldo;
} ls_qepilogue;

// out[m][n] for m < rows, n < n: the sum over k of a[m * lda + k] (uint8) times the packed
// weight of (n, k), through the epilogue. Each row of `a` must be readable up to K rounded up
// to 4 (the bytes past K meet zero weights). `isa` is an LS_ISA_* the CPU allows.
void ls_qgemm(int isa, int rows, int n, int k, const uint8_t *a, int lda, const int8_t *packed, const ls_qepilogue *e);

// The same product with each row of A read where it lies (an indirect GEMM: a conv without
// its im2col copy): row m is `taps` runs of `run` bytes (a multiple of 4), the t-th at
// ind[m * taps + t]; K is taps * run, packed as ls_qpack packs [n][taps * run].
void ls_qgemm_indirect(int isa, int rows, int n, int taps, int run, const uint8_t *const *ind, const int8_t *packed,
                       const ls_qepilogue *e);

// The same product for a conv on a padded input (no pointers, no copied patches): rows are
// output pixels first ... first + rows - 1 (batch-major: (b * oh + oy) * ow + ox); pixel
// (b, oy, ox) starts at a + b * plane + oy * row_step + ox * lda (plane: a padded image's
// bytes; row_step: the stride times a padded row's bytes; lda: the stride times a pixel's
// bytes), and its t-th run of `run` bytes (a multiple of 4) is `offs[t]` bytes further.
// Rows past `rows` are read (as the last row again) but not stored.
void ls_qgemm_conv(int isa, int rows, int n, const uint8_t *a, int first, int oh, int ow, ptrdiff_t plane, ptrdiff_t row_step, int lda,
                   int taps, const int *offs, int run, const int8_t *packed, const ls_qepilogue *e);

// The im2col of NHWC bytes for output pixels [m0, m1) (batch-major: m = (b * oh + oy) * ow + ox):
// per pixel, per tap (ky, kx), the `ldx` bytes of the input pixel (its channels and their
// padding to 4, if any), or zx outside the image; a kernel row inside the image is one
// copy. Each row is `patch` bytes: k * k * ldx rounded up to 4, zeros after. Reads up to 8
// bytes past the image, and writes up to 8 past the last row: both buffers keep that slack.
void ls_im2col_u8(const uint8_t *x, int h, int w, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                  int m0, int m1, uint8_t *out, int patch);

// The indirection of the same patches for ls_qgemm_indirect: for output pixels [m0, m1), per
// tap (ky, kx), a pointer to the input pixel's `ldx` bytes, or to `outside` (ldx bytes of the
// zero point) where the tap falls outside the image; out[(m - m0) * k * k + t].
void ls_indirection_u8(const uint8_t *x, int h, int w, int ldx, const uint8_t *outside, int k, int stride, int pad,
                       int oh, int ow, int m0, int m1, const uint8_t **out);

// Max (is_max) or average (padding counted as zx) pooling of NHWC bytes, output rows
// [row0, row0 + rows) of one image; averages round half to even.
void ls_qpool_u8(const uint8_t *x, int h, int w, int c, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                 int row0, int rows, int is_max, uint8_t *out, int ldo);

// fp32 NCHW (c planes of `plane` values) to NHWC bytes (ldo apart): round_half_even(v * (1 / scale)) + zp,
// clamped (NaN: zp).
void ls_quantize_u8(const float *x, int c, int plane, float scale, int zp, uint8_t *out, int ldo);
// NHWC bytes (ldx apart) to fp32 NCHW: (q - zp) * scale.
void ls_dequantize_u8(const uint8_t *x, int c, int plane, int ldx, float scale, int zp, float *out);
// NHWC bytes (ldx apart) to each channel's fp32 mean over the plane: scale * (mean(q) - zp),
// summed exactly in integers (ls_dequantize_u8 and then the mean of the plane, at once).
void ls_dequantize_mean_u8(const uint8_t *x, int c, int plane, int ldx, float scale, int zp, float *out);

// Depthwise conv of one NHWC image, output rows [row0, row0 + rows): x is [h][w] pixels of
// `ldx` bytes (c channels, zero point zx), wt is [k * k][c] int8 (tap-major), out pixel m =
// oy * ow + ox goes through the epilogue, whose offsets must be zeros (the zero point is
// taken off each input). Padding reads as the zero point.
void ls_qdepthwise(const uint8_t *x, int h, int w, int c, int ldx, int zx, const int8_t *wt, int k, int stride, int pad,
                   int oh, int ow, int row0, int rows, const ls_qepilogue *e);

// ---- fp32 conv micro-kernels (fconv.c), one variant per instruction set ----

// Instruction sets of the fp32 kernels, slowest first.
enum {
    LS_FISA_BASELINE = 0,  // SSE up to 4.2 (x86-64-v2), and every other architecture
    LS_FISA_AVX2 = 1,      // AVX2 + FMA (x86-64-v3: Haswell, Zen and newer)
    LS_FISA_AVX512 = 2,    // AVX-512 F + VL (Skylake-SP, Ice Lake, Zen 4 and newer)
};
// The fastest fp32 variant this CPU allows.
int ls_fp32_best_isa(void);
// Whether this CPU can run variant `isa` (an LS_FISA_*).
int ls_fp32_isa_available(int isa);

enum { LS_FCONV_TAPS = 0, LS_FCONV_3X3 = 1, LS_FCONV_POINTWISE = 2 };

// One 16-channel output block of the channel-blocked direct conv (Neural's BlockedConvPlan):
// for pixel i < pixels, out[l] = sum over input channel c and tap t of
//   w[(c * taps + t) * 16 + l] * x[(c / 8) * in_block + c % 8 + origins[i] + offset(t)]
// with offset(t) = taps[t] (LS_FCONV_TAPS, nt of them), 0 (LS_FCONV_POINTWISE) or, for
// LS_FCONV_3X3, ky * row + kx * 8. Lanes 0-7 go to y + targets[i], lanes 8-15 to
// y + out_block + targets[i], each plus bias (16 floats, or none) plus the residual at the
// same offsets (or none), through ReLU if asked. With `half`, only lanes 0-7 are computed
// and written (a conv whose outputs end in half a block).
typedef struct {
    const float *x;
    const ptrdiff_t *origins, *targets;
    ptrdiff_t pixels;
    int kind;
    const ptrdiff_t *taps;
    int nt;
    ptrdiff_t row, in_block;
    int cin;
    const float *w;
    float *y;
    ptrdiff_t out_block;
    const float *bias, *residual;
    int relu;
    int half;  // a last block of 8 channels: lanes 0-7 only (weights still 16 apart, bias and residual 8)
} ls_fconv_blocked_args;
void ls_fconv_blocked(int isa, const ls_fconv_blocked_args *a);

// The weight gradient of one 16-channel output block: for each pair j < pairs,
//   dw[l * pairs + j] += sum over pixels p in [p0, p1) of dy_l(p) * x[origins[p] + offsets[j]]
// where dy_l(p) is dy[targets[p] + l] for l < 8 and dy[out_block + targets[p] + l - 8] after.
typedef struct {
    const float *x, *dy;
    ptrdiff_t out_block;
    const ptrdiff_t *origins, *targets;
    ptrdiff_t p0, p1;
    const ptrdiff_t *offsets;
    int pairs;
    float *dw;
} ls_fconv_wgrad_args;
void ls_fconv_weight_gradient(int isa, const ls_fconv_wgrad_args *a);

// One block of the NCHW direct conv (Neural's DirectConvPlan): 4 output channels x 24 grid
// positions, out[j * 24 + i] = sum over c, t of w[(c * nt + t) * 4 + j] * p[c * channel_stride + offset(t) + i],
// offset(t) = taps[t], or, when row > 0 (a 3x3 stride-1 kernel, nt = 9), ky * row + kx.
typedef struct {
    const float *p;
    ptrdiff_t channel_stride;
    const ptrdiff_t *taps;
    int nt;
    ptrdiff_t row;
    const float *w;
    int cin;
    float *out;
} ls_fconv_direct_args;
void ls_fconv_direct(int isa, const ls_fconv_direct_args *a);

// The Winograd F(2x2, 3x3) transforms of Neural's BlockedWinogradPlan. Input: for tile i <
// count and input block j < blocks, the 4x4 window of 8-channel pixels at
// x + j * in_block + origins[i] (rows `row` floats apart) becomes B^T d B, position p
// (0..15) stored at v + p * v_position + j * v_block + i * 8.
typedef struct {
    const float *x;
    const ptrdiff_t *origins;
    int count, blocks;
    ptrdiff_t row, in_block;
    float *v;
    ptrdiff_t v_block, v_position;
} ls_fwino_input_args;
void ls_fwino_input(int isa, const ls_fwino_input_args *a);

// Output: for tile i < count, the 16 products of 16 channels at m + p * position_stride + i * 16
// become A^T M A, 2x2 pixels written from y + targets[i] (lanes 0-7) and y + out_block +
// targets[i] (lanes 8-15), columns 8 floats apart, rows `row` apart; extents[i] bit 0: the
// right column is inside the image, bit 1: the bottom row. Plus bias (16 floats) and the
// residual at the same offsets (or none), through ReLU if asked.
typedef struct {
    const float *m;
    ptrdiff_t position_stride;
    int count;
    float *y;
    const ptrdiff_t *targets;
    const uint8_t *extents;
    ptrdiff_t out_block, row;
    const float *bias, *residual;
    int relu;
} ls_fwino_output_args;
void ls_fwino_output(int isa, const ls_fwino_output_args *a);

#endif
