// Classifier+Evaluation.swift: the bundled classifier over whole image sets
// (probabilities and features, accuracy) and its training loop.
import Foundation

extension Classifier {
    /// Class probabilities and features for a set of images, in batches.
    public func evaluate(_ p: UnsafePointer<Float>, images: [Float], n: Int) -> (probs: [Float], feats: [Float]) {
        // The images may come from a file: never read past them.
        precondition(n >= 0 && images.count >= n * MNIST.pixels, "evaluate: \(n) images need \(n * MNIST.pixels) pixels, got \(images.count)")
        var probs = [Float](repeating: 0, count: n * 10), feats = [Float](repeating: 0, count: n * Classifier.featureDim)
        var i = 0
        images.withUnsafeBufferPointer { imgs in
            while i < n {
                let b = min(256, n - i)
                forward(p, x: imgs.baseAddress! + i * MNIST.pixels, n: b)
                for r in 0..<b {
                    let row = logits.ptr + r * 10
                    let m = (0..<10).map { row[$0] }.max()!
                    var z: Float = 0
                    for k in 0..<10 { z += expf(row[k] - m) }
                    for k in 0..<10 { probs[(i + r) * 10 + k] = expf(row[k] - m) / z }
                    for k in 0..<Classifier.featureDim { feats[(i + r) * Classifier.featureDim + k] = features.ptr[r * Classifier.featureDim + k] }
                }
                i += b
            }
        }
        return (probs, feats)
    }

    /// Trains on `train`, reports accuracy on `test` after each epoch.
    public func train(params: FloatBuffer, train: Dataset, test: Dataset, epochs: Int, batch: Int = Classifier.featureDim, lr: Double = 2e-3,
                      seed: UInt64 = 0, log: (String) -> Void) -> Double {
        var rng = RNG(seed: seed, stream: 7)
        layout.initialize(params.ptr, rng: &rng)
        let count = layout.count
        let g = FloatBuffer(count: count), m = FloatBuffer(count: count), v = FloatBuffer(count: count)
        let steps = epochs * (train.count / batch)
        let sched = LRSchedule(base: lr, warmup: 100, totalSteps: steps)
        let nb = batch + Classifier.outliersPerBatch
        let xb = FloatBuffer(count: nb * MNIST.pixels)
        var labels = [UInt8](repeating: UInt8(Classifier.outlierLabel), count: nb)
        var step = 0
        var acc = 0.0
        for e in 0..<epochs {
            var r = RNG(seed: seed, stream: 100 + UInt64(e))
            let perm = r.permutation(train.count)
            var lossSum = 0.0
            for b in 0..<(train.count / batch) {
                for j in 0..<batch {
                    let i = perm[b * batch + j]
                    train.images.withUnsafeBufferPointer { (xb.ptr + j * MNIST.pixels).update(from: $0.baseAddress! + i * MNIST.pixels, count: MNIST.pixels) }
                    labels[j] = train.labels[i]
                }
                for j in batch..<nb {
                    // Uniform noise, or noise blurred toward blobs, as outliers.
                    let o = xb.ptr + j * MNIST.pixels
                    for q in 0..<MNIST.pixels { o[q] = Float(r.uniform() * 2 - 1) }
                }
                forward(params.ptr, x: xb.ptr, n: nb)
                g.zero(count)
                lossSum += backward(params.ptr, g.ptr, labels: labels[...])
                Adam().step(params: params.ptr, grads: g.ptr, m: m.ptr, v: v.ptr, count: count, lr: sched.rate(step), t: step + 1)
                step += 1
            }
            acc = accuracy(params.ptr, test)
            log(String(format: "epoch %d: train loss %.4f, test accuracy %.2f%%", e + 1, lossSum / Double(train.count / batch), acc * 100))
        }
        return acc
    }

    public func accuracy(_ p: UnsafePointer<Float>, _ d: Dataset) -> Double {
        let (probs, _) = evaluate(p, images: d.images, n: d.count)
        var right = 0
        for i in 0..<d.count {
            var best = 0
            for k in 1..<10 where probs[i * 10 + k] > probs[i * 10 + best] { best = k }
            if best == Int(d.labels[i]) { right += 1 }
        }
        return Double(right) / Double(d.count)
    }
}
