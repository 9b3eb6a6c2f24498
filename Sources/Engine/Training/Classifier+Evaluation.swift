// Classifier+Evaluation.swift: the bundled classifier over whole image sets
// (probabilities and features, accuracy) and its training loop.
import Foundation

extension Classifier {
    /// A classifier and its weights from a safetensors file; the architecture
    /// comes from the file's metadata (files without it are the first, `.v1`).
    public static func read(_ path: String) throws -> (Classifier, FloatBuffer) {
        let file = try SafeTensors.read(path)
        try refuseOtherKinds(file, path: path, wanted: "a classifier", instead: "give the bundled assets/models/mnist-classifier.safetensors", formats: formats)
        var arch = Architecture.v1
        if let text = file.metadata["architecture"] {
            guard let a = Architecture(text) else {
                throw EngineError.badFile(path: path, reason: "unknown classifier architecture '\(EngineError.quoted(text))'")
            }
            arch = a
        }
        guard arch.timeDim == 0 else {
            throw EngineError.badFile(path: path, reason: "a classifier of noisy digits (it reads x_t at a timestep: --guide-classifier takes it), not one of clean digits")
        }
        let cls = Classifier(arch), params = FloatBuffer(count: cls.layout.count)
        do { try file.load(into: params.ptr, layout: cls.layout) }
        catch EngineError.badTensor(let p, let t, let reason) where file.metadata["architecture"] == nil {
            // The shapes are not the fault a user can mend: the missing architecture is.
            throw EngineError.badTensor(path: p, tensor: t, reason: reason + "; its metadata names no 'architecture', so it was read as the first classifier's (\(arch)): a classifier ddpm wrote says its own")
        }
        if let text = file.metadata["ink_range"] {
            let v = text.split(separator: ",", omittingEmptySubsequences: false).map { Float($0) }
            guard v.count == 2, let lo = v[0], let hi = v[1], lo >= 0, lo < hi, hi <= 1 else {
                throw EngineError.badFile(path: path, reason: "ink_range '\(EngineError.quoted(text, limit: 40))' is not two shares lo,hi with 0 <= lo < hi <= 1")
            }
            cls.inkRange = lo...hi
        }
        return (cls, params)
    }

    /// The format `ddpm eval --train-classifier` writes, and the clean classifiers' formats this ddpm
    /// reads (a file without a format is read by its architecture).
    public static let format = "ddpm-explorer classifier 2"
    static let formats = ["ddpm-explorer classifier 1", format]
    /// The format `ddpm eval --train-noisy-classifier` writes, and the noisy ones' this ddpm reads.
    public static let noisyFormat = "ddpm-explorer noisy classifier 1"
    static let noisyFormats = [noisyFormat]

    /// Names another kind of ddpm file given where a classifier (`wanted`) goes, a recording or a
    /// U-Net, as what it is (it was "tensor 'conv1.weight': missing"); `instead` says what to give.
    /// A classifier format of a later ddpm is refused, not read as if it were this one's.
    static func refuseOtherKinds(_ file: SafeTensors, path: String, wanted: String, instead: String, formats: [String]) throws {
        if let format = file.metadata["format"], format.hasPrefix("ddpm-explorer "), format.contains("classifier"),
           !(Classifier.formats + Classifier.noisyFormats).contains(format) {
            throw EngineError.badFile(path: path, reason: "its format is '\(EngineError.quoted(format, limit: 60))', which this ddpm does not read (\(formats.map { "'\($0)'" }.joined(separator: ", "))): made by a newer ddpm?")
        }
        if file.metadata["format"] == Recording.format {
            throw EngineError.invalidArgument("\(path) is a recording of a sampling run, not \(wanted): \(instead), or play it with ddpm replay \(path)")
        }
        if file.metadata["config"] != nil || file.tensors["conv_in.weight"] != nil {
            throw EngineError.invalidArgument("\(path) is a diffusion model's weights (a U-Net), not \(wanted): \(instead)")
        }
    }

    /// Class probabilities and features for a set of images, in batches.
    public func evaluate(_ p: UnsafePointer<Float>, images: [Float], n: Int) -> (probs: [Float], feats: [Float]) {
        // The images may come from a file: never read past them.
        precondition(n >= 0 && images.count >= n * MNIST.pixels, "evaluate: \(n) images need \(n * MNIST.pixels) pixels, got \(images.count)")
        var probs = [Float](repeating: 0, count: n * 10), feats = [Float](repeating: 0, count: n * featureDim)
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
                    for k in 0..<featureDim { feats[(i + r) * featureDim + k] = features.ptr[r * featureDim + k] }
                }
                i += b
            }
        }
        return (probs, feats)
    }

    /// Trains on `train` with outlier exposure (uniform noise and blank images
    /// trained toward a uniform prediction) and `dropout` on the features;
    /// reports accuracy on `test` after each epoch.
    public func train(params: FloatBuffer, train: Dataset, test: Dataset, epochs: Int, batch: Int = 128, lr: Double = 2e-3,
                      dropout: Float = 0.5, seed: UInt64 = 0, log: (String) -> Void) -> Double {
        var rng = RNG(seed: seed, stream: 7)
        layout.initialize(params.ptr, rng: &rng)
        featureDropout = dropout
        dropoutRNG = RNG(seed: seed, stream: 17)
        defer { featureDropout = 0 }
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
                Classifier.gather(train, perm[(b * batch)..<((b + 1) * batch)], into: xb.ptr, labels: &labels)
                for j in batch..<nb {
                    // Outliers: uniform noise, and (one in eight) a blank image.
                    let o = xb.ptr + j * MNIST.pixels
                    let blank = j % 8 == 0
                    for q in 0..<MNIST.pixels { o[q] = blank ? -1 : Float(r.uniform() * 2 - 1) }
                }
                forward(params.ptr, x: xb.ptr, n: nb)
                g.zero(count)
                lossSum += backward(params.ptr, g.ptr, labels: labels[...])
                Adam().step(params: params.ptr, grads: g.ptr, m: m.ptr, v: v.ptr, count: count, lr: sched.rate(step), t: step + 1)
                step += 1
            }
            featureDropout = 0
            acc = accuracy(params.ptr, test)
            featureDropout = dropout
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

extension Classifier {
    /// Copies the digits `idx` of `d` (and their labels) to the front of a batch.
    static func gather(_ d: Dataset, _ idx: ArraySlice<Int>, into xb: UnsafeMutablePointer<Float>, labels: inout [UInt8]) {
        d.images.withUnsafeBufferPointer { imgs in
            for (j, i) in idx.enumerated() {
                (xb + j * MNIST.pixels).update(from: imgs.baseAddress! + i * MNIST.pixels, count: MNIST.pixels)
                labels[j] = d.labels[i]
            }
        }
    }

    /// Noises a batch in place as the forward process does (q_sample at each
    /// image's t); `eps` holds one image's noise at a time (MNIST.pixels floats).
    static func noise(_ x: UnsafeMutablePointer<Float>, t: [Float], schedule: NoiseSchedule, rng: inout RNG,
                      eps: UnsafeMutablePointer<Float>) {
        let px = MNIST.pixels
        for (i, tf) in t.enumerated() {
            rng.fillNormal(eps, count: px)
            schedule.qSample(x0: x + i * px, eps: eps, t: Int(tf), count: px, into: x + i * px)
        }
    }

    /// Trains a time-conditioned classifier of noisy digits p(y | x_t, t)
    /// (classifier guidance's): each training digit is noised to a uniformly
    /// drawn t of `schedule`. Reports test accuracy at a few t after each
    /// epoch; returns the last epoch's (t, accuracy) pairs.
    public func trainNoisy(params: FloatBuffer, train: Dataset, test: Dataset, schedule: NoiseSchedule, epochs: Int,
                           batch: Int = 128, lr: Double = 2e-3, seed: UInt64 = 0, log: (String) -> Void) -> [(t: Int, accuracy: Double)] {
        precondition(arch.timeDim > 0, "trainNoisy: a classifier conditioned on t")
        var rng = RNG(seed: seed, stream: 7)
        layout.initialize(params.ptr, rng: &rng)
        let count = layout.count
        let g = FloatBuffer(count: count), m = FloatBuffer(count: count), v = FloatBuffer(count: count)
        let steps = epochs * (train.count / batch)
        let sched = LRSchedule(base: lr, warmup: 100, totalSteps: steps)
        let xb = FloatBuffer(count: batch * MNIST.pixels), eps = FloatBuffer(count: MNIST.pixels)
        var labels = [UInt8](repeating: 0, count: batch), times = [Float](repeating: 0, count: batch)
        var step = 0
        var report: [(t: Int, accuracy: Double)] = []
        for e in 0..<epochs {
            var r = RNG(seed: seed, stream: 100 + UInt64(e))
            let perm = r.permutation(train.count)
            var lossSum = 0.0
            for b in 0..<(train.count / batch) {
                Classifier.gather(train, perm[(b * batch)..<((b + 1) * batch)], into: xb.ptr, labels: &labels)
                for j in 0..<batch { times[j] = Float(r.int(schedule.T)) }
                Classifier.noise(xb.ptr, t: times, schedule: schedule, rng: &r, eps: eps.ptr)
                times.withUnsafeBufferPointer { forward(params.ptr, x: xb.ptr, n: batch, t: $0.baseAddress!) }
                g.zero(count)
                lossSum += backward(params.ptr, g.ptr, labels: labels[...])
                Adam().step(params: params.ptr, grads: g.ptr, m: m.ptr, v: v.ptr, count: count, lr: sched.rate(step), t: step + 1)
                step += 1
            }
            report = Classifier.noisyReportTimes(T: schedule.T).map { ($0, noisyAccuracy(params.ptr, test, schedule: schedule, t: $0, seed: seed)) }
            log(String(format: "epoch %d: train loss %.4f, test accuracy ", e + 1, lossSum / Double(train.count / batch))
                + report.map { String(format: "t=%d %.1f%%", $0.t, $0.accuracy * 100) }.joined(separator: ", "))
        }
        return report
    }

    /// The timesteps a noisy classifier's accuracy is reported at.
    public static func noisyReportTimes(T: Int) -> [Int] {
        Array(Set([0, T / 10, T / 4, T / 2, 3 * T / 4, T - 1])).sorted()
    }

    /// Accuracy on `d` noised to timestep t (one fixed noise draw per seed).
    public func noisyAccuracy(_ p: UnsafePointer<Float>, _ d: Dataset, schedule: NoiseSchedule, t: Int, seed: UInt64 = 0) -> Double {
        var rng = RNG(seed: seed, stream: 900)
        let xb = FloatBuffer(count: 256 * MNIST.pixels), eps = FloatBuffer(count: MNIST.pixels)
        var right = 0, i = 0
        while i < d.count {
            let b = min(256, d.count - i)
            d.images.withUnsafeBufferPointer { xb.ptr.update(from: $0.baseAddress! + i * MNIST.pixels, count: b * MNIST.pixels) }
            let times = [Float](repeating: Float(t), count: b)
            Classifier.noise(xb.ptr, t: times, schedule: schedule, rng: &rng, eps: eps.ptr)
            times.withUnsafeBufferPointer { forward(p, x: xb.ptr, n: b, t: $0.baseAddress!) }
            for r in 0..<b {
                let row = logits.ptr + r * 10
                var best = 0
                for k in 1..<10 where row[k] > row[best] { best = k }
                if best == Int(d.labels[i + r]) { right += 1 }
            }
            i += b
        }
        return Double(right) / Double(d.count)
    }
}
