import Foundation

/// Predicts the noise eps in x_t: the learned reverse process p's network.
public protocol NoisePredictor: AnyObject {
    /// Side of the square images the predictor works on.
    var imageSize: Int { get }
    /// eps^ for x [N, S*S] at per-image timesteps t, written to `out` [N, S*S].
    func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>)
}

/// A U-Net with a set of weights, as a noise predictor (eval mode).
///
/// A batch of two or more images is split into single images dealt to the
/// cores, each core running its own copy of the network (`Lane`: the layers'
/// activation buffers and scratch, not the weights) through a whole forward
/// pass. One image's activations stay in the core's cache for the whole pass,
/// where a batched forward streams every layer's batch through memory and
/// meets the other core at a barrier in every layer. Sampling runs its
/// layers one image at a time anyway (`Workspace.perImage`), so the result is
/// the same bit for bit.
public final class UNetPredictor: NoisePredictor {
    public let net: UNet
    public let params: FloatBuffer
    public var imageSize: Int { net.config.imageSize }
    public init(net: UNet, params: FloatBuffer) { self.net = net; self.params = params }

    /// One core's network copy and its one-element timestep array (reused, so
    /// a step allocates nothing once the lanes exist).
    final class Lane: @unchecked Sendable {
        let net: UNet
        var t = [0]
        init(_ net: UNet) { self.net = net }
    }
    private var lanes: [Lane] = []
    /// Numbers the calls: the weights may change between calls (the training
    /// view's EMA), not during one, so each network copy packs its
    /// convolution weights once per call (Workspace.packGeneration).
    private var calls = 0

    public func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        let n = t.count, hw = imageSize * imageSize
        calls += 1
        let generation = calls
        if n >= 2 && Parallel.cores >= 2 {
            if lanes.isEmpty {
                // The config was validated when `net` was built.
                lanes = (0..<Parallel.cores).map { _ in Lane(try! UNet(net.config)) }
            }
            let lanes = self.lanes, p = UnsafePointer(params.ptr)
            Parallel.runBalanced(n) { th, i in
                let lane = lanes[th]
                lane.t[0] = t[i]
                lane.net.ws.packGeneration = generation
                (out + i * hw).update(from: Self.forward(lane.net, p, x: x + i * hw, t: lane.t), count: hw)
            }
            return
        }
        net.ws.packGeneration = generation
        defer { net.ws.packGeneration = 0 }
        out.update(from: Self.forward(net, params.ptr, x: x, t: t), count: n * hw)
    }

    private static func forward(_ net: UNet, _ p: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                t: [Int]) -> UnsafeMutablePointer<Float> {
        var rng = RNG(seed: 0) // unused in eval mode
        net.ws.forwardOnly = true
        defer { net.ws.forwardOnly = false }
        return net.forward(p, x: x, t: t, train: false, rng: &rng)
    }
}

public enum SamplerKind: String, CaseIterable, Codable, Sendable { case ddpm, ddim }
/// sigma_t^2 = beta_t (the DDPM paper's choice) or the posterior variance beta~_t.
public enum VarianceKind: String, CaseIterable, Codable, Sendable { case beta, posterior }
/// How DDIM picks its S timesteps out of T.
public enum Spacing: String, CaseIterable, Codable, Sendable { case linspace, leading, trailing }

/// Sampler controls. temperature, noiseTemperature and eta may change between steps.
public struct SamplerSettings: Equatable, Codable, Sendable {
    public var kind: SamplerKind = .ddpm
    /// DDIM steps S (1...T); DDPM always walks all T steps.
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

    public init(kind: SamplerKind = .ddpm, steps: Int = 50, eta: Double = 0, temperature: Double = 1,
                noiseTemperature: Double = 1, variance: VarianceKind = .beta, clip: Bool = false,
                spacing: Spacing = .trailing) {
        self.kind = kind; self.steps = steps; self.eta = eta; self.temperature = temperature
        self.noiseTemperature = noiseTemperature; self.variance = variance; self.clip = clip; self.spacing = spacing
    }

    public func validate(T: Int) throws {
        guard steps >= 1, steps <= T else { throw EngineError.invalidArgument("--steps must be in 1...\(T), got \(steps)") }
        guard eta >= 0, eta <= 1 else { throw EngineError.invalidArgument("--eta must be in [0, 1], got \(eta)") }
        guard temperature >= 0, temperature <= 10, temperature.isFinite else {
            throw EngineError.invalidArgument("--temperature must be in [0, 10], got \(temperature)")
        }
        guard noiseTemperature >= 0, noiseTemperature <= 10, noiseTemperature.isFinite else {
            throw EngineError.invalidArgument("--noise-temperature must be in [0, 10], got \(noiseTemperature)")
        }
    }

    /// The decreasing timesteps visited, for T steps in total.
    public func timesteps(T: Int) -> [Int] {
        if kind == .ddpm { return Array((0..<T).reversed()) }
        let S = min(max(steps, 1), T)
        var ts: [Int]
        switch spacing {
        case .linspace:
            ts = (0..<S).map { S == 1 ? 0 : Int((Double($0) * Double(T - 1) / Double(S - 1)).rounded()) }
        case .leading:
            ts = (0..<S).map { $0 * (T / S) }
        case .trailing:
            let r = Double(T) / Double(S)
            ts = (0..<S).map { Int((Double(T) - Double($0) * r).rounded()) - 1 }.reversed()
        }
        return Array(Set(ts).sorted().reversed())
    }
}

/// Statistics of one tensor.
public struct Stats: Equatable, Sendable {
    public var mean: Double = 0, std: Double = 0, min: Double = 0, max: Double = 0
    public init() {}
    public init(_ p: UnsafePointer<Float>, _ n: Int) {
        var s = 0.0, s2 = 0.0, lo = Double.infinity, hi = -Double.infinity
        for i in 0..<n { let v = Double(p[i]); s += v; s2 += v * v; lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
        mean = s / Double(n)
        std = Swift.max(0, s2 / Double(n) - mean * mean).squareRoot()
        min = lo; max = hi
    }
}

/// What one reverse step shows: the state it started from, its prediction of x0,
/// the state it produced, and diagnostics (chapter 3.5.3).
public struct Frame: Sendable {
    /// 0-based number of this step within the run, and the run's length.
    public var step: Int, totalSteps: Int
    /// Timestep of the input, and of the output (-1 after the last step).
    public var t: Int, tNext: Int
    public var n: Int, size: Int
    public var xt: [Float]
    public var x0: [Float]
    public var xNext: [Float]
    public var eps: Stats
    /// Fraction of x0^ pixels outside [-1, 1] (before any clipping).
    public var x0Outside: Double
}

/// Ancestral DDPM and DDIM sampling as a sequence of steps.
///
/// Each image has its own random stream (`RNG(seed:stream: image)`), drawn first
/// for x_T and then for every z, so a given seed gives the same image whatever
/// the batch size.
public final class Sampler {
    public let schedule: NoiseSchedule
    public private(set) var settings: SamplerSettings
    public let n: Int, size: Int, seed: UInt64
    public private(set) var timesteps: [Int]
    public private(set) var index = 0
    public let x: FloatBuffer
    let eps: FloatBuffer, x0: FloatBuffer, z: FloatBuffer
    var rngs: [RNG]

    public var isFinished: Bool { index >= timesteps.count }
    /// Timestep the next step starts from (-1 when finished).
    public var currentT: Int { isFinished ? -1 : timesteps[index] }
    public var pixels: Int { n * size * size }

    public init(schedule: NoiseSchedule, settings: SamplerSettings, n: Int, size: Int, seed: UInt64) throws {
        try settings.validate(T: schedule.T)
        guard n >= 1, n <= 4096 else { throw EngineError.invalidArgument("--n must be in 1...4096, got \(n)") }
        self.schedule = schedule; self.settings = settings; self.n = n; self.size = size; self.seed = seed
        timesteps = settings.timesteps(T: schedule.T)
        let len = n * size * size
        x = FloatBuffer(count: len); eps = FloatBuffer(count: len); x0 = FloatBuffer(count: len); z = FloatBuffer(count: len)
        rngs = (0..<n).map { RNG(seed: seed, stream: UInt64($0)) }
        let hw = size * size
        for i in 0..<n { rngs[i].fillNormal(x.ptr + i * hw, count: hw, scale: Float(settings.temperature)) }
    }

    /// A copy that continues from this sampler's current x_t and random state
    /// with other settings (the explorer's fork).
    public func fork(with newSettings: SamplerSettings) throws -> Sampler {
        try newSettings.validate(T: schedule.T)
        let s = try Sampler(schedule: schedule, settings: self.settings, n: n, size: size, seed: seed)
        s.x.ptr.update(from: x.ptr, count: pixels)
        s.rngs = rngs
        s.timesteps = timesteps; s.index = index
        s.update(newSettings)
        return s
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

    /// One reverse step (DDPM eq. 11 / DDIM eq. 12) from the current timestep.
    @discardableResult
    public func step(_ model: NoisePredictor) -> Frame {
        precondition(!isFinished, "sampler already finished")
        let t = timesteps[index]
        let tNext = index + 1 < timesteps.count ? timesteps[index + 1] : -1
        let len = pixels, hw = size * size
        let xt = x.array(len)
        // 1. eps^ = eps_theta(x_t, t)
        model.predictNoise(x.ptr, t: Array(repeating: t, count: n), out: eps.ptr)
        // 2. x0^ = (x_t - sqrt(1 - abar_t) eps^) / sqrt(abar_t)   (eq. 15 rearranged)
        let sab = Float(schedule.sqrtAlphasCumprod[t]), s1m = Float(schedule.sqrtOneMinusAlphasCumprod[t])
        var outside = 0
        for i in 0..<len {
            var v = (x.ptr[i] - s1m * eps.ptr[i]) / sab
            if v < -1 || v > 1 { outside += 1; if settings.clip { v = Swift.min(1, Swift.max(-1, v)) } }
            x0.ptr[i] = v
        }
        let epsStats = Stats(eps.ptr, len)
        let frameX0 = x0.array(len)
        switch settings.kind {
        case .ddpm: ddpmUpdate(t: t, len: len, hw: hw)
        case .ddim: ddimUpdate(t: t, tNext: tNext, len: len, hw: hw)
        }
        let frame = Frame(step: index, totalSteps: timesteps.count, t: t, tNext: tNext, n: n, size: size,
                          xt: xt, x0: frameX0, xNext: x.array(len), eps: epsStats,
                          x0Outside: Double(outside) / Double(len))
        index += 1
        return frame
    }

    private func drawNoise(_ hw: Int) {
        let scale = Float(settings.noiseTemperature)
        for i in 0..<n { rngs[i].fillNormal(z.ptr + i * hw, count: hw, scale: scale) }
    }

    /// x_{t-1} = mean + sigma_t z, mean = (x_t - beta_t / sqrt(1 - abar_t) eps^) / sqrt(alpha_t)
    /// or, with clipping, the posterior mean mu~(x0^, x_t) (eq. 7). No noise at t = 0.
    private func ddpmUpdate(t: Int, len: Int, hw: Int) {
        let sch = schedule
        let sigma = Float((settings.variance == .beta ? sch.betas[t] : sch.posteriorVariance[t]).squareRoot())
        if t > 0 { drawNoise(hw) }
        let xp = x.ptr, ep = eps.ptr, x0p = x0.ptr, zp = z.ptr
        if settings.clip {
            let c1 = Float(sch.posteriorMeanCoef1[t]), c2 = Float(sch.posteriorMeanCoef2[t])
            for i in 0..<len { xp[i] = c1 * x0p[i] + c2 * xp[i] + (t > 0 ? sigma * zp[i] : 0) }
        } else {
            let k = Float(sch.betas[t] / sch.sqrtOneMinusAlphasCumprod[t])
            let ra = Float(1 / sch.alphas[t].squareRoot())
            for i in 0..<len { xp[i] = (xp[i] - k * ep[i]) * ra + (t > 0 ? sigma * zp[i] : 0) }
        }
    }

    /// x_prev = sqrt(abar_prev) x0^ + sqrt(1 - abar_prev - sigma^2) eps^ + sigma z,
    /// sigma = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - abar_t/abar_prev).
    private func ddimUpdate(t: Int, tNext: Int, len: Int, hw: Int) {
        let sch = schedule
        let ab = sch.alphasCumprod[t]
        let abPrev = tNext >= 0 ? sch.alphasCumprod[tNext] : 1.0
        let sigma = settings.eta * ((1 - abPrev) / (1 - ab)).squareRoot() * (1 - ab / abPrev).squareRoot()
        let dirCoef = Float(Swift.max(0, 1 - abPrev - sigma * sigma).squareRoot())
        let sPrev = Float(abPrev.squareRoot()), sig = Float(sigma)
        let xp = x.ptr, ep = eps.ptr, x0p = x0.ptr, zp = z.ptr
        if settings.clip {
            // eps consistent with the clipped x0^ (as in diffusers' DDIM).
            let sab = Float(ab.squareRoot()), s1m = Float((1 - ab).squareRoot())
            for i in 0..<len { ep[i] = (xp[i] - sab * x0p[i]) / s1m }
        }
        let noisy = sigma > 0
        if noisy { drawNoise(hw) }
        for i in 0..<len { xp[i] = sPrev * x0p[i] + dirCoef * ep[i] + (noisy ? sig * zp[i] : 0) }
    }

    /// Runs to the end; returns the final images [N, S*S].
    public func run(_ model: NoisePredictor, onStep: ((Frame) -> Void)? = nil) -> [Float] {
        while !isFinished { let f = step(model); onStep?(f) }
        return x.array(pixels)
    }
}
