// bf16_tile_bench.c: the peak of vdpbf16ps against float FMAs on one core, and
// the bf16 backend's tile (Sources/CSIMD/bf16.c) at the U-Net's 3x3 shapes,
// plane rounding included. Not part of the build:
//   cc -O3 -I Sources/CSIMD/include scripts/bf16_tile_bench.c Sources/CSIMD/bf16.c -o /tmp/bf16_tile_bench && /tmp/bf16_tile_bench
#include "bf16.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

// 12 independent accumulators, so the loop runs at the instruction's throughput.
__attribute__((target("avx512f,avx512bf16"))) static float peak_bf16(long n) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(i);
    __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80), y = (__m512bh)_mm512_set1_epi32(0x3f003f00);
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < 12; i++) a[i] = _mm512_dpbf16_ps(a[i], x, y);
        __asm__ volatile("" : "+v"(x));
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}

__attribute__((target("avx512f,fma"))) static float peak_fma(long n) {
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(i);
    __m512 x = _mm512_set1_ps(1.0001f), y = _mm512_set1_ps(0.5f);
    for (long k = 0; k < n; k++) {
        for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(x, y, a[i]);
        __asm__ volatile("" : "+v"(x));
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm512_reduce_add_ps(a[i]);
    return s;
}

// One image of a 3x3 stride-1 convolution side x side, cin -> cout, laid out as
// Compute's DirectConv does (zero-bordered planes of width side + 2).
static void conv3x3(int side, int cin, int cout) {
    long wp = side + 2, wideLen = (side * wp + 31) / 32 * 32, planeLen = wideLen + 2 * wp + 2 + 64, pairs = (cin + 1) / 2;
    float *x = calloc(cin * planeLen, 4), *wpk = malloc(cout * cin * 9 * 4), *out = malloc(4 * wideLen * 4);
    uint32_t *xp = malloc(pairs * planeLen * 4), *wpb = malloc(cout / 4 * pairs * 9 * 4 * 4);
    for (long i = 0; i < cin * planeLen; i++) x[i] = (rand() % 100) / 100.0f;
    for (long i = 0; i < cout * cin * 9; i++) wpk[i] = (rand() % 100) / 100.0f - 0.5f;
    ddpm_bf16_pair_packed(wpk, cout / 4, cin, 9, wpb);
    long offs[9];
    for (int k = 0; k < 9; k++) offs[k] = (k / 3) * wp + k % 3;
    int reps = 2000;
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t = now();
        for (int i = 0; i < reps; i++) {
            ddpm_bf16_pack_planes(x, planeLen, planeLen, cin, xp, planeLen);
            for (int tt = 0; tt < cout / 4; tt++)
                ddpm_bf16_conv_taps(xp, planeLen, offs, 9, pairs, wideLen, wpb + tt * pairs * 36, out);
        }
        double e = (now() - t) / reps;
        if (e < best) best = e;
    }
    double padded = 2.0 * wideLen * cout * cin * 9, useful = 2.0 * side * side * cout * cin * 9;
    printf("tile %2dx%-2d %2d -> %2d: %6.2f us/image, %5.1f GFLOP/s on padded positions, %5.1f on the image's\n",
           side, side, cin, cout, best * 1e6, padded / best / 1e9, useful / best / 1e9);
    free(x); free(wpk); free(out); free(xp); free(wpb);
}

int main(void) {
    if (!ddpm_cpu_has_avx512_bf16()) { puts("this CPU lacks AVX512_BF16"); return 1; }
    long n = 100000000;
    double t = now(); float s1 = peak_bf16(n); double tb = now() - t;
    t = now(); float s2 = peak_fma(n); double tf = now() - t;
    printf("one core: vdpbf16ps %.1f GFLOP/s, float FMA %.1f GFLOP/s (%g %g)\n", n * 12 * 64 / tb / 1e9, n * 12 * 32 / tf / 1e9, s1, s2);
    int shapes[][3] = {{28, 16, 16}, {28, 48, 16}, {28, 32, 16}, {14, 32, 32}, {14, 64, 32}, {7, 32, 32}, {7, 64, 32}};
    for (int i = 0; i < 7; i++) conv3x3(shapes[i][0], shapes[i][1], shapes[i][2]);
    return 0;
}
