// Classifier.swift: the small MNIST CNN whose features the quality metrics use.
import Foundation

/// The small MNIST CNN whose features the quality metrics use:
///
///     conv3x3(1->16) GN SiLU -> conv3x3/2(16->32) GN SiLU -> conv3x3/2(32->32) GN SiLU
///     -> flatten (32*7*7) -> Linear(1568->128) SiLU [features] -> Linear(128->10)
///
/// Built from the same layers as the U-Net, trained by the engine.
public final class Classifier {
    public static let featureDim = 128
    /// Sides after the two stride-2 convolutions (28 -> 14 -> 7).
    let h2 = MNIST.side / 2, h4 = MNIST.side / 4
    /// Label of outlier-exposure images (uniform noise trained towards a uniform
    /// prediction, so that noise is not classified confidently).
    public static let outlierLabel = 255
    public static let outliersPerBatch = 16
    public let layout: ParameterLayout
    let conv1: Conv2d, norm1: GroupNorm, conv2: Conv2d, norm2: GroupNorm, conv3: Conv2d, norm3: GroupNorm
    let fc1: Linear, fc2: Linear
    let ws: Workspace
    let a1 = FloatBuffer(count: 1), s1 = FloatBuffer(count: 1), a2 = FloatBuffer(count: 1), s2 = FloatBuffer(count: 1)
    let a3 = FloatBuffer(count: 1), s3 = FloatBuffer(count: 1), flat = FloatBuffer(count: 1), h = FloatBuffer(count: 1)
    public let features = FloatBuffer(count: 1), logits = FloatBuffer(count: 1)
    let stats = FloatBuffer(count: 1)
    let d1 = FloatBuffer(count: 1), d2 = FloatBuffer(count: 1), d3 = FloatBuffer(count: 1), d4 = FloatBuffer(count: 1)
    let ds3 = FloatBuffer(count: 1), gn = FloatBuffer(count: 1), da3 = FloatBuffer(count: 1), ds2 = FloatBuffer(count: 1)
    let da2 = FloatBuffer(count: 1), ds1 = FloatBuffer(count: 1), da1 = FloatBuffer(count: 1)
    private var lastN = 0
    private var lastX: UnsafePointer<Float>?

    public init(backend: Backend = .detected) {
        ws = Workspace(backend: backend)
        var L = ParameterLayout()
        conv1 = Conv2d(&L, "conv1", cin: 1, cout: 16, k: 3, pad: 1)
        norm1 = GroupNorm(&L, "norm1", groups: 8, channels: 16)
        conv2 = Conv2d(&L, "conv2", cin: 16, cout: 32, k: 3, stride: 2, pad: 1)
        norm2 = GroupNorm(&L, "norm2", groups: 8, channels: 32)
        conv3 = Conv2d(&L, "conv3", cin: 32, cout: 32, k: 3, stride: 2, pad: 1)
        norm3 = GroupNorm(&L, "norm3", groups: 8, channels: 32)
        fc1 = Linear(&L, "fc1", 32 * h4 * h4, Classifier.featureDim)
        fc2 = Linear(&L, "fc2", Classifier.featureDim, 10)
        layout = L
    }

    /// x [N, 28*28] in [-1, 1] -> logits [N, 10]; `features` holds [N, Classifier.featureDim].
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int) {
        lastN = n; lastX = x
        for (b, c) in [(a1, 16 * MNIST.pixels), (s1, 16 * MNIST.pixels), (a2, 32 * h2 * h2), (s2, 32 * h2 * h2), (a3, 32 * h4 * h4), (s3, 32 * h4 * h4), (flat, 32 * h4 * h4)] { b.reserve(c * n) }
        h.reserve(n * Classifier.featureDim); features.reserve(n * Classifier.featureDim); logits.reserve(n * 10); stats.reserve(6 * n * 8)
        let st = stats.ptr
        conv1.forward(p, x: x, y: a1.ptr, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        norm1.forward(p, x: a1.ptr, y: s1.ptr, n: n, hw: MNIST.pixels, mean: st, rstd: st + n * 8, silu: true, backend: ws.backend)
        conv2.forward(p, x: s1.ptr, y: a2.ptr, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        norm2.forward(p, x: a2.ptr, y: s2.ptr, n: n, hw: h2 * h2, mean: st + 2 * n * 8, rstd: st + 3 * n * 8, silu: true, backend: ws.backend)
        conv3.forward(p, x: s2.ptr, y: a3.ptr, n: n, h: h2, w: h2, ws: ws)
        norm3.forward(p, x: a3.ptr, y: s3.ptr, n: n, hw: h4 * h4, mean: st + 4 * n * 8, rstd: st + 5 * n * 8, silu: true, backend: ws.backend)
        for c in 0..<32 { for i in 0..<n { for j in 0..<(h4 * h4) { flat.ptr[i * 32 * h4 * h4 + c * h4 * h4 + j] = s3.ptr[(c * n + i) * h4 * h4 + j] } } }
        fc1.forward(p, x: flat.ptr, y: h.ptr, n: n)
        Kernels.siluForward(h.ptr, features.ptr, n * Classifier.featureDim)
        fc2.forward(p, x: features.ptr, y: logits.ptr, n: n)
    }

    /// Mean softmax cross-entropy of the last forward; adds gradients into g.
    @discardableResult
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, labels: ArraySlice<UInt8>) -> Double {
        let n = lastN
        var loss = 0.0
        d1.reserve(n * 10)
        for i in 0..<n {
            let row = logits.ptr + i * 10
            let m = (0..<10).map { row[$0] }.max()!
            var z: Float = 0
            for k in 0..<10 { z += expf(row[k] - m) }
            let y = Int(labels[labels.startIndex + i])
            if y == Classifier.outlierLabel {
                // Outlier exposure: the target is the uniform distribution.
                for k in 0..<10 { loss -= Double(row[k] - m - logf(z)) / 10 }
                for k in 0..<10 { d1.ptr[i * 10 + k] = (expf(row[k] - m) / z - 0.1) / Float(n) }
                continue
            }
            loss += Double(-(row[y] - m - logf(z)))
            for k in 0..<10 { d1.ptr[i * 10 + k] = (expf(row[k] - m) / z - (k == y ? 1 : 0)) / Float(n) }
        }
        d2.reserve(n * Classifier.featureDim); d2.zero(n * Classifier.featureDim)
        fc2.backward(p, g, x: features.ptr, dy: d1.ptr, dx: d2.ptr, n: n)
        d3.reserve(n * Classifier.featureDim); d3.zero(n * Classifier.featureDim)
        Kernels.siluBackward(h.ptr, d2.ptr, d3.ptr, n * Classifier.featureDim)
        d4.reserve(n * 1568); d4.zero(n * 1568)
        fc1.backward(p, g, x: flat.ptr, dy: d3.ptr, dx: d4.ptr, n: n)
        let st = stats.ptr
        for (b, c) in [(ds3, 32 * h4 * h4), (da3, 32 * h4 * h4), (ds2, 32 * h2 * h2), (da2, 32 * h2 * h2), (ds1, 16 * MNIST.pixels), (da1, 16 * MNIST.pixels), (gn, 16 * MNIST.pixels)] {
            b.reserve(c * n); b.zero(c * n)
        }
        for c in 0..<32 { for i in 0..<n { for j in 0..<(h4 * h4) { ds3.ptr[(c * n + i) * h4 * h4 + j] = d4.ptr[i * 32 * h4 * h4 + c * h4 * h4 + j] } } }
        norm3.backward(p, g, x: a3.ptr, dy: ds3.ptr, dx: da3.ptr, n: n, hw: h4 * h4, mean: st + 4 * n * 8, rstd: st + 5 * n * 8, silu: true, scratch: gn.ptr)
        conv3.backward(p, g, x: s2.ptr, dy: da3.ptr, dx: ds2.ptr, n: n, h: h2, w: h2, ws: ws)
        norm2.backward(p, g, x: a2.ptr, dy: ds2.ptr, dx: da2.ptr, n: n, hw: h2 * h2, mean: st + 2 * n * 8, rstd: st + 3 * n * 8, silu: true, scratch: gn.ptr)
        conv2.backward(p, g, x: s1.ptr, dy: da2.ptr, dx: ds1.ptr, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        norm1.backward(p, g, x: a1.ptr, dy: ds1.ptr, dx: da1.ptr, n: n, hw: MNIST.pixels, mean: st, rstd: st + n * 8, silu: true, scratch: gn.ptr)
        conv1.backward(p, g, x: lastX!, dy: da1.ptr, dx: nil, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        return loss / Double(n)
    }
}
