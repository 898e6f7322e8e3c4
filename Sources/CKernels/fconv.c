// The fp32 conv micro-kernels in one variant per instruction set (the body is
// fconv_body.h), and the dispatch. Swift compiles for the x86-64-v2 baseline; the hot
// loops of the engine's own convs live here, so an AVX2 or AVX-512 CPU still runs them at
// full width. Swift's SIMD `addProduct` is a fused multiply-add by definition: without
// FMA in the target it becomes a call to fmaf per lane, so these loops must not stay in Swift.
#include "ckernels.h"

// The baseline variant passes 8-float vectors between always-inlined helpers; no ABI is crossed.
#pragma clang diagnostic ignored "-Wpsabi"

#if defined(__x86_64__)

#define SFX base
#define TGT "sse4.2"
#define W 4
#define PIX 3
#define PAIRS 2
#define DW 4
#define DPOS 12
#include "fconv_body.h"

#define SFX avx2
#define TGT "avx2,fma"
#define W 8
#define PIX 6
#define PAIRS 4
#define DW 8
#define DPOS 24
#include "fconv_body.h"

#define SFX avx512
#define TGT "avx512f,avx512vl,avx2,fma"
#define W 16
#define PIX 12
#define PAIRS 8
#define DW 8
#define DPOS 24
#include "fconv_body.h"

int ls_fp32_isa_available(int isa) {
    ls_cpu_features f;
    ls_cpu_detect(&f);
    switch (isa) {
    case LS_FISA_BASELINE: return 1;
    case LS_FISA_AVX2: return f.avx2 && f.fma;
    case LS_FISA_AVX512: return f.avx512f && f.avx512vl && f.avx2 && f.fma;
    default: return 0;
    }
}

#define DISPATCH(name, args)                        \
    switch (isa) {                                  \
    case LS_FISA_AVX512: name##_avx512(args); break; \
    case LS_FISA_AVX2: name##_avx2(args); break;     \
    default: name##_base(args);                     \
    }

#else  // other architectures: the plain variant only

#define SFX base
#define W 4
#define PIX 3
#define PAIRS 2
#define DW 4
#define DPOS 12
#include "fconv_body.h"

int ls_fp32_isa_available(int isa) { return isa == LS_FISA_BASELINE; }

#define DISPATCH(name, args) name##_base(args);

#endif

int ls_fp32_best_isa(void) {
    if (ls_fp32_isa_available(LS_FISA_AVX512)) return LS_FISA_AVX512;
    if (ls_fp32_isa_available(LS_FISA_AVX2)) return LS_FISA_AVX2;
    return LS_FISA_BASELINE;
}

void ls_fconv_blocked(int isa, const ls_fconv_blocked_args *a) { DISPATCH(ls_fconv_blocked, a) }
void ls_fconv_weight_gradient(int isa, const ls_fconv_wgrad_args *a) { DISPATCH(ls_fconv_weight_gradient, a) }
void ls_fconv_direct(int isa, const ls_fconv_direct_args *a) { DISPATCH(ls_fconv_direct, a) }
void ls_fwino_input(int isa, const ls_fwino_input_args *a) { DISPATCH(ls_fwino_input, a) }
void ls_fwino_output(int isa, const ls_fwino_output_args *a) { DISPATCH(ls_fwino_output, a) }
