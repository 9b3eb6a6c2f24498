// Linear.swift: fully connected layer (PyTorch layout), forward and backward.
/// Fully connected layer, PyTorch layout: weight [out, in], bias [out].
/// Rows of x are samples: x [N, in] -> y [N, out].
public struct Linear: Sendable {
    public let inFeatures: Int, outFeatures: Int
    public let w: Int, b: Int

    public init(_ layout: inout ParameterLayout, _ prefix: String, _ inFeatures: Int, _ outFeatures: Int) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        w = layout.add(prefix + ".weight", [outFeatures, inFeatures])
        b = layout.add(prefix + ".bias", [outFeatures])
    }

    /// y = x W^T + b
    /// With `perRow`, one GEMM per sample (results independent of n).
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                        perRow: Bool = false) {
        for i in 0..<n { (y + i * outFeatures).update(from: p + b, count: outFeatures) }
        if perRow {
            for i in 0..<n {
                BLAS.raw(transA: false, transB: true, m: 1, n: outFeatures, k: inFeatures, alpha: 1, a: x + i * inFeatures, lda: inFeatures, b: p + w, ldb: inFeatures, beta: 1, c: y + i * outFeatures, ldc: outFeatures)
            }
            return
        }
        BLAS.sgemm(transA: false, transB: true, m: n, n: outFeatures, k: inFeatures,
                   a: x, lda: inFeatures, b: p + w, ldb: inFeatures, beta: 1, c: y, ldc: outFeatures)
    }

    /// dW += dy^T x, db += colsum(dy), dx += dy W.
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, n: Int) {
        BLAS.sgemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: n,
                   a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: g + w, ldc: inFeatures)
        for i in 0..<n {
            let row = dy + i * outFeatures
            for o in 0..<outFeatures { g[b + o] += row[o] }
        }
        if let dx {
            BLAS.sgemm(transA: false, transB: false, m: n, n: inFeatures, k: outFeatures,
                       a: dy, lda: outFeatures, b: p + w, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
        }
    }
}
