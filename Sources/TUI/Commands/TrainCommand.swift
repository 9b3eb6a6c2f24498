// TrainCommand.swift: `ddpm train` and its plain training loop.
import ArgumentParser
import Engine
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the U-Net on MNIST (or any IDX set) and write checkpoints.",
        discussion: """
        Checkpoints (EMA weights under the PyTorch names, plus raw weights, Adam moments, step and RNG state) \
        are written atomically to --out every --checkpoint-every steps and at the end. Ctrl-C or SIGTERM saves \
        a checkpoint and exits 0; --resume continues exactly where it stopped (same --steps gives the same \
        learning-rate schedule). A resumed run takes its options from the checkpoint; --steps/--epochs, --lr, \
        --dropout and --ema given with --resume change them from there on (e.g. a fine-tune without dropout: \
        --resume --dropout 0 --steps N). A NaN/Inf loss stops training, names the step and keeps the last checkpoint.
        """)

    @Option(help: "Model config: tiny or small.") var config: String = "tiny"
    @Option(help: "Add the chapter's AttentionBlock at these levels (indices into ch_mults, e.g. 1 or 1,2).") var attention: String?
    @Option(help: "Folder with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (default: bundled MNIST).") var data: String?
    @Option(parsing: .unconditional, help: "Total optimisation steps (the cosine schedule ends here).") var steps: Int?
    @Option(parsing: .unconditional, help: "Train for this many epochs instead of --steps.") var epochs: Double?
    @Option(parsing: .unconditional, help: "Batch size.") var batch: Int = 128
    @Option(parsing: .unconditional, help: "Peak learning rate (Adam; default \(TrainOptions().lr)).") var lr: Double?
    @Option(parsing: .unconditional, help: "Warm-up steps.") var warmup: Int = 500
    @Option(help: "Noise schedule: linear, cosine, quadratic, sigmoid.") var schedule: String = "linear"
    @Option(name: [.customShort("T"), .customLong("T")], parsing: .unconditional, help: "Diffusion steps T (2...100000).") var T: Int = 1000
    @Option(help: "Loss: mse or l1.") var loss: String = "mse"
    @Option(help: "Loss weighting: simple, snr, min-snr, importance.") var weighting: String = "simple"
    @Option(parsing: .unconditional, help: "EMA decay of the weights used for sampling (default \(TrainOptions().emaDecay)).") var ema: Double?
    @Option(parsing: .unconditional, help: "Dropout inside residual blocks (default \(UNetConfig.tiny.dropout)).") var dropout: Double?
    @Option(parsing: .unconditional, help: "Random seed.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Use only the first N training images.") var limit: Int?
    @Option(help: "Kernels: avx512, avx2 or reference (im2col + BLIS); default: the fastest this CPU runs.") var backend: String?
    @Option(help: "Checkpoint path (safetensors).") var out: String
    @Option(help: "Also write the EMA weights alone here at the end.") var export: String?
    @Option(parsing: .unconditional, help: "Steps between checkpoints.") var checkpointEvery: Int = 500
    @Flag(help: "Continue from the checkpoint at --out.") var resume = false
    @Flag(help: "Open the live training view (ncurses).") var tui = false

    func validate() throws {
        _ = try backendOption(backend)
        _ = try modelConfig(config, attention: attention)
        guard ScheduleKind(rawValue: schedule) != nil else { throw ValidationError("unknown --schedule '\(schedule)'") }
        guard LossKind(rawValue: loss) != nil else { throw ValidationError("unknown --loss '\(loss)' (mse or l1)") }
        guard Weighting(rawValue: weighting) != nil else { throw ValidationError("unknown --weighting '\(weighting)'") }
        // The engine's own checks of every option it takes (ranges written once, in Engine).
        try validating {
            var o = TrainOptions()
            o.config = try modelConfig(config, attention: attention)
            o.batch = batch; o.warmup = warmup
            Trainer.ResumeChanges(totalSteps: steps, lr: lr, dropout: dropout.map { Float($0) }, emaDecay: ema).apply(to: &o)
            try o.validate()
            _ = try NoiseSchedule(kind: ScheduleKind(rawValue: schedule)!, T: T)
        }
        guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be >= 1, got \(checkpointEvery)") }
        if let epochs { guard epochs > 0, epochs <= 10_000 else { throw ValidationError("--epochs must be in (0, 10000], got \(epochs)") } }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        if let limit { guard limit >= 1 else { throw ValidationError("--limit must be >= 1, got \(limit)") } }
    }

    func run() throws {
        try wrap {
            let cfg = try modelConfig(config, attention: attention)
            let dir = data ?? Assets.mnist
            var ds = try Assets.reading(dir) { try Dataset.load(dir: dir, train: true, limit: limit) }
            do { ds = try ds.padded(to: cfg.imageSize) } catch let e as EngineError { throw CLIError("\(dir): \(e)") }
            var opts = TrainOptions()
            opts.config = cfg
            opts.schedule = NoiseSchedule.Spec(kind: ScheduleKind(rawValue: schedule)!, T: T)
            opts.batch = batch; opts.warmup = warmup
            opts.loss = LossKind(rawValue: loss)!; opts.weighting = Weighting(rawValue: weighting)!
            opts.seed = seed
            let perEpoch = max(1, ds.count / min(batch, ds.count))
            opts.totalSteps = steps ?? Int(((epochs ?? 10) * Double(perEpoch)).rounded(.up))
            // The flags given: over the defaults for a new run, over the checkpoint's options for --resume.
            let changes = Trainer.ResumeChanges(totalSteps: steps ?? (epochs != nil ? opts.totalSteps : nil), lr: lr,
                                                dropout: dropout.map { Float($0) }, emaDecay: ema)
            changes.apply(to: &opts)
            // Fail before any work if the output cannot be written.
            try AtomicFile.checkWritable(out)
            if let export { try AtomicFile.checkWritable(export) }
            let trainer: Trainer
            if resume {
                trainer = try Trainer.resume(out, data: ds, changes: changes, backend: try backendOption(backend))
                let o = trainer.options
                print("resumed \(out) at step \(trainer.step) of \(o.totalSteps) (lr \(o.lr), dropout \(o.config.dropout), EMA \(o.emaDecay))")
            } else {
                trainer = try Trainer(options: opts, backend: try backendOption(backend), data: ds)
            }
            for w in trainer.schedule.warnings { print("warning: schedule: \(w)") }
            if tui {
                try TrainViewRunner.run(trainer: trainer, out: out, checkpointEvery: checkpointEvery)
                return
            }
            try TrainLoop(trainer: trainer, out: out, export: export, checkpointEvery: checkpointEvery,
                          command: CommandLine.arguments.joined(separator: " "),
                          beforeStep: TestHooks.beforeTrainStep, writePauseMs: TestHooks.writePauseMs).run()
        }
    }
}

/// The plain (non-TUI) training loop with progress output and signal handling.
struct TrainLoop {
    let trainer: Trainer
    let out: String
    let export: String?
    let checkpointEvery: Int
    let command: String

    /// Runs before every step (the fault tests' injections; nil in normal use).
    var beforeStep: ((Trainer) -> Void)? = nil
    /// Checkpoint writes pause this long halfway (fault tests; 0 in normal use).
    var writePauseMs = 0

    func run() throws {
        installStopHandlers()
        let total = trainer.options.totalSteps
        let t0 = Benchmark.now()
        let startStep = trainer.step
        var smoothed = Double.nan
        var lastPrint = 0.0
        var wall = 0.0
        func extra() -> [String: String] {
            ["command": command, "wall_time_s": String(format: "%.0f", wall)]
        }
        print("training \(trainer.options.config.name) (\(trainer.count.formatted()) parameters) on \(trainer.data.count) images, batch \(trainer.options.batch), \(total) steps (\(String(format: "%.1f", Double(total) / Double(trainer.stepsPerEpoch))) epochs)")
        while trainer.step < total {
            if stopSignal != 0 {
                try trainer.saveCheckpoint(out, extra: extra(), pauseMidwayMs: writePauseMs)
                print("\nstopped by signal at step \(trainer.step): checkpoint saved to \(out); continue with --resume")
                return
            }
            beforeStep?(trainer)
            let s: StepStats
            do { s = try trainer.trainStep() } catch let e as EngineError {
                if case .diverged(let step, let loss) = e {
                    throw CLIError("training diverged at step \(step) (loss \(loss)); the last good checkpoint \(out) is kept (try a lower --lr)")
                }
                throw e
            }
            smoothed = smoothed.isNaN ? s.loss : 0.98 * smoothed + 0.02 * s.loss
            wall = Benchmark.now() - t0
            let done = trainer.step - startStep
            let ips = Double(done * min(trainer.options.batch, trainer.data.count)) / wall
            let eta = wall / Double(done) * Double(total - trainer.step)
            if trainer.step % checkpointEvery == 0 || trainer.step == total {
                try trainer.saveCheckpoint(out, extra: extra(), pauseMidwayMs: writePauseMs)
            }
            let now = Benchmark.now()
            if isTTY {
                if now - lastPrint > 0.2 || trainer.step == total {
                    let frac = Double(trainer.step) / Double(total)
                    let bar = String(repeating: "█", count: Int(frac * 30)) + String(repeating: "·", count: 30 - Int(frac * 30))
                    print(String(format: "\r%@ step %d/%d  loss %.4f  %.0f img/s  ETA %@ ", bar, trainer.step, total, smoothed, ips, formatDuration(eta)), terminator: "")
                    fflush(stdout); lastPrint = now
                }
            } else if now - lastPrint > 10 || trainer.step == total || trainer.step == startStep + 1 {
                print(String(format: "step %d/%d loss %.4f (smoothed %.4f) lr %.2e %.0f img/s ETA %@", trainer.step, total, s.loss, smoothed, s.lr, ips, formatDuration(eta)))
                fflush(stdout); lastPrint = now
            }
        }
        if isTTY { print("") }
        if let export { try trainer.saveWeights(export, extra: extra()) }
        print(String(format: "done: %d steps in %@, final smoothed loss %.4f; checkpoint %@", total, formatDuration(wall), smoothed, out))
    }
}
