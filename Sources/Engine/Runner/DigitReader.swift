// DigitReader.swift: which digit each image is becoming, read by the bundled classifier.
import Foundation

/// Reads images with the bundled MNIST classifier: the most likely class, its
/// probability, the entropy of the class distribution and all ten
/// probabilities (for the curve of p(final class) over t). Images of a padded
/// model (32x32) are cropped to 28x28 first. Buffers are reused between calls.
public final class DigitReader: @unchecked Sendable {
    public struct Reading: Equatable, Sendable {
        /// The class the classifier reads.
        public var digit: Int
        public var p: Float
        /// Entropy of the ten probabilities, in bits (0: certain, log2 10 = 3.32: uniform).
        public var entropy: Float
        public var probs: [Float]
        /// Share of the (cropped) pixels above mid-grey: the digit's ink.
        public var ink: Float = 0
        /// The reading classifier's band of real ink (`Classifier.inkRange`).
        public var inkRange: ClosedRange<Float> = DigitReader.inkRange
        /// Whether the image has as much ink as a real image (`inkRange`).
        public var hasInk: Bool { inkRange.contains(ink) }
        /// Read with p >= `confident` and inked like a real image: what every
        /// "confident" count in the explorer and `ddpm train --report-every` counts.
        public var isConfidentDigit: Bool { DigitReader.isConfidentDigit(p: p, ink: ink, inkRange: inkRange) }
        /// p in whole percent, rounded down (0.895 is 89%, not 90%: a label of 90% or more
        /// means confident) and at most 99.
        public var percent: Int32 { Int32(min(99, (p * 100).rounded(.down))) }
        /// What to write under the image: the class and p, or why it is no digit.
        public var label: String {
            if ink < inkRange.lowerBound { return "no ink" }
            if ink > inkRange.upperBound { return "all ink" }
            return String(format: "%d %2d%%", digit, percent)
        }
    }

    /// A reading at least this probable counts as confident.
    public static let confident: Float = 0.9
    /// MNIST's band of real ink (`Classifier.mnistInkRange`).
    public static let inkRange = Classifier.mnistInkRange

    /// The band of ink a set's real images span (what `--train-classifier
    /// --data` stores): its 0.1% and 99.9% quantiles, so that one nearly blank
    /// image does not open the band, widened by 0.8 and 1.13 as MNIST's
    /// 1.9%...39.8% became 1.5%...45%.
    public static func inkRange(of images: [Float], n: Int, side: Int) -> ClosedRange<Float> {
        precondition(n >= 1 && images.count >= n * side * side)
        let shares = images.withUnsafeBufferPointer { p in
            (0..<n).map { inkShare(p.baseAddress! + $0 * side * side, count: side * side) }
        }.sorted()
        let q = { (f: Double) in shares[Int((Double(n - 1) * f).rounded())] }
        let lo = q(0.001) * 0.8
        return lo...min(1, max(lo + 1e-3, q(0.999) * 1.13))
    }

    /// The confident-digit rule on its own, for readings made elsewhere (`ddpm eval`).
    public static func isConfidentDigit(p: Float, ink: Float, inkRange: ClosedRange<Float> = inkRange) -> Bool {
        p >= confident && inkRange.contains(ink)
    }

    /// Share of the `count` pixels above mid-grey (0 in [-1, 1]).
    public static func inkShare(_ img: UnsafePointer<Float>, count: Int) -> Float {
        var inked = 0
        for j in 0..<count where img[j] > 0 { inked += 1 }
        return Float(inked) / Float(count)
    }

    let net: Classifier
    let params: FloatBuffer
    private let input = FloatBuffer(count: 1)

    public init(net: Classifier, params: FloatBuffer) { self.net = net; self.params = params }

    /// A reader for another thread: its own network buffers, the same (read-only) weights.
    public func copy() -> DigitReader {
        let c = Classifier(net.arch)
        c.inkRange = net.inkRange
        return DigitReader(net: c, params: params)
    }

    /// Readings of `n` images of side `side` (28, or larger and cropped to the centre 28x28).
    public func read(_ images: UnsafePointer<Float>, n: Int, side: Int) -> [Reading] {
        guard n > 0 else { return [] }
        let px = MNIST.pixels
        input.reserve(n * px)
        let off = (side - MNIST.side) / 2
        for i in 0..<n {
            for y in 0..<MNIST.side {
                let src = images + i * side * side + (y + off) * side + off
                (input.ptr + i * px + y * MNIST.side).update(from: src, count: MNIST.side)
            }
        }
        net.forward(params.ptr, x: input.ptr, n: n)
        var out: [Reading] = []
        out.reserveCapacity(n)
        for i in 0..<n {
            let row = net.logits.ptr + i * 10
            var m = row[0]
            for k in 1..<10 { m = max(m, row[k]) }
            var probs = [Float](repeating: 0, count: 10), z: Float = 0
            for k in 0..<10 { probs[k] = expf(row[k] - m); z += probs[k] }
            var best = 0, h: Float = 0
            for k in 0..<10 {
                probs[k] /= z
                if probs[k] > probs[best] { best = k }
                if probs[k] > 0 { h -= probs[k] * log2f(probs[k]) }
            }
            out.append(Reading(digit: best, p: probs[best], entropy: h, probs: probs, ink: Self.inkShare(input.ptr + i * px, count: px),
                               inkRange: net.inkRange))
        }
        return out
    }

    public func read(_ images: [Float], n: Int, side: Int) -> [Reading] {
        precondition(images.count >= n * side * side)
        return images.withUnsafeBufferPointer { read($0.baseAddress!, n: n, side: side) }
    }
}
