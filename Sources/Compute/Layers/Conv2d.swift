// Conv2d.swift: 2-D convolution: direct kernels or im2col + GEMM, forward and backward.
import Foundation
/// 2-D convolution on [C, N, H, W] activations through im2col + GEMM.
/// Weight [cout, cin, k, k] (PyTorch layout), bias [cout].
///
/// Batches are processed in chunks of images whose im2col matrix fits in L2,
/// one chunk per core at a time (single-threaded BLIS inside); a batch of one
/// image takes the whole-batch path where the GEMM itself is split.
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

    /// Floats of whole-batch im2col scratch for n images of h x w.
    public func colSize(n: Int, h: Int, w: Int) -> Int {
        isPointwise ? 0 : cin * k * k * n * outSize(h) * outSize(w)
    }

    /// y [cout, N, Ho, Wo] = conv(x) + b; with `accumulate` y += conv(x) + b instead.
    /// The direct kernels (DirectConv) run 3x3 (stride 1 and 2) and 1x1
    /// convolutions on the direct backends; the reference backend takes im2col + GEMM.
    /// A 3x3 stride-1 pad-1 convolution on a direct backend (its input and
    /// weight gradients run direct kernels; the forward needs cout % 4 == 0).
    func isDirect3x3(_ b: Backend) -> Bool { b.direct && k == 3 && stride == 1 && pad == 1 }
    func usesDirect(_ b: Backend) -> Bool { isDirect3x3(b) && cout % 4 == 0 }
    func isDirectStrided3x3(_ b: Backend) -> Bool { b.direct && k == 3 && stride == 2 && pad == 1 }
    func usesDirectStrided(_ b: Backend) -> Bool { isDirectStrided3x3(b) && cout % 4 == 0 }
    func usesDirectPointwise(_ b: Backend) -> Bool { b.direct && isPointwise && cout % 4 == 0 }

    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        n: Int, h: Int, w wid: Int, ws: Workspace, accumulate: Bool = false) {
        let backend = ws.backend
        if usesDirect(backend) {
            return Conv2d.direct(weight: p + w, bias: p + b, cin: cin, cout: cout, x: x, y: y, n: n, h: h, w: wid,
                                 ws: ws, accumulate: accumulate)
        }
        if usesDirectStrided(backend) && !accumulate {
            return DirectConv.strided(weight: p + w, bias: p + b, cin: cin, cout: cout, x: x, y: y, n: n, h: h,
                                      w: wid, ws: ws)
        }
        if usesDirectPointwise(backend) {
            return DirectConv.pointwise(weight: p + w, bias: p + b, cin: cin, cout: cout, x: x, y: y, n: n, h: h,
                                        w: wid, ws: ws, accumulate: accumulate)
        }
        let ho = outSize(h), wo = outSize(wid), hwo = ho * wo, hwi = h * wid, cols = n * hwo, kk = cin * k * k
        let weight = p + w, bias = p + b
        let pointwise = isPointwise
        let used = ws.chunked(n: n, floatsPerImage: kk * hwo) { th, i0, i1 in
            let nb = i1 - i0
            let yc = y + i0 * hwo
            for r in 0..<cout {
                let row = yc + r * cols, bv = bias[r]
                if accumulate { for j in 0..<(nb * hwo) { row[j] += bv } } else { for j in 0..<(nb * hwo) { row[j] = bv } }
            }
            if pointwise {
                BLAS.raw(transA: false, transB: false, m: cout, n: nb * hwo, k: kk, alpha: 1, a: weight, lda: kk, b: x + i0 * hwi, ldb: n * hwi, beta: 1, c: yc, ldc: cols)
            } else {
                let col = ws.cols[th].ptr
                Kernels.im2col(x + i0 * hwi, c: cin, n: nb, h: h, w: wid, k: k, stride: stride, pad: pad, col: col,
                               channelStride: n * hwi, parallel: false)
                BLAS.raw(transA: false, transB: false, m: cout, n: nb * hwo, k: kk, alpha: 1, a: weight, lda: kk, b: col, ldb: nb * hwo, beta: 1, c: yc, ldc: cols)
            }
        }
        if used > 0 { return }
        let src: UnsafePointer<Float>
        if pointwise { src = x } else {
            ws.col.reserve(colSize(n: n, h: h, w: wid))
            Kernels.im2col(x, c: cin, n: n, h: h, w: wid, k: k, stride: stride, pad: pad, col: ws.col.ptr)
            src = UnsafePointer(ws.col.ptr)
        }
        if accumulate {
            for r in 0..<cout { let bv = bias[r]; let row = y + r * cols; for i in 0..<cols { row[i] += bv } }
        } else {
            Kernels.fillRows(y, rows: cout, len: cols, bias: bias)
        }
        BLAS.sgemm(transA: false, transB: false, m: cout, n: cols, k: kk,
                   a: weight, lda: kk, b: src, ldb: cols, beta: 1, c: y, ldc: cols)
    }

    /// y = conv(SiLU(GroupNorm(x)) + tbias) + b without materialising the
    /// GroupNorm output (inference): `coef` holds GroupNorm.coefficients
    /// (a, b, tb, each [cin, N]). Only where `usesDirect`.
    public func forwardAffineSiLU(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, coef: UnsafePointer<Float>,
                                  y: UnsafeMutablePointer<Float>, n: Int, h: Int, w wid: Int, ws: Workspace) {
        if !usesDirect(ws.backend) { fatalError("forwardAffineSiLU needs the direct 3x3 kernel") }
        let f = DirectConv.AffineSiLU(a: coef, b: coef + cin * n, tb: coef + 2 * cin * n)
        Conv2d.direct(weight: p + w, bias: p + b, cin: cin, cout: cout, x: x, y: y, n: n, h: h, w: wid, ws: ws,
                      accumulate: false, affineSiLU: f)
    }

    /// DirectConv over the batch (DirectConv.parallel splits it over the
    /// cores): the direct 3x3 kernel, or in a U-Net's training pass
    /// Winograd F(2x2, 3x3) (DirectConv.winogradApplies), or in its
    /// sampling passes on the bf16 backend the bfloat16 tile (DirectConv.bf16Applies).
    static func direct(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                       x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w wid: Int,
                       ws: Workspace, accumulate: Bool, affineSiLU: DirectConv.AffineSiLU? = nil) {
        if DirectConv.winogradApplies(ws, h: h, w: wid) {
            let wide = ws.backend.wide
            if !DirectConv.winogradReadsFit(h: h, w: wid, wide: wide) { fatalError("Winograd: planes too short for \(h)x\(wid)") }
            let u = ws.packed(weight, count: 16 * cout * cin) {
                DirectConv.packWinograd(weight, cin: cin, cout: cout, into: $0)
            }
            let g = DirectConv.Geometry(h: h, w: wid, pad: 1, wide: wide)
            let scratch = cin * g.planeLen + DirectConv.WinogradShape(h: h, w: wid, wide: wide).scratchFloats(cin: cin, cout: cout)
            DirectConv.parallel(n: n, tiles: cout / 4, scratch: scratch, ws: ws) { th, images, coTiles in
                DirectConv.winograd(packed: u, bias: bias, cin: cin, cout: cout, x: x, y: y, n: n, h: h, w: wid,
                                    images: images, coTiles: coTiles, accumulate: accumulate, wide: wide,
                                    scratch: ws.cols[th].ptr, affineSiLU: affineSiLU)
            }
            return
        }
        if DirectConv.bf16Applies(ws) {
            return DirectConv.forwardBF16(weight: weight, bias: bias, cin: cin, cout: cout, x: x, y: y, n: n, h: h,
                                          w: wid, ws: ws, accumulate: accumulate, affineSiLU: affineSiLU)
        }
        let packed = ws.packed(weight, count: cout * cin * 9) { DirectConv.pack(weight, cin: cin, cout: cout, into: $0) }
        let wide = ws.backend.wide
        if let threads = DirectConv.bands(n: n, h: h, w: wid, wide: wide) {
            let scratch = DirectConv.scratchFloats(cin: cin, h: (h + threads - 1) / threads, w: wid, wide: wide)
            for t in 0..<threads { ws.cols[t].reserve(scratch) }
            for b in 0..<n {
                Parallel.run(threads) { th in
                    DirectConv.forward(packed: packed, bias: bias, cin: cin, cout: cout, x: x, y: y, n: n, b: b,
                                       band: DirectConv.band(th, of: threads, h: h), w: wid,
                                       accumulate: accumulate, wide: wide, scratch: ws.cols[th].ptr, affineSiLU: affineSiLU)
                }
            }
            return
        }
        DirectConv.parallel(n: n, tiles: cout / 4, scratch: DirectConv.scratchFloats(cin: cin, h: h, w: wid, wide: wide), ws: ws) {
            th, images, coTiles in
            DirectConv.forward(packed: packed, bias: bias, cin: cin, cout: cout, x: x, y: y, n: n, h: h, w: wid,
                               images: images, coTiles: coTiles, accumulate: accumulate, wide: wide, scratch: ws.cols[th].ptr,
                               affineSiLU: affineSiLU)
        }
    }

    /// dx of a 3x3 stride-1 pad-1 conv is the same conv of dy with the weights
    /// flipped and in/out swapped: Wf[ci][co][2-ky][2-kx] = W[co][ci][ky][kx].
    private func backwardDataDirect(_ p: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                    n: Int, h: Int, w wid: Int, ws: Workspace, accumulate: Bool) {
        ws.flip.reserve(cout * cin * 9)
        let wf = ws.flip.ptr, weight = p + w
        for co in 0..<cout {
            for ci in 0..<cin {
                for t in 0..<9 { wf[(ci * cout + co) * 9 + 8 - t] = weight[(co * cin + ci) * 9 + t] }
            }
        }
        Conv2d.direct(weight: wf, bias: ws.zeros(cin), cin: cout, cout: cin, x: dy, y: dx, n: n, h: h, w: wid,
                      ws: ws, accumulate: accumulate)
    }

    /// dW += dy col^T, db += rowsum(dy), dx += col2im(W^T dy) (dx optional;
    /// with `overwriteDx`, dx = instead of +=).
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?,
                         n: Int, h: Int, w wid: Int, ws: Workspace, overwriteDx: Bool = false) {
        let ho = outSize(h), wo = outSize(wid), hwo = ho * wo, hwi = h * wid, cols = n * hwo, kk = cin * k * k
        let weight = p + w
        Kernels.addRowSums(dy, rows: cout, len: cols, into: g + b)
        let pointwise = isPointwise
        // dx through the direct kernel when it applies (then the GEMM below computes dW only).
        let direct3x3 = isDirect3x3(ws.backend), directPointwise = pointwise && ws.backend.direct
        let directStrided = isDirectStrided3x3(ws.backend)
        let directDx = (direct3x3 || directPointwise || directStrided) && cin % 4 == 0 && dx != nil
        if directDx && pointwise {
            DirectConv.pointwiseData(weight: weight, cin: cin, cout: cout, dy: dy, dx: dx!, n: n, h: h, w: wid, ws: ws,
                                     overwrite: overwriteDx)
        } else if directDx && directStrided {
            DirectConv.stridedData(weight: weight, cin: cin, cout: cout, dy: dy, dx: dx!, n: n, h: h, w: wid, ws: ws,
                                   overwrite: overwriteDx)
        } else if directDx {
            backwardDataDirect(p, dy: dy, dx: dx!, n: n, h: h, w: wid, ws: ws, accumulate: !overwriteDx)
        } else if overwriteDx, let dx {
            Parallel.zero(dx, count: cin * n * hwi)
        }
        let dx = directDx ? nil : dx
        if direct3x3 && dx == nil && DirectConv.winogradWeightGradApplies(ws, h: h, w: wid, cin: cin, cout: cout) {
            return DirectConv.winogradWeightGrad(x: x, dy: dy, n: n, h: h, w: wid, cin: cin, cout: cout, ws: ws, into: g + w)
        }
        if direct3x3 && dx == nil && DirectConv.weightGradApplies(backend: ws.backend, cout: cout) {
            return DirectConv.weightGrad(x: x, dy: dy, n: n, h: h, w: wid, cin: cin, cout: cout, ws: ws, into: g + w)
        }
        if pointwise && dx == nil && DirectConv.pointwiseWeightGradApplies(backend: ws.backend, cin: cin, cout: cout) {
            return DirectConv.pointwiseWeightGrad(x: x, dy: dy, positions: cols, cin: cin, cout: cout,
                                                  wide: ws.backend.wide, into: g + w)
        }
        // 3x3 stride 2: dW direct; dx (if asked) through the GEMM below, which then skips dW.
        let directDW = directStrided && DirectConv.stridedWeightGradApplies(backend: ws.backend, cin: cin, cout: cout)
        if directDW {
            DirectConv.weightGrad(x: x, dy: dy, n: n, h: h, w: wid, cin: cin, cout: cout, ws: ws, into: g + w, stride: 2)
            if dx == nil { return }
        }
        ws.zeroParts(directDW ? 0 : cout * kk)
        let used = ws.chunked(n: n, floatsPerImage: kk * hwo) { th, i0, i1 in
            let nb = i1 - i0
            let dyc = dy + i0 * hwo, part = ws.dwParts[th].ptr
            if pointwise {
                BLAS.raw(transA: false, transB: true, m: cout, n: kk, k: nb * hwo, alpha: 1, a: dyc, lda: cols, b: x + i0 * hwi, ldb: n * hwi, beta: 1, c: part, ldc: kk)
                if let dx { BLAS.raw(transA: true, transB: false, m: kk, n: nb * hwo, k: cout, alpha: 1, a: weight, lda: kk, b: dyc, ldb: cols, beta: 1, c: dx + i0 * hwi, ldc: n * hwi) }
                return
            }
            let col = ws.cols[th].ptr
            if !directDW {
                Kernels.im2col(x + i0 * hwi, c: cin, n: nb, h: h, w: wid, k: k, stride: stride, pad: pad, col: col,
                               channelStride: n * hwi, parallel: false)
                BLAS.raw(transA: false, transB: true, m: cout, n: kk, k: nb * hwo, alpha: 1, a: dyc, lda: cols, b: col, ldb: nb * hwo, beta: 1, c: part, ldc: kk)
            }
            if let dx {
                BLAS.raw(transA: true, transB: false, m: kk, n: nb * hwo, k: cout, alpha: 1, a: weight, lda: kk, b: dyc, ldb: cols, beta: 0, c: col, ldc: nb * hwo)
                Kernels.col2im(col, c: cin, n: nb, h: h, w: wid, k: k, stride: stride, pad: pad, x: dx + i0 * hwi,
                               channelStride: n * hwi, parallel: false)
            }
        }
        if used > 0 { if !directDW { ws.reduceParts(into: g + w, count: cout * kk, threads: used) }; return }
        if pointwise {
            BLAS.sgemm(transA: false, transB: true, m: cout, n: kk, k: cols,
                       a: dy, lda: cols, b: x, ldb: cols, beta: 1, c: g + w, ldc: kk)
            if let dx {
                BLAS.sgemm(transA: true, transB: false, m: kk, n: cols, k: cout,
                           a: weight, lda: kk, b: dy, ldb: cols, beta: 1, c: dx, ldc: cols)
            }
            return
        }
        ws.col.reserve(colSize(n: n, h: h, w: wid))
        let col = ws.col.ptr
        if !directDW {
            Kernels.im2col(x, c: cin, n: n, h: h, w: wid, k: k, stride: stride, pad: pad, col: col)
            BLAS.sgemm(transA: false, transB: true, m: cout, n: kk, k: cols,
                       a: dy, lda: cols, b: col, ldb: cols, beta: 1, c: g + w, ldc: kk)
        }
        guard let dx else { return }
        BLAS.sgemm(transA: true, transB: false, m: kk, n: cols, k: cout,
                   a: weight, lda: kk, b: dy, ldb: cols, beta: 0, c: col, ldc: cols)
        Kernels.col2im(col, c: cin, n: n, h: h, w: wid, k: k, stride: stride, pad: pad, x: dx)
    }
}
