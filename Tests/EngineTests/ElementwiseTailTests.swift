// ElementwiseTailTests.swift: the element-wise kernels' last, partly filled
// vector gives every float the bits the one-float path gives it.
import XCTest
import SIMDMath
import Kernels512
@testable import Compute

final class ElementwiseTailTests: XCTestCase {
    /// Reproducible values in [-6, 6) (SiLU's interesting range) with some exact zeros.
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = RNG(seed: seed)
        return (0..<n).map { i in i % 11 == 3 ? 0 : Float(rng.uniform() * 12 - 6) }
    }

    /// The weight gradients' transpose of one image's planes to [position][channel]: the AVX-512
    /// 16 x 16 blocks give exactly the scalar copy (the U-Net's plane sizes, whole blocks and tails,
    /// channels that are not 16k left to the scalar copy), and nothing past the image is written.
    func testTransposeImageBlocksMatchTheScalarCopy() throws {
        guard Backend.avx512.isAvailable else { throw XCTSkip("this CPU lacks AVX-512") }
        for (channels, positions) in [(16, 784), (32, 196), (64, 49), (32, 16), (16, 15), (48, 50), (8, 784), (20, 33)] {
            let n = 3, b = 1
            let src = values(channels * n * positions, seed: UInt64(channels * 1000 + positions))
            let len = channels * positions
            var scalar = [Float](repeating: .nan, count: len + 16), wide = scalar
            src.withUnsafeBufferPointer { s in
                scalar.withUnsafeMutableBufferPointer {
                    DirectConv.transposeImage(s.baseAddress!, n: n, b: b, channels: channels, positions: positions, into: $0.baseAddress!)
                }
                wide.withUnsafeMutableBufferPointer {
                    DirectConv.transposeImage(s.baseAddress!, n: n, b: b, channels: channels, positions: positions, into: $0.baseAddress!, wide: true)
                }
            }
            for p in 0..<positions { for c in 0..<channels {
                XCTAssertEqual(scalar[p * channels + c].bitPattern, src[(c * n + b) * positions + p].bitPattern)
            } }
            XCTAssertEqual(wide.prefix(len).map(\.bitPattern), scalar.prefix(len).map(\.bitPattern), "\(channels) x \(positions)")
            XCTAssertTrue(wide.suffix(16).allSatisfy(\.isNaN), "nothing written past the image")
        }
    }

    /// The stride-2 convolution's phase planes, built 16 input floats at a
    /// time, hold exactly what their definition says: phase (py, px) row u,
    /// column v is input row 2u + py - 1, column 2v + px - 1, or 0 outside
    /// the image; each phase ends in zeros to its length. Widths from 1 to
    /// 40 (whole 16s, tails, odd), for the 3x3 (k = 3) and 4x4 (k = 4) shapes.
    func testStridedPhaseSplitMatchesItsDefinition() {
        for k in [3, 4] {
            for w in 1...40 {
                let h = w % 5 + 2, ho = (h + 2 - k) / 2 + 1, wo = (w + 2 - k) / 2 + 1
                guard ho > 0, wo > 0 else { continue }
                let hq = ho + 1, wq = wo + 1, phaseLen = hq * wq + 9
                let src = values(h * w, seed: UInt64(100 * k + w)).map { $0 == 0 ? 0.5 : $0 }
                var got = [Float](repeating: .nan, count: 4 * phaseLen + 8)
                src.withUnsafeBufferPointer { s in
                    got.withUnsafeMutableBufferPointer {
                        DirectConv.splitPhases(s.baseAddress!, h: h, w: w, hq: hq, wq: wq, into: $0.baseAddress!, phaseLen: phaseLen)
                    }
                }
                var want = [Float](repeating: 0, count: 4 * phaseLen)
                for ph in 0..<4 {
                    let py = ph / 2, px = ph % 2
                    for u in 0..<hq {
                        for v in 0..<wq {
                            let r = 2 * u + py - 1, c = 2 * v + px - 1
                            if r >= 0 && r < h && c >= 0 && c < w { want[ph * phaseLen + u * wq + v] = src[r * w + c] }
                        }
                    }
                }
                XCTAssertEqual(Array(got[..<(4 * phaseLen)]), want, "k=\(k) \(h)x\(w)")
                XCTAssertTrue(got[(4 * phaseLen)...].allSatisfy { $0.isNaN }, "k=\(k) \(h)x\(w): written past the planes")
            }
        }
    }

    /// The AVX2 convolution's row store (its output rows wp apart, plus the
    /// bias, = or +=): every float is the scalar loop's bit for bit, at every
    /// row width up to 40 and the U-Net's (7, 14, 28; wp = w and w + 2), so
    /// an accumulated float is added once where the last vector overlaps;
    /// nothing past the rows is written.
    func testAVX2RowStoreMatchesTheScalarLoop() {
        for w in Array(1...40) + [49, 196, 784] {
            for (h, wp) in [(1, w), (3, w), (3, w + 2), (2, w + 9)] {
                let src = values(h * wp, seed: UInt64(w * 100 + wp)), old = values(h * w, seed: UInt64(w))
                let bias: Float = 0.37
                for accumulate in [false, true] {
                    var want = old + [Float](repeating: .nan, count: 8), got = want
                    for r in 0..<h { for c in 0..<w {
                        if accumulate { want[r * w + c] += src[r * wp + c] + bias } else { want[r * w + c] = src[r * wp + c] + bias }
                    } }
                    src.withUnsafeBufferPointer { s in
                        got.withUnsafeMutableBufferPointer {
                            DirectConv.storeRows(s.baseAddress!, $0.baseAddress!, h: h, w: w, wp: wp, bias: bias, accumulate: accumulate)
                        }
                    }
                    XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "w \(w), h \(h), wp \(wp), accumulate \(accumulate)")
                }
            }
        }
    }

    /// GroupNorm's affine + SiLU over counts with every tail length (and the
    /// plane sizes the U-Net has): each output equals the one-float version's
    /// bit for bit, and nothing past `count` is written.
    func testAffineSiLUTailMatchesOneFloatPath() {
        let counts = Array(0...40) + [49, 196, 784]
        for wide in [false, true] where !wide || Backend.avx512.isAvailable {
            for count in counts {
                let x = values(count, seed: UInt64(count))
                var y = [Float](repeating: .nan, count: count + 16)
                let (a, b, tb): (Float, Float, Float) = (1.37, -0.21, 0.05)
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        Kernels.affineSiLU(xp.baseAddress!, yp.baseAddress!, count: count, a: a, b: b, tb: tb, wide: wide)
                    }
                }
                for i in 0..<count {
                    let want = FastMath.affineSiLU(x[i], a: a, b: b, tb: tb)
                    XCTAssertEqual(y[i].bitPattern, want.bitPattern, "wide \(wide), count \(count), float \(i)")
                }
                XCTAssertTrue(y[count...].allSatisfy { $0.isNaN }, "wide \(wide), count \(count): wrote past the end")
            }
        }
    }

    /// GroupNorm's backward over a plane: dh and the five sums equal, bit for
    /// bit, those of the loop that did the tail one float at a time (kept here
    /// as the reference), with and without SiLU and dropout's mask.
    func testGroupNormBackwardPlaneTailMatchesOneFloatPath() {
        typealias V = FastMath.V
        func reference(x: [Float], dy: [Float], mask: [Float]?, count: Int, m: Float, r: Float, gamma: Float, beta: Float,
                       silu: Bool, start: [Float]) -> (dh: [Float], sums: [Float]) {
            var dh = [Float](repeating: .nan, count: count + 16)
            var dgam = start[0], dbet = start[1], dtb = start[2], s1 = start[3], s2 = start[4]
            var vgam = V(), vbet = V(), vtb = V(), vs1 = V(), vs2 = V()
            func ld(_ a: [Float], _ i: Int) -> V { V(a[i..<(i + 16)]) }
            var i = 0
            while i + 16 <= count {
                let xh = (ld(x, i) - m) * r
                var d = ld(dy, i)
                if let mask { d *= ld(mask, i) }
                vtb += d
                if silu { let gv = xh * gamma + beta, sg = FastMath.sigmoid(gv); d *= sg * (1 + gv * (1 - sg)) }
                vgam += d * xh; vbet += d
                let dxh = d * gamma
                vs1 += dxh; vs2 += dxh * xh
                for j in 0..<16 { dh[i + j] = dxh[j] }
                i += 16
            }
            dgam += vgam.sum(); dbet += vbet.sum(); dtb += vtb.sum(); s1 += vs1.sum(); s2 += vs2.sum()
            while i < count {
                let xh = (x[i] - m) * r
                var d = dy[i]
                if let mask { d *= mask[i] }
                dtb += d
                if silu { let gv = xh * gamma + beta, sg = FastMath.sigmoid(gv); d *= sg * (1 + gv * (1 - sg)) }
                dgam += d * xh; dbet += d
                let dxh = d * gamma
                s1 += dxh; s2 += dxh * xh
                dh[i] = dxh
                i += 1
            }
            return (dh, [dgam, dbet, dtb, s1, s2])
        }
        let counts = Array(1...40) + [49, 196, 784]
        for wide in [false, true] where !wide || Backend.avx512.isAvailable {
            for count in counts {
                for (silu, masked) in [(true, false), (false, false), (true, true)] {
                    let x = values(count, seed: 7 &+ UInt64(count)), dy = values(count, seed: 99 &+ UInt64(count))
                    let mask: [Float]? = masked ? values(count, seed: 5).map { $0 > 0 ? 1.25 : 0 } : nil
                    let (m, r, gamma, beta): (Float, Float, Float, Float) = (0.3, 0.8, 1.1, -0.4)
                    var sums: [Float] = [0.5, -0.25, 0.125, 1, -1]   // the kernel adds to what is there
                    let want = reference(x: x, dy: dy, mask: mask, count: count, m: m, r: r, gamma: gamma, beta: beta,
                                         silu: silu, start: sums)
                    var dh = [Float](repeating: .nan, count: count + 16)
                    var got = (dgam: sums[0], dbet: sums[1], dtb: sums[2], s1: sums[3], s2: sums[4])
                    let maskCopy = mask ?? []
                    x.withUnsafeBufferPointer { xp in dy.withUnsafeBufferPointer { dyp in maskCopy.withUnsafeBufferPointer { mp in
                        dh.withUnsafeMutableBufferPointer { dhp in
                            Kernels.groupNormBackwardPlane(x: xp.baseAddress!, dy: dyp.baseAddress!, mask: masked ? mp.baseAddress! : nil,
                                                           dh: dhp.baseAddress!, count: count, mean: m, rstd: r, gamma: gamma, beta: beta,
                                                           silu: silu, dgam: &got.dgam, dbet: &got.dbet, dtb: &got.dtb,
                                                           s1: &got.s1, s2: &got.s2, wide: wide)
                        }
                    } } }
                    sums = [got.dgam, got.dbet, got.dtb, got.s1, got.s2]
                    let what = "wide \(wide), count \(count), silu \(silu), mask \(masked)"
                    XCTAssertEqual(sums.map(\.bitPattern), want.sums.map(\.bitPattern), what)
                    XCTAssertEqual(dh.map(\.bitPattern), want.dh.map(\.bitPattern), what)
                }
            }
        }
    }

    /// The AVX-512 plane loader with GroupNorm's affine + SiLU (whole vectors
    /// running past each row, the last rows through `affineSiLU`): every
    /// float of every row has the one-float path's bits and the two floats
    /// after each row are 0, for rows of every width up to 40.
    func testLoadRowsAffineSiLUMatchesOneFloatPath() throws {
        guard Backend.avx512.isAvailable else { throw XCTSkip("this CPU lacks AVX-512: Elementwise512 does not run here") }
        let (a, b, tb): (Float, Float, Float) = (0.9, 0.15, -0.3)
        for w in 1...40 {
            for h in [1, 2, 3, 7] {
                let wp = w + 2, x = values(h * w, seed: UInt64(w * 8 + h))
                var dst = [Float](repeating: .nan, count: h * wp + 64)
                x.withUnsafeBufferPointer { xp in
                    dst.withUnsafeMutableBufferPointer { dp in
                        Elementwise512.loadRowsAffineSiLU(xp.baseAddress!, dp.baseAddress!, h: h, w: w, wp: wp, a: a, b: b, tb: tb)
                    }
                }
                for r in 0..<h {
                    for c in 0..<w {
                        let want = FastMath.affineSiLU(x[r * w + c], a: a, b: b, tb: tb)
                        XCTAssertEqual(dst[r * wp + c].bitPattern, want.bitPattern, "w \(w), h \(h), row \(r), float \(c)")
                    }
                    XCTAssertEqual(dst[r * wp + w], 0, "w \(w), h \(h), row \(r)"); XCTAssertEqual(dst[r * wp + w + 1], 0)
                }
            }
        }
    }

    /// The AVX2 loader's rows (one run through affineSiLU, then each row moved
    /// to its place): every float the one-float path's bits, both border
    /// floats zero, nothing written outside the h x wp rows, for every width
    /// it takes and the U-Net's band heights.
    func testAVX2LoadRowsAffineSiLUMatchesOneFloatPath() {
        let (a, b, tb): (Float, Float, Float) = (0.9, 0.15, -0.3)
        for w in 1...32 {
            for h in [1, 2, 3, 7, 14, 15, 28] {
                let wp = w + 2, x = values(h * w, seed: UInt64(w * 64 + h))
                var dst = [Float](repeating: .nan, count: h * wp + 48)
                x.withUnsafeBufferPointer { xp in
                    dst.withUnsafeMutableBufferPointer { dp in
                        DirectConv.loadRowsAffineSiLU(xp.baseAddress!, dp.baseAddress! + 16, h: h, w: w, wp: wp, a: a, b: b, tb: tb)
                    }
                }
                XCTAssertTrue(dst.prefix(16).allSatisfy(\.isNaN), "w \(w), h \(h): wrote before the rows")
                XCTAssertTrue(dst.suffix(32).allSatisfy(\.isNaN), "w \(w), h \(h): wrote past the rows")
                for r in 0..<h {
                    for c in 0..<w {
                        let want = FastMath.affineSiLU(x[r * w + c], a: a, b: b, tb: tb)
                        XCTAssertEqual(dst[16 + r * wp + c].bitPattern, want.bitPattern, "w \(w), h \(h), row \(r), float \(c)")
                    }
                    XCTAssertEqual(dst[16 + r * wp + w], 0, "w \(w), h \(h), row \(r)")
                    XCTAssertEqual(dst[16 + r * wp + w + 1], 0, "w \(w), h \(h), row \(r)")
                }
            }
        }
    }
}
