// Evaluation.swift: the metrics pipeline of `ddpm eval` — classifier features
// of a set against the test set: Frechet distance, IS analogue, k-NN
// precision/recall, confident rate, diversity, Sobel energy, class shares.
import Foundation

/// A set of images scored against a reference set through the classifier.
public struct Evaluation {
    /// k-NN precision/recall and pairwise diversity cost n^2: they see at most this many of each set.
    public static let knnSamples = 1000, diversitySamples = 500

    let classifier: Classifier
    let params: FloatBuffer
    let refFeats: [Float], refCount: Int
    let refMean: [Double], refCov: [Double]

    /// Scores against `reference` (the 10k test digits) with the classifier's weights `params`.
    public init(classifier: Classifier, params: FloatBuffer, reference: Dataset) {
        self.classifier = classifier; self.params = params
        let ref = classifier.evaluate(params.ptr, images: reference.images, n: reference.count)
        refFeats = ref.feats; refCount = reference.count
        (refMean, refCov) = Metrics.meanCov(ref.feats, n: reference.count, d: Classifier.featureDim)
    }

    /// The metrics of the first `n` images of `images` (each MNIST.pixels values in [-1, 1]),
    /// keyed as `ddpm eval --json` prints them.
    public func report(_ images: [Float], n: Int) -> [String: Double] {
        let d = Classifier.featureDim
        let e = classifier.evaluate(params.ptr, images: images, n: n)
        let (mu, cv) = Metrics.meanCov(e.feats, n: n, d: d)
        let k = min(n, Self.knnSamples, refCount), dv = min(n, Self.diversitySamples)
        let pr = Metrics.precisionRecall(real: Array(refFeats[0..<(k * d)]), nr: k, fake: Array(e.feats[0..<(k * d)]), nf: k, d: d)
        let hist = Metrics.classHistogram(e.probs, n: n)
        var r: [String: Double] = [
            "frechet": Metrics.frechet(mu, cv, refMean, refCov, d: d),
            "inception_score": Metrics.inceptionScore(e.probs, n: n),
            "precision": pr.precision, "recall": pr.recall,
            "confident_rate": Metrics.confidentRate(e.probs, n: n),
            "diversity": Metrics.diversity(Array(images[0..<(dv * MNIST.pixels)]), n: dv, d: MNIST.pixels),
            "sobel_energy": Metrics.sobelEnergy(images, n: n, side: MNIST.side),
            "class_min": hist.min()!, "class_max": hist.max()!,
            "knn_n": Double(k), "diversity_n": Double(dv),
        ]
        for (i, h) in hist.enumerated() { r["class_\(i)"] = h }
        return r
    }

    /// `n` samples of `model` cropped to 28x28, in batches of 50; batch b uses
    /// seed + b * 50 * 1,000,003, so image i does not depend on n or the batching.
    /// `progress(done)` after each batch.
    public static func samples(_ model: NoisePredictor, schedule: NoiseSchedule, settings: SamplerSettings, n: Int,
                               seed: UInt64, size: Int, progress: (Int) -> Void = { _ in }) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(n * MNIST.pixels)
        var done = 0
        while done < n {
            let b = min(50, n - done)
            let s = try Sampler(schedule: schedule, settings: settings, n: b, size: size, seed: seed &+ UInt64(done) &* 1_000_003)
            out += crop(s.run(model), n: b, from: size)
            done += b
            progress(done)
        }
        return out
    }
}
