import XCTest
@testable import Compute
@testable import Engine

/// PyTorch-style initial weights with the norm parameters perturbed, so they
/// are not trivially 1 and 0 in a gradient check.
func perturbedParams(_ net: UNet, seed: UInt64) -> FloatBuffer {
    let params = FloatBuffer(count: net.parameterCount)
    var rng = RNG(seed: seed)
    net.layout.initialize(params.ptr, rng: &rng)
    for e in net.layout.entries where e.name.contains("norm") || e.name.hasPrefix("conv_out.0") {
        for i in 0..<e.count { params.ptr[e.offset + i] += Float(rng.normal()) * 0.2 }
    }
    return params
}

final class UNetTests: XCTestCase {
    func testParameterCountsMatchPyTorch() throws {
        XCTAssertEqual(try UNet(.tiny).parameterCount, 396_801)
        XCTAssertEqual(try UNet(.small).parameterCount, 4_333_505)
        let tiny = try UNet(.tiny)
        XCTAssertEqual(tiny.layout.entries.first?.name, "time_emb.1.weight")
        XCTAssertEqual(tiny.layout["downs.0.conv1.weight"]?.shape, [16, 16, 3, 3])
        XCTAssertEqual(tiny.layout["ups.3.weight"]?.shape, [32, 32, 4, 4])
        XCTAssertEqual(tiny.layout.entries.last?.name, "conv_out.2.bias")
        XCTAssertThrowsError(try UNet(UNetConfig(nChannels: 32, chMults: [1, 2, 2, 4], imageSize: 28)))
        // The names commands print: the bundled model is Tiny with attention at 7x7.
        var attn = UNetConfig.tiny; attn.attention = [2]
        XCTAssertEqual(try UNet(attn).parameterCount, 426_817)
        XCTAssertEqual(attn.name, "tiny + attention at 7x7")
        attn.learnSigma = true
        XCTAssertEqual(attn.name, "tiny + attention at 7x7 + learned variance")
        var small = UNetConfig.small; small.attention = [1, 2]
        XCTAssertEqual(small.name, "small + attention at 16x16, 8x8")
        small.nBlocks = 1
        XCTAssertEqual(small.name, "custom(c32,1-2-2-4,b1,s32,attn1-2)")
        XCTAssertEqual(UNetConfig.tiny.name, "tiny")
    }

    /// A model and everything it owns is freed when the last reference goes
    /// (no retain cycles: the sanitizer's leak check relies on it).
    func testModelIsFreed() throws {
        weak var weakNet: UNet?
        weak var weakWs: Workspace?
        do {
            let net = try UNet(UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, attention: [1]))
            let p = FloatBuffer(count: net.parameterCount)
            let x = FloatBuffer(count: 2 * 64)
            var r = RNG(seed: 1)
            net.forward(p.ptr, x: x.ptr, t: [1, 2], mode: .training, rng: &r)
            let g = FloatBuffer(count: net.parameterCount)
            net.backward(p.ptr, g.ptr, dout: x.ptr)
            withExtendedLifetime(g) {}
            weakNet = net; weakWs = net.ws
        }
        XCTAssertNil(weakNet)
        XCTAssertNil(weakWs)
    }

    /// Whole-model gradient check on a reduced config (parameters and input).
    func testWholeUNetGradient() throws {
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0)
        let net = try UNet(cfg)
        let n = 2
        let params = perturbedParams(net, seed: 1)
        let x = randomBuffer(n * 64, seed: 2)
        let t = [3, 800]
        let check = GradCheck(atol: 3e-3, rtol: 3e-2)
        check.check(params: params, paramCount: net.parameterCount, input: x, inputCount: n * 64, probesPerBuffer: 120,
            forward: { pp, xx in
                var r = RNG(seed: 0)
                let y = net.forward(pp, x: xx, t: t, mode: .evaluation, rng: &r)
                return Array(UnsafeBufferPointer(start: y, count: n * 64))
            },
            backward: { pp, xx, dy, gp, gx in
                net.backward(pp, gp, dout: dy, dx: gx)
            })
    }

    /// A config with attention in the down/up path and the middle: gradients
    /// through every AttentionBlock, parameter names and the FLOP count.
    func testUNetWithAttentionGradient() throws {
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0,
                             attention: [1])
        let net = try UNet(cfg)
        XCTAssertNotNil(net.layout["downs.2.attn.qkv.weight"])
        XCTAssertEqual(net.layout["middle.0.attn.qkv.weight"]?.shape, [48, 16, 1, 1])
        XCTAssertNotNil(net.layout["ups.0.attn.proj.bias"])
        XCTAssertNil(net.layout["downs.0.attn.qkv.weight"], "level 0 has no attention")
        let plain = try UNet(UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8))
        // 4 attention blocks at 16 channels, 4x4: 3 x (4C^2 HW) + 2 x 4 heads x HW^2 x 4 MACs each.
        XCTAssertEqual(net.forwardFLOPsPerImage - plain.forwardFLOPsPerImage, 4 * 2 * (4 * 16 * 16 * 16 + 2 * 4 * 16 * 16 * 4))
        XCTAssertThrowsError(try UNet(UNetConfig(nChannels: 8, chMults: [1, 2], imageSize: 8, attention: [2])))
        // A list longer than the levels (a file's config may hold a million) is named by its length.
        XCTAssertThrowsError(try UNetConfig(nChannels: 8, chMults: [1, 2], imageSize: 8,
                                            attention: Array(repeating: 0, count: 100_000)).validate()) { e in
            XCTAssertTrue("\(e)".contains("attention levels (100000 of them)") && "\(e)".count < 300, "\(e)".prefix(300) + "")
        }
        // The time embedding needs n_channels / 2 >= 2 frequencies (2 or 3 gave NaN, 1 no embedding);
        // an odd width (its last entry 0) loads, as files of such widths were written.
        for c in [1, 2, 3] {
            XCTAssertThrowsError(try UNetConfig(nChannels: c, chMults: [1], imageSize: 8, groups: 1).validate()) { e in
                XCTAssertTrue("\(e)".contains("n_channels must be at least 4"), "\(c): \(e)")
            }
        }
        // Groups that do not divide the width: the message names both, not n_channels alone.
        XCTAssertThrowsError(try UNetConfig(nChannels: 16, chMults: [1], imageSize: 8, groups: 3).validate()) { e in
            XCTAssertEqual("\(e)", "invalid model config: groups 3 does not divide n_channels 16: GroupNorm splits the channels into equal groups")
        }
        XCTAssertThrowsError(try UNetConfig(nChannels: 4096, chMults: [1], imageSize: 8).validate()) { e in
            XCTAssertEqual("\(e)", "invalid model config: n_channels must be in 1...1024; got 4096")
        }
        XCTAssertNoThrow(try UNetConfig(nChannels: 4, chMults: [1], imageSize: 8, groups: 1).validate())
        XCTAssertNoThrow(try UNetConfig(nChannels: 5, chMults: [1], imageSize: 8, groups: 1).validate())
        XCTAssertNil(Classifier.Architecture("8,8,8,16,t2,relu"), "a t embedding of 2 has one frequency: NaN")
        XCTAssertEqual(Classifier.Architecture("8,8,8,16,t4,relu")?.timeDim, 4)
        let n = 2
        let params = perturbedParams(net, seed: 21)
        let x = randomBuffer(n * 64, seed: 22)
        GradCheck(atol: 3e-3, rtol: 3e-2).check(params: params, paramCount: net.parameterCount, input: x,
            inputCount: n * 64, probesPerBuffer: 120,
            forward: { pp, xx in
                var r = RNG(seed: 0)
                let y = net.forward(pp, x: xx, t: [5, 700], mode: .training, rng: &r)
                return Array(UnsafeBufferPointer(start: y, count: n * 64))
            },
            backward: { pp, _, dy, gp, gx in net.backward(pp, gp, dout: dy, dx: gx) })
        // Probes are random: make sure attention parameters are among those checked
        // by checking one attention gradient directly against a central difference.
        let e = net.layout["middle.0.attn.qkv.weight"]!
        var r0 = RNG(seed: 0)
        let w = (0..<(n * 64)).map { _ in Float(r0.normal()) }
        func loss() -> Double {
            var r = RNG(seed: 0)
            let y = net.forward(params.ptr, x: x.ptr, t: [5, 700], mode: .training, rng: &r)
            return (0..<(n * 64)).reduce(0.0) { $0 + Double(w[$1]) * Double(y[$1]) }
        }
        _ = loss()
        let g = FloatBuffer(count: net.parameterCount)
        w.withUnsafeBufferPointer { net.backward(params.ptr, g.ptr, dout: $0.baseAddress!) }
        for j in [0, 100, 300, e.count - 1] {
            let i = e.offset + j, old = params.ptr[i]
            params.ptr[i] = old + 1e-2; let lp = loss()
            params.ptr[i] = old - 1e-2; let lm = loss()
            params.ptr[i] = old
            let num = (lp - lm) / 2e-2
            XCTAssertEqual(Double(g.ptr[i]), num, accuracy: 2e-3 + 2e-2 * abs(num), "qkv[\(j)]")
        }
    }

    /// Dropout in training mode: the backward pass uses the same mask as the forward.
    func testWholeUNetGradientWithDropout() throws {
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0.2)
        let net = try UNet(cfg)
        let n = 2
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 4)
        net.layout.initialize(params.ptr, rng: &rng)
        let x = randomBuffer(n * 64, seed: 5)
        GradCheck(atol: 3e-3, rtol: 3e-2).check(params: params, paramCount: net.parameterCount, input: x,
            inputCount: n * 64, probesPerBuffer: 60,
            forward: { pp, xx in
                var r = RNG(seed: 11) // same mask every call
                let y = net.forward(pp, x: xx, t: [10, 500], mode: .training, rng: &r)
                return Array(UnsafeBufferPointer(start: y, count: n * 64))
            },
            backward: { pp, _, dy, gp, gx in net.backward(pp, gp, dout: dy, dx: gx) })
    }

    /// One image on all cores (each builds and computes a band of output rows
    /// of the 28x28 convolutions) gives the forward of that image on one core
    /// bit for bit (inside a region, where the layers do not split), on both
    /// float kernels, with and without GroupNorm + SiLU fused into the planes.
    func testOneImageOnAllCoresIsTheOneCoreForwardBitForBit() throws {
        for backend in [Backend.avx512, .avx2] where backend.isAvailable {
            var attended = UNetConfig.tiny; attended.attention = [2]; attended.selfCondition = true
            for cfg in [UNetConfig.tiny, attended] {
                let net = try UNet(cfg, backend: backend), single = try UNet(cfg, backend: backend)
                let params = FloatBuffer(count: net.parameterCount)
                var rng = RNG(seed: 3)
                net.layout.initialize(params.ptr, rng: &rng)
                let x = randomBuffer(cfg.selfCondition ? 2 * 784 : 784, seed: 11)
                for t in [0, 377, 999] {
                    var r = RNG(seed: 0)
                    let split = Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x.ptr, t: [t], mode: .inference(packGeneration: 1), rng: &r), count: 784))
                    var alone = [Float](repeating: .nan, count: 784)
                    Parallel.runBalanced(Parallel.cores) { _, i in
                        guard i == 0 else { return }
                        XCTAssertEqual(Parallel.available, 1)
                        var r = RNG(seed: 0)
                        let y = single.forward(params.ptr, x: x.ptr, t: [t], mode: .inference(packGeneration: 1), rng: &r)
                        for j in 0..<784 { alone[j] = y[j] }
                    }
                    XCTAssertEqual(split.map(\.bitPattern), alone.map(\.bitPattern), "\(backend) \(cfg.name) t \(t)")
                }
            }
        }
    }

    /// The band split against the channel split, layer by layer: a 3x3 convolution of one image
    /// on all cores (in bands of rows wherever `DirectConv.bands` takes them) against the same
    /// call inside a region (one core, no split), bit for bit, for images 7 to 32 rows high, with
    /// and without accumulating into y and GroupNorm + SiLU fused into the planes, on both float
    /// backends; and the bands do run (28x28 everywhere, 14x14 on AVX2).
    func testBandsAreTheOneCoreConvolutionBitForBit() throws {
        guard Parallel.cores >= 2 else { throw XCTSkip("one core: nothing is split") }
        var banded = 0
        for backend in [Backend.avx512, .avx2] where backend.isAvailable {
            for side in [7, 8, 14, 16, 28, 32] {
                for (cin, cout) in [(1, 16), (16, 16), (48, 16)] {
                    if DirectConv.bands(n: 1, h: side, w: side, wide: backend.wide) != nil { banded += 1 }
                    for accumulate in [false, true] {
                        for fused in [false, true] {
                            var rng = RNG(seed: UInt64(side * 1000 + cin * 10 + (fused ? 1 : 0)))
                            func random(_ n: Int, _ scale: Float = 1) -> FloatBuffer {
                                let f = FloatBuffer(count: n)
                                for i in 0..<n { f.ptr[i] = Float(rng.normal()) * scale }
                                return f
                            }
                            let hw = side * side
                            let w = random(cout * cin * 9, 0.2), bias = random(cout), x = random(cin * hw)
                            let a = random(cin), b = random(cin), tb = random(cin), y0 = random(cout * hw)
                            let f = fused ? DirectConv.AffineSiLU(a: a.ptr, b: b.ptr, tb: tb.ptr) : nil
                            func run(_ ws: Workspace) -> [Float] {
                                let y = FloatBuffer(count: cout * hw)
                                y.ptr.update(from: y0.ptr, count: cout * hw)
                                Conv2d.direct(weight: w.ptr, bias: bias.ptr, cin: cin, cout: cout, x: x.ptr, y: y.ptr, n: 1, h: side, w: side,
                                              ws: ws, accumulate: accumulate, affineSiLU: f)
                                return Array(UnsafeBufferPointer(start: y.ptr, count: cout * hw))
                            }
                            let ws = Workspace(backend: backend, unet: true), one = Workspace(backend: backend, unet: true)
                            ws.mode = .inference(packGeneration: 0); one.mode = .inference(packGeneration: 0)
                            let split = run(ws)
                            var alone: [Float] = []
                            Parallel.runBalanced(Parallel.cores) { _, i in if i == 0 { alone = run(one) } }
                            XCTAssertEqual(split.map(\.bitPattern), alone.map(\.bitPattern),
                                           "\(backend) \(side)x\(side) \(cin) -> \(cout) accumulate \(accumulate) fused \(fused)")
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThanOrEqual(banded, 3, "28x28 splits into bands on AVX-512, 28x28 and 14x14 on AVX2")
    }

    /// Batch results do not depend on batch composition (no cross-image leakage).
    func testBatchIndependence() throws {
        let net = try UNet(.tiny)
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 1)
        net.layout.initialize(params.ptr, rng: &rng)
        let x = randomBuffer(3 * 784, seed: 9)
        var r = RNG(seed: 0)
        let all = Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x.ptr, t: [5, 500, 900], mode: .evaluation, rng: &r), count: 3 * 784))
        let one = Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x.ptr + 784, t: [500], mode: .evaluation, rng: &r), count: 784))
        for i in 0..<784 { XCTAssertEqual(all[784 + i], one[i], accuracy: 1e-4) }
    }
}
