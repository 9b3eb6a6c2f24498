import SIMDMath

/// AVX-512 versions of Engine's element-wise loops (same operations in the
/// same order per element as the AVX2 code in Engine; only the vector width
/// differs). Called only after the CPU check, like `DirectConv512`.
public enum Elementwise512 {
    public typealias V = SIMD16<Float>

    /// y[i] = g * sigmoid(g) + tb with g = x[i] * a + b, for i in 0..<count
    /// (GroupNorm's normalise + affine + SiLU + time-embedding bias).
    public static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                                  a: Float, b: Float, tb: Float) {
        var i = 0
        while i + 16 <= count {
            let g = FastMath.load(x, i) * a + b
            FastMath.store(g * FastMath.sigmoid(g) + tb, y, i)
            i += 16
        }
        while i < count { let g = x[i] * a + b; y[i] = g * FastMath.sigmoid(g) + tb; i += 1 }
    }
}
