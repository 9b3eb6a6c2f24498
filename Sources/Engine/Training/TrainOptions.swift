// TrainOptions.swift: a training run's options with their defaults and their validation.

/// Everything that defines a training run (stored in checkpoints).
public struct TrainOptions: Codable, Equatable, Sendable {
    public var config: UNetConfig = .tiny
    public var schedule = NoiseSchedule.Spec()
    public var batch = 128
    public var lr = 2e-4
    public var totalSteps = 10_000
    public var warmup = 500
    public var loss: LossKind = .mse
    public var weighting: Weighting = .simple
    public var emaDecay = 0.995
    public var seed: UInt64 = 0
    public var gradClip = 1.0
    public var minSnrGamma = 5.0
    /// What the network predicts; stored as the file's own `objective` key
    /// (not in the options JSON, so files from before it read as ε).
    public var objective: Objective = .eps
    /// Relative weights of the labels 0, 1, ... when drawing training images:
    /// an image of label c is drawn with probability proportional to
    /// `classWeights[c]` (with replacement, `images` draws per epoch). Nil:
    /// every image once per epoch, in a random order.
    public var classWeights: [Double]?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case config, schedule, batch, lr, totalSteps, warmup, loss, weighting, emaDecay, seed, gradClip, minSnrGamma, classWeights
    }

    /// Optimisation steps in one pass over `images` images (a batch larger than the set takes all of it).
    public func stepsPerEpoch(images: Int) -> Int { max(1, images / max(1, min(batch, images))) }

    public func validate() throws {
        try EngineError.require((1...4096).contains(batch), "batch", "1...4096", batch)
        try EngineError.require(lr > 0 && lr < 1, "lr", "(0, 1)", lr)
        try EngineError.require((1...100_000_000).contains(totalSteps), "steps", "1...100000000", totalSteps)
        try EngineError.require((0...1_000_000).contains(warmup), "warmup", "0...1000000", warmup)
        try EngineError.require(gradClip > 0 && gradClip.isFinite, "gradient clip", "(0, inf)", gradClip)
        try EngineError.require(minSnrGamma > 0 && minSnrGamma.isFinite, "min-SNR gamma", "(0, inf)", minSnrGamma)
        try EngineError.require(emaDecay >= 0 && emaDecay < 1, "ema", "[0, 1)", emaDecay)
        if let classWeights {
            try EngineError.require((1...256).contains(classWeights.count), "class-weights (how many)", "1...256", classWeights.count)
            for w in classWeights { try EngineError.require(w >= 0 && w.isFinite, "class-weights", "[0, inf)", w) }
            guard classWeights.contains(where: { $0 > 0 }) else { throw EngineError.invalidArgument("every class weight is 0: no image could be drawn") }
        }
        try config.validate()
        if config.learnSigma && objective != .eps {
            throw EngineError.invalidConfig("a learned variance (--learn-sigma) trains with the eps objective (its bound term needs the mean from eps^); got \(objective.rawValue)")
        }
    }
}
