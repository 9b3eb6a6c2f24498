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
    /// Guidance distillation: the network learns an autoguided teacher's
    /// prediction instead of the noise (nil: plain DDPM training).
    public var distill: Distillation?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case config, schedule, batch, lr, totalSteps, warmup, loss, weighting, emaDecay, seed, gradClip, minSnrGamma, classWeights, distill
    }

    /// A teacher guided by a weaker model of the same data (autoguidance,
    /// Karras et al. 2024): the target is ε_weak + w (ε_teacher − ε_weak) at the
    /// batch's x_t, written in the objective's terms (a student of the teacher's
    /// own weights learns to sample, unguided, as the guided pair does).
    public struct Distillation: Codable, Equatable, Sendable {
        /// The teacher's and the weak model's weights files (absolute paths; a resumed run reads them again).
        public var teacher: String, weak: String
        public var weight: Double
        /// Guided at timesteps 0...maxT only; above it the target is the teacher alone.
        public var maxT: Int
        /// The target is the batch's own noise plus the guidance's offset,
        /// ε + (w − 1)(ε_teacher − ε_weak), rather than the guided pair's
        /// prediction: the model still learns the (class-weighted) data, shifted
        /// as the guidance shifts the teacher.
        public var onNoise: Bool
        /// The SHA-256 of the two files when the run started (a resume refuses files that changed;
        /// nil in checkpoints from before they were recorded).
        public var teacherSHA256: String?, weakSHA256: String?
        public init(teacher: String, weak: String, weight: Double, maxT: Int, onNoise: Bool = false) {
            self.teacher = teacher; self.weak = weak; self.weight = weight; self.maxT = maxT; self.onNoise = onNoise
        }
        enum CodingKeys: String, CodingKey { case teacher, weak, weight, maxT, onNoise, teacherSHA256, weakSHA256 }
        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            teacher = try c.decode(String.self, forKey: .teacher); weak = try c.decode(String.self, forKey: .weak)
            weight = try c.decode(Double.self, forKey: .weight); maxT = try c.decode(Int.self, forKey: .maxT)
            onNoise = try c.decodeIfPresent(Bool.self, forKey: .onNoise) ?? false
            teacherSHA256 = try c.decodeIfPresent(String.self, forKey: .teacherSHA256)
            weakSHA256 = try c.decodeIfPresent(String.self, forKey: .weakSHA256)
        }
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
            // Relative weights: bounded, so that weight x images cannot overflow the draws' total (1e308 drew only the last label).
            for w in classWeights { try EngineError.require(w >= 0 && w <= 1e6, "class-weights", "[0, 1e6] (relative weights)", w) }
            guard classWeights.contains(where: { $0 > 0 }) else { throw EngineError.invalidArgument("every class weight is 0: no image could be drawn") }
        }
        if let distill {
            try AutoGuidedPredictor.checkWeight(distill.weight, key: "guidance-weight")
            try EngineError.require((0..<schedule.T).contains(distill.maxT), "guidance-max-t", "0...\(schedule.T - 1)", distill.maxT)
            guard !config.learnSigma else { throw EngineError.invalidArgument("distillation trains the mean only, and this model learns its variance too (--learn-sigma, or an --init model that does), which needs the true x0 and noise") }
        }
        try config.validate()
        if config.learnSigma && objective != .eps {
            throw EngineError.invalidConfig("a learned variance (--learn-sigma) trains with the eps objective (its bound term needs the mean from eps^); got \(objective.rawValue)")
        }
    }
}
