// NoiseSchedule.swift: the beta schedules and every table derived from them, in Double.
import Foundation

/// The beta schedules of SPEC section 2.
public enum ScheduleKind: String, CaseIterable, Codable, Sendable {
    case linear, cosine, quadratic, sigmoid
}

/// A noise schedule and every table derived from it, computed once in Double
/// (named as in improved-diffusion / diffusers). Index t = 0..<T.
public struct NoiseSchedule: Sendable, Equatable {
    public let kind: ScheduleKind
    public let T: Int
    public let betaStart: Double, betaEnd: Double

    public let betas: [Double]
    public let alphas: [Double]
    /// abar_t = prod_{s <= t} alpha_s
    public let alphasCumprod: [Double]
    /// abar_{t-1}, with abar_{-1} = 1
    public let alphasCumprodPrev: [Double]
    public let sqrtAlphasCumprod: [Double]
    public let sqrtOneMinusAlphasCumprod: [Double]
    /// SNR_t = abar_t / (1 - abar_t)
    public let snr: [Double]
    /// beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
    public let posteriorVariance: [Double]
    /// mu~ = coef1 x0 + coef2 x_t (Ho et al. 2020, eq. 7)
    public let posteriorMeanCoef1: [Double]
    public let posteriorMeanCoef2: [Double]

    /// Parameters as stored in checkpoint metadata.
    public struct Spec: Codable, Equatable, Sendable {
        public var kind: ScheduleKind
        public var T: Int
        public var betaStart: Double
        public var betaEnd: Double
        public init(kind: ScheduleKind = .linear, T: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) {
            self.kind = kind; self.T = T; self.betaStart = betaStart; self.betaEnd = betaEnd
        }
    }
    public var spec: Spec { Spec(kind: kind, T: T, betaStart: betaStart, betaEnd: betaEnd) }

    public init(_ s: Spec) throws {
        try self.init(kind: s.kind, T: s.T, betaStart: s.betaStart, betaEnd: s.betaEnd)
    }

    public init(kind: ScheduleKind = .linear, T: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) throws {
        try EngineError.require((2...100_000).contains(T), "T", "2...100000", T)
        guard betaStart > 0, betaEnd < 1, betaStart <= betaEnd, betaStart.isFinite, betaEnd.isFinite else {
            throw EngineError.invalidArgument("need 0 < beta-start <= beta-end < 1, got \(betaStart), \(betaEnd)")
        }
        self.kind = kind; self.T = T; self.betaStart = betaStart; self.betaEnd = betaEnd
        let b = NoiseSchedule.makeBetas(kind, T: T, betaStart: betaStart, betaEnd: betaEnd)
        betas = b
        alphas = b.map { 1 - $0 }
        var ab = [Double](repeating: 0, count: T)
        var acc = 1.0
        for t in 0..<T { acc *= alphas[t]; ab[t] = acc }
        alphasCumprod = ab
        alphasCumprodPrev = [1.0] + ab.dropLast()
        sqrtAlphasCumprod = ab.map { $0.squareRoot() }
        sqrtOneMinusAlphasCumprod = ab.map { (1 - $0).squareRoot() }
        snr = ab.map { $0 / (1 - $0) }
        let prev = alphasCumprodPrev, al = alphas
        posteriorVariance = (0..<T).map { (t: Int) -> Double in b[t] * (1 - prev[t]) / (1 - ab[t]) }
        posteriorMeanCoef1 = (0..<T).map { (t: Int) -> Double in prev[t].squareRoot() * b[t] / (1 - ab[t]) }
        posteriorMeanCoef2 = (0..<T).map { (t: Int) -> Double in al[t].squareRoot() * (1 - prev[t]) / (1 - ab[t]) }
        // Every table finite, 0 < beta < 1 and abar_t < 1 (a beta so small that
        // 1 - beta rounds to 1 makes SNR infinite and sampling meaningless).
        guard b.allSatisfy({ $0 > 0 && $0 < 1 }), ab.allSatisfy({ $0 > 0 && $0 < 1 }),
              snr.allSatisfy(\.isFinite), posteriorVariance.allSatisfy(\.isFinite),
              posteriorMeanCoef1.allSatisfy(\.isFinite), posteriorMeanCoef2.allSatisfy(\.isFinite) else {
            throw EngineError.invalidArgument(
                "the \(kind.rawValue) schedule with beta \(betaStart)...\(betaEnd) over \(T) steps is degenerate (alpha_bar reaches 0 or 1 in Double); choose other end points")
        }
    }

    /// numpy-style linspace in Double (last point exact).
    static func linspace(_ a: Double, _ b: Double, _ n: Int) -> [Double] {
        let step = (b - a) / Double(n - 1)
        return (0..<n).map { $0 == n - 1 ? b : a + Double($0) * step }
    }

    public static func makeBetas(_ kind: ScheduleKind, T: Int, betaStart: Double, betaEnd: Double) -> [Double] {
        switch kind {
        case .linear:
            return linspace(betaStart, betaEnd, T)
        case .quadratic:
            return linspace(0, 1, T).map { betaStart + (betaEnd - betaStart) * $0 * $0 }
        case .sigmoid:
            return linspace(-6, 6, T).map { betaStart + (betaEnd - betaStart) / (1 + exp(-$0)) }
        case .cosine:
            // Nichol & Dhariwal 2021, eq. 17, s = 0.008; clipped to [1e-4, 0.9999] (SPEC).
            let s = 0.008
            func f(_ u: Int) -> Double { let v = cos(((Double(u) / Double(T)) + s) / (1 + s) * Double.pi / 2); return v * v }
            let f0 = f(0)
            return (0..<T).map { t in min(max(1 - (f(t + 1) / f0) / (f(t) / f0), 1e-4), 0.9999) }
        }
    }

    /// The range x_t is drawn on at step t (explorer, GIFs, sheets): x_t =
    /// sqrt(ᾱ_t) x_0 + sqrt(1-ᾱ_t) ε spans about ±(sqrt(ᾱ_t) + 2.5 sqrt(1-ᾱ_t)),
    /// ±1 at t = 0 (a clean digit at full contrast) and ±2.5 at t = T; it depends
    /// on t, not on the frame, so nothing flickers. A temperature of x_T above 1
    /// widens it in proportion.
    public func xtDisplayRange(t: Int, temperature: Double = 1) -> Float {
        let ab = alphasCumprod[max(0, min(T - 1, t))]
        return Float(ab.squareRoot() + 2.5 * max(1, temperature) * (1 - ab).squareRoot())
    }

    /// Why a model of this schedule cannot be sampled in float, or nil: x̂0 = (x_t − sqrt(1 − ᾱ) ε̂) / sqrt(ᾱ)
    /// grows as 1/sqrt(ᾱ), and with ᾱ at t = T-1 below 1e-72 (1/sqrt: 1e36, a hundredth of float's
    /// largest) the sampler's products overflow. Measured with ε models of the linear schedule:
    /// T = 16,000 (ᾱ 5e-71) samples, T = 16,500 (3e-73) gives NaN.
    public var cannotSample: String? {
        let ab = alphasCumprod[T - 1]
        guard ab < 1e-72 else { return nil }
        return String(format: "the %@ schedule with T %d takes alpha_bar at t = T-1 to %.2g, under 1e-72: x0-hat = (x_t - sqrt(1 - alpha_bar) eps-hat)/sqrt(alpha_bar) overflows float when sampling (the linear schedule samples up to about T 16,380)", kind.rawValue, T, ab)
    }

    /// Diagnostics of the chapter's section 3.5.3: problems with the end points.
    public var warnings: [String] {
        var w: [String] = []
        if let why = cannotSample { w.append(why) }
        if alphasCumprod[T - 1] > 1e-2 {
            w.append(String(format: "alpha_bar at t=T-1 is %.3g: x_T still holds signal (want < 0.01)", alphasCumprod[T - 1]))
        }
        if betas[0] > 1e-2 { w.append(String(format: "beta_0 = %.3g is large: the first step destroys detail", betas[0])) }
        if zip(betas, betas.dropFirst()).contains(where: { $0 > $1 + 1e-15 }) {
            w.append("betas are not monotonically increasing")
        }
        return w
    }
}
