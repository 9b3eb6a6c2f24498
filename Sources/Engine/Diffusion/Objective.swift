// Objective.swift: what the network predicts: ε, x0, or v (Salimans & Ho 2022), and the conversions.

/// What the network is trained to output at (x_t, t): the noise ε (DDPM's
/// choice, chapter 3.4), the clean image x0, or v = √ᾱ_t ε − √(1−ᾱ_t) x0.
/// Everything downstream (samplers, x̂0 on screen, the bound) works with ε,
/// so a model's output is turned into ε once, in `UNetPredictor`.
public enum Objective: String, CaseIterable, Codable, Sendable {
    case eps, x0, v

    /// The training target at t for clean images `x0` and their noise `eps`.
    public func target(x0: UnsafePointer<Float>, eps: UnsafePointer<Float>, t: Int, count: Int, schedule s: NoiseSchedule,
                       into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .eps: out.update(from: eps, count: count)
        case .x0: out.update(from: x0, count: count)
        case .v: s.vFromEpsX0(eps: eps, x0: x0, t: t, count: count, into: out)
        }
    }

    /// The ε an output of this objective stands for at x_t (in place: `out` may be `output`).
    public func epsilon(output: UnsafePointer<Float>, xt: UnsafePointer<Float>, t: Int, count: Int, schedule s: NoiseSchedule,
                        into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .eps: if UnsafePointer(out) != output { out.update(from: output, count: count) }
        case .x0: s.predictEps(xt: xt, x0: output, t: t, count: count, into: out)
        case .v: s.epsFromV(xt: xt, v: output, t: t, count: count, into: out)
        }
    }

    /// ‖Δε‖² / ‖Δtarget‖² at t: an error in this target costs this much in ε
    /// (x0: SNR_t; v: ᾱ_t = SNR_t/(1+SNR_t)). Loss weightings are defined on the
    /// ε scale, so a weighting other than `simple` is multiplied by it: min-SNR-γ
    /// becomes min(SNR, γ) for x0 and min(SNR, γ)/(1+SNR) for v (Hang et al. 2023).
    public func epsScale(_ s: NoiseSchedule, t: Int) -> Double {
        switch self {
        case .eps: return 1
        case .x0: return s.snr[t]
        case .v: return s.alphasCumprod[t]
        }
    }
}
