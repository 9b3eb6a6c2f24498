import CSIMD
import Kernels512
import XCTest
@testable import Compute
@testable import Engine

/// The bf16 backend: bfloat16 rounding, the bfloat16 tile against a float64
/// reference of the same rounded operands, and a U-Net's sampling pass
/// against the float kernels.
final class BF16Tests: XCTestCase {
    override func setUpWithError() throws {
        guard Backend.bf16.isAvailable else { throw XCTSkip("this CPU lacks AVX-512 with BF16") }
    }

    /// Round to nearest, ties to even, on hand-made bit patterns.
    func testRoundingIsToNearestEven() {
        func bits(_ u: UInt32) -> UInt32 { ddpm_bf16_bits(Float(bitPattern: u)) }
        XCTAssertEqual(bits(0x3f80_0000), 0x3f80)             // 1
        XCTAssertEqual(bits(0x3f80_7fff), 0x3f80)             // just under half an ulp above 1: down
        XCTAssertEqual(bits(0x3f80_8000), 0x3f80)             // exactly half, 1 is even: down
        XCTAssertEqual(bits(0x3f81_8000), 0x3f82)             // exactly half, 0x3f81 is odd: up
        XCTAssertEqual(bits(0x3f80_8001), 0x3f81)             // just over half: up
        XCTAssertEqual(bits(0xbf80_8001), 0xbf81)             // the same, negative
        XCTAssertEqual(bits(0x8000_0000), 0x8000)             // -0
        XCTAssertEqual(bits(0x7f80_0000), 0x7f80)             // +inf
        XCTAssertEqual(bits(0x7f7f_ffff), 0x7f80)             // the largest float rounds to inf
        XCTAssertEqual(bits(0x0000_0001), 0x0000)             // the smallest subnormal rounds to 0
        let nan = bits(0x7fa0_0001)                            // a signalling NaN stays a NaN
        XCTAssertTrue(Float(bitPattern: nan << 16).isNaN)
        XCTAssertTrue(Float(bitPattern: ddpm_bf16_bits(.nan) << 16).isNaN)
    }

    private func rounded(_ v: Float) -> Double { Double(Float(bitPattern: ddpm_bf16_bits(v) << 16)) }

    /// A 3x3 convolution's sampling pass on the bf16 backend equals, to
    /// float rounding, the float64 convolution of the bfloat16-rounded input
    /// and weights plus the float bias; it differs from the float kernel by
    /// no more than bfloat16's rounding allows. Odd and even channel counts,
    /// whole and half tiles (GroupNorm + SiLU on the input: the next test).
    func testConvolutionIsTheRoundedOperandsConvolution() throws {
        for (cin, cout, side, n) in [(1, 16, 28, 3), (3, 8, 7, 2), (16, 16, 28, 2), (48, 16, 28, 1), (64, 32, 14, 3)] {
            var L = ParameterLayout()
            let conv = Conv2d(&L, "c", cin: cin, cout: cout, k: 3, pad: 1)
            let p = FloatBuffer(count: L.count)
            var rng = RNG(seed: UInt64(cin * 100 + side))
            for i in 0..<L.count { p.ptr[i] = Float(rng.normal()) * 0.3 }
            let hw = side * side, inLen = cin * n * hw, outLen = cout * n * hw
            let x = FloatBuffer(count: inLen)
            for i in 0..<inLen { x.ptr[i] = Float(rng.normal()) }
            let yb = FloatBuffer(count: outLen), yf = FloatBuffer(count: outLen)
            let bf = Workspace(backend: .bf16, unet: true)
            bf.mode = .inference(packGeneration: 0)
            let fl = Workspace(backend: .avx512, unet: true)
            fl.mode = .inference(packGeneration: 0)
            conv.forward(p.ptr, x: x.ptr, y: yb.ptr, n: n, h: side, w: side, ws: bf)
            conv.forward(p.ptr, x: x.ptr, y: yf.ptr, n: n, h: side, w: side, ws: fl)
            var worstRounded = 0.0, worstFloat = 0.0, differs = 0
            let w = p.ptr + conv.w, bias = p.ptr + conv.b
            for co in 0..<cout {
                for b in 0..<n {
                    for oy in 0..<side {
                        for ox in 0..<side {
                            var sum = 0.0, mag = 0.0
                            for ci in 0..<cin {
                                for ky in 0..<3 {
                                    for kx in 0..<3 {
                                        let iy = oy + ky - 1, ix = ox + kx - 1
                                        if iy < 0 || iy >= side || ix < 0 || ix >= side { continue }
                                        let xv = x.ptr[(ci * n + b) * hw + iy * side + ix]
                                        let wv = w[((co * cin + ci) * 3 + ky) * 3 + kx]
                                        sum += rounded(xv) * rounded(wv)
                                        mag += abs(Double(xv) * Double(wv))
                                    }
                                }
                            }
                            let i = (co * n + b) * hw + oy * side + ox
                            let want = sum + Double(bias[co])
                            // float sums of 9 cin terms: a few float ulps of the magnitude
                            worstRounded = max(worstRounded, abs(Double(yb.ptr[i]) - want) / (mag + abs(Double(bias[co]))))
                            // each operand off by at most 2^-9 relative: the product by about 2^-8
                            worstFloat = max(worstFloat, abs(Double(yb.ptr[i]) - Double(yf.ptr[i])) / mag)
                            if yb.ptr[i] != yf.ptr[i] { differs += 1 }
                        }
                    }
                }
            }
            XCTAssertLessThan(worstRounded, 1e-6, "\(cin)->\(cout) \(side)x\(side): against the rounded operands")
            XCTAssertLessThan(worstFloat, 1.0 / 128, "\(cin)->\(cout) \(side)x\(side): against the float kernel")
            XCTAssertGreaterThan(differs, outLen / 2, "\(cin)->\(cout) \(side)x\(side): the bfloat16 tile ran")
        }
    }

    /// Values bfloat16 holds exactly (so that the float kernels' products of
    /// them are the bfloat16 tile's, exact in float).
    private func fillRounded(_ p: UnsafeMutablePointer<Float>, _ count: Int, scale: Float, _ rng: inout RNG) {
        for i in 0..<count { p[i] = Float(rounded(Float(rng.normal()) * scale)) }
    }

    /// The tap convolutions' sampling passes on the bf16 backend (1x1,
    /// 3x3 stride 2, the 4x4 stride-2 transposed one; odd and even channel
    /// counts, whole and half tiles, the last image's 1x1 reads at the
    /// buffer's end) on inputs and weights that bfloat16 holds exactly: the
    /// products are then the float kernels' exactly, and only the order of the
    /// float sums differs, so the two agree within 2e-5 of the largest output
    /// (one wrong tap or pair is off by about 1%). Packings: packed per call
    /// (generation 0), cached (generation 1), and repacked when the weights
    /// change (generation 2). Then inputs moved by less than half a bfloat16
    /// step leave the bf16 output as it was, bit for bit: the tile ran.
    func testTapConvolutionsAreTheFloatKernelsOnRoundedOperands() throws {
        typealias Run = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Workspace) -> Void
        var cases: [(String, ParameterLayout, Int, Int, Run)] = []
        for (cin, cout, side, n) in [(16, 32, 28, 3), (3, 8, 7, 2), (32, 16, 14, 1)] {
            var L = ParameterLayout()
            let c = Conv2d(&L, "c", cin: cin, cout: cout, k: 1)
            cases.append(("1x1 \(cin)->\(cout) \(side)", L, cin * n * side * side, cout * n * side * side,
                          { p, x, y, ws in c.forward(p, x: x, y: y, n: n, h: side, w: side, ws: ws) }))
            var L2 = ParameterLayout()
            let s = Conv2d(&L2, "s", cin: cin, cout: cout, k: 3, stride: 2, pad: 1)
            let so = s.outSize(side)
            cases.append(("3x3/2 \(cin)->\(cout) \(side)", L2, cin * n * side * side, cout * n * so * so,
                          { p, x, y, ws in s.forward(p, x: x, y: y, n: n, h: side, w: side, ws: ws) }))
            var L3 = ParameterLayout()
            let t = ConvTranspose2d(&L3, "t", cin: cin, cout: cout, k: 4, stride: 2, pad: 1)
            cases.append(("4x4T \(cin)->\(cout) \(side)", L3, cin * n * side * side, cout * n * 4 * side * side,
                          { p, x, y, ws in t.forward(p, x: x, y: y, n: n, h: side, w: side, ws: ws) }))
        }
        for (name, L, inLen, outLen, run) in cases {
            var rng = RNG(seed: UInt64(inLen))
            let p = FloatBuffer(count: L.count), x = FloatBuffer(count: inLen)
            fillRounded(p.ptr, L.count, scale: 0.3, &rng)
            fillRounded(x.ptr, inLen, scale: 1, &rng)
            let bf = Workspace(backend: .bf16, unet: true), fl = Workspace(backend: .avx512, unet: true)
            func outputs(_ generation: Int) -> (bf16: [Float], float: [Float]) {
                let yb = FloatBuffer(count: outLen), yf = FloatBuffer(count: outLen)
                bf.mode = .inference(packGeneration: generation); fl.mode = .inference(packGeneration: generation)
                run(p.ptr, x.ptr, yb.ptr, bf); run(p.ptr, x.ptr, yf.ptr, fl)
                return (yb.array(outLen), yf.array(outLen))
            }
            for generation in [0, 1] {
                let (a, b) = outputs(generation)
                XCTAssertLessThan(mismatch(b, a), 2e-5, "\(name), generation \(generation)")
            }
            // New weights (halved: still exact in bfloat16) under a new generation are packed anew.
            for i in 0..<L.count { p.ptr[i] *= 0.5 }
            let before = outputs(2)
            XCTAssertLessThan(mismatch(before.float, before.bf16), 2e-5, "\(name), new weights")
            // Inputs moved by 2^-12 of themselves, less than half a bfloat16 step: the
            // bfloat16 tile rounds them back (the same output bit for bit), the float one does not.
            for i in 0..<inLen { x.ptr[i] += x.ptr[i] * 0x1p-12 }
            let after = outputs(2)
            XCTAssertEqual(after.bf16, before.bf16, "\(name): the bfloat16 tile rounds its input")
            XCTAssertNotEqual(after.float, before.float, "\(name): the float kernel sees the change")
        }
    }

    /// GroupNorm + SiLU applied while the 3x3 convolution's planes are built
    /// (the residual blocks' fused path) on the bf16 backend: within 1% of the
    /// float kernels' largest output and not equal to them (the SiLU's float
    /// outputs are rounded, so no exact reference here; the tile itself is
    /// checked exactly above).
    func testFusedGroupNormConvolution() throws {
        let cin = 16, cout = 16, side = 28, n = 2, hw = side * side
        var L = ParameterLayout()
        let conv = Conv2d(&L, "c", cin: cin, cout: cout, k: 3, pad: 1)
        var rng = RNG(seed: 11)
        let p = FloatBuffer(count: L.count), x = FloatBuffer(count: cin * n * hw), coef = FloatBuffer(count: 3 * cin * n)
        for i in 0..<L.count { p.ptr[i] = Float(rng.normal()) * 0.3 }
        for i in 0..<(cin * n * hw) { x.ptr[i] = Float(rng.normal()) }
        for i in 0..<(3 * cin * n) { coef.ptr[i] = Float(rng.normal()) }
        let bf = Workspace(backend: .bf16, unet: true), fl = Workspace(backend: .avx512, unet: true)
        bf.mode = .inference(packGeneration: 0); fl.mode = .inference(packGeneration: 0)
        let yb = FloatBuffer(count: cout * n * hw), yf = FloatBuffer(count: cout * n * hw)
        conv.forwardAffineSiLU(p.ptr, x: x.ptr, coef: coef.ptr, y: yb.ptr, n: n, h: side, w: side, ws: bf)
        conv.forwardAffineSiLU(p.ptr, x: x.ptr, coef: coef.ptr, y: yf.ptr, n: n, h: side, w: side, ws: fl)
        let a = yb.array(cout * n * hw), b = yf.array(cout * n * hw)
        XCTAssertLessThan(mismatch(b, a), 0.01)
        XCTAssertGreaterThan(zip(a, b).filter { $0 != $1 }.count, a.count / 2, "the bfloat16 tile ran")
    }

    /// A U-Net of the bundled model's shape (attention at 7x7, self-conditioning),
    /// from random weights: its sampling pass on the bf16 backend stays within
    /// 1% of the float kernels' output (relative to its largest value), and
    /// its evaluation pass is the float backend's bit for bit.
    func testUNetSamplingPassIsCloseAndOtherPassesExact() throws {
        var config = UNetConfig.tiny
        config.attention = [2]
        config.selfCondition = true
        let fl = try UNet(config, backend: .avx512), bf = try UNet(config, backend: .bf16)
        let params = FloatBuffer(count: fl.parameterCount)
        var init_ = RNG(seed: 4)
        fl.layout.initialize(params.ptr, rng: &init_)
        let n = 4, len = n * fl.config.inputChannels * 28 * 28
        var rng = RNG(seed: 5)
        let x = FloatBuffer(count: len)
        for i in 0..<len { x.ptr[i] = Float(rng.normal()) }
        let t = [999, 600, 250, 10], outLen = n * 28 * 28
        func run(_ net: UNet, _ mode: ForwardMode) -> [Float] {
            var r = RNG(seed: 1)
            return Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x.ptr, t: t, mode: mode, rng: &r), count: outLen))
        }
        let a = run(fl, .inference(packGeneration: 1)), b = run(bf, .inference(packGeneration: 1))
        let m = mismatch(a, b)
        XCTAssertLessThan(m, 0.01, "sampling pass, bf16 against float")
        XCTAssertGreaterThan(m, 0, "the bf16 pass rounds (else it did not run)")
        XCTAssertEqual(run(fl, .evaluation), run(bf, .evaluation), "evaluation passes are float on both")
        print("bf16 sampling pass: largest difference \(m) of the output's largest value")
    }

    /// The AMX tile (amx.c) against the vdpbf16ps tile on the same pair
    /// planes, on small whole numbers (every product and sum exact in float,
    /// so the order of the sums does not matter): equal, element for element.
    /// Pair counts one tile multiply takes whole (1, 8, 16) or in even chunks
    /// (24 as 2 x 12, 40 as 4 x 10), runs of 1 to 4 blocks of 4 output
    /// channels out of up to 6 (as `runAndStore` makes them: 4, then the 2
    /// left), 1, 4 and 9 taps, whole tiles of 64 positions and a last half
    /// tile; planes exactly as long as the reads need, and the output rows
    /// followed by NaNs that must stay (no write past them).
    func testAMXTileIsTheBF16Tile() throws {
        guard DirectConv.amx else { throw XCTSkip("this CPU or kernel does not run AMX tiles") }
        for (cin, blocks, taps, wideLen) in [(1, 4, 9, 96), (16, 4, 9, 864), (32, 6, 1, 224), (48, 3, 9, 64), (80, 6, 4, 32)] {
            let pairs = (cin + 1) / 2, kp = ddpm_amx_chunk(pairs), cout = 4 * blocks
            XCTAssertGreaterThan(kp, 0)
            let offs = (0..<taps).map { ($0 / 3) * 30 + $0 % 3 }
            let planeLen = wideLen + (offs.max() ?? 0)
            var rng = RNG(seed: UInt64(cin * 31 + taps))
            let whole = { (r: inout RNG) -> Float in Float(Int(r.uniform() * 9) - 4) }
            let x = (0..<(cin * planeLen)).map { _ in whole(&rng) }
            let wpk = (0..<(blocks * cin * taps * 4)).map { _ in whole(&rng) }
            var planes = [UInt32](repeating: 0, count: pairs * planeLen)
            ddpm_bf16_pack_planes(x, planeLen, planeLen, cin, &planes, planeLen)
            var paired = [UInt32](repeating: 0, count: blocks * pairs * taps * 4)
            ddpm_bf16_pair_packed(wpk, blocks, cin, taps, &paired)
            var amxW = [UInt32](repeating: 0, count: pairs / kp * taps * cout * 16)
            ddpm_amx_pack_weights(wpk, blocks, cin, taps, kp, &amxW)
            let guardLen = 64, outLen = cout * wideLen
            var want = [Float](repeating: .nan, count: outLen)
            for b in 0..<blocks {
                paired.withUnsafeBufferPointer { w in
                    want.withUnsafeMutableBufferPointer {
                        ddpm_bf16_conv_taps(planes, planeLen, offs, taps, pairs, wideLen, w.baseAddress! + b * pairs * taps * 4,
                                            $0.baseAddress! + b * 4 * wideLen)
                    }
                }
            }
            XCTAssertTrue(want.contains { $0 != 0 })
            // Runs of `group` blocks and what is left, then each block alone (a thread's share of them).
            for runs in [Array(stride(from: 0, to: blocks, by: 4)).map { ($0, min(4, blocks - $0)) }, (0..<blocks).map { ($0, 1) }] {
                var got = [Float](repeating: .nan, count: outLen + guardLen)
                for (b, count) in runs {
                    amxW.withUnsafeBufferPointer { w in
                        got.withUnsafeMutableBufferPointer {
                            ddpm_amx_conv_taps(planes, planeLen, offs, taps, pairs, kp, wideLen, w.baseAddress! + b * 4 * 16, cout,
                                               4 * count, $0.baseAddress! + b * 4 * wideLen)
                        }
                    }
                }
                let differing = zip(got, want).filter { $0 != $1 }.count
                XCTAssertEqual(differing, 0, "cin \(cin), runs \(runs), \(taps) taps, \(wideLen) positions")
                XCTAssertTrue(got[outLen...].allSatisfy(\.isNaN), "cin \(cin), runs \(runs): written past the output rows")
            }
        }
    }

    /// The 3x3 convolution's pair planes built in one pass from x
    /// (Elementwise512.packPairPlane) hold the bits of the float planes'
    /// (loadPlanes, with GroupNorm + SiLU or without) paired by CSIMD: for 28,
    /// 14 and 7 wide images, an odd channel count, the last image of the
    /// batch (whose rows end the buffer).
    func testPairPlanesInOnePassAreTheFloatPlanesPaired() throws {
        for (cin, side, n) in [(4, 28, 2), (3, 14, 3), (32, 7, 2)] {
            let g = DirectConv.Geometry(h: side, w: side, pad: 1, wide: true), hw = side * side
            var rng = RNG(seed: UInt64(cin * side))
            var x = (0..<(cin * n * hw)).map { _ in Float(rng.normal()) * 2 }
            // Values the two roundings could treat differently: subnormals (a zero of
            // their sign), NaNs (quiet, sign and payload kept), infinities, the largest float.
            let special: [UInt32] = [0x0000_0001, 0x007f_ffff, 0x807f_8000, 0x007f_8000, 0x7f80_0001, 0xffc1_2345,
                                     0x7fff_ffff, 0x7f80_0000, 0xff80_0000, 0x7f7f_ffff, 0x3f80_8000, 0x3f81_8000]
            for (i, bits) in special.enumerated() { x[(i * 37) % x.count] = Float(bitPattern: bits) }
            let coef = (0..<(3 * cin * n)).map { _ in Float(rng.normal()) }
            let pairs = (cin + 1) / 2
            for silu in [false, true] {
                for b in 0..<n {
                    var floats = [Float](repeating: .nan, count: cin * g.planeLen)
                    var want = [UInt32](repeating: 1, count: pairs * g.planeLen)
                    // A plane of sentinels after the last: no write past it.
                    var got = [UInt32](repeating: 1, count: (pairs + 1) * g.planeLen)
                    coef.withUnsafeBufferPointer { c in
                        let f = silu ? DirectConv.AffineSiLU(a: c.baseAddress!, b: c.baseAddress! + cin * n, tb: c.baseAddress! + 2 * cin * n) : nil
                        DirectConv.loadPlanes(x, n: n, b: b, cin: cin, g, into: &floats, affineSiLU: f)
                        ddpm_bf16_pack_planes(floats, g.planeLen, g.planeLen, cin, &want, g.planeLen)
                        for p in 0..<pairs {
                            let k0 = 2 * p * n + b, k1 = (2 * p + 1) * n + b, odd = 2 * p + 1 >= cin
                            x.withUnsafeBufferPointer { xp in
                                got.withUnsafeMutableBufferPointer {
                                    Elementwise512.packPairPlane(xp.baseAddress! + k0 * hw, odd ? nil : xp.baseAddress! + k1 * hw,
                                                                 h: side, w: side, silu: silu,
                                                                 a0: c[k0], b0: c[cin * n + k0], tb0: c[2 * cin * n + k0],
                                                                 a1: odd ? 0 : c[k1], b1: odd ? 0 : c[cin * n + k1], tb1: odd ? 0 : c[2 * cin * n + k1],
                                                                 into: $0.baseAddress! + p * g.planeLen, planeLen: g.planeLen)
                                }
                            }
                        }
                    }
                    let differing = zip(got, want).filter { $0 != $1 }.count
                    XCTAssertEqual(differing, 0, "cin \(cin), \(side)x\(side), image \(b), silu \(silu)")
                    XCTAssertTrue(got[(pairs * g.planeLen)...].allSatisfy { $0 == 1 }, "written past the last plane")
                    XCTAssertTrue(want.contains { $0 != 0 })
                }
            }
        }
    }
}

/// The AMX chunk arithmetic, outside BF16Tests (which skips on a CPU without
/// AVX512_BF16) because it is pure arithmetic and runs on any CPU.
final class AMXChunkTests: XCTestCase {
    /// How many pairs one AMX tile multiply takes: all up to 16, else the
    /// largest count from 16 down to 4 dividing them.
    func testAMXChunks() {
        XCTAssertEqual([0, 1, 8, 16, 24, 32, 40, 68, 72, 17, 34].map { ddpm_amx_chunk($0) }, [0, 1, 8, 16, 12, 16, 10, 4, 12, 0, 0])
    }
}
