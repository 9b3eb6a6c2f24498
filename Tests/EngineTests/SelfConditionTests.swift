// SelfConditionTests.swift: a self-conditioned U-Net reads x_t and an x0
// estimate; the trainer feeds it its own first guess, samplers the previous x̂0.
import XCTest
@testable import Compute
@testable import Engine

/// eps^ = 0.3 x_t - 0.1 + 0.001 x0_estimate (small: x̂0 divides by sqrt(ᾱ_t), 0.006 at t = 999), recording each call's estimate (nil: none).
final class EstimateReadingPredictor: NoisePredictor {
    let imageSize: Int
    var estimates: [[Float]?] = []
    init(size: Int) { imageSize = size }
    var readsX0Estimate: Bool { true }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        predictNoise(x, t: t, x0Estimate: nil, out: out)
    }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let len = t.count * imageSize * imageSize
        estimates.append(x0Estimate.map { Array(UnsafeBufferPointer(start: $0, count: len)) })
        for i in 0..<len { out[i] = 0.3 * x[i] - 0.1 + 0.001 * (x0Estimate?[i] ?? 0) }
    }
}

final class SelfConditionTests: XCTestCase {
    let small = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0)

    /// conv_in reads two planes ([N, 2, S, S] laid out as x_t of every image,
    /// then the estimates); gradients through both, parameters and input.
    func testGradientThroughBothInputPlanes() throws {
        var cfg = small; cfg.selfCondition = true
        let net = try UNet(cfg)
        XCTAssertEqual(net.layout["conv_in.weight"]?.shape, [8, 2, 3, 3])
        XCTAssertEqual(cfg.name, "custom(c8,1-2,b1,s8) + self-conditioning")
        let n = 2
        let params = perturbedParams(net, seed: 31)
        let x = randomBuffer(2 * n * 64, seed: 32)
        GradCheck(atol: 3e-3, rtol: 3e-2).check(params: params, paramCount: net.parameterCount, input: x,
            inputCount: 2 * n * 64, probesPerBuffer: 120,
            forward: { pp, xx in
                var r = RNG(seed: 0)
                let y = net.forward(pp, x: xx, t: [7, 650], mode: .evaluation, rng: &r)
                return Array(UnsafeBufferPointer(start: y, count: n * 64))
            },
            backward: { pp, _, dy, gp, gx in net.backward(pp, gp, dout: dy, dx: gx) })
        // The config round-trips through the metadata's JSON; other models' JSON does not mention it.
        let back = try JSONDecoder().decode(UNetConfig.self, from: JSONEncoder().encode(cfg))
        XCTAssertEqual(back, cfg)
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(small), as: UTF8.self).contains("selfCondition"))
    }

    /// The second plane is an input like the first: with its weights at zero
    /// the model is the plain one whatever the estimate, and with the estimate
    /// at zero it is the plain one whatever those weights.
    func testThePlainModelIsTheCaseOfNoEstimate() throws {
        let plain = try UNet(small)
        var cfg = small; cfg.selfCondition = true
        let wide = try UNet(cfg)
        let p = perturbedParams(plain, seed: 41)
        let w = FloatBuffer(count: wide.parameterCount)
        var r = RNG(seed: 42)
        for i in 0..<wide.parameterCount { w.ptr[i] = Float(r.normal()) }
        for e in plain.layout.entries {
            let dst = w.ptr + wide.layout[e.name]!.offset
            if e.name == "conv_in.weight" {
                for o in 0..<8 { (dst + o * 18).update(from: p.ptr + e.offset + o * 9, count: 9) }
            } else {
                dst.update(from: p.ptr + e.offset, count: e.count)
            }
        }
        let n = 3, len = n * 64, t = [0, 400, 999]
        let x = randomBuffer(len, seed: 43), input = FloatBuffer(count: 2 * len)
        input.ptr.update(from: x.ptr, count: len)
        var rr = RNG(seed: 0)
        let want = Array(UnsafeBufferPointer(start: plain.forward(p.ptr, x: x.ptr, t: t, mode: .evaluation, rng: &rr), count: len))
        // Estimate zero, its weights random.
        (input.ptr + len).update(repeating: 0, count: len)
        let zeroEstimate = Array(UnsafeBufferPointer(start: wide.forward(w.ptr, x: input.ptr, t: t, mode: .evaluation, rng: &rr), count: len))
        // Estimate random, its weights zero.
        let e = wide.layout["conv_in.weight"]!
        for o in 0..<8 { (w.ptr + e.offset + o * 18 + 9).update(repeating: 0, count: 9) }
        var r2 = RNG(seed: 44)
        for i in 0..<len { input.ptr[len + i] = Float(r2.normal()) }
        let zeroWeights = Array(UnsafeBufferPointer(start: wide.forward(w.ptr, x: input.ptr, t: t, mode: .evaluation, rng: &rr), count: len))
        for i in 0..<len {
            XCTAssertEqual(zeroEstimate[i], want[i], accuracy: 1e-5)
            XCTAssertEqual(zeroWeights[i], want[i], accuracy: 1e-5)
        }
        // And the estimate matters once its weights do not vanish.
        (w.ptr + e.offset + 9).update(repeating: 0.5, count: 9)
        let moved = Array(UnsafeBufferPointer(start: wide.forward(w.ptr, x: input.ptr, t: t, mode: .evaluation, rng: &rr), count: len))
        XCTAssertGreaterThan(zip(moved, want).map { abs($0 - $1) }.max()!, 1e-3)
    }

    /// Sampling feeds the previous step's x̂0 (none at the first step), and a
    /// state keeps it, so a fork from a scrubbed step continues bit for bit.
    func testSamplerFeedsThePreviousEstimateAndItsStateKeepsIt() throws {
        let sch = try NoiseSchedule()
        for kind in [SamplerKind.ddpm, .ddim] {
            let model = EstimateReadingPredictor(size: 2)
            let a = try Sampler(schedule: sch, settings: SamplerSettings(kind: kind, steps: 10), n: 2, size: 2, seed: 5)
            let f0 = a.step(model), f1 = a.step(model)
            XCTAssertNil(model.estimates[0], "\(kind): no estimate before the first step")
            XCTAssertEqual(model.estimates[1], f0.x0, "\(kind): the first step's x̂0")
            a.step(model)
            XCTAssertEqual(model.estimates[2], f1.x0)
            let mid = a.state
            XCTAssertEqual(mid.prevX0, a.x0.array(a.pixels), "\(kind): the state keeps the estimate")
            let straight = a.run(model)
            XCTAssertTrue(straight.allSatisfy { $0.isFinite })
            let b = try Sampler(schedule: sch, settings: SamplerSettings(kind: kind, steps: 10), n: 2, size: 2, seed: 5)
            b.restore(mid)
            XCTAssertEqual(b.state.prevX0, mid.prevX0, "\(kind): a restored sampler's state keeps it before its first step")
            XCTAssertEqual(b.run(model), straight, "\(kind): restored from a mid-run state")
            // Without the estimate the continuation differs.
            let c = try Sampler(schedule: sch, settings: SamplerSettings(kind: kind, steps: 10), n: 2, size: 2, seed: 5)
            c.restore(mid); c.prevT = -1
            XCTAssertNotEqual(c.run(model), straight)
        }
        // A model that reads no estimate keeps DDIM's states as small as before.
        let plain = try Sampler(schedule: sch, settings: SamplerSettings(kind: .ddim, steps: 10), n: 2, size: 2, seed: 5)
        plain.step(LinearPredictor(size: 2, a: 0.3, b: -0.1))
        XCTAssertTrue(plain.state.prevX0.isEmpty)
    }

    /// The U-Net as a predictor stacks x_t and the estimate per image (two or
    /// more images run one per core): the same ε as the network on the stack.
    func testPredictorStacksTheEstimate() throws {
        var cfg = small; cfg.selfCondition = true
        let net = try UNet(cfg)
        let p = perturbedParams(net, seed: 51)
        let n = 3, len = n * 64, t = [10, 10, 10]
        let x = randomBuffer(len, seed: 52), est = randomBuffer(len, seed: 53)
        let predictor = UNetPredictor(net: try UNet(cfg), params: p)
        XCTAssertTrue(predictor.readsX0Estimate)
        let out = FloatBuffer(count: len)
        predictor.predictNoise(x.ptr, t: t, x0Estimate: est.ptr, out: out.ptr)
        let got = out.array(len)
        predictor.predictNoise(x.ptr, t: t, x0Estimate: nil, out: out.ptr)
        let none = out.array(len)
        let input = FloatBuffer(count: 2 * len)
        var rr = RNG(seed: 0)
        for (estimate, result) in [(est.array(len), got), ([Float](repeating: 0, count: len), none)] {
            for i in 0..<n {
                input.ptr.update(from: x.ptr + i * 64, count: 64)
                estimate.withUnsafeBufferPointer { (input.ptr + 64).update(from: $0.baseAddress! + i * 64, count: 64) }
                let y = net.forward(p.ptr, x: input.ptr, t: [10], mode: .evaluation, rng: &rr)
                for k in 0..<64 { XCTAssertEqual(result[i * 64 + k], y[k], accuracy: 1e-5) }
            }
        }
        XCTAssertNotEqual(got, none)
    }

    /// Training: the run is a function of its seed and resumes bit for bit
    /// (the coin and the first guess's dropout come from the trainer's stream),
    /// and --init from a plain model starts from that model's predictions.
    func testTrainingResumesExactlyAndGrowsFromAPlainModel() throws {
        var o = TrainOptions()
        o.config = .tiny; o.config.selfCondition = true
        o.batch = 8; o.lr = 1e-3; o.warmup = 2; o.totalSteps = 8; o.seed = 3; o.objective = .v
        let digits = TrainerTests.digits
        let dir = NSTemporaryDirectory() + "selfcond-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try Trainer(options: o, data: digits)
        for _ in 0..<8 { XCTAssertTrue(try straight.trainStep().loss.isFinite) }
        let first = try Trainer(options: o, data: digits)
        for _ in 0..<4 { try first.trainStep() }
        try first.saveCheckpoint(dir + "/c.safetensors")
        let resumed = try Trainer.resume(dir + "/c.safetensors", data: digits)
        XCTAssertTrue(resumed.options.config.selfCondition)
        for _ in 0..<4 { try resumed.trainStep() }
        XCTAssertEqual(straight.params.array(straight.count), resumed.params.array(resumed.count))
        XCTAssertEqual(straight.ema.array(straight.count), resumed.ema.array(resumed.count))

        // A plain model's weights, grown: the estimate's weights start at 0, so ε is the plain model's.
        var plainOptions = o; plainOptions.config.selfCondition = false
        let plain = try Trainer(options: plainOptions, data: digits)
        for _ in 0..<3 { try plain.trainStep() }
        try plain.saveWeights(dir + "/plain.safetensors")
        let grown = try Trainer(options: o, data: digits)
        try grown.startFrom(weights: dir + "/plain.safetensors")
        let sch = try NoiseSchedule()
        let a = UNetPredictor(net: try UNet(plainOptions.config), params: plain.ema, objective: .v, schedule: sch)
        let b = UNetPredictor(net: try UNet(o.config), params: grown.ema, objective: .v, schedule: sch)
        let len = 2 * 784
        let x = randomBuffer(len, seed: 61), est = randomBuffer(len, seed: 62)
        let ya = FloatBuffer(count: len), yb = FloatBuffer(count: len)
        a.predictNoise(x.ptr, t: [100, 900], out: ya.ptr)
        b.predictNoise(x.ptr, t: [100, 900], x0Estimate: est.ptr, out: yb.ptr)
        for i in 0..<len { XCTAssertEqual(ya.ptr[i], yb.ptr[i], accuracy: 1e-5) }
        let e = grown.net.layout["conv_in.weight"]!
        XCTAssertTrue((0..<16).allSatisfy { o in (9..<18).allSatisfy { grown.params.ptr[e.offset + o * 18 + $0] == 0 } })
    }
}
