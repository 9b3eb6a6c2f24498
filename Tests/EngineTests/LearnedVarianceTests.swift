// LearnedVarianceTests.swift: improved DDPM's learned variance — the hybrid
// loss and its gradients against PyTorch (scripts/make_learned_variance_fixture.py),
// the v gradient by finite differences, the sampler's and the bound's learned
// Σ against the fixed ones it interpolates, and --init widening a model.
import XCTest
@testable import Compute
@testable import Engine

/// ε̂ = a x + b and a fixed v for every pixel.
final class FixedVariancePredictor: NoisePredictor {
    let imageSize: Int, a: Float, b: Float, v: FloatBuffer
    init(size: Int, a: Float, b: Float, v: Float, maxImages: Int = 8) {
        imageSize = size; self.a = a; self.b = b
        self.v = FloatBuffer(count: maxImages * size * size)
        for i in 0..<(maxImages * size * size) { self.v.ptr[i] = v }
    }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        for i in 0..<(t.count * imageSize * imageSize) { out[i] = a * x[i] + b }
    }
    var varianceOutput: UnsafePointer<Float>? { UnsafePointer(v.ptr) }
}

final class LearnedVarianceTests: XCTestCase {
    static var fixturePath: String { Bundle.module.path(forResource: "Fixtures/learned_variance", ofType: "safetensors")! }

    /// The two-output U-Net, its L_simple + λ T L_t (mean frozen in L_t) and
    /// every parameter's gradient, against the PyTorch reference variant.
    func testHybridLossMatchesPyTorch() throws {
        let f = try SafeTensors.read(Self.fixturePath)
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0, learnSigma: true)
        let net = try UNet(cfg)
        let params = FloatBuffer(count: net.parameterCount)
        try f.load(into: params.ptr, layout: net.layout, prefix: "model.")
        let sched = try NoiseSchedule()
        let xt = FloatBuffer(f.tensors["xt"]!.data), x0 = f.tensors["x0"]!.data, noise = f.tensors["noise"]!.data
        let t = f.tensors["t"]!.data.map { Int($0) }
        let n = t.count, hw = 64, len = n * hw
        var rng = RNG(seed: 0)
        let y = net.forward(params.ptr, x: xt.ptr, t: t, mode: .evaluation, rng: &rng)
        // Ours is [2, N, hw] (ε of every image, then v); PyTorch's [N, 2, hw].
        let ref = f.tensors["out"]!.data
        for i in 0..<n { for c in 0..<2 { for k in 0..<hw {
            XCTAssertEqual(y[c * len + i * hw + k], ref[(i * 2 + c) * hw + k], accuracy: 1e-4, "out[\(i), \(c), \(k)]")
        } } }
        let dout = FloatBuffer(count: 2 * len)
        let k = LearnedVarianceLoss.lambda * Double(sched.T)
        let refMSE = f.tensors["mse"]!.data, refVB = f.tensors["vb"]!.data
        x0.withUnsafeBufferPointer { x0p in
            for i in 0..<n {
                var mse = 0.0
                for q in 0..<hw {
                    let d = y[i * hw + q] - noise[i * hw + q]
                    mse += Double(d * d); dout.ptr[i * hw + q] = 2 * d / Float(len)
                }
                XCTAssertEqual(mse / Double(hw), Double(refMSE[i]), accuracy: 1e-5 * max(1, Double(refMSE[i])), "mse[\(i)]")
                let vb = LearnedVarianceLoss.term(x0: x0p.baseAddress! + i * hw, xt: xt.ptr + i * hw, eps: y + i * hw, v: y + len + i * hw,
                                                  t: t[i], count: hw, schedule: sched, scale: k / Double(n), dv: dout.ptr + len + i * hw)
                XCTAssertEqual(vb, Double(refVB[i]), accuracy: 1e-3 * max(1e-2, Double(refVB[i])), "vb[\(i)] at t=\(t[i])")
            }
        }
        let g = FloatBuffer(count: net.parameterCount)
        net.backward(params.ptr, g.ptr, dout: dout.ptr)
        let globalMax = net.layout.entries.map { f.tensors["grad." + $0.name]!.data.map { abs($0) }.max()! }.max()!
        for e in net.layout.entries {
            let refG = f.tensors["grad." + e.name]!.data
            let scale = max(refG.map { abs($0) }.max()!, 1e-3 * globalMax)
            for i in 0..<e.count where !(abs(g.ptr[e.offset + i] - refG[i]) <= 2e-3 * scale) {
                XCTFail("\(e.name)[\(i)]: \(g.ptr[e.offset + i]) vs PyTorch \(refG[i])"); return
            }
        }
    }

    /// dL_t/dv against central differences, for the KL (t > 0) and the decoder (t = 0, edge bins included).
    func testVarianceGradientByFiniteDifferences() throws {
        let s = try NoiseSchedule()
        let count = 40
        var rng = RNG(seed: 12)
        let x0 = FloatBuffer(count: count), xt = FloatBuffer(count: count), eps = FloatBuffer(count: count), v = FloatBuffer(count: count)
        for i in 0..<count {
            x0.ptr[i] = i % 7 == 0 ? -1 : (i % 7 == 1 ? 1 : Float(rng.int(256)) / 127.5 - 1)
            eps.ptr[i] = Float(rng.normal()); v.ptr[i] = Float(rng.uniform() * 1.8 - 0.9)
        }
        for t in [0, 1, 30, 600] {
            for i in 0..<count {
                xt.ptr[i] = Float(s.sqrtAlphasCumprod[t]) * x0.ptr[i] + Float(s.sqrtOneMinusAlphasCumprod[t]) * Float(rng.normal())
            }
            let dv = FloatBuffer(count: count), scratch = FloatBuffer(count: count)
            func value() -> Double {
                LearnedVarianceLoss.term(x0: x0.ptr, xt: xt.ptr, eps: eps.ptr, v: v.ptr, t: t, count: count, schedule: s, scale: 1, dv: scratch.ptr)
            }
            _ = LearnedVarianceLoss.term(x0: x0.ptr, xt: xt.ptr, eps: eps.ptr, v: v.ptr, t: t, count: count, schedule: s, scale: 1, dv: dv.ptr)
            for i in 0..<count {
                let old = v.ptr[i], h: Float = 1e-2
                v.ptr[i] = old + h; let p = value()
                v.ptr[i] = old - h; let m = value()
                v.ptr[i] = old
                let num = (p - m) / Double(2 * h)
                XCTAssertEqual(Double(dv.ptr[i]), num, accuracy: 1e-4 * max(1e-3, abs(num)) + 1e-7, "t=\(t) pixel \(i)")
            }
        }
    }

    /// A learned v of +1 is σ² = β_t and −1 is β̃_t (step for step, same noise);
    /// v = 0 is their geometric mean, by hand.
    func testLearnedDDPMStepInterpolatesTheFixedVariances() throws {
        let s = try NoiseSchedule()
        let settings = SamplerSettings(kind: .ddpm, variance: .learned)
        for (v, fixed) in [(Float(1), VarianceKind.beta), (-1, .posterior)] {
            let model = FixedVariancePredictor(size: 4, a: 0.3, b: -0.1, v: v)
            let learned = try Sampler(schedule: s, settings: settings, n: 2, size: 4, seed: 3)
            let plain = try Sampler(schedule: s, settings: SamplerSettings(kind: .ddpm, variance: fixed), n: 2, size: 4, seed: 3)
            for _ in 0..<5 { learned.advance(model); plain.advance(model) }
            for i in 0..<32 { XCTAssertEqual(learned.x.ptr[i], plain.x.ptr[i], accuracy: 1e-5, "v=\(v) pixel \(i)") }
        }
        // v = 0 at t = 999: x = mean + exp((log β + log β̃)/4) z, z the stream's draws after x_T.
        let model = FixedVariancePredictor(size: 4, a: 0.3, b: -0.1, v: 0)
        let sampler = try Sampler(schedule: s, settings: settings, n: 1, size: 4, seed: 3)
        let xT = sampler.x.array(16)
        var r = RNG(seed: 3, stream: 0)
        let draws = FloatBuffer(count: 32)
        r.fillNormal(draws.ptr, count: 32)
        sampler.advance(model)
        let t = 999, sigma = exp(0.25 * (log(s.betas[t]) + log(s.posteriorVariance[t])))
        for i in 0..<16 {
            let eps = 0.3 * Double(xT[i]) - 0.1
            let mean = (Double(xT[i]) - s.betas[t] / s.sqrtOneMinusAlphasCumprod[t] * eps) / s.alphas[t].squareRoot()
            XCTAssertEqual(Double(sampler.x.ptr[i]), mean + sigma * Double(draws.ptr[16 + i]), accuracy: 1e-5, "pixel \(i)")
        }
        XCTAssertThrowsError(try settings.check(learnsVariance: false))
        XCTAssertNoThrow(try settings.check(learnsVariance: true))
    }

    /// The bound with v = −1 everywhere is the bound with σ² = β̃ (both clip β̃_0 to β̃_1).
    func testBoundWithLearnedVariance() throws {
        let s = try NoiseSchedule(T: 50)
        var rng = RNG(seed: 2)
        let images = (0..<(2 * 16)).map { _ in Float(rng.int(256)) / 127.5 - 1 }
        let model = FixedVariancePredictor(size: 4, a: 0.2, b: 0.05, v: -1)
        let learned = VariationalBound.compute(model: model, schedule: s, images: images, n: 2, size: 4, variance: .learned, clip: false)
        let posterior = VariationalBound.compute(model: model, schedule: s, images: images, n: 2, size: 4, variance: .posterior, clip: false)
        XCTAssertEqual(learned.total, posterior.total, accuracy: 1e-9 + 1e-6 * posterior.total)
        for t in 0..<50 { XCTAssertEqual(learned.perT[t], posterior.perT[t], accuracy: 1e-9 + 1e-6 * posterior.perT[t], "t=\(t)") }
    }

    /// The predictor's v is the same whether the images go through one network
    /// copy per core (a batch) or one at a time.
    func testPredictorKeepsVInBothPaths() throws {
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0, learnSigma: true)
        let net = try UNet(cfg), p = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 8)
        net.layout.initialize(p.ptr, rng: &rng)
        for e in net.layout.entries where e.name.hasPrefix("conv_out.2") { for i in 0..<e.count { p.ptr[e.offset + i] = Float(rng.normal()) * 0.1 } }
        let model = UNetPredictor(net: net, params: p)
        let x = randomBuffer(3 * 64, seed: 2), out = FloatBuffer(count: 3 * 64)
        model.predictNoise(x.ptr, t: [5, 300, 900], out: out.ptr)
        let batchEps = out.array(192), batchV = Array(UnsafeBufferPointer(start: model.varianceOutput!, count: 192))
        XCTAssertGreaterThan(batchV.map(abs).max()!, 1e-3, "v is not all zero")
        for (i, t) in [5, 300, 900].enumerated() {
            model.predictNoise(x.ptr + i * 64, t: [t], out: out.ptr)
            for k in 0..<64 {
                XCTAssertEqual(out.ptr[k], batchEps[i * 64 + k], accuracy: 1e-5)
                XCTAssertEqual(model.varianceOutput![k], batchV[i * 64 + k], accuracy: 1e-5, "image \(i) v[\(k)]")
            }
        }
    }

    /// The bundled learned-variance model learned its v: from 0 at the start of
    /// its fine-tune (f = 0.5, halfway in log) toward β̃ at large t (measured:
    /// mean f -0.04 at t = 500 and 900 over 64 test digits), and larger near t = 0
    /// (0.11 at t = 1), where β and β̃ differ most.
    func testBundledLearnedVarianceModelLearnedV() throws {
        let path = (DataTests.mnistDir as NSString).deletingLastPathComponent + "/models/mnist-tiny-learned-variance.safetensors"
        let f = try SafeTensors.read(path)
        let (cfg, spec) = try Checkpoint.modelSpec(f.metadata, path: path)
        XCTAssertTrue(cfg.learnSigma)
        let net = try UNet(cfg), p = FloatBuffer(count: net.parameterCount)
        try f.load(into: p.ptr, layout: net.layout)
        let model = UNetPredictor(net: net, params: p), s = try NoiseSchedule(spec)
        let digits = try Dataset.load(dir: DataTests.mnistDir, train: false, limit: 8)
        func meanF(_ t: Int) -> Double {
            let eps = randomBuffer(8 * 784, seed: UInt64(t)), xt = FloatBuffer(count: 8 * 784), out = FloatBuffer(count: 8 * 784)
            digits.images.withUnsafeBufferPointer { s.qSample(x0: $0.baseAddress!, eps: eps.ptr, t: t, count: 8 * 784, into: xt.ptr) }
            model.predictNoise(xt.ptr, t: [Int](repeating: t, count: 8), out: out.ptr)
            return (0..<(8 * 784)).map { (Double(model.varianceOutput![$0]) + 1) / 2 }.reduce(0, +) / Double(8 * 784)
        }
        let late = meanF(500), early = meanF(1)
        XCTAssertLessThan(late, 0.2, "v at t = 500 moved toward beta~ (f \(late))")
        XCTAssertGreaterThan(early, late + 0.05, "f is larger near t = 0 (\(early) against \(late))")
    }

    /// --init from a noise-only model: ε is the model's, v starts at 0, and the file round-trips with its config.
    func testInitWidensANoiseOnlyModel() throws {
        let dir = NSTemporaryDirectory() + "lv-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let narrow = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0)
        let net = try UNet(narrow), p = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 5)
        net.layout.initialize(p.ptr, rng: &rng)
        let path = dir + "/narrow.safetensors"
        try Checkpoint.writeWeights(path, layout: net.layout, params: p.ptr, metadata: ["config": Checkpoint.encode(narrow)])
        var opts = TrainRecipe.demo.options(images: 4)
        opts.config = narrow; opts.config.learnSigma = true; opts.objective = .eps; opts.batch = 2; opts.totalSteps = 2
        let data = Dataset(images: (0..<(4 * 64)).map { _ in Float(rng.uniform() * 2 - 1) }, labels: [0, 1, 2, 3], side: 8)
        let tr = try Trainer(options: opts, data: data)
        try tr.startFrom(weights: path)
        let x = randomBuffer(2 * 64, seed: 1)
        var r0 = RNG(seed: 0), r1 = RNG(seed: 0)
        let wide = tr.net.forward(tr.params.ptr, x: x.ptr, t: [3, 700], mode: .evaluation, rng: &r0)
        let wideCopy = Array(UnsafeBufferPointer(start: wide, count: 256))
        let y = net.forward(p.ptr, x: x.ptr, t: [3, 700], mode: .evaluation, rng: &r1)
        for i in 0..<128 { XCTAssertEqual(wideCopy[i], y[i], accuracy: 1e-5, "eps[\(i)]") }
        for i in 128..<256 { XCTAssertEqual(wideCopy[i], 0, "v[\(i - 128)] starts at 0") }
        try tr.trainStep()   // the hybrid loss trains
        // The config says so in the metadata, and an older reader's config (no key) is noise-only.
        let text = Checkpoint.encode(opts.config)
        XCTAssertTrue(text.contains("\"learnSigma\":true"), text)
        XCTAssertFalse(Checkpoint.encode(narrow).contains("learnSigma"))
        XCTAssertEqual(try JSONDecoder().decode(UNetConfig.self, from: Data(text.utf8)), opts.config)
        var eps = opts; eps.objective = .v
        XCTAssertThrowsError(try eps.validate(), "a learned variance trains with the eps objective")
    }
}
