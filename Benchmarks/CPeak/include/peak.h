#ifndef LINESIGHT_PEAK_H
#define LINESIGHT_PEAK_H
/// FP32 FLOPs done by `iterations` rounds of 12 independent FMA chains at the widest
/// vector width this CPU has (AVX-512, else AVX2, else SSE). Returns the flop count.
double linesight_fma_burn(long iterations);
/// "AVX-512", "AVX2+FMA" or "SSE": which path `linesight_fma_burn` takes.
const char *linesight_fma_width(void);
#endif
