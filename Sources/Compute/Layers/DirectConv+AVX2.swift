// DirectConv+AVX2.swift: the AVX2 register tile (4 channels x 24 positions) and its two kernels.
import CBLIS
import CSIMD
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
    /// The 12 accumulators of one AVX2 tile (4 channels x 24 positions).
    struct Tile {
        var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
        var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()

        /// One tap: 24 inputs from `base` times the 4 channels' weights w[0..<4].
        @inline(__always)
        mutating func add(_ base: UnsafeRawPointer, _ w: UnsafePointer<Float>) {
            let x0 = ddpm_load8(base, 0), x1 = ddpm_load8(base, 32), x2 = ddpm_load8(base, 64)
            let w0 = V(repeating: w[0]), w1 = V(repeating: w[1]), w2 = V(repeating: w[2]), w3 = V(repeating: w[3])
            a00 = a00.addingProduct(x0, w0); a01 = a01.addingProduct(x1, w0); a02 = a02.addingProduct(x2, w0)
            a10 = a10.addingProduct(x0, w1); a11 = a11.addingProduct(x1, w1); a12 = a12.addingProduct(x2, w1)
            a20 = a20.addingProduct(x0, w2); a21 = a21.addingProduct(x1, w2); a22 = a22.addingProduct(x2, w2)
            a30 = a30.addingProduct(x0, w3); a31 = a31.addingProduct(x1, w3); a32 = a32.addingProduct(x2, w3)
        }

        /// Channel j's 24 sums to out + j * wideLen.
        @inline(__always)
        func store(_ out: UnsafeMutablePointer<Float>, wideLen: Int) {
            let r = UnsafeMutableRawPointer(out)
            func row(_ j: Int, _ a: V, _ b: V, _ c: V) {
                let s = j * wideLen * 4
                r.storeBytes(of: a, toByteOffset: s, as: V.self); r.storeBytes(of: b, toByteOffset: s + 32, as: V.self)
                r.storeBytes(of: c, toByteOffset: s + 64, as: V.self)
            }
            row(0, a00, a01, a02); row(1, a10, a11, a12); row(2, a20, a21, a22); row(3, a30, a31, a32)
        }
    }

    /// out[j][o] = sum_ci sum_tap wpk[ci][tap][j] * xp[ci][o + off(tap)] for 4 channels j (AVX2, 3x3 unrolled).
    static func kernel(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, cin: Int, wideLen: Int,
                       wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let r1 = wp * 4, r2 = 2 * wp * 4
        var o = 0
        while o < wideLen {
            var acc = Tile()
            for ci in 0..<cin {
                let base = UnsafeRawPointer(xp + ci * planeLen + o)
                let wc = wpk + ci * 36
                acc.add(base, wc); acc.add(base + 4, wc + 4); acc.add(base + 8, wc + 8)
                acc.add(base + r1, wc + 12); acc.add(base + r1 + 4, wc + 16); acc.add(base + r1 + 8, wc + 20)
                acc.add(base + r2, wc + 24); acc.add(base + r2 + 4, wc + 28); acc.add(base + r2 + 8, wc + 32)
            }
            acc.store(out + o, wideLen: wideLen)
            o += tile(false)
        }
    }

    /// The AVX2 tile for any list of taps (see DirectConv512.kernelTaps).
    static func kernelTaps(xp: UnsafePointer<Float>, planeLen: Int, offs: UnsafePointer<Int>, taps: Int, cin: Int,
                           wideLen: Int, wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        var o = 0
        while o < wideLen {
            var acc = Tile()
            var plane = UnsafeRawPointer(xp + o), wc = wpk
            flatLoop(outer: cin, inner: taps) { t, last in
                acc.add(plane + offs[t] * 4, wc)
                wc += 4
                plane += last ? planeLen * 4 : 0
            }
            acc.store(out + o, wideLen: wideLen)
            o += tile(false)
        }
    }
}
