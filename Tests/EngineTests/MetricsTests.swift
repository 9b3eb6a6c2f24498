import XCTest
@testable import Compute
@testable import Engine

final class MetricsTests: XCTestCase {
    /// The reference cache's file and key follow every input: one weight or one pixel changed
    /// gives another file and key; the same inputs, the same (a key that left the weights out
    /// would read one classifier's numbers for another's).
    func testReferenceCacheKeyFollowsWeightsAndImages() throws {
        let cls = Classifier(.v2), params = FloatBuffer(count: cls.layout.count)
        var rng = RNG(seed: 4)
        cls.layout.initialize(params.ptr, rng: &rng)
        let images = Dataset(images: (0..<(3 * MNIST.pixels)).map { Float($0 % 7) / 7 }, labels: [1, 2, 3], side: MNIST.side)
        let base = try ReferenceCache.entry(classifier: cls, params: params, reference: images, folder: "/c")
        XCTAssertTrue(base.path.hasPrefix("/c/reference-") && base.path.hasSuffix(".bin") && base.key.count == 32, base.path)
        let again = try ReferenceCache.entry(classifier: cls, params: params, reference: images, folder: "/c")
        XCTAssertEqual(again.path, base.path); XCTAssertEqual(again.key, base.key)
        params.ptr[cls.layout.count - 1] += 1e-3
        let weights = try ReferenceCache.entry(classifier: cls, params: params, reference: images, folder: "/c")
        params.ptr[cls.layout.count - 1] -= 1e-3
        var changed = images
        changed.images[5] += 0.5
        let pixel = try ReferenceCache.entry(classifier: cls, params: params, reference: changed, folder: "/c")
        for other in [weights, pixel] {
            XCTAssertNotEqual(other.path, base.path); XCTAssertNotEqual(other.key, base.key)
        }
        XCTAssertTrue(try ReferenceCache.computedBy().contains("\(Parallel.cores) cores"))
    }

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
        let expect = (0..<d).reduce(0.0) { (sum: Double, i: Int) -> Double in sum + pow(m1[i] - m2[i], 2) + pow(s1[i] - s2[i], 2) }
        XCTAssertEqual(Metrics.frechet(m1, c1, m2, c2, d: d), expect, accuracy: 1e-9)
        // A rotated (non-diagonal) covariance against itself shifted by (3, 4): FD = 25.
        let c = [2.0, 0.5, 0, 0.5, 1, 0.2, 0, 0.2, 3]
        XCTAssertEqual(Metrics.frechet([0, 0, 0], c, [3, 4, 0], c, d: 3), 25, accuracy: 1e-8)
        // Sampled: a shift of 2 in one coordinate of a unit Gaussian gives about 4.
        let a = gaussian(4000, 2, mean: [0, 0], std: [1, 1], seed: 2), b = gaussian(4000, 2, mean: [2, 0], std: [1, 1], seed: 3)
        let (ma, ca) = Metrics.meanCov(a, n: 4000, d: 2), (mb, cb) = Metrics.meanCov(b, n: 4000, d: 2)
        XCTAssertEqual(Metrics.frechet(ma, ca, mb, cb, d: 2), 4, accuracy: 0.15)
    }

    /// The tridiagonal QL eigenvalues agree with the Jacobi sweeps (random
    /// symmetric matrices, a diagonal one, a rank-1 one) and with hand values;
    /// the upper triangle is never read.
    func testSymmetricEigenvalues() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
        func close(_ a: [Double], _ b: [Double], _ tol: Double, _ what: String = "") {
            XCTAssertEqual(a.count, b.count, what)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: tol, what) }
        }
        close(Metrics.symmetricEigenvalues([2, 1, 1, 2], 2).sorted(), [1, 3], 1e-12)
        XCTAssertEqual(Metrics.symmetricEigenvalues([5], 1), [5])
        var r = RNG(seed: 9)
        for d in [3, 17, 64] {
            var a = [Double](repeating: 0, count: d * d)
            for i in 0..<d { for j in i..<d { let v = r.normal(); a[i * d + j] = v; a[j * d + i] = v } }
            let ql = Metrics.symmetricEigenvalues(a, d).sorted(), jacobi = Metrics.symmetricEigen(a, d).values.sorted()
            close(ql, jacobi, 1e-9 * Double(d), "d \(d)")
            // Only the lower triangle is read.
            var lower = a
            for i in 0..<d { for j in (i + 1)..<max(i + 1, d) { lower[i * d + j] = .nan } }
            XCTAssertEqual(Metrics.symmetricEigenvalues(lower, d).sorted(), Metrics.symmetricEigenvalues(a, d).sorted(), "d \(d)")
            let diag = (0..<(d * d)).map { $0 % (d + 1) == 0 ? Double($0 / (d + 1)) : 0 }
            close(Metrics.symmetricEigenvalues(diag, d).sorted(), (0..<d).map(Double.init), 1e-12)
            let u = (0..<d).map { _ in r.normal() }, norm2 = u.reduce(0) { $0 + $1 * $1 }
            let rank1 = (0..<(d * d)).map { u[$0 / d] * u[$0 % d] }
            let e = Metrics.symmetricEigenvalues(rank1, d).sorted()
            XCTAssertEqual(e.last!, norm2, accuracy: 1e-9 * norm2)
            for v in e.dropLast() { XCTAssertEqual(v, 0, accuracy: 1e-9 * norm2) }
        }
    }

    /// The row-wise, vectorised Householder reduction gives the tridiagonal
    /// matrix NR's scalar tred2 gives (to rounding: the sums run in another
    /// order), at sizes that reach every SIMD loop and remainder.
    func testTridiagonalMatchesReference() {
        var r = RNG(seed: 11)
        for n in [1, 2, 3, 5, 9, 17, 64, 131] {
            var a = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for j in 0...i { let v = r.normal(); a[i * n + j] = v; a[j * n + i] = v } }
            var fast = a, slow = a
            var d1 = [Double](repeating: 0, count: n), e1 = d1, d2 = d1, e2 = d1, scratch = d1
            fast.withUnsafeMutableBufferPointer { f in d1.withUnsafeMutableBufferPointer { d in e1.withUnsafeMutableBufferPointer { e in
                scratch.withUnsafeMutableBufferPointer { p in
                    Tridiagonal.reduce(f.baseAddress!, n: n, diagonal: d.baseAddress!, offDiagonal: e.baseAddress!, scratch: p.baseAddress!)
                }
            } } }
            slow.withUnsafeMutableBufferPointer { s in d2.withUnsafeMutableBufferPointer { d in e2.withUnsafeMutableBufferPointer { e in
                Tridiagonal.reduceReference(s.baseAddress!, n: n, diagonal: d.baseAddress!, offDiagonal: e.baseAddress!)
            } } }
            let tol = 1e-12 * Double(n)
            for i in 0..<n {
                XCTAssertEqual(d1[i], d2[i], accuracy: tol, "n \(n) diagonal \(i)")
                XCTAssertEqual(e1[i], e2[i], accuracy: tol, "n \(n) off-diagonal \(i)")
            }
        }
    }

    /// Wilson intervals against hand-computed values; the two-proportion rule.
    func testRateIntervals() {
        // 5 of 10: centre 0.5, half-width 1.96 sqrt(0.025 + 0.0096) / 1.384 = 0.2366.
        let w = Metrics.wilson(5, 10)
        XCTAssertEqual(w.lowerBound, 0.2366, accuracy: 1e-4); XCTAssertEqual(w.upperBound, 0.7634, accuracy: 1e-4)
        // 0 of 20: [0, 3.84 / 23.84].
        XCTAssertEqual(Metrics.wilson(0, 20).lowerBound, 0); XCTAssertEqual(Metrics.wilson(0, 20).upperBound, 0.1611, accuracy: 1e-4)
        // 900 of 1000: about 0.9 +- 0.019.
        XCTAssertEqual(Metrics.wilson(900, 1000).lowerBound, 0.8798, accuracy: 1e-4)
        XCTAssertTrue(Metrics.ratesWithinNoise(870, 1000, 880, 1000))
        XCTAssertFalse(Metrics.ratesWithinNoise(860, 1000, 950, 1000))
    }

    /// The bootstrap interval of FD covers the truth about as often as it says, and
    /// shrinks with n; two sets from one distribution are within noise, a shifted one is not.
    func testBootstrapFrechet() {
        let d = 4, ref = gaussian(20_000, d, mean: [0, 0, 0, 0], std: [1, 1, 1, 1], seed: 11)
        let (rm, rc) = Metrics.meanCov(ref, n: 20_000, d: d)
        let reference = Metrics.FrechetReference(mean: rm, cov: rc, d: d)
        // A mean shift of 0.5 in one coordinate: FD = 0.25 (plus the finite-n bias, about 2d/n).
        var covered = 0
        var se = [Double]()
        for (k, n) in [400, 400, 400, 400, 400, 1600].enumerated() {
            let x = gaussian(n, d, mean: [0.5, 0, 0, 0], std: [1, 1, 1, 1], seed: 100 + UInt64(k))
            let b = Metrics.bootstrapFrechet(x, n: n, d: d, reference: reference, replicates: 200, seed: UInt64(k))
            let s = Metrics.standardError(b.replicates)
            se.append(s)
            if abs(b.value - 0.25) <= 2.5 * s { covered += 1 }
        }
        XCTAssertGreaterThanOrEqual(covered, 5, "bootstrap intervals cover FD = 0.25 only \(covered) of 6 times")
        XCTAssertLessThan(se[5], se[0] * 0.75, "a 4x larger set should have about half the standard error: \(se)")
        func scores(_ x: [Float], _ n: Int, _ seed: UInt64) -> Evaluation.Scores {
            let b = Metrics.bootstrapFrechet(x, n: n, d: d, reference: reference, replicates: 200, seed: seed)
            return Evaluation.Scores(values: ["frechet": b.value], n: n, confident: 0, frechetReplicates: b.replicates)
        }
        let same1 = scores(gaussian(800, d, mean: [0.3, 0, 0, 0], std: [1, 1, 1, 1], seed: 21), 800, 1)
        let same2 = scores(gaussian(800, d, mean: [0.3, 0, 0, 0], std: [1, 1, 1, 1], seed: 22), 800, 2)
        let far = scores(gaussian(800, d, mean: [1.0, 0, 0, 0], std: [1, 1, 1, 1], seed: 23), 800, 3)
        XCTAssertTrue(Evaluation.frechetDifference(same1, same2).withinNoise)
        XCTAssertFalse(Evaluation.frechetDifference(far, same1).withinNoise)
        XCTAssertGreaterThan(Evaluation.frechetDifference(far, same1).value, 0)
    }

    /// The bootstrap's replicates, dealt to the cores, are the values of the
    /// serial definition: n draws per replicate from RNG(seed, stream 0xB007)
    /// in replicate order, each replicate's FD to the reference.
    func testBootstrapFrechetIsTheSerialDefinition() {
        let d = 4, n = 60
        let (rm, rc) = Metrics.meanCov(gaussian(2000, d, mean: [0, 0, 0, 0], std: [1, 1, 1, 1], seed: 5), n: 2000, d: d)
        let reference = Metrics.FrechetReference(mean: rm, cov: rc, d: d)
        let x = gaussian(n, d, mean: [0.2, 0, 0, 0], std: [1, 1, 1, 1], seed: 6)
        let b = Metrics.bootstrapFrechet(x, n: n, d: d, reference: reference, replicates: 7, seed: 9)
        var rng = RNG(seed: 9, stream: 0xB007)
        var serial = [Double]()
        for _ in 0..<7 {
            var r = [Float](repeating: 0, count: n * d)
            for i in 0..<n { let src = rng.int(n); for j in 0..<d { r[i * d + j] = x[src * d + j] } }
            let (m, c) = Metrics.meanCov(r, n: n, d: d)
            serial.append(reference.distance(mean: m, cov: c))
        }
        XCTAssertEqual(b.replicates, serial)
        XCTAssertEqual(Set(serial).count, 7, "seven different resamples")
    }

    /// The kernel distance against a hand-computed case, and its promise:
    /// sets drawn from the reference's distribution score 0 on average at any
    /// n (the unbiased estimate; the Fréchet distance of the same sets is
    /// biased well above its true 0), while a narrower set scores above 0.
    func testKernelDistance() {
        // Y = (1, 1), (1, -1), (-1, 1): mean y^2 = 1, so the scale is 1. With
        // k(a, b) = (a.b / 2 + 1)^3: within Y, k = 1, 1, 0 (mean 2/3); X = (1, 0),
        // (0, 1): within 1; across, each x has k = 3.375, 3.375, 0.125 (mean 55/24).
        // KID = 1 + 2/3 - 2 * 55/24 = -35/12.
        let ref = Metrics.KernelReference([1, 1, 1, -1, -1, 1], n: 3, d: 2)
        XCTAssertEqual(ref.within, 2.0 / 3, accuracy: 1e-12)
        let hand = Metrics.bootstrapKernelDistance([1, 0, 0, 1], n: 2, d: 2, reference: ref, replicates: 0, seed: 0)
        XCTAssertEqual(hand.value, -35.0 / 12, accuracy: 1e-12)
        // The scale is the reference's: doubling every feature of both sets changes nothing.
        let ref2 = Metrics.KernelReference([2, 2, 2, -2, -2, 2], n: 3, d: 2)
        XCTAssertEqual(Metrics.bootstrapKernelDistance([2, 0, 0, 2], n: 2, d: 2, reference: ref2, replicates: 0, seed: 0).value,
                       -35.0 / 12, accuracy: 1e-12)

        // The blocked sums (reference rows in blocks of 512, cross terms in
        // blocks of 1024) against the plain double loops, past both block sizes.
        let big = gaussian(1100, 3, mean: [0.2, 0, -0.1], std: [1, 0.5, 2], seed: 51)
        let xs = gaussian(7, 3, mean: [0, 0.3, 0], std: [1, 1, 1], seed: 52)
        let bigRef = Metrics.KernelReference(big, n: 1100, d: 3)
        let y = bigRef.scaled(big, n: 1100), x = bigRef.scaled(xs, n: 7)
        func k(_ a: [Double], _ i: Int, _ b: [Double], _ j: Int) -> Double {
            Metrics.cubicKernel((0..<3).reduce(0) { $0 + a[i * 3 + $1] * b[j * 3 + $1] }, d: 3)
        }
        var naive = 0.0
        for i in 0..<1100 { for j in 0..<1100 where j != i { naive += k(y, i, y, j) } }
        XCTAssertEqual(bigRef.within, naive / (1100 * 1099), accuracy: 1e-12 * abs(naive / (1100 * 1099)))
        for (i, c) in bigRef.crossMeans(x, m: 7).enumerated() {
            let plain = (0..<1100).reduce(0.0) { $0 + k(x, i, y, $1) } / 1100
            XCTAssertEqual(c, plain, accuracy: 1e-12 * abs(plain))
        }
        // Two or three rows: the bootstrap redraws a resample of one row (no pair), so no value is NaN.
        for m in [2, 3] {
            let b = Metrics.bootstrapKernelDistance(xs, n: m, d: 3, reference: bigRef, replicates: 50, seed: 3)
            XCTAssertTrue(b.value.isFinite && b.replicates.allSatisfy(\.isFinite), "n = \(m): \(b)")
        }

        let d = 16, n = 100, sets = 12
        let reference = gaussian(6000, d, mean: [Double](repeating: 0.5, count: d), std: [Double](repeating: 1, count: d), seed: 31)
        let kref = Metrics.KernelReference(reference, n: 6000, d: d)
        let (rm, rc) = Metrics.meanCov(reference, n: 6000, d: d)
        let fref = Metrics.FrechetReference(mean: rm, cov: rc, d: d)
        func mean(_ std: Double, seed: UInt64) -> (kid: Double, se: Double, fd: Double) {
            var k = [Double](), f = [Double]()
            for i in 0..<sets {
                let x = gaussian(n, d, mean: [Double](repeating: 0.5, count: d), std: [Double](repeating: std, count: d),
                                 seed: seed + UInt64(i))
                k.append(Metrics.bootstrapKernelDistance(x, n: n, d: d, reference: kref, replicates: 0, seed: 0).value)
                let (m, c) = Metrics.meanCov(x, n: n, d: d)
                f.append(fref.distance(mean: m, cov: c))
            }
            let mk = k.reduce(0, +) / Double(sets)
            return (mk, Metrics.standardError(k) / Double(sets).squareRoot(), f.reduce(0, +) / Double(sets))
        }
        let same = mean(1, seed: 200), narrow = mean(0.7, seed: 300)
        XCTAssertEqual(same.kid, 0, accuracy: 3 * same.se, "sets of the reference's distribution: KID \(same)")
        XCTAssertLessThan(same.se, 0.01, "\(same)")
        XCTAssertGreaterThan(same.fd, 0.5, "the Frechet distance of n = \(n) rows is biased above its true 0: \(same)")
        XCTAssertGreaterThan(narrow.kid, same.kid + 3 * max(narrow.se, same.se), "a narrower set is further: \(narrow) \(same)")

        // The bootstrap: its interval covers the full-set value's neighbourhood and shrinks with n.
        let shifted = gaussian(1600, d, mean: [Double](repeating: 0.8, count: d), std: [Double](repeating: 1, count: d), seed: 41)
        let small = Metrics.bootstrapKernelDistance(shifted, n: 400, d: d, reference: kref, replicates: 100, seed: 1)
        let large = Metrics.bootstrapKernelDistance(shifted, n: 1600, d: d, reference: kref, replicates: 100, seed: 1)
        let seSmall = Metrics.standardError(small.replicates), seLarge = Metrics.standardError(large.replicates)
        XCTAssertGreaterThan(small.value - 1.96 * seSmall, 0, "a mean shift of 0.3 in every feature is beyond noise: \(small.value) +- \(seSmall)")
        XCTAssertEqual(small.value, large.value, accuracy: 3 * seSmall)
        XCTAssertLessThan(seLarge, 0.75 * seSmall, "4x the rows should about halve the standard error")
    }

    func testClassMetrics() {
        // Two confident classes, equally often: IS = 2, confident rate 1, histogram 50/50.
        var probs = [Float](repeating: 0, count: 40)
        for i in 0..<4 { probs[i * 10 + (i % 2)] = 1 }
        XCTAssertEqual(Metrics.inceptionScore(probs, n: 4), 2, accuracy: 1e-9)
        // Confident digits need ink like a real digit's (100 of 784 pixels here); blank ones are none.
        let inked = (0..<(4 * 784)).map { Float($0 % 784 < 100 ? 1 : -1) }, blank = [Float](repeating: -1, count: 4 * 784)
        XCTAssertEqual(Evaluation.confidentDigits(probs, images: inked, n: 4), 4)
        XCTAssertEqual(Evaluation.confidentDigits(probs, images: blank, n: 4), 0)
        XCTAssertEqual(Metrics.classHistogram(probs, n: 4)[0], 0.5)
        // Uniform predictions: IS = 1, nothing confident.
        let uni = [Float](repeating: 0.1, count: 40)
        XCTAssertEqual(Metrics.inceptionScore(uni, n: 4), 1, accuracy: 1e-6)
        XCTAssertEqual(Evaluation.confidentDigits(uni, images: inked, n: 4), 0)
    }

    /// The chi-square tail against scipy's / PyTorch's values
    /// (`torch.special.gammaincc(df / 2, x / 2)` in float64), odd and even
    /// degrees, and the class-mix test on the counts the torch judge read from
    /// the bundled model's 2000 DDIM-50 digits of seed 2027.
    func testChiSquareClassMix() {
        for (x, df, want) in [(21.665994333461924, 9, 0.01), (9, 9, 0.43727418891386727), (2, 2, 0.36787944117144245),
                              (3.841458820694124, 1, 0.05), (30, 4, 4.894437128029217e-06), (100, 9, 1.5735176303753876e-17),
                              (41.25, 9, 4.50415626298917e-06)] {
            XCTAssertEqual(Metrics.chiSquareSurvival(x, degrees: df), want, accuracy: 1e-12 + 1e-9 * want, "x \(x), \(df) df")
        }
        XCTAssertEqual(Metrics.chiSquareSurvival(0, degrees: 9), 1)
        let counts: [Double] = [183, 221, 174, 211, 226, 189, 172, 188, 230, 206]
        let mix = Metrics.chiSquareEqualClasses(counts.map { $0 / 2000 }, n: 2000)
        XCTAssertEqual(mix.statistic, 20.94, accuracy: 1e-9)
        XCTAssertEqual(mix.p, 0.01291951013044142, accuracy: 1e-9)
        // An even set is at 0, p = 1; all of one class is as uneven as it gets.
        XCTAssertEqual(Metrics.chiSquareEqualClasses([Double](repeating: 0.1, count: 10), n: 1000).p, 1)
        let one = Metrics.chiSquareEqualClasses([1] + [Double](repeating: 0, count: 9), n: 1000)
        XCTAssertEqual(one.statistic, 9000, accuracy: 1e-9)
        XCTAssertLessThan(one.p, 1e-300)
    }

    /// A classifier of another set carries that set's band of real ink: a
    /// flooded image (600 of 784 pixels) is "all ink" for MNIST's classifier
    /// and a confident reading for one whose training images were inked so.
    func testInkBandComesFromTheClassifiersSet() throws {
        var probs = [Float](repeating: 0, count: 20)
        probs[3] = 1; probs[10 + 3] = 1
        let flooded = (0..<(2 * 784)).map { Float($0 % 784 < 600 ? 1 : -1) }
        XCTAssertEqual(Evaluation.confidentDigits(probs, images: flooded, n: 2), 0)
        // A set whose images hold 20%...80% ink: the band is widened as MNIST's was (x0.8 below, x1.13 above, at most 1).
        let set = (0..<(3 * 784)).map { i -> Float in let k = i / 784, j = i % 784; return Float(j < [157, 400, 627][k] ? 1 : -1) }
        let band = DigitReader.inkRange(of: set, n: 3, side: 28)
        XCTAssertEqual(band.lowerBound, 0.8 * 157 / 784, accuracy: 1e-6)
        XCTAssertEqual(band.upperBound, min(1, 1.13 * 627 / 784), accuracy: 1e-6)
        XCTAssertEqual(Evaluation.confidentDigits(probs, images: flooded, n: 2, inkRange: band), 2)
        // The band travels in the classifier's file, and into its readings.
        let path = NSTemporaryDirectory() + "ink-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = Classifier(.v2), params = FloatBuffer(count: c.layout.count)
        try Checkpoint.writeWeights(path, layout: c.layout, params: params.ptr, metadata: ["architecture": Classifier.Architecture.v2.description,
                                                                                            "ink_range": "\(band.lowerBound),\(band.upperBound)"])
        let (read, rp) = try Classifier.read(path)
        XCTAssertEqual(read.inkRange, band)
        let readings = DigitReader(net: read, params: rp).copy().read(flooded, n: 2, side: 28)
        XCTAssertTrue(readings.allSatisfy { $0.hasInk && $0.inkRange == band && $0.label != "all ink" })
        XCTAssertFalse(DigitReader(net: Classifier(.v2), params: rp).read(flooded, n: 1, side: 28)[0].hasInk)
        try Checkpoint.writeWeights(path, layout: c.layout, params: params.ptr, metadata: ["architecture": Classifier.Architecture.v2.description, "ink_range": "0.5,0.2"])
        XCTAssertThrowsError(try Classifier.read(path)) { XCTAssertTrue("\($0)".contains("ink_range"), "\($0)") }
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

    /// The classifier's backward pass matches finite differences: the first
    /// bundled architecture (GroupNorm, SiLU), the current one (ReLU) with its
    /// feature dropout (one fixed mask), and one with SiLU and no normalisation.
    func testClassifierGradient() throws {
        let archs: [Classifier.Architecture] = [.v1, .v2, Classifier.Architecture(c1: 8, c2: 16, c3: 8, hidden: 32, groupNorm: false)]
        for arch in archs {
            let cls = Classifier(arch)
            let p = FloatBuffer(count: cls.layout.count)
            var rng = RNG(seed: 4)
            cls.layout.initialize(p.ptr, rng: &rng)
            if arch == .v2 { cls.featureDropout = 0.5 }
            let maskSeed = cls.dropoutRNG
            let x = randomBuffer(2 * 784, seed: 8)
            let labels: [UInt8] = [3, 7]
            // ReLU has kinks: a smaller step keeps most pre-activations on their side.
            let eps: Float = arch.relu ? 2e-3 : 1e-2
            func loss() -> Double {
                cls.dropoutRNG = maskSeed
                cls.forward(p.ptr, x: x.ptr, n: 2)
                let g = FloatBuffer(count: cls.layout.count)
                return cls.backward(p.ptr, g.ptr, labels: labels[...])
            }
            cls.dropoutRNG = maskSeed
            cls.forward(p.ptr, x: x.ptr, n: 2)
            let g = FloatBuffer(count: cls.layout.count)
            cls.backward(p.ptr, g.ptr, labels: labels[...])
            var bad = 0
            for _ in 0..<40 {
                let i = rng.int(cls.layout.count)
                let old = p.ptr[i]
                p.ptr[i] = old + eps; let lp = loss()
                p.ptr[i] = old - eps; let lm = loss()
                p.ptr[i] = old
                let num = (lp - lm) / Double(2 * eps)
                if abs(num - Double(g.ptr[i])) > 2e-3 + 3e-2 * abs(num) { bad += 1; print("\(arch) param \(i): numeric \(num), analytic \(g.ptr[i])") }
            }
            // A ReLU kink inside the step can spoil one difference; more is a wrong gradient.
            XCTAssertLessThanOrEqual(bad, arch.relu ? 1 : 0, "\(arch): \(bad) of 40 gradients disagree")
        }
    }
}
