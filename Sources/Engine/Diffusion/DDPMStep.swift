// DDPMStep.swift: ancestral DDPM sampling (Ho et al. 2020, Algorithm 2).

/// x_{t-1} = mu_theta(x_t, t) + sigma_t z, visiting every t = T-1 ... 0;
/// no noise at t = 0.
public struct DDPMStep: ReverseStep {
    public init() {}

    public func timesteps(_ settings: SamplerSettings, T: Int) -> [Int] { Array((0..<T).reversed()) }

    /// The numbers of one step (for the equation panel and tests):
    /// x_{t-1} = (x_t - epsCoef eps^) * meanScale + sigma z.
    public struct Coefficients: Equatable, Sendable {
        public var beta: Double, alphaBar: Double
        /// beta_t / sqrt(1 - abar_t)
        public var epsCoef: Double
        /// 1 / sqrt(alpha_t)
        public var meanScale: Double
        /// sqrt of beta_t or beta~_t (0 at t = 0)
        public var sigma: Double
    }

    public static func coefficients(_ s: NoiseSchedule, t: Int, variance: VarianceKind) -> Coefficients {
        Coefficients(beta: s.betas[t], alphaBar: s.alphasCumprod[t], epsCoef: s.betas[t] / s.sqrtOneMinusAlphasCumprod[t],
                     meanScale: 1 / s.alphas[t].squareRoot(), sigma: t > 0 ? s.pVariance(t: t, variance).squareRoot() : 0)
    }

    public func update(_ b: StepBuffers, t: Int, tNext: Int, schedule: NoiseSchedule, settings: SamplerSettings,
                       noise: (Float) -> UnsafePointer<Float>) {
        // 1. The mean: from eps^ (eq. 11), or, with x0^ clipped, the posterior
        //    mean mu~(x0^, x_t) (eq. 7) — the same for an unclipped x0^.
        if settings.clip {
            schedule.qPosteriorMean(x0: b.x0, xt: b.x, t: t, count: b.count, into: b.x)
        } else {
            schedule.pMean(xt: b.x, eps: b.eps, t: t, count: b.count, into: b.x)
        }
        // 2. + sigma_t z, z = noiseTemperature * N(0, I); none at t = 0.
        guard t > 0 else { return }
        let sigma = Float(schedule.pVariance(t: t, settings.variance).squareRoot())
        let z = noise(Float(settings.noiseTemperature)), x = b.x
        for i in 0..<b.count { x[i] = x[i] + sigma * z[i] }
    }
}
