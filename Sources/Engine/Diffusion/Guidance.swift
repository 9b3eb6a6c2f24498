// Guidance.swift: classifier guidance (Dhariwal & Nichol 2021; the chapter's
// guided sampling): a classifier of noisy digits p(y | x_t, t) and the
// gradient of its log-probability that steers each reverse step.
import Foundation

/// A time-conditioned classifier of noisy digits and the schedule it was
/// trained on, as sampling uses it: `gradient` gives ∇_{x_t} log p(y | x_t, t).
///
/// The samplers apply it as the paper does: DDPM adds s·σ_t²·∇ to the mean
/// (Algorithm 1); DDIM and DPM-Solver++ shift the noise prediction,
/// ε̂ ← ε̂ − s·√(1 − ᾱ_t)·∇ (Algorithm 2, the score form).
public final class ClassifierGuidance {
    public let classifier: Classifier
    public let params: FloatBuffer
    /// The schedule whose q(x_t | x_0) the classifier was trained on.
    public let schedule: NoiseSchedule.Spec
    /// The file it came from (for messages).
    public let path: String
    private let crop = FloatBuffer(count: 1), grad = FloatBuffer(count: 1), scratch: FloatBuffer
    private var times: [Float] = [], labels: [Int] = []

    public init(classifier: Classifier, params: FloatBuffer, schedule: NoiseSchedule.Spec, path: String = "") {
        precondition(classifier.arch.timeDim > 0, "guidance needs a classifier of noisy digits (conditioned on t)")
        self.classifier = classifier; self.params = params; self.schedule = schedule; self.path = path
        scratch = FloatBuffer(count: classifier.layout.count)
    }

    /// The noisy classifier in a weights file written by `ddpm eval --train-noisy-classifier`.
    public static func read(_ path: String) throws -> ClassifierGuidance {
        let file = try SafeTensors.read(path)
        let writes = "ddpm eval --train-noisy-classifier writes one, e.g. the bundled assets/models/mnist-noisy-classifier.safetensors"
        // Each wrong file by what it is (a t2 architecture was "no time-conditioned architecture").
        try Classifier.refuseOtherKinds(file, path: path, wanted: "a classifier of noisy digits", instead: writes, formats: Classifier.noisyFormats)
        guard let text = file.metadata["architecture"] else {
            throw EngineError.badFile(path: path, reason: "not a classifier of noisy digits (its metadata has no \"architecture\"; \(writes))")
        }
        guard let arch = Classifier.Architecture(text) else {
            throw EngineError.badFile(path: path, reason: "unknown classifier architecture '\(EngineError.quoted(text, limit: 40))' (a noisy one is c1,c2,c3,hidden,tD with an even D from 4 to 256, e.g. 32,64,64,256,t64,relu)")
        }
        guard arch.timeDim > 0 else {
            throw EngineError.badFile(path: path, reason: "not a classifier of noisy digits: its architecture \(arch) reads clean digits, with no timestep (\(writes))")
        }
        let spec = try Checkpoint.decode(NoiseSchedule.Spec.self, file.metadata["schedule"], path: path, key: "schedule")
        do { _ = try NoiseSchedule(spec) } catch let e as EngineError {
            throw EngineError.badFile(path: path, reason: "metadata 'schedule' is unusable: \(e.description)")
        }
        let cls = Classifier(arch), params = FloatBuffer(count: cls.layout.count)
        try file.load(into: params.ptr, layout: cls.layout)
        return ClassifierGuidance(classifier: cls, params: params, schedule: spec, path: path)
    }

    /// Refuses a model whose noise schedule is not the classifier's: its x_t
    /// would be noised differently from what the classifier learned to read.
    public func check(schedule other: NoiseSchedule) throws {
        guard other.spec == schedule else {
            throw EngineError.invalidArgument("the guiding classifier \(URL(fileURLWithPath: path).lastPathComponent) was trained on the \(schedule.kind.rawValue) schedule with T=\(schedule.T), beta \(schedule.betaStart)...\(schedule.betaEnd); this model uses \(other.kind.rawValue), T=\(other.T), beta \(other.betaStart)...\(other.betaEnd)")
        }
    }

    /// ∇_x log p(digit | x_t, t) for n images x [N, S*S] (S ≥ 28: the
    /// classifier reads the centre 28x28; the border's gradient is 0), into `out`.
    public func gradient(x: UnsafePointer<Float>, n: Int, size: Int, t: Int, digit: Int, into out: UnsafeMutablePointer<Float>) {
        precondition((0...9).contains(digit) && size >= MNIST.side && (size - MNIST.side) % 2 == 0, "gradient: digit \(digit), side \(size)")
        if times.count != n { times = [Float](repeating: 0, count: n); labels = [Int](repeating: 0, count: n) }
        for i in 0..<n { times[i] = Float(t); labels[i] = digit }
        let side = MNIST.side, px = MNIST.pixels, hw = size * size, off = (size - side) / 2
        var input = x
        if size != side {
            crop.reserve(n * px)
            for i in 0..<n { for r in 0..<side { (crop.ptr + i * px + r * side).update(from: x + i * hw + (r + off) * size + off, count: side) } }
            input = UnsafePointer(crop.ptr)
        }
        grad.reserve(n * px)
        times.withUnsafeBufferPointer { classifier.forward(params.ptr, x: input, n: n, t: $0.baseAddress!) }
        classifier.logProbGradient(params.ptr, labels: labels, into: size == side ? out : grad.ptr, scratch: scratch.ptr)
        if size != side {
            out.update(repeating: 0, count: n * hw)
            for i in 0..<n { for r in 0..<side { (out + i * hw + (r + off) * size + off).update(from: grad.ptr + i * px + r * side, count: side) } }
        }
    }
}
