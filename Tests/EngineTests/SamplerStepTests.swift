// SamplerStepTests.swift: one step of every sampler branch against numbers
// computed here by hand from the schedule's tables, with the random stream pinned.
import XCTest
@testable import Compute
@testable import Engine

/// eps^ = a x_t + b, a prediction that depends on its input (unlike a constant).
final class LinearPredictor: NoisePredictor {
    let imageSize: Int, a: Float, b: Float
    init(size: Int, a: Float, b: Float) { imageSize = size; self.a = a; self.b = b }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        for i in 0..<(t.count * imageSize * imageSize) { out[i] = a * x[i] + b }
    }
}

final class SamplerStepTests: XCTestCase {
    let hw = 4, seed: UInt64 = 11

    /// The first draws of image 0's stream (RNG(seed: 11, stream: 0)), pinned:
    /// a change in the generator shows here first.
    func draws(_ count: Int) -> [Double] {
        var r = RNG(seed: seed, stream: 0)
        let buf = FloatBuffer(count: count)
        r.fillNormal(buf.ptr, count: count)
        return buf.array(count).map(Double.init)
    }

    func testRandomStreamIsPinned() {
        let d = draws(8)
        let pinned: [Double] = [0.606735110282898, 0.37041643261909485, -0.703850507736206, 0.2595386505126953,
                                -0.1471632868051529, 0.39567187428474426, 1.1981807947158813, -0.031920548528432846]
        for (a, b) in zip(d, pinned) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }

    /// Runs one step of `settings` from a fresh sampler (n = 1, 2x2 pixels)
    /// and checks x_T, x0^, x0Outside and x_{t_next} against `expect`.
    func check(_ settings: SamplerSettings, _ what: String,
               expect: (_ t: Int, _ tNext: Int, _ xT: [Double], _ eps: [Double], _ z: [Double]) -> (x0: [Double], next: [Double]),
               file: StaticString = #filePath, line: UInt = #line) throws {
        let s = try NoiseSchedule()
        let sampler = try Sampler(schedule: s, settings: settings, n: 1, size: 2, seed: seed)
        let d = draws(2 * hw)
        // x_T = temperature * N(0, I): the stream's first hw draws.
        let xT = d[0..<hw].map { $0 * settings.temperature }
        for i in 0..<hw { XCTAssertEqual(Double(sampler.x.ptr[i]), xT[i], accuracy: 1e-6, "\(what): x_T", file: file, line: line) }
        let f = sampler.step(LinearPredictor(size: 2, a: 0.3, b: -0.1))
        let eps = xT.map { 0.3 * $0 - 0.1 }
        let z = d[hw..<(2 * hw)].map { $0 * settings.noiseTemperature }   // the next hw draws
        let (x0, next) = expect(f.t, f.tNext, xT, eps, z)
        let outside = Double(x0.filter { abs($0) > 1 }.count) / Double(hw)
        XCTAssertEqual(f.x0Outside, outside, "\(what): x0Outside", file: file, line: line)
        for i in 0..<hw {
            let x0shown = settings.clip ? min(1, max(-1, x0[i])) : x0[i]
            XCTAssertEqual(Double(f.x0[i]), x0shown, accuracy: 1e-4 * max(1, abs(x0shown)), "\(what): x0[\(i)]", file: file, line: line)
            XCTAssertEqual(Double(f.xNext[i]), next[i], accuracy: 1e-4 * max(1, abs(next[i])), "\(what): x_next[\(i)]", file: file, line: line)
        }
    }

    func testDDPMStepsWithBothVariancesTemperaturesAndClipping() throws {
        let s = try NoiseSchedule()
        func x0(_ t: Int, _ x: Double, _ e: Double) -> Double { (x - (1 - s.alphasCumprod[t]).squareRoot() * e) / s.alphasCumprod[t].squareRoot() }
        for variance in [VarianceKind.beta, .posterior] {   // learned: LearnedVarianceTests
            for clip in [false, true] {
                let set = SamplerSettings(kind: .ddpm, temperature: 0.7, noiseTemperature: 1.3, variance: variance, clip: clip)
                try check(set, "DDPM \(variance) clip=\(clip)") { t, tNext, xT, eps, z in
                    XCTAssertEqual(t, 999); XCTAssertEqual(tNext, 998)
                    // sigma_t^2 = beta_t, or beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
                    let beta = s.betas[t], ab = s.alphasCumprod[t], abPrev = s.alphasCumprod[t - 1]
                    let sigma = (variance == .beta ? beta : beta * (1 - abPrev) / (1 - ab)).squareRoot()
                    let x0s = (0..<4).map { x0(t, xT[$0], eps[$0]) }
                    let next = (0..<4).map { i -> Double in
                        let mean: Double
                        if clip {   // posterior mean of the clipped x0^ (eq. 7)
                            let c = min(1, max(-1, x0s[i]))
                            mean = abPrev.squareRoot() * beta / (1 - ab) * c + (1 - beta).squareRoot() * (1 - abPrev) / (1 - ab) * xT[i]
                        } else {    // eq. 11
                            mean = (xT[i] - beta / (1 - ab).squareRoot() * eps[i]) / (1 - beta).squareRoot()
                        }
                        return mean + sigma * z[i]
                    }
                    return (x0s, next)
                }
            }
        }
    }

    /// A large temperature puts x0^ outside [-1, 1], so both clipping branches and x0Outside see it.
    func testDDIMStepsWithEtaAndClipping() throws {
        let s = try NoiseSchedule()
        for (eta, clip, temp) in [(0.5, false, 1.0), (0.5, true, 2.5), (1.0, true, 2.5), (0.0, false, 0.5)] {
            let set = SamplerSettings(kind: .ddim, steps: 10, eta: eta, temperature: temp, noiseTemperature: 0.8, clip: clip,
                                      spacing: .leading)
            try check(set, "DDIM eta=\(eta) clip=\(clip)") { t, tNext, xT, eps, z in
                XCTAssertEqual(t, 900); XCTAssertEqual(tNext, 800)
                let ab = s.alphasCumprod[t], abp = s.alphasCumprod[tNext]
                // sigma(eta) = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - abar_t/abar_prev)   (Song et al. eq. 16)
                let sigma = eta * ((1 - abp) / (1 - ab)).squareRoot() * (1 - ab / abp).squareRoot()
                let x0s = (0..<4).map { (xT[$0] - (1 - ab).squareRoot() * eps[$0]) / ab.squareRoot() }
                if clip { XCTAssertTrue(x0s.contains { abs($0) > 1 }, "the clipping branch is exercised") }
                let next = (0..<4).map { i -> Double in
                    let x0 = clip ? min(1, max(-1, x0s[i])) : x0s[i]
                    let e = clip ? (xT[i] - ab.squareRoot() * x0) / (1 - ab).squareRoot() : eps[i]
                    return abp.squareRoot() * x0 + (1 - abp - sigma * sigma).squareRoot() * e + sigma * (sigma > 0 ? z[i] : 0)
                }
                return (x0s, next)
            }
        }
    }

    /// The last step of each sampler: DDPM at t = 0 adds no noise (x_{-1} is
    /// the mean); DDIM's last step goes to abar_prev = 1, so x = x0^ exactly.
    func testLastSteps() throws {
        let s = try NoiseSchedule()
        let pred = LinearPredictor(size: 2, a: 0.3, b: -0.1)
        let ddpm = try Sampler(schedule: s, settings: SamplerSettings(kind: .ddpm, noiseTemperature: 1), n: 1, size: 2, seed: seed)
        while ddpm.currentT > 0 { ddpm.step(pred) }
        let x = ddpm.x.array(hw).map(Double.init)
        let f = ddpm.step(pred)
        XCTAssertEqual(f.t, 0); XCTAssertEqual(f.tNext, -1); XCTAssertTrue(ddpm.isFinished)
        for i in 0..<hw {
            let eps = 0.3 * x[i] - 0.1
            let mean = (x[i] - s.betas[0] / (1 - s.alphasCumprod[0]).squareRoot() * eps) / s.alphas[0].squareRoot()
            XCTAssertEqual(Double(f.xNext[i]), mean, accuracy: 1e-5, "DDPM t=0 adds no noise")
        }
        let ddim = try Sampler(schedule: s, settings: SamplerSettings(kind: .ddim, steps: 5, eta: 1), n: 1, size: 2, seed: seed)
        var last: Frame?
        while !ddim.isFinished { last = ddim.step(pred) }
        XCTAssertEqual(last?.tNext, -1)
        XCTAssertEqual(last?.xNext, last?.x0, "DDIM's last step returns x0^ (abar_prev = 1, sigma = 0)")
    }

    /// DPM-Solver++(2M), three steps written out by hand (Lu et al. 2022,
    /// Algorithm 2, with α = √ᾱ, σ = √(1-ᾱ), λ = log(α/σ)): the first step is
    /// first order, the second uses the first's x̂0, the last (to σ = 0)
    /// returns x̂0. One pixel, eps = 0.3 x - 0.1.
    func testDPMSolverThreeStepsByHand() throws {
        let sch = try NoiseSchedule()
        let set = SamplerSettings(kind: .dpmpp, steps: 3)
        let sampler = try Sampler(schedule: sch, settings: set, n: 1, size: 1, seed: seed)
        XCTAssertEqual(sampler.timesteps, [999, 666, 332])
        var x = Double(sampler.x.ptr[0])
        func alpha(_ t: Int) -> Double { t < 0 ? 1 : sch.alphasCumprod[t].squareRoot() }
        func sigma(_ t: Int) -> Double { t < 0 ? 0 : (1 - sch.alphasCumprod[t]).squareRoot() }
        func lambda(_ t: Int) -> Double { log(alpha(t) / sigma(t)) }
        func x0hat(_ x: Double, _ t: Int) -> Double { (x - sigma(t) * (0.3 * x - 0.1)) / alpha(t) }
        let model = LinearPredictor(size: 1, a: 0.3, b: -0.1)
        // Step 1: 999 -> 666, first order: x = σ1/σ0 x - α1 (e^{-h} - 1) D0.
        let d0 = x0hat(x, 999)
        var h = lambda(666) - lambda(999)
        x = sigma(666) / sigma(999) * x - alpha(666) * (exp(-h) - 1) * d0
        sampler.step(model)
        XCTAssertEqual(Double(sampler.x.ptr[0]), x, accuracy: 1e-5 * max(1, abs(x)), "step 1")
        // Step 2: 666 -> 332, second order: D1 = (D0 - D_prev)/r, r = (λ_666 - λ_999)/h.
        let d1 = x0hat(x, 666)
        h = lambda(332) - lambda(666)
        let r = (lambda(666) - lambda(999)) / h
        let dd = (d1 - d0) / r
        x = sigma(332) / sigma(666) * x - alpha(332) * (exp(-h) - 1) * d1 - 0.5 * alpha(332) * (exp(-h) - 1) * dd
        let f2 = sampler.step(model)
        XCTAssertEqual(Double(sampler.x.ptr[0]), x, accuracy: 1e-5 * max(1, abs(x)), "step 2")
        XCTAssertEqual(f2.tNext, 332)
        // Step 3: 332 -> final (σ = 0): x = x̂0.
        let last = x0hat(x, 332)
        sampler.step(model)
        XCTAssertEqual(Double(sampler.x.ptr[0]), last, accuracy: 1e-5 * max(1, abs(last)), "last step returns x0^")
        XCTAssertTrue(sampler.isFinished)
        // The coefficients the equation panel shows are these numbers.
        let c = DPMSolverStep.coefficients(sch, t: 666, tNext: 332, tPrev: 999)
        XCTAssertEqual(c.r!, r, accuracy: 1e-12)
        XCTAssertEqual(c.h, h, accuracy: 1e-12)
        XCTAssertNil(DPMSolverStep.coefficients(sch, t: 999, tNext: 666, tPrev: nil).r)
        XCTAssertNil(DPMSolverStep.coefficients(sch, t: 332, tNext: -1, tPrev: 666).r)
    }

    /// Trajectories against diffusers' DPMSolverMultistepScheduler (dpmsolver++,
    /// order 2, midpoint, final sigma zero, trailing), made by
    /// scripts/make_dpmpp_fixture.py in float64: every step's x at 10 and 25 steps.
    func testDPMSolverMatchesDiffusers() throws {
        let url = Bundle.module.url(forResource: "Fixtures/dpmpp", withExtension: "json")!
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let xT = (j["x_T"] as! [Double]).map(Float.init)
        let model = LinearPredictor(size: 4, a: Float(j["a"] as! Double), b: Float(j["b"] as! Double))
        for run in j["runs"] as! [[String: Any]] {
            let steps = run["steps"] as! Int
            let sampler = try Sampler(schedule: try NoiseSchedule(), settings: SamplerSettings(kind: .dpmpp, steps: steps), n: 2, size: 4, seed: 1)
            XCTAssertEqual(sampler.timesteps, run["timesteps"] as! [Int], "\(steps) steps: the same timesteps")
            xT.withUnsafeBufferPointer { sampler.x.ptr.update(from: $0.baseAddress!, count: 32) }
            for (k, want) in (run["trajectory"] as! [[Double]]).enumerated() {
                sampler.step(model)
                for i in 0..<32 {
                    XCTAssertEqual(Double(sampler.x.ptr[i]), want[i], accuracy: 2e-4 * max(1, abs(want[i])), "\(steps) steps, step \(k), x[\(i)]")
                }
            }
            XCTAssertTrue(sampler.isFinished)
        }
    }

    /// A DPM-Solver++ run restored from a mid-run state (as a fork from a
    /// scrubbed step is) continues bit for bit: the state keeps the previous x̂0.
    func testDPMSolverStateKeepsItsHistory() throws {
        let sch = try NoiseSchedule()
        let model = LinearPredictor(size: 2, a: 0.3, b: -0.1)
        let a = try Sampler(schedule: sch, settings: SamplerSettings(kind: .dpmpp, steps: 8), n: 2, size: 2, seed: 5)
        for _ in 0..<3 { a.step(model) }
        let mid = a.state
        let straight = a.run(model)
        let b = try Sampler(schedule: sch, settings: SamplerSettings(kind: .dpmpp, steps: 8), n: 2, size: 2, seed: 5)
        b.restore(mid)
        XCTAssertEqual(b.run(model), straight)
        // Without the history the fourth step would be first order, and differ.
        let c = try Sampler(schedule: sch, settings: SamplerSettings(kind: .dpmpp, steps: 8), n: 2, size: 2, seed: 5)
        c.restore(mid); c.prevT = -1
        XCTAssertNotEqual(c.run(model), straight)
    }
}

final class BenchmarkTests: XCTestCase {
    /// `ddpm bench --steps N` takes N up to 10,000, more than a trajectory's
    /// 1000 steps: sampling goes on from a new x_T where it used to stop on
    /// "sampler already finished" (exit 132).
    func testMoreSampleStepsThanATrajectoryHas() throws {
        let r = try Benchmark.run(config: .tiny, trainBatches: [], sampleBatches: [1], warmup: 3, steps: 1000)
        XCTAssertEqual(r.sample.count, 1)
        XCTAssertTrue(r.sample[0].ms_per_step > 0 && r.sample[0].ms_per_step.isFinite, "\(r.sample)")
    }
}
