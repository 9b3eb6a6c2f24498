// amx.h: the bf16 backend's convolution products on Intel AMX tiles (amx.c).
// The operands are bf16.h's: pair planes of two input channels' bfloat16 in
// each 32-bit element. An AMX tile multiply (tdpbf16ps) takes 16 output
// channels x 16 positions x 32 input channels at once, 8 times what
// vdpbf16ps does in the same cycles, so where the CPU has AMX the bf16
// backend's tile is this one.
#ifndef DDPM_AMX_H
#define DDPM_AMX_H
#include <stdint.h>
#include "bf16.h"

/// 1 if this CPU has AMX-BF16 and the kernel let this process use the tile
/// registers (Linux's arch_prctl(ARCH_REQ_XCOMP_PERM), a permission for the
/// whole process), else 0. Asks the kernel the first time only.
int ddpm_amx_enable(void);

/// How many pairs one tile multiply takes for a convolution of `pairs` input
/// pairs: all of them up to 16, else the largest count from 16 down to 4 that
/// divides them (40 pairs: 10), else 0 (then the vdpbf16ps tile runs).
long ddpm_amx_chunk(long pairs);

/// Weights packed for the float tap kernel, [blocks][cin][taps][4] (output
/// channel 4 b + j in block b), as [pairs / kp][taps][4 blocks][16] bfloat16
/// pairs (rounded to nearest even; pairs past kp in a row and channels past
/// cin are 0).
void ddpm_amx_pack_weights(const float *wpk, long blocks, long cin, long taps, long kp, uint32_t *out);

/// out[j][o] = sum over pairs p and taps t of the pair products of
/// w[p / kp][t][j][p % kp] and xp[p][o + offs[t]], for o in 0..<wideLen (a
/// multiple of DDPM_BF16_GRANULE) and the `rows` (1 to 16) output channels j
/// whose weights start at w (`cout` rows apart per tap: w points at the
/// first channel's row of the packing above); out rows are wideLen apart,
/// pair planes planeLen apart, and the planes must hold wideLen + max(offs)
/// elements, as for ddpm_bf16_conv_taps. Float sums in the tiles' order.
/// kp is ddpm_amx_chunk(pairs) (at most 16, dividing pairs).
void ddpm_amx_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs, long kp,
                        long wideLen, const uint32_t *w, long cout, long rows, float *out);
#endif
