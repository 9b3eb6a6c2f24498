// SamplerSettings.swift: the sampler controls (which sampler, DDIM steps, eta,
// temperatures, variance, clipping, spacing) and their validation.

/// The samplers; each has its update rule in a file of its own.
public enum SamplerKind: String, CaseIterable, Codable, Sendable {
    case ddpm, ddim
    /// DPM-Solver++(2M), diffusers' default multistep solver.
    case dpmpp
    /// The update rule behind the name.
    public var rule: any ReverseStep {
        switch self {
        case .ddpm: return DDPMStep()
        case .ddim: return DDIMStep()
        case .dpmpp: return DPMSolverStep()
        }
    }
    /// The next sampler in the explorer's `d` cycle: DDPM, DDIM, DPM-Solver++.
    public var next: SamplerKind {
        let all = SamplerKind.allCases
        return all[(all.firstIndex(of: self)! + 1) % all.count]
    }
    /// How figures, rows and messages name it: "DDPM", "DDIM", "DPM++".
    public var name: String {
        switch self {
        case .ddpm: return "DDPM"
        case .ddim: return "DDIM"
        case .dpmpp: return "DPM++"
        }
    }
    /// Whether `steps` applies (DDPM always walks all T).
    public var hasSteps: Bool { self != .ddpm }
}
/// sigma_t^2 = beta_t (the DDPM paper's choice), the posterior variance beta~_t,
/// or learned by the network per pixel between them (improved DDPM; models trained with --learn-sigma).
public enum VarianceKind: String, CaseIterable, Codable, Sendable { case beta, posterior, learned }
/// How DDIM picks its S timesteps out of T.
public enum Spacing: String, CaseIterable, Codable, Sendable { case linspace, leading, trailing }

/// Sampler controls. temperature, noiseTemperature and eta may change between steps.
public struct SamplerSettings: Equatable, Codable, Sendable {
    public var kind: SamplerKind = .ddpm
    /// DDIM and DPM-Solver++ steps S (1...T); DDPM always walks all T steps.
    public var steps: Int = 50
    public var eta: Double = 0
    /// x_T = temperature * N(0, I)
    public var temperature: Double = 1
    /// z = noiseTemperature * N(0, I) in every stochastic step
    public var noiseTemperature: Double = 1
    public var variance: VarianceKind = .beta
    /// Clip x0^ to [-1, 1] before forming the next x.
    public var clip: Bool = false
    public var spacing: Spacing = .trailing
    /// Classifier guidance toward this digit (nil: none), with strength
    /// `guideScale` (`ClassifierGuidance`); may change between steps.
    public var guide: Int? = nil
    public var guideScale: Double = SamplerSettings.defaultGuideScale
    /// Whether the steps draw fresh noise z, so that `noiseTemperature` acts
    /// (DDPM, and DDIM with η > 0; DPM-Solver++ and DDIM η = 0 are deterministic).
    public var drawsNoise: Bool { kind == .ddpm || (kind == .ddim && eta > 0) }
    /// The guidance scale `--guide` uses unless told (issue #22's table in the README).
    public static let defaultGuideScale = 4.0
    public static let guideScales: ClosedRange<Double> = 0...100

    public init(kind: SamplerKind = .ddpm, steps: Int = 50, eta: Double = 0, temperature: Double = 1,
                noiseTemperature: Double = 1, variance: VarianceKind = .beta, clip: Bool = false,
                spacing: Spacing = .trailing, guide: Int? = nil, guideScale: Double = SamplerSettings.defaultGuideScale) {
        self.kind = kind; self.steps = steps; self.eta = eta; self.temperature = temperature
        self.noiseTemperature = noiseTemperature; self.variance = variance; self.clip = clip; self.spacing = spacing
        self.guide = guide; self.guideScale = guideScale
    }

    private enum CodingKeys: String, CodingKey {
        case kind, steps, eta, temperature, noiseTemperature, variance, clip, spacing, guide, guideScale
    }
    /// Recordings made before guidance existed have no guide keys: unguided.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(SamplerKind.self, forKey: .kind)
        steps = try c.decode(Int.self, forKey: .steps)
        eta = try c.decode(Double.self, forKey: .eta)
        temperature = try c.decode(Double.self, forKey: .temperature)
        noiseTemperature = try c.decode(Double.self, forKey: .noiseTemperature)
        variance = try c.decode(VarianceKind.self, forKey: .variance)
        clip = try c.decode(Bool.self, forKey: .clip)
        spacing = try c.decode(Spacing.self, forKey: .spacing)
        guide = try c.decodeIfPresent(Int.self, forKey: .guide)
        guideScale = try c.decodeIfPresent(Double.self, forKey: .guideScale) ?? SamplerSettings.defaultGuideScale
    }

    /// The checks that do not depend on the model: eta, temperatures, steps >= 1.
    public func validateControls() throws {
        try EngineError.require(steps >= 1, "steps", "1...T (T: the model's timesteps)", steps)
        try EngineError.require(eta >= 0 && eta <= 1, "eta", "[0, 1]", eta)
        try EngineError.require(temperature >= 0 && temperature <= 10, "temperature", "[0, 10]", temperature)
        try EngineError.require(noiseTemperature >= 0 && noiseTemperature <= 10, "noise-temperature", "[0, 10]",
                                noiseTemperature)
        if let guide { try EngineError.require((0...9).contains(guide), "guide", "0...9", guide) }
        try EngineError.require(SamplerSettings.guideScales.contains(guideScale), "guide-scale", "[0, 100]", guideScale)
    }

    /// All checks for a model of T steps: DDIM's S steps must be in 1...T
    /// (DDPM walks all T whatever `steps` says).
    public func validate(T: Int) throws {
        try validateControls()
        if kind != .ddpm { try EngineError.require(steps <= T, "steps", "1...\(T)", steps) }
    }

    /// Refuses `--variance learned` for a model without the variance output.
    public func check(learnsVariance: Bool) throws {
        if variance == .learned && !learnsVariance {
            throw EngineError.invalidArgument("--variance learned needs a model trained with --learn-sigma (this model has no variance output; use beta or posterior)")
        }
    }

    /// The sampler as figures and rows name it: "DDPM", "DDIM 50", "DPM++ 20".
    public var shortName: String { kind.hasSteps ? "\(kind.name) \(steps)" : kind.name }

    /// What shapes the digits, for an exported figure's caption (ASCII, the figures' font; the parts
    /// two spaces apart, so a caption too wide drops them from the end): "DDIM 20 eta 0.3  guide 7 x4
    /// temp 1.1  clip" ("DDIM 20" alone read as the whole recipe).
    public func caption(temperature: Double) -> String {
        var parts = [kind == .ddim ? String(format: "%@ eta %.1f", shortName, eta)
                     : kind == .ddpm && variance != .beta ? shortName + " var " + (variance == .posterior ? "post" : variance.rawValue) : shortName]
        if let g = guide, guideScale > 0 { parts.append(String(format: "guide %d x%g", g, guideScale)) }
        if temperature != 1 { parts.append(String(format: "temp %.1f", temperature)) }
        if noiseTemperature != 1 && drawsNoise { parts.append(String(format: "noise %.1f", noiseTemperature)) }
        if clip { parts.append("clip") }
        return parts.joined(separator: "  ")
    }

    /// The sampler in file names: "ddpm", "ddim50", "dpmpp20".
    public var fileTag: String { kind.hasSteps ? "\(kind.rawValue)\(steps)" : "ddpm" }

    /// The sampler and what else shapes its digits, in the names of exports
    /// and recordings: "ddpm-beta", "ddim50-eta0.0-guide7x4", "dpmpp20", "ddpm-beta-clip".
    public var fileDescription: String { fileSampler + fileGuide + fileClip }

    /// "-clip" when x̂0 is clipped to [-1, 1], else "".
    public var fileClip: String { clip ? "-clip" : "" }

    /// The sampler alone in file names: "ddpm-beta", "ddim50-eta0.0", "dpmpp20", and the noise
    /// temperature of steps that draw noise when it is not 1 ("ddpm-beta-noise0.8": two exports at
    /// different noise temperatures had the same name but for a number).
    public var fileSampler: String {
        let noise = drawsNoise && noiseTemperature != 1 ? Self.fileNoise(noiseTemperature) : ""
        switch kind {
        case .ddpm: return "ddpm-\(variance == .posterior ? "post" : variance.rawValue)" + noise
        case .ddim: return String(format: "ddim%d-eta%.1f", steps, eta) + noise
        case .dpmpp: return "dpmpp\(steps)"
        }
    }

    /// A noise temperature in file names: "-noise0.8".
    public static func fileNoise(_ v: Double) -> String { String(format: "-noise%.1f", v) }

    /// Guidance in file names: "-guide7x4", "" without (a scale of 0 is off).
    public var fileGuide: String { guide.map { guideScale == 0 ? "" : String(format: "-guide%dx%g", $0, guideScale) } ?? "" }

    /// The decreasing timesteps visited, for T steps in total.
    public func timesteps(T: Int) -> [Int] { kind.rule.timesteps(self, T: T) }
}
