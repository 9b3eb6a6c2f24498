/// 2-D convolution on [C, N, H, W] activations through im2col + GEMM.
/// Weight [cout, cin, k, k] (PyTorch layout), bias [cout].
public struct Conv2d: Sendable {
    public let cin: Int, cout: Int, k: Int, stride: Int, pad: Int
    public let w: Int, b: Int

    public init(_ layout: inout ParameterLayout, _ prefix: String, cin: Int, cout: Int,
                k: Int, stride: Int = 1, pad: Int = 0) {
        self.cin = cin; self.cout = cout; self.k = k; self.stride = stride; self.pad = pad
        w = layout.add(prefix + ".weight", [cout, cin, k, k])
        b = layout.add(prefix + ".bias", [cout])
    }

    public func outSize(_ s: Int) -> Int { (s + 2 * pad - k) / stride + 1 }
    var isPointwise: Bool { k == 1 && stride == 1 && pad == 0 }

    /// Floats of im2col scratch needed for a batch of n images of h x w.
    public func colSize(n: Int, h: Int, w: Int) -> Int {
        isPointwise ? 0 : cin * k * k * n * outSize(h) * outSize(w)
    }

    /// y [cout, N, Ho, Wo] = conv(x) + b; with `accumulate` y += conv(x) + b instead.
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        n: Int, h: Int, w wid: Int, col: UnsafeMutablePointer<Float>, accumulate: Bool = false) {
        let ho = outSize(h), wo = outSize(wid), cols = n * ho * wo, kk = cin * k * k
        let src: UnsafePointer<Float>
        if isPointwise { src = x } else {
            Kernels.im2col(x, c: cin, n: n, h: h, w: wid, k: k, stride: stride, pad: pad, col: col)
            src = UnsafePointer(col)
        }
        if accumulate {
            for r in 0..<cout { let bv = p[b + r]; let row = y + r * cols; for i in 0..<cols { row[i] += bv } }
        } else {
            Kernels.fillRows(y, rows: cout, len: cols, bias: p + b)
        }
        BLAS.sgemm(transA: false, transB: false, m: cout, n: cols, k: kk,
                   a: p + w, lda: kk, b: src, ldb: cols, beta: 1, c: y, ldc: cols)
    }

    /// dW += dy col^T, db += rowsum(dy), dx += col2im(W^T dy) (dx optional).
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         n: Int, h: Int, w wid: Int, col: UnsafeMutablePointer<Float>) {
        let ho = outSize(h), wo = outSize(wid), cols = n * ho * wo, kk = cin * k * k
        Kernels.addRowSums(dy, rows: cout, len: cols, into: g + b)
        if isPointwise {
            BLAS.sgemm(transA: false, transB: true, m: cout, n: kk, k: cols,
                       a: dy, lda: cols, b: x, ldb: cols, beta: 1, c: g + w, ldc: kk)
            if let dx {
                BLAS.sgemm(transA: true, transB: false, m: kk, n: cols, k: cout,
                           a: p + w, lda: kk, b: dy, ldb: cols, beta: 1, c: dx, ldc: cols)
            }
            return
        }
        Kernels.im2col(x, c: cin, n: n, h: h, w: wid, k: k, stride: stride, pad: pad, col: col)
        BLAS.sgemm(transA: false, transB: true, m: cout, n: kk, k: cols,
                   a: dy, lda: cols, b: col, ldb: cols, beta: 1, c: g + w, ldc: kk)
        guard let dx else { return }
        BLAS.sgemm(transA: true, transB: false, m: kk, n: cols, k: cout,
                   a: p + w, lda: kk, b: dy, ldb: cols, beta: 0, c: col, ldc: cols)
        Kernels.col2im(col, c: cin, n: n, h: h, w: wid, k: k, stride: stride, pad: pad, x: dx)
    }
}
