// Classifier.swift: the small MNIST CNN that reads digits in the explorer and
// whose features the quality metrics use.
import Foundation

/// The small MNIST CNN that reads digits in the explorer and whose features
/// the quality metrics use:
///
///     conv3x3(1->c1) act -> conv3x3/2(c1->c2) act -> conv3x3/2(c2->c3) act
///     -> flatten (c3*7*7) -> Linear(c3*49 -> hidden) act [features] -> Linear(hidden -> 10)
///
/// where act is ReLU, or GroupNorm + SiLU in the first bundled classifier.
/// Built from the same layers as the U-Net, trained by the engine.
public final class Classifier {
    /// Widths and normalisation; written into the weights file's metadata.
    public struct Architecture: Equatable, Sendable, CustomStringConvertible {
        public var c1: Int, c2: Int, c3: Int, hidden: Int
        /// GroupNorm (8 groups) after each convolution: it normalises away how
        /// strongly each image is inked.
        public var groupNorm: Bool
        /// ReLU instead of SiLU after each layer.
        public var relu: Bool
        /// Width of the sinusoidal timestep embedding of a classifier of noisy
        /// images x_t (0: a classifier of clean digits). A linear map of it
        /// adds a per-channel bias after each convolution.
        public var timeDim: Int
        public init(c1: Int, c2: Int, c3: Int, hidden: Int, groupNorm: Bool, relu: Bool = false, timeDim: Int = 0) {
            self.c1 = c1; self.c2 = c2; self.c3 = c3; self.hidden = hidden; self.groupNorm = groupNorm; self.relu = relu
            self.timeDim = timeDim
        }
        /// The first bundled classifier (files without an "architecture" entry).
        public static let v1 = Architecture(c1: 16, c2: 32, c3: 32, hidden: 128, groupNorm: true)
        /// The current one (`ddpm eval --train-classifier` trains it): wider, ReLU,
        /// no normalisation, trained with dropout on its features. Of the variants
        /// measured (issue #21's note) its features see generated digits' flaws best.
        public static let v2 = Architecture(c1: 32, c2: 64, c3: 64, hidden: 256, groupNorm: false, relu: true)
        /// The classifier of noisy digits that guides sampling (`ddpm eval
        /// --train-noisy-classifier` trains it): v2's widths, conditioned on t.
        public static let noisy = Architecture(c1: 32, c2: 64, c3: 64, hidden: 256, groupNorm: false, relu: true, timeDim: 64)
        /// "32,64,64,256,relu", "16,32,32,128,gn" or "32,64,64,256,t64,relu": the metadata form.
        public var description: String {
            "\(c1),\(c2),\(c3),\(hidden)" + (timeDim > 0 ? ",t\(timeDim)" : "") + (groupNorm ? ",gn" : "") + (relu ? ",relu" : "")
        }
        public init?(_ text: String) {
            var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let relu = parts.last == "relu"
            if relu { parts.removeLast() }
            let gn = parts.last == "gn"
            if gn { parts.removeLast() }
            var timeDim = 0
            if let last = parts.last, last.hasPrefix("t") {
                // At least 4: the embedding's frequencies are spaced by 1 / (d / 2 - 1).
                guard let d = Int(last.dropFirst()), (4...256).contains(d), d % 2 == 0 else { return nil }
                timeDim = d
                parts.removeLast()
            }
            let v = parts.compactMap { Int($0) }
            guard parts.count == 4, v.count == 4, v.allSatisfy({ (1...512).contains($0) }),
                  !gn || (v[0] % 8 == 0 && v[1] % 8 == 0 && v[2] % 8 == 0) else { return nil }
            if gn && relu { return nil }
            self.init(c1: v[0], c2: v[1], c3: v[2], hidden: v[3], groupNorm: gn, relu: relu, timeDim: timeDim)
        }
    }

    /// Sides after the two stride-2 convolutions (28 -> 14 -> 7).
    let h2 = MNIST.side / 2, h4 = MNIST.side / 4
    /// Label of outlier-exposure images (uniform noise trained towards a uniform
    /// prediction, so that noise is not classified confidently).
    public static let outlierLabel = 255
    public static let outliersPerBatch = 16
    public let arch: Architecture
    public var featureDim: Int { arch.hidden }
    public let layout: ParameterLayout
    let conv1: Conv2d, conv2: Conv2d, conv3: Conv2d
    let norm1: GroupNorm?, norm2: GroupNorm?, norm3: GroupNorm?
    let fc1: Linear, fc2: Linear
    /// The timestep embedding's map to the three convolutions' biases (time-conditioned only).
    let temb: Linear?
    let ws: Workspace
    let a1 = FloatBuffer(count: 1), s1 = FloatBuffer(count: 1), a2 = FloatBuffer(count: 1), s2 = FloatBuffer(count: 1)
    let a3 = FloatBuffer(count: 1), s3 = FloatBuffer(count: 1), flat = FloatBuffer(count: 1), h = FloatBuffer(count: 1)
    public let features = FloatBuffer(count: 1), logits = FloatBuffer(count: 1)
    let stats = FloatBuffer(count: 1)
    let d1 = FloatBuffer(count: 1), d2 = FloatBuffer(count: 1), d3 = FloatBuffer(count: 1), d4 = FloatBuffer(count: 1)
    let ds3 = FloatBuffer(count: 1), gn = FloatBuffer(count: 1), da3 = FloatBuffer(count: 1), ds2 = FloatBuffer(count: 1)
    let da2 = FloatBuffer(count: 1), ds1 = FloatBuffer(count: 1), da1 = FloatBuffer(count: 1)
    /// The timestep embedding [N, timeDim], the biases it gives [N, c1+c2+c3] and their gradient.
    let emb = FloatBuffer(count: 1), tbias = FloatBuffer(count: 1), dtbias = FloatBuffer(count: 1)
    private var lastN = 0
    private var lastX: UnsafePointer<Float>?
    /// Dropout on the features while training (0 otherwise): it keeps them from
    /// collapsing onto ten class centroids, so that the Fréchet distance in
    /// them sees damage within a class (measured: issue #21's note).
    public var featureDropout: Float = 0
    public var dropoutRNG = RNG(seed: 0, stream: 17)
    /// The share of pixels above mid-grey a real image of its training set has
    /// (widened a little); outside it an image is blank or flooded whatever the
    /// classifier says. MNIST's (the default) or, for a classifier of another
    /// set (`--train-classifier --data`), the band stored in its file.
    public var inkRange = Classifier.mnistInkRange
    /// Every one of MNIST's 60,000 training digits lies in 1.9%...39.8% of ink,
    /// test 2.4%...32.9%: widened, 1.5%...45%. The bundled classifier reads a
    /// blank image as a 1 with p = 1.00, so without the band a young model's
    /// empty previews would count as confident digits.
    public static let mnistInkRange: ClosedRange<Float> = 0.015...0.45
    let mask = FloatBuffer(count: 1), dropped = FloatBuffer(count: 1)

    public init(_ arch: Architecture = .v2, backend: Backend = .detected) {
        self.arch = arch
        ws = Workspace(backend: backend)
        var L = ParameterLayout()
        let (c1, c2, c3) = (arch.c1, arch.c2, arch.c3)
        conv1 = Conv2d(&L, "conv1", cin: 1, cout: c1, k: 3, pad: 1)
        norm1 = arch.groupNorm ? GroupNorm(&L, "norm1", groups: 8, channels: c1) : nil
        conv2 = Conv2d(&L, "conv2", cin: c1, cout: c2, k: 3, stride: 2, pad: 1)
        norm2 = arch.groupNorm ? GroupNorm(&L, "norm2", groups: 8, channels: c2) : nil
        conv3 = Conv2d(&L, "conv3", cin: c2, cout: c3, k: 3, stride: 2, pad: 1)
        norm3 = arch.groupNorm ? GroupNorm(&L, "norm3", groups: 8, channels: c3) : nil
        fc1 = Linear(&L, "fc1", c3 * h4 * h4, arch.hidden)
        fc2 = Linear(&L, "fc2", arch.hidden, 10)
        temb = arch.timeDim > 0 ? Linear(&L, "temb", arch.timeDim, c1 + c2 + c3) : nil
        layout = L
    }

    /// The activation after each layer (without GroupNorm), and its backward (dx += dy * f'(x)).
    func act(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        if arch.relu { for i in 0..<count { y[i] = max(0, x[i]) } } else { Kernels.siluForward(x, y, count) }
    }
    func actBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ count: Int) {
        if arch.relu { for i in 0..<count where x[i] > 0 { dx[i] += dy[i] } } else { Kernels.siluBackward(x, dy, dx, count) }
    }

    /// x [N, 28*28] in [-1, 1] -> logits [N, 10]; `features` holds [N, featureDim].
    /// A time-conditioned classifier also takes each image's timestep t [N].
    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int, t: UnsafePointer<Float>? = nil) {
        // Compute is built -Ounchecked (preconditions vanish): a missing t would read past tbias.
        if (t != nil) != (temb != nil) { fatalError("forward: a classifier of noisy digits takes t, one of clean digits does not") }
        lastN = n; lastX = x
        let (c1, c2, c3, fd) = (arch.c1, arch.c2, arch.c3, featureDim)
        for (b, c) in [(a1, c1 * MNIST.pixels), (s1, c1 * MNIST.pixels), (a2, c2 * h2 * h2), (s2, c2 * h2 * h2), (a3, c3 * h4 * h4), (s3, c3 * h4 * h4), (flat, c3 * h4 * h4)] { b.reserve(c * n) }
        h.reserve(n * fd); features.reserve(n * fd); logits.reserve(n * 10); stats.reserve(6 * n * 8)
        let st = stats.ptr
        /// Normalisation (if any) and SiLU.
        func activate(_ norm: GroupNorm?, _ a: FloatBuffer, _ s: FloatBuffer, channels: Int, hw: Int, stats k: Int) {
            if let norm {
                norm.forward(p, x: a.ptr, y: s.ptr, n: n, hw: hw, mean: st + 2 * k * n * 8, rstd: st + (2 * k + 1) * n * 8, silu: true, backend: ws.backend)
            } else {
                act(a.ptr, s.ptr, n * channels * hw)
            }
        }
        if let temb, let t {
            emb.reserve(n * arch.timeDim); tbias.reserve(n * (c1 + c2 + c3))
            SinusoidalEmbedding.forward(t: t, n: n, dim: arch.timeDim, out: emb.ptr)
            temb.forward(p, x: emb.ptr, y: tbias.ptr, n: n)
        }
        /// + the timestep's bias for each channel (a conv output is [C, N, HW]).
        func addTimeBias(_ a: FloatBuffer, channels: Int, hw: Int, offset: Int) {
            guard temb != nil else { return }
            let cs = c1 + c2 + c3
            for c in 0..<channels { for i in 0..<n {
                let v = tbias.ptr[i * cs + offset + c], row = a.ptr + (c * n + i) * hw
                for j in 0..<hw { row[j] += v }
            } }
        }
        conv1.forward(p, x: x, y: a1.ptr, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        addTimeBias(a1, channels: c1, hw: MNIST.pixels, offset: 0)
        activate(norm1, a1, s1, channels: c1, hw: MNIST.pixels, stats: 0)
        conv2.forward(p, x: s1.ptr, y: a2.ptr, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        addTimeBias(a2, channels: c2, hw: h2 * h2, offset: c1)
        activate(norm2, a2, s2, channels: c2, hw: h2 * h2, stats: 1)
        conv3.forward(p, x: s2.ptr, y: a3.ptr, n: n, h: h2, w: h2, ws: ws)
        addTimeBias(a3, channels: c3, hw: h4 * h4, offset: c1 + c2)
        activate(norm3, a3, s3, channels: c3, hw: h4 * h4, stats: 2)
        let hw4 = h4 * h4
        for c in 0..<c3 { for i in 0..<n { for j in 0..<hw4 { flat.ptr[i * c3 * hw4 + c * hw4 + j] = s3.ptr[(c * n + i) * hw4 + j] } } }
        fc1.forward(p, x: flat.ptr, y: h.ptr, n: n)
        act(h.ptr, features.ptr, n * fd)
        var top = features.ptr
        if featureDropout > 0 {
            mask.reserve(n * fd); dropped.reserve(n * fd)
            Dropout.makeMask(mask.ptr, count: n * fd, p: featureDropout, rng: &dropoutRNG)
            for i in 0..<(n * fd) { dropped.ptr[i] = features.ptr[i] * mask.ptr[i] }
            top = dropped.ptr
        }
        fc2.forward(p, x: top, y: logits.ptr, n: n)
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
        propagate(p, g, dx: nil)
        return loss / Double(n)
    }

    /// The gradient of log p(label | x) with respect to each image of the last
    /// forward, into dx [N, 28*28] (overwritten); the weights' gradients go to
    /// `scratch` (layout.count floats, overwritten).
    public func logProbGradient(_ p: UnsafePointer<Float>, labels: [Int], into dx: UnsafeMutablePointer<Float>,
                                scratch: UnsafeMutablePointer<Float>) {
        let n = lastN
        if labels.count != n { fatalError("logProbGradient: \(labels.count) labels for \(n) images") }
        d1.reserve(n * 10)
        for i in 0..<n {
            // d log softmax_y / d logits = onehot(y) - softmax
            let row = d1.ptr + i * 10
            row.update(from: logits.ptr + i * 10, count: 10)
            Kernels.softmaxRow(row, 10)
            for k in 0..<10 { row[k] = (k == labels[i] ? 1 : 0) - row[k] }
        }
        scratch.update(repeating: 0, count: layout.count)
        dx.update(repeating: 0, count: n * MNIST.pixels)
        propagate(p, scratch, dx: dx)
    }

    /// Backpropagates d1 (the logits' gradient) through the last forward:
    /// the weights' gradients are added to g, the input's to dx (if given).
    private func propagate(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?) {
        let n = lastN
        let (c1, c2, c3, fd) = (arch.c1, arch.c2, arch.c3, featureDim), hw4 = h4 * h4
        d2.reserve(n * fd); d2.zero(n * fd)
        fc2.backward(p, g, x: featureDropout > 0 ? dropped.ptr : features.ptr, dy: d1.ptr, dx: d2.ptr, n: n)
        if featureDropout > 0 { for i in 0..<(n * fd) { d2.ptr[i] *= mask.ptr[i] } }
        d3.reserve(n * fd); d3.zero(n * fd)
        actBackward(h.ptr, d2.ptr, d3.ptr, n * fd)
        d4.reserve(n * c3 * hw4); d4.zero(n * c3 * hw4)
        fc1.backward(p, g, x: flat.ptr, dy: d3.ptr, dx: d4.ptr, n: n)
        let st = stats.ptr
        for (b, c) in [(ds3, c3 * hw4), (da3, c3 * hw4), (ds2, c2 * h2 * h2), (da2, c2 * h2 * h2), (ds1, c1 * MNIST.pixels), (da1, c1 * MNIST.pixels), (gn, c1 * MNIST.pixels)] {
            b.reserve(c * n); b.zero(c * n)
        }
        for c in 0..<c3 { for i in 0..<n { for j in 0..<hw4 { ds3.ptr[(c * n + i) * hw4 + j] = d4.ptr[i * c3 * hw4 + c * hw4 + j] } } }
        /// Back through SiLU and the normalisation (if any): ds -> da.
        func deactivate(_ norm: GroupNorm?, _ a: FloatBuffer, _ ds: FloatBuffer, _ da: FloatBuffer, channels: Int, hw: Int, stats k: Int) {
            if let norm {
                norm.backward(p, g, x: a.ptr, dy: ds.ptr, dx: da.ptr, n: n, hw: hw, mean: st + 2 * k * n * 8, rstd: st + (2 * k + 1) * n * 8, silu: true, scratch: gn.ptr, backend: ws.backend)
            } else {
                actBackward(a.ptr, ds.ptr, da.ptr, n * channels * hw)
            }
        }
        let cs = c1 + c2 + c3
        if temb != nil { dtbias.reserve(n * cs); dtbias.zero(n * cs) }
        /// The time biases' gradient: the sum of each channel's pre-activation gradient.
        func timeBiasGradient(_ da: FloatBuffer, channels: Int, hw: Int, offset: Int) {
            guard temb != nil else { return }
            for c in 0..<channels { for i in 0..<n {
                let row = da.ptr + (c * n + i) * hw
                var sum: Float = 0
                for j in 0..<hw { sum += row[j] }
                dtbias.ptr[i * cs + offset + c] += sum
            } }
        }
        deactivate(norm3, a3, ds3, da3, channels: c3, hw: hw4, stats: 2)
        timeBiasGradient(da3, channels: c3, hw: hw4, offset: c1 + c2)
        conv3.backward(p, g, x: s2.ptr, dy: da3.ptr, dx: ds2.ptr, n: n, h: h2, w: h2, ws: ws)
        deactivate(norm2, a2, ds2, da2, channels: c2, hw: h2 * h2, stats: 1)
        timeBiasGradient(da2, channels: c2, hw: h2 * h2, offset: c1)
        conv2.backward(p, g, x: s1.ptr, dy: da2.ptr, dx: ds1.ptr, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        deactivate(norm1, a1, ds1, da1, channels: c1, hw: MNIST.pixels, stats: 0)
        timeBiasGradient(da1, channels: c1, hw: MNIST.pixels, offset: 0)
        conv1.backward(p, g, x: lastX!, dy: da1.ptr, dx: dx, n: n, h: MNIST.side, w: MNIST.side, ws: ws)
        if let temb { temb.backward(p, g, x: emb.ptr, dy: dtbias.ptr, dx: nil, n: n) }
    }
}
