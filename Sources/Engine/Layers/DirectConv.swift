import CBLIS
import Dispatch
import Foundation
import Kernels512

/// Direct 3x3, stride 1, padding 1 convolution forward, without im2col.
///
/// Each image's channels are copied once into zero-bordered planes of width
/// W+2 ("wide" layout). In that layout the input of tap (ky, kx) for output
/// position o = y*(W+2) + x is simply o + ky*(W+2) + kx, so an output row
/// block is a sum of 9*cin shifted vector loads times broadcast weights. The
/// register tile is 4 output channels x 24 wide positions (12 accumulators of
/// 8 floats, AVX2 FMA). The two wide columns past each row are computed and
/// dropped when the result is copied out.
///
/// The order of the sums is fixed by the loops below (ci, then ky, then kx,
/// one FMA per term), so an image's result does not depend on the batch it
/// is in or on the thread that computes it.
enum DirectConv {
    typealias V = SIMD8<Float>

    /// The AVX-512 kernel (16-float vectors) when the CPU has it, else the AVX2
    /// one below. `DDPM_AVX512=0` forces AVX2.
    static let hasAVX512 = ddpm_cpu_has_avx512() != 0
    nonisolated(unsafe) static var wide: Bool = hasAVX512 && ProcessInfo.processInfo.environment["DDPM_AVX512"] != "0"
    static var tile: Int { wide ? DirectConv512.tile : 24 }
    public static var kernelName: String { wide ? "AVX-512 (4x64 tile)" : "AVX2 (4x24 tile)" }

    /// Floats of per-thread scratch for one image.
    static func scratchFloats(cin: Int, h: Int, w: Int) -> Int {
        let wp = w + 2, wideLen = roundUp(h * wp, tile)
        return cin * (wideLen + 2 * wp + 2 + tile) + 4 * wideLen
    }

    @inline(__always) static func roundUp(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b * b }

    /// Packs weights [cout, cin, 3, 3] as [cout/4][cin][tap][4] for broadcasting
    /// (once per convolution call, shared by all images and threads).
    static func pack(_ weight: UnsafePointer<Float>, cin: Int, cout: Int, into wpk: UnsafeMutablePointer<Float>) {
        for t in 0..<(cout / 4) {
            for ci in 0..<cin {
                for tap in 0..<9 {
                    for j in 0..<4 {
                        wpk[((t * cin + ci) * 9 + tap) * 4 + j] = weight[((t * 4 + j) * cin + ci) * 9 + tap]
                    }
                }
            }
        }
    }

    /// y[cout, N, H, W] (=, or += with `accumulate`) conv(x) + bias for the
    /// given images and output-channel tiles; `wpk` from `pack`.
    static func forward(packed wpk: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                        images: Range<Int>, coTiles: Range<Int>, accumulate: Bool,
                        scratch: UnsafeMutablePointer<Float>) {
        let wp = w + 2, hw = h * w, wideLen = roundUp(h * wp, tile)
        let planeLen = wideLen + 2 * wp + 2 + tile          // every over-read stays inside
        let xp = scratch, wideOut = scratch + cin * planeLen
        for b in images {
            // Zero-bordered wide planes of this image.
            for ci in 0..<cin {
                let dst = xp + ci * planeLen, src = x + (ci * n + b) * hw
                dst.update(repeating: 0, count: planeLen)
                for r in 0..<h { (dst + (r + 1) * wp + 1).update(from: src + r * w, count: w) }
            }
            for t in coTiles {
                if DirectConv.wide {
                    DirectConv512.kernel(xp: xp, planeLen: planeLen, wp: wp, cin: cin, wideLen: wideLen,
                                         wpk: wpk + t * cin * 36, out: wideOut)
                } else {
                    kernel(xp: xp, planeLen: planeLen, wp: wp, cin: cin, wideLen: wideLen,
                           wpk: wpk + t * cin * 36, out: wideOut)
                }
                for j in 0..<4 {
                    let co = t * 4 + j, bv = bias[co]
                    let dst = y + (co * n + b) * hw, src = wideOut + j * wideLen
                    if accumulate {
                        for r in 0..<h { let d = dst + r * w, s = src + r * wp; for c in 0..<w { d[c] += s[c] + bv } }
                    } else {
                        for r in 0..<h { let d = dst + r * w, s = src + r * wp; for c in 0..<w { d[c] = s[c] + bv } }
                    }
                }
            }
        }
    }

    /// out[j][o] = sum_ci sum_tap wpk[ci][tap][j] * xp[ci][o + off(tap)] for 4 channels j (AVX2).
    @inline(__always)
    static func kernel(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, cin: Int, wideLen: Int,
                       wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let offs = (0, 1, 2, wp, wp + 1, wp + 2, 2 * wp, 2 * wp + 1, 2 * wp + 2)
        var o = 0
        while o < wideLen {
            var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
            var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()
            for ci in 0..<cin {
                let base = UnsafeRawPointer(xp + ci * planeLen + o)
                let wc = wpk + ci * 36
                @inline(__always) func tap(_ off: Int, _ t: Int) {
                    let x0 = base.loadUnaligned(fromByteOffset: off * 4, as: V.self)
                    let x1 = base.loadUnaligned(fromByteOffset: (off + 8) * 4, as: V.self)
                    let x2 = base.loadUnaligned(fromByteOffset: (off + 16) * 4, as: V.self)
                    let w0 = V(repeating: wc[t * 4]), w1 = V(repeating: wc[t * 4 + 1])
                    let w2 = V(repeating: wc[t * 4 + 2]), w3 = V(repeating: wc[t * 4 + 3])
                    a00 = a00.addingProduct(x0, w0); a01 = a01.addingProduct(x1, w0); a02 = a02.addingProduct(x2, w0)
                    a10 = a10.addingProduct(x0, w1); a11 = a11.addingProduct(x1, w1); a12 = a12.addingProduct(x2, w1)
                    a20 = a20.addingProduct(x0, w2); a21 = a21.addingProduct(x1, w2); a22 = a22.addingProduct(x2, w2)
                    a30 = a30.addingProduct(x0, w3); a31 = a31.addingProduct(x1, w3); a32 = a32.addingProduct(x2, w3)
                }
                tap(offs.0, 0); tap(offs.1, 1); tap(offs.2, 2)
                tap(offs.3, 3); tap(offs.4, 4); tap(offs.5, 5)
                tap(offs.6, 6); tap(offs.7, 7); tap(offs.8, 8)
            }
            let r = UnsafeMutableRawPointer(out + o)
            let s = wideLen * 4
            r.storeBytes(of: a00, toByteOffset: 0, as: V.self); r.storeBytes(of: a01, toByteOffset: 32, as: V.self)
            r.storeBytes(of: a02, toByteOffset: 64, as: V.self)
            r.storeBytes(of: a10, toByteOffset: s, as: V.self); r.storeBytes(of: a11, toByteOffset: s + 32, as: V.self)
            r.storeBytes(of: a12, toByteOffset: s + 64, as: V.self)
            r.storeBytes(of: a20, toByteOffset: 2 * s, as: V.self); r.storeBytes(of: a21, toByteOffset: 2 * s + 32, as: V.self)
            r.storeBytes(of: a22, toByteOffset: 2 * s + 64, as: V.self)
            r.storeBytes(of: a30, toByteOffset: 3 * s, as: V.self); r.storeBytes(of: a31, toByteOffset: 3 * s + 32, as: V.self)
            r.storeBytes(of: a32, toByteOffset: 3 * s + 64, as: V.self)
            o += tile
        }
    }
}
