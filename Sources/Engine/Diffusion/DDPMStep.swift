// DDPMStep.swift: ancestral DDPM sampling (Ho et al. 2020, Algorithm 2).
import Foundation

/// x_{t-1} = mu_theta(x_t, t) + sigma_t z, visiting every t = T-1 ... 0;
/// no noise at t = 0.
public struct DDPMStep: ReverseStep {
    public init() {}

    public func timesteps(_ settings: SamplerSettings, T: Int) -> [Int] { Array((0..<T).reversed()) }

    /// The numbers of one step (for the equation panel and tests), from the schedule's tables.
    public struct Coefficients: Equatable, Sendable {
        public var beta: Double, alpha: Double, alphaBar: Double, alphaBarPrev: Double
        /// The mean from eps^: (x_t - epsCoef eps^) * meanScale, meanScale = 1/sqrt(alpha_t), epsCoef = beta_t/sqrt(1-abar_t).
        public var meanScale: Double, epsCoef: Double
        /// The posterior mean mu~ = x0Coef x0^ + xtCoef x_t (used with x0^ clipped).
        public var x0Coef: Double, xtCoef: Double
        /// sigma_t: sqrt(beta_t) or sqrt(beta~_t); 0 at t = 0 (no noise on the last step); NaN when learned (per pixel).
        public var sigma: Double
    }

    public static func coefficients(_ s: NoiseSchedule, t: Int, variance: VarianceKind) -> Coefficients {
        Coefficients(beta: s.betas[t], alpha: s.alphas[t], alphaBar: s.alphasCumprod[t], alphaBarPrev: s.alphasCumprodPrev[t],
                     meanScale: 1 / s.alphas[t].squareRoot(), epsCoef: s.betas[t] / s.sqrtOneMinusAlphasCumprod[t],
                     x0Coef: s.posteriorMeanCoef1[t], xtCoef: s.posteriorMeanCoef2[t],
                     sigma: t == 0 ? 0 : (variance == .learned ? .nan : s.pVariance(t: t, variance).squareRoot()))
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
        // 2. Classifier guidance: + s sigma_t^2 grad log p(y | x_t) (Dhariwal & Nichol, Algorithm 1),
        //    with the step's own variance table also at t = 0 (beta_0, or beta~_0 = 0: no shift on the last step).
        //    A learned variance is the network's, per pixel: Sigma = exp(frac log beta_t + (1 - frac) log beta~_t).
        if settings.variance == .learned {
            guard let v = b.learnedV else { preconditionFailure("--variance learned with a model that does not learn it") }
            let r = schedule.learnedLogVarianceRange(t: t), lo = Float(r.min), hi = Float(r.max), x = b.x
            let g = b.guidance, z = t > 0 ? noise(Float(settings.noiseTemperature)) : nil
            for i in 0..<b.count {
                let lv = NoiseSchedule.learnedLogVariance(v: v[i], min: lo, max: hi)
                if let g { x[i] += expf(lv) * g[i] }
                if let z { x[i] += expf(0.5 * lv) * z[i] }
            }
            return
        }
        if let g = b.guidance {
            let v = Float(schedule.pVariance(t: t, settings.variance)), x = b.x
            for i in 0..<b.count { x[i] += v * g[i] }
        }
        // 3. + sigma_t z, z = noiseTemperature * N(0, I); none at t = 0.
        guard t > 0 else { return }
        let sigma = Float(DDPMStep.coefficients(schedule, t: t, variance: settings.variance).sigma)
        let z = noise(Float(settings.noiseTemperature)), x = b.x
        for i in 0..<b.count { x[i] = x[i] + sigma * z[i] }
    }
}
