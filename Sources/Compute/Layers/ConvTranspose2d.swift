// ConvTranspose2d.swift: transposed 2-D convolution (the U-Net's upsampling), forward and backward.
/// Transposed 2-D convolution (the adjoint of a strided conv) on [C, N, H, W].
/// Weight [cin, cout, k, k] (PyTorch layout), bias [cout]; Ho = (H - 1) s - 2p + k.
/// Chunked over images like `Conv2d`.
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
    /// The U-Net's 4x4 stride-2 pad-1 shape on a direct backend: the forward
    /// (cout % 4 == 0) and the input gradient (cin % 4 == 0) run direct
    /// kernels, and so does the weight gradient (cin % 16 == 0 on AVX-512, % 8 on AVX2).
    func isDirect4x4(_ b: Backend) -> Bool { b.direct && k == 4 && stride == 2 && pad == 1 }
    public func colSize(n: Int, h: Int, w: Int) -> Int { cout * k * k * n * h * w }

    /// y [cout, N, Ho, Wo] = col2im(W^T x) + b, x [cin, N, H, W]; the 4x4
    /// stride-2 pad-1 case (the U-Net's) through DirectConv.transposed.
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        n: Int, h: Int, w wid: Int, ws: Workspace) {
        if isDirect4x4(ws.backend) && cout % 4 == 0 {
            return DirectConv.transposed(weight: p + w, bias: p + b, cin: cin, cout: cout, x: x, y: y, n: n, h: h,
                                         w: wid, ws: ws)
        }
        let ho = outSize(h), wo = outSize(wid), hwi = h * wid, hwo = ho * wo, ck = cout * k * k
        let weight = p + w, bias = p + b
        let used = ws.chunked(n: n, floatsPerImage: ck * hwi) { th, i0, i1 in
            let nb = i1 - i0, col = ws.cols[th].ptr
            BLAS.raw(transA: true, transB: false, m: ck, n: nb * hwi, k: cin, alpha: 1, a: weight, lda: ck, b: x + i0 * hwi, ldb: n * hwi, beta: 0, c: col, ldc: nb * hwi)
            let yc = y + i0 * hwo
            for r in 0..<cout { let row = yc + r * n * hwo, bv = bias[r]; for j in 0..<(nb * hwo) { row[j] = bv } }
            Kernels.col2im(col, c: cout, n: nb, h: ho, w: wo, k: k, stride: stride, pad: pad, x: yc,
                           channelStride: n * hwo, parallel: false)
        }
        if used > 0 { return }
        ws.col.reserve(colSize(n: n, h: h, w: wid))
        let col = ws.col.ptr, cols = n * hwi
        BLAS.sgemm(transA: true, transB: false, m: ck, n: cols, k: cin,
                   a: weight, lda: ck, b: x, ldb: cols, beta: 0, c: col, ldc: cols)
        Kernels.fillRows(y, rows: cout, len: n * hwo, bias: bias)
        Kernels.col2im(col, c: cout, n: n, h: ho, w: wo, k: k, stride: stride, pad: pad, x: y)
    }

    /// dcol = im2col(dy); dW += x dcol^T; db += rowsum(dy); dx += W dcol. In
    /// the 4x4 stride-2 pad-1 case on the direct backends, dx is the 4x4
    /// stride-2 convolution of dy with these weights (DirectConv.strided) and
    /// the GEMMs compute dW only; with input channels in whole vectors (16 on
    /// AVX-512, 8 on AVX2), dW is direct too (DirectConv.transposedWeightGrad).
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         n: Int, h: Int, w wid: Int, ws: Workspace) {
        let ho = outSize(h), wo = outSize(wid), hwi = h * wid, hwo = ho * wo, ck = cout * k * k
        let weight = p + w
        Kernels.addRowSums(dy, rows: cout, len: n * hwo, into: g + b)
        var dx = dx
        if let d = dx, isDirect4x4(ws.backend) && cin % 4 == 0 {
            DirectConv.strided(weight: weight, bias: ws.zeros(cin), cin: cout, cout: cin, x: dy, y: d, n: n, h: ho, w: wo,
                               ws: ws, k: 4, accumulate: true)
            dx = nil
        }
        if dx == nil && isDirect4x4(ws.backend) && DirectConv.transposedWeightGradApplies(backend: ws.backend, cin: cin) {
            return DirectConv.transposedWeightGrad(x: x, dy: dy, n: n, h: h, w: wid, cin: cin, cout: cout, ws: ws, into: g + w)
        }
        ws.zeroParts(cin * ck)
        let used = ws.chunked(n: n, floatsPerImage: ck * hwi) { th, i0, i1 in
            let nb = i1 - i0, col = ws.cols[th].ptr
            Kernels.im2col(dy + i0 * hwo, c: cout, n: nb, h: ho, w: wo, k: k, stride: stride, pad: pad, col: col,
                           channelStride: n * hwo, parallel: false)
            BLAS.raw(transA: false, transB: true, m: cin, n: ck, k: nb * hwi, alpha: 1, a: x + i0 * hwi, lda: n * hwi, b: col, ldb: nb * hwi, beta: 1, c: ws.dwParts[th].ptr, ldc: ck)
            if let dx { BLAS.raw(transA: false, transB: false, m: cin, n: nb * hwi, k: ck, alpha: 1, a: weight, lda: ck, b: col, ldb: nb * hwi, beta: 1, c: dx + i0 * hwi, ldc: n * hwi) }
        }
        if used > 0 { ws.reduceParts(into: g + w, count: cin * ck, threads: used); return }
        ws.col.reserve(colSize(n: n, h: h, w: wid))
        let col = ws.col.ptr, cols = n * hwi
        Kernels.im2col(dy, c: cout, n: n, h: ho, w: wo, k: k, stride: stride, pad: pad, col: col)
        BLAS.sgemm(transA: false, transB: true, m: cin, n: ck, k: cols,
                   a: x, lda: cols, b: col, ldb: cols, beta: 1, c: g + w, ldc: ck)
        if let dx {
            BLAS.sgemm(transA: false, transB: false, m: cin, n: cols, k: ck,
                       a: weight, lda: ck, b: col, ldb: cols, beta: 1, c: dx, ldc: cols)
        }
    }
}
