// The benchmark's peak probe: nothing but independent FMAs, enough chains to hide their
// latency, no memory traffic. Hand-written because compilers reassociate such loops.
#include "peak.h"
#include <immintrin.h>

#define CHAINS 12

__attribute__((target("avx512f")))
static double burn512(long n) {
    __m512 acc[CHAINS];
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
    float sink = 0;
    for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(acc[i]);
    __asm__ volatile("" ::"x"(sink));
    return (double)n * CHAINS * 16 * 2;
}

__attribute__((target("avx2,fma")))
static double burn256(long n) {
    __m256 acc[CHAINS];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
    __m256 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, acc[i]);
    __asm__ volatile("" ::"x"(s));
    return (double)n * CHAINS * 8 * 2;
}

static double burn128(long n) {
    __m128 acc[CHAINS];
    const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm_set1_ps((float)i);
    for (long k = 0; k < n; k++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm_add_ps(_mm_mul_ps(acc[i], m), c);
    __m128 s = acc[0];
    for (int i = 1; i < CHAINS; i++) s = _mm_add_ps(s, acc[i]);
    __asm__ volatile("" ::"x"(s));
    return (double)n * CHAINS * 4 * 2;
}

const char *linesight_fma_width(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "AVX-512";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "AVX2+FMA";
    return "SSE";
}

double linesight_fma_burn(long n) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return burn512(n);
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return burn256(n);
    return burn128(n);
}
