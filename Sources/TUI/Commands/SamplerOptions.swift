// SamplerOptions.swift: the sampler flags shared by `sample`, `eval` and the
// explorer, mapped onto the engine's SamplerSettings and validated by it.
import ArgumentParser
import Engine

struct SamplerOptions: ParsableArguments {
    @Option(help: "ddpm, ddim or dpmpp (DPM-Solver++ 2M).") var sampler: String = "ddpm"
    @Option(parsing: .unconditional, help: "DDIM or DPM-Solver++ steps S (1...T; default min(50, T)).") var steps: Int?
    @Option(parsing: .unconditional, help: "DDIM eta in [0, 1].") var eta: Double = 0
    @Option(help: "DDIM timestep spacing: linspace, leading, trailing.") var spacing: String = "trailing"
    @Option(parsing: .unconditional, help: "x_T = temperature * N(0, I), in [0, 10].") var temperature: Double = 1
    @Option(parsing: .unconditional, help: "z = noise-temperature * N(0, I) in each step, in [0, 10].")
    var noiseTemperature: Double = 1
    @Option(help: "DDPM variance: beta, posterior, or learned (models trained with --learn-sigma).") var variance: String = "beta"
    @Flag(help: "Clip the predicted x0 to [-1, 1] at every step.") var clip = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Classifier guidance toward this digit (0...9): every step adds scale * grad log p(digit | x_t) from the classifier of noisy digits (DDPM: times sigma_t^2 to the mean; DDIM, DPM++: to the noise prediction).", valueName: "digit"))
    var guide: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Guidance strength s of --guide in [0, 100] (0: none; default \(SamplerSettings.defaultGuideScale)).", valueName: "s"))
    var guideScale: Double?
    @Option(help: ArgumentHelp("The classifier of noisy digits for --guide (default: the bundled one).", valueName: "path"))
    var guideClassifier: String?

    /// DDIM steps when --steps is not given.
    static let defaultSteps = 50

    func validate() throws {
        guard SamplerKind(rawValue: sampler) != nil else { throw ValidationError("unknown --sampler '\(sampler)' (ddpm, ddim or dpmpp)") }
        guard VarianceKind(rawValue: variance) != nil else { throw ValidationError("unknown --variance '\(variance)' (beta, posterior or learned)") }
        guard Spacing(rawValue: spacing) != nil else {
            throw ValidationError("unknown --spacing '\(spacing)' (\(Spacing.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        try validating { try settings(T: nil).validateControls() }
    }

    /// For a command that samples once (sample, eval): a setting its sampler does not use would do
    /// nothing, so it is refused rather than ignored (the explorer keeps it for a later switch):
    /// --steps and --spacing with DDPM, --eta but with DDIM, --variance but with DDPM,
    /// --guide-scale and --guide-classifier without --guide (or eval's --guide-table: `guideTable`).
    func refuseUnusedSettings(guideTable: Bool = false) throws {
        let kind = SamplerKind(rawValue: sampler) ?? .ddpm
        let guiding = guide != nil || guideTable
        if !guiding && guideScale != nil { throw ValidationError("--guide-scale is the strength of --guide: add --guide DIGIT") }
        if !guiding && guideClassifier != nil {
            throw ValidationError("--guide-classifier is the classifier of --guide: add --guide DIGIT")
        }
        if kind == .ddpm && steps != nil {
            throw ValidationError("--steps is for --sampler ddim or dpmpp: DDPM walks all T steps of the schedule")
        }
        if kind == .ddpm && spacing != "trailing" {
            throw ValidationError("--spacing is for --sampler ddim or dpmpp: DDPM walks all T steps of the schedule")
        }
        if kind != .ddim && eta != 0 {
            throw ValidationError("--eta is for --sampler ddim (\(sampler) does not use it)")
        }
        if kind != .ddpm && variance != VarianceKind.beta.rawValue {
            throw ValidationError("--variance is for --sampler ddpm (\(sampler) does not use it)")
        }
    }

    /// The sampler flags given other than their defaults (guidance aside), for a command
    /// that refuses them where it samples nothing.
    var changedFlags: [String] {
        let given: [(String, Bool)] = [
            ("--sampler", sampler != "ddpm"), ("--steps", steps != nil), ("--eta", eta != 0), ("--spacing", spacing != "trailing"),
            ("--temperature", temperature != 1), ("--noise-temperature", noiseTemperature != 1),
            ("--variance", variance != VarianceKind.beta.rawValue), ("--clip", clip)]
        return given.filter { $0.1 }.map { $0.0 }
    }

    /// The settings for a model of T steps (nil: before the model is known).
    func settings(T: Int?) -> SamplerSettings {
        // "-0" is 0: said and written as 0.0, not "-0.0".
        func plain(_ x: Double) -> Double { x == 0 ? 0 : x }
        return SamplerSettings(kind: SamplerKind(rawValue: sampler) ?? .ddpm,
                               steps: steps ?? min(Self.defaultSteps, T ?? Self.defaultSteps), eta: plain(eta),
                               temperature: plain(temperature), noiseTemperature: plain(noiseTemperature),
                               variance: VarianceKind(rawValue: variance) ?? .beta, clip: clip,
                               spacing: Spacing(rawValue: spacing) ?? .trailing, guide: guide,
                               guideScale: plain(guideScale ?? SamplerSettings.defaultGuideScale))
    }

    /// The classifier of noisy digits when the settings guide (nil otherwise),
    /// checked against the model's schedule.
    func guidance(for settings: SamplerSettings, schedule: NoiseSchedule) throws -> ClassifierGuidance? {
        guard settings.guide != nil else { return nil }
        let g = try loadGuidance(guideClassifier ?? Assets.noisyClassifier)
        try g.check(schedule: schedule)
        return g
    }

    /// How reports name the sampler: "ddpm 1000 steps", "ddim 50 steps eta 0.0, x0 clipped".
    func label(_ s: SamplerSettings, T: Int) -> String {
        var l: String
        func steps(_ n: Int) -> String { "\(n) step" + (n == 1 ? "" : "s") }
        switch s.kind {
        case .ddim: l = "ddim \(steps(s.steps)) eta \(s.eta)"
        case .dpmpp: l = "dpm-solver++ 2m \(steps(s.steps))"
        case .ddpm: l = "ddpm \(steps(T))" + (s.variance == .beta ? "" : ", \(s.variance.rawValue) variance")
        }
        if s.kind.hasSteps && s.spacing != .trailing { l += ", \(s.spacing.rawValue) spacing" }
        if s.temperature != 1 { l += ", temperature \(s.temperature)" }
        if s.noiseTemperature != 1 { l += ", noise temperature \(s.noiseTemperature)" }
        if s.clip { l += ", x0 clipped" }
        if let g = s.guide { l += ", guided to \(g) at scale \(s.guideScale)" }
        return l
    }
}
