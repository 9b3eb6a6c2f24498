// peak.h: the floating-point peak of one core, measured (for `ddpm bench`).
#ifndef DDPM_PEAK_H
#define DDPM_PEAK_H

/// Floating-point operations a second of `iters` rounds of ten independent
/// 8-float FMA chains (AVX2 + FMA): 160 per round, the most one core's FMA
/// units can do when nothing waits on memory. Call only on a CPU with AVX2 and FMA.
double ddpm_fma_peak_avx2(long iters);

/// The same with 16-float FMAs (320 per round). Call only on a CPU with AVX-512F.
double ddpm_fma_peak_avx512(long iters);

#endif
