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

static int probe(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d & (1u << 22)) || !(d & (1u << 24))) return 0;                  // AMX-BF16, AMX-TILE
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0;   // OSXSAVE
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    unsigned long mask = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &mask) != 0) return 0;
    return (mask >> XFEATURE_XTILEDATA) & 1;
}

int ddpm_amx_enable(void) {
    static int state = -1;                     // -1: not asked yet; two first callers both ask, and agree
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s >= 0) return s;
    s = probe();
    __atomic_store_n(&state, s, __ATOMIC_RELEASE);
    return s;
}

long ddpm_amx_chunk(long pairs) {
    if (pairs <= 0) return 0;
    if (pairs <= 16) return pairs;
    for (long kp = 16; kp >= 4; kp--)
        if (pairs % kp == 0) return kp;
    return 0;
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

/// The sums for `cols` (4 or 2) blocks of 16 positions from o: tiles 0..cols-1
/// hold them, 4 the weights of one tap and pair chunk, 5 and 6 the planes'
/// positions (alternately). Inlined with a constant cols, as bf16.c's tile.
static inline __attribute__((always_inline)) AMX void positions(const uint32_t *xp, long planeLen, const long *offs,
                                                                 long taps, long chunks, long kp, long wideLen,
                                                                 const uint32_t *w, long cout, float *out, long o,
                                                                 int cols) {
    long planeBytes = planeLen * 4, outBytes = wideLen * 4;
    _tile_zero(0); _tile_zero(1);
    if (cols == 4) { _tile_zero(2); _tile_zero(3); }
    for (long pb = 0; pb < chunks; pb++)
        for (long k = 0; k < taps; k++) {
            _tile_loadd(4, w + (pb * taps + k) * cout * 16, 64);
            const uint32_t *s = xp + pb * kp * planeLen + o + offs[k];
            _tile_loadd(5, s, planeBytes); _tile_dpbf16ps(0, 4, 5);
            _tile_loadd(6, s + 16, planeBytes); _tile_dpbf16ps(1, 4, 6);
            if (cols == 4) {
                _tile_loadd(5, s + 32, planeBytes); _tile_dpbf16ps(2, 4, 5);
                _tile_loadd(6, s + 48, planeBytes); _tile_dpbf16ps(3, 4, 6);
            }
        }
    _tile_stored(0, out + o, outBytes); _tile_stored(1, out + o + 16, outBytes);
    if (cols == 4) { _tile_stored(2, out + o + 32, outBytes); _tile_stored(3, out + o + 48, outBytes); }
}

AMX void ddpm_amx_conv_taps(const uint32_t *xp, long planeLen, const long *offs, long taps, long pairs, long kp,
                            long wideLen, const uint32_t *w, long cout, long rows, float *out) {
    TileConfig cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 4; i++) { cfg.rows[i] = (uint8_t)rows; cfg.colsb[i] = 64; }
    cfg.rows[4] = (uint8_t)rows; cfg.colsb[4] = (uint16_t)(kp * 4);
    cfg.rows[5] = cfg.rows[6] = (uint8_t)kp; cfg.colsb[5] = cfg.colsb[6] = 64;
    _tile_loadconfig(&cfg);
    long o = 0, chunks = pairs / kp;
    for (; o + 64 <= wideLen; o += 64) positions(xp, planeLen, offs, taps, chunks, kp, wideLen, w, cout, out, o, 4);
    if (o < wideLen) positions(xp, planeLen, offs, taps, chunks, kp, wideLen, w, cout, out, o, 2);   // wideLen: a multiple of 32
    _tile_release();
}
