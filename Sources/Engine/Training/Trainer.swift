// Trainer.swift: the DDPM trainer: one optimisation step, EMA, checkpoints and resume.
import Foundation

/// Result of one optimisation step.
public struct StepStats: Sendable {
    public var step: Int
    public var loss: Double
    public var gradNorm: Double
    public var lr: Double
}

/// The DDPM trainer (chapter 3.4 / 3.6): random t, q_sample, weighted MSE or L1
/// on eps, Adam with clipping, warm-up + cosine rate, EMA of the weights.
public final class Trainer {
    public private(set) var options: TrainOptions
    public let net: UNet
    public let schedule: NoiseSchedule
    public let data: Dataset
    public let params: FloatBuffer, grads: FloatBuffer, adamM: FloatBuffer, adamV: FloatBuffer, ema: FloatBuffer
    public private(set) var rng: RNG
    public private(set) var step = 0
    /// Running mean of the unweighted loss per t-bucket (10 buckets over 0..<T).
    public private(set) var bucketLoss = [Double](repeating: .nan, count: 10)
    public private(set) var lastLoss = Double.nan
    /// The last `recentLossCount` steps' losses, oldest first. Checkpoints keep them, so that a resumed
    /// run's loss curve (the training view's) goes on from where it was rather than from nothing.
    public private(set) var recentLosses: [Float] = []
    public static let recentLossCount = 5000
    public private(set) var lrSchedule: LRSchedule
    /// The folder of the training images when not the bundled MNIST: saved as
    /// `data` in every file, so `--resume` trains on the same set.
    public var dataSource: String?
    let adam = Adam()
    private(set) var x0b: FloatBuffer, epsb: FloatBuffer, xtb: FloatBuffer, dout: FloatBuffer, targetb: FloatBuffer
    private var perm: [Int] = []
    private var permEpoch = -1
    /// The timesteps of the last step's batch.
    var ts: [Int]
    /// The guided pair a distilling run learns from (`options.distill`; set
    /// by whoever loads their files before the first step).
    public var teacher: AutoGuidedPredictor?

    /// A new distilling run records the SHA-256 of its teacher's and weak
    /// model's files (saved with its options), which a resume checks.
    public func recordTeacherFiles(teacherSHA256: String, weakSHA256: String) {
        options.distill?.teacherSHA256 = teacherSHA256; options.distill?.weakSHA256 = weakSHA256
    }

    public var count: Int { net.parameterCount }
    public var stepsPerEpoch: Int { options.stepsPerEpoch(images: data.count) }
    public var epoch: Double { Double(step) / Double(stepsPerEpoch) }

    /// A new run of `options` on `data`; the network runs on `backend`.
    public init(options: TrainOptions, backend: Backend = .detected, data: Dataset) throws {
        try options.validate()
        guard data.side == options.config.imageSize else {
            throw EngineError.invalidArgument("data is \(data.side)x\(data.side) but the model wants \(options.config.imageSize)x\(options.config.imageSize)")
        }
        guard data.count >= 1 else { throw EngineError.invalidArgument("the training set is empty") }
        // trainStep copies images by offset: the pixel array must hold every image.
        guard data.images.count == data.count * data.side * data.side else {
            throw EngineError.invalidArgument("the training set holds \(data.images.count) pixels for \(data.count) images of \(data.side)x\(data.side)")
        }
        if let w = options.classWeights {
            let top = Int(data.labels.max() ?? 0)
            guard top < w.count else {
                throw EngineError.invalidArgument("the training set has labels 0...\(top) but the run has \(w.count) class weights (one per label)")
            }
            // A weight past the set's largest label would silently draw nothing (13 weights for MNIST's 10 digits).
            if let extra = w[(top + 1)...].firstIndex(where: { $0 > 0 }) {
                throw EngineError.invalidArgument("the run has \(w.count) class weights but the training set's labels are 0...\(top): label \(extra) has weight \(w[extra]) and no image (one weight per label)")
            }
            guard data.labels.contains(where: { w[Int($0)] > 0 }) else {
                throw EngineError.invalidArgument("no image of the training set has a label with a class weight above 0")
            }
        }
        self.options = options
        net = try UNet(options.config, backend: backend)
        schedule = try NoiseSchedule(options.schedule)
        self.data = data
        let n = net.parameterCount
        try Trainer.checkMemory(net: net, batch: min(options.batch, data.count))
        params = FloatBuffer(count: n); grads = FloatBuffer(count: n)
        adamM = FloatBuffer(count: n); adamV = FloatBuffer(count: n); ema = FloatBuffer(count: n)
        rng = RNG(seed: options.seed, stream: 1)
        lrSchedule = Trainer.lrSchedule(options)
        (x0b, epsb, xtb, dout, targetb, ts) = Trainer.batchBuffers(options, images: data.count, side: data.side)
        beginRun()
    }

    /// Step 0 of `options`' run: weights drawn from the seed, the EMA equal to
    /// them, Adam's moments zero, the random streams, rate schedule, epoch
    /// order and loss statistics from the start (what `init` and `startOver` share).
    private func beginRun() {
        let n = net.parameterCount
        var initRNG = RNG(seed: options.seed, stream: 0x1417)
        net.layout.initialize(params.ptr, rng: &initRNG)
        ema.ptr.update(from: params.ptr, count: n)
        adamM.ptr.update(repeating: 0, count: n); adamV.ptr.update(repeating: 0, count: n)
        rng = RNG(seed: options.seed, stream: 1)
        lrSchedule = Trainer.lrSchedule(options)
        step = 0
        perm = []; permEpoch = -1
        bucketLoss = [Double](repeating: .nan, count: 10)
        lastLoss = .nan
        // (Reserved once: a step appends and drops in place, allocating nothing.)
        recentLosses = []; recentLosses.reserveCapacity(Trainer.recentLossCount + 1)
    }

    /// A step's inputs and targets for `options`' batch.
    private static func batchBuffers(_ options: TrainOptions, images: Int, side: Int)
        -> (FloatBuffer, FloatBuffer, FloatBuffer, FloatBuffer, FloatBuffer, [Int]) {
        let b = min(options.batch, images), len = b * side * side
        let x0b = FloatBuffer(count: len), epsb = FloatBuffer(count: len)
        // A self-conditioned model's input holds the x0 estimates after x_t.
        let xtb = FloatBuffer(count: len * options.config.inputChannels)
        let dout = FloatBuffer(count: len * options.config.outputChannels)
        // The x0 or v target has a buffer of its own; ε's target is the noise itself.
        let targetb = options.objective == .eps ? epsb : FloatBuffer(count: len)
        return (x0b, epsb, xtb, dout, targetb, [Int](repeating: 0, count: b))
    }

    /// Starts the run over from step 0 with `options` (the same model, schedule
    /// and objective; a batch size, rate or length of their own): the weights,
    /// Adam's moments, the EMA, the random streams and the loss statistics are
    /// what `Trainer(options:data:)` would make, so the run from here is the one
    /// a new trainer of `options` trains, bit for bit. The lecture demo starts
    /// over this way when its first steps show a machine fast enough for its
    /// other setting (`LengthFit.faster`).
    public func startOver(_ options: TrainOptions) throws {
        try options.validate()
        guard options.config == self.options.config, options.schedule == self.options.schedule,
              options.objective == self.options.objective else {
            throw EngineError.invalidArgument("a run starts over with the same model, schedule and objective")
        }
        try Trainer.checkMemory(net: net, batch: min(options.batch, data.count))
        self.options = options
        (x0b, epsb, xtb, dout, targetb, ts) = Trainer.batchBuffers(options, images: data.count, side: data.side)
        beginRun()
    }

    /// Examples of the 0-based step s: epoch e = s / stepsPerEpoch walks a
    /// permutation drawn from a stream of its own, so the order is a function of
    /// (seed, step) and resuming needs no extra state. With class weights the
    /// epoch's images are drawn with replacement instead: a label by its weight
    /// times its count of images, then one of its images uniformly.
    private func batchIndices(_ s: Int) -> ArraySlice<Int> {
        let b = min(options.batch, data.count)
        let e = s / stepsPerEpoch, pos = s % stepsPerEpoch
        if e != permEpoch {
            var r = RNG(seed: options.seed ^ 0xDA7A, stream: UInt64(e))
            if let w = options.classWeights {
                perm = Trainer.weightedDraws(labels: data.labels, weights: w, count: data.count, rng: &r)
            } else {
                perm = r.permutation(data.count)
            }
            permEpoch = e
        }
        return perm[(pos * b)..<(pos * b + b)]
    }

    /// `count` image indices drawn with replacement, an image of label c with
    /// probability proportional to `weights[c]`.
    static func weightedDraws(labels: [UInt8], weights: [Double], count: Int, rng: inout RNG) -> [Int] {
        var members = [[Int]](repeating: [], count: weights.count)
        for (i, l) in labels.enumerated() { members[Int(l)].append(i) }
        // Cumulative mass of the labels: weight x images of that label.
        var cumulative = [Double](), total = 0.0
        for c in 0..<weights.count {
            total += members[c].isEmpty ? 0 : weights[c] * Double(members[c].count)
            cumulative.append(total)
        }
        var out = [Int](); out.reserveCapacity(count)
        for _ in 0..<count {
            let u = rng.uniform() * total
            // The first label whose cumulative mass exceeds u (one with mass 0 is never it).
            var c = cumulative.firstIndex(where: { u < $0 }) ?? weights.count - 1
            while members[c].isEmpty || weights[c] == 0 { c -= 1 }
            out.append(members[c][rng.int(members[c].count)])
        }
        return out
    }

    /// One optimisation step; throws `.diverged` (weights untouched) on a NaN/Inf loss or gradient.
    @discardableResult
    public func trainStep() throws -> StepStats {
        let b = min(options.batch, data.count), hw = data.side * data.side, len = b * hw
        let lr = lrSchedule.rate(step)
        let idx = batchIndices(step)
        let T = schedule.T
        data.images.withUnsafeBufferPointer { imgs in
            for (j, i) in idx.enumerated() { (x0b.ptr + j * hw).update(from: imgs.baseAddress! + i * hw, count: hw) }
        }
        for j in 0..<b { ts[j] = rng.int(T) }
        rng.fillNormal(epsb.ptr, count: len)
        return try optimise(lr: lr)
    }

    /// The rest of a step, on the batch in `x0b`, `ts` and `epsb`: q_sample,
    /// the weighted loss, backward, clipping, Adam at `lr` and the EMA (what
    /// scripts/train_torch.py's loss_and_gradients and update do; the tests
    /// give both the same batch; its loss has no self-conditioning pass).
    func optimise(lr: Double) throws -> StepStats {
        let b = ts.count, hw = data.side * data.side, len = b * hw
        let T = schedule.T
        // q_sample: x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps
        for j in 0..<b {
            schedule.qSample(x0: x0b.ptr + j * hw, eps: epsb.ptr + j * hw, t: ts[j], count: hw, into: xtb.ptr + j * hw)
        }
        if options.objective != .eps {
            for j in 0..<b {
                options.objective.target(x0: x0b.ptr + j * hw, eps: epsb.ptr + j * hw, t: ts[j], count: hw, schedule: schedule,
                                         into: targetb.ptr + j * hw)
            }
        }
        if options.config.selfCondition {
            // Self-conditioning (Chen et al. 2022): on half of the steps the network first guesses x0
            // from x_t with no estimate (zeros), and that guess, held constant (no gradient through it),
            // is the estimate it is trained with; on the others the estimate is zeros. Sampling feeds the
            // previous step's x̂0 (Sampler.advance), clipped when the sampler clips; the guess here is not
            // clipped, as DDIM's default does not clip (lucidrains' denoising-diffusion-pytorch does the same).
            let est = xtb.ptr + len
            est.update(repeating: 0, count: len)
            if rng.int(2) == 0 {
                let guess = net.forward(params.ptr, x: xtb.ptr, t: ts, mode: .training, rng: &rng)
                for j in 0..<b {
                    let o = j * hw
                    // ε from the network's output, then x̂0 from ε (dout is free until the loss).
                    options.objective.epsilon(output: guess + o, xt: xtb.ptr + o, t: ts[j], count: hw, schedule: schedule, into: dout.ptr + o)
                    schedule.predictX0(xt: xtb.ptr + o, eps: dout.ptr + o, t: ts[j], count: hw, into: est + o)
                }
            }
        }
        if let distill = options.distill {
            // Guidance distillation: the target is the guided pair's ε at this x_t (the teacher reads
            // the same x0 estimate as the student), then x0 from it, then the objective's target.
            guard let teacher else { throw EngineError.invalidConfig("a distilling run needs its teacher and weak model loaded (Trainer.teacher)") }
            let est: UnsafePointer<Float>? = options.config.selfCondition ? UnsafePointer(xtb.ptr + len) : nil
            if distill.onNoise {
                // ε + (w − 1)(ε_teacher − ε_weak) where guided; the noise alone elsewhere.
                teacher.addOffset(xtb.ptr, t: ts, x0Estimate: est, scale: teacher.weight - 1, to: epsb.ptr)
            } else {
                teacher.predictNoise(xtb.ptr, t: ts, x0Estimate: est, out: epsb.ptr)
            }
            if options.objective != .eps {
                for j in 0..<b {
                    let o = j * hw
                    schedule.predictX0(xt: xtb.ptr + o, eps: epsb.ptr + o, t: ts[j], count: hw, into: x0b.ptr + o)
                    options.objective.target(x0: x0b.ptr + o, eps: epsb.ptr + o, t: ts[j], count: hw, schedule: schedule,
                                             into: targetb.ptr + o)
                }
            }
        }
        let y = net.forward(params.ptr, x: xtb.ptr, t: ts, mode: .training, rng: &rng)
        var total = 0.0
        let norm = Float(1.0 / Double(len))
        for j in 0..<b {
            // Weightings are defined on the ε scale (`Objective.epsScale`); simple is plain MSE on the target.
            var w = options.weighting.weight(schedule, t: ts[j], gamma: options.minSnrGamma)
            if options.weighting != .simple { w *= options.objective.epsScale(schedule, t: ts[j]) }
            let wf = Float(w)
            var per = 0.0
            let o = j * hw
            for k in 0..<hw {
                let d = y[o + k] - targetb.ptr[o + k]
                switch options.loss {
                case .mse: per += Double(d * d); dout.ptr[o + k] = 2 * wf * d * norm
                case .l1: per += Double(abs(d)); dout.ptr[o + k] = (d > 0 ? wf : (d < 0 ? -wf : 0)) * norm
                }
            }
            per /= Double(hw)
            total += w * per
            if options.config.learnSigma {
                // The hybrid objective's λ T L_t, through v only (ε̂ frozen: y's first channel, read not written).
                let k = LearnedVarianceLoss.lambda * Double(T)
                total += k * LearnedVarianceLoss.term(x0: x0b.ptr + o, xt: xtb.ptr + o, eps: y + o, v: y + len + o, t: ts[j], count: hw,
                                                      schedule: schedule, scale: k / Double(b), dv: dout.ptr + len + o)
            }
            let bucket = min(9, ts[j] * 10 / T)
            bucketLoss[bucket] = bucketLoss[bucket].isNaN ? per : 0.98 * bucketLoss[bucket] + 0.02 * per
        }
        let loss = total / Double(b)
        guard loss.isFinite else { throw EngineError.diverged(step: step + 1, loss: loss) }
        grads.zero(count)
        net.backward(params.ptr, grads.ptr, dout: dout.ptr)
        let gnorm = GradientTools.clip(grads.ptr, count, maxNorm: options.gradClip)
        guard gnorm.isFinite else { throw EngineError.diverged(step: step + 1, loss: gnorm) }
        adam.step(params: params.ptr, grads: grads.ptr, m: adamM.ptr, v: adamV.ptr, count: count, lr: lr, t: step + 1)
        GradientTools.emaUpdate(ema.ptr, params.ptr, count, decay: Float(options.emaDecay))
        step += 1
        lastLoss = loss
        recentLosses.append(Float(loss))
        if recentLosses.count > Trainer.recentLossCount { recentLosses.removeFirst() }
        return StepStats(step: step, loss: loss, gradNorm: gnorm, lr: lr)
    }

    // MARK: checkpoints

    public static let checkpointFormat = "ddpm-explorer checkpoint 1"
    public static let weightsFormat = "ddpm-explorer weights 1"

    public func metadata(extra: [String: String] = [:]) -> [String: String] {
        var m: [String: String] = [
            "format": Trainer.checkpointFormat,
            "config": Checkpoint.encode(options.config),
            "schedule": Checkpoint.encode(options.schedule),
            "options": Checkpoint.encode(options),
            "objective": options.objective.rawValue,
            "step": String(step),
            "epochs": String(format: "%.3f", epoch),
            "rng": rng.words.map { String($0, radix: 16) }.joined(separator: ","),
            "bucket_loss": Checkpoint.encode(bucketLoss.map { $0.isNaN ? -1 : $0 }),
            "recent_losses": Checkpoint.encode(recentLosses.map { $0.isFinite ? $0 : -1 }),
            "loss": String(lastLoss),
            "images": String(data.count),
        ]
        if let dataSource { m["data"] = dataSource }
        if let pendingFit { m["length_fit"] = Checkpoint.encode(pendingFit) }
        for (k, v) in extra { m[k] = v }
        return m
    }

    /// How the live preview samples: DDIM 20 steps with x̂0 clipped to [-1, 1]
    /// (diffusers' DDIM default). A young model's x̂0 overshoots; unclipped,
    /// eta-0 DDIM then runs many images to blank or flooded tiles (seed 0 of
    /// the demo at its end: about a quarter of 64), clipped they are digits.
    public static let previewSettings = SamplerSettings(kind: .ddim, steps: 20, clip: true)

    /// `n` digits from the EMA weights with `previewSettings` from a fixed seed:
    /// the live preview, and what the demo's timing script reads.
    public func previewSamples(n: Int, seed: UInt64 = 1234) throws -> [Float] {
        let s = try Sampler(schedule: schedule, settings: Trainer.previewSettings, n: n,
                            size: options.config.imageSize, seed: seed)
        return s.run(previewModel)
    }

    /// The EMA weights as a noise predictor with a network of its own (built
    /// once: its per-core copies and buffers serve every preview).
    private lazy var previewModel = UNetPredictor(net: try! UNet(options.config, backend: net.ws.backend), params: ema,
                                                  objective: options.objective, schedule: schedule,
                                                  weightsChange: true)

    /// Writes EMA weights (plain names), raw weights, Adam moments and state,
    /// atomically (`pauseMidwayMs`: see AtomicFile.write).
    public func saveCheckpoint(_ path: String, extra: [String: String] = [:], pauseMidwayMs: Int = 0) throws {
        // Weights that are no longer numbers never replace a checkpoint: the last good one stays.
        try checkFinite()
        let L = net.layout
        let t = Checkpoint.tensors(L, ema.ptr) + Checkpoint.tensors(L, params.ptr, prefix: "train.")
            + Checkpoint.tensors(L, adamM.ptr, prefix: "adam_m.") + Checkpoint.tensors(L, adamV.ptr, prefix: "adam_v.")
        try SafeTensors.write(path, tensors: t, metadata: metadata(extra: extra), pauseMidwayMs: pauseMidwayMs)
    }

    /// Throws when a weight (raw or EMA) or an Adam moment is NaN or infinite.
    public func checkFinite() throws {
        for (name, b) in [("weights", params), ("EMA weights", ema), ("Adam moments", adamM), ("Adam moments", adamV)] {
            if let i = (0..<count).first(where: { !b.ptr[$0].isFinite }) {
                throw EngineError.invalidArgument("the \(name) are not finite numbers at step \(step) (index \(i): \(b.ptr[i])): not saved, the last checkpoint stays")
            }
        }
    }

    /// Writes only the EMA weights (what sampling and PyTorch need).
    public func saveWeights(_ path: String, extra: [String: String] = [:]) throws {
        try checkFinite()
        var m = metadata(extra: extra)
        m["format"] = Trainer.weightsFormat
        try Checkpoint.writeWeights(path, layout: net.layout, params: ema.ptr, metadata: m)
    }

    /// Sets this run's length to `steps` while it is still warming up (the
    /// lecture demo sized to the machine's pace, `LengthFit`). The warm-up
    /// must stay what it was, so the steps taken so far had the rates they
    /// would have had: the run is the one `steps` total steps from the start
    /// would train, bit for bit.
    public func setLength(_ steps: Int) throws {
        var o = options
        o.totalSteps = steps
        try o.validate()
        let fitted = Trainer.lrSchedule(o)
        guard step < lrSchedule.warmup, fitted.warmup == lrSchedule.warmup else {
            throw EngineError.invalidArgument("a run's length changes only during its warm-up and keeps the warm-up (step \(step), warm-up \(lrSchedule.warmup) steps, \(steps) steps would warm up for \(fitted.warmup))")
        }
        options = o
        lrSchedule = fitted
    }

    /// The lecture demo's length fit while it is still to come (the training
    /// loops make it `atStep` steps after they start, `fitLength`); checkpoints
    /// record it, so a run stopped before it was sized is sized when resumed.
    public var pendingFit: LengthFit?

    /// `fit`'s length for a run that took `elapsed` seconds for its first `done`
    /// steps (`settledAt` for its first `fit.settle`), set (`setLength`), and no
    /// fit pending; returns what to tell the user.
    public func fitLength(_ fit: LengthFit, done: Int, elapsed: Double, settledAt: Double? = nil) throws -> String {
        let batch = min(options.batch, data.count)
        if fit.fitsFaster(done: done, batch: batch, elapsed: elapsed, settledAt: settledAt), let f = fit.faster {
            var o = options
            o.batch = f.batch; o.lr = f.lr; o.totalSteps = f.steps.upperBound
            try startOver(o)
            // Sized again at the new setting's own pace, to end when this run would have.
            pendingFit = LengthFit(seconds: fit.seconds - elapsed, atStep: fit.atStep, steps: f.steps, before: (fit.before ?? 0) + elapsed)
            // Each message fits 80 columns: the explorer shows it on one row.
            return "fast machine: started over at batch \(f.batch), lr \(f.lr); sized again at step \(fit.atStep)"
        }
        let n = fit.length(done: done, elapsed: elapsed, settledAt: settledAt)
        try setLength(n)
        pendingFit = nil
        let minutes = ((fit.before ?? 0) + elapsed + Double(n - done) / fit.pace(done: done, elapsed: elapsed, settledAt: settledAt)) / 60
        // A run sized after starting over names its batch (the message before it scrolls away); a run
        // at a bound says so, since it ends sooner (the most) or later (the fewest) than the target.
        let bound = n == fit.steps.upperBound ? " (most)" : n == fit.steps.lowerBound ? (fit.before == nil ? " (fewest: slow here)" : " (fewest)") : ""
        return "sized to this machine: \(n) steps" + (fit.before == nil ? "" : " of batch \(batch)") + bound
            + String(format: minutes < 99.5 ? ", %.1f min at this pace" : ", %.0f min at this pace", minutes)
    }

    /// Refuses a run whose memory (the parameters five times over: weights,
    /// gradients, Adam's two moments, EMA; and the batch's activations, 1.5
    /// times `activationFloatsPerImage`, which peak resident memory at batch 32
    /// and 256 puts at 0.94x for tiny and 1.11x for small) would not fit in
    /// this machine's memory or the process's address-space limit: a clear
    /// error now, not an out-of-memory exit or the kernel's OOM killer later.
    static func checkMemory(net: UNet, batch: Int) throws {
        let perImage = 6.0 * Double(net.activationFloatsPerImage)   // bytes: 1.5 x 4
        let fixed = 20.0 * Double(net.parameterCount), bytes = fixed + Double(batch) * perImage
        var limit = Double(ProcessInfo.processInfo.physicalMemory)
        var rl = rlimit()
        if getrlimit(__rlimit_resource_t(RLIMIT_AS.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max { limit = min(limit, Double(rl.rlim_cur)) }
        guard bytes <= limit else {
            let gib = { (b: Double) in String(format: "%.1f GiB", b / Double(1 << 30)) }
            // The largest batch that would fit, if any does.
            let fits = Int(((limit - fixed) / perImage).rounded(.down))
            throw EngineError.invalidArgument("batch \(batch) with this model needs about \(gib(bytes)) of memory to train; "
                + "this process may use \(gib(limit)): "
                + (fits >= 1 ? "batch \(fits) or smaller fits (about \(Int((perImage / Double(1 << 20)).rounded())) MiB an image)"
                             : "not even batch 1 fits, a smaller model does"))
        }
    }

    /// Linear warm-up (at most a tenth of the run), then cosine decay over `o.totalSteps`.
    public static func lrSchedule(_ o: TrainOptions) -> LRSchedule {
        LRSchedule(base: o.lr, warmup: min(o.warmup, o.totalSteps / 10), totalSteps: o.totalSteps)
    }

    /// What a resumed run may change; nil keeps the checkpoint's value. Without
    /// changes a resumed run continues bit for bit; with them it continues from
    /// the same weights, moments, step and RNG under the new settings (e.g. a
    /// fine-tune without dropout, or a longer cosine schedule).
    public struct ResumeChanges: Equatable, Sendable {
        public var totalSteps: Int?
        public var lr: Double?
        public var dropout: Float?
        public var emaDecay: Double?
        public init(totalSteps: Int? = nil, lr: Double? = nil, dropout: Float? = nil, emaDecay: Double? = nil) {
            self.totalSteps = totalSteps; self.lr = lr; self.dropout = dropout; self.emaDecay = emaDecay
        }
        /// Sets what is given (also how `ddpm train` lays its flags over the defaults).
        public func apply(to o: inout TrainOptions) {
            if let totalSteps { o.totalSteps = totalSteps }
            if let lr { o.lr = lr }
            if let dropout { o.config.dropout = dropout }
            if let emaDecay { o.emaDecay = emaDecay }
        }
    }

    /// Starts this (new) run from the weights in `path` instead of random ones:
    /// a fine-tune. The file's tensors must match this run's model, or be the
    /// same model without a learned variance or self-conditioning, which this
    /// run adds; the Adam moments start at zero and the EMA starts at the
    /// loaded weights.
    public func startFrom(weights path: String) throws {
        let f = try SafeTensors.read(path)
        // The model the file holds: a noise-only model grows the variance output, a model of x_t alone
        // the x0 estimate's input; every new weight starts at 0, so training starts from the model's samples
        // (v = 0: Σ halfway between β̃_t and β_t in log; the estimate is not read until training teaches it).
        var narrow = net.config
        if net.config.learnSigma, f.tensors["conv_out.2.weight"]?.shape.first == 1 { narrow.learnSigma = false }
        if net.config.selfCondition, let shape = f.tensors["conv_in.weight"]?.shape, shape.count == 4, shape[1] == 1 {
            narrow.selfCondition = false
        }
        // A tensor the model lacks: the file holds another model, whose extra layers would go unread.
        func refuseExtra(_ layout: ParameterLayout) throws {
            if let extra = f.extraTensorsSaid(layout) {
                throw EngineError.badFile(path: path, reason: "it holds \(extra): weights of another model config")
            }
        }
        guard narrow != net.config else {
            try f.load(into: params.ptr, layout: net.layout)
            try refuseExtra(net.layout)
            ema.ptr.update(from: params.ptr, count: net.parameterCount)
            return
        }
        let small = try UNet(narrow, backend: net.ws.backend), tmp = FloatBuffer(count: small.parameterCount)
        try f.load(into: tmp.ptr, layout: small.layout)
        try refuseExtra(small.layout)
        params.zero(net.parameterCount)
        for e in small.layout.entries {
            let src = tmp.ptr + e.offset, dst = params.ptr + net.layout[e.name]!.offset
            if e.name == "conv_in.weight" && narrow.inputChannels != net.config.inputChannels {
                // [cout, 1, 3, 3] into the x_t plane of [cout, 2, 3, 3].
                let k = 9 * narrow.inputChannels, wide = 9 * net.config.inputChannels
                for o in 0..<(e.count / k) { (dst + o * wide).update(from: src + o * k, count: k) }
            } else {
                // conv_out.2's [1, C, 3, 3] and [1] fill the first rows of [2, C, 3, 3] and [2]; the rest as they are.
                dst.update(from: src, count: e.count)
            }
        }
        ema.ptr.update(from: params.ptr, count: net.parameterCount)
    }

    /// Restores a checkpoint written by `saveCheckpoint`. Options come from the
    /// file, except what `changes` sets.
    public static func resume(_ path: String, data: Dataset, changes: ResumeChanges = ResumeChanges(),
                              backend: Backend = .detected) throws -> Trainer {
        let f = try SafeTensors.read(path)
        let state = try Checkpoint.trainState(f.metadata, path: path)
        // The data order is a function of the seed, the step and the set's size:
        // a resume on another number of images would not continue the run.
        if let s = f.metadata["images"] {
            guard let recorded = Int(s), recorded >= 1 else {
                throw EngineError.badFile(path: path, reason: "its metadata's images (\(s)) is not a count of training images")
            }
            if recorded != data.count {
                throw EngineError.invalidArgument("\(path) trained on \(recorded) images; this set has \(data.count)")
            }
        }
        var opts = state.options
        changes.apply(to: &opts)
        let tr = try Trainer(options: opts, backend: backend, data: data)
        let L = tr.net.layout
        try f.load(into: tr.ema.ptr, layout: L)
        try f.load(into: tr.params.ptr, layout: L, prefix: "train.")
        try f.load(into: tr.adamM.ptr, layout: L, prefix: "adam_m.")
        try f.load(into: tr.adamV.ptr, layout: L, prefix: "adam_v.")
        // Adam's second moments are running means of squares: a negative one (a damaged or forged
        // file) makes the next update's square root NaN, and every weight with it.
        if let i = (0..<tr.count).first(where: { !(tr.adamV.ptr[$0] >= 0) }) {
            throw EngineError.badFile(path: path, reason: "Adam's second moment \(tr.adamV.ptr[i]) at index \(i) of adam_v.* is negative: the optimiser state is damaged")
        }
        tr.step = state.step
        tr.rng = RNG(state: state.rng)
        if let b = state.bucketLoss { tr.bucketLoss = b }
        if let l = state.recentLosses { tr.recentLosses.append(contentsOf: l) }
        tr.lastLoss = state.loss
        tr.pendingFit = state.pendingFit
        return tr
    }
}
