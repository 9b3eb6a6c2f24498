// TimeEmbedding.swift: the chapter's sinusoidal timestep embedding.
import Foundation

/// The chapter's sinusoidal timestep embedding: for i < d/2,
/// `f_i = exp(-i * ln(10000) / (d/2 - 1))`, `e = [sin(t f), cos(t f)]`.
/// Computed in Float like PyTorch's float32 path.
public enum SinusoidalEmbedding {
    /// t [N] -> e [N, dim]
    public static func forward(t: UnsafePointer<Float>, n: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        let half = dim / 2
        let scale = Float(Foundation.log(10000.0) / Double(half - 1))
        for i in 0..<n {
            let row = out + i * dim
            for j in 0..<half {
                let f = expf(Float(j) * -scale)
                let a = t[i] * f
                row[j] = sinf(a)
                row[half + j] = cosf(a)
            }
        }
    }
}
