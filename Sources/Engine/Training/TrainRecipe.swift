// TrainRecipe.swift: the two ways to train from scratch the tools offer: a lecture demo and the full run.

/// A named set of training options. `ddpm train` starts from the full recipe
/// (`--recipe demo` for the other); `ddpm train --tui` and `g` in the explorer
/// offer both. Flags given on the command line change a recipe's options.
public enum TrainRecipe: String, CaseIterable, Codable, Sendable {
    /// Digits in front of a class within minutes: small batches (many updates
    /// per second), a high learning rate with a short warm-up, a short EMA, no
    /// dropout, the network predicting v (Salimans and Ho 2022: at this length
    /// its digits read as digits far sooner than ε-prediction's), min-SNR-5 loss
    /// weighting (the low-noise steps, which teach little about a digit's
    /// shape, weigh less) and a cosine schedule whose length is sized to the
    /// machine (`demoFit`): at most `demoSteps`, fewer where that would take
    /// more than a few minutes. Still the chapter's DDPM (Tiny U-Net, linear
    /// schedule, T = 1000, the same sampler: v̂ is turned into ε̂) on the real
    /// training set.
    case demo
    /// The first bundled model's (v1) recipe (batch 64, lr 5e-4, warm-up 300,
    /// EMA 0.999, no dropout) for `fullEpochs` epochs.
    case full

    public static let demoSteps = 4800, fullEpochs = 20

    /// The demo's length on this machine: measured over its first 50 steps
    /// (warm-up, previews included), as many steps as end the run 4.5 minutes
    /// after it started, between 1,000 and `demoSteps`. A class watching for
    /// 5 minutes sees the finished run's digits unless the pace sags by more
    /// than a tenth (and then a run whose rate has all but decayed).
    public static let demoFit = LengthFit(seconds: 270, atStep: 50, steps: 1000...demoSteps,
                                          faster: .init(batch: 32, lr: 1e-3, steps: 1200...2400))

    /// What menus and messages call it.
    public var title: String { self == .demo ? "lecture demo" : "full run" }

    /// The options for a set of `images` training images, at the recipe's
    /// batch size or `batch` (the full run's length is in epochs, so its steps follow the batch).
    public func options(images: Int, batch: Int? = nil) -> TrainOptions {
        var o = TrainOptions()
        o.config.dropout = 0
        switch self {
        case .demo:
            o.batch = 16; o.lr = 6e-3; o.warmup = 100; o.emaDecay = 0.99; o.weighting = .minSnr; o.objective = .v
        case .full:
            o.batch = 64; o.lr = 5e-4; o.warmup = 300; o.emaDecay = 0.999
        }
        if let batch { o.batch = batch }
        o.totalSteps = self == .demo ? TrainRecipe.demoSteps : TrainRecipe.fullEpochs * o.stepsPerEpoch(images: images)
        return o
    }
}

/// A run sized to the machine's pace: after `atStep` steps (within the
/// warm-up, so the rates so far do not depend on the length), the run's
/// length becomes the number of steps that ends it `seconds` after its start
/// at the pace measured so far, rounded down to 50 and kept within `steps`
/// (`Trainer.setLength`). Checkpoints from then on record the length chosen,
/// so the run can be resumed, or trained again with `--steps`, bit for bit.
/// One saved before then records the fit still to come (`Trainer.pendingFit`):
/// resumed, the run is sized `atStep` steps after the resume, at the pace
/// measured since (still inside the warm-up: the demo's 50 before its 100).
///
/// `faster`: on a machine whose first steps show it can train at least
/// `faster.steps.lowerBound` steps of `faster.batch` at `faster.lr` in the
/// time left, the run starts over with those (`Trainer.startOver`), and is
/// sized again `atStep` steps into the new run, at its own pace, to end in the
/// time that was left (`faster.steps`; `before` holds the seconds spent before
/// it). Its images per second are not the first setting's (a larger batch
/// uses the cores better), so the length is measured, not carried over. The
/// demo's batch 16 at lr 6e-3 won on a slow machine (about 20,000 images in
/// 4 minutes; measured with ε-prediction); on a host that trains some 50,000
/// (1,450-1,900 steps of 32) batch 32 at lr 1e-3 ended higher, with v. The
/// threshold, 1,200 steps of 32, lies between the two (docs/measurements.md,
/// "The lecture demo predicts v").
public struct LengthFit: Equatable, Sendable, Codable {
    public var seconds: Double, atStep: Int, steps: ClosedRange<Int>
    public var faster: Faster?
    /// Seconds the run had trained before the steps this fit measures (a run
    /// started over); only for saying how long the whole run takes.
    public var before: Double?
    public init(seconds: Double, atStep: Int, steps: ClosedRange<Int>, faster: Faster? = nil, before: Double? = nil) {
        self.seconds = seconds; self.atStep = atStep; self.steps = steps; self.faster = faster; self.before = before
    }

    /// The setting a fast machine's run starts over with.
    public struct Faster: Equatable, Sendable, Codable {
        public var batch: Int, lr: Double, steps: ClosedRange<Int>
        public init(batch: Int, lr: Double, steps: ClosedRange<Int>) {
            self.batch = batch; self.lr = lr; self.steps = steps
        }
    }

    /// The first steps of a run, left out of its pace when the loop says when
    /// they ended (`settledAt`): they allocate the batch's buffers and draw the
    /// first preview, one-off costs that made the length too short.
    public var settle: Int { atStep / 5 }

    /// Steps per second for extrapolating: those after the first `settle`
    /// (which ended `settledAt` seconds in) where given, else all `done`.
    public func pace(done: Int, elapsed: Double, settledAt: Double? = nil) -> Double {
        if let s = settledAt, settle >= 1, done > settle, s >= 0, elapsed > s { return Double(done - settle) / (elapsed - s) }
        return Double(done) / elapsed
    }

    /// Whether a run that took `elapsed` seconds for its first `done` steps of
    /// `batch` images leaves time for the faster setting's shortest length, at
    /// the same images per second (a larger batch trains more, so this errs
    /// towards the first setting; the length itself is measured after the start-over).
    public func fitsFaster(done: Int, batch: Int, elapsed: Double, settledAt: Double? = nil) -> Bool {
        guard let f = faster, done > 0, elapsed > 0, elapsed.isFinite, seconds > elapsed else { return false }
        return (seconds - elapsed) * pace(done: done, elapsed: elapsed, settledAt: settledAt) * Double(batch) / Double(f.batch)
            >= Double(f.steps.lowerBound)
    }

    /// `seconds` in minutes as menus and help say it ("4.5").
    public var minutes: String { String(format: "%g", seconds / 60) }

    /// The length for a run that took `elapsed` seconds for its first `done`
    /// steps (`settledAt` for its first `settle`): those and as many more as
    /// the time left holds at its pace.
    public func length(done: Int, elapsed: Double, settledAt: Double? = nil) -> Int {
        guard done > 0, elapsed > 0, elapsed.isFinite else { return steps.upperBound }
        let fit = Double(done) + (seconds - elapsed) * pace(done: done, elapsed: elapsed, settledAt: settledAt)
        guard fit < Double(steps.upperBound) else { return steps.upperBound }
        return max(Int(fit) / 50 * 50, steps.lowerBound)
    }
}
