// TrainCommand.swift: `ddpm train`: options, data, a new or resumed trainer.
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
        a checkpoint and exits 0 (with --tui, as the explorer, 128 + the signal: 130 for Ctrl-C); --resume continues exactly where it stopped (same --steps gives the same \
        learning-rate schedule). A resumed run takes its options from the checkpoint; --steps/--epochs, --lr, \
        --dropout and --ema given with --resume change them from there on (e.g. a fine-tune without dropout: \
        --resume --dropout 0 --steps N). A NaN/Inf loss stops training, names the step and keeps the last checkpoint.
        """)

    @Option(help: "Starting options: demo (a lecture's live run, a few minutes) or full (the first bundled model's, v1); flags below change them (default: demo with --tui, full otherwise).") var recipe: String?
    @Option(help: ArgumentHelp("Model config: tiny, small or a config JSON (default tiny), e.g. {\"nChannels\": 16, \"chMults\": [1, 2, 4], \"nBlocks\": 1, \"imageSize\": 28, \"attention\": [2]}.", valueName: "config")) var config: String?
    @Option(parsing: .unconditional, help: "Add the chapter's AttentionBlock at these levels (indices into ch_mults, e.g. 1 or 1,2).") var attention: String?
    @Option(help: "Folder with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (default: bundled MNIST).") var data: String?
    @Option(parsing: .unconditional, help: "Total optimisation steps (the cosine schedule ends here; the demo's default: as many as this machine trains in about \(TrainRecipe.demoFit.minutes) minutes, \(TrainRecipe.demoFit.steps.lowerBound) to \(TrainRecipe.demoFit.steps.upperBound)).") var steps: Int?
    @Option(parsing: .unconditional, help: "Train for this many epochs instead of --steps.") var epochs: Double?
    @Option(parsing: .unconditional, help: "Batch size (full recipe \(Self.full.batch), demo \(Self.demo.batch)).") var batch: Int?
    @Option(parsing: .unconditional, help: "Peak learning rate (Adam; full recipe \(Self.full.lr), demo \(Self.demo.lr)).") var lr: Double?
    @Option(parsing: .unconditional, help: "Warm-up steps, at most a tenth of the run's (full recipe \(Self.full.warmup), demo \(Self.demo.warmup)).") var warmup: Int?
    @Option(help: "Noise schedule: linear, cosine, quadratic, sigmoid (default linear; --init and --resume keep their file's).") var schedule: String?
    @Option(name: [.customShort("T"), .customLong("T")], parsing: .unconditional, help: "Diffusion steps T (2...100000; default 1000; --init and --resume keep their file's).") var T: Int?
    @Option(help: "Loss: mse or l1 (default mse).") var loss: String?
    @Option(help: "What the network predicts: eps (the noise, DDPM's choice), x0 (the clean image) or v (sqrt(abar) eps - sqrt(1-abar) x0). Default: the recipe's (full \(Self.full.objective.rawValue), demo \(Self.demo.objective.rawValue)); with --init the file's; eps with --learn-sigma. Weightings other than simple are defined on the eps scale and converted (min-SNR becomes min(SNR, 5) for x0, min(SNR, 5)/(1+SNR) for v).") var objective: String?
    @Option(help: "Loss weighting: simple, snr, min-snr, importance (full recipe \(Self.full.weighting.rawValue), demo \(Self.demo.weighting.rawValue)).") var weighting: String?
    @Option(parsing: .unconditional, help: "EMA decay of the weights used for sampling (full recipe \(Self.full.emaDecay), demo \(Self.demo.emaDecay)).") var ema: Double?
    @Option(parsing: .unconditional, help: "Dropout inside residual blocks (both recipes: \(Self.full.config.dropout)).") var dropout: Double?
    @Option(parsing: .unconditional, help: "Random seed (default 0).") var seed: UInt64?
    @Option(parsing: .unconditional, help: "Use only the first N training images.") var limit: Int?
    @Option(parsing: .unconditional, help: ArgumentHelp("Draw training images by label with these relative weights (each 0...1e6), one per label 0, 1, ... (e.g. ten for MNIST): an image of label c is drawn with probability proportional to its weight, with replacement; default: every image once per epoch.", valueName: "w0,w1,...")) var classWeights: String?
    @Option(help: "Kernels: avx512, avx2, reference (im2col + BLIS) or bf16 (training as avx512; the preview samples with bfloat16 convolutions); default: the fastest float kernels this CPU runs.") var backend: String?
    @Option(name: .customLong("out"), help: ArgumentHelp("Checkpoint path (safetensors). With --tui it may be left out for a new run: then the first free ddpm-train*.safetensors beside the explorer's exports (DDPM_EXPORT_DIR, else here), as the explorer's g chooses.", valueName: "out"))
    var outPath: String?
    /// The checkpoint: --out, or the one `run` chose for --tui (validate refuses neither).
    var out: String { outPath ?? "" }
    @Option(help: "Also write the EMA weights alone here at the end.") var export: String?
    @Option(parsing: .unconditional, help: "Steps between checkpoints.") var checkpointEvery: Int = 500
    @Option(parsing: .unconditional, help: "Stop after this many minutes of wall-clock time (saving, as Ctrl-C does); not with --tui. The demo's length is still sized to about \(TrainRecipe.demoFit.minutes) minutes (--steps sets one).") var minutes: Double?
    @Option(parsing: .unconditional, help: "Every this many seconds, sample 64 digits from the EMA weights (DDIM 20 steps, x0 clipped, fixed seed) and print the share the bundled classifier reads with p >= 0.9 among those inked like a digit (the time counts toward --minutes); not with --tui.") var reportEvery: Double?
    @Flag(help: "Continue from the checkpoint at --out.") var resume = false
    @Option(name: .customLong("init"), help: "Start a new run from these weights (a model file of the same config) instead of random ones: a fine-tune. Adam starts afresh; the EMA starts at these weights.") var initWeights: String?
    @Flag(help: "Open the live training view (ncurses).") var tui = false
    @Flag(help: "Also learn the reverse variance (improved DDPM): conv_out gets a second output v, Sigma = exp(f log beta_t + (1-f) log beta~_t) with f = (v+1)/2, trained with L_simple + 0.001 L_vlb (the mean frozen in L_vlb); sample it with --variance learned. With --init from a noise-only model, its weights start the eps output and v starts at 0.")
    var learnSigma = false
    @Flag(help: "Self-conditioning (Chen et al. 2022): the network also reads an estimate of x0, in sampling the previous step's x-hat-0; in training, on half of the steps, its own first guess (a second forward pass, held constant). With --init from a model without it, the estimate's weights start at 0.")
    var selfCondition = false
    @Option(help: ArgumentHelp("Guidance distillation: learn what this model predicts when guided by --weak-teacher (autoguidance, Karras et al. 2024: eps_weak + w (eps_teacher - eps_weak)) instead of the noise; with --init from the same file the run sharpens a model so that plain sampling does what guided sampling did.", valueName: "file")) var teacher: String?
    @Option(help: ArgumentHelp("The weaker model of the same data that --teacher is guided away from (e.g. an earlier bundled model).", valueName: "file")) var weakTeacher: String?
    @Option(parsing: .unconditional, help: "The guidance weight w of --teacher (1: the teacher itself; default 2).") var guidanceWeight: Double?
    @Flag(help: "With --teacher: train on the batch's own noise plus the guidance's offset (w - 1)(eps_teacher - eps_weak) rather than on the guided teacher's prediction, so --class-weights still shape which digits the model draws.") var guidanceOnNoise = false
    @Option(parsing: .unconditional, help: "Guide the teacher at timesteps 0...this only; above it the target is the teacher alone (default: every timestep).") var guidanceMaxT: Int?

    private static var full: TrainOptions { TrainRecipe.full.options(images: MNIST.trainCount) }
    private static var demo: TrainOptions { TrainRecipe.demo.options(images: MNIST.trainCount) }
    /// The recipe the run starts from.
    var chosenRecipe: TrainRecipe { recipe.flatMap(TrainRecipe.init(rawValue:)) ?? (tui ? .demo : .full) }
    /// The noise schedule the flags ask for (linear, T = 1000 where they are not given).
    var scheduleSpec: NoiseSchedule.Spec { .init(kind: ScheduleKind(rawValue: schedule ?? "linear")!, T: T ?? NoiseSchedule.Spec().T) }

    /// The recipe's options for `images` images with the flags given over them (a new run);
    /// `initObjective`: what the --init file predicts.
    func newRunOptions(images: Int, config cfg: UNetConfig, initObjective: Objective? = nil) throws -> TrainOptions {
        var o = chosenRecipe.options(images: images, batch: batch)
        var c = cfg; c.dropout = o.config.dropout
        o.config = c
        o.schedule = scheduleSpec
        if let warmup { o.warmup = warmup }
        o.loss = LossKind(rawValue: loss ?? LossKind.mse.rawValue)!
        // What the network predicts: --objective; else ε for a learned variance (its bound term needs
        // the mean from ε̂); else what the --init file predicts; else the recipe's.
        if let objective { o.objective = Objective(rawValue: objective)! }
        else if c.learnSigma { o.objective = .eps }
        else if let initObjective { o.objective = initObjective }
        if let weighting { o.weighting = Weighting(rawValue: weighting)! }
        if let classWeights { o.classWeights = try Self.parseClassWeights(classWeights) }
        if let teacher, let weakTeacher {
            o.distill = .init(teacher: absolutePath(teacher), weak: absolutePath(weakTeacher), weight: guidanceWeight ?? 2, maxT: guidanceMaxT ?? o.schedule.T - 1, onNoise: guidanceOnNoise)
        }
        o.seed = seed ?? 0
        // --epochs counts passes over the set at the batch in use.
        if let steps { o.totalSteps = steps }
        else if let epochs { o.totalSteps = try Self.steps(epochs: epochs, images: images, batch: o.batch) }
        Trainer.ResumeChanges(totalSteps: nil, lr: lr, dropout: dropout.map { Float($0) }, emaDecay: ema).apply(to: &o)
        return o
    }

    /// The steps of `epochs` passes over `images` at `batch`, said in --epochs'
    /// terms when too many (the engine would name the --steps the user never gave).
    static func steps(epochs: Double, images: Int, batch: Int) throws -> Int {
        let perEpoch = max(1, images / max(1, min(batch, images))), total = (epochs * Double(perEpoch)).rounded(.up)
        guard total <= 100_000_000 else {
            throw ValidationError("--epochs \(String(format: "%g", epochs)) is \(Int(total)) steps (\(perEpoch) a pass over \(images) images at batch \(min(batch, images))), more than 100000000")
        }
        return Int(total)
    }

    /// "w0,w1,...": numbers, each finite and >= 0 (the engine checks the ranges).
    static func parseClassWeights(_ text: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        return try parts.map { part in
            let t = part.trimmingCharacters(in: .whitespaces)
            guard let w = Double(t), w.isFinite else {
                throw ValidationError("--class-weights takes numbers separated by commas (one per label), got '\(EngineError.quoted(String(part)))'")
            }
            return w
        }
    }

    func validate() throws {
        if outPath == nil && (!tui || resume) {
            throw ValidationError(resume ? "--resume continues the checkpoint --out names: give --out FILE"
                                         : "--out names the checkpoint to write (ddpm train --tui chooses one when it is left out)")
        }
        if resume && classWeights != nil { throw ValidationError("--class-weights applies to a new run; --resume continues with the checkpoint's own") }
        if let recipe, TrainRecipe(rawValue: recipe) == nil {
            throw ValidationError("unknown --recipe '\(recipe)' (demo or full)")
        }
        if let minutes { guard minutes > 0, minutes.isFinite else { throw ValidationError("--minutes must be > 0, got \(minutes)") } }
        if let reportEvery { guard reportEvery >= 1, reportEvery.isFinite else { throw ValidationError("--report-every must be >= 1 (seconds), got \(reportEvery)") } }
        if resume && initWeights != nil { throw ValidationError("--init starts a new run; --resume continues one: give one of them") }
        if resume && (teacher != nil || weakTeacher != nil || guidanceWeight != nil || guidanceMaxT != nil || guidanceOnNoise) {
            throw ValidationError("--teacher and its guidance flags apply to a new run; --resume continues with the checkpoint's own")
        }
        if (teacher == nil) != (weakTeacher == nil) { throw ValidationError("--teacher and --weak-teacher go together (the teacher is guided away from the weak model)") }
        if (guidanceWeight != nil || guidanceMaxT != nil || guidanceOnNoise) && teacher == nil { throw ValidationError("--guidance-weight, --guidance-max-t and --guidance-on-noise shape --teacher's guidance: add --teacher and --weak-teacher") }
        if tui && teacher != nil { throw ValidationError("--teacher is for the plain loop, not --tui") }
        if reportEvery != nil && data != nil {
            throw ValidationError("--report-every reads the preview with the bundled MNIST classifier; with --data it would read another set's images as digits")
        }
        if tui && (minutes != nil || reportEvery != nil) { throw ValidationError("--minutes and --report-every are for the plain loop, not --tui") }
        _ = try backendOption(backend)
        _ = try modelConfig(config ?? "tiny", attention: attention)
        // Training options have their own flags: a config JSON's would be overridden (dropout) or disagree (learnSigma).
        let flags = [("dropout", "--dropout"), ("learnSigma", "--learn-sigma"), ("selfCondition", "--self-condition")]
        if let config, let (key, flag) = flags.first(where: { config.contains("\"\($0.0)\"") }) {
            throw ValidationError("train --config: set '\(key)' with \(flag), not in the JSON")
        }
        if let schedule, ScheduleKind(rawValue: schedule) == nil { throw ValidationError("unknown --schedule '\(schedule)'") }
        if let loss, LossKind(rawValue: loss) == nil { throw ValidationError("unknown --loss '\(loss)' (mse or l1)") }
        if let objective, Objective(rawValue: objective) == nil { throw ValidationError("unknown --objective '\(objective)' (eps, x0 or v)") }
        if let weighting, Weighting(rawValue: weighting) == nil { throw ValidationError("unknown --weighting '\(weighting)'") }
        // --epochs first: the engine would see only the steps it makes.
        if let epochs { guard epochs > 0, epochs <= 10_000 else { throw ValidationError("--epochs must be in (0, 10000], got \(epochs)") } }
        if steps != nil && epochs != nil { throw ValidationError("give --steps or --epochs, not both") }
        // The engine's own checks of every option it takes (ranges written once, in Engine).
        try validating {
            var c = try modelConfig(config ?? "tiny", attention: attention)
            c.learnSigma = learnSigma; c.selfCondition = selfCondition
            try newRunOptions(images: min(limit ?? MNIST.trainCount, MNIST.trainCount), config: c).validate()
            // A model that trains but could never be sampled is refused (a resume keeps its own schedule).
            if !resume, let why = try NoiseSchedule(scheduleSpec).cannotSample {
                throw ValidationError(why + "; a smaller -T (or another --schedule) samples")
            }
        }
        guard checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be >= 1, got \(checkpointEvery)") }
        if let limit { guard limit >= 1 else { throw ValidationError("--limit must be >= 1, got \(limit)") } }
    }

    func run() throws {
        // --tui without --out: the name the explorer's g would choose, once, before anything reads `out`.
        if outPath == nil {
            var chosen = self
            chosen.outPath = ExplorerApp.freeTrainOut((ExplorerApp.defaultExportDir as NSString).appendingPathComponent(ExplorerApp.defaultTrainOut))
            return try chosen.run()
        }
        try wrap {
            // A resumed run takes its model from the checkpoint (so Small pads to 32 without --config small).
            // --init takes its model from the weights file (its dropout from the recipe or flag).
            let resumed = resume && FileManager.default.fileExists(atPath: out) ? try SafeTensors.read(out).metadata : nil
            let resumedOptions = try resumed.map { try Checkpoint.trainState($0, path: out).options }
            // --seed and --loss other than the checkpoint's were taken and dropped (its "command" recorded
            // them); the same values, as info's "trained with" line gives them, pass.
            if let r = resumedOptions {
                if let seed, seed != r.seed { throw CLIError("--seed \(seed): --resume continues with the checkpoint's own, \(r.seed) (leave out --seed)") }
                if let loss, loss != r.loss.rawValue {
                    throw CLIError("--loss \(EngineError.quoted(loss)): --resume continues with the checkpoint's own, \(r.loss.rawValue) (leave out --loss)")
                }
            }
            // A resumed distilling run reads the teachers its checkpoint names: inputs, as a new run's flags are.
            let resumedDistill = resumedOptions?.distill
            var cfg = try resumedOptions?.config ?? modelConfig(config ?? "tiny", attention: attention)
            var initSchedule: NoiseSchedule.Spec?, initObjective: Objective?
            if let initWeights {
                let meta = try wrap { try SafeTensors.read(initWeights).metadata }
                // A file without ddpm's metadata holds the model --config (and --schedule, -T) describe.
                // (A classifier or a recording says what it is: `modelSpec` names it.)
                if meta["config"] == nil && config == nil && meta["format"] == nil {
                    throw CLIError("\(initWeights): its metadata does not say which model it holds; say it with --config (tiny, small or a config JSON; and --attention, --schedule, -T)")
                }
                (cfg, initSchedule) = try wrap {
                    try Checkpoint.modelSpec(meta, path: initWeights, config: meta["config"] == nil ? cfg : nil,
                                             schedule: meta["schedule"] == nil ? scheduleSpec : nil)
                }
                // A fine-tune keeps its weights' schedule: -T or --schedule for another is refused, not dropped.
                if meta["schedule"] != nil, let s = initSchedule,
                   (schedule.map { $0 != s.kind.rawValue } ?? false) || (T.map { $0 != s.T } ?? false) {
                    throw CLIError("--init \(initWeights): its model was trained on the \(s.kind.rawValue) schedule with T \(s.T), which a fine-tune keeps: leave out --schedule and -T")
                }
                initObjective = try wrap { try Checkpoint.objective(meta, path: initWeights) }
            }
            if learnSigma {
                if resume && !cfg.learnSigma { throw CLIError("--learn-sigma changes the model; --resume continues \(out) as it was (start a new run with --init)") }
                cfg.learnSigma = true
            }
            if selfCondition {
                if resume && !cfg.selfCondition { throw CLIError("--self-condition changes the model; --resume continues \(out) as it was (start a new run with --init)") }
                cfg.selfCondition = true
            }
            // What sample, info and export could not load is not trained (an image size they do not draw,
            // more than their 64M parameters): said before the data is read or any memory is taken.
            do { try Checkpoint.checkUsable(cfg) } catch let e as EngineError {
                throw CLIError((resumed != nil ? "\(out): its model: " : initWeights != nil ? "--init \(initWeights!): its model: " : "--config: ") + e.description)
            }
            // A resumed run trains on the set it started on (`data` in its file; none: the bundled MNIST).
            let recorded = resumed?["data"]
            // A checkpoint that records its images but no data trained on the bundled MNIST (both are
            // recorded since 2026-12-02): another --data would switch a resumed run's set silently.
            if let data, resumed?["images"] != nil, recorded == nil, absolutePath(data) != absolutePath(Assets.mnist) {
                throw CLIError("\(out) trained on the bundled MNIST; --resume continues on it (leave out --data)")
            }
            // (A checkpoint from before `data` was recorded takes --data as given.)
            if let data, let recorded, absolutePath(data) != recorded {
                throw CLIError("\(out) trained on \(recorded); --resume continues on it (leave out --data)")
            }
            let dir = data ?? recorded ?? Assets.mnist
            // ... and on as many of its images as it started with (`images`: --limit, or the whole set).
            let recordedImages = resumed?["images"].flatMap { Int($0) }
            if let limit, let recordedImages, limit != recordedImages {
                throw CLIError("\(out) trained on \(recordedImages) images; --resume continues on them (leave out --limit, or give --limit \(recordedImages))")
            }
            var ds = try Assets.reading(dir) { try Dataset.load(dir: dir, train: true, limit: limit ?? recordedImages) }
            do { ds = try ds.padded(to: cfg.imageSize) } catch let e as EngineError {
                throw CLIError("\(dir): \(e)" + (ds.side > cfg.imageSize ? " (a 32x32 set trains with --config small, or --init from a 32x32 model)" : ""))
            }
            var opts = try newRunOptions(images: ds.count, config: cfg, initObjective: initObjective)
            // A fine-tune keeps the noise schedule its weights were trained for.
            if let initSchedule { opts.schedule = initSchedule }
            // ... and guides at every one of its timesteps unless --guidance-max-t says otherwise.
            if guidanceMaxT == nil, opts.distill != nil { opts.distill!.maxT = opts.schedule.T - 1 }
            // The flags given over the checkpoint's options for --resume.
            // (--epochs of a resumed run count passes at the checkpoint's batch, which --batch does not change.)
            let resumedBatch = resumedOptions?.batch
            let epochSteps = try epochs.map { try Self.steps(epochs: $0, images: ds.count, batch: resumedBatch ?? opts.batch) }
            let changes = Trainer.ResumeChanges(totalSteps: steps ?? epochSteps, lr: lr,
                                                dropout: dropout.map { Float($0) }, emaDecay: ema)
            // Fail before any work if an output cannot be written, or would overwrite
            // the weights the run starts from, its digits or the other output (symlinks too).
            try AtomicFile.checkOutputs([("--out", out)] + (export.map { [("--export", $0)] } ?? []),
                                        notOverwriting: (initWeights.map { [("the --init weights", $0)] } ?? []) + Assets.dataInputs(dir == Assets.mnist ? nil : dir)
                                            + (teacher.map { [("the --teacher", $0)] } ?? []) + (weakTeacher.map { [("the --weak-teacher", $0)] } ?? [])
                                            + (resumedDistill.map { [("its --teacher", $0.teacher), ("its --weak-teacher", $0.weak)] } ?? []))
            // A checkpoint is a safetensors file: `--out digits.png` is a slip, not a wish.
            guard (out as NSString).pathExtension.lowercased() == "safetensors" else {
                throw CLIError("--out must be a file name ending in .safetensors (a checkpoint), got '\(EngineError.quoted(out))'")
            }
            // One writer per checkpoint: a second `ddpm train --out` of the same file is refused.
            let lock = try WriterLock(for: out)
            defer { withExtendedLifetime(lock) {} }
            // An earlier run's checkpoint (its optimiser state, its steps) is not replaced silently.
            if !resume && FileManager.default.fileExists(atPath: out) {
                throw CLIError("\(out) exists (an earlier run's checkpoint?): --resume continues it; to start a new run, remove it or give another --out")
            }
            let trainer: Trainer
            if resume {
                trainer = try Trainer.resume(out, data: ds, changes: changes, backend: try backendOption(backend))
                // A length the run has passed trains nothing: said, not done (it said "step 40 of 30" and rewrote the file).
                if let asked = changes.totalSteps, asked < trainer.step {
                    throw CLIError("\(steps != nil ? "--steps \(asked)" : "--epochs \(epochs!) (\(asked) steps)") is fewer than the \(trainer.step) steps \(EngineError.oneLine(out)) has trained: a resumed run goes on from its step (give more)")
                }
                let o = trainer.options
                // (Its settings on a line of their own: at 80 columns one line broke "EMA 0" / ".99".)
                print("resumed \(EngineError.oneLine(out)) at step \(trainer.step) of \(o.totalSteps)\n  lr \(o.lr), dropout \(o.config.dropout), EMA \(o.emaDecay)")
                // What a resumed run keeps from its checkpoint, said rather than dropped silently.
                let kept = [(batch != nil && batch != o.batch, "--batch (it trains at \(o.batch))"),
                            (config != nil || attention != nil, "--config and --attention (its model: \(o.config.name))"),
                            (warmup != nil && warmup != o.warmup, "--warmup (\(o.warmup))"),
                            (schedule != nil && schedule != o.schedule.kind.rawValue, "--schedule (\(o.schedule.kind.rawValue))"),
                            (T != nil && T != o.schedule.T, "-T (\(o.schedule.T))"),
                            (objective != nil && objective != o.objective.rawValue, "--objective (\(o.objective.rawValue))"),
                            (weighting != nil && weighting != o.weighting.rawValue, "--weighting (\(o.weighting.rawValue))"),
                            (recipe != nil, "--recipe (the run's options are its checkpoint's)")]
                    .filter { $0.0 }.map { $0.1 }
                if !kept.isEmpty {
                    print("note: a resumed run keeps its checkpoint's settings; not applied: \(kept.joined(separator: ", ")) (--steps, --epochs, --lr, --dropout and --ema do apply)")
                }
            } else {
                trainer = try Trainer(options: opts, backend: try backendOption(backend), data: ds)
                if let initWeights {
                    do { try trainer.startFrom(weights: initWeights) } catch let e as EngineError {
                        throw CLIError("--init \(initWeights): \(e) — --init takes a U-Net weights file or checkpoint written by ddpm train")
                    }
                    let c = trainer.options.config, o = trainer.options, s = o.schedule
                    print("starting from the weights in \(EngineError.oneLine(initWeights)) (its model: \(c.nChannels) channels x \(c.chMults), \(c.imageSize)x\(c.imageSize), \(s.kind.rawValue) schedule with T \(s.T), predicts \(o.objective.rawValue); --config and --attention do not apply)")
                    // --objective (or --learn-sigma, which trains ε) over the file's: the output is trained toward another target.
                    if let initObjective, initObjective != o.objective {
                        print("note: \(EngineError.oneLine(initWeights)) predicts \(initObjective.rawValue); the run retrains its output to predict \(o.objective.rawValue) (its first steps start from a prediction of another quantity)")
                    }
                }
            }
            if dir != Assets.mnist { trainer.dataSource = absolutePath(dir) }
            if let d = trainer.options.distill {
                if tui { throw CLIError("\(out) distils a teacher: continue it in the plain loop, not --tui") }
                // The guided pair, each as a noise predictor (its own objective turned into ε), in float:
                // bf16 only changes the preview, and a resume on another backend must see the same targets.
                let b = try backendOption(backend)
                // (A resumed run's teachers are named by its checkpoint, not by flags given now.)
                let roles = resume ? ("\(EngineError.oneLine(out))'s --teacher", "\(EngineError.oneLine(out))'s --weak-teacher") : ("--teacher", "--weak-teacher")
                /// The model at `path` and the SHA-256 of its file, which must be `recorded` where one was.
                func load(_ path: String, _ role: String, recorded: String?) throws -> (UNetPredictor, String) {
                    do {
                        let (net, params, schedule, file) = try loadModel(path, backend: b == .bf16 ? .avx512 : b, second: role, sampling: false)
                        // The file read now is the one the run started from (a file of the same path may have been
                        // replaced). Hashed once loaded: the load has refused what is not a regular file (a FIFO).
                        let hash = try sha256(ofFile: path)
                        if let recorded, recorded != hash {
                            throw CLIError("\(role) \(path) is not the file this run started distilling from (SHA-256 \(hash.prefix(12))…, recorded \(recorded.prefix(12))…): put that file back, or start a new run")
                        }
                        if net.config.selfCondition && !trainer.net.config.selfCondition {
                            throw CLIError("\(role) \(path) reads an x0 estimate (self-conditioning) that this run's model would not give it: add --self-condition")
                        }
                        let (s, r) = (schedule.spec, trainer.schedule.spec), side = trainer.net.config.imageSize
                        guard net.config.imageSize == side else {
                            throw CLIError("\(role) \(path): a model of \(net.config.imageSize)x\(net.config.imageSize) images, not the run's \(side)x\(side)")
                        }
                        guard s == r else {
                            throw CLIError("\(role) \(path): its noise schedule is \(s.kind.rawValue) with T \(s.T) (beta \(s.betaStart) to \(s.betaEnd)), not the run's \(r.kind.rawValue) with T \(r.T) (beta \(r.betaStart) to \(r.betaEnd))")
                        }
                        return (try predictor(net, params, schedule, file), hash)
                    } catch let e as EngineError { throw CLIError("\(role) \(e)") }
                }
                if d.teacher == d.weak { print("note: --teacher and --weak-teacher are the same file: the guidance offset is 0") }
                let (good, goodHash) = try load(d.teacher, roles.0, recorded: d.teacherSHA256)
                let (bad, badHash) = try load(d.weak, roles.1, recorded: d.weakSHA256)
                trainer.teacher = AutoGuidedPredictor(good: good, bad: bad, weight: Float(d.weight), interval: 0...d.maxT)
                // A new run records the files; so does a resume of a checkpoint from before they were recorded.
                if d.teacherSHA256 == nil || d.weakSHA256 == nil {
                    if resume { print("note: \(EngineError.oneLine(out)) did not record its teachers' SHA-256; recorded now, from the files at their paths") }
                    trainer.recordTeacherFiles(teacherSHA256: goodHash, weakSHA256: badHash)
                }
                print("distilling \(EngineError.oneLine(d.teacher)) guided away from \(EngineError.oneLine(d.weak)) at w = \(d.weight), t <= \(d.maxT)" + (d.onNoise ? ", as an offset to the noise" : ""))
            }
            for w in trainer.schedule.warnings { print("warning: schedule: \(w)") }
            // The demo without --steps, --epochs or --warmup: as long as this machine trains in a few minutes
            // (its length is set during the recipe's warm-up, which a length of its own would change).
            // Resumed, a run stopped before it was sized is sized after the resume, unless a length is given.
            let lengthGiven = steps != nil || epochs != nil || warmup != nil
            // A batch or rate given is kept: the fit then only sizes the length (no starting over with the faster setting).
            if lengthGiven { trainer.pendingFit = nil } else if !resume && chosenRecipe == .demo {
                var fit = TrainRecipe.demoFit
                if batch != nil || lr != nil { fit.faster = nil }
                trainer.pendingFit = fit
            } else if resume && lr != nil {
                trainer.pendingFit?.faster = nil
            }
            if tui {
                try TrainViewRunner.run(trainer: trainer, out: out, checkpointEvery: checkpointEvery)
                return
            }
            try TrainLoop(trainer: trainer, out: out, export: export, checkpointEvery: checkpointEvery,
                          command: CommandLine.arguments.joined(separator: " "), minutes: minutes,
                          report: try reportEvery.map { (seconds: $0, reader: try digitReader()) },
                          beforeStep: TestHooks.beforeTrainStep, writePauseMs: TestHooks.writePauseMs).run()
        }
    }
}

extension TrainCommand {
    /// The flags that train a checkpoint's run again (`ddpm info`): its options, model, T and data
    /// (defaults left out); numbers as Swift writes them, which read back to the same values. A demo
    /// not sized yet (`pendingFit`) gives --recipe demo and neither --steps nor --warmup, either of
    /// which would turn the sizing off, nor --batch and --lr while it may still start over (they would
    /// keep it from that: the run has the recipe's).
    static func flags(reproducing o: TrainOptions, pendingFit: LengthFit?, metadata: [String: String]) -> String {
        var f = pendingFit != nil ? ["--recipe demo"] : []
        if pendingFit?.faster == nil { f += ["--batch \(o.batch)", "--lr \(o.lr)"] }
        if pendingFit == nil { f += ["--warmup \(o.warmup)", "--steps \(o.totalSteps)"] }
        f += ["--ema \(o.emaDecay)", "--seed \(o.seed)", "--weighting \(o.weighting.rawValue)", "--objective \(o.objective.rawValue)"]
        if o.loss != .mse { f.append("--loss \(o.loss.rawValue)") }
        if o.schedule.kind != .linear { f.append("--schedule \(o.schedule.kind.rawValue)") }
        if o.schedule.T != NoiseSchedule.Spec().T { f.append("-T \(o.schedule.T)") }
        // The network: tiny or small by name (with --attention), else its JSON without what flags say.
        var c = o.config
        c.dropout = UNetConfig.tiny.dropout; c.selfCondition = false; c.learnSigma = false
        let attention = c.attention
        c.attention = []
        if c == .small { f.append("--config small") }
        if c == .tiny || c == .small {
            if !attention.isEmpty { f.append("--attention " + attention.map(String.init).joined(separator: ",")) }
        } else {
            c.attention = attention
            let e = JSONEncoder(); e.outputFormatting = [.sortedKeys]
            if let d = try? e.encode(c), var dict = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] {
                for k in ["dropout", "selfCondition", "learnSigma"] { dict[k] = nil }
                if let j = try? JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys]) {
                    f.append("--config " + shellWord(String(decoding: j, as: UTF8.self)))
                }
            }
        }
        if o.config.dropout > 0 { f.append("--dropout \(o.config.dropout)") }
        if o.config.selfCondition { f.append("--self-condition") }
        if o.config.learnSigma { f.append("--learn-sigma") }
        // (With "=": a list starting "-0.0" would be read as a flag.)
        if let w = o.classWeights { f.append("--class-weights=" + w.map { "\($0)" }.joined(separator: ",")) }
        if let d = o.distill {
            f += ["--teacher " + shellWord(d.teacher), "--weak-teacher " + shellWord(d.weak), "--guidance-weight \(d.weight)", "--guidance-max-t \(d.maxT)"] + (d.onNoise ? ["--guidance-on-noise"] : [])
        }
        if let d = metadata["data"] { f.append("--data " + shellWord(d)) }
        if let n = metadata["images"].flatMap(Int.init), n > 0, n != MNIST.trainCount || metadata["data"] != nil { f.append("--limit \(n)") }
        return f.joined(separator: " ")
    }
}
