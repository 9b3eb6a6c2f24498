import XCTest
@testable import Compute
@testable import Engine

/// A predictor that returns a fixed eps (for hand-computed sampler steps).
final class ConstantPredictor: NoisePredictor {
    let imageSize: Int
    let value: Float
    init(size: Int, value: Float) { imageSize = size; self.value = value }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        out.update(repeating: value, count: t.count * imageSize * imageSize)
    }
}

final class DiffusionTests: XCTestCase {
    func testScheduleTablesMatchHandComputedValues() throws {
        let s = try NoiseSchedule(kind: .linear)
        XCTAssertEqual(s.alphasCumprod[0], 0.9999, accuracy: 1e-12)
        XCTAssertEqual(s.alphasCumprod[499], 0.07858724288177824, accuracy: 1e-12)
        XCTAssertEqual(s.alphasCumprod[999], 4.035829765375676e-05, accuracy: 1e-12)
        XCTAssertEqual(s.posteriorVariance[1], 5.4531876613021935e-05, accuracy: 1e-12)
        XCTAssertEqual(s.posteriorVariance[999], 0.01999998352656061, accuracy: 1e-12)
        XCTAssertEqual(s.posteriorVariance[0], 0)
        XCTAssertEqual(s.alphasCumprodPrev[0], 1)
        XCTAssertEqual(s.snr[499], 0.07858724288177824 / (1 - 0.07858724288177824), accuracy: 1e-12)
        let c = try NoiseSchedule(kind: .cosine)
        XCTAssertEqual(c.betas[0], 1e-4, accuracy: 1e-12)         // clipped from below
        XCTAssertEqual(c.betas[500], 0.003155691441585007, accuracy: 1e-12)
        XCTAssertEqual(c.betas[999], 0.9999, accuracy: 1e-12)      // clipped from above
        XCTAssertEqual(c.alphasCumprod[999], 2.4278335309343246e-10, accuracy: 1e-12)
        let q = try NoiseSchedule(kind: .quadratic)
        XCTAssertEqual(q.betas[500], 0.005084964944924906, accuracy: 1e-12)
        let g = try NoiseSchedule(kind: .sigmoid)
        XCTAssertEqual(g.betas[0], 0.00014920520081703202, accuracy: 1e-12)
        XCTAssertEqual(g.betas[500], 0.010079879790061015, accuracy: 1e-12)
        for k in ScheduleKind.allCases { XCTAssertTrue(try NoiseSchedule(kind: k).warnings.isEmpty, "\(k)") }
        // Diagnostics catch a schedule that leaves signal at T-1.
        XCTAssertFalse(try NoiseSchedule(kind: .linear, T: 50).warnings.isEmpty)
        // Sampleable in float down to ᾱ_{T-1} = 1e-72: linear T 16,000 (5e-71) sampled, 16,500 (3e-73) gave NaN.
        XCTAssertNil(try NoiseSchedule(kind: .linear, T: 16000).cannotSample)
        XCTAssertNotNil(try NoiseSchedule(kind: .linear, T: 16500).cannotSample)
        for k in ScheduleKind.allCases { XCTAssertNil(try NoiseSchedule(kind: k).cannotSample, "\(k)") }
        XCTAssertThrowsError(try NoiseSchedule(T: 1))
        XCTAssertThrowsError(try NoiseSchedule(betaStart: 0.03, betaEnd: 0.02))
        // 1 - 1e-20 rounds to 1 in Double: SNR would be infinite (and JSON would print inf).
        XCTAssertThrowsError(try NoiseSchedule(betaStart: 1e-20, betaEnd: 0.02)) { XCTAssertTrue("\($0)".contains("degenerate"), "\($0)") }
    }

    /// Chapter exercise 3.3: the mean, x0 and eps parameterisations give the
    /// same mu~, through the buffer functions the trainer and samplers call
    /// (q_sample, predict x0/eps, q posterior mean, p mean), against the
    /// posterior mean computed here in Double from the tables.
    func testThreeParameterisationsAgree() throws {
        let s = try NoiseSchedule()
        var rng = RNG(seed: 5)
        let n = 64
        let x0 = FloatBuffer(count: n), eps = FloatBuffer(count: n), xt = FloatBuffer(count: n)
        rng.fillNormal(x0.ptr, count: n, scale: 0.7); rng.fillNormal(eps.ptr, count: n)
        let viaX0 = FloatBuffer(count: n), viaEps = FloatBuffer(count: n), x0Hat = FloatBuffer(count: n), epsHat = FloatBuffer(count: n)
        for t in [1, 10, 250, 500, 999] {
            s.qSample(x0: x0.ptr, eps: eps.ptr, t: t, count: n, into: xt.ptr)
            s.qPosteriorMean(x0: x0.ptr, xt: xt.ptr, t: t, count: n, into: viaX0.ptr)
            s.pMean(xt: xt.ptr, eps: eps.ptr, t: t, count: n, into: viaEps.ptr)
            s.predictX0(xt: xt.ptr, eps: eps.ptr, t: t, count: n, into: x0Hat.ptr)
            s.predictEps(xt: xt.ptr, x0: x0.ptr, t: t, count: n, into: epsHat.ptr)
            var want = [Float](repeating: 0, count: n)
            for i in 0..<n {
                let x = s.sqrtAlphasCumprod[t] * Double(x0.ptr[i]) + s.sqrtOneMinusAlphasCumprod[t] * Double(eps.ptr[i])
                XCTAssertEqual(Double(xt.ptr[i]), x, accuracy: 1e-5)
                want[i] = Float(s.posteriorMeanCoef1[t] * Double(x0.ptr[i]) + s.posteriorMeanCoef2[t] * x)
            }
            assertClose(want, viaX0.array(n), rtol: 1e-5, "q posterior mean at t=\(t)")
            assertClose(want, viaEps.array(n), rtol: 1e-4, "p mean from eps at t=\(t)")
            // predict-x0 and predict-eps invert q_sample (x0 loses precision as abar_t -> 0).
            assertClose(x0.array(n), x0Hat.array(n), rtol: t < 900 ? 1e-3 : 5e-2, "x0 from eps at t=\(t)")
            assertClose(eps.array(n), epsHat.array(n), rtol: t < 10 ? 5e-2 : 1e-3, "eps from x0 at t=\(t)")
            // v = sqrt(abar) eps - sqrt(1 - abar) x0 by hand; the eps an x0 or v output stands for
            // (`Objective.epsilon`, as UNetPredictor converts) gives the same reverse mean as eps itself.
            let v = FloatBuffer(count: n), fromV = FloatBuffer(count: n), fromX0 = FloatBuffer(count: n), mean = FloatBuffer(count: n)
            Objective.v.target(x0: x0.ptr, eps: eps.ptr, t: t, count: n, schedule: s, into: v.ptr)
            for i in 0..<n {
                let want = s.sqrtAlphasCumprod[t] * Double(eps.ptr[i]) - s.sqrtOneMinusAlphasCumprod[t] * Double(x0.ptr[i])
                XCTAssertEqual(Double(v.ptr[i]), want, accuracy: 1e-5 * max(1, abs(want)), "v target at t=\(t)")
            }
            Objective.v.epsilon(output: v.ptr, xt: xt.ptr, t: t, count: n, schedule: s, into: fromV.ptr)
            Objective.x0.epsilon(output: x0.ptr, xt: xt.ptr, t: t, count: n, schedule: s, into: fromX0.ptr)
            assertClose(eps.array(n), fromV.array(n), rtol: 1e-4, "eps from v at t=\(t)")
            s.pMean(xt: xt.ptr, eps: fromV.ptr, t: t, count: n, into: mean.ptr)
            assertClose(want, mean.array(n), rtol: 1e-4, "p mean from v at t=\(t)")
            s.pMean(xt: xt.ptr, eps: fromX0.ptr, t: t, count: n, into: mean.ptr)
            assertClose(want, mean.array(n), rtol: t < 10 ? 5e-2 : 1e-3, "p mean from x0 at t=\(t)")
            // In place, as the predictor converts its output buffer.
            Objective.v.epsilon(output: v.ptr, xt: xt.ptr, t: t, count: n, schedule: s, into: v.ptr)
            XCTAssertEqual(v.array(n), fromV.array(n))
            // Errors in each target cost this much in eps (the weighting conversion).
            XCTAssertEqual(Objective.x0.epsScale(s, t: t), s.snr[t], accuracy: 1e-12)
            XCTAssertEqual(Objective.v.epsScale(s, t: t), s.snr[t] / (1 + s.snr[t]), accuracy: 1e-9)
        }
    }

    func testOneDDPMStepByHand() throws {
        let s = try NoiseSchedule()
        let sampler = try Sampler(schedule: s, settings: SamplerSettings(kind: .ddpm, noiseTemperature: 0), n: 1, size: 2, seed: 3)
        let x = sampler.x.array(4)
        let f = sampler.step(ConstantPredictor(size: 2, value: 0.5))
        XCTAssertEqual(f.t, 999); XCTAssertEqual(f.tNext, 998)
        let t = 999
        for i in 0..<4 {
            let mean = (Double(x[i]) - s.betas[t] / (1 - s.alphasCumprod[t]).squareRoot() * 0.5) / s.alphas[t].squareRoot()
            XCTAssertEqual(Double(f.xNext[i]), mean, accuracy: 1e-5)
            let x0 = (Double(x[i]) - (1 - s.alphasCumprod[t]).squareRoot() * 0.5) / s.alphasCumprod[t].squareRoot()
            XCTAssertEqual(Double(f.x0[i]), x0, accuracy: 1e-3)
        }
        XCTAssertEqual(f.eps.mean, 0.5, accuracy: 1e-7)
        XCTAssertEqual(f.eps.std, 0, accuracy: 1e-6)
    }

    func testOneDDIMStepByHand() throws {
        let s = try NoiseSchedule()
        let set = SamplerSettings(kind: .ddim, steps: 10, eta: 0, spacing: .leading)
        XCTAssertEqual(set.timesteps(T: 1000), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0])
        XCTAssertEqual(SamplerSettings(kind: .ddim, steps: 10, spacing: .trailing).timesteps(T: 1000).prefix(2), [999, 899])
        XCTAssertEqual(SamplerSettings(kind: .ddim, steps: 4, spacing: .linspace).timesteps(T: 1000), [999, 666, 333, 0])
        let sampler = try Sampler(schedule: s, settings: set, n: 1, size: 2, seed: 9)
        let x = sampler.x.array(4)
        let f = sampler.step(ConstantPredictor(size: 2, value: -0.25))
        XCTAssertEqual(f.t, 900); XCTAssertEqual(f.tNext, 800)
        let ab = s.alphasCumprod[900], abp = s.alphasCumprod[800]
        for i in 0..<4 {
            let x0 = (Double(x[i]) - (1 - ab).squareRoot() * -0.25) / ab.squareRoot()
            let expect = abp.squareRoot() * x0 + (1 - abp).squareRoot() * -0.25
            XCTAssertEqual(Double(f.xNext[i]), expect, accuracy: 1e-4)
        }
        // eta = 1 gives sigma = sqrt((1-abp)/(1-ab)) sqrt(1 - ab/abp): noise enters.
        let noisy = try Sampler(schedule: s, settings: SamplerSettings(kind: .ddim, steps: 10, eta: 1, spacing: .leading), n: 1, size: 2, seed: 9)
        let g = noisy.step(ConstantPredictor(size: 2, value: -0.25))
        XCTAssertNotEqual(g.xNext, f.xNext)
    }

    func testSettingsValidation() {
        XCTAssertThrowsError(try SamplerSettings(eta: 1.5).validate(T: 1000))
        XCTAssertThrowsError(try SamplerSettings(eta: -0.1).validate(T: 1000))
        XCTAssertThrowsError(try SamplerSettings(steps: 0).validate(T: 1000))
        XCTAssertThrowsError(try SamplerSettings(kind: .ddim, steps: 1001).validate(T: 1000)) {
            XCTAssertEqual($0 as? EngineError, .outOfRange(key: "steps", allowed: "1...1000", value: "1001"))
        }
        XCTAssertNoThrow(try SamplerSettings(kind: .ddim, steps: 1000, eta: 1).validate(T: 1000))
        // DDPM walks all T steps whatever `steps` says: a T = 20 model samples with the defaults.
        XCTAssertNoThrow(try SamplerSettings(kind: .ddpm, steps: 50).validate(T: 20))
        XCTAssertThrowsError(try SamplerSettings(temperature: .nan).validate(T: 1000))
        XCTAssertThrowsError(try SamplerSettings(noiseTemperature: .infinity).validate(T: 1000))
    }

    /// Same seed and settings give bit-identical images whatever the batch size.
    func testSamplerDeterministicAcrossBatchSizes() throws {
        let net = try UNet(.tiny)
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 1)
        net.layout.initialize(params.ptr, rng: &rng)
        let model = UNetPredictor(net: net, params: params)
        let s = try NoiseSchedule()
        for kind in [SamplerKind.ddpm, .ddim] {
            let set = SamplerSettings(kind: kind, steps: 5, eta: 0.5)
            func run(_ n: Int) throws -> [Float] {
                let sm = try Sampler(schedule: s, settings: set, n: n, size: 28, seed: 77)
                for _ in 0..<5 { sm.step(model) }
                return sm.x.array(n * 784)
            }
            let a = try run(5), b = try run(2), c = try run(5), d = try run(1)
            XCTAssertTrue(a == c, "\(kind): same batch, same numbers")
            XCTAssertTrue(Array(a[0..<(2 * 784)]) == b, "\(kind): batch 2 equals the first two of batch 5")
            XCTAssertTrue(Array(a[0..<784]) == d, "\(kind): batch 1 equals the first of batch 5")
            XCTAssertTrue(a.allSatisfy { $0.isFinite })
        }
    }

    /// The predictor deals a batch's images to the cores, one network copy per
    /// core; that gives the batched forward's numbers bit for bit, with packed
    /// weights reused across calls or (weightsChange) packed on each.
    func testPredictorLanesMatchBatchedForward() throws {
        let net = try UNet(.tiny)
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 3)
        net.layout.initialize(params.ptr, rng: &rng)
        let n = 5, t = [999, 0, 400, 17, 731]
        var x = [Float](repeating: 0, count: n * 784)
        for i in x.indices { x[i] = Float(rng.normal()) }
        func batched() -> [Float] {
            Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x, t: t, mode: .inference(packGeneration: 0),
                                                         rng: &rng), count: n * 784))
        }
        let model = UNetPredictor(net: try UNet(.tiny), params: params)
        let live = UNetPredictor(net: try UNet(.tiny), params: params, weightsChange: true)
        var out = [Float](repeating: .nan, count: n * 784), one = [Float](repeating: .nan, count: 784)
        let before = batched()
        // Fixed weights are packed on the first call and reused after it.
        for _ in 0..<2 { model.predictNoise(x, t: t, out: &out); XCTAssertTrue(out == before) }
        model.predictNoise(x, t: [t[0]], out: &one); XCTAssertTrue(one == Array(before[0..<784]))
        for _ in 0..<2 { live.predictNoise(x, t: t, out: &out); XCTAssertTrue(out == before) }
        // New weights between calls (the training view's EMA): a predictor told
        // they change packs them on every call, on the lanes and on batch 1.
        for i in 0..<net.parameterCount { params.ptr[i] *= 0.9 }
        let after = batched()
        XCTAssertFalse(after == before)
        live.predictNoise(x, t: t, out: &out); XCTAssertTrue(out == after)
        live.predictNoise(x, t: [t[0]], out: &one); XCTAssertTrue(one == Array(after[0..<784]))
        // A new predictor of the new weights agrees.
        UNetPredictor(net: try UNet(.tiny), params: params).predictNoise(x, t: t, out: &out)
        XCTAssertTrue(out == after)
    }

    func testLiveSettingsAndFork() throws {
        let s = try NoiseSchedule()
        let sm = try Sampler(schedule: s, settings: SamplerSettings(kind: .ddpm), n: 2, size: 2, seed: 1)
        let m = ConstantPredictor(size: 2, value: 0.1)
        for _ in 0..<3 { sm.step(m) }
        XCTAssertEqual(sm.currentT, 996)
        var set = sm.settings; set.kind = .ddim; set.steps = 10; set.spacing = .leading
        let fork = try sm.fork(with: set)
        XCTAssertEqual(fork.timesteps.count - fork.index, 1 + 10, "996 then the 10 DDIM steps below it")
        XCTAssertTrue(fork.x.array(8) == sm.x.array(8))
        sm.step(m); XCTAssertEqual(sm.currentT, 995)   // the original is untouched
        fork.step(m); XCTAssertEqual(fork.currentT, 900)
        set.noiseTemperature = 0
        fork.update(set)
        XCTAssertEqual(fork.settings.noiseTemperature, 0)
    }
}
