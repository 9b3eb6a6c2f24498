// Evaluation.swift: the metrics pipeline of `ddpm eval` — classifier features
// of a set against the test set: Fréchet and kernel (KID) distances with bootstrap intervals,
// IS analogue, k-NN precision/recall, confident rate with a binomial interval,
// diversity, Sobel energy, class shares; and the damage check of the features.
import Foundation

/// Image sets scored against a reference set through the classifier.
public struct Evaluation {
    /// k-NN precision/recall and pairwise diversity cost n^2: they see at most this many of each set.
    public static let knnSamples = 1000, diversitySamples = 500
    /// The kernel distance holds an n x n kernel matrix: it sees at most this many of each set (32 MB).
    public static let kernelSamples = 2000
    /// Bootstrap resamplings behind each Fréchet distance's interval.
    public static let bootstrapReplicates = 200
    /// MNIST training digits the classifier never sees: `ddpm eval`'s real
    /// digits, and the digits the damage check damages.
    public static let heldOut = 50_000..<60_000

    /// The held-out part of a training set of `count` images: `heldOut` for
    /// MNIST and any set as large; the last sixth of a smaller one.
    public static func heldOut(count: Int) -> Range<Int> {
        count >= heldOut.upperBound ? heldOut : (count - max(1, count / 6))..<count
    }

    /// The `range` (default `heldOut`) of a training set (which must hold them).
    public static func heldOutDigits(of train: Dataset, range: Range<Int> = heldOut) -> Dataset {
        precondition(range.lowerBound >= 0 && train.count >= range.upperBound && train.side == MNIST.side)
        return train.subset(range)
    }

    let classifier: Classifier
    let params: FloatBuffer
    let refFeats: [Float], refCount: Int
    public let reference: Metrics.FrechetReference
    /// The reference's part of the kernel distance (KID).
    public let kernelReference: Metrics.KernelReference

    /// One set's scores.
    public struct Scores: Sendable {
        /// Keyed as `ddpm eval --json` prints them.
        public var values: [String: Double]
        public var n: Int
        /// Images read with p >= 0.9 and inked like a real digit.
        public var confident: Int
        /// The bootstrap values of the Fréchet distance.
        public var frechetReplicates: [Double]
        /// The bootstrap values of the kernel distance (empty when not computed).
        public var kernelReplicates: [Double] = []
        public subscript(_ key: String) -> Double { values[key]! }
    }

    /// Why the reference's part could not be kept in the cache folder given (nil when it was, or was read from it).
    public let cacheProblem: String?

    /// Scores against `reference` (the 10k test digits) with the classifier's weights `params`.
    /// With a `cacheFolder`, the reference's part is read from there when an
    /// earlier run of this program with this classifier and reference left it
    /// (`ReferenceCache`), and left there otherwise; the scores are the same bit for bit.
    public init(classifier: Classifier, params: FloatBuffer, reference: Dataset, cacheFolder: String? = nil) {
        self.classifier = classifier; self.params = params
        let d = classifier.featureDim
        var entry: (path: String, key: [UInt8])?, problem: String?
        if let cacheFolder {
            do { entry = try ReferenceCache.entry(classifier: classifier, params: params, reference: reference, folder: cacheFolder) }
            catch { problem = (error as? EngineError)?.description ?? error.localizedDescription }
        }
        if let entry, reference.count >= 2, let part = ReferenceCache.load(entry.path, key: entry.key, n: reference.count, d: d) {
            refFeats = part.features; refCount = part.count
            self.reference = Metrics.FrechetReference(mean: part.mean, cov: part.cov, d: d, sqrtCov: part.sqrtCov, trace: part.trace)
            kernelReference = Metrics.KernelReference(part.features, n: part.count, d: d, scale: part.kernelScale, within: part.kernelWithin)
            cacheProblem = nil
            return
        }
        let ref = classifier.evaluate(params.ptr, images: reference.images, n: reference.count)
        refFeats = ref.feats; refCount = reference.count
        let (m, c) = Metrics.meanCov(ref.feats, n: reference.count, d: d)
        self.reference = Metrics.FrechetReference(mean: m, cov: c, d: d)
        kernelReference = Metrics.KernelReference(ref.feats, n: reference.count, d: d)
        if let entry {
            do { try ReferenceCache.save(ReferencePart(features: refFeats, count: refCount, mean: m, cov: c, sqrtCov: self.reference.sqrtCov,
                                                       trace: self.reference.trace, kernelScale: kernelReference.scale,
                                                       kernelWithin: kernelReference.within), to: entry.path, key: entry.key) }
            catch { problem = (error as? EngineError)?.description ?? error.localizedDescription }
        }
        cacheProblem = problem
    }

    /// What `ReferenceCache` keeps of the reference.
    struct ReferencePart {
        var features: [Float], count: Int
        var mean: [Double], cov: [Double], sqrtCov: [Double], trace: Double
        var kernelScale: Double, kernelWithin: Double
    }

    /// The Fréchet and kernel distances of the first `n` images to the reference, without intervals.
    public func distances(_ images: [Float], n: Int) -> (frechet: Double, kid: Double) {
        let e = classifier.evaluate(params.ptr, images: images, n: n)
        let (mu, cv) = Metrics.meanCov(e.feats, n: n, d: classifier.featureDim)
        let kid = Metrics.bootstrapKernelDistance(e.feats, n: min(n, Self.kernelSamples), d: classifier.featureDim,
                                                  reference: kernelReference, replicates: 0, seed: 0).value
        return (reference.distance(mean: mu, cov: cv), kid)
    }

    /// The scores of the first `n` images of `images` (each MNIST.pixels values in [-1, 1]).
    /// `seed` drives the bootstrap.
    public func scores(_ images: [Float], n: Int, seed: UInt64 = 0) -> Scores {
        let d = classifier.featureDim
        let e = classifier.evaluate(params.ptr, images: images, n: n)
        let fd = Metrics.bootstrapFrechet(e.feats, n: n, d: d, reference: reference, replicates: Self.bootstrapReplicates, seed: seed)
        let se = Metrics.standardError(fd.replicates)
        let kid = Metrics.bootstrapKernelDistance(e.feats, n: min(n, Self.kernelSamples), d: d, reference: kernelReference,
                                                  replicates: Self.bootstrapReplicates, seed: seed)
        let kse = Metrics.standardError(kid.replicates)
        let k = min(n, Self.knnSamples, refCount), dv = min(n, Self.diversitySamples)
        let pr = Metrics.precisionRecall(real: Array(refFeats[0..<(k * d)]), nr: k, fake: Array(e.feats[0..<(k * d)]), nf: k, d: d)
        let hist = Metrics.classHistogram(e.probs, n: n)
        let confident = Self.confidentDigits(e.probs, images: images, n: n, inkRange: classifier.inkRange)
        let ci = Metrics.wilson(confident, n)
        var r: [String: Double] = [
            "frechet": fd.value, "frechet_se": se, "frechet_lo": fd.value - 1.96 * se, "frechet_hi": fd.value + 1.96 * se,
            "kid": kid.value, "kid_se": kse, "kid_lo": kid.value - 1.96 * kse, "kid_hi": kid.value + 1.96 * kse,
            "inception_score": Metrics.inceptionScore(e.probs, n: n),
            "precision": pr.precision, "recall": pr.recall,
            "confident_rate": Double(confident) / Double(n), "confident_lo": ci.lowerBound, "confident_hi": ci.upperBound,
            "diversity": Metrics.diversity(Array(images[0..<(dv * MNIST.pixels)]), n: dv, d: MNIST.pixels),
            "sobel_energy": Metrics.sobelEnergy(images, n: n, side: MNIST.side),
            "class_min": hist.min()!, "class_max": hist.max()!,
            "knn_n": Double(k), "diversity_n": Double(dv), "kid_n": Double(min(n, Self.kernelSamples)),
        ]
        for (i, h) in hist.enumerated() { r["class_\(i)"] = h }
        let chi = Metrics.chiSquareEqualClasses(hist, n: n)
        r["class_chi2"] = chi.statistic; r["class_chi2_p"] = chi.p
        // Every rate gets its binomial interval: precision and recall over the k-NN sets, class shares over n.
        for (key, count) in [("precision", k), ("recall", k), ("class_min", n), ("class_max", n)] {
            let w = Metrics.wilson(Int((r[key]! * Double(count)).rounded()), count)
            r[key + "_lo"] = w.lowerBound; r[key + "_hi"] = w.upperBound
        }
        return Scores(values: r, n: n, confident: confident, frechetReplicates: fd.replicates, kernelReplicates: kid.replicates)
    }

    /// For each set, how many of its first `n` images are, pixel for pixel, images of `reference`: a
    /// set that is the reference itself (`eval --images` of the test digits) scores as close to it as
    /// anything can (precision and recall 1, FD below the held-out digits'), which no generated set does.
    /// The reference is indexed once for all the sets.
    public static func referenceOverlaps(_ sets: [[Float]], n: Int, reference: Dataset) -> [Int] {
        let px = reference.side * reference.side
        precondition(px == MNIST.pixels && sets.allSatisfy { $0.count >= n * px })
        func hash(_ p: UnsafeBufferPointer<Float>, _ i: Int) -> UInt64 {
            var h: UInt64 = 0xcbf29ce484222325
            for j in 0..<px { h = (h ^ UInt64(p[i * px + j].bitPattern)) &* 0x100000001b3 }
            return h
        }
        return reference.images.withUnsafeBufferPointer { ref in
            var byHash: [UInt64: [Int]] = [:]
            for r in 0..<reference.count { byHash[hash(ref, r), default: []].append(r) }
            return sets.map { images in images.withUnsafeBufferPointer { img in
                (0..<n).filter { i in
                    byHash[hash(img, i)]?.contains { r in (0..<px).allSatisfy { ref[r * px + $0] == img[i * px + $0] } } ?? false
                }.count
            } }
        }
    }

    /// How many of the images the classifier reads with p >= 0.9 and that carry
    /// as much ink as a real digit (the explorer's `DigitReader` rule).
    static func confidentDigits(_ probs: [Float], images: [Float], n: Int, inkRange: ClosedRange<Float> = DigitReader.inkRange) -> Int {
        precondition(images.count >= n * MNIST.pixels)
        return images.withUnsafeBufferPointer { img in
            (0..<n).filter { i in
                let p = (0..<10).map { probs[i * 10 + $0] }.max()!
                return DigitReader.isConfidentDigit(p: p, ink: DigitReader.inkShare(img.baseAddress! + i * MNIST.pixels, count: MNIST.pixels),
                                                    inkRange: inkRange)
            }.count
        }
    }

    /// A difference between two sets' numbers, with its 95% interval.
    public struct Difference: Sendable {
        public var value: Double, interval: ClosedRange<Double>
        /// The interval holds 0: the two sets cannot be told apart by this number at this n.
        public var withinNoise: Bool { interval.contains(0) }
        /// The difference and its interval times `factor` (> 0), for printing in other units.
        public func scaled(by factor: Double) -> Difference {
            Difference(value: value * factor, interval: (interval.lowerBound * factor)...(interval.upperBound * factor))
        }
    }

    /// FD(a) - FD(b), its interval from the paired bootstrap values (the sets are independent).
    public static func frechetDifference(_ a: Scores, _ b: Scores) -> Difference {
        pairedDifference(a["frechet"] - b["frechet"], a.frechetReplicates, b.frechetReplicates)
    }

    /// KID(a) - KID(b), its interval from the paired bootstrap values (the sets are independent).
    public static func kernelDifference(_ a: Scores, _ b: Scores) -> Difference {
        pairedDifference(a["kid"] - b["kid"], a.kernelReplicates, b.kernelReplicates)
    }

    /// A difference v of two independent sets' numbers, with the normal interval
    /// from their bootstrap values taken in pairs.
    static func pairedDifference(_ v: Double, _ a: [Double], _ b: [Double]) -> Difference {
        let se = Metrics.standardError(zip(a, b).map { $0 - $1 })
        return Difference(value: v, interval: (v - 1.96 * se)...(v + 1.96 * se))
    }

    /// rate(a) - rate(b) of confident digits, with the normal interval of a difference of two proportions.
    public static func confidentDifference(_ a: Scores, _ b: Scores) -> Difference {
        let pa = Double(a.confident) / Double(a.n), pb = Double(b.confident) / Double(b.n)
        let se = (pa * (1 - pa) / Double(a.n) + pb * (1 - pb) / Double(b.n)).squareRoot()
        return Difference(value: pa - pb, interval: (pa - pb - 1.96 * se)...(pa - pb + 1.96 * se))
    }

    /// The damage check: the Fréchet and kernel distances of `n` images of
    /// `pool` at every level of every kind of damage (the rows in
    /// `Damage.allCases` order).
    public func damageTable(pool: Dataset, n: Int, seed: UInt64 = 1) -> [(damage: Damage, frechet: [Double], kid: [Double])] {
        Damage.allCases.map { kind in
            let d = kind.levels.map { distances(kind.apply(level: $0, to: pool, n: n, seed: seed), n: n) }
            return (kind, d.map(\.frechet), d.map(\.kid))
        }
    }

    /// `n` samples of `model` cropped to 28x28, in batches of 50; batch b uses
    /// seed + b * 50 * 1,000,003, so image i does not depend on n or the batching.
    /// `progress(done, fraction)` after each step: the images finished, and the share of
    /// all the steps taken (a batch of DDPM's 1000 steps takes a minute or more).
    public static func samples(_ model: NoisePredictor, schedule: NoiseSchedule, settings: SamplerSettings, n: Int,
                               seed: UInt64, size: Int, guidance: ClassifierGuidance? = nil,
                               progress: (Int, Double) -> Void = { _, _ in }) throws -> [Float] {
        try settings.check(learnsVariance: model.varianceOutput != nil)
        var out: [Float] = []
        out.reserveCapacity(n * MNIST.pixels)
        var done = 0
        while done < n {
            let b = min(50, n - done)
            let s = try Sampler(schedule: schedule, settings: settings, n: b, size: size, seed: seed &+ UInt64(done) &* 1_000_003,
                                guidance: guidance)
            let steps = Double(s.timesteps.count), before = done
            out += try withoutActuallyEscaping(progress) { progress in
                crop(try s.finiteSamples(model, stepsDone: { k in
                    progress(Double(k) == steps ? before + b : before, (Double(before) + Double(b) * Double(k) / steps) / Double(n))
                }), n: b, from: size)
            }
            done += b
        }
        return out
    }
}
