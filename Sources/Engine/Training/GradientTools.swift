// GradientTools.swift: gradient norm, clipping and finiteness over flat buffers.
import Foundation

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
