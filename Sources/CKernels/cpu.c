#include "ckernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

void ls_cpu_detect(ls_cpu_features *f) {
    *f = (ls_cpu_features){0};
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    f->sse42 = (c >> 20) & 1;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    uint64_t xcr = osxsave ? xcr0() : 0;
    int ymm = (xcr & 0x6) == 0x6;             // the OS saves SSE and AVX state
    int zmm = (xcr & 0xE6) == 0xE6;           // ... and the AVX-512 opmask and upper registers
    f->avx = avx && ymm;
    f->fma = fma && f->avx;
    unsigned max = __get_cpuid_max(0, 0);
    if (max < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->avx2 = ((b >> 5) & 1) && f->avx;
    f->avx512f = ((b >> 16) & 1) && zmm;
    f->avx512bw = ((b >> 30) & 1) && zmm;
    f->avx512vl = ((b >> 31) & 1) && zmm;
    f->avx512vnni = ((c >> 11) & 1) && zmm;
    unsigned sub = a;
    if (sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avxvnni = ((a >> 4) & 1) && f->avx2;
    }
}
#else
void ls_cpu_detect(ls_cpu_features *f) { *f = (ls_cpu_features){0}; }
#endif

int ls_int8_best_isa(void) {
    ls_cpu_features f;
    ls_cpu_detect(&f);
    if (f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni) return LS_ISA_AVX512VNNI;
    if (f.avxvnni) return LS_ISA_AVXVNNI;
    if (f.avx2) return LS_ISA_AVX2;
    return LS_ISA_BASELINE;
}
