// Kernels+Im2col.swift: im2col and col2im, the reference backend's convolution layout.
import Kernels512
import SIMDMath
import CBLIS
import Foundation

extension Kernels {
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
        func body(_ rows: Range<Int>) {
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
        let mcol = UnsafeMutablePointer(mutating: col)
        func body(_ chans: Range<Int>) {
            for ci in chans {
                for ky in 0..<k {
                    for kx in 0..<k {
                        let srcRow = mcol + ((ci * k + ky) * k + kx) * cols
                        let dst = x + ci * cs
                        if same {
                            col2imSameTap(srcRow, into: dst, n: n, h: h, w: w, ky: ky, kx: kx, pad: pad)
                        } else {
                            col2imTap(srcRow, into: dst, n: n, h: h, w: w, ho: ho, wo: wo, ky: ky, kx: kx,
                                      stride: stride, pad: pad)
                        }
                    }
                }
            }
        }
        if parallel { Parallel.forEach(c, body) } else { body(0..<c) }
    }

    /// col2im of one tap (ky, kx) of a 'same' stride-1 convolution: the adjoint
    /// of im2col's shifted copy. Zeroes the entries of `src` [N, H*W] that fell
    /// on padding (the col scratch is ours), then adds it shifted into `dst` [N, H, W].
    @inline(__always)
    static func col2imSameTap(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>,
                              n: Int, h: Int, w: Int, ky: Int, kx: Int, pad: Int) {
        let (d, oy0, oy1, ox0, ox1, j0, j1) = samePlaneShift(ky: ky, kx: kx, h: h, w: w, pad: pad)
        let hw = h * w
        for ni in 0..<n {
            let s = src + ni * hw
            if ox0 > 0 || ox1 < w {
                for oy in oy0..<oy1 {
                    let r = s + oy * w
                    for ox in 0..<ox0 { r[ox] = 0 }
                    for ox in ox1..<w { r[ox] = 0 }
                }
            }
            let out = dst + ni * hw + d
            var j = j0
            while j < j1 { out[j] += s[j]; j += 1 }
        }
    }

    /// col2im of one tap (ky, kx), any stride: `src` [N, Ho*Wo] added into `dst` [N, H, W].
    @inline(__always)
    static func col2imTap(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                          ho: Int, wo: Int, ky: Int, kx: Int, stride: Int, pad: Int) {
        for ni in 0..<n {
            let dstImg = dst + ni * h * w, srcImg = src + ni * ho * wo
            for oy in 0..<ho {
                let iy = oy * stride - pad + ky
                if iy < 0 || iy >= h { continue }
                let drow = dstImg + iy * w, srow = srcImg + oy * wo
                if stride == 1 {
                    let lo = max(0, pad - kx), hi = min(wo, w + pad - kx)
                    if hi > lo {
                        let d = drow + (lo - pad + kx), s = srow + lo
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
}
