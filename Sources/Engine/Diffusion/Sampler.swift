// Sampler.swift: a trajectory of reverse steps — x_T, per-image random
// streams, the timesteps still to visit (re-planned live), one Frame per step.
import Foundation

/// Ancestral DDPM, DDIM and DPM-Solver++ sampling as a sequence of steps.
///
/// Each image has its own random stream (`RNG(seed:stream: image)`), drawn first
/// for x_T and then for every z, so a given seed gives the same image whatever
/// the batch size.
public final class Sampler {
    /// The most images one sampler takes.
    public static let maxImages = 4096
    public let schedule: NoiseSchedule
    public private(set) var settings: SamplerSettings
    public let n: Int, size: Int, seed: UInt64
    public private(set) var timesteps: [Int]
    public private(set) var index = 0
    public let x: FloatBuffer
    let eps: FloatBuffer, x0: FloatBuffer, z: FloatBuffer
    /// The previous step's x̂0 and timestep (-1: none yet), for multistep rules
    /// and self-conditioned models.
    let prevX0: FloatBuffer
    var prevT = -1
    /// Whether the model reads the previous step's x̂0 (self-conditioning; set by
    /// the first step): then every state keeps it, not only a multistep rule's.
    private var modelReadsX0 = false
    /// Whether a state must keep the previous step's x̂0.
    private var keepsX0: Bool { modelReadsX0 || settings.kind == .dpmpp }
    var rngs: [RNG]
    /// The noisy-digit classifier that `settings.guide` steers with (nil: none;
    /// then a guide in the settings is refused at init and ignored after).
    public let guidance: ClassifierGuidance?
    /// s·∇ log p(y | x_t) of the current step (guided steps only).
    private let guideGrad: FloatBuffer
    /// The current timestep once per image (the model's input; reused every step).
    private var batchT: [Int]

    public var isFinished: Bool { index >= timesteps.count }
    /// Timestep the next step starts from (-1 when finished).
    public var currentT: Int { isFinished ? -1 : timesteps[index] }
    public var pixels: Int { n * size * size }

    public init(schedule: NoiseSchedule, settings: SamplerSettings, n: Int, size: Int, seed: UInt64,
                guidance: ClassifierGuidance? = nil) throws {
        try settings.validate(T: schedule.T)
        try EngineError.require((1...Sampler.maxImages).contains(n), "n", "1...\(Sampler.maxImages)", n)
        if settings.guide != nil && guidance == nil {
            throw EngineError.invalidConfig("guidance toward a digit needs the classifier of noisy digits (ddpm eval --train-noisy-classifier)")
        }
        try guidance?.check(schedule: schedule)
        self.guidance = guidance
        guideGrad = FloatBuffer(count: guidance == nil ? 1 : n * size * size)
        self.schedule = schedule; self.settings = settings; self.n = n; self.size = size; self.seed = seed
        timesteps = settings.timesteps(T: schedule.T)
        let len = n * size * size
        x = FloatBuffer(count: len); eps = FloatBuffer(count: len); x0 = FloatBuffer(count: len); z = FloatBuffer(count: len)
        prevX0 = FloatBuffer(count: len)
        rngs = (0..<n).map { RNG(seed: seed, stream: UInt64($0)) }
        batchT = [Int](repeating: 0, count: n)
        let hw = size * size
        for i in 0..<n { rngs[i].fillNormal(x.ptr + i * hw, count: hw, scale: Float(settings.temperature)) }
    }

    /// A copy that continues from this sampler's current x_t and random state
    /// with other settings (the explorer's fork).
    public func fork(with newSettings: SamplerSettings) throws -> Sampler {
        try newSettings.validate(T: schedule.T)
        let s = try Sampler(schedule: schedule, settings: self.settings, n: n, size: size, seed: seed, guidance: guidance)
        s.x.ptr.update(from: x.ptr, count: pixels)
        s.prevX0.ptr.update(from: prevX0.ptr, count: pixels); s.prevT = prevT; s.modelReadsX0 = modelReadsX0
        s.rngs = rngs
        s.timesteps = timesteps; s.index = index
        s.update(newSettings)
        return s
    }

    /// Everything a trajectory needs to continue exactly from a step: x, the
    /// random streams, the plan and the settings (the explorer keeps some of
    /// these so a fork can start from a scrubbed step).
    public struct State: Sendable {
        public let x: [Float]
        let rngs: [RNG]
        public let timesteps: [Int]
        public let index: Int
        public let settings: SamplerSettings
        /// The previous step's x̂0 and timestep (a multistep rule's history, or
        /// a self-conditioned model's estimate), and whether the model reads it.
        let prevX0: [Float], prevT: Int
        let modelReadsX0: Bool
    }

    public var state: State { state(keepingX0: keepsX0) }

    /// `state` with the previous step's x̂0 always kept: a step taken again
    /// under other settings may need it where this sampler's did not (a
    /// DDIM step taken again as DPM-Solver++'s second-order one).
    public var fullState: State { state(keepingX0: true) }

    // Only a multistep rule's or a self-conditioned model's states need the history (forks keep up to 250 states).
    private func state(keepingX0 keep: Bool) -> State {
        State(x: x.array(pixels), rngs: rngs, timesteps: timesteps, index: index, settings: settings,
              prevX0: prevT >= 0 && keep ? prevX0.array(pixels) : [], prevT: keep ? prevT : -1, modelReadsX0: modelReadsX0)
    }

    /// Continues from `s` (a state of a sampler of the same shape).
    public func restore(_ s: State) {
        precondition(s.x.count == pixels && s.rngs.count == n, "restore: a state of another shape")
        s.x.withUnsafeBufferPointer { x.ptr.update(from: $0.baseAddress!, count: pixels) }
        rngs = s.rngs; timesteps = s.timesteps; index = s.index; settings = s.settings
        prevT = s.prevT; modelReadsX0 = s.modelReadsX0
        if s.prevT >= 0 { s.prevX0.withUnsafeBufferPointer { prevX0.ptr.update(from: $0.baseAddress!, count: pixels) } }
    }

    /// Applies new settings from the next step. A change of sampler kind, DDIM
    /// steps or spacing re-plans the remaining timesteps below the current one;
    /// temperature only affects x_T, so it takes effect at the next restart or fork.
    public func update(_ new: SamplerSettings) {
        let replan = new.kind != settings.kind || new.steps != settings.steps || new.spacing != settings.spacing
        settings = new
        if replan && !isFinished {
            let t = timesteps[index]
            let rest = new.timesteps(T: schedule.T).filter { $0 < t }
            timesteps = Array(timesteps[..<index]) + [t] + rest
        }
    }

    /// One reverse step from the current timestep: eps^ from the model, x0^ from
    /// eps^, then the sampler's rule (`SamplerKind.rule`); the Frame records it
    /// (x_t, x0^, x_next and the statistics the explorer shows).
    @discardableResult
    public func step(_ model: NoisePredictor) -> Frame {
        precondition(!isFinished, "sampler already finished")
        let t = timesteps[index]
        let tNext = index + 1 < timesteps.count ? timesteps[index + 1] : -1
        let len = pixels
        let xt = x.array(len)
        let (outside, epsStats) = advance(model)
        return Frame(step: index - 1, totalSteps: timesteps.count, t: t, tNext: tNext, n: n, size: size,
                     xt: xt, x0: x0.array(len), xNext: x.array(len), eps: epsStats,
                     x0Outside: Double(outside) / Double(len), settings: settings)
    }

    /// The step's arithmetic alone, in place (nothing recorded, nothing
    /// allocated): x becomes x_{t_next}; x0 keeps this step's x0^. Returns how
    /// many x0^ values fell outside [-1, 1] and the statistics of eps^ (before
    /// DDIM's clipping makes eps consistent with the clipped x0^).
    @discardableResult
    public func advance(_ model: NoisePredictor) -> (x0Outside: Int, eps: Stats) {
        precondition(!isFinished, "sampler already finished")
        let t = timesteps[index]
        let tNext = index + 1 < timesteps.count ? timesteps[index + 1] : -1
        let len = pixels, hw = size * size
        // 1. eps^ = eps_theta(x_t, t)
        for i in 0..<n { batchT[i] = t }
        modelReadsX0 = model.readsX0Estimate
        //    (a self-conditioned model also reads the previous step's x̂0)
        model.predictNoise(x.ptr, t: batchT, x0Estimate: prevT >= 0 ? UnsafePointer(prevX0.ptr) : nil, out: eps.ptr)
        // 1b. Classifier guidance: g = s grad log p(y | x_t, t); DDIM and DPM-Solver++ use the score
        //     form eps^ - sqrt(1 - abar_t) g (Dhariwal & Nichol, Algorithm 2), DDPM shifts its mean.
        var guided: UnsafePointer<Float>? = nil
        if let digit = settings.guide, let guidance, settings.guideScale > 0 {
            guidance.gradient(x: x.ptr, n: n, size: size, t: t, digit: digit, into: guideGrad.ptr)
            let s = Float(settings.guideScale), g = guideGrad.ptr
            for i in 0..<len { g[i] *= s }
            if settings.kind == .ddpm {
                guided = UnsafePointer(g)
            } else {
                let k = Float(schedule.sqrtOneMinusAlphasCumprod[t]), e = eps.ptr
                for i in 0..<len { e[i] -= k * g[i] }
            }
        }
        // 2. x0^ = (x_t - sqrt(1 - abar_t) eps^) / sqrt(abar_t)   (eq. 15 rearranged), clipped if asked
        schedule.predictX0(xt: x.ptr, eps: eps.ptr, t: t, count: len, into: x0.ptr)
        var outside = 0
        let x0p = x0.ptr, clip = settings.clip
        for i in 0..<len {
            let v = x0p[i]
            if v < -1 || v > 1 { outside += 1; if clip { x0p[i] = Swift.min(1, Swift.max(-1, v)) } }
        }
        let epsStats = Stats(eps.ptr, len)
        // 3. x_{t_next} by the sampler's rule (DDPM eq. 11, DDIM eq. 12, DPM-Solver++ eq. 9)
        let rngCount = n
        var buffers = StepBuffers(x: x.ptr, eps: eps.ptr, x0: x0.ptr, count: len)
        if prevT >= 0 { buffers.previous = (UnsafePointer(prevX0.ptr), prevT) }
        buffers.guidance = guided
        if settings.variance == .learned && settings.kind == .ddpm {
            guard let v = model.varianceOutput else { preconditionFailure("--variance learned needs a model that learns its variance") }
            buffers.learnedV = v
        }
        settings.kind.rule.update(buffers, t: t, tNext: tNext, schedule: schedule, settings: settings) { scale in
            for i in 0..<rngCount { self.rngs[i].fillNormal(self.z.ptr + i * hw, count: hw, scale: scale) }
            return UnsafePointer(self.z.ptr)
        }
        // 4. Keep this step's x̂0 for a multistep rule's or a self-conditioned model's next step.
        prevX0.ptr.update(from: x0.ptr, count: len); prevT = t
        index += 1
        return (outside, epsStats)
    }

    /// Runs to the end; returns the final images [N, S*S].
    public func run(_ model: NoisePredictor, onStep: ((Frame) -> Void)? = nil) -> [Float] {
        while !isFinished {
            if let onStep { onStep(step(model)) } else { advance(model) }
        }
        return x.array(pixels)
    }

    /// `run`, for samples that leave the program: an error when they are not finite numbers
    /// (weights that are finite but huge make the network's output overflow). The error comes
    /// at the first step whose x is not finite, not after the steps left: a clamp can turn NaN
    /// back into a number, but not into a sample. `stepsDone(k)` after each step, without
    /// the copies a Frame makes.
    public func finiteSamples(_ model: NoisePredictor, onStep: ((Frame) -> Void)? = nil,
                              stepsDone: ((Int) -> Void)? = nil) throws -> [Float] {
        let all = UnsafeBufferPointer(start: x.ptr, count: pixels)
        while !isFinished {
            if let onStep { onStep(step(model)) } else { advance(model) }
            guard all.allSatisfy(\.isFinite) else { throw EngineError.nonFiniteSamples }
            stepsDone?(index)
        }
        return x.array(pixels)
    }
}
