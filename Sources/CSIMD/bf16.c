// bf16.c: the direct convolutions' register tile with bfloat16 products
// (AVX512_BF16), for the bf16 backend's sampling passes (declared and described
// in bf16.h). Callers check the CPU first (ddpm_cpu_has_avx512_bf16).
#include "bf16.h"
#include <immintrin.h>
#include <string.h>
#define BF __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

uint32_t ddpm_bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;             // NaN stays a NaN
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;                    // round to nearest even
}

void ddpm_bf16_pair_packed(const float *wpk, long blocks, long cin, long taps, uint32_t *out) {
    long pairs = (cin + 1) / 2;
    for (long t = 0; t < blocks; t++)
        for (long p = 0; p < pairs; p++)
            for (long k = 0; k < taps; k++)
                for (long j = 0; j < 4; j++) {
                    long c0 = 2 * p, c1 = 2 * p + 1;
                    uint32_t lo = ddpm_bf16_bits(wpk[((t * cin + c0) * taps + k) * 4 + j]);
                    uint32_t hi = c1 < cin ? ddpm_bf16_bits(wpk[((t * cin + c1) * taps + k) * 4 + j]) : 0;
                    out[((t * pairs + p) * taps + k) * 4 + j] = lo | (hi << 16);
                }
}

BF void ddpm_bf16_pack_planes(const float *x, long stride, long valid, long cin, uint32_t *out, long outStride) {
    for (long p = 0; p < (cin + 1) / 2; p++) {
        const float *a = x + 2 * p * stride;
        const float *b = 2 * p + 1 < cin ? x + (2 * p + 1) * stride : NULL;
        uint32_t *o = out + p * outStride;
        for (long i = 0; i < outStride; i += 16) {
            long left = valid - i, room = outStride - i;
            __mmask16 m = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            __mmask16 st = room >= 16 ? 0xffff : (__mmask16)((1u << room) - 1);
            __m512 va = _mm512_maskz_loadu_ps(m, a + i);
            __m512 vb = b ? _mm512_maskz_loadu_ps(m, b + i) : _mm512_setzero_ps();
            __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(va));
            __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(vb));
            _mm512_mask_storeu_epi32(o + i, st, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
    }
}

/// One register tile at position o: 4 output channels x (16 `cols`)
/// positions, cols = 4 (a whole tile) or 2 (a half tile). Inlined with a
/// constant cols, the accumulators stay in registers.
static inline __attribute__((always_inline)) BF void tile(const uint32_t *xp, long planeLen, const long *offs,
                                                         long taps, long pairs, long wideLen,
                                                         const uint32_t *wpk, float *out, long o, int cols) {
    __m512 acc[4][4];
    for (int j = 0; j < 4; j++)
        for (int c = 0; c < cols; c++) acc[j][c] = _mm512_setzero_ps();
    const uint32_t *w = wpk;
    for (long p = 0; p < pairs; p++) {
        const uint32_t *plane = xp + p * planeLen + o;
        for (long k = 0; k < taps; k++, w += 4) {
            const uint32_t *s = plane + offs[k];
            __m512i x[4];
            for (int c = 0; c < cols; c++) x[c] = _mm512_loadu_si512(s + 16 * c);
            for (int j = 0; j < 4; j++) {
                __m512bh wj = (__m512bh)_mm512_set1_epi32((int)w[j]);
                for (int c = 0; c < cols; c++) acc[j][c] = _mm512_dpbf16_ps(acc[j][c], (__m512bh)x[c], wj);
            }
        }
    }
    for (int j = 0; j < 4; j++)
        for (int c = 0; c < cols; c++) _mm512_storeu_ps(out + j * wideLen + o + 16 * c, acc[j][c]);
}

BF void ddpm_bf16_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs,
                            long wideLen, const uint32_t *wpk, float *out) {
    long o = 0;
    for (; o + 64 <= wideLen; o += 64) tile(xp, planeLen, offs, taps, pairs, wideLen, wpk, out, o, 4);
    if (o < wideLen) tile(xp, planeLen, offs, taps, pairs, wideLen, wpk, out, o, 2);
}
