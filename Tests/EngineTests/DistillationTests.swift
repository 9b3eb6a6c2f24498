// DistillationTests.swift: autoguidance (a model guided away from a weaker one)
// and the trainer that distils the guided pair into one network.
import XCTest
@testable import Compute
@testable import Engine

/// eps^ = a x_t + b t/1000 + c x0_estimate, recording the estimates it was given.
final class GuidedPairPart: NoisePredictor {
    let imageSize: Int, a: Float, b: Float, c: Float
    var estimates: [[Float]?] = []
    init(size: Int, a: Float, b: Float, c: Float) { imageSize = size; self.a = a; self.b = b; self.c = c }
    var readsX0Estimate: Bool { c != 0 }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        predictNoise(x, t: t, x0Estimate: nil, out: out)
    }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let hw = imageSize * imageSize, len = t.count * hw
        estimates.append(x0Estimate.map { Array(UnsafeBufferPointer(start: $0, count: len)) })
        for i in 0..<len { out[i] = a * x[i] + b * Float(t[i / hw]) / 1000 + c * (x0Estimate?[i] ?? 0) }
    }
}

final class DistillationTests: XCTestCase {
    /// ε_weak + w (ε − ε_weak): the weak model at w = 0, the model at w = 1,
    /// beyond it at w > 1; both read the same x0 estimate.
    func testAutoGuidanceCombinesTheTwoPredictions() {
        let n = 2, hw = 16, len = n * hw
        let x = randomBuffer(len, seed: 5), est = randomBuffer(len, seed: 6)
        for w: Float in [0, 1, 2.5] {
            let good = GuidedPairPart(size: 4, a: 0.5, b: 0.2, c: 0.1), weak = GuidedPairPart(size: 4, a: 0.3, b: -0.4, c: 0)
            let guided = AutoGuidedPredictor(good: good, bad: weak, weight: w)
            XCTAssertTrue(guided.readsX0Estimate)
            let out = FloatBuffer(count: len)
            guided.predictNoise(x.ptr, t: [100, 900], x0Estimate: est.ptr, out: out.ptr)
            for i in 0..<len {
                let t: Float = i < hw ? 0.1 : 0.9
                let g = 0.5 * x.ptr[i] + 0.2 * t + 0.1 * est.ptr[i], b = 0.3 * x.ptr[i] - 0.4 * t
                XCTAssertEqual(out.ptr[i], b + w * (g - b), accuracy: 1e-6, "w \(w), pixel \(i)")
            }
            XCTAssertEqual(good.estimates.count, 1); XCTAssertEqual(weak.estimates.count, 1)
            XCTAssertEqual(good.estimates[0], est.array(len)); XCTAssertEqual(weak.estimates[0], est.array(len))
        }
        // Guided in an interval of timesteps only: the image at t = 900 gets the good model alone;
        // a batch entirely outside it does not run the weak model.
        let good = GuidedPairPart(size: 4, a: 0.5, b: 0.2, c: 0), weak = GuidedPairPart(size: 4, a: 0.3, b: -0.4, c: 0)
        let guided = AutoGuidedPredictor(good: good, bad: weak, weight: 3, interval: 0...500)
        let out = FloatBuffer(count: len)
        guided.predictNoise(x.ptr, t: [100, 900], out: out.ptr)
        for i in 0..<len {
            let t: Float = i < hw ? 0.1 : 0.9
            let g = 0.5 * x.ptr[i] + 0.2 * t, b = 0.3 * x.ptr[i] - 0.4 * t
            XCTAssertEqual(out.ptr[i], i < hw ? b + 3 * (g - b) : g, accuracy: 1e-6, "pixel \(i)")
        }
        guided.predictNoise(x.ptr, t: [501, 999], out: out.ptr)
        XCTAssertEqual(weak.estimates.count, 1, "the weak model runs only for guided timesteps")
        for i in 0..<len { XCTAssertEqual(out.ptr[i], 0.5 * x.ptr[i] + 0.2 * (i < hw ? 0.501 : 0.999), accuracy: 1e-6) }
    }

    func distillOptions(_ objective: Objective) -> TrainOptions {
        var o = TrainOptions()
        o.config = .tiny; o.config.dropout = 0; o.config.selfCondition = objective == .v
        o.batch = 3; o.lr = 1e-3; o.warmup = 2; o.totalSteps = 8; o.seed = 4
        o.objective = objective; o.weighting = .minSnr
        o.distill = .init(teacher: "/nonexistent/good.safetensors", weak: "/nonexistent/weak.safetensors", weight: 2, maxT: 999)
        return o
    }

    /// A distilling step's target is the guided pair's prediction at the
    /// batch's x_t (with the student's own x0 estimate), in the objective's
    /// terms: ε* itself, or v = sqrt(ᾱ) ε* − sqrt(1 − ᾱ) x0* with x0* from x_t
    /// and ε*; the loss is the weighted MSE to it.
    func testTheTargetIsTheGuidedPairsPrediction() throws {
        for (objective, maxT) in [(Objective.eps, 999), (.v, 400)] {
            var o = distillOptions(objective); o.distill!.maxT = maxT
            let tr = try Trainer(options: o, data: TrainerTests.digits)
            let good = GuidedPairPart(size: 28, a: 0.6, b: 0.3, c: 0.05), weak = GuidedPairPart(size: 28, a: 0.2, b: -0.1, c: 0)
            tr.teacher = AutoGuidedPredictor(good: good, bad: weak, weight: 2, interval: 0...maxT)
            for _ in 0..<3 {
                let before = tr.params.array(tr.count)
                let stats = try tr.trainStep()
                let hw = 784, b = 3, len = b * hw, s = tr.schedule
                let xt = tr.xtb.array(len)
                let est = o.config.selfCondition ? Array(UnsafeBufferPointer(start: tr.xtb.ptr + len, count: len)) : nil
                XCTAssertEqual(good.estimates.last!, est, "the teacher reads the student's estimate")
                var total = 0.0
                let p = FloatBuffer(count: tr.count); p.ptr.update(from: before, count: tr.count)
                var rng = RNG(seed: 0)
                let y = tr.net.forward(p.ptr, x: tr.xtb.ptr, t: tr.ts, mode: .evaluation, rng: &rng)
                for j in 0..<b {
                    let t = tr.ts[j], ab = s.alphasCumprod[t]
                    var per = 0.0
                    for k in 0..<hw {
                        let i = j * hw + k, e = est?[i] ?? 0
                        let g = 0.6 * Double(xt[i]) + 0.3 * Double(t) / 1000 + 0.05 * Double(e)
                        let wk = 0.2 * Double(xt[i]) - 0.1 * Double(t) / 1000
                        let eps = t <= maxT ? wk + 2 * (g - wk) : g
                        let x0 = (Double(xt[i]) - (1 - ab).squareRoot() * eps) / ab.squareRoot()
                        let target = objective == .eps ? eps : ab.squareRoot() * eps - (1 - ab).squareRoot() * x0
                        XCTAssertEqual(Double(tr.targetb.ptr[i]), target, accuracy: 2e-4 * max(1, abs(target)), "\(objective) t \(t)")
                        let d = Double(y[i]) - target
                        per += d * d
                    }
                    var w = o.weighting.weight(s, t: t, gamma: o.minSnrGamma)
                    w *= objective.epsScale(s, t: t)
                    total += w * per / Double(hw)
                }
                XCTAssertEqual(stats.loss, total / Double(b), accuracy: 1e-3 * total, "\(objective)")
            }
        }
    }

    /// `onNoise`: the target is the batch's own noise plus (w − 1)(ε_teacher − ε_weak)
    /// at guided timesteps, the noise alone above them (checked against a plain
    /// run of the same seed, which draws the same batch, t and noise).
    func testOnNoiseTheTargetIsTheNoisePlusTheGuidanceOffset() throws {
        for objective in [Objective.eps, .v] {
            var o = distillOptions(objective); o.distill!.maxT = 500; o.distill!.onNoise = true
            var p = o; p.distill = nil
            let tr = try Trainer(options: o, data: TrainerTests.digits), plain = try Trainer(options: p, data: TrainerTests.digits)
            let good = GuidedPairPart(size: 28, a: 0.6, b: 0.3, c: 0.05), weak = GuidedPairPart(size: 28, a: 0.2, b: -0.1, c: 0)
            tr.teacher = AutoGuidedPredictor(good: good, bad: weak, weight: 3, interval: 0...500)
            var guided = 0
            for _ in 0..<4 {
                try tr.trainStep(); try plain.trainStep()
                XCTAssertEqual(tr.ts, plain.ts)
                let hw = 784, len = 3 * hw, s = tr.schedule
                XCTAssertEqual(tr.xtb.array(len), plain.xtb.array(len))
                let xt = tr.xtb.array(len)
                let est = o.config.selfCondition ? Array(UnsafeBufferPointer(start: tr.xtb.ptr + len, count: len)) : nil
                for j in 0..<3 {
                    let t = tr.ts[j], ab = s.alphasCumprod[t]
                    if t <= 500 { guided += 1 }
                    for k in 0..<hw {
                        let i = j * hw + k, e = Double(est?[i] ?? 0), x = Double(xt[i])
                        let g = 0.6 * x + 0.3 * Double(t) / 1000 + 0.05 * e, wk = 0.2 * x - 0.1 * Double(t) / 1000
                        // The plain run's target is the true noise (ε) or v from it; get the noise back from v.
                        let plainTarget = Double(plain.targetb.ptr[i])
                        let noise = objective == .eps ? plainTarget : ab.squareRoot() * plainTarget + (1 - ab).squareRoot() * x
                        let eps = noise + (t <= 500 ? 2 * (g - wk) : 0)
                        let x0 = (x - (1 - ab).squareRoot() * eps) / ab.squareRoot()
                        let target = objective == .eps ? eps : ab.squareRoot() * eps - (1 - ab).squareRoot() * x0
                        XCTAssertEqual(Double(tr.targetb.ptr[i]), target, accuracy: 2e-4 * max(1, abs(target)), "\(objective) t \(t)")
                    }
                }
            }
            XCTAssertGreaterThan(guided, 0); XCTAssertLessThan(guided, 12, "both sides of the interval seen")
        }
    }

    /// The options say what was distilled (checkpoints keep it; files from
    /// before it read as plain training), the weight is range-checked, and a
    /// resumed distilling run continues bit for bit.
    func testOptionsRoundTripAndResumeIsExact() throws {
        let o = distillOptions(.v)
        var back = try JSONDecoder().decode(TrainOptions.self, from: JSONEncoder().encode(o))
        back.objective = o.objective   // (the objective is the file's own key, not in the options' JSON)
        XCTAssertEqual(back, o)
        XCTAssertNil(try JSONDecoder().decode(TrainOptions.self, from: JSONEncoder().encode(TrainOptions())).distill)
        var bad = o; bad.distill!.weight = -1
        XCTAssertThrowsError(try bad.validate())
        var sigma = o; sigma.config.learnSigma = true; sigma.objective = .eps
        XCTAssertThrowsError(try sigma.validate())

        let teacher = { AutoGuidedPredictor(good: GuidedPairPart(size: 28, a: 0.6, b: 0.3, c: 0.05),
                                            bad: GuidedPairPart(size: 28, a: 0.2, b: -0.1, c: 0), weight: 2) }
        let dir = NSTemporaryDirectory() + "distill-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let straight = try Trainer(options: o, data: TrainerTests.digits)
        straight.teacher = teacher()
        for _ in 0..<8 { try straight.trainStep() }
        let first = try Trainer(options: o, data: TrainerTests.digits)
        first.teacher = teacher()
        for _ in 0..<4 { try first.trainStep() }
        try first.saveCheckpoint(dir + "/c.safetensors")
        let resumed = try Trainer.resume(dir + "/c.safetensors", data: TrainerTests.digits)
        XCTAssertEqual(resumed.options.distill, o.distill)
        resumed.teacher = teacher()
        for _ in 0..<4 { try resumed.trainStep() }
        XCTAssertEqual(straight.params.array(straight.count), resumed.params.array(resumed.count))
        XCTAssertEqual(straight.ema.array(straight.count), resumed.ema.array(resumed.count))
    }
}
