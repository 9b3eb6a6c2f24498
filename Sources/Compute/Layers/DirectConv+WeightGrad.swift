// DirectConv+WeightGrad.swift: the direct weight gradients of 3x3 convolutions, stride 1 and 2.
import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
    /// Whether `weightGrad` runs for a 3x3 stride-1 pad-1 convolution on this
    /// backend (AVX-512: any channel counts; AVX2: output channels in vectors of 8).
    static func weightGradApplies(backend: Backend, cout: Int) -> Bool {
        backend.wide || (backend.direct && cout % 8 == 0)
    }

    /// Whether `weightGrad` runs for a 3x3 stride-2 pad-1 convolution (AVX-512:
    /// output channels in vectors of 16, input channels in pairs; AVX2: output
    /// channels in vectors of 8).
    static func stridedWeightGradApplies(backend: Backend, cin: Int, cout: Int) -> Bool {
        backend.wide ? cout % 16 == 0 && cin % 2 == 0 : backend.direct && cout % 8 == 0
    }

    /// Deals the n images of a weight gradient to the cores (image b to core
    /// b mod threads, each core's in order): `body(image, scratch, partial)`
    /// with ws.cols[core] (`scratch` floats) and the core's partial
    /// ws.dwParts[core] (`partLen` floats, zeroed first). Returns the cores
    /// used, whose partials the caller adds in core order.
    static func dealImages(n: Int, scratch: Int, partLen: Int, ws: Workspace,
                           _ body: (Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> Int {
        let threads = min(Parallel.cores, n)
        for t in 0..<threads { ws.cols[t].reserve(scratch) }
        ws.zeroParts(partLen)
        Parallel.run(threads) { th in
            var b = th
            while b < n { body(b, ws.cols[th].ptr, ws.dwParts[th].ptr); b += threads }
        }
        return threads
    }

    /// dW [cout, cin, 3, 3] += the weight gradient of a 3x3 pad-1 convolution
    /// of stride 1 or 2 (x is h x w, dy the output's size), without im2col:
    /// per image, the input in zero-bordered
    /// planes and dy transposed to [position][cout], then on AVX-512
    /// DirectConv512.weightGrad32 for each 32 output channels and input
    /// channel, or DirectConv512.weightGrad for each 16 output and 2 input
    /// channels (at stride 1 other channel counts go to `weightGradBlocks`),
    /// on AVX2 `weightGrad8` for each 8 output channels and input channel. Images are
    /// dealt to the cores; each core sums its images
    /// in order into its own partial, and the partials are added in thread
    /// order (as the GEMM path does with its chunks).
    static func weightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, h: Int, w: Int,
                           cin: Int, cout: Int, ws: Workspace, into dW: UnsafeMutablePointer<Float>, stride: Int = 1) {
        let wide = ws.backend.wide
        if !ws.backend.direct || (!wide && cout % 8 != 0) {
            fatalError("DirectConv.weightGrad needs AVX-512, or AVX2 and 8k output channels")
        }
        if wide && !(cout % 16 == 0 && cin % 2 == 0) {
            // weightGradBlocks reads dy as h x w: never at stride 2 (a fatalError stays under -Ounchecked).
            if stride != 1 { fatalError("DirectConv.weightGrad: stride 2 needs 16k output and 2k input channels") }
            return weightGradBlocks(x: x, dy: dy, n: n, h: h, w: w, cin: cin, cout: cout, ws: ws, into: dW)
        }
        // x's planes are h x w; dy's positions the output's ho x wo.
        let ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1, hwo = ho * wo
        let g = Geometry(h: h, w: w, pad: 1, wide: wide)
        let threads = dealImages(n: n, scratch: cin * g.planeLen + hwo * cout, partLen: cin * 9 * cout, ws: ws) { b, xp, part in
            let dyT = xp + cin * g.planeLen
            loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
            transposeImage(dy, n: n, b: b, channels: cout, positions: hwo, into: dyT, wide: wide)
            // 32 output channels at a time where they come in 32s (each input
            // broadcast serves two FMAs), else 16 and two input channels.
            if !wide {
                for cb in Swift.stride(from: 0, to: cout, by: 8) {
                    for ci in 0..<cin {
                        weightGrad8(xp: xp + ci * g.planeLen, wp: g.wp, h: ho, w: wo, dyT: dyT + cb, ldy: cout,
                                    out: part + ci * 9 * cout + cb, ldo: cout, stride: stride)
                    }
                }
            } else if cout % 32 == 0 {
                for cb in Swift.stride(from: 0, to: cout, by: 32) {
                    for ci in 0..<cin {
                        DirectConv512.weightGrad32(xp: xp + ci * g.planeLen, wp: g.wp, h: ho, w: wo, dyT: dyT + cb,
                                                   ldy: cout, out: part + ci * 9 * cout + cb, ldo: cout, stride: stride)
                    }
                }
            } else {
                for cb in Swift.stride(from: 0, to: cout, by: 16) {
                    for ci in Swift.stride(from: 0, to: cin, by: 2) {
                        DirectConv512.weightGrad(xp: xp + ci * g.planeLen, planeLen: g.planeLen, wp: g.wp, h: ho, w: wo,
                                                 dyT: dyT + cb, ldy: cout, out: part + ci * 9 * cout + cb, ldo: cout,
                                                 stride: stride)
                    }
                }
            }
        }
        // parts are [ci][tap][co]; dW is [co][ci][tap].
        for t in 0..<threads {
            let p = ws.dwParts[t].ptr
            for co in 0..<cout {
                let d = dW + co * cin * 9
                for k in 0..<(cin * 9) { d[k] += p[k * cout + co] }
            }
        }
    }

    /// `weightGrad` for other channel counts (the U-Net's 1 -> 16 input and
    /// 16 -> 1 output convolutions): per image, the input in zero-bordered
    /// planes and dy in the same wide rows (zero past each row), then
    /// DirectConv512.weightGrad3 for each input channel and three output
    /// channels (the last block padded with zero planes, its sums dropped).
    /// Images are dealt to the cores; each core sums its images in order
    /// into its own partial, and the partials are added in thread order (as
    /// the GEMM path does with its chunks).
    static func weightGradBlocks(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, h: Int, w: Int,
                                 cin: Int, cout: Int, ws: Workspace, into dW: UnsafeMutablePointer<Float>) {
        let g = Geometry(h: h, w: w, pad: 1, wide: true), hw = h * w
        let vecs = (h * g.wp + 15) / 16, len = vecs * 16
        let blocks = (cout + 2) / 3, rows = 3 * blocks
        let threads = dealImages(n: n, scratch: cin * g.planeLen + rows * len, partLen: rows * cin * 9, ws: ws) { b, xp, part in
            let dyW = xp + cin * g.planeLen
            // The padding rows of the last block stay zero: written at each core's first image.
            if b < Parallel.cores { (dyW + cout * len).update(repeating: 0, count: (rows - cout) * len) }
            loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
            for co in 0..<cout {
                let dst = dyW + co * len
                Elementwise512.loadRows(dy + (co * n + b) * hw, dst, h: h, w: w, wp: g.wp)
                (dst + h * g.wp).update(repeating: 0, count: len - h * g.wp)
            }
            for blk in 0..<blocks {
                for ci in 0..<cin {
                    DirectConv512.weightGrad3(xp: xp + ci * g.planeLen, wp: g.wp, dy: dyW + 3 * blk * len, ldd: len,
                                              vecs: vecs, out: part + (3 * blk * cin + ci) * 9, ldo: cin * 9)
                }
            }
        }
        // parts are [co][ci][tap], as dW (rows past cout dropped).
        ws.reduceParts(into: dW, count: cout * cin * 9, threads: threads)
    }
}
