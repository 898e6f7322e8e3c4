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

// The im2col of NHWC bytes for output pixels [m0, m1) (batch-major: m = (b * oh + oy) * ow + ox):
// per pixel, per tap (ky, kx), the `ldx` bytes of the input pixel (its channels and their
// padding to 4, if any), or zx outside the image; a kernel row inside the image is one
// copy. Each row is `patch` bytes: k * k * ldx rounded up to 4, zeros after. Reads up to 8
// bytes past the image, and writes up to 8 past the last row: both buffers keep that slack.
void ls_im2col_u8(const uint8_t *x, int h, int w, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                  int m0, int m1, uint8_t *out, int patch);

// Max (is_max) or average (padding counted as zx) pooling of NHWC bytes, output rows
// [row0, row0 + rows) of one image; averages round half to even.
void ls_qpool_u8(const uint8_t *x, int h, int w, int c, int ldx, int zx, int k, int stride, int pad, int oh, int ow,
                 int row0, int rows, int is_max, uint8_t *out, int ldo);

// fp32 NCHW (c planes of `plane` values) to NHWC bytes (ldo apart): round_half_even(v * (1 / scale)) + zp,
// clamped (NaN: zp).
void ls_quantize_u8(const float *x, int c, int plane, float scale, int zp, uint8_t *out, int ldo);
// NHWC bytes (ldx apart) to fp32 NCHW: (q - zp) * scale.
void ls_dequantize_u8(const uint8_t *x, int c, int plane, int ldx, float scale, int zp, float *out);

// Depthwise conv of one NHWC image, output rows [row0, row0 + rows): x is [h][w] pixels of
// `ldx` bytes (c channels, zero point zx), wt is [k * k][c] int8 (tap-major), out pixel m =
// oy * ow + ox goes through the epilogue, whose offsets must be zeros (the zero point is
// taken off each input). Padding reads as the zero point.
void ls_qdepthwise(const uint8_t *x, int h, int w, int c, int ldx, int zx, const int8_t *wt, int k, int stride, int pad,
                   int oh, int ow, int row0, int rows, const ls_qepilogue *e);

#endif
