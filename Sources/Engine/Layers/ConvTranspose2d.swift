/// Transposed 2-D convolution (the adjoint of a strided conv) on [C, N, H, W].
/// Weight [cin, cout, k, k] (PyTorch layout), bias [cout]; Ho = (H - 1) s - 2p + k.
public struct ConvTranspose2d: Sendable {
    public let cin: Int, cout: Int, k: Int, stride: Int, pad: Int
    public let w: Int, b: Int

    public init(_ layout: inout ParameterLayout, _ prefix: String, cin: Int, cout: Int,
                k: Int, stride: Int, pad: Int) {
        self.cin = cin; self.cout = cout; self.k = k; self.stride = stride; self.pad = pad
        w = layout.add(prefix + ".weight", [cin, cout, k, k])
        b = layout.add(prefix + ".bias", [cout])
    }

    public func outSize(_ s: Int) -> Int { (s - 1) * stride - 2 * pad + k }
    public func colSize(n: Int, h: Int, w: Int) -> Int { cout * k * k * n * h * w }

    /// y [cout, N, Ho, Wo] = col2im(W^T x) + b, x [cin, N, H, W].
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        n: Int, h: Int, w wid: Int, col: UnsafeMutablePointer<Float>) {
        let ho = outSize(h), wo = outSize(wid), cols = n * h * wid, ck = cout * k * k
        BLAS.sgemm(transA: true, transB: false, m: ck, n: cols, k: cin,
                   a: p + w, lda: ck, b: x, ldb: cols, beta: 0, c: col, ldc: cols)
        Kernels.fillRows(y, rows: cout, len: n * ho * wo, bias: p + b)
        Kernels.col2im(col, c: cout, n: n, h: ho, w: wo, k: k, stride: stride, pad: pad, x: y)
    }

    /// dcol = im2col(dy); dW += x dcol^T; db += rowsum(dy); dx += W dcol.
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         n: Int, h: Int, w wid: Int, col: UnsafeMutablePointer<Float>) {
        let ho = outSize(h), wo = outSize(wid), cols = n * h * wid, ck = cout * k * k
        Kernels.addRowSums(dy, rows: cout, len: n * ho * wo, into: g + b)
        Kernels.im2col(dy, c: cout, n: n, h: ho, w: wo, k: k, stride: stride, pad: pad, col: col)
        BLAS.sgemm(transA: false, transB: true, m: cin, n: ck, k: cols,
                   a: x, lda: cols, b: col, ldb: cols, beta: 1, c: g + w, ldc: ck)
        if let dx {
            BLAS.sgemm(transA: false, transB: false, m: cin, n: cols, k: ck,
                       a: p + w, lda: ck, b: col, ldb: cols, beta: 1, c: dx, ldc: cols)
        }
    }
}
