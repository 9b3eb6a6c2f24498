// Kernels.swift: prefetch, row fills and sums, reductions and softmax over raw buffers.
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
    /// Asks for the cache lines of count floats at p (prefetcht0), so that a
    /// loop about to read or write planes the hardware prefetcher has not
    /// seen yet does not wait for each line in turn.
    @inline(__always)
    public static func prefetch(_ p: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i < count { ddpm_prefetch(p + i); i += 16 }
        ddpm_prefetch(p + count - 1)
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

    /// v[0] + ... + v[15] as a tree of halves (SIMD's `sum()` goes lane by lane through memory).
    @inline(__always)
    public static func horizontalSum(_ v: FastMath.V) -> Float {
        let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

}
