import Kernels512
import SIMDMath
import CBLIS
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
        k: Int, stride: Int, pad: Int, col: UnsafeMutablePointer<Float>,
        channelStride: Int? = nil, parallel: Bool = true
    ) {
        let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
        let cols = n * ho * wo
        let cs = channelStride ?? n * h * w
        let same = stride == 1 && k == 2 * pad + 1
        let hw = h * w
        let body = { (rows: Range<Int>) in
            for row in rows {
                let ci = row / (k * k), ky = (row / k) % k, kx = row % k
                let dstRow = col + row * cols
                if same {
                    // 'Same' convolution: each (row, image) plane is the input plane
                    // shifted by d = (ky - pad) w + (kx - pad), with the border zeroed.
                    let (d, oy0, oy1, ox0, ox1, j0, j1) = samePlaneShift(ky: ky, kx: kx, h: h, w: w, pad: pad)
                    for ni in 0..<n {
                        let src = x + ci * cs + ni * hw
                        let dst = dstRow + ni * hw
                        var j = 0
                        while j < j0 { dst[j] = 0; j += 1 }
                        let s = src + d
                        while j < j1 { dst[j] = s[j]; j += 1 }
                        while j < hw { dst[j] = 0; j += 1 }
                        if ox0 > 0 || ox1 < w {
                            for oy in oy0..<oy1 {
                                let r = dst + oy * w
                                for ox in 0..<ox0 { r[ox] = 0 }
                                for ox in ox1..<w { r[ox] = 0 }
                            }
                        }
                    }
                    continue
                }
                for ni in 0..<n {
                    let src = x + ci * cs + ni * h * w
                    let dstImg = dstRow + ni * ho * wo
                    for oy in 0..<ho {
                        let iy = oy * stride - pad + ky
                        let dst = dstImg + oy * wo
                        if iy < 0 || iy >= h { for ox in 0..<wo { dst[ox] = 0 }; continue }
                        let srow = src + iy * w
                        if stride == 1 {
                            // ix = ox - pad + kx, valid for ox in [lo, hi)
                            let lo = max(0, pad - kx), hi = min(wo, w + pad - kx)
                            var ox = 0
                            while ox < lo { dst[ox] = 0; ox += 1 }
                            let s = srow + (kx - pad)
                            while ox < hi { dst[ox] = s[ox]; ox += 1 }
                            while ox < wo { dst[ox] = 0; ox += 1 }
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
        if parallel { Parallel.forEach(c * k * k, minChunk: 4, body) } else { body(0..<(c * k * k)) }
    }

    /// Folds `col` [C*k*k, N*Ho*Wo] back, adding into `x` [C, N, H, W].
    public static func col2im(
        _ col: UnsafePointer<Float>, c: Int, n: Int, h: Int, w: Int,
        k: Int, stride: Int, pad: Int, x: UnsafeMutablePointer<Float>,
        channelStride: Int? = nil, parallel: Bool = true
    ) {
        let ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1
        let cols = n * ho * wo
        let cs = channelStride ?? n * h * w
        let same = stride == 1 && k == 2 * pad + 1
        let hw = h * w
        let mcol = UnsafeMutablePointer(mutating: col)
        let body = { (chans: Range<Int>) in
            for ci in chans {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let srcRow = col + ((ci * k + ky) * k + kx) * cols
                        if same {
                            // Adjoint of the shifted copy in im2col: zero the entries that
                            // fell on padding (the col scratch is ours), then one shifted add.
                            let (d, oy0, oy1, ox0, ox1, j0, j1) = samePlaneShift(ky: ky, kx: kx, h: h, w: w, pad: pad)
                            for ni in 0..<n {
                                let src = mcol + (srcRow - col) + ni * hw
                                if ox0 > 0 || ox1 < w {
                                    for oy in oy0..<oy1 {
                                        let r = src + oy * w
                                        for ox in 0..<ox0 { r[ox] = 0 }
                                        for ox in ox1..<w { r[ox] = 0 }
                                    }
                                }
                                let dst = x + ci * cs + ni * hw + d
                                var j = j0
                                while j < j1 { dst[j] += src[j]; j += 1 }
                            }
                            continue
                        }
                        for ni in 0..<n {
                            let dstImg = x + ci * cs + ni * h * w
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
        if parallel { Parallel.forEach(c, body) } else { body(0..<c) }
    }

    /// Geometry of one kernel tap of a 'same' stride-1 convolution on an h x w plane:
    /// the flat shift d = (ky - pad) w + (kx - pad), the valid output rows [oy0, oy1)
    /// and columns [ox0, ox1), and the flat range [j0, j1) whose source stays inside the plane.
    @inline(__always)
    static func samePlaneShift(ky: Int, kx: Int, h: Int, w: Int, pad: Int)
        -> (d: Int, oy0: Int, oy1: Int, ox0: Int, ox1: Int, j0: Int, j1: Int) {
        let d = (ky - pad) * w + (kx - pad)
        let oy0 = max(0, pad - ky), oy1 = min(h, h + pad - ky)
        let ox0 = max(0, pad - kx), ox1 = min(w, w + pad - kx)
        return (d, oy0, oy1, ox0, ox1, max(oy0 * w, -d), min(oy1 * w, h * w - d))
    }

    /// `y[c, :] = bias[c]` for every channel row of length `len`.
    @inline(__always)
    public static func fillRows(_ y: UnsafeMutablePointer<Float>, rows: Int, len: Int, bias: UnsafePointer<Float>) {
        for r in 0..<rows { (y + r * len).update(repeating: bias[r], count: len) }
    }

    /// `db[c] += sum(dy[c, :])`.
    @inline(__always)
    public static func addRowSums(_ dy: UnsafePointer<Float>, rows: Int, len: Int, into db: UnsafeMutablePointer<Float>) {
        // One row per sum, so the split over cores does not change any result.
        Parallel.forEach(rows, minChunk: max(1, Parallel.minCount / max(1, len))) { rs in
            for r in rs { db[r] += sum(dy + r * len, len) }
        }
    }

    /// Sum with four 8-lane accumulators (32 independent partial sums, so the
    /// loop is not bound by the add latency; order fixed, so results are
    /// reproducible).
    @inline(__always)
    public static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        typealias V = SIMD8<Float>
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 32 <= n {
            a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)
            a1 += raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: V.self)
            a2 += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: V.self)
            a3 += raw.loadUnaligned(fromByteOffset: i * 4 + 96, as: V.self)
            i += 32
        }
        while i + 8 <= n { a0 += raw.loadUnaligned(fromByteOffset: i * 4, as: V.self); i += 8 }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { s += p[i]; i += 1 }
        return s
    }

    /// Sum of (p[i] - m)^2, accumulated like `sum`.
    @inline(__always)
    public static func sumSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, from m: Float) -> Float {
        typealias V = SIMD8<Float>
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        let mv = V(repeating: m)
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 32 <= n {
            let d0 = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) - mv
            let d1 = raw.loadUnaligned(fromByteOffset: i * 4 + 32, as: V.self) - mv
            let d2 = raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: V.self) - mv
            let d3 = raw.loadUnaligned(fromByteOffset: i * 4 + 96, as: V.self) - mv
            a0 = a0.addingProduct(d0, d0); a1 = a1.addingProduct(d1, d1)
            a2 = a2.addingProduct(d2, d2); a3 = a3.addingProduct(d3, d3)
            i += 32
        }
        while i + 8 <= n {
            let d = raw.loadUnaligned(fromByteOffset: i * 4, as: V.self) - mv
            a0 = a0.addingProduct(d, d); i += 8
        }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < n { let d = p[i] - m; s += d * d; i += 1 }
        return s
    }

    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { FastMath.sigmoid(x) }

    /// y[i] = g * sigmoid(g) + tb with g = x[i] * a + b, for i in 0..<count
    /// (GroupNorm's normalise + affine + SiLU + bias): FastMath.affineSiLU
    /// compiled for AVX-512 (Elementwise512, when `wide`) or AVX2 (here).
    @inline(__always)
    public static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                                  a: Float, b: Float, tb: Float, wide: Bool) {
        if wide {
            Elementwise512.affineSiLU(x, y, count: count, a: a, b: b, tb: tb)
        } else {
            FastMath.affineSiLU(x, y, count: count, a: a, b: b, tb: tb)
        }
    }

    /// In-place softmax of one row: exp(x - max) / sum (vectorised exp; the
    /// tail goes through the same exp, so a value's result does not depend on
    /// where it sits in the row).
    public static func softmaxRow(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, p[i]) }
        typealias V = FastMath.V
        let vm = V(repeating: m)
        var acc = V(repeating: 0)
        var i = 0
        while i + 16 <= n {
            let e = FastMath.exp(FastMath.load(p, i) - vm)
            FastMath.store(e, p, i); acc += e; i += 16
        }
        var s = acc.sum()
        while i < n { let e = FastMath.exp(V(repeating: p[i] - m))[0]; p[i] = e; s += e; i += 1 }
        let inv = 1 / s
        for j in 0..<n { p[j] *= inv }
    }

    /// y = x * sigmoid(x), in place allowed.
    public static func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { let v = FastMath.load(x, i); FastMath.store(v * FastMath.sigmoid(v), y, i); i += 16 }
        while i < n { let v = x[i]; y[i] = v * sigmoid(v); i += 1 }
    }

    /// dx += dy * silu'(x).
    public static func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let v = FastMath.load(x, i), s = FastMath.sigmoid(v)
            FastMath.store(FastMath.load(dx, i) + FastMath.load(dy, i) * s * (1 + v * (1 - s)), dx, i)
            i += 16
        }
        while i < n {
            let v = x[i], s = sigmoid(v)
            dx[i] += dy[i] * s * (1 + v * (1 - s))
            i += 1
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
