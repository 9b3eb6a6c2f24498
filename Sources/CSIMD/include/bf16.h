// bf16.h: the direct convolutions' register tile with bfloat16 products
// (bf16.c), for the bf16 backend's sampling passes. Layouts are the float
// kernels' (Compute's DirectConv), with two input channels in each 32-bit
// element: bfloat16 of channel 2p in the low half, of 2p + 1 in the high half
// (0 past the last channel). vdpbf16ps multiplies both halves and adds the two
// products to the float accumulator, so a tile does twice the float kernel's
// multiply-adds per instruction. Callers check the CPU first.
#ifndef DDPM_BF16_H
#define DDPM_BF16_H
#include <stdint.h>

/// Whether this CPU and OS run AVX512_BF16 (vdpbf16ps, vcvtneps2bf16) besides
/// the AVX-512 subsets Kernels512 needs.
static inline int ddpm_cpu_has_avx512_bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bf16");
}

/// The tile's positions come in multiples of this (whole tiles of 64, then at
/// most one half tile); DirectConv512.granule, checked by the Swift callers.
#define DDPM_BF16_GRANULE 32

/// f rounded to the nearest bfloat16 (ties to even), as its 16 bits; NaN stays a NaN.
uint32_t ddpm_bf16_bits(float f);

/// Weights packed for the float tap kernel, [blocks][cin][taps][4], as
/// bfloat16 pairs [blocks][pairs][taps][4], pairs = ceil(cin / 2).
void ddpm_bf16_pair_packed(const float *wpk, long blocks, long cin, long taps, uint32_t *out);

/// Float planes (cin of them, `stride` floats apart) as bfloat16 pairs,
/// rounded to nearest even: pair p's outStride elements at out + p outStride,
/// from each plane's first `valid` floats (no float past them is read) and
/// zeros after.
void ddpm_bf16_pack_planes(const float *x, long stride, long valid, long cin, uint32_t *out, long outStride);

/// out[j][o] = sum over p, t of the pair products of wpk[p][t][j] and
/// xp[p][o + offs[t]], for o in 0..<wideLen (a multiple of DDPM_BF16_GRANULE),
/// j in 0..<4, in float; out rows are wideLen apart, pair planes planeLen
/// apart. Reads xp[p][o + offs[t]] for every such o and t: the planes must
/// hold wideLen + max(offs) elements. Terms are added in a fixed order (p, then t).
void ddpm_bf16_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs,
                         long wideLen, const uint32_t *wpk, float *out);
#endif
