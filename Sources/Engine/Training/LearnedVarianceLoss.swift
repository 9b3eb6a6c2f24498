// LearnedVarianceLoss.swift: improved DDPM's L_vlb term for a learned
// variance (Nichol & Dhariwal 2021, the hybrid objective L_simple + λ L_vlb):
// one image's KL (or, at t = 0, decoder NLL) with the mean frozen, and its
// gradient with respect to the network's v output.
import Foundation

public enum LearnedVarianceLoss {
    /// λ of L_hybrid = L_simple + λ L_vlb. L_vlb sums T terms and one uniformly
    /// drawn t estimates it as T L_t, so each image adds λ T L_t (improved-diffusion
    /// multiplies its vb term by T/1000).
    public static let lambda = 0.001

    /// Φ′ of improved-diffusion's tanh approximation of the normal CDF.
    static func approxStandardNormalPDF(_ x: Double) -> Double {
        let k = (2 / Double.pi).squareRoot(), th = tanh(k * (x + 0.044715 * x * x * x))
        return 0.5 * (1 - th * th) * k * (1 + 3 * 0.044715 * x * x)
    }

    /// d/d logScale of `VariationalBound.discretizedGaussianLogLikelihood`.
    static func logLikelihoodScaleGradient(_ x: Double, mean: Double, logScale: Double) -> Double {
        let c = x - mean, inv = exp(-logScale)
        let plus = inv * (c + 1 / 255), minus = inv * (c - 1 / 255)
        let cdfPlus = VariationalBound.approxStandardNormalCDF(plus), cdfMin = VariationalBound.approxStandardNormalCDF(minus)
        // d(plus)/d logScale = -plus, likewise minus.
        let (p, dp): (Double, Double)
        if x < -0.999 { (p, dp) = (cdfPlus, -approxStandardNormalPDF(plus) * plus) }
        else if x > 0.999 { (p, dp) = (1 - cdfMin, approxStandardNormalPDF(minus) * minus) }
        else { (p, dp) = (cdfPlus - cdfMin, -approxStandardNormalPDF(plus) * plus + approxStandardNormalPDF(minus) * minus) }
        return p > 1e-12 ? dp / p : 0   // the clamp in the log-likelihood has no gradient
    }

    /// L_t in bits per dimension of one image (`count` pixels) at t, with p's
    /// mean from the (frozen) ε̂ and its log variance from v:
    /// KL(q(x_{t-1} | x_t, x_0) ‖ p(x_{t-1} | x_t)) for t > 0, the discretised
    /// decoder's −log p(x_0 | x_1) at t = 0. Writes `scale` · dL_t/dv into `dv`.
    public static func term(x0: UnsafePointer<Float>, xt: UnsafePointer<Float>, eps: UnsafePointer<Float>, v: UnsafePointer<Float>,
                            t: Int, count: Int, schedule s: NoiseSchedule, scale: Double, dv: UnsafeMutablePointer<Float>) -> Double {
        let sab = s.sqrtAlphasCumprod[t], s1ab = s.sqrtOneMinusAlphasCumprod[t]
        let c1 = s.posteriorMeanCoef1[t], c2 = s.posteriorMeanCoef2[t]
        let r = s.learnedLogVarianceRange(t: t), half = (r.max - r.min) / 2
        let qLV = r.min   // the posterior's own log variance (clipped at t = 0, where it is not used)
        let perDim = 1 / (Double(count) * log(2.0))
        var total = 0.0
        for k in 0..<count {
            let x = Double(xt[k]), x0k = Double(x0[k])
            let xhat = (x - s1ab * Double(eps[k])) / sab   // not clipped, as improved-diffusion's training
            let muP = c1 * xhat + c2 * x
            let lv = NoiseSchedule.learnedLogVariance(v: Double(v[k]), min: r.min, max: r.max)
            var value: Double, dlv: Double
            if t > 0 {
                let muQ = c1 * x0k + c2 * x, d2 = (muQ - muP) * (muQ - muP)
                value = VariationalBound.normalKL(mean1: muQ, logVar1: qLV, mean2: muP, logVar2: lv)
                dlv = 0.5 * (1 - exp(qLV - lv) - d2 * exp(-lv))
            } else {
                value = -VariationalBound.discretizedGaussianLogLikelihood(x0k, mean: muP, logScale: 0.5 * lv)
                dlv = -0.5 * logLikelihoodScaleGradient(x0k, mean: muP, logScale: 0.5 * lv)
            }
            total += value
            dv[k] = Float(scale * perDim * dlv * half)
        }
        return total * perDim
    }
}
