// VariationalBoundTests.swift: the bound in bits/dim (issue #22, item 1): its
// terms against closed forms, and the whole bound where the answer is exact.
import XCTest
@testable import Compute
@testable import Engine

/// The optimal ε-predictor for data that is one fixed image x*: ε = (x_t − √ᾱ_t x*)/√(1 − ᾱ_t), so x̂0 = x* exactly.
final class PointMassPredictor: NoisePredictor {
    let imageSize: Int, image: [Float], schedule: NoiseSchedule
    init(image: [Float], size: Int, schedule: NoiseSchedule) { self.image = image; imageSize = size; self.schedule = schedule }
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        let hw = imageSize * imageSize
        for (i, ti) in t.enumerated() {
            let a = schedule.sqrtAlphasCumprod[ti], s = schedule.sqrtOneMinusAlphasCumprod[ti]
            for j in 0..<hw { out[i * hw + j] = Float((Double(x[i * hw + j]) - a * Double(image[j])) / s) }
        }
    }
}

final class VariationalBoundTests: XCTestCase {
    /// KL of Gaussians against the closed forms of special cases.
    func testNormalKL() {
        XCTAssertEqual(VariationalBound.normalKL(mean1: 0.3, logVar1: -1, mean2: 0.3, logVar2: -1), 0, accuracy: 1e-15)
        // Means apart, unit variances: (m1 - m2)^2 / 2.
        XCTAssertEqual(VariationalBound.normalKL(mean1: 1.5, logVar1: 0, mean2: -0.5, logVar2: 0), 2, accuracy: 1e-12)
        // Variance s2 against 1: (s2 - 1 - log s2) / 2.
        let s2 = 0.25
        XCTAssertEqual(VariationalBound.normalKL(mean1: 0, logVar1: log(s2), mean2: 0, logVar2: 0), (s2 - 1 - log(s2)) / 2, accuracy: 1e-12)
        // Scale-invariant: both variances times 4, the mean gap times 2.
        XCTAssertEqual(VariationalBound.normalKL(mean1: 2, logVar1: log(4 * s2), mean2: 0, logVar2: log(4)),
                       VariationalBound.normalKL(mean1: 1, logVar1: log(s2), mean2: 0, logVar2: 0), accuracy: 1e-12)
    }

    /// The discretised decoder is a distribution over the 256 levels (it sums
    /// to 1 for any mean and scale), and a sharp one centred on a level gives it all the mass.
    func testDiscretizedDecoderSumsToOne() {
        for (mean, logScale) in [(0.0, -1.0), (0.9, -3.0), (-1.2, 0.5), (0.37, -6.0)] {
            let total = (0..<256).map { k in exp(VariationalBound.discretizedGaussianLogLikelihood(Double(k) / 127.5 - 1, mean: mean, logScale: logScale)) }
                .reduce(0, +)
            XCTAssertEqual(total, 1, accuracy: 1e-9, "mean \(mean) log scale \(logScale)")
        }
        XCTAssertEqual(VariationalBound.discretizedGaussianLogLikelihood(128 / 127.5 - 1, mean: 128 / 127.5 - 1, logScale: -8), 0, accuracy: 1e-9)
        XCTAssertEqual(VariationalBound.discretizedGaussianLogLikelihood(-1, mean: -1, logScale: -8), 0, accuracy: 1e-9)
    }

    /// Data that is one fixed image with its optimal predictor: x̂0 = x*, so
    /// with β̃ every L_{t-1} is 0 and the bound is L_T + L_0, both in closed
    /// form; with β each L_{t-1} is the variance mismatch alone,
    /// (log(β_t/β̃_t) + β̃_t/β_t − 1)/2 per dimension. Exact whatever x_t was drawn.
    func testPointMassBoundIsExact() throws {
        let sch = try NoiseSchedule(T: 100)
        let size = 4, hw = 16
        let image: [Float] = (0..<hw).map { Float((($0 * 37) % 256)) / 127.5 - 1 }
        let model = PointMassPredictor(image: image, size: size, schedule: sch)
        let ln2 = log(2.0)
        // L_T by hand, per dimension: (ᾱ x² + (1 - ᾱ) - 1 - log(1 - ᾱ)) / 2.
        let ab = sch.alphasCumprod[99]
        let prior = image.map { x in (ab * Double(x) * Double(x) + (1 - ab) - 1 - log(1 - ab)) / 2 }.reduce(0, +) / Double(hw) / ln2
        // L_0: the bin's mass under N(x, β̃_1) with the tanh CDF; end bins open.
        let sd = sch.posteriorVariance[1].squareRoot()
        func cdf(_ v: Double) -> Double { 0.5 * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
        let decoder = image.map { x -> Double in
            let half = (1 / 255) / sd
            if x < -0.999 { return -log(cdf(half)) }
            if x > 0.999 { return -log(1 - cdf(-half)) }
            return -log(cdf(half) - cdf(-half))
        }.reduce(0, +) / Double(hw) / ln2
        let two = image + image
        let post = VariationalBound.compute(model: model, schedule: sch, images: two, n: 2, size: size, variance: .posterior, clip: false, seed: 3)
        XCTAssertEqual(post.prior, prior, accuracy: 1e-9)
        XCTAssertEqual(post.decoder, decoder, accuracy: 1e-6)
        for t in 1..<100 { XCTAssertEqual(post.perT[t], 0, accuracy: 1e-6, "L_\(t - 1) with the posterior variance") }
        XCTAssertEqual(post.total, prior + decoder, accuracy: 1e-5)
        XCTAssertEqual(post.standardError, 0, accuracy: 1e-6, "the same image twice")
        let beta = VariationalBound.compute(model: model, schedule: sch, images: two, n: 2, size: size, variance: .beta, clip: false, seed: 3)
        var middle = 0.0
        for t in 1..<100 {
            let r = sch.posteriorVariance[t] / sch.betas[t]
            let want = (-log(r) + r - 1) / 2 / ln2
            XCTAssertEqual(beta.perT[t], want, accuracy: 1e-6 + 1e-4 * want, "L_\(t - 1) with beta: the variance mismatch")
            middle += want
        }
        XCTAssertEqual(beta.total, prior + decoder + middle, accuracy: 1e-4)
        // A worse predictor (x̂0 off by noise) has a larger bound.
        let wrong = PointMassPredictor(image: image.map { -$0 }, size: size, schedule: sch)
        let worse = VariationalBound.compute(model: wrong, schedule: sch, images: two, n: 2, size: size, variance: .posterior, clip: false, seed: 3)
        XCTAssertGreaterThan(worse.total, post.total + 1)
    }

    /// With a predictor whose x̂0 depends on x_t, the bound depends on the
    /// draws: the same seed gives the same number whatever the batch size (each
    /// image has its own stream), another seed another number; a padded image
    /// measured over its centre only counts the centre's pixels.
    func testDrawsFollowTheSeed() throws {
        let sch = try NoiseSchedule(T: 50)
        let model = LinearPredictor(size: 4, a: 0.3, b: -0.1)
        let images: [Float] = (0..<48).map { Float(($0 * 53) % 256) / 127.5 - 1 }
        let a = VariationalBound.compute(model: model, schedule: sch, images: images, n: 3, size: 4, seed: 3, batch: 3)
        let b = VariationalBound.compute(model: model, schedule: sch, images: images, n: 3, size: 4, seed: 3, batch: 1)
        let c = VariationalBound.compute(model: model, schedule: sch, images: images, n: 3, size: 4, seed: 4, batch: 3)
        XCTAssertEqual(a.total, b.total, accuracy: 1e-12)
        XCTAssertEqual(a.perT, b.perT)
        XCTAssertNotEqual(a.total, c.total, "another seed, other draws of x_t")
        let centre = VariationalBound.compute(model: model, schedule: sch, images: images, n: 3, size: 4, seed: 3, measuredSide: 2)
        XCTAssertNotEqual(centre.total, a.total)
        XCTAssertEqual(centre.perT.count, 50)
    }

    /// Weights whose output overflows: the bound is not a number, and it says so after the
    /// first model call whose term is not finite, not after all T of them; likewise the
    /// sampler's `finiteSamples` throws at the first step whose x is not finite.
    func testOverflowStopsAtTheFirstTermOrStep() throws {
        final class Overflowing: NoisePredictor {
            let imageSize = 4, from: Int
            var calls = 0
            init(from t: Int) { from = t }
            func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
                calls += 1
                for i in 0..<(t.count * 16) { out[i] = t[i / 16] <= from ? .infinity : 0.1 }
            }
        }
        let sch = try NoiseSchedule(T: 50)
        let images: [Float] = (0..<32).map { Float(($0 * 53) % 256) / 127.5 - 1 }
        let model = Overflowing(from: 40)
        let r = VariationalBound.compute(model: model, schedule: sch, images: images, n: 2, size: 4, clip: false, batch: 1)
        XCTAssertFalse(r.total.isFinite)
        XCTAssertEqual(model.calls, 10, "t = 49 ... 40, then no more (the second image's batch included)")
        let sound = Overflowing(from: -1)
        XCTAssertTrue(VariationalBound.compute(model: sound, schedule: sch, images: images, n: 2, size: 4, clip: false, batch: 1).total.isFinite)
        XCTAssertEqual(sound.calls, 100)

        let sampling = Overflowing(from: 40)
        let s = try Sampler(schedule: sch, settings: SamplerSettings(kind: .ddpm), n: 2, size: 4, seed: 1)
        XCTAssertThrowsError(try s.finiteSamples(sampling)) { XCTAssertEqual($0 as? EngineError, .nonFiniteSamples) }
        XCTAssertEqual(sampling.calls, 10, "DDPM steps t = 49 ... 40")
        let fine = try Sampler(schedule: sch, settings: SamplerSettings(kind: .ddpm), n: 2, size: 4, seed: 1)
        XCTAssertEqual(try fine.finiteSamples(Overflowing(from: -1)).count, 32)
    }
}
