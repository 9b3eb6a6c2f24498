// peak.c: ten independent FMA chains per core, timed: the floating-point peak `ddpm bench` compares with.
#include <immintrin.h>
#include <time.h>
#include "peak.h"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/// The sums are kept (a volatile sink) so the compiler cannot drop the chains.
static volatile float sink;

#define CHAINS(T, SET, FMA, ADD)                                                      \
    T m = SET(0.999999f), c = SET(1e-7f);                                             \
    T a0 = SET(0), a1 = SET(1), a2 = SET(2), a3 = SET(3), a4 = SET(4), a5 = SET(5), \
      a6 = SET(6), a7 = SET(7), a8 = SET(8), a9 = SET(9);                             \
    double t0 = seconds();                                                            \
    for (long k = 0; k < iters; k++) {                                                \
        a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c); \
        a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c); \
        a8 = FMA(a8, m, c); a9 = FMA(a9, m, c);                                       \
    }                                                                                 \
    double s = seconds() - t0;                                                        \
    T t = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(ADD(a6, a7), ADD(a8, a9))));

__attribute__((target("avx2,fma"))) double ddpm_fma_peak_avx2(long iters) {
    CHAINS(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)
    sink = _mm256_cvtss_f32(t);
    return s > 0 ? (double)iters * 10 * 8 * 2 / s : 0;
}

__attribute__((target("avx512f"))) double ddpm_fma_peak_avx512(long iters) {
    CHAINS(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
    sink = _mm512_reduce_add_ps(t);
    return s > 0 ? (double)iters * 10 * 16 * 2 / s : 0;
}
