/* shim.h: zlib macros as functions Swift can call. */
#include <zlib.h>
static inline int czlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
static inline int czlib_deflateInit(z_streamp strm, int level) {
    return deflateInit(strm, level);
}
/* deflate with a gzip header and trailer (windowBits 15 + 16). */
static inline int czlib_deflateInitGzip(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}
