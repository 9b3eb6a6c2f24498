// FastMath.swift: vectorised exp and sigmoid.
/// Vectorised exp and sigmoid for the element-wise kernels.
///
/// A module of its own, all `@inlinable`: the code is compiled into each
/// caller with the caller's target (AVX2 in Compute, AVX-512 in Kernels512),
/// so both get full-width vectors and the same operations in the same order.
///
/// exp: range reduction x = n ln2 + r (Cody-Waite, two constants), a degree-6
/// Taylor polynomial for e^r on |r| <= ln2/2, and 2^n built in the exponent
/// bits. Relative error < 2.5e-7 (2 ulp) over [-87, 88] (FastMathTests).
public enum FastMath {
    public typealias V = SIMD16<Float>

    @_transparent
    public static func exp(_ x0: V) -> V {
        // Clamp with compares + selects (Swift's generic clamped() is not vectorised).
        var x = x0
        x.replace(with: V(repeating: -87.3), where: x .< -87.3)
        x.replace(with: V(repeating: 88.3), where: x .> 88.3)
        // Round x log2(e) to the nearest integer with the 1.5 * 2^23 trick; the
        // integer is then sitting in the low mantissa bits.
        let magic: Float = 12_582_912
        let t = x * 1.442695040888963 + magic
        let n = t - magic
        let r = x - n * 0.693145751953125 - n * 1.428606765330187e-06
        var p = V(repeating: 1.0 / 720)
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
        let bits = (ni &+ 127) &<< 23
        return p * unsafeBitCast(bits, to: V.self)
    }

    @_transparent
    public static func sigmoid(_ x: V) -> V { 1 / (1 + exp(-x)) }

    /// Scalar version through the same code path (tails use it, so a value's
    /// sigmoid does not depend on where it sits in a buffer).
    @_transparent
    public static func sigmoid(_ x: Float) -> Float { sigmoid(V(repeating: x))[0] }

    /// g sigmoid(g) + tb with g = x a + b: GroupNorm's normalise + affine,
    /// SiLU and the time-embedding bias in one.
    @_transparent
    public static func affineSiLU(_ x: V, a: Float, b: Float, tb: Float) -> V {
        let g = x * a + b
        return g * sigmoid(g) + tb
    }

    /// The same for one float, through the same sigmoid (the tests' reference for the tails).
    @_transparent
    public static func affineSiLU(_ x: Float, a: Float, b: Float, tb: Float) -> Float {
        let g = x * a + b
        return g * sigmoid(g) + tb
    }

    /// y[i] = affineSiLU(x[i]) for i in 0..<count: 16-float vectors, the
    /// last one partly filled (every lane's result is what the float version
    /// gives, and one exp for the tail instead of one per float: rows of 7, 14
    /// or 28 are mostly tail).
    @_transparent
    public static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                                  a: Float, b: Float, tb: Float) {
        var i = 0
        while i + 16 <= count { store(affineSiLU(load(x, i), a: a, b: b, tb: tb), y, i); i += 16 }
        if i < count { storePartial(affineSiLU(loadPartial(x + i, count - i), a: a, b: b, tb: tb), y + i, count - i) }
    }

    /// GroupNorm's backward over one channel plane of `count` floats (see
    /// GroupNorm.backward): with xh = (x - mean) rstd and d = dy (times the
    /// dropout mask, then times SiLU's derivative at xh gamma + beta when
    /// `silu`), adds d xh to dgam, d to dbet, dy mask to dtb, d gamma to s1
    /// and d gamma xh to s2, and writes d gamma to dh. 16-float vectors, then
    /// the tail's values in one partly filled vector, added to the sums a
    /// float at a time after the vectors' partial sums (the order the
    /// one-float loop had, so the same bits).
    @_transparent
    public static func groupNormBackwardPlane(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        dh: UnsafeMutablePointer<Float>, count: Int, mean m: Float, rstd r: Float, gamma: Float, beta: Float,
        silu: Bool, dgam: inout Float, dbet: inout Float, dtb: inout Float, s1: inout Float, s2: inout Float
    ) {
        var vgam = V(), vbet = V(), vtb = V(), vs1 = V(), vs2 = V()
        var i = 0
        while i + 16 <= count {
            let xh = (load(x, i) - m) * r
            var d = load(dy, i)
            if let mask { d *= load(mask, i) }
            vtb += d
            if silu {
                let gv = xh * gamma + beta
                let sg = sigmoid(gv)
                d *= sg * (1 + gv * (1 - sg))
            }
            vgam += d * xh
            vbet += d
            let dxh = d * gamma
            vs1 += dxh
            vs2 += dxh * xh
            store(dxh, dh, i)
            i += 16
        }
        dgam += vgam.sum(); dbet += vbet.sum(); dtb += vtb.sum()
        s1 += vs1.sum(); s2 += vs2.sum()
        guard i < count else { return }
        // The tail: the per-float values in one partly filled vector (one
        // sigmoid, not one per float), then added a float at a time in order.
        let k = count - i
        let xh = (loadPartial(x + i, k) - m) * r
        var d = loadPartial(dy + i, k)
        if let mask { d *= loadPartial(mask + i, k) }
        let dm = d
        if silu {
            let gv = xh * gamma + beta
            let sg = sigmoid(gv)
            d *= sg * (1 + gv * (1 - sg))
        }
        let dxh = d * gamma, dgx = d * xh, dxx = dxh * xh
        for j in 0..<k {
            dtb += dm[j]
            dgam += dgx[j]
            dbet += d[j]
            s1 += dxh[j]
            s2 += dxx[j]
        }
        storePartial(dxh, dh + i, k)
    }

    /// GroupNorm's backward, second pass over one plane: dx (= or +=)
    /// rstd (dh - m1 - xh m2).
    @_transparent
    public static func groupNormBackwardApply(
        x: UnsafePointer<Float>, dh: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, count: Int,
        mean m: Float, rstd r: Float, m1: Float, m2: Float, overwrite: Bool
    ) {
        var i = 0
        while i + 16 <= count {
            let xh = (load(x, i) - m) * r
            let v = r * (load(dh, i) - m1 - xh * m2)
            store(overwrite ? v : load(dx, i) + v, dx, i)
            i += 16
        }
        while i < count {
            let xh = (x[i] - m) * r
            let v = r * (dh[i] - m1 - xh * m2)
            dx[i] = overwrite ? v : dx[i] + v
            i += 1
        }
    }

    /// The first `count` floats at p in a vector, the other lanes 0 (reads
    /// only those floats; a count past 16 is taken as 16): the floats left
    /// after whole vectors.
    @inlinable @inline(__always)
    public static func loadPartial(_ p: UnsafePointer<Float>, _ count: Int) -> V {
        var v = V()
        let n = min(max(count, 0), 16)
        withUnsafeMutableBytes(of: &v) { $0.baseAddress!.copyMemory(from: p, byteCount: n * 4) }
        return v
    }

    /// Writes the first `count` lanes of v to p (a count past 16 is taken as 16).
    @usableFromInline @inline(__always)
    static func storePartial(_ v: V, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
        let n = min(max(count, 0), 16)
        withUnsafeBytes(of: v) { UnsafeMutableRawPointer(p).copyMemory(from: $0.baseAddress!, byteCount: n * 4) }
    }

    @_transparent
    public static func load(_ p: UnsafePointer<Float>, _ i: Int) -> V {
        UnsafeRawPointer(p + i).loadUnaligned(as: V.self)
    }

    @_transparent
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: V.self)
    }
}
