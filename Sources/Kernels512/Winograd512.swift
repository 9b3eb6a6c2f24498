// Winograd512.swift: the transforms of the Winograd F(2x2, 3x3) convolution for AVX-512.
import CSIMD
import SIMDMath

/// The input and output transforms of Winograd's minimal filtering algorithm
/// F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
/// Networks", 2016): each 2x2 block of a 3x3 stride-1 convolution's output
/// ("tile") is
///
///     Y = A^T [ sum over ci of (G g G^T) * (B^T d B) ] A
///
/// with d the tile's 4x4 input patch in channel ci, g the 3x3 weights and *
/// the element-wise product of the 16 "frequencies" ξ = 4 i + j:
///
///     B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
///     G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
///     A^T = [1 1 1 0; 0 1 -1 -1]
///
/// 16 products per tile and channel pair instead of 36. Vectors hold 16 tiles:
/// vector v a tile row of up to 16 tiles (row v), or (`pair`, images up to 16
/// wide) two tile rows of up to 8 tiles, row v in lanes 0..<8 and row
/// v + vectors in lanes 8..<16, so that consecutive vectors share two input
/// rows in both halves. Lanes past a row's tiles hold what the transforms
/// make of the plane's next floats; no output takes their results (a store
/// that covers them multiplies them by 0).
public enum Winograd512 {
    public typealias V = SIMD16<Float>

    /// 32 floats as two vectors: at p, or (pair) 16 at p and 16 at p + second bytes.
    /// (Swift's SIMD32 arithmetic is not vectorised; everything here is in SIMD16.)
    @inline(__always)
    static func load(_ p: UnsafeRawPointer, _ second: Int, _ pair: Bool) -> (V, V) {
        (p.loadUnaligned(as: V.self), p.loadUnaligned(fromByteOffset: pair ? second : 64, as: V.self))
    }

    /// Floats from a plane's start that inputTransform reads: rows to column
    /// 33, or with pair 17.
    public static func reach(wp: Int, vectors: Int, pair: Bool) -> Int {
        pair ? (4 * vectors + 1) * wp + 18 : (2 * vectors + 1) * wp + 34
    }

    /// out[(ξ cin + ci) ld + 16 v + lane] = (B^T d B)[ξ] for the tile(s) of
    /// vector v, for each of cin zero-bordered planes xp + ci planeLen (rows
    /// of wp floats: the direct convolution's planes, padding 1). Each input
    /// row's B^T along it is computed once and used by both tile rows that
    /// read it. Reads `reach(...)` floats from each plane's start (with pair,
    /// the last vector's second tile row may lie past the image); the caller
    /// checks that its planes hold them.
    public static func inputTransform(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, cin: Int, vectors: Int,
                                      pair: Bool, out: UnsafeMutablePointer<Float>, ld: Int) {
        let rb = wp * 4, second = 2 * vectors * rb, xsBytes = cin * ld * 4
        for ci in 0..<cin {
            let plane = UnsafeRawPointer(xp + ci * planeLen)
            let o = UnsafeMutableRawPointer(out + ci * ld)
            // B^T along input row r: columns 2 tx + 0..<4 of each tile.
            @inline(__always)
            func row(_ r: Int) -> (V, V, V, V) {
                let a = load(plane + r * rb, second, pair), b = load(plane + r * rb + 8, second, pair)
                let d0 = ddpm_even(a.0, a.1), d1 = ddpm_odd(a.0, a.1), d2 = ddpm_even(b.0, b.1), d3 = ddpm_odd(b.0, b.1)
                return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
            }
            // Tile row v reads input rows 2 v ..< 2 v + 4: the last two are the next one's first two.
            var r0 = row(0), r1 = row(1)
            for v in 0..<vectors {
                let r2 = row(2 * v + 2), r3 = row(2 * v + 3)
                let ov = o + v * 64
                @inline(__always)
                func put(_ k: Int, _ x: V) { ov.storeBytes(of: x, toByteOffset: k * xsBytes, as: V.self) }
                // Then down the columns.
                put(0, r0.0 - r2.0); put(1, r0.1 - r2.1); put(2, r0.2 - r2.2); put(3, r0.3 - r2.3)
                put(4, r1.0 + r2.0); put(5, r1.1 + r2.1); put(6, r1.2 + r2.2); put(7, r1.3 + r2.3)
                put(8, r2.0 - r1.0); put(9, r2.1 - r1.1); put(10, r2.2 - r1.2); put(11, r2.3 - r1.3)
                put(12, r1.0 - r3.0); put(13, r1.1 - r3.1); put(14, r1.2 - r3.2); put(15, r1.3 - r3.3)
                r0 = r2; r1 = r3
            }
        }
    }

    /// The output tiles of one channel from its 16 products, m[ξ xs + 16 v +
    /// lane], plus bias, into y's h x w plane (= or +=): A^T down the columns
    /// and along the rows, the tiles' two columns interleaved. Output rows are
    /// stored whole (32 floats, or 16 with pair) in an order where each
    /// store's floats past its row fall on a row whose own store comes later;
    /// those floats are stored as 0 + 0 (with accumulate, as they were + 0),
    /// then that store writes them. The
    /// plane's last row, and with pair the last row before the second half's
    /// first, go through `tmp` (32 floats) and Elementwise512.storeRows, so
    /// nothing past them is touched; rows past h are dropped. Each output is
    /// (its sum + bias), then + y with accumulate, as the direct path's copy adds.
    public static func outputTransform(m: UnsafePointer<Float>, xs: Int, vectors: Int, pair: Bool,
                                       y: UnsafeMutablePointer<Float>, h: Int, w: Int, bias: Float, accumulate: Bool,
                                       tmp: UnsafeMutablePointer<Float>) {
        let mr = UnsafeRawPointer(m), sb = xs * 4, d = UnsafeMutableRawPointer(y), rb = w * 4
        // 1 for a row's lanes, 0 past it (a lane past the row holds a finite
        // sum of the plane's floats; NaN there means NaN in the image too).
        var keep0 = V(), keep1 = V(), bias0 = V(), bias1 = V()
        for i in 0..<16 where i < w { keep0[i] = 1; bias0[i] = bias }
        for i in 0..<16 where i + 16 < w { keep1[i] = 1; bias1[i] = bias }
        // Output row r from its first 16 floats (and, unless pair, the next 16).
        @inline(__always)
        func emit(_ r: Int, _ x0: V, _ x1: V) {
            if r >= h { return }
            if r + 1 == h || (pair && r == 2 * vectors - 1) {
                let t = UnsafeMutableRawPointer(tmp)
                t.storeBytes(of: x0, as: V.self); t.storeBytes(of: x1, toByteOffset: 64, as: V.self)
                Elementwise512.storeRows(tmp, y + r * w, h: 1, w: w, wp: 32, bias: bias, accumulate: accumulate)
                return
            }
            @inline(__always)
            func put(_ at: Int, _ x: V, _ keep: V, _ b: V) {
                var o = x * keep + b
                if accumulate { o = d.loadUnaligned(fromByteOffset: at, as: V.self) + o }
                d.storeBytes(of: o, toByteOffset: at, as: V.self)
            }
            put(r * rb, x0, keep0, bias0)
            if !pair { put(r * rb + 64, x1, keep1, bias1) }
        }
        for v in 0..<vectors {
            let p = mr + v * 64
            @inline(__always)
            func at(_ k: Int) -> V { p.loadUnaligned(fromByteOffset: k * sb, as: V.self) }
            let m0 = at(0), m1 = at(1), m2 = at(2), m3 = at(3), m4 = at(4), m5 = at(5), m6 = at(6), m7 = at(7)
            let m8 = at(8), m9 = at(9), m10 = at(10), m11 = at(11), m12 = at(12), m13 = at(13), m14 = at(14), m15 = at(15)
            let s00 = m0 + m4 + m8, s01 = m1 + m5 + m9, s02 = m2 + m6 + m10, s03 = m3 + m7 + m11
            let s10 = m4 - m8 - m12, s11 = m5 - m9 - m13, s12 = m6 - m10 - m14, s13 = m7 - m11 - m15
            // Output rows 2 ty and 2 ty + 1: even columns from the first, odd from the second.
            let e0 = s00 + s01 + s02, o0 = s01 - s02 - s03, e1 = s10 + s11 + s12, o1 = s11 - s12 - s13
            let top0 = ddpm_interleave_lo(e0, o0), top1 = ddpm_interleave_hi(e0, o0)
            let bottom0 = ddpm_interleave_lo(e1, o1), bottom1 = ddpm_interleave_hi(e1, o1)
            if pair {
                // Lanes 0..<8: tile row v; 8..<16: tile row v + vectors.
                emit(2 * v, top0, top0); emit(2 * v + 1, bottom0, bottom0)
                emit(2 * (v + vectors), top1, top1); emit(2 * (v + vectors) + 1, bottom1, bottom1)
            } else {
                emit(2 * v, top0, top1); emit(2 * v + 1, bottom0, bottom1)
            }
        }
    }
}
