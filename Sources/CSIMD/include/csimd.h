// csimd.h: AVX-512 lane permutations that Swift's SIMD types cannot spell
// (for Kernels512, compiled for skylake-avx512, where these inline to one
// vpermt2ps each), and the bfloat16 convolution tile of bf16.c. Callers check
// the CPU first, as for all of Kernels512.
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

// --- bfloat16 tiles (bf16.c), for the bf16 backend's sampling passes ---
#include <stdint.h>

/// Whether this CPU and OS run AVX512_BF16 (vdpbf16ps, vcvtneps2bf16) besides
/// the AVX-512 subsets Kernels512 needs.
static inline int ddpm_cpu_has_avx512_bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bf16");
}

/// f rounded to the nearest bfloat16 (ties to even), as its 16 bits; NaN stays a NaN.
uint32_t ddpm_bf16_bits(float f);

/// Weights [cout][cin][taps] as [cout/4][pairs][tap][4] 32-bit pairs, pairs =
/// ceil(cin / 2): bfloat16 of input channel 2p in the low half, 2p + 1 in the
/// high half (0 past cin).
void ddpm_bf16_pack_weights(const float *w, long cin, long cout, long taps, uint32_t *out);

/// Float planes (cin of them, `stride` floats apart) as bfloat16 pairs
/// (channel 2p low, 2p + 1 high, 0 past cin), rounded to nearest even: pair
/// p's outStride elements at out + p outStride, from each plane's first
/// `valid` floats (no float past them is read) and zeros after.
void ddpm_bf16_pack_planes(const float *x, long stride, long valid, long cin, uint32_t *out, long outStride);

/// Weights packed for the float tap kernel, [blocks][cin][taps][4], as
/// bfloat16 pairs [blocks][pairs][taps][4], paired as by ddpm_bf16_pack_weights.
void ddpm_bf16_pair_packed(const float *wpk, long blocks, long cin, long taps, uint32_t *out);

/// The direct kernels' register tile (4 output channels x 64 positions, then
/// at most one half tile of 32) with bfloat16 products and float sums:
/// out[j][o] = sum over p, t of the pair products of wpk[p][t][j] and
/// xp[p][o + offs[t]], for o in 0..<wideLen (a multiple of 32), j in 0..<4; out
/// rows are wideLen apart. Terms are added in a fixed order (p, then t).
void ddpm_bf16_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs,
                         long wideLen, const uint32_t *wpk, float *out);

/// ddpm_bf16_conv_taps with the nine taps of a 3x3 convolution on
/// zero-bordered planes of width wp.
void ddpm_bf16_conv3x3(const uint32_t *xp, long planeLen, long wp, long pairs, long wideLen,
                       const uint32_t *wpk, float *out);
#endif
