// Weighting.swift: the loss kinds and the per-timestep loss weightings (SPEC section 2, chapter 3.4).

public enum LossKind: String, CaseIterable, Codable, Sendable { case mse, l1 }

/// Per-timestep loss weights (SPEC section 2, chapter 3.4).
public enum Weighting: String, CaseIterable, Codable, Sendable {
    case simple, snr, minSnr = "min-snr", importance

    public func weight(_ s: NoiseSchedule, t: Int, gamma: Double = 5) -> Double {
        switch self {
        case .simple: return 1
        case .snr: return 1 / (1 + s.snr[t])
        case .minSnr: return min(s.snr[t], gamma) / s.snr[t]
        // beta^2 / (2 sigma^2 alpha (1 - abar)) with sigma^2 = beta
        case .importance: return s.betas[t] * s.betas[t] / (2 * s.betas[t] * s.alphas[t] * (1 - s.alphasCumprod[t]))
        }
    }
}

