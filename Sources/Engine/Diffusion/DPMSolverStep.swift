// DPMSolverStep.swift: DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2), multistep, data prediction.
import Foundation

/// With α_t = √ᾱ_t, σ_t = √(1-ᾱ_t), λ_t = log(α_t/σ_t) and h = λ_next - λ_t,
/// from x_t with this step's x̂0 (D0) and the previous step's (at t_prev):
///   x_next = (σ_next/σ_t) x_t - α_next (e^{-h} - 1) (D0 + D1/2),
///   D1 = (D0 - x̂0_prev) / r,  r = (λ_t - λ_prev) / h            (eq. 9, "midpoint")
/// (diffusers' `DPMSolverMultistepScheduler`, algorithm "dpmsolver++", order 2).
/// The first step has no previous x̂0 and the last goes to σ = 0, so both are
/// first order (D1 = 0): the last step returns x̂0 itself. Deterministic: eta
/// and the noise temperature do not apply. Visits the same timesteps as DDIM.
public struct DPMSolverStep: ReverseStep {
    public init() {}

    public func timesteps(_ settings: SamplerSettings, T: Int) -> [Int] { DDIMStep().timesteps(settings, T: T) }

    /// The numbers of one step (for the equation panel and tests).
    public struct Coefficients: Equatable, Sendable {
        public var lambda: Double, lambdaNext: Double
        /// h = λ_next - λ_t (infinite on the last step, to σ = 0)
        public var h: Double
        /// r = (λ_t - λ_prev)/h, or nil for a first-order step
        public var r: Double?
        /// σ_next/σ_t, the x_t coefficient
        public var xtCoef: Double
        /// -α_next (e^{-h} - 1), the coefficient of D0 + D1/2
        public var dCoef: Double
    }

    /// λ_t = log(α_t/σ_t) = ½ log(ᾱ_t/(1-ᾱ_t)); +∞ after the last step (ᾱ = 1).
    static func lambda(_ s: NoiseSchedule, _ t: Int) -> Double {
        t < 0 ? .infinity : 0.5 * (log(s.alphasCumprod[t]) - log(1 - s.alphasCumprod[t]))
    }

    public static func coefficients(_ s: NoiseSchedule, t: Int, tNext: Int, tPrev: Int?) -> Coefficients {
        let lt = lambda(s, t), ln = lambda(s, tNext)
        let h = ln - lt
        let abNext = tNext >= 0 ? s.alphasCumprod[tNext] : 1.0
        let xtCoef = (1 - abNext).squareRoot() / (1 - s.alphasCumprod[t]).squareRoot()
        let dCoef = -abNext.squareRoot() * (exp(-h) - 1)
        // Second order needs the previous x̂0, and a finite step (not the last, to σ = 0).
        let r = tPrev.flatMap { p in tNext >= 0 && p > t ? (lt - lambda(s, p)) / h : nil }
        return Coefficients(lambda: lt, lambdaNext: ln, h: h, r: r, xtCoef: xtCoef, dCoef: dCoef)
    }

    public func update(_ b: StepBuffers, t: Int, tNext: Int, schedule: NoiseSchedule, settings: SamplerSettings,
                       noise: (Float) -> UnsafePointer<Float>) {
        let c = DPMSolverStep.coefficients(schedule, t: t, tNext: tNext, tPrev: b.previous?.t)
        let x = b.x, d0 = b.x0, xc = Float(c.xtCoef), dc = Float(c.dCoef)
        if let r = c.r, let prev = b.previous?.x0 {
            // D0 + D1/2 = D0 + (D0 - D_prev)/(2r)
            let k = Float(1 / (2 * r))
            for i in 0..<b.count { x[i] = xc * x[i] + dc * (d0[i] + k * (d0[i] - prev[i])) }
        } else {
            for i in 0..<b.count { x[i] = xc * x[i] + dc * d0[i] }
        }
    }
}
