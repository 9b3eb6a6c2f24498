import XCTest
@testable import Compute
@testable import Engine

final class MetricsTests: XCTestCase {
    func gaussian(_ n: Int, _ d: Int, mean: [Double], std: [Double], seed: UInt64) -> [Float] {
        var r = RNG(seed: seed)
        return (0..<(n * d)).map { Float(mean[$0 % d] + std[$0 % d] * r.normal()) }
    }

    func testFrechetIdenticalSetsIsZero() {
        let x = gaussian(400, 4, mean: [0, 1, 2, 3], std: [1, 2, 0.5, 1], seed: 1)
        let (m, c) = Metrics.meanCov(x, n: 400, d: 4)
        XCTAssertEqual(Metrics.frechet(m, c, m, c, d: 4), 0, accuracy: 1e-9)
    }

    /// Diagonal Gaussians: FD = |m1 - m2|^2 + sum (s1 - s2)^2 in closed form.
    func testFrechetClosedForm() {
        let d = 3
        let m1 = [0.0, 1, 2], m2 = [1.0, 1, 0]
        let s1 = [1.0, 2, 3], s2 = [2.0, 2, 1]
        var c1 = [Double](repeating: 0, count: 9), c2 = c1
        for i in 0..<d { c1[i * d + i] = s1[i] * s1[i]; c2[i * d + i] = s2[i] * s2[i] }
        let expect = (0..<d).reduce(0.0) { $0 + pow(m1[$1] - m2[$1], 2) + pow(s1[$1] - s2[$1], 2) }
        XCTAssertEqual(Metrics.frechet(m1, c1, m2, c2, d: d), expect, accuracy: 1e-9)
        // A rotated (non-diagonal) covariance against itself shifted by (3, 4): FD = 25.
        let c = [2.0, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 3]
        XCTAssertEqual(Metrics.frechet([0, 0, 0], c, [3, 4, 0], c, d: 3), 25, accuracy: 1e-8)
        // Sampled: a shift of 2 in one coordinate of a unit Gaussian gives about 4.
        let a = gaussian(4000, 2, mean: [0, 0], std: [1, 1], seed: 2), b = gaussian(4000, 2, mean: [2, 0], std: [1, 1], seed: 3)
        let (ma, ca) = Metrics.meanCov(a, n: 4000, d: 2), (mb, cb) = Metrics.meanCov(b, n: 4000, d: 2)
        XCTAssertEqual(Metrics.frechet(ma, ca, mb, cb, d: 2), 4, accuracy: 0.15)
    }

    func testClassMetrics() {
        // Two confident classes, equally often: IS = 2, confident rate 1, histogram 50/50.
        var probs = [Float](repeating: 0, count: 40)
        for i in 0..<4 { probs[i * 10 + (i % 2)] = 1 }
        XCTAssertEqual(Metrics.inceptionScore(probs, n: 4), 2, accuracy: 1e-9)
        XCTAssertEqual(Metrics.confidentRate(probs, n: 4), 1)
        XCTAssertEqual(Metrics.classHistogram(probs, n: 4)[0], 0.5)
        // Uniform predictions: IS = 1, nothing confident.
        let uni = [Float](repeating: 0.1, count: 40)
        XCTAssertEqual(Metrics.inceptionScore(uni, n: 4), 1, accuracy: 1e-6)
        XCTAssertEqual(Metrics.confidentRate(uni, n: 4), 0)
    }

    func testPrecisionRecallAndDiversity() {
        let a = gaussian(200, 2, mean: [0, 0], std: [1, 1], seed: 5)
        let pr = Metrics.precisionRecall(real: a, nr: 200, fake: a, nf: 200, d: 2)
        XCTAssertEqual(pr.precision, 1); XCTAssertEqual(pr.recall, 1)
        let far = gaussian(200, 2, mean: [50, 50], std: [1, 1], seed: 6)
        let pf = Metrics.precisionRecall(real: a, nr: 200, fake: far, nf: 200, d: 2)
        XCTAssertEqual(pf.precision, 0); XCTAssertEqual(pf.recall, 0)
        XCTAssertEqual(Metrics.diversity([0, 0, 3, 4], n: 2, d: 2), 5, accuracy: 1e-9)
        // A flat image has no Sobel energy; a vertical edge has.
        XCTAssertEqual(Metrics.sobelEnergy([Float](repeating: 1, count: 16), n: 1, side: 4), 0)
        XCTAssertGreaterThan(Metrics.sobelEnergy((0..<16).map { Float($0 % 4 < 2 ? -1 : 1) }, n: 1, side: 4), 0)
    }

    /// The classifier's backward pass matches finite differences.
    func testClassifierGradient() throws {
        let cls = Classifier()
        let p = FloatBuffer(count: cls.layout.count)
        var rng = RNG(seed: 4)
        cls.layout.initialize(p.ptr, rng: &rng)
        let x = randomBuffer(2 * 784, seed: 8)
        let labels: [UInt8] = [3, 7]
        func loss() -> Double {
            cls.forward(p.ptr, x: x.ptr, n: 2)
            let g = FloatBuffer(count: cls.layout.count)
            return cls.backward(p.ptr, g.ptr, labels: labels[...])
        }
        cls.forward(p.ptr, x: x.ptr, n: 2)
        let g = FloatBuffer(count: cls.layout.count)
        cls.backward(p.ptr, g.ptr, labels: labels[...])
        for _ in 0..<40 {
            let i = rng.int(cls.layout.count)
            let old = p.ptr[i]
            p.ptr[i] = old + 1e-2; let lp = loss()
            p.ptr[i] = old - 1e-2; let lm = loss()
            p.ptr[i] = old
            let num = (lp - lm) / 2e-2
            XCTAssertEqual(num, Double(g.ptr[i]), accuracy: 2e-3 + 3e-2 * abs(num), "param \(i)")
        }
    }
}
