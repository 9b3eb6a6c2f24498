import Foundation

/// Adam with PyTorch's update rule (torch.optim.Adam, no weight decay, no amsgrad):
///
///     m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
///     p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
public struct Adam: Sendable {
    public var beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
    public init() {}

    /// One update at 1-based step `t`.
    public func step(params: UnsafeMutablePointer<Float>, grads: UnsafePointer<Float>,
                     m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
                     count: Int, lr: Double, t: Int) {
        let bc1 = 1 - pow(Double(beta1), Double(t)), bc2 = 1 - pow(Double(beta2), Double(t))
        let stepSize = Float(lr / bc1), rbc2 = Float(1 / bc2.squareRoot())
        let b1 = beta1, b2 = beta2, e = eps
        Parallel.forEach(count, minChunk: 1 << 15) { r in
            for i in r {
                let g = grads[i]
                let mi = b1 * m[i] + (1 - b1) * g
                let vi = b2 * v[i] + (1 - b2) * g * g
                m[i] = mi; v[i] = vi
                params[i] -= stepSize * mi / (vi.squareRoot() * rbc2 + e)
            }
        }
    }
}

public enum GradientTools {
    /// L2 norm of all gradients (Double accumulation).
    public static func norm(_ g: UnsafePointer<Float>, _ n: Int) -> Double {
        var s = 0.0
        var i = 0
        while i < n {
            let end = min(n, i + 4096)
            var acc = SIMD8<Float>(repeating: 0)
            var j = i
            let raw = UnsafeRawPointer(g)
            while j + 8 <= end { let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self); acc += v * v; j += 8 }
            var part = Double(acc.sum())
            while j < end { part += Double(g[j]) * Double(g[j]); j += 1 }
            s += part
            i = end
        }
        return s.squareRoot()
    }

    /// torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is < 1.
    /// Returns the norm before clipping.
    @discardableResult
    public static func clip(_ g: UnsafeMutablePointer<Float>, _ n: Int, maxNorm: Double) -> Double {
        let total = norm(g, n)
        let coef = maxNorm / (total + 1e-6)
        if coef < 1 { let c = Float(coef); for i in 0..<n { g[i] *= c } }
        return total
    }

    /// ema = decay * ema + (1 - decay) * p
    public static func emaUpdate(_ ema: UnsafeMutablePointer<Float>, _ p: UnsafePointer<Float>, _ n: Int, decay: Float) {
        let a = 1 - decay
        for i in 0..<n { ema[i] += a * (p[i] - ema[i]) }
    }
}

/// Linear warm-up to the base rate, then cosine decay to zero at `totalSteps`.
public struct LRSchedule: Codable, Equatable, Sendable {
    public var base: Double, warmup: Int, totalSteps: Int
    public init(base: Double, warmup: Int, totalSteps: Int) { self.base = base; self.warmup = warmup; self.totalSteps = totalSteps }
    /// Rate for 0-based step s.
    public func rate(_ s: Int) -> Double {
        if s < warmup { return base * Double(s + 1) / Double(warmup) }
        let span = max(1, totalSteps - warmup)
        let p = min(1, Double(s - warmup) / Double(span))
        return base * 0.5 * (1 + cos(Double.pi * p))
    }
}
