// DamageTests.swift: each kind of damage does what it says at its level, and
// the bundled classifier's features see every kind rise (issue #21).
import XCTest
@testable import Compute
@testable import Engine

final class DamageTests: XCTestCase {
    let P = MNIST.pixels

    /// `count` images, image i filled with `value(i)`, labels i % 10.
    func pool(_ count: Int, value: (Int) -> Float) -> Dataset {
        Dataset(images: (0..<(count * P)).map { value($0 / P) }, labels: (0..<count).map { UInt8($0 % 10) }, side: MNIST.side)
    }

    func testPixelDamageAtItsLevel() {
        let grey = pool(50) { _ in 0 }, white = pool(50) { _ in 1 }
        // Salt and pepper: the share of changed pixels is the level (grey pixels all become -1 or 1).
        for level in Damage.saltPepper.levels {
            let x = Damage.saltPepper.apply(level: level, to: grey, n: 50, seed: 3)
            let changed = Double(x.filter { $0 != 0 }.count) / Double(x.count)
            XCTAssertEqual(changed, level, accuracy: 0.01, "salt-pepper \(level)")
            XCTAssertTrue(x.allSatisfy { $0 == 0 || $0 == 1 || $0 == -1 })
        }
        // Erasing: the erased share of a white image is the level (to the rounding of one rectangle).
        for level in Damage.erasing.levels {
            let x = Damage.erasing.apply(level: level, to: white, n: 50, seed: 4)
            let erased = Double(x.filter { $0 == -1 }.count) / Double(x.count)
            XCTAssertEqual(erased, level, accuracy: 0.03, "erasing \(level)")
        }
        // Noise: clipped to [-1, 1]; on grey, the standard deviation is the level
        // until clipping at 1 / level standard deviations takes its share.
        var lastSD = 0.0
        for level in Damage.noise.levels {
            let x = Damage.noise.apply(level: level, to: grey, n: 50, seed: 5)
            XCTAssertTrue(x.allSatisfy { abs($0) <= 1 })
            let sd = (x.reduce(0) { $0 + Double($1 * $1) } / Double(x.count)).squareRoot()
            if level <= 0.35 { XCTAssertEqual(sd, level, accuracy: 0.01, "noise \(level)") }
            XCTAssertGreaterThan(sd, lastSD); XCTAssertLessThanOrEqual(sd, level * 1.01)
            lastSD = sd
        }
    }

    func testBlurAndSwirlGeometry() {
        // One lit pixel in the middle: blur spreads it (peak falls, neighbours rise, total ink kept).
        var dot = [Float](repeating: -1, count: P)
        dot[14 * 28 + 14] = 1
        let single = Dataset(images: dot, labels: [0], side: MNIST.side)
        var lastPeak: Float = 1
        for level in Damage.blur.levels {
            let x = Damage.blur.apply(level: level, to: single, n: 1, seed: 0)
            XCTAssertLessThan(x[14 * 28 + 14], lastPeak, "blur \(level)")
            XCTAssertGreaterThan(x[14 * 28 + 15], -1)
            XCTAssertEqual(x.reduce(0) { $0 + Double($1 + 1) }, 2, accuracy: 1e-3, "ink kept at blur \(level)")
            lastPeak = x[14 * 28 + 14]
        }
        // A blank image stays blank under blur and swirl.
        let blank = pool(1) { _ in -1 }
        XCTAssertTrue(Damage.blur.apply(level: 2, to: blank, n: 1, seed: 0).allSatisfy { abs($0 + 1) < 1e-6 })
        XCTAssertTrue(Damage.swirl.apply(level: 4, to: blank, n: 1, seed: 0).allSatisfy { abs($0 + 1) < 1e-6 })
        // Swirl turns a dot at radius rho about the centre by -strength * exp(-rho / 7).
        var dot2 = [Float](repeating: -1, count: P)
        dot2[13 * 28 + 19] = 1
        let c = 13.5, rho = (5.5 * 5.5 + 0.5 * 0.5).squareRoot(), before = atan2(-0.5, 5.5)
        for level in Damage.swirl.levels {
            let x = Damage.swirl.apply(level: level, to: Dataset(images: dot2, labels: [0], side: MNIST.side), n: 1, seed: 0)
            var sx = 0.0, sy = 0.0, w = 0.0
            for q in 0..<P where x[q] > -1 { let v = Double(x[q] + 1); sx += v * (Double(q % 28) - c); sy += v * (Double(q / 28) - c); w += v }
            var turned = atan2(sy / w, sx / w) - before
            if turned > Double.pi { turned -= 2 * Double.pi }
            if turned < -Double.pi { turned += 2 * Double.pi }
            XCTAssertEqual(turned, -level * exp(-rho / 7), accuracy: 0.15, "swirl \(level)")
        }
    }

    func testModeDropping() {
        // Image i is filled with its label / 10, so the values name the classes drawn.
        let labelled = pool(500) { Float($0 % 10) / 10 }
        for level in Damage.dropClasses.levels {
            let x = Damage.dropClasses.apply(level: level, to: labelled, n: 200, seed: 6)
            let classes = Set((0..<200).map { x[$0 * P] })
            XCTAssertEqual(classes.count, 10 - Int(level), "drop-classes \(level)")
        }
        // Image i is filled with i: the values count the distinct images.
        let distinct = pool(500) { Float($0) }
        for level in Damage.repeats.levels {
            let x = Damage.repeats.apply(level: level, to: distinct, n: 200, seed: 7)
            XCTAssertEqual(Set((0..<200).map { x[$0 * P] }).count, Int((200 * level).rounded()), "repeats \(level)")
        }
        // The same seed gives the same damage.
        XCTAssertEqual(Damage.noise.apply(level: 0.5, to: labelled, n: 20, seed: 8), Damage.noise.apply(level: 0.5, to: labelled, n: 20, seed: 8))
    }

    /// The bundled classifier's features see every kind of damage, rising with
    /// its level, and undamaged held-out digits score well below the mildest
    /// damage (issue #21: Heusel et al.'s check, with 1000 digits per set).
    func testBundledFeaturesSeeEveryDamage() throws {
        let assets = URL(fileURLWithPath: DataTests.mnistDir).deletingLastPathComponent()
        let (cls, p) = try Classifier.read(assets.appendingPathComponent("models/mnist-classifier.safetensors").path)
        XCTAssertEqual(cls.arch, .v2, "the bundled classifier is the current architecture")
        let test = try Dataset.load(dir: DataTests.mnistDir, train: false)
        let train = try Dataset.load(dir: DataTests.mnistDir, train: true)
        let held = Evaluation.heldOutDigits(of: train)
        let evaluation = Evaluation(classifier: cls, params: p, reference: test)
        let n = 1000
        let real = evaluation.distances(held.images, n: n)
        let table = evaluation.damageTable(pool: held, n: n)
        var report = String(format: "undamaged FD %.1f, KID x1000 %.1f\n", real.frechet, 1000 * real.kid)
        for (d, f, k) in table {
            report += d.rawValue + ": FD " + f.map { String(format: "%.1f", $0) }.joined(separator: " ")
                + "; KID x1000 " + k.map { String(format: "%.1f", 1000 * $0) }.joined(separator: " ") + "\n"
        }
        for (d, f, k) in table {
            for (a, b) in zip(f, f.dropFirst()) { XCTAssertLessThan(a, b, "\(d.rawValue): FD does not rise with its level\n\(report)") }
            for (a, b) in zip(k, k.dropFirst()) { XCTAssertLessThan(a, b, "\(d.rawValue): KID does not rise with its level\n\(report)") }
            XCTAssertGreaterThan(f[0], 1.5 * real.frechet, "\(d.rawValue) at its mildest is not well above undamaged digits\n\(report)")
            // KID's undamaged value is about 0 (it is unbiased), so a ratio says little: a margin instead.
            XCTAssertGreaterThan(k[0], real.kid + 0.015, "\(d.rawValue) at its mildest: KID not well above undamaged digits\n\(report)")
        }
        XCTAssertLessThan(abs(real.kid), 0.012, "held-out digits against the test set: KID should be about 0\n\(report)")
        print(report)
    }
}
