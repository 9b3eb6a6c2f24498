// bf16.c: the direct convolution tile with bfloat16 products (AVX512_BF16),
// for the bf16 backend's sampling passes. Callers check the CPU first
// (ddpm_cpu_has_avx512_bf16). Layouts are the float kernels' (DirectConv), with
// two input channels in each 32-bit element: bfloat16 of channel 2p in the
// low half, of channel 2p + 1 in the high half. vdpbf16ps multiplies both
// halves and adds the two products and the float accumulator, so a tile
// does twice the float kernel's multiply-adds per instruction.
#include "csimd.h"
#include <string.h>
#define BF __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

uint32_t ddpm_bf16_bits(float f) {
    uint32_t u; memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;            // NaN stays NaN
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;                   // round to nearest even
}

/// Declared and described in csimd.h.
void ddpm_bf16_pack_weights(const float *w, long cin, long cout, long taps, uint32_t *out) {
    long pairs = (cin + 1) / 2;
    for (long t = 0; t < cout / 4; t++)
        for (long p = 0; p < pairs; p++)
            for (long k = 0; k < taps; k++)
                for (long j = 0; j < 4; j++) {
                    long co = t * 4 + j, c0 = 2 * p, c1 = 2 * p + 1;
                    uint32_t lo = ddpm_bf16_bits(w[(co * cin + c0) * taps + k]);
                    uint32_t hi = c1 < cin ? ddpm_bf16_bits(w[(co * cin + c1) * taps + k]) : 0;
                    out[((t * pairs + p) * taps + k) * 4 + j] = lo | (hi << 16);
                }
}

/// Declared and described in csimd.h.
BF void ddpm_bf16_pack_planes(const float *x, long stride, long valid, long cin, uint32_t *out, long outStride) {
    for (long p = 0; p < (cin + 1) / 2; p++) {
        const float *a = x + 2 * p * stride, *b = x + (2 * p + 1) * stride;
        int hasB = 2 * p + 1 < cin;
        uint32_t *o = out + p * outStride;
        for (long i = 0; i < outStride; i += 16) {
            long left = valid - i, room = outStride - i;
            __mmask16 m = left >= 16 ? 0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
            __mmask16 st = room >= 16 ? 0xffff : (__mmask16)((1u << room) - 1);
            __m512 va = _mm512_maskz_loadu_ps(m, a + i);
            __m512 vb = hasB ? _mm512_maskz_loadu_ps(m, b + i) : _mm512_setzero_ps();
            __m512i lo = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(va));
            __m512i hi = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(vb));
            _mm512_mask_storeu_epi32(o + i, st, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
    }
}

/// Declared and described in csimd.h.
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

#define DP(acc, x, w) acc = _mm512_dpbf16_ps(acc, (__m512bh)(x), (__m512bh)(w))

/// Declared and described in csimd.h.
BF void ddpm_bf16_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs,
                            long wideLen, const uint32_t *wpk, float *out) {
    long o = 0;
    for (; o + 64 <= wideLen; o += 64) {
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
        __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
        const uint32_t *w = wpk;
        for (long p = 0; p < pairs; p++) {
            const uint32_t *plane = xp + p * planeLen + o;
            for (long k = 0; k < taps; k++, w += 4) {
                const uint32_t *s = plane + offs[k];
                __m512i x0 = _mm512_loadu_si512(s), x1 = _mm512_loadu_si512(s + 16);
                __m512i x2 = _mm512_loadu_si512(s + 32), x3 = _mm512_loadu_si512(s + 48);
                __m512i w0 = _mm512_set1_epi32(w[0]), w1 = _mm512_set1_epi32(w[1]);
                __m512i w2 = _mm512_set1_epi32(w[2]), w3 = _mm512_set1_epi32(w[3]);
                DP(a00, x0, w0); DP(a01, x1, w0); DP(a02, x2, w0); DP(a03, x3, w0);
                DP(a10, x0, w1); DP(a11, x1, w1); DP(a12, x2, w1); DP(a13, x3, w1);
                DP(a20, x0, w2); DP(a21, x1, w2); DP(a22, x2, w2); DP(a23, x3, w2);
                DP(a30, x0, w3); DP(a31, x1, w3); DP(a32, x2, w3); DP(a33, x3, w3);
            }
        }
        float *r = out + o;
        _mm512_storeu_ps(r, a00); _mm512_storeu_ps(r + 16, a01); _mm512_storeu_ps(r + 32, a02); _mm512_storeu_ps(r + 48, a03);
        r += wideLen;
        _mm512_storeu_ps(r, a10); _mm512_storeu_ps(r + 16, a11); _mm512_storeu_ps(r + 32, a12); _mm512_storeu_ps(r + 48, a13);
        r += wideLen;
        _mm512_storeu_ps(r, a20); _mm512_storeu_ps(r + 16, a21); _mm512_storeu_ps(r + 32, a22); _mm512_storeu_ps(r + 48, a23);
        r += wideLen;
        _mm512_storeu_ps(r, a30); _mm512_storeu_ps(r + 16, a31); _mm512_storeu_ps(r + 32, a32); _mm512_storeu_ps(r + 48, a33);
    }
    if (o < wideLen) {
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        const uint32_t *w = wpk;
        for (long p = 0; p < pairs; p++) {
            const uint32_t *plane = xp + p * planeLen + o;
            for (long k = 0; k < taps; k++, w += 4) {
                const uint32_t *s = plane + offs[k];
                __m512i x0 = _mm512_loadu_si512(s), x1 = _mm512_loadu_si512(s + 16);
                __m512i w0 = _mm512_set1_epi32(w[0]), w1 = _mm512_set1_epi32(w[1]);
                __m512i w2 = _mm512_set1_epi32(w[2]), w3 = _mm512_set1_epi32(w[3]);
                DP(a00, x0, w0); DP(a01, x1, w0); DP(a10, x0, w1); DP(a11, x1, w1);
                DP(a20, x0, w2); DP(a21, x1, w2); DP(a30, x0, w3); DP(a31, x1, w3);
            }
        }
        float *r = out + o;
        _mm512_storeu_ps(r, a00); _mm512_storeu_ps(r + 16, a01); r += wideLen;
        _mm512_storeu_ps(r, a10); _mm512_storeu_ps(r + 16, a11); r += wideLen;
        _mm512_storeu_ps(r, a20); _mm512_storeu_ps(r + 16, a21); r += wideLen;
        _mm512_storeu_ps(r, a30); _mm512_storeu_ps(r + 16, a31);
    }
}

BF void ddpm_bf16_conv3x3(const uint32_t *xp, long planeLen, long wp, long pairs, long wideLen,
                          const uint32_t *wpk, float *out) {
    const long offs[9] = {0, 1, 2, wp, wp + 1, wp + 2, 2 * wp, 2 * wp + 1, 2 * wp + 2};
    ddpm_bf16_conv_taps(xp, planeLen, offs, 9, pairs, wideLen, wpk, out);
}
