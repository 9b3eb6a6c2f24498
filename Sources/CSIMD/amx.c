// amx.c: the bf16 backend's convolution products on Intel AMX tiles
// (AMX-BF16), where the CPU and the kernel allow them (declared and
// described in amx.h).
#include "amx.h"
#include <cpuid.h>
#include <immintrin.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#define AMX __attribute__((target("amx-tile,amx-bf16")))

enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int ddpm_amx_enable(void) {
    static int state = -1;                     // -1: not asked yet (callers ask once, at start)
    if (state >= 0) return state;
    unsigned a, b, c, d;
    state = 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return state;
    if (!(d & (1u << 22)) || !(d & (1u << 24))) return state;      // AMX-BF16, AMX-TILE
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return state;   // OSXSAVE
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return state;
    unsigned long mask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) != 0) return state;
    state = (mask >> XFEATURE_XTILEDATA) & 1;
    return state;
}

long ddpm_amx_chunk(long pairs) {
    long blocks = (pairs + 15) / 16;
    return pairs % blocks == 0 ? pairs / blocks : 0;
}

void ddpm_amx_pack_weights(const float *wpk, long blocks, long cin, long taps, long kp, uint32_t *out) {
    long pairs = (cin + 1) / 2, chunks = pairs / kp, cout = 4 * blocks;
    for (long pb = 0; pb < chunks; pb++)
        for (long k = 0; k < taps; k++)
            for (long co = 0; co < cout; co++)
                for (long q = 0; q < 16; q++) {
                    long c0 = 2 * (pb * kp + q), c1 = c0 + 1;
                    const float *wb = wpk + (co / 4) * cin * taps * 4 + k * 4 + co % 4;
                    uint32_t v = 0;
                    if (q < kp) {
                        uint32_t lo = c0 < cin ? ddpm_bf16_bits(wb[c0 * taps * 4]) : 0;
                        uint32_t hi = c1 < cin ? ddpm_bf16_bits(wb[c1 * taps * 4]) : 0;
                        v = lo | (hi << 16);
                    }
                    out[((pb * taps + k) * cout + co) * 16 + q] = v;
                }
}

typedef struct __attribute__((packed)) {
    uint8_t palette, start;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} TileConfig;

// Tiles: 0-3 the sums of `cols` blocks of 16 positions, 4 the weights of one
// tap and pair block, 5 and 6 the pair planes' positions (alternately).
#define PRODUCTS(C, B, OFF)                                                   \
    _tile_loadd(B, s + (OFF), planeBytes);                                    \
    _tile_dpbf16ps(C, 4, B);

AMX void ddpm_amx_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs, long kp,
                            long wideLen, const uint32_t *w, long cout, long rows, float *out) {
    TileConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 4; i++) { cfg.rows[i] = (uint8_t)rows; cfg.colsb[i] = 64; }
    cfg.rows[4] = (uint8_t)rows; cfg.colsb[4] = (uint16_t)(kp * 4);
    cfg.rows[5] = cfg.rows[6] = (uint8_t)kp; cfg.colsb[5] = cfg.colsb[6] = 64;
    _tile_loadconfig(&cfg);
    long blocks = pairs / kp, planeBytes = planeLen * 4, outBytes = wideLen * 4;
    long o = 0;
    for (; o + 64 <= wideLen; o += 64) {
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (long pb = 0; pb < blocks; pb++)
            for (long k = 0; k < taps; k++) {
                _tile_loadd(4, w + (pb * taps + k) * cout * 16, 64);
                const uint32_t *s = xp + pb * kp * planeLen + o + offs[k];
                PRODUCTS(0, 5, 0) PRODUCTS(1, 6, 16) PRODUCTS(2, 5, 32) PRODUCTS(3, 6, 48)
            }
        _tile_stored(0, out + o, outBytes); _tile_stored(1, out + o + 16, outBytes);
        _tile_stored(2, out + o + 32, outBytes); _tile_stored(3, out + o + 48, outBytes);
    }
    if (o < wideLen) {                          // the last half tile (wideLen is a multiple of 32)
        _tile_zero(0); _tile_zero(1);
        for (long pb = 0; pb < blocks; pb++)
            for (long k = 0; k < taps; k++) {
                _tile_loadd(4, w + (pb * taps + k) * cout * 16, 64);
                const uint32_t *s = xp + pb * kp * planeLen + o + offs[k];
                PRODUCTS(0, 5, 0) PRODUCTS(1, 6, 16)
            }
        _tile_stored(0, out + o, outBytes); _tile_stored(1, out + o + 16, outBytes);
    }
    _tile_release();
}
