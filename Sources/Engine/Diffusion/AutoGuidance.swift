// AutoGuidance.swift: guiding a model with a weaker version of itself
// (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"):
// eps = eps_weak + w (eps_good - eps_weak), applied at the timesteps of an
// interval only (Kynkäänniemi et al. 2024: guidance at high noise narrows
// which digits are drawn; elsewhere the good model alone).
import Foundation

/// A model guided away from a weaker one, as a noise predictor: x [N, S*S] in,
/// ε̂ [N, S*S] out.
public final class AutoGuidedPredictor: NoisePredictor {
    public let good: NoisePredictor, bad: NoisePredictor
    public let weight: Float
    /// The timesteps guided (others: the good model alone).
    public let interval: ClosedRange<Int>
    private let badOut: FloatBuffer, goodOut: FloatBuffer
    public var imageSize: Int { good.imageSize }
    public var readsX0Estimate: Bool { good.readsX0Estimate }
    /// A learned variance is the good model's (the weak one's call leaves its buffer alone).
    public var varianceOutput: UnsafePointer<Float>? { good.varianceOutput }
    /// The guidance weights taken (sample's --autoguide-weight, train's --guidance-weight; `key`
    /// names the option): 0 is the weak model alone, 1 the good one, and past 20 the difference
    /// of two predictions swamps both.
    public static func checkWeight(_ w: Double, key: String) throws {
        try EngineError.require(w >= 0 && w <= 20, key, "[0, 20]", w)
    }

    public init(good: NoisePredictor, bad: NoisePredictor, weight: Float, interval: ClosedRange<Int> = 0...Int.max) {
        self.good = good; self.bad = bad; self.weight = weight; self.interval = interval; badOut = FloatBuffer(count: 1); goodOut = FloatBuffer(count: 1)
    }
    public func predictNoise(_ x: UnsafePointer<Float>, t: [Int], out: UnsafeMutablePointer<Float>) {
        predictNoise(x, t: t, x0Estimate: nil, out: out)
    }
    public func predictNoise(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>) {
        let hw = imageSize * imageSize, len = t.count * hw
        good.predictNoise(x, t: t, x0Estimate: x0Estimate, out: out)
        guard t.contains(where: interval.contains) else { return }
        badOut.reserve(len)
        bad.predictNoise(x, t: t, x0Estimate: x0Estimate, out: badOut.ptr)
        let b = badOut.ptr, w = weight
        for (j, tj) in t.enumerated() where interval.contains(tj) {
            for i in j * hw..<(j + 1) * hw { out[i] = b[i] + w * (out[i] - b[i]) }
        }
    }

    /// Adds scale (ε_good − ε_weak) at x [N, S*S] to `out` [N, S*S] for the
    /// images whose t is guided, and nothing to the others (guidance
    /// distillation's offset to the noise, `TrainOptions.Distillation.onNoise`).
    public func addOffset(_ x: UnsafePointer<Float>, t: [Int], x0Estimate: UnsafePointer<Float>?, scale: Float,
                          to out: UnsafeMutablePointer<Float>) {
        guard t.contains(where: interval.contains) else { return }
        let hw = imageSize * imageSize, len = t.count * hw
        goodOut.reserve(len); badOut.reserve(len)
        good.predictNoise(x, t: t, x0Estimate: x0Estimate, out: goodOut.ptr)
        bad.predictNoise(x, t: t, x0Estimate: x0Estimate, out: badOut.ptr)
        let g = goodOut.ptr, b = badOut.ptr
        for (j, tj) in t.enumerated() where interval.contains(tj) {
            for i in j * hw..<(j + 1) * hw { out[i] += scale * (g[i] - b[i]) }
        }
    }
}
