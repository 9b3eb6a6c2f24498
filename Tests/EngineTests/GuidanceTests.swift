// GuidanceTests.swift: classifier guidance — the noisy classifier's gradients
// against finite differences, and each sampler's guided step against the
// unguided one plus the paper's shift.
import XCTest
@testable import Compute
@testable import Engine

final class GuidanceTests: XCTestCase {
    /// A small time-conditioned classifier with random weights (SiLU: no kinks for finite differences).
    func smallGuidance(groupNorm: Bool = false, seed: UInt64 = 5) throws -> ClassifierGuidance {
        let arch = Classifier.Architecture(c1: 8, c2: 8, c3: 8, hidden: 16, groupNorm: groupNorm, timeDim: 16)
        let cls = Classifier(arch), p = FloatBuffer(count: cls.layout.count)
        var rng = RNG(seed: seed)
        cls.layout.initialize(p.ptr, rng: &rng)
        // Time biases large enough to matter (initialised small).
        let temb = cls.temb!
        for i in 0..<(temb.inFeatures * temb.outFeatures) { p.ptr[temb.w + i] = Float(rng.normal()) * 0.5 }
        return ClassifierGuidance(classifier: cls, params: p, schedule: try NoiseSchedule().spec)
    }

    func testArchitectureText() {
        XCTAssertEqual(Classifier.Architecture.noisy.description, "32,64,64,256,t64,relu")
        XCTAssertEqual(Classifier.Architecture("32,64,64,256,t64,relu"), .noisy)
        XCTAssertEqual(Classifier.Architecture("32,64,64,256,relu")?.timeDim, 0)
        for bad in ["32,64,64,256,t,relu", "32,64,64,256,t3", "32,64,64,256,t0", "32,64,64,256,t1024", "32,64,64,t64", "t64,32,64,64,256"] {
            XCTAssertNil(Classifier.Architecture(bad), bad)
        }
    }

    /// The weights' gradients (the time embedding's map included) and the
    /// input gradient of log p(y | x, t) against central differences.
    func testNoisyClassifierGradients() throws {
        for gn in [false, true] {
            let g = try smallGuidance(groupNorm: gn)
            let cls = g.classifier, p = g.params
            let n = 2
            let x = randomBuffer(n * MNIST.pixels, seed: 9)
            let t: [Float] = [37, 640]
            let labels: [UInt8] = [3, 7]
            func loss() -> Double {
                t.withUnsafeBufferPointer { cls.forward(p.ptr, x: x.ptr, n: n, t: $0.baseAddress!) }
                let scratch = FloatBuffer(count: cls.layout.count)
                return cls.backward(p.ptr, scratch.ptr, labels: labels[...])
            }
            t.withUnsafeBufferPointer { cls.forward(p.ptr, x: x.ptr, n: n, t: $0.baseAddress!) }
            let grads = FloatBuffer(count: cls.layout.count)
            cls.backward(p.ptr, grads.ptr, labels: labels[...])
            var rng = RNG(seed: 3)
            let temb = cls.temb!
            // Half the probes in the time embedding's map, half anywhere.
            let probes = (0..<20).map { _ in temb.w + rng.int(temb.inFeatures * temb.outFeatures + temb.outFeatures) }
                + (0..<20).map { _ in rng.int(cls.layout.count) }
            let eps: Float = 1e-2
            for i in probes {
                let old = p.ptr[i]
                p.ptr[i] = old + eps; let lp = loss()
                p.ptr[i] = old - eps; let lm = loss()
                p.ptr[i] = old
                let num = (lp - lm) / Double(2 * eps)
                XCTAssertEqual(Double(grads.ptr[i]), num, accuracy: 2e-3 + 3e-2 * abs(num), "gn=\(gn) param \(i)")
            }
            // ∇_x log p(y | x, t), one image at a time (the gradient is per image).
            func logP(_ img: Int) -> Double {
                t.withUnsafeBufferPointer { cls.forward(p.ptr, x: x.ptr, n: n, t: $0.baseAddress!) }
                let row = cls.logits.ptr + img * 10
                let m = (0..<10).map { Double(row[$0]) }.max()!
                let z = (0..<10).map { exp(Double(row[$0]) - m) }.reduce(0, +)
                return Double(row[Int(labels[img])]) - m - log(z)
            }
            let dx = FloatBuffer(count: n * MNIST.pixels), scratch = FloatBuffer(count: cls.layout.count)
            t.withUnsafeBufferPointer { cls.forward(p.ptr, x: x.ptr, n: n, t: $0.baseAddress!) }
            cls.logProbGradient(p.ptr, labels: labels.map(Int.init), into: dx.ptr, scratch: scratch.ptr)
            for _ in 0..<30 {
                let img = rng.int(n), q = rng.int(MNIST.pixels), i = img * MNIST.pixels + q
                let old = x.ptr[i]
                x.ptr[i] = old + eps; let lp = logP(img)
                x.ptr[i] = old - eps; let lm = logP(img)
                x.ptr[i] = old
                let num = (lp - lm) / Double(2 * eps)
                XCTAssertEqual(Double(dx.ptr[i]), num, accuracy: 2e-3 + 3e-2 * abs(num), "gn=\(gn) d/dx[\(img), \(q)]")
            }
        }
    }

    /// `ClassifierGuidance.gradient` is the classifier's input gradient of
    /// log p(digit | x_t, t) at the step's t, also through a padded image (the border gets 0).
    func testGuidanceGradientByFiniteDifferences() throws {
        let g = try smallGuidance()
        for size in [28, 32] {
            let n = 2, hw = size * size
            let x = randomBuffer(n * hw, seed: 21)
            let out = FloatBuffer(count: n * hw)
            g.gradient(x: x.ptr, n: n, size: size, t: 400, digit: 5, into: out.ptr)
            func logP(_ img: Int) -> Double {
                let off = (size - 28) / 2
                var c = [Float](repeating: 0, count: n * MNIST.pixels)
                for i in 0..<n { for r in 0..<28 { for q in 0..<28 { c[i * 784 + r * 28 + q] = x.ptr[i * hw + (r + off) * size + q + off] } } }
                return Double(log(c.withUnsafeBufferPointer { g.probabilities(x: $0.baseAddress!, n: n, t: 400) }[img * 10 + 5]))
            }
            var rng = RNG(seed: 8)
            let eps: Float = 1e-2
            for _ in 0..<20 {
                let img = rng.int(n), q = rng.int(hw), i = img * hw + q
                let old = x.ptr[i]
                x.ptr[i] = old + eps; let lp = logP(img)
                x.ptr[i] = old - eps; let lm = logP(img)
                x.ptr[i] = old
                let num = (lp - lm) / Double(2 * eps)
                XCTAssertEqual(Double(out.ptr[i]), num, accuracy: 2e-3 + 3e-2 * abs(num), "side \(size) pixel \(q)")
            }
            if size == 32 {
                // The padding border is outside what the classifier reads.
                for q in 0..<32 { XCTAssertEqual(out.ptr[q], 0); XCTAssertEqual(out.ptr[hw + 31 * 32 + q], 0) }
            }
        }
    }

    /// DDPM (Algorithm 1): the guided step is the unguided one plus s σ_t² ∇ log p,
    /// with the same noise; DDIM and DPM-Solver++ (Algorithm 2): the step of
    /// ε̂ − s √(1 − ᾱ_t) ∇ log p, here DDIM's by hand.
    func testGuidedStepsShiftAsThePaperSays() throws {
        let schedule = try NoiseSchedule()
        let model = LinearPredictor(size: 28, a: 0.3, b: -0.1)
        let scale = 2.5, digit = 7, n = 2, len = n * 784
        for variance in [VarianceKind.beta, .posterior] {
            var set = SamplerSettings(kind: .ddpm, variance: variance)
            let plain = try Sampler(schedule: schedule, settings: set, n: n, size: 28, seed: 4, guidance: try smallGuidance())
            set.guide = digit; set.guideScale = scale
            let guided = try Sampler(schedule: schedule, settings: set, n: n, size: 28, seed: 4, guidance: try smallGuidance())
            for _ in 0..<2 { plain.advance(model); guided.advance(model) }   // two steps: the shift compounds from the second
            // Compare one more step from the same x_t.
            guided.x.ptr.update(from: plain.x.ptr, count: len)
            let t = plain.currentT
            let grad = FloatBuffer(count: len)
            try smallGuidance().gradient(x: plain.x.ptr, n: n, size: 28, t: t, digit: digit, into: grad.ptr)
            plain.advance(model); guided.advance(model)
            let v = schedule.pVariance(t: t, variance)
            var maxShift: Float = 0
            for i in 0..<len {
                let expect = Double(plain.x.ptr[i]) + scale * v * Double(grad.ptr[i])
                XCTAssertEqual(Double(guided.x.ptr[i]), expect, accuracy: 1e-5, "DDPM \(variance) pixel \(i)")
                maxShift = max(maxShift, abs(guided.x.ptr[i] - plain.x.ptr[i]))
            }
            XCTAssertGreaterThan(maxShift, 1e-5, "the guidance moved something")
        }
        // DDIM, eta 0: x0' and the next x from eps' = eps - s sqrt(1 - abar_t) grad.
        let set = SamplerSettings(kind: .ddim, steps: 10, spacing: .leading, guide: digit, guideScale: scale)
        let s = try Sampler(schedule: schedule, settings: set, n: n, size: 28, seed: 4, guidance: try smallGuidance())
        let xt = s.x.array(len), t = s.currentT
        let grad = FloatBuffer(count: len)
        try smallGuidance().gradient(x: s.x.ptr, n: n, size: 28, t: t, digit: digit, into: grad.ptr)
        let f = s.step(model)
        XCTAssertEqual(f.tNext, 800)
        let ab = schedule.alphasCumprod[t], abp = schedule.alphasCumprod[f.tNext]
        for i in 0..<len {
            let eps = 0.3 * Double(xt[i]) - 0.1 - scale * (1 - ab).squareRoot() * Double(grad.ptr[i])
            let x0 = (Double(xt[i]) - (1 - ab).squareRoot() * eps) / ab.squareRoot()
            XCTAssertEqual(Double(f.x0[i]), x0, accuracy: 1e-4 * max(1, abs(x0)), "DDIM x0[\(i)]")
            XCTAssertEqual(Double(f.xNext[i]), abp.squareRoot() * x0 + (1 - abp).squareRoot() * eps, accuracy: 1e-4, "DDIM x_next[\(i)]")
        }
    }

    /// Scale 0, or no digit, is the unguided sampler bit for bit; a guide
    /// without a classifier or with another schedule's classifier is refused.
    func testUnguidedIsUntouchedAndMisuseIsRefused() throws {
        let schedule = try NoiseSchedule()
        let model = LinearPredictor(size: 28, a: 0.3, b: -0.1)
        for kind in SamplerKind.allCases {
            let base = SamplerSettings(kind: kind, steps: 5)
            let plain = try Sampler(schedule: schedule, settings: base, n: 2, size: 28, seed: 1).run(model)
            var zero = base; zero.guide = 3; zero.guideScale = 0
            XCTAssertEqual(try Sampler(schedule: schedule, settings: zero, n: 2, size: 28, seed: 1, guidance: try smallGuidance()).run(model), plain)
            XCTAssertEqual(try Sampler(schedule: schedule, settings: base, n: 2, size: 28, seed: 1, guidance: try smallGuidance()).run(model), plain)
        }
        XCTAssertThrowsError(try Sampler(schedule: schedule, settings: SamplerSettings(guide: 3), n: 1, size: 28, seed: 0))
        let other = try NoiseSchedule(kind: .cosine, T: 1000)
        XCTAssertThrowsError(try Sampler(schedule: other, settings: SamplerSettings(guide: 3), n: 1, size: 28, seed: 0,
                                         guidance: try smallGuidance())) { e in
            XCTAssertTrue("\(e)".contains("trained on the linear schedule"), "\(e)")
        }
        for bad in [SamplerSettings(guide: 10), SamplerSettings(guide: -1), SamplerSettings(guide: 1, guideScale: -1),
                    SamplerSettings(guide: 1, guideScale: .nan), SamplerSettings(guide: 1, guideScale: 101)] {
            XCTAssertThrowsError(try bad.validateControls(), "\(bad)")
        }
    }

    /// Settings written before guidance existed (recordings) read as unguided; a guide survives the round trip.
    func testSettingsCoding() throws {
        let old = #"{"kind":"ddim","steps":20,"eta":0,"temperature":1,"noiseTemperature":1,"variance":"beta","clip":false,"spacing":"trailing"}"#
        let s = try JSONDecoder().decode(SamplerSettings.self, from: Data(old.utf8))
        XCTAssertNil(s.guide); XCTAssertEqual(s.guideScale, SamplerSettings.defaultGuideScale)
        let g = SamplerSettings(kind: .dpmpp, steps: 20, guide: 7, guideScale: 3)
        XCTAssertEqual(try JSONDecoder().decode(SamplerSettings.self, from: try JSONEncoder().encode(g)), g)
    }

    /// A clean classifier's file is not a guide.
    func testReadRefusesACleanClassifier() throws {
        let path = (DataTests.mnistDir as NSString).deletingLastPathComponent + "/models/mnist-classifier.safetensors"
        XCTAssertThrowsError(try ClassifierGuidance.read(path)) { e in XCTAssertTrue("\(e)".contains("not a classifier of noisy digits"), "\(e)") }
        // ... and the other way round: the noisy one is not a reader of clean digits (it needs t).
        let noisy = (DataTests.mnistDir as NSString).deletingLastPathComponent + "/models/mnist-noisy-classifier.safetensors"
        XCTAssertNoThrow(try ClassifierGuidance.read(noisy))
        XCTAssertThrowsError(try Classifier.read(noisy)) { e in XCTAssertTrue("\(e)".contains("a classifier of noisy digits"), "\(e)") }
        // A U-Net or a recording given for either is named as what it is, not blamed on a tensor.
        let unet = (DataTests.mnistDir as NSString).deletingLastPathComponent + "/models/mnist-tiny.safetensors"
        XCTAssertThrowsError(try Classifier.read(unet)) { e in XCTAssertTrue("\(e)".contains("is a diffusion model's weights (a U-Net), not a classifier"), "\(e)") }
        XCTAssertThrowsError(try ClassifierGuidance.read(unet)) { e in XCTAssertTrue("\(e)".contains("is a diffusion model's weights (a U-Net), not a classifier of noisy digits"), "\(e)") }
        let dir = NSTemporaryDirectory() + "guide-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let one: [Float] = [1]
        func write(_ name: String, _ meta: [String: String]) throws -> String {
            let p = dir + "/" + name
            try one.withUnsafeBufferPointer { try SafeTensors.write(p, tensors: [("x", [1], $0.baseAddress!)], metadata: meta) }
            return p
        }
        let rec = try write("r.ddpmtraj", ["format": Recording.format])
        XCTAssertThrowsError(try Classifier.read(rec)) { e in XCTAssertTrue("\(e)".contains("is a recording of a sampling run, not a classifier"), "\(e)") }
        XCTAssertThrowsError(try ClassifierGuidance.read(rec)) { e in XCTAssertTrue("\(e)".contains("is a recording of a sampling run, not a classifier of noisy digits"), "\(e)") }
        // An architecture with a timestep too small to be one is unknown, not "not time-conditioned".
        let t2 = try write("t2.safetensors", ["architecture": "32,64,64,256,t2,relu"])
        XCTAssertThrowsError(try ClassifierGuidance.read(t2)) { e in XCTAssertTrue("\(e)".contains("unknown classifier architecture '32,64,64,256,t2,relu'"), "\(e)") }
        // A classifier without its architecture is read as the first one, and the error says so.
        let bare = try write("bare.safetensors", [:])
        XCTAssertThrowsError(try Classifier.read(bare)) { e in XCTAssertTrue("\(e)".contains("its metadata names no 'architecture', so it was read as the first classifier's (16,32,32,128,gn)"), "\(e)") }
    }
}

extension ClassifierGuidance {
    /// p(digit | x_t, t) for each of n 28x28 images (the finite differences' function).
    public func probabilities(x: UnsafePointer<Float>, n: Int, t: Int) -> [Float] {
        let ts = [Float](repeating: Float(t), count: n)
        ts.withUnsafeBufferPointer { classifier.forward(params.ptr, x: x, n: n, t: $0.baseAddress!) }
        var out = [Float](repeating: 0, count: n * 10)
        for i in 0..<n {
            let row = classifier.logits.ptr + i * 10
            let m = (0..<10).map { row[$0] }.max()!
            var z: Float = 0
            for k in 0..<10 { z += expf(row[k] - m) }
            for k in 0..<10 { out[i * 10 + k] = expf(row[k] - m) / z }
        }
        return out
    }
}
