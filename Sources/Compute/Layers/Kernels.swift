// Kernels.swift: row fills and sums, reductions and softmax over raw buffers.
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

    /// One attention head over `hw` positions with `d` channels per head:
    /// P = softmax(scale · QᵀK) and O = V Pᵀ. q, k, v and o are d planes of
    /// hw floats, plane c at +c·ld (the block's channel-major layout); row i of
    /// P is written to probs + i·hw (the backward pass reads it). K and V are
    /// first copied into zero-padded rows of `attentionPad(hw)` floats so that
    /// every loop runs whole vectors; `scratch` holds
    /// `attentionScratch(d:hw:)` floats. The softmax is `softmaxRow`'s: max
    /// subtracted, FastMath.exp, one reciprocal of the sum.
    @inline(__always)
    public static func attentionHead(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                     ld: Int, d: Int, hw: Int, scale: Float,
                                     probs: UnsafeMutablePointer<Float>, o: UnsafeMutablePointer<Float>,
                                     scratch: UnsafeMutablePointer<Float>) {
        typealias V = FastMath.V
        let hp = attentionPad(hw)
        let kp = scratch, vp = scratch + d * hp, row = scratch + 2 * d * hp
        for c in 0..<d {
            (kp + c * hp).update(from: k + c * ld, count: hw)
            (kp + c * hp + hw).update(repeating: 0, count: hp - hw)
            (vp + c * hp).update(from: v + c * ld, count: hw)
            (vp + c * hp + hw).update(repeating: 0, count: hp - hw)
        }
        let sv = V(repeating: scale)
        for i in 0..<hw {
            var m = -Float.infinity
            var jb = 0
            while jb < hp {
                var s = V(repeating: 0)
                for c in 0..<d { s = s.addingProduct(V(repeating: q[c * ld + i]), FastMath.load(kp, c * hp + jb)) }
                s *= sv
                FastMath.store(s, row, jb)
                jb += 16
            }
            for j in 0..<hw { m = max(m, row[j]) }
            let vm = V(repeating: m)
            var acc = V(repeating: 0)
            jb = 0
            while jb < hp {
                let e = FastMath.exp(FastMath.load(row, jb) - vm)
                FastMath.store(e, row, jb); jb += 16
            }
            (row + hw).update(repeating: 0, count: hp - hw)
            jb = 0
            while jb < hp { acc += FastMath.load(row, jb); jb += 16 }
            let inv = V(repeating: 1 / acc.sum())
            jb = 0
            while jb < hp { FastMath.store(FastMath.load(row, jb) * inv, row, jb); jb += 16 }
            (probs + i * hw).update(from: row, count: hw)
            for c in 0..<d {
                var a = V(repeating: 0)
                jb = 0
                while jb < hp { a = a.addingProduct(FastMath.load(row, jb), FastMath.load(vp, c * hp + jb)); jb += 16 }
                o[c * ld + i] = a.sum()
            }
        }
    }

    /// `hw` rounded up to whole 16-float vectors.
    @inline(__always)
    public static func attentionPad(_ hw: Int) -> Int { (hw + 15) & ~15 }

    /// Floats of scratch `attentionHead` needs.
    public static func attentionScratch(d: Int, hw: Int) -> Int { (2 * d + 1) * attentionPad(hw) }

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

}
