// csimd.h: AVX-512 lane permutations that Swift's SIMD types cannot spell,
// for Kernels512 (compiled for skylake-avx512, where these inline to one
// vpermt2ps each; callers check the CPU first, as for all of Kernels512), and
// an unaligned AVX load and store that always inline, for the AVX2 tile, and
// the AVX2 Winograd transforms' 8-float permutations.
#ifndef DDPM_CSIMD_H
#define DDPM_CSIMD_H
#include <immintrin.h>

/// The first 16 floats of a and b interleaved: a0 b0 a1 b1 ... a7 b7.
static inline __attribute__((target("avx512f"))) __m512 ddpm_interleave_lo(__m512 a, __m512 b) {
    return _mm512_permutex2var_ps(a, _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0), b);
}

/// The last 16: a8 b8 a9 b9 ... a15 b15.
static inline __attribute__((target("avx512f"))) __m512 ddpm_interleave_hi(__m512 a, __m512 b) {
    return _mm512_permutex2var_ps(a, _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8), b);
}

/// The even floats of the 32 in (lo, hi): lo0 lo2 ... lo14 hi0 hi2 ... hi14.
static inline __attribute__((target("avx512f"))) __m512 ddpm_even(__m512 lo, __m512 hi) {
    return _mm512_permutex2var_ps(lo, _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0), hi);
}

/// The odd floats: lo1 lo3 ... lo15 hi1 hi3 ... hi15.
static inline __attribute__((target("avx512f"))) __m512 ddpm_odd(__m512 lo, __m512 hi) {
    return _mm512_permutex2var_ps(lo, _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1), hi);
}

/// 8 floats from p + offset bytes, any alignment (one vmovups), for the AVX2
/// tile in Compute: there Swift's generic loadUnaligned(fromByteOffset:as:)
/// was left as a call inside Conv2d's large inlined kernels (19% of `perf
/// record ddpm bench --train-batches 8 --sample-batches 16` on an AVX2 CPU).
static inline __attribute__((always_inline, target("avx"))) __m256 ddpm_load8(const void *_Nonnull p, long offset) {
    return _mm256_loadu_ps((const float *)((const char *)p + offset));
}
/// 8 floats to p + offset bytes, any alignment (one vmovups).
static inline __attribute__((always_inline, target("avx"))) void ddpm_store8(void *_Nonnull p, long offset, __m256 v) {
    _mm256_storeu_ps((float *)((char *)p + offset), v);
}

/// The AVX2 Winograd transforms' permutations (Compute's WinogradAVX2), on
/// 8-float vectors: the even floats of x and y, x0 x2 x4 x6 y0 y2 y4 y6 ...
static inline __attribute__((always_inline, target("avx2"))) __m256 ddpm_even8(__m256 x, __m256 y) {
    __m256 t = _mm256_shuffle_ps(x, y, 0x88);   // x0 x2 y0 y2 | x4 x6 y4 y6
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
}

/// ... the odd floats, x1 x3 x5 x7 y1 y3 y5 y7 ...
static inline __attribute__((always_inline, target("avx2"))) __m256 ddpm_odd8(__m256 x, __m256 y) {
    __m256 t = _mm256_shuffle_ps(x, y, 0xDD);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), 0xD8));
}

/// ... the first halves interleaved, x0 y0 x1 y1 x2 y2 x3 y3 ...
static inline __attribute__((always_inline, target("avx2"))) __m256 ddpm_zip_lo8(__m256 x, __m256 y) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(x, y), _mm256_unpackhi_ps(x, y), 0x20);
}

/// ... and the second halves, x4 y4 x5 y5 x6 y6 x7 y7.
static inline __attribute__((always_inline, target("avx2"))) __m256 ddpm_zip_hi8(__m256 x, __m256 y) {
    return _mm256_permute2f128_ps(_mm256_unpacklo_ps(x, y), _mm256_unpackhi_ps(x, y), 0x31);
}
#endif
