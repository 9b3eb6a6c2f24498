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
        for variance in VarianceKind.allCases {
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
}
