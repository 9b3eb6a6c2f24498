// Kernels+Activations.swift: SiLU and GELU, forward and backward.
import Kernels512
import SIMDMath
import CBLIS
import Foundation

extension Kernels {
    /// y = x * sigmoid(x), in place allowed.
    public static func siluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n { let v = FastMath.load(x, i); FastMath.store(v * FastMath.sigmoid(v), y, i); i += 16 }
        while i < n { let v = x[i]; y[i] = v * sigmoid(v); i += 1 }
    }

    /// dx += dy * silu'(x).
    public static func siluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 16 <= n {
            let v = FastMath.load(x, i), s = FastMath.sigmoid(v)
            FastMath.store(FastMath.load(dx, i) + FastMath.load(dy, i) * s * (1 + v * (1 - s)), dx, i)
            i += 16
        }
        while i < n {
            let v = x[i], s = sigmoid(v)
            dx[i] += dy[i] * s * (1 + v * (1 - s))
            i += 1
        }
    }

    /// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
    public static func geluForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { let v = x[i]; y[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
    }

    /// dx += dy * gelu'(x), gelu'(x) = Phi(x) + x phi(x).
    public static func geluBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            let cdf = 0.5 * (1 + erff(v * 0.70710678118654752))
            let pdf = expf(-0.5 * v * v) * 0.39894228040143268
            dx[i] += dy[i] * (cdf + v * pdf)
        }
    }
}
