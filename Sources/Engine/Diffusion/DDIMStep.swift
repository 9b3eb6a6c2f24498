// DDIMStep.swift: DDIM sampling (Song et al. 2021, eq. 12) on a strided subsequence of timesteps.

/// x_prev = sqrt(abar_prev) x0^ + sqrt(1 - abar_prev - sigma^2) eps^ + sigma z,
/// sigma = eta sqrt((1 - abar_prev)/(1 - abar_t)) sqrt(1 - abar_t/abar_prev),
/// where abar_prev is abar at the next visited timestep (1 after the last).
public struct DDIMStep: ReverseStep {
    public init() {}

    /// S of T timesteps, spaced as `settings.spacing` says (diffusers' names).
    public func timesteps(_ settings: SamplerSettings, T: Int) -> [Int] {
        let S = min(max(settings.steps, 1), T)
        var ts: [Int]
        switch settings.spacing {
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

    /// The numbers of one step (for the equation panel and tests).
    public struct Coefficients: Equatable, Sendable {
        public var alphaBar: Double, alphaBarPrev: Double
        /// sigma_t(eta)
        public var sigma: Double
        /// sqrt(abar_prev), the x0^ coefficient
        public var x0Coef: Double
        /// sqrt(1 - abar_prev - sigma^2), the direction (eps^) coefficient
        public var dirCoef: Double
    }

    public static func coefficients(_ s: NoiseSchedule, t: Int, tNext: Int, eta: Double) -> Coefficients {
        let ab = s.alphasCumprod[t]
        let abPrev = tNext >= 0 ? s.alphasCumprod[tNext] : 1.0
        let sigma = eta * ((1 - abPrev) / (1 - ab)).squareRoot() * (1 - ab / abPrev).squareRoot()
        return Coefficients(alphaBar: ab, alphaBarPrev: abPrev, sigma: sigma, x0Coef: abPrev.squareRoot(),
                            dirCoef: Swift.max(0, 1 - abPrev - sigma * sigma).squareRoot())
    }

    public func update(_ b: StepBuffers, t: Int, tNext: Int, schedule: NoiseSchedule, settings: SamplerSettings,
                       noise: (Float) -> UnsafePointer<Float>) {
        let c = DDIMStep.coefficients(schedule, t: t, tNext: tNext, eta: settings.eta)
        let sPrev = Float(c.x0Coef), dirCoef = Float(c.dirCoef), sig = Float(c.sigma)
        // With x0^ clipped, the eps consistent with it (as in diffusers' DDIM).
        if settings.clip { schedule.predictEps(xt: b.x, x0: b.x0, t: t, count: b.count, into: b.eps) }
        let x = b.x, x0 = b.x0, eps = b.eps
        if c.sigma > 0 {
            let z = noise(Float(settings.noiseTemperature))
            for i in 0..<b.count { x[i] = sPrev * x0[i] + dirCoef * eps[i] + sig * z[i] }
        } else {
            for i in 0..<b.count { x[i] = sPrev * x0[i] + dirCoef * eps[i] }
        }
    }
}
