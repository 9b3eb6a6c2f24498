// DirectConv512.swift: the direct convolutions' inner kernels for AVX-512.
import SIMDMath

/// The inner kernels of the direct convolutions (Compute's DirectConv) for
/// AVX-512: 16-float vectors and a 4 output channels x 64 positions register
/// tile (16 accumulators of the 32 zmm registers). This module is compiled for
/// skylake-avx512 and is only called after a CPU check (ddpm_cpu_has_avx512);
/// elsewhere the AVX2 kernels in Compute run.
///
/// out[j][o] = sum over ci, tap of wpk[ci][tap][j] * xp[ci][o + off(tap)],
/// for o in 0..<wideLen (a multiple of 32: whole tiles and at most one half
/// tile), j in 0..<4; the terms are added in
/// a fixed order (ci, then the taps), one FMA each.
public enum DirectConv512 {
    public typealias V = SIMD16<Float>
    public static let tile = 64
    /// Output ranges are multiples of this: whole tiles, then at most one half
    /// tile (4 channels x 32 positions), so a 14-wide image's 224 positions are
    /// not rounded up to 256.
    public static let granule = 32

    /// The 8 accumulators of a half tile.
    struct Half: Accumulators {
        var a00 = V(), a01 = V(), a10 = V(), a11 = V(), a20 = V(), a21 = V(), a30 = V(), a31 = V()

        @inline(__always)
        mutating func add(_ base: UnsafeRawPointer, _ w: UnsafePointer<Float>) {
            let x0 = base.loadUnaligned(as: V.self)
            let x1 = base.loadUnaligned(fromByteOffset: 64, as: V.self)
            let w0 = V(repeating: w[0]), w1 = V(repeating: w[1]), w2 = V(repeating: w[2]), w3 = V(repeating: w[3])
            a00 = a00.addingProduct(x0, w0); a01 = a01.addingProduct(x1, w0)
            a10 = a10.addingProduct(x0, w1); a11 = a11.addingProduct(x1, w1)
            a20 = a20.addingProduct(x0, w2); a21 = a21.addingProduct(x1, w2)
            a30 = a30.addingProduct(x0, w3); a31 = a31.addingProduct(x1, w3)
        }

        @inline(__always)
        func store(_ out: UnsafeMutablePointer<Float>, wideLen: Int) {
            let r = UnsafeMutableRawPointer(out)
            func row(_ j: Int, _ a: V, _ b: V) {
                let s = j * wideLen * 4
                r.storeBytes(of: a, toByteOffset: s, as: V.self); r.storeBytes(of: b, toByteOffset: s + 64, as: V.self)
            }
            row(0, a00, a01); row(1, a10, a11); row(2, a20, a21); row(3, a30, a31)
        }
    }

    /// A register tile: 4 output channels x (64 or 32) positions.
    protocol Accumulators {
        init()
        mutating func add(_ base: UnsafeRawPointer, _ w: UnsafePointer<Float>)
        func store(_ out: UnsafeMutablePointer<Float>, wideLen: Int)
    }

    /// The 16 accumulators of one tile.
    struct Tile: Accumulators {
        var a00 = V(), a01 = V(), a02 = V(), a03 = V(), a10 = V(), a11 = V(), a12 = V(), a13 = V()
        var a20 = V(), a21 = V(), a22 = V(), a23 = V(), a30 = V(), a31 = V(), a32 = V(), a33 = V()

        /// One tap: 64 inputs from `base` times the 4 channels' weights w[0..<4].
        @inline(__always)
        mutating func add(_ base: UnsafeRawPointer, _ w: UnsafePointer<Float>) {
            let x0 = base.loadUnaligned(as: V.self)
            let x1 = base.loadUnaligned(fromByteOffset: 64, as: V.self)
            let x2 = base.loadUnaligned(fromByteOffset: 128, as: V.self)
            let x3 = base.loadUnaligned(fromByteOffset: 192, as: V.self)
            let w0 = V(repeating: w[0]), w1 = V(repeating: w[1]), w2 = V(repeating: w[2]), w3 = V(repeating: w[3])
            a00 = a00.addingProduct(x0, w0); a01 = a01.addingProduct(x1, w0)
            a02 = a02.addingProduct(x2, w0); a03 = a03.addingProduct(x3, w0)
            a10 = a10.addingProduct(x0, w1); a11 = a11.addingProduct(x1, w1)
            a12 = a12.addingProduct(x2, w1); a13 = a13.addingProduct(x3, w1)
            a20 = a20.addingProduct(x0, w2); a21 = a21.addingProduct(x1, w2)
            a22 = a22.addingProduct(x2, w2); a23 = a23.addingProduct(x3, w2)
            a30 = a30.addingProduct(x0, w3); a31 = a31.addingProduct(x1, w3)
            a32 = a32.addingProduct(x2, w3); a33 = a33.addingProduct(x3, w3)
        }

        /// Channel j's 64 sums to out + j * wideLen.
        @inline(__always)
        func store(_ out: UnsafeMutablePointer<Float>, wideLen: Int) {
            let r = UnsafeMutableRawPointer(out)
            func row(_ j: Int, _ a: V, _ b: V, _ c: V, _ d: V) {
                let s = j * wideLen * 4
                r.storeBytes(of: a, toByteOffset: s, as: V.self); r.storeBytes(of: b, toByteOffset: s + 64, as: V.self)
                r.storeBytes(of: c, toByteOffset: s + 128, as: V.self); r.storeBytes(of: d, toByteOffset: s + 192, as: V.self)
            }
            row(0, a00, a01, a02, a03); row(1, a10, a11, a12, a13)
            row(2, a20, a21, a22, a23); row(3, a30, a31, a32, a33)
        }
    }

    /// 3x3 stride 1 on zero-bordered planes of width wp (the nine taps unrolled).
    public static func kernel(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, cin: Int, wideLen: Int,
                              wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        @inline(__always)
        func block<A: Accumulators>(_: A.Type, _ o: Int) {
            let r1 = wp * 4, r2 = 2 * wp * 4
            var acc = A()
            for ci in 0..<cin {
                let base = UnsafeRawPointer(xp + ci * planeLen + o)
                let wc = wpk + ci * 36
                acc.add(base, wc); acc.add(base + 4, wc + 4); acc.add(base + 8, wc + 8)
                acc.add(base + r1, wc + 12); acc.add(base + r1 + 4, wc + 16); acc.add(base + r1 + 8, wc + 20)
                acc.add(base + r2, wc + 24); acc.add(base + r2 + 4, wc + 28); acc.add(base + r2 + 8, wc + 32)
            }
            acc.store(out + o, wideLen: wideLen)
        }
        var o = 0
        while o + tile <= wideLen { block(Tile.self, o); o += tile }
        if o < wideLen { block(Half.self, o) }
    }

    /// The same tile for any list of taps: out[j][o] = sum over ci, t of
    /// wpk[ci][t][j] * xp[ci][o + offs[t]] (t in 0..<taps). Used for the 1x1
    /// convolution (one tap), the stride-2 convolution (nine taps over the
    /// input's phases) and the four 2x2 sub-convolutions of the transposed one.
    public static func kernelTaps(xp: UnsafePointer<Float>, planeLen: Int, offs: UnsafePointer<Int>, taps: Int,
                                  cin: Int, wideLen: Int, wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        @inline(__always)
        func block<A: Accumulators>(_: A.Type, _ o: Int) {
            var acc = A()
            var plane = UnsafeRawPointer(xp + o), wc = wpk
            flatLoop(outer: cin, inner: taps) { t, last in
                acc.add(plane + offs[t] * 4, wc)
                wc += 4
                plane += last ? planeLen * 4 : 0
            }
            acc.store(out + o, wideLen: wideLen)
        }
        var o = 0
        while o + tile <= wideLen { block(Tile.self, o); o += tile }
        if o < wideLen { block(Half.self, o) }
    }
}

/// Weight gradient of a 3x3 convolution (stride 1 or 2) for 16 output
/// channels and two input channels (18 accumulators: one 16-channel vector
/// per input channel and tap):
///
///     out[c][tap][0..<16] += sum over y < h, x < w (the output's size) of
///         dyT[(y w + x) ldy + 0..<16] * xp[c][(s y + ky) wp + s x + kx]
///
/// dyT holds one image's output gradient transposed to [position][channel];
/// xp its zero-bordered input planes (width wp = the input width + 2). Each term is one FMA
/// with the input broadcast, added in position order.
extension DirectConv512 {
    /// out[row * ldo + 0..<16] += v (the tap accumulators' write-back).
    @inline(__always)
    static func addVector(_ out: UnsafeMutablePointer<Float>, row: Int, _ ldo: Int, _ v: V) {
        let r = UnsafeMutableRawPointer(out), s = row * ldo * 4
        r.storeBytes(of: r.loadUnaligned(fromByteOffset: s, as: V.self) + v, toByteOffset: s, as: V.self)
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

        /// out[tap * ldo + 0..<16] += t_tap.
        @inline(__always)
        func addTo(_ out: UnsafeMutablePointer<Float>, _ ldo: Int) {
            func put(_ k: Int, _ v: V) { DirectConv512.addVector(out, row: k, ldo, v) }
            put(0, t0); put(1, t1); put(2, t2); put(3, t3); put(4, t4); put(5, t5); put(6, t6); put(7, t7); put(8, t8)
        }
    }

    public static func weightGrad(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, h: Int, w: Int,
                                  dyT: UnsafePointer<Float>, ldy: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                  stride: Int = 1) {
        var a = Taps9(), b = Taps9()
        var p = xp, d = UnsafeRawPointer(dyT)
        let next = stride * wp - stride * (w - 1)
        flatLoop(outer: h, inner: w) { _, last in
            let dv = d.loadUnaligned(as: V.self)
            a.add(dv, p, wp)
            b.add(dv, p + planeLen, wp)
            d += ldy * 4; p += last ? next : stride
        }
        a.addTo(out, ldo)
        b.addTo(out + 9 * ldo, ldo)
    }
}

/// The same weight gradient for 32 output channels and one input channel
/// (18 accumulators: two 16-channel vectors per tap), each broadcast input
/// shared by two FMAs:
///
///     out[tap ldo + 0..<32] += sum over y < h, x < w of
///         dyT[(y w + x) ldy + 0..<32] * xp[(s y + ky) wp + s x + kx]
///
/// Each sum adds its terms in position order, as `weightGrad` does (the
/// results are the same bit for bit); in cache it runs about 20% faster.
extension DirectConv512 {
    public static func weightGrad32(xp: UnsafePointer<Float>, wp: Int, h: Int, w: Int,
                                    dyT: UnsafePointer<Float>, ldy: Int, out: UnsafeMutablePointer<Float>, ldo: Int,
                                    stride: Int = 1) {
        var a = Taps9(), b = Taps9()
        var p = xp, d = UnsafeRawPointer(dyT)
        let next = stride * wp - stride * (w - 1)
        flatLoop(outer: h, inner: w) { _, last in
            let d0 = d.loadUnaligned(as: V.self), d1 = d.loadUnaligned(fromByteOffset: 64, as: V.self)
            a.add(d0, p, wp)
            b.add(d1, p, wp)
            d += ldy * 4; p += last ? next : stride
        }
        a.addTo(out, ldo)
        b.addTo(out + 16, ldo)
    }
}

/// Weight gradient of a 3x3 stride-1 convolution for three output channels
/// and one input channel (27 accumulators, 16 positions each):
///
///     out[j ldo + tap] += sum over p < 16 vecs of dy[j ldd + p] * xp[p + ky wp + kx]
///
/// for j < 3, tap = 3 ky + kx. dy holds one image's output gradient in the
/// wide layout (rows of wp, zero past each row's w and past h wp), xp its
/// zero-bordered input plane: a position past a row's end then adds 0. Per
/// 16 positions: 9 input loads shared by 27 FMAs with 3 gradient vectors.
/// Each accumulator adds its terms in position order (lane p mod 16), then
/// its 16 lanes are summed (`SIMD.sum`).
extension DirectConv512 {
    /// Nine accumulators, one per tap.
    struct Acc9 {
        var a0 = V(), a1 = V(), a2 = V(), a3 = V(), a4 = V(), a5 = V(), a6 = V(), a7 = V(), a8 = V()

        /// o[tap] += the sum of accumulator tap's lanes.
        @inline(__always)
        func addSums(_ o: UnsafeMutablePointer<Float>) {
            o[0] += a0.sum(); o[1] += a1.sum(); o[2] += a2.sum(); o[3] += a3.sum(); o[4] += a4.sum()
            o[5] += a5.sum(); o[6] += a6.sum(); o[7] += a7.sum(); o[8] += a8.sum()
        }
    }

    public static func weightGrad3(xp: UnsafePointer<Float>, wp: Int, dy: UnsafePointer<Float>, ldd: Int, vecs: Int,
                                   out: UnsafeMutablePointer<Float>, ldo: Int) {
        var a = Acc9(), b = Acc9(), c = Acc9()
        let x = UnsafeRawPointer(xp), d = UnsafeRawPointer(dy), rb = wp * 4, db = ldd * 4
        for v in 0..<vecs {
            let o = v * 64
            let d0 = d.loadUnaligned(fromByteOffset: o, as: V.self)
            let d1 = d.loadUnaligned(fromByteOffset: o + db, as: V.self)
            let d2 = d.loadUnaligned(fromByteOffset: o + 2 * db, as: V.self)
            // Each input vector is used by its three FMAs at once (31 live registers).
            var xv = x.loadUnaligned(fromByteOffset: o, as: V.self)
            a.a0 = a.a0.addingProduct(d0, xv); b.a0 = b.a0.addingProduct(d1, xv); c.a0 = c.a0.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + 4, as: V.self)
            a.a1 = a.a1.addingProduct(d0, xv); b.a1 = b.a1.addingProduct(d1, xv); c.a1 = c.a1.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + 8, as: V.self)
            a.a2 = a.a2.addingProduct(d0, xv); b.a2 = b.a2.addingProduct(d1, xv); c.a2 = c.a2.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + rb, as: V.self)
            a.a3 = a.a3.addingProduct(d0, xv); b.a3 = b.a3.addingProduct(d1, xv); c.a3 = c.a3.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + rb + 4, as: V.self)
            a.a4 = a.a4.addingProduct(d0, xv); b.a4 = b.a4.addingProduct(d1, xv); c.a4 = c.a4.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + rb + 8, as: V.self)
            a.a5 = a.a5.addingProduct(d0, xv); b.a5 = b.a5.addingProduct(d1, xv); c.a5 = c.a5.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + 2 * rb, as: V.self)
            a.a6 = a.a6.addingProduct(d0, xv); b.a6 = b.a6.addingProduct(d1, xv); c.a6 = c.a6.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + 2 * rb + 4, as: V.self)
            a.a7 = a.a7.addingProduct(d0, xv); b.a7 = b.a7.addingProduct(d1, xv); c.a7 = c.a7.addingProduct(d2, xv)
            xv = x.loadUnaligned(fromByteOffset: o + 2 * rb + 8, as: V.self)
            a.a8 = a.a8.addingProduct(d0, xv); b.a8 = b.a8.addingProduct(d1, xv); c.a8 = c.a8.addingProduct(d2, xv)
        }
        a.addSums(out); b.addSums(out + ldo); c.addSums(out + 2 * ldo)
    }
}

/// The weight gradient of a 1x1 convolution for four output and four input
/// channels: 16 dot products of long rows (one channel over a run of
/// positions),
///
///     out[i ldo + j] += sum over p < len of a[i lda + p] * b[j ldb + p]
///
/// for i, j < 4. Per 16 positions: 8 loads shared by 16 FMAs. Each sum adds
/// its terms in position order within each of 16 lanes (p mod 16), then the
/// lanes (`SIMD.sum`), then the last len % 16 positions in order.
extension DirectConv512 {
    public static func dot4x4(a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, len: Int,
                              out: UnsafeMutablePointer<Float>, ldo: Int) {
        var c00 = V(), c01 = V(), c02 = V(), c03 = V(), c10 = V(), c11 = V(), c12 = V(), c13 = V()
        var c20 = V(), c21 = V(), c22 = V(), c23 = V(), c30 = V(), c31 = V(), c32 = V(), c33 = V()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b), sa = lda * 4, sb = ldb * 4
        let whole = len / 16 * 16
        var off = 0
        while off < whole * 4 {
            let a0 = ra.loadUnaligned(fromByteOffset: off, as: V.self)
            let a1 = ra.loadUnaligned(fromByteOffset: off + sa, as: V.self)
            let a2 = ra.loadUnaligned(fromByteOffset: off + 2 * sa, as: V.self)
            let a3 = ra.loadUnaligned(fromByteOffset: off + 3 * sa, as: V.self)
            var v = rb.loadUnaligned(fromByteOffset: off, as: V.self)
            c00 = c00.addingProduct(a0, v); c10 = c10.addingProduct(a1, v); c20 = c20.addingProduct(a2, v); c30 = c30.addingProduct(a3, v)
            v = rb.loadUnaligned(fromByteOffset: off + sb, as: V.self)
            c01 = c01.addingProduct(a0, v); c11 = c11.addingProduct(a1, v); c21 = c21.addingProduct(a2, v); c31 = c31.addingProduct(a3, v)
            v = rb.loadUnaligned(fromByteOffset: off + 2 * sb, as: V.self)
            c02 = c02.addingProduct(a0, v); c12 = c12.addingProduct(a1, v); c22 = c22.addingProduct(a2, v); c32 = c32.addingProduct(a3, v)
            v = rb.loadUnaligned(fromByteOffset: off + 3 * sb, as: V.self)
            c03 = c03.addingProduct(a0, v); c13 = c13.addingProduct(a1, v); c23 = c23.addingProduct(a2, v); c33 = c33.addingProduct(a3, v)
            off += 64
        }
        @inline(__always)
        func put(_ i: Int, _ j: Int, _ c: V) {
            var s = c.sum()
            for p in whole..<len { s += a[i * lda + p] * b[j * ldb + p] }
            out[i * ldo + j] += s
        }
        put(0, 0, c00); put(0, 1, c01); put(0, 2, c02); put(0, 3, c03)
        put(1, 0, c10); put(1, 1, c11); put(1, 2, c12); put(1, 3, c13)
        put(2, 0, c20); put(2, 1, c21); put(2, 2, c22); put(2, 3, c23)
        put(3, 0, c30); put(3, 1, c31); put(3, 2, c32); put(3, 3, c33)
    }
}

/// The weight gradient of a 4x4 stride-2 pad-1 transposed convolution for
/// 16 input channels (the lanes) and one output channel:
///
///     out[tap ldo + 0..<16] += sum over (iy, ix) of xT[(iy w + ix) ldx + 0..<16] * yp[(2 iy + ky) wp + 2 ix + kx]
///
/// for tap = 4 ky + kx, where xT is the input transposed to [position][channel]
/// and yp the output gradient's zero-bordered plane (rows of wp = 2 w + 2).
/// Per input position: one vector load, 16 broadcasts, 16 FMAs; each sum adds
/// its terms in position order.
extension DirectConv512 {
    struct Taps16 {
        var t0 = V(), t1 = V(), t2 = V(), t3 = V(), t4 = V(), t5 = V(), t6 = V(), t7 = V()
        var t8 = V(), t9 = V(), t10 = V(), t11 = V(), t12 = V(), t13 = V(), t14 = V(), t15 = V()

        @inline(__always)
        mutating func add(_ v: V, _ p: UnsafePointer<Float>, _ wp: Int) {
            t0 = t0.addingProduct(v, V(repeating: p[0])); t1 = t1.addingProduct(v, V(repeating: p[1]))
            t2 = t2.addingProduct(v, V(repeating: p[2])); t3 = t3.addingProduct(v, V(repeating: p[3]))
            let q = p + wp
            t4 = t4.addingProduct(v, V(repeating: q[0])); t5 = t5.addingProduct(v, V(repeating: q[1]))
            t6 = t6.addingProduct(v, V(repeating: q[2])); t7 = t7.addingProduct(v, V(repeating: q[3]))
            let r = q + wp
            t8 = t8.addingProduct(v, V(repeating: r[0])); t9 = t9.addingProduct(v, V(repeating: r[1]))
            t10 = t10.addingProduct(v, V(repeating: r[2])); t11 = t11.addingProduct(v, V(repeating: r[3]))
            let s = r + wp
            t12 = t12.addingProduct(v, V(repeating: s[0])); t13 = t13.addingProduct(v, V(repeating: s[1]))
            t14 = t14.addingProduct(v, V(repeating: s[2])); t15 = t15.addingProduct(v, V(repeating: s[3]))
        }

        /// out[tap * ldo + 0..<16] += t_tap.
        @inline(__always)
        func addTo(_ out: UnsafeMutablePointer<Float>, _ ldo: Int) {
            func put(_ k: Int, _ v: V) { DirectConv512.addVector(out, row: k, ldo, v) }
            put(0, t0); put(1, t1); put(2, t2); put(3, t3); put(4, t4); put(5, t5); put(6, t6); put(7, t7)
            put(8, t8); put(9, t9); put(10, t10); put(11, t11); put(12, t12); put(13, t13); put(14, t14); put(15, t15)
        }
    }

    public static func transposedWeightGrad(xT: UnsafePointer<Float>, ldx: Int, yp: UnsafePointer<Float>, wp: Int,
                                            h: Int, w: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        var a = Taps16()
        var p = yp, xr = UnsafeRawPointer(xT)
        let next = 2 * wp - 2 * (w - 1)
        flatLoop(outer: h, inner: w) { _, last in
            a.add(xr.loadUnaligned(as: V.self), p, wp)
            xr += ldx * 4; p += last ? next : 2
        }
        a.addTo(out, ldo)
    }
}
