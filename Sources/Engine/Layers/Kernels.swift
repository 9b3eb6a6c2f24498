import Foundation

/// Element-wise and data-movement kernels over raw buffers.
///
/// Activations use the layout `[C, N, H, W]` ("CNHW"): channel-major, so a
/// convolution over a whole batch is one GEMM, channel concatenation is
/// contiguous memory, and a 1-channel image batch is the same bytes as NCHW.
public enum Kernels {
    /// Unfolds `x` [C, N, H, W] into `col` [C*k*k, N*Ho*Wo] (rows ordered c, ky, kx).
    public static func im2col(
        _ x: UnsafePointer<Float>, c: Int, n: Int, h: Int, w: Int,
        k: Int, stride: Int, pad: Int, col: UnsafeMutablePointer<Float>
    ) {
        let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
        let cols = n * ho * wo
        Parallel.forEach(c * k * k, minChunk: 4) { rows in
            for row in rows {
                let ci = row / (k * k), ky = (row / k) % k, kx = row % k
                let dstRow = col + row * cols
                for ni in 0..<n {
                    let src = x + (ci * n + ni) * h * w
                    let dstImg = dstRow + ni * ho * wo
                    for oy in 0..<ho {
                        let iy = oy * stride - pad + ky
                        let dst = dstImg + oy * wo
                        if iy < 0 || iy >= h { dst.update(repeating: 0, count: wo); continue }
                        let srow = src + iy * w
                        if stride == 1 {
                            // ix = ox - pad + kx, valid for ox in [lo, hi)
                            let lo = max(0, pad - kx), hi = min(wo, w + pad - kx)
                            if lo > 0 { dst.update(repeating: 0, count: lo) }
                            if hi > lo { (dst + lo).update(from: srow + (lo - pad + kx), count: hi - lo) }
                            if hi < wo { (dst + max(hi, lo)).update(repeating: 0, count: wo - max(hi, lo)) }
                        } else {
                            for ox in 0..<wo {
                                let ix = ox * stride - pad + kx
                                dst[ox] = (ix >= 0 && ix < w) ? srow[ix] : 0
                            }
                        }
                    }
                }
            }
        }
    }

    /// Folds `col` [C*k*k, N*Ho*Wo] back, adding into `x` [C, N, H, W].
    public static func col2im(
        _ col: UnsafePointer<Float>, c: Int, n: Int, h: Int, w: Int,
        k: Int, stride: Int, pad: Int, x: UnsafeMutablePointer<Float>
    ) {
        let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
        let cols = n * ho * wo
        Parallel.forEach(c) { chans in
            for ci in chans {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let srcRow = col + ((ci * k + ky) * k + kx) * cols
                        for ni in 0..<n {
                            let dstImg = x + (ci * n + ni) * h * w
                            let srcImg = srcRow + ni * ho * wo
                            for oy in 0..<ho {
                                let iy = oy * stride - pad + ky
                                if iy < 0 || iy >= h { continue }
                                let drow = dstImg + iy * w
                                let srow = srcImg + oy * wo
                                if stride == 1 {
                                    let lo = max(0, pad - kx), hi = min(wo, w + pad - kx)
                                    if hi > lo {
                                        let d = drow + (lo - pad + kx)
                                        let s = srow + lo
                                        for j in 0..<(hi - lo) { d[j] += s[j] }
                                    }
                                } else {
                                    for ox in 0..<wo {
                                        let ix = ox * stride - pad + kx
                                        if ix >= 0 && ix < w { drow[ix] += srow[ox] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `y[c, :] = bias[c]` for every channel row of length `len`.
    @inline(__always)
    public static func fillRows(_ y: UnsafeMutablePointer<Float>, rows: Int, len: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows { (y + r * len).update(repeating: bias[r], count: len) }
    }

    /// `db[c] += sum(dy[c, :])`.
    @inline(__always)
    public static func addRowSums(_ dy: UnsafePointer<Float>, rows: Int, len: Int, into db: UnsafeMutablePointer<Float>) {
        for r in 0..<rows { db[r] += sum(dy + r * len, len) }
    }

    /// Sum with eight independent SIMD accumulators (order fixed, so results are reproducible).
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= n {
            acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    /// y = x * sigmoid(x), in place allowed.
    public static func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = v * sigmoid(v) }
    }

    /// dx += dy * silu'(x).
    public static func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i], s = sigmoid(v)
            dx[i] += dy[i] * s * (1 + v * (1 - s))
        }
    }

    /// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
    public static func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
    }

    /// dx += dy * gelu'(x), gelu'(x) = Phi(x) + x phi(x).
    public static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            let cdf = 0.5 * (1 + erff(v * 0.70710678118654752))
            let pdf = expf(-0.5 * v * v) * 0.39894228040143268
            dx[i] += dy[i] * (cdf + v * pdf)
        }
    }
}
