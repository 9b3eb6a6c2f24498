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

    /// The AVX2 plane loader's h rows of w <= 32 floats (rows w apart in
    /// `src`, wp = w + 2 apart in `dst`) with GroupNorm's affine + SiLU
    /// applied (inference). The h w floats go through FastMath.affineSiLU as
    /// one run of 16-float vectors, written to the end of the rows' region
    /// (h (wp - w) floats in), then each row moves down to its place and its
    /// two border floats are zeroed. The same operations per float as row by
    /// row, so the same bits; but row by row, rows of 7, 14 and 28 floats were
    /// mostly partly filled vectors, each copied through the stack, where the
    /// run has at most one (`ElementwiseTailTests`). Row r moves down by
    /// (h - r)(wp - w) >= 2 floats: it is read whole into registers before
    /// it is written, and its writes end before row r + 1's floats begin.
    /// Writes nothing outside dst[0 ..< h wp].
    static func loadRowsAffineSiLU(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                   h: Int, w: Int, wp: Int, a: Float, b: Float, tb: Float) {
        if w > 32 || wp != w + 2 { fatalError("loadRowsAffineSiLU: rows of \(w) in \(wp)") }
        let run = dst + h * (wp - w)
        FastMath.affineSiLU(src, run, count: h * w, a: a, b: b, tb: tb)
        for r in 0..<h {
            let d = dst + r * wp
            moveRow(from: UnsafePointer(run + r * w), to: d, w: w)
            d[w] = 0; d[w + 1] = 0
        }
    }

    /// d[0..<w] = s[0..<w] for w <= 32, and d before s where they overlap: every float is loaded
    /// before any is stored (8-float vectors, the last ending at the row's end).
    @inline(__always)
    static func moveRow(from s: UnsafePointer<Float>, to d: UnsafeMutablePointer<Float>, w: Int) {
        if w < 8 {
            for c in 0..<w { d[c] = s[c] }
            return
        }
        let tail = (w - 8) * 4, last = ddpm_load8(s, tail)
        switch (w - 1) / 8 {
        case 1:
            let v0 = ddpm_load8(s, 0)
            ddpm_store8(d, 0, v0)
        case 2:
            let v0 = ddpm_load8(s, 0), v1 = ddpm_load8(s, 32)
            ddpm_store8(d, 0, v0); ddpm_store8(d, 32, v1)
        case 3:
            let v0 = ddpm_load8(s, 0), v1 = ddpm_load8(s, 32), v2 = ddpm_load8(s, 64)
            ddpm_store8(d, 0, v0); ddpm_store8(d, 32, v1); ddpm_store8(d, 64, v2)
        default: break
        }
        ddpm_store8(d, tail, last)
    }

    /// The AVX2 `store` of one channel: h rows of w floats to dst (rows w
    /// apart) from src (rows wp apart), each src + bias, then (with
    /// `accumulate`) dst + that: the operations of the scalar loop, so the
    /// same bits. Rows of contiguous runs (wp == w) are one run.
    static func storeRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, h: Int, w: Int, wp: Int,
                          bias: Float, accumulate: Bool) {
        if wp == w { return storeRun(src, dst, count: h * w, bias: bias, accumulate: accumulate) }
        for r in 0..<h { storeRun(src + r * wp, dst + r * w, count: w, bias: bias, accumulate: accumulate) }
    }

    /// dst[0..<count] (=, or += with `accumulate`) src + bias: 8-float
    /// vectors, the last one ending at `count` (it overlaps the one before
    /// and is loaded before any store, so an accumulated float is added
    /// once); under 8 floats one by one.
    @inline(__always)
    static func storeRun(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                         bias: Float, accumulate: Bool) {
        if count < 8 {
            for c in 0..<count { if accumulate { dst[c] += src[c] + bias } else { dst[c] = src[c] + bias } }
            return
        }
        let s = UnsafeRawPointer(src), d = UnsafeMutableRawPointer(dst), vb = V(repeating: bias)
        let lastAt = (count - 8) * 4
        var last = ddpm_load8(s, lastAt) + vb
        if accumulate { last = ddpm_load8(d, lastAt) + last }
        var at = 0
        while at < lastAt {
            var v = ddpm_load8(s, at) + vb
            if accumulate { v = ddpm_load8(d, at) + v }
            ddpm_store8(d, at, v)
            at += 32
        }
        ddpm_store8(d, lastAt, last)
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

/// The AVX2 weight gradient of a 3x3 convolution (stride 1 or 2) for 8
/// output channels and one input channel (9 accumulators, one 8-channel
/// vector per tap), as DirectConv512.weightGrad with half the vector:
///
///     out[tap ldo + 0..<8] += sum over y < h, x < w (the output's size) of
///         dyT[(y w + x) ldy + 0..<8] * xp[(s y + ky) wp + s x + kx]
///
/// Per two positions of a row: two gradient loads, 12 broadcasts (15 at
/// stride 2), 18 FMAs; each sum adds its terms in position order.
extension DirectConv {
    /// out[row * ldo + 0..<8] += v (the tap accumulators' write-back, as
    /// DirectConv512.addVector).
    @inline(__always)
    static func addVector(_ out: UnsafeMutablePointer<Float>, row: Int, _ ldo: Int, _ v: V) {
        let r = UnsafeMutableRawPointer(out), s = row * ldo * 4
        ddpm_store8(r, s, ddpm_load8(r, s) + v)
    }

    struct Taps9 {
        var t0 = V(), t1 = V(), t2 = V(), t3 = V(), t4 = V(), t5 = V(), t6 = V(), t7 = V(), t8 = V()

        @inline(__always)
        mutating func add(_ d: V, _ p: UnsafePointer<Float>, _ wp: Int) {
            t0 = t0.addingProduct(d, V(repeating: p[0])); t1 = t1.addingProduct(d, V(repeating: p[1]))
            t2 = t2.addingProduct(d, V(repeating: p[2]))
            let q = p + wp
            t3 = t3.addingProduct(d, V(repeating: q[0])); t4 = t4.addingProduct(d, V(repeating: q[1]))
            t5 = t5.addingProduct(d, V(repeating: q[2]))
            let r = q + wp
            t6 = t6.addingProduct(d, V(repeating: r[0])); t7 = t7.addingProduct(d, V(repeating: r[1]))
            t8 = t8.addingProduct(d, V(repeating: r[2]))
        }

        /// out[tap * ldo + 0..<8] += t_tap.
        @inline(__always)
        func addTo(_ out: UnsafeMutablePointer<Float>, _ ldo: Int) {
            func put(_ k: Int, _ v: V) { DirectConv.addVector(out, row: k, ldo, v) }
            put(0, t0); put(1, t1); put(2, t2); put(3, t3); put(4, t4); put(5, t5); put(6, t6); put(7, t7); put(8, t8)
        }
    }

    /// Two neighbouring positions of one row, x and x + 1 (input columns s x
    /// and s x + s): the broadcast of an input column serves both where they
    /// share it, and each sum still adds position x, then x + 1.
    @inline(__always)
    static func addPair(_ a: inout Taps9, _ d0: V, _ d1: V, _ p: UnsafePointer<Float>, _ wp: Int, stride: Int) {
        var row = p
        @inline(__always)
        func taps(_ t0: inout V, _ t1: inout V, _ t2: inout V) {
            let b0 = V(repeating: row[0]), b1 = V(repeating: row[1]), b2 = V(repeating: row[2])
            t0 = t0.addingProduct(d0, b0); t1 = t1.addingProduct(d0, b1); t2 = t2.addingProduct(d0, b2)
            if stride == 1 {
                let b3 = V(repeating: row[3])
                t0 = t0.addingProduct(d1, b1); t1 = t1.addingProduct(d1, b2); t2 = t2.addingProduct(d1, b3)
            } else {
                let b3 = V(repeating: row[3]), b4 = V(repeating: row[4])
                t0 = t0.addingProduct(d1, b2); t1 = t1.addingProduct(d1, b3); t2 = t2.addingProduct(d1, b4)
            }
            row += wp
        }
        taps(&a.t0, &a.t1, &a.t2); taps(&a.t3, &a.t4, &a.t5); taps(&a.t6, &a.t7, &a.t8)
    }

    static func weightGrad8(xp: UnsafePointer<Float>, wp: Int, h: Int, w: Int, dyT: UnsafePointer<Float>, ldy: Int,
                            out: UnsafeMutablePointer<Float>, ldo: Int, stride: Int) {
        @inline(__always)
        func rows(_ s: Int) {
            var a = Taps9()
            let dStep = ldy * 4
            for y in 0..<h {
                var p = xp + s * y * wp, d = UnsafeRawPointer(dyT) + y * w * dStep
                var x = 0
                while x + 2 <= w {
                    addPair(&a, ddpm_load8(d, 0), ddpm_load8(d, dStep), p, wp, stride: s)
                    d += 2 * dStep; p += 2 * s; x += 2
                }
                if x < w { a.add(ddpm_load8(d, 0), p, wp) }
            }
            a.addTo(out, ldo)
        }
        // The stride as a constant in each copy: the pair's broadcasts are fixed.
        if stride == 1 { rows(1) } else { rows(2) }
    }
}

/// The AVX2 weight gradient of the 4x4 stride-2 pad-1 transposed convolution
/// for 8 input channels (the lanes) and one output channel, as
/// DirectConv512.transposedWeightGrad with half the vector: its 16 taps in
/// two passes over the positions (rows ky 0-1, then 2-3), 8 accumulators each.
/// Per input position and pass: one vector load, 8 broadcasts, 8 FMAs; each
/// sum adds its terms in position order.
extension DirectConv {
    struct Taps8 {
        var t0 = V(), t1 = V(), t2 = V(), t3 = V(), t4 = V(), t5 = V(), t6 = V(), t7 = V()

        @inline(__always)
        mutating func add(_ v: V, _ p: UnsafePointer<Float>, _ wp: Int) {
            t0 = t0.addingProduct(v, V(repeating: p[0])); t1 = t1.addingProduct(v, V(repeating: p[1]))
            t2 = t2.addingProduct(v, V(repeating: p[2])); t3 = t3.addingProduct(v, V(repeating: p[3]))
            let q = p + wp
            t4 = t4.addingProduct(v, V(repeating: q[0])); t5 = t5.addingProduct(v, V(repeating: q[1]))
            t6 = t6.addingProduct(v, V(repeating: q[2])); t7 = t7.addingProduct(v, V(repeating: q[3]))
        }

        /// out[tap * ldo + 0..<8] += t_tap.
        @inline(__always)
        func addTo(_ out: UnsafeMutablePointer<Float>, _ ldo: Int) {
            func put(_ k: Int, _ v: V) { DirectConv.addVector(out, row: k, ldo, v) }
            put(0, t0); put(1, t1); put(2, t2); put(3, t3); put(4, t4); put(5, t5); put(6, t6); put(7, t7)
        }
    }

    static func transposedWeightGrad8(xT: UnsafePointer<Float>, ldx: Int, yp: UnsafePointer<Float>, wp: Int,
                                      h: Int, w: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        let next = 2 * wp - 2 * (w - 1)
        for half in 0..<2 {
            var a = Taps8()
            var p = yp + 2 * half * wp, xr = UnsafeRawPointer(xT)
            flatLoop(outer: h, inner: w) { _, last in
                a.add(ddpm_load8(xr, 0), p, wp)
                xr += ldx * 4; p += last ? next : 2
            }
            a.addTo(out + 8 * half * ldo, ldo)
        }
    }
}

/// The AVX2 weight gradient of a 1x1 convolution for four output and two
/// input channels: 8 dot products of long rows,
///
///     out[i ldo + j] += sum over p < len of a[i lda + p] * b[j ldb + p]
///
/// for i < 4, j < 2 (DirectConv512.dot4x4's 4 x 4 block is two of these).
/// Per 8 positions: 6 loads shared by 8 FMAs. Each sum adds its terms in
/// position order within each of 8 lanes (p mod 8), then the lanes
/// (`SIMD.sum`), then the last len % 8 positions in order.
extension DirectConv {
    static func dot4x2(a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, len: Int,
                       out: UnsafeMutablePointer<Float>, ldo: Int) {
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V(), c30 = V(), c31 = V()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), sa = lda * 4, sb = ldb * 4
        let whole = len / 8 * 8
        var off = 0
        while off < whole * 4 {
            let b0 = ddpm_load8(rb, off), b1 = ddpm_load8(rb, off + sb)
            var v = ddpm_load8(ra, off)
            c00 = c00.addingProduct(v, b0); c01 = c01.addingProduct(v, b1)
            v = ddpm_load8(ra, off + sa)
            c10 = c10.addingProduct(v, b0); c11 = c11.addingProduct(v, b1)
            v = ddpm_load8(ra, off + 2 * sa)
            c20 = c20.addingProduct(v, b0); c21 = c21.addingProduct(v, b1)
            v = ddpm_load8(ra, off + 3 * sa)
            c30 = c30.addingProduct(v, b0); c31 = c31.addingProduct(v, b1)
            off += 32
        }
        @inline(__always)
        func put(_ i: Int, _ j: Int, _ c: V) {
            var s = c.sum()
            for p in whole..<len { s += a[i * lda + p] * b[j * ldb + p] }
            out[i * ldo + j] += s
        }
        put(0, 0, c00); put(0, 1, c01); put(1, 0, c10); put(1, 1, c11)
        put(2, 0, c20); put(2, 1, c21); put(3, 0, c30); put(3, 1, c31)
    }
}
