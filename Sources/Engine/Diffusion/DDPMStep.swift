// DDPMStep.swift: ancestral DDPM sampling (Ho et al. 2020, Algorithm 2).

/// x_{t-1} = mu_theta(x_t, t) + sigma_t z, visiting every t = T-1 ... 0;
/// no noise at t = 0.
public struct DDPMStep: ReverseStep {
    public init() {}

    public func timesteps(_ settings: SamplerSettings, T: Int) -> [Int] { Array((0..<T).reversed()) }

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
