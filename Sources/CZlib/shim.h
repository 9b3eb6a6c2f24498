#include <zlib.h>
static inline int czlib_inflateInit2(z_streamp strm, int windowBits) {
    return inflateInit2(strm, windowBits);
}
static inline int czlib_deflateInit(z_streamp strm, int level) {
    return deflateInit(strm, level);
}
