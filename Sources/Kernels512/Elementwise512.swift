// Elementwise512.swift: AVX-512 copies of the element-wise loops.
import SIMDMath

/// AVX-512 versions of Compute's element-wise loops (same operations in the
/// same order per element as the AVX2 code in Compute; only the vector width
/// differs). Called only after the CPU check, like `DirectConv512`.
public enum Elementwise512 {
    public typealias V = SIMD16<Float>

    /// dst[p * ldd + c] = src[c * ld + p] for c, p in 0..<16: a 16 x 16 block transposed in
    /// registers (four rounds of taking even and odd lanes of row pairs; each round rotates
    /// an element's 8-bit (row, column) index right by one bit, so four make the transpose).
    @inline(__always)
    public static func transpose16(_ src: UnsafePointer<Float>, ld: Int, into dst: UnsafeMutablePointer<Float>, ldd: Int) {
        // (Sixteen locals, not an array or a temporary buffer: nothing is allocated.)
        @inline(__always) func row(_ c: Int) -> V { UnsafeRawPointer(src + c * ld).loadUnaligned(as: V.self) }
        var r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3), r4 = row(4), r5 = row(5), r6 = row(6), r7 = row(7)
        var r8 = row(8), r9 = row(9), r10 = row(10), r11 = row(11), r12 = row(12), r13 = row(13), r14 = row(14), r15 = row(15)
        @inline(__always) func even(_ a: V, _ b: V) -> V { V(lowHalf: a.evenHalf, highHalf: b.evenHalf) }
        @inline(__always) func odd(_ a: V, _ b: V) -> V { V(lowHalf: a.oddHalf, highHalf: b.oddHalf) }
        for _ in 0..<4 {
            // (One assignment: every new row is made from the old ones.)
            (r0, r1, r2, r3, r4, r5, r6, r7,
             r8, r9, r10, r11, r12, r13, r14, r15) =
                (even(r0, r1), even(r2, r3), even(r4, r5), even(r6, r7),
                 even(r8, r9), even(r10, r11), even(r12, r13), even(r14, r15),
                 odd(r0, r1), odd(r2, r3), odd(r4, r5), odd(r6, r7),
                 odd(r8, r9), odd(r10, r11), odd(r12, r13), odd(r14, r15))
        }
        @inline(__always) func put(_ p: Int, _ v: V) { UnsafeMutableRawPointer(dst + p * ldd).storeBytes(of: v, as: V.self) }
        put(0, r0); put(1, r1); put(2, r2); put(3, r3); put(4, r4); put(5, r5); put(6, r6); put(7, r7)
        put(8, r8); put(9, r9); put(10, r10); put(11, r11); put(12, r12); put(13, r13); put(14, r14); put(15, r15)
    }

    /// FastMath.affineSiLU over count floats, compiled for AVX-512 (GroupNorm's
    /// normalise + affine + SiLU + time-embedding bias).
    public static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                                  a: Float, b: Float, tb: Float) {
        FastMath.affineSiLU(x, y, count: count, a: a, b: b, tb: tb)
    }

    /// f as vcvtneps2bf16 (AVX512_BF16, which CSIMD's ddpm_bf16_pack_planes
    /// uses) rounds it, lane by lane, as 16 bits: to the nearest bfloat16,
    /// ties to even; a subnormal as a zero of its sign; a NaN quiet, its sign
    /// and top payload kept.
    @inline(__always)
    public static func bf16Bits(_ f: V) -> SIMD16<UInt32> {
        let u = unsafeBitCast(f, to: SIMD16<UInt32>.self)
        let rounded = unsafeBitCast((u &+ 0x7fff &+ ((u &>> 16) & 1)) &>> 16, to: SIMD16<Int32>.self)
        let magnitude = unsafeBitCast(u & 0x7fff_ffff, to: SIMD16<Int32>.self)
        let high = unsafeBitCast(u &>> 16, to: SIMD16<Int32>.self)
        // Lane masks by the sign of a difference (all ones where negative): compares and
        // selects on SIMD masks compile lane by lane here, several times slower.
        let nan = (0x7f80_0000 &- magnitude) &>> 31, subnormal = (magnitude &- 0x0080_0000) &>> 31
        let r = (rounded & ~(nan | subnormal)) | ((high | 0x40) & nan) | ((high & 0x8000) & subnormal)
        return unsafeBitCast(r, to: SIMD16<UInt32>.self)
    }

    /// One pair plane of the bf16 backend's 3x3 convolution, built straight
    /// from two channels of x (DirectConv+BF16): plane row r + 1 (rows w + 2
    /// apart, a zero border of 1) holds row r of channel x0 in the low half of
    /// each element and of x1 (0 without it) in the high half, through
    /// affineSiLU with (a, b, tb) of each channel where `silu`, rounded to
    /// nearest even; the border and the rest of the plane's planeLen elements
    /// are 0. The same bits as building the float planes (loadRowsAffineSiLU
    /// or loadRows) and pairing them, in one pass; planeLen must leave 16
    /// elements after the last row, as the float planes do.
    public static func packPairPlane(_ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>?, h: Int, w: Int,
                                     silu: Bool, a0: Float, b0: Float, tb0: Float, a1: Float, b1: Float, tb1: Float,
                                     into dst: UnsafeMutablePointer<UInt32>, planeLen: Int) {
        let wp = w + 2, hw = h * w
        @inline(__always) func load(_ x: UnsafePointer<Float>, _ i: Int) -> V {
            i + 16 <= hw ? FastMath.load(x, i) : FastMath.loadPartial(x + i, hw - i)
        }
        for i in 0..<(wp + 1) { dst[i] = 0 }
        for r in 0..<h {
            let d = dst + (r + 1) * wp + 1
            var c = 0
            while c < w {
                // 16 elements from column c: those past the row are the borders, set
                // below, and the next row's first, which it writes after.
                var lo = load(x0, r * w + c), hi = x1.map { load($0, r * w + c) } ?? V()
                if silu {
                    lo = FastMath.affineSiLU(lo, a: a0, b: b0, tb: tb0)
                    if x1 != nil { hi = FastMath.affineSiLU(hi, a: a1, b: b1, tb: tb1) }
                }
                let pair = bf16Bits(lo) | (x1 == nil ? SIMD16<UInt32>() : bf16Bits(hi) &<< 16)
                UnsafeMutableRawPointer(d + c).storeBytes(of: pair, as: SIMD16<UInt32>.self)
                c += 16
            }
            d[w] = 0; d[w + 1] = 0
        }
        for i in ((h + 1) * wp + 1)..<planeLen { dst[i] = 0 }
    }

    /// FastMath.groupNormBackwardPlane compiled for AVX-512.
    public static func groupNormBackwardPlane(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        dh: UnsafeMutablePointer<Float>, count: Int, mean: Float, rstd: Float, gamma: Float, beta: Float,
        silu: Bool, dgam: inout Float, dbet: inout Float, dtb: inout Float, s1: inout Float, s2: inout Float
    ) {
        FastMath.groupNormBackwardPlane(x: x, dy: dy, mask: mask, dh: dh, count: count, mean: mean, rstd: rstd,
                                        gamma: gamma, beta: beta, silu: silu, dgam: &dgam, dbet: &dbet, dtb: &dtb,
                                        s1: &s1, s2: &s2)
    }

    /// FastMath.groupNormBackwardApply compiled for AVX-512.
    public static func groupNormBackwardApply(
        x: UnsafePointer<Float>, dh: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int,
        mean: Float, rstd: Float, m1: Float, m2: Float, overwrite: Bool
    ) {
        FastMath.groupNormBackwardApply(x: x, dh: dh, dx: dx, count: count, mean: mean, rstd: rstd, m1: m1, m2: m2,
                                        overwrite: overwrite)
    }
}

extension Elementwise512 {
    /// Copies h rows of w floats from `src` (rows w apart) to `dst` (rows wp
    /// apart, wp >= w + 2) and zeroes the two floats after each row: the
    /// direct convolution's zero-bordered planes. Whole 16-float vectors are
    /// copied, so a row's copy runs past its end into the next row's place,
    /// which that row then overwrites; the last rows, whose vectors would read
    /// past the source plane, are copied one float at a time.
    public static func loadRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                h: Int, w: Int, wp: Int) {
        let vecs = (w + 15) / 16, hw = h * w
        for r in 0..<h {
            let s = src + r * w, d = dst + r * wp
            if r * w + vecs * 16 <= hw {
                for v in 0..<vecs { FastMath.store(FastMath.load(s, v * 16), d, v * 16) }
            } else {
                for c in 0..<w { d[c] = s[c] }
            }
            d[w] = 0; d[w + 1] = 0
        }
    }

    /// loadRows with GroupNorm's normalise + affine + SiLU + bias applied on the
    /// way (the same operations per element as `affineSiLU`): the plane of a
    /// convolution whose input is that GroupNorm's output, without writing the
    /// output out first (inference). The last rows go through `affineSiLU`
    /// row by row (whole vectors, then one partly filled).
    public static func loadRowsAffineSiLU(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                          h: Int, w: Int, wp: Int, a: Float, b: Float, tb: Float) {
        let vecs = (w + 15) / 16, hw = h * w
        for r in 0..<h {
            let s = src + r * w, d = dst + r * wp
            if r * w + vecs * 16 <= hw {
                for v in 0..<vecs { FastMath.store(FastMath.affineSiLU(FastMath.load(s, v * 16), a: a, b: b, tb: tb), d, v * 16) }
            } else {
                FastMath.affineSiLU(s, d, count: w, a: a, b: b, tb: tb)
            }
            d[w] = 0; d[w + 1] = 0
        }
    }

    /// dst[r * w + c] (= or +=) src[r * wp + c] + bias for h rows of w floats:
    /// the direct convolution's output copy. Each row is covered by whole
    /// vectors (16 floats, or 8 or 4 for narrower rows), the last one ending
    /// at the row's end and overlapping the one before it; the last vector is
    /// computed before any store that touches it, so the overlap is written
    /// twice with the same value (with `accumulate` too). Rows narrower than
    /// 4 go one float at a time.
    public static func storeRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                 h: Int, w: Int, wp: Int, bias: Float, accumulate: Bool) {
        if w >= 16 {
            if w <= 32 {
                storeRows2(src, dst, h: h, w: w, wp: wp, bias: bias, accumulate: accumulate, as: SIMD16<Float>.self)
            } else {
                storeRowsWide(src, dst, h: h, w: w, wp: wp, bias: bias, accumulate: accumulate)
            }
        } else if w >= 8 {
            storeRows2(src, dst, h: h, w: w, wp: wp, bias: bias, accumulate: accumulate, as: SIMD8<Float>.self)
        } else if w >= 4 {
            storeRows2(src, dst, h: h, w: w, wp: wp, bias: bias, accumulate: accumulate, as: SIMD4<Float>.self)
        } else {
            for r in 0..<h {
                let s = src + r * wp, d = dst + r * w
                for c in 0..<w { if accumulate { d[c] += s[c] + bias } else { d[c] = s[c] + bias } }
            }
        }
    }

    /// Rows of S.scalarCount <= w <= 2 S.scalarCount floats: two vectors a row, at 0 and w - width.
    @inline(__always)
    static func storeRows2<S: SIMD>(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                    h: Int, w: Int, wp: Int, bias: Float, accumulate: Bool, as: S.Type)
    where S.Scalar == Float {
        let vb = S(repeating: bias), last = w - S.scalarCount
        for r in 0..<h {
            let s = UnsafeRawPointer(src + r * wp), d = UnsafeMutableRawPointer(dst + r * w)
            var v0 = s.loadUnaligned(as: S.self) + vb
            var v1 = s.loadUnaligned(fromByteOffset: 4 * last, as: S.self) + vb
            if accumulate {
                v0 = d.loadUnaligned(as: S.self) + v0
                v1 = d.loadUnaligned(fromByteOffset: 4 * last, as: S.self) + v1
            }
            d.storeBytes(of: v0, as: S.self)
            d.storeBytes(of: v1, toByteOffset: 4 * last, as: S.self)
        }
    }

    /// Rows wider than 32: 16-float vectors, the last one ending at the row's end.
    static func storeRowsWide(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                              h: Int, w: Int, wp: Int, bias: Float, accumulate: Bool) {
        let vb = V(repeating: bias), last = w - 16
        for r in 0..<h {
            let s = src + r * wp, d = dst + r * w
            // The last vector first, from the row as it was.
            var tail = FastMath.load(s, last) + vb
            if accumulate { tail = FastMath.load(d, last) + tail }
            var c = 0
            while c + 16 <= last {
                let v = FastMath.load(s, c) + vb
                FastMath.store(accumulate ? FastMath.load(d, c) + v : v, d, c)
                c += 16
            }
            if c < last {
                let v = FastMath.load(s, c) + vb
                FastMath.store(accumulate ? FastMath.load(d, c) + v : v, d, c)
            }
            FastMath.store(tail, d, last)
        }
    }
}
