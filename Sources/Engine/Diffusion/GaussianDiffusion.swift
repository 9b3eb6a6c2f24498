// GaussianDiffusion.swift: chapter 3's formulas over buffers, written once —
// q (the fixed forward process and its posterior) and p (the learned reverse
// process) — named like improved-diffusion's q_* / p_*. The trainer, the
// samplers and the forward view call these; nothing recomputes them inline.
//
// Every function works on `count` floats at one timestep t, with the
// schedule's Double tables rounded once to Float, so the sampler's and the
// trainer's results are the same bit for bit wherever they are called from.
import Foundation

extension NoiseSchedule {
    // MARK: q, the forward process

    /// q(x_t | x_0): x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps   (Ho et al. 2020, eq. 4).
    public func qSample(x0: UnsafePointer<Float>, eps: UnsafePointer<Float>, t: Int, count: Int,
                        into xt: UnsafeMutablePointer<Float>) {
        let a = Float(sqrtAlphasCumprod[t]), s = Float(sqrtOneMinusAlphasCumprod[t])
        for i in 0..<count { xt[i] = a * x0[i] + s * eps[i] }
    }

    /// Mean of the posterior q(x_{t-1} | x_t, x0): coef1 x0 + coef2 x_t   (eq. 7).
    public func qPosteriorMean(x0: UnsafePointer<Float>, xt: UnsafePointer<Float>, t: Int, count: Int,
                               into mean: UnsafeMutablePointer<Float>) {
        let c1 = Float(posteriorMeanCoef1[t]), c2 = Float(posteriorMeanCoef2[t])
        for i in 0..<count { mean[i] = c1 * x0[i] + c2 * xt[i] }
    }

    /// Variance of the posterior q(x_{t-1} | x_t, x0): beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)   (eq. 7).
    public func qPosteriorVariance(t: Int) -> Double { posteriorVariance[t] }

    // MARK: converting between the parameterisations

    /// x0 from eps: x0^ = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)   (eq. 4 solved for x0).
    public func predictX0(xt: UnsafePointer<Float>, eps: UnsafePointer<Float>, t: Int, count: Int,
                          into x0: UnsafeMutablePointer<Float>) {
        let sab = Float(sqrtAlphasCumprod[t]), s1m = Float(sqrtOneMinusAlphasCumprod[t])
        for i in 0..<count { x0[i] = (xt[i] - s1m * eps[i]) / sab }
    }

    /// eps from x0 (the inverse): eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t).
    public func predictEps(xt: UnsafePointer<Float>, x0: UnsafePointer<Float>, t: Int, count: Int,
                           into eps: UnsafeMutablePointer<Float>) {
        let sab = Float(sqrtAlphasCumprod[t]), s1m = Float(sqrtOneMinusAlphasCumprod[t])
        for i in 0..<count { eps[i] = (xt[i] - sab * x0[i]) / s1m }
    }

    /// v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0   (Salimans & Ho 2022, the v-prediction target).
    public func vFromEpsX0(eps: UnsafePointer<Float>, x0: UnsafePointer<Float>, t: Int, count: Int,
                           into v: UnsafeMutablePointer<Float>) {
        let sab = Float(sqrtAlphasCumprod[t]), s1m = Float(sqrtOneMinusAlphasCumprod[t])
        for i in 0..<count { v[i] = sab * eps[i] - s1m * x0[i] }
    }

    /// eps from v: eps = sqrt(1 - abar_t) x_t + sqrt(abar_t) v (in place: `eps` may be `v`).
    public func epsFromV(xt: UnsafePointer<Float>, v: UnsafePointer<Float>, t: Int, count: Int,
                         into eps: UnsafeMutablePointer<Float>) {
        let sab = Float(sqrtAlphasCumprod[t]), s1m = Float(sqrtOneMinusAlphasCumprod[t])
        for i in 0..<count { eps[i] = s1m * xt[i] + sab * v[i] }
    }

    // MARK: p, the learned reverse process

    /// Mean of p(x_{t-1} | x_t) from the predicted noise:
    /// (x_t - beta_t / sqrt(1 - abar_t) eps^) / sqrt(alpha_t)   (eq. 11). For
    /// exact eps it equals qPosteriorMean(predictX0(eps)) (the chapter's exercise 3.3).
    public func pMean(xt: UnsafePointer<Float>, eps: UnsafePointer<Float>, t: Int, count: Int,
                      into mean: UnsafeMutablePointer<Float>) {
        let k = Float(betas[t] / sqrtOneMinusAlphasCumprod[t]), ra = Float(1 / alphas[t].squareRoot())
        for i in 0..<count { mean[i] = (xt[i] - k * eps[i]) * ra }
    }

    /// Variance sigma_t^2 of p(x_{t-1} | x_t): beta_t (the DDPM paper's
    /// choice, the upper bound) or beta~_t (the posterior's, the lower bound)   (section 3.2 of Ho et al.).
    /// A learned variance is per pixel: `learnedLogVariance` gives it.
    public func pVariance(t: Int, _ kind: VarianceKind) -> Double {
        switch kind {
        case .beta: return betas[t]
        case .posterior: return posteriorVariance[t]
        case .learned: preconditionFailure("a learned variance is per pixel, between the ends of learnedLogVarianceRange(t:)")
        }
    }

    /// The two ends a learned variance interpolates between at t, as logs:
    /// log β̃_t (β̃_0 = 0 replaced by β̃_1, improved-diffusion's
    /// posterior_log_variance_clipped) and log β_t.
    public func learnedLogVarianceRange(t: Int) -> (min: Double, max: Double) {
        let clipped = t == 0 && T > 1 ? posteriorVariance[1] : posteriorVariance[t]
        return (log(clipped > 0 ? clipped : betas[t]), log(betas[t]))
    }

    /// The learned log variance for the network's v between those ends:
    /// f max + (1 − f) min with f = (v + 1)/2 (improved DDPM eq. 15; v is not clamped).
    @inline(__always)
    public static func learnedLogVariance<F: BinaryFloatingPoint>(v: F, min: F, max: F) -> F {
        let f = (v + 1) / 2
        return f * max + (1 - f) * min
    }
}
