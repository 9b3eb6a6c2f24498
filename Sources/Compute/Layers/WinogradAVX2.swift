// WinogradAVX2.swift: Winograd512's transforms for AVX2, each 16-tile vector held as two 8-float halves,
// and the weight gradient's transform of dy.
import CSIMD

/// The input and output transforms of Winograd F(2x2, 3x3) for AVX2 (and,
/// AVX2's own, `gradientTransform` for the weight gradient): the
/// algorithm, the layout of 16 tiles a vector (or, with `pair`, two tile rows
/// of up to 8) and the order of every sum are Winograd512's (see there); here
/// each 16-float vector is two 8-float halves, lanes 0..<8 and 8..<16, and the
/// permutations are csimd.h's 8-float ones.
enum WinogradAVX2 {
    typealias V = SIMD8<Float>

    /// A 16-float vector as two AVX2 registers.
    struct W {
        var lo: V, hi: V
        @inline(__always) init(_ lo: V, _ hi: V) { self.lo = lo; self.hi = hi }
        @inline(__always) init(repeating x: Float) { lo = V(repeating: x); hi = lo }
        @inline(__always) static func + (a: W, b: W) -> W { W(a.lo + b.lo, a.hi + b.hi) }
        @inline(__always) static func - (a: W, b: W) -> W { W(a.lo - b.lo, a.hi - b.hi) }
        @inline(__always) static func * (a: W, b: W) -> W { W(a.lo * b.lo, a.hi * b.hi) }

        @inline(__always) static func load(_ p: UnsafeRawPointer, _ offset: Int) -> W {
            W(ddpm_load8(p, offset), ddpm_load8(p, offset + 32))
        }
        @inline(__always) func store(_ p: UnsafeMutableRawPointer, _ offset: Int) {
            ddpm_store8(p, offset, lo); ddpm_store8(p, offset + 32, hi)
        }
    }

    /// Winograd512.inputTransform, in two passes: lanes 0..<8 of every
    /// vector, then 8..<16. The permutations take a vector's halves from
    /// the 16 floats that Winograd512.load reads for that vector alone
    /// (at p, and at p + second bytes with pair, else p + 64), so each pass
    /// needs half the registers (16 rows of 8 floats live, not 32).
    static func inputTransform(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, cin: Int, vectors: Int,
                               pair: Bool, out: UnsafeMutablePointer<Float>, ld: Int) {
        let rb = wp * 4, second = pair ? 2 * vectors * rb : 64, xsBytes = cin * ld * 4
        for ci in 0..<cin {
            for half in 0..<2 {
                let plane = UnsafeRawPointer(xp + ci * planeLen) + half * second
                let o = UnsafeMutableRawPointer(out + ci * ld) + half * 32
                // B^T along input row r: columns 2 tx + 0..<4 of each of the half's 8 tiles.
                @inline(__always)
                func row(_ r: Int) -> (V, V, V, V) {
                    let p = plane + r * rb
                    let a0 = ddpm_load8(p, 0), a1 = ddpm_load8(p, 32), b0 = ddpm_load8(p, 8), b1 = ddpm_load8(p, 40)
                    let d0 = ddpm_even8(a0, a1), d1 = ddpm_odd8(a0, a1), d2 = ddpm_even8(b0, b1), d3 = ddpm_odd8(b0, b1)
                    return (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
                }
                var r0 = row(0), r1 = row(1)
                for v in 0..<vectors {
                    let r2 = row(2 * v + 2), r3 = row(2 * v + 3)
                    let ov = o + v * 64
                    @inline(__always)
                    func put(_ k: Int, _ x: V) { ddpm_store8(ov, k * xsBytes, x) }
                    put(0, r0.0 - r2.0); put(1, r0.1 - r2.1); put(2, r0.2 - r2.2); put(3, r0.3 - r2.3)
                    put(4, r1.0 + r2.0); put(5, r1.1 + r2.1); put(6, r1.2 + r2.2); put(7, r1.3 + r2.3)
                    put(8, r2.0 - r1.0); put(9, r2.1 - r1.1); put(10, r2.2 - r1.2); put(11, r2.3 - r1.3)
                    put(12, r1.0 - r3.0); put(13, r1.1 - r3.1); put(14, r1.2 - r3.2); put(15, r1.3 - r3.3)
                    r0 = r2; r1 = r3
                }
            }
        }
    }

    /// Winograd512.outputTransform; the rows that go through `tmp` are stored
    /// by the AVX2 path's row store (DirectConv.storeRun: each output its sum +
    /// bias, then + y with accumulate), as Elementwise512.storeRows does there.
    static func outputTransform(m: UnsafePointer<Float>, xs: Int, vectors: Int, pair: Bool,
                                y: UnsafeMutablePointer<Float>, h: Int, w: Int, bias: Float, accumulate: Bool,
                                tmp: UnsafeMutablePointer<Float>) {
        let mr = UnsafeRawPointer(m), sb = xs * 4, d = UnsafeMutableRawPointer(y), rb = w * 4
        // 1 for a row's lanes, 0 past it; the bias where the row is.
        var keep0 = W(repeating: 0), keep1 = keep0, bias0 = keep0, bias1 = keep0
        for i in 0..<8 {
            if i < w { keep0.lo[i] = 1; bias0.lo[i] = bias }
            if i + 8 < w { keep0.hi[i] = 1; bias0.hi[i] = bias }
            if i + 16 < w { keep1.lo[i] = 1; bias1.lo[i] = bias }
            if i + 24 < w { keep1.hi[i] = 1; bias1.hi[i] = bias }
        }
        @inline(__always)
        func emit(_ r: Int, _ x0: W, _ x1: W) {
            if r >= h { return }
            if r + 1 == h || (pair && r == 2 * vectors - 1) {
                let t = UnsafeMutableRawPointer(tmp)
                x0.store(t, 0); x1.store(t, 64)
                let dst = y + r * w
                DirectConv.storeRun(tmp, dst, count: w, bias: bias, accumulate: accumulate)
                return
            }
            @inline(__always)
            func put(_ at: Int, _ x: W, _ keep: W, _ b: W) {
                var o = x * keep + b
                if accumulate { o = W.load(d, at) + o }
                o.store(d, at)
            }
            put(r * rb, x0, keep0, bias0)
            if !pair { put(r * rb + 64, x1, keep1, bias1) }
        }
        // A^T down the columns and along the rows of one half of vector v's
        // lanes (at byte offset `half`), the two output columns interleaved:
        // the output rows' floats that those 8 tiles make.
        @inline(__always)
        func rows(_ p: UnsafeRawPointer) -> (top: W, bottom: W) {
            @inline(__always)
            func at(_ k: Int) -> V { ddpm_load8(p, k * sb) }
            let s00 = at(0) + at(4) + at(8), s01 = at(1) + at(5) + at(9)
            let s02 = at(2) + at(6) + at(10), s03 = at(3) + at(7) + at(11)
            let s10 = at(4) - at(8) - at(12), s11 = at(5) - at(9) - at(13)
            let s12 = at(6) - at(10) - at(14), s13 = at(7) - at(11) - at(15)
            let e0 = s00 + s01 + s02, o0 = s01 - s02 - s03, e1 = s10 + s11 + s12, o1 = s11 - s12 - s13
            return (W(ddpm_zip_lo8(e0, o0), ddpm_zip_hi8(e0, o0)), W(ddpm_zip_lo8(e1, o1), ddpm_zip_hi8(e1, o1)))
        }
        for v in 0..<vectors {
            let (top0, bottom0) = rows(mr + v * 64), (top1, bottom1) = rows(mr + v * 64 + 32)
            if pair {
                emit(2 * v, top0, top0); emit(2 * v + 1, bottom0, bottom0)
                emit(2 * (v + vectors), top1, top1); emit(2 * (v + vectors) + 1, bottom1, bottom1)
            } else {
                emit(2 * v, top0, top1); emit(2 * v + 1, bottom0, bottom1)
            }
        }
    }
}

extension WinogradAVX2 {
    /// The weight gradient's transform of one channel's dy (h x w): per 2x2
    /// output tile [[p, q], [r, s]], the 16 values A dY A^T (A^T as in
    /// `outputTransform`: rows (1, 1, 1, 0) and (0, 1, -1, -1)), at
    /// out[ξ xs + 16 v + lane] in `inputTransform`'s tile layout (ξ = 4 i + j,
    /// i down the rows), 0 in every lane without a tile, so that a lane's
    /// product with the transformed input adds nothing there. `tile` is 64
    /// floats of scratch.
    static func gradientTransform(dy: UnsafePointer<Float>, h: Int, w: Int, vectors: Int, pair: Bool,
                                  out: UnsafeMutablePointer<Float>, xs: Int, tile: UnsafeMutablePointer<Float>) {
        let tileRows = h / 2, tileCols = w / 2
        let o = UnsafeMutableRawPointer(out), t = UnsafeRawPointer(tile), sb = xs * 4, zero = W(repeating: 0)
        // The tiles of tile row tr into lanes lane0..., as p, q, r, s (16 floats each).
        @inline(__always)
        func gather(_ tr: Int, _ lane0: Int) {
            if tr >= tileRows { return }
            let r0 = dy + 2 * tr * w, r1 = r0 + w
            for tc in 0..<tileCols {
                let l = lane0 + tc
                tile[l] = r0[2 * tc]; tile[16 + l] = r0[2 * tc + 1]
                tile[32 + l] = r1[2 * tc]; tile[48 + l] = r1[2 * tc + 1]
            }
        }
        for v in 0..<vectors {
            tile.update(repeating: 0, count: 64)
            gather(v, 0)
            if pair { gather(v + vectors, 8) }
            let p = W.load(t, 0), q = W.load(t, 64), r = W.load(t, 128), s = W.load(t, 192)
            // Row i of A dY is (c0, c1); along it A^T gives c0, c0 + c1, c0 - c1, -c1.
            @inline(__always)
            func put(_ i: Int, _ c0: W, _ c1: W) {
                let at = v * 64 + 4 * i * sb
                c0.store(o, at); (c0 + c1).store(o, at + sb); (c0 - c1).store(o, at + 2 * sb); (zero - c1).store(o, at + 3 * sb)
            }
            put(0, p, q); put(1, p + r, q + s); put(2, p - r, q - s); put(3, zero - r, zero - s)
        }
    }
}
