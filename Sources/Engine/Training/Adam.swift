// Adam.swift: Adam with PyTorch's update rule.
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
