// ExplorerApp.swift: the explorer: loading, the UI loop, effects and the engine threads.
import Engine
import Foundation

/// Set by SIGTERM/SIGHUP/SIGINT while the explorer runs; the loop polls it.
nonisolated(unsafe) var uiStop: Int32 = 0

/// Runs the explorer: the UI loop on the main thread, engines on their own threads.
enum ExplorerApp {
    struct Options {
        var weights: String?
        /// What a weights file without metadata holds (--config, --schedule, --T).
        var modelFile: ModelFileOptions? = nil
        /// An IDX folder instead of the bundled MNIST (--data): the forward view's images and what `g` trains on.
        var data: String? = nil
        /// The classifier that reads the images on screen (--classifier; default: the bundled one for MNIST, none for --data).
        var classifier: String? = nil
        var n = 16
        var seed: UInt64 = 0
        /// The kernels the model samples with (--backend; bf16 says so in the header).
        var backend: Backend = .detected
        var screen: Screen = .sample
        /// Open with the run paused before its first step (--paused), until space.
        var paused = false
        var trainer: Trainer? = nil
        var trainOut: String? = nil
        /// Steps between the training view's own checkpoints (it also saves at the end).
        var checkpointEvery = ExplorerApp.trainCheckpointEvery
        var internalErrorAfterFrames: Int? = nil
        /// After this many frames a thread traps, or aborts (DDPM_TEST_CRASH, DDPM_TEST_ABORT): the crash
        /// handler must give the terminal back.
        var crashAfterFrames: (frames: Int, abort: Bool)? = nil
        /// A recording to replay (and its path) instead of a model.
        var replay: (recording: Recording, path: String)? = nil
        /// The sampler settings to start with, for a model of T steps (the launch flags).
        var settings: ((Int) -> SamplerSettings)? = nil
        /// The classifier of noisy digits that `g` guides with (--guide-classifier; default: the bundled one).
        var guideClassifier: String? = nil
        /// Where `p` writes PNGs: DDPM_EXPORT_DIR (unless empty), else the current folder.
        var exportDir = ExplorerApp.defaultExportDir
    }

    /// What the explorer loads before it takes the terminal over (anything that can fail).
    struct Loaded {
        var model: (UNet, FloatBuffer, NoiseSchedule)?
        /// Why there is no model (shown on the sample view), or "".
        var note = ""
        /// The model's file name and training step, for the header.
        var label = ""
        /// What the model predicts (its output is turned into ε for the samplers).
        var objective: Objective = .eps
        /// Whether the network also reads the previous step's x̂0 (the equation panel says so).
        var selfConditioned = false
        /// The model file and its metadata (what a recording names it by).
        var path = ""
        var metadata: [String: String] = [:]
        var settings: SamplerSettings?
        var digits: Dataset?
        var trainable = false
        /// The bundled classifier, which reads the digits on screen (nil: labels are not shown).
        var reader: DigitReader?
        /// Why the bundled classifier could not be loaded (the labels are missing; said at the start).
        var readerNote: String?
        /// The classifier of noisy digits for `g` (nil: guidance unavailable, `guideNote` says why).
        var guidance: ClassifierGuidance?
        var guideNote = ""

        /// The model at `path` and what the header and recordings say of it.
        mutating func loadModel(_ path: String, given: ModelFileOptions?, backend: Backend) throws {
            let m = try TUI.loadModel(path, given: given, backend: backend)
            let objective = try Checkpoint.objective(m.3.metadata, path: path)
            model = (m.0, m.1, m.2); self.path = path; self.objective = objective
            selfConditioned = m.0.config.selfCondition
            metadata = m.3.metadata
            let step = Checkpoint.step(m.3.metadata).map { " · step \($0)" } ?? ""
            let file = URL(fileURLWithPath: path).lastPathComponent
            label = (file.hasSuffix(".safetensors") ? String(file.dropLast(12)) : file) + step
            // The header says what the network predicts when it is not the noise (samplers still show its ε).
            if objective != .eps { label += " · predicts \(objective.rawValue)" }
            // Samples in bfloat16 are close to, not the same as, the float kernels' (ddpm sample's default).
            if backend == .bf16 { label += " · bf16" }
        }
    }

    /// Whether the sample view's settings suit a model of T steps (and a learned variance or not).
    static func checkSettings(_ settings: SamplerSettings, T: Int, learnsVariance: Bool) throws {
        try settings.validate(T: T); try settings.check(learnsVariance: learnsVariance)
        // Under DDPM too: d switches the run to DDIM with these steps.
        try EngineError.require(settings.steps <= T, "steps", "1...\(T)", settings.steps)
    }

    static func load(_ o: Options) throws -> Loaded {
        var l = Loaded()
        if let (rec, path) = o.replay {
            // A replay loads no model and no classifier: the recording holds the frames and their readings.
            let file = URL(fileURLWithPath: path).lastPathComponent
            l.label = "replay \(file) · \(rec.model.file)" + (rec.model.step.map { " · step \($0)" } ?? "")
                + (rec.model.objective != .eps ? " · predicts \(rec.model.objective.rawValue)" : "")
                + (rec.model.bfloat16 ? " · bf16" : "")
            l.objective = rec.model.objective
            l.selfConditioned = rec.model.selfConditioned
            l.digits = try? Dataset.load(dir: Assets.mnist, train: false, limit: 200)
            return l
        }
        let path = o.weights ?? Assets.model
        l.path = path
        do {
            try l.loadModel(path, given: o.modelFile, backend: o.backend)
        } catch {
            l.note = Assets.explain(error, reading: path, training: false)
            // A file the user named (or described with --config and the like) that cannot be opened is an error, not an empty view.
            if (o.weights != nil || o.modelFile?.isEmpty == false) && o.trainer == nil { throw CLIError("\(error)") }
        }
        if let f = o.settings, let (net, _, sched) = l.model {
            let settings = f(sched.T)
            try wrap { try checkSettings(settings, T: sched.T, learnsVariance: net.config.learnSigma) }
            l.settings = settings
            // Scrubbing keeps every step's x_t and x̂0 of every digit (half floats), a fork as many
            // again: checked now for the sampler it starts with, so a tight memory limit is one line
            // here, not a crash mid-run (a key that lengthens the run checks again: historyRefusal).
            let steps = settings.kind == .ddpm ? sched.T : settings.steps
            let bytes = ExplorerApp.historyBytes(steps: steps, n: o.n, size: net.config.imageSize)
            do { try InputFile.checkMemory(bytes, for: "history") } catch {
                throw CLIError("out of memory: the explorer keeps every one of the \(steps) steps of its \(o.n) digits for scrubbing and forks, "
                               + "about \(bytes >> 20) MiB, and that much cannot be had now (ulimit -v?); a smaller --n or fewer steps (--sampler ddim) need less")
            }
        }
        if let dir = o.data {
            // The user's own set: a bad folder is an error now, not an empty view later.
            do { l.digits = try Dataset.load(dir: dir, train: false, limit: 200) } catch {
                do { l.digits = try Dataset.load(dir: dir, train: true, limit: 200) } catch { throw CLIError("--data: \(error)") }
            }
            do { try l.digits?.checkDrawable(dir) } catch { throw CLIError("--data: \(error)") }
        } else {
            l.digits = try? Dataset.load(dir: Assets.mnist, train: false, limit: 200)
        }
        if let c = o.classifier {
            let (cls, params) = try loadClassifier(c)
            // A classifier of other images, or finite weights whose products overflow, would put wrong
            // or the same labels under every digit: the set's first test digits read through it say so now.
            let reader = DigitReader(net: cls, params: params)
            if let d = l.digits, d.count >= 20, d.side >= MNIST.side {
                let k = min(100, d.count)
                let right = zip(reader.read(d.images, n: k, side: d.side), d.labels)
                    .filter { $0.0.p.isFinite && $0.0.digit == Int($0.1) }.count
                if right * 5 < k {
                    throw CLIError("--classifier \(c) reads \(right) of the first \(k) images of \(o.data == nil ? "MNIST's test set" : "--data") right "
                                   + "(chance: a tenth): it is not a classifier of these images (or its weights are broken)")
                }
            }
            l.reader = reader
        } else if o.data == nil {
            // The bundled classifier reads MNIST digits; another set's images get no labels without --classifier.
            // A damaged one leaves the digits without labels, and the start says why (they vanished unsaid).
            do {
                let (cls, params) = try loadClassifier(Assets.classifier)
                l.reader = DigitReader(net: cls, params: params)
            } catch { l.readerNote = "no digit labels: \(error)" }
        }
        if o.data != nil && o.guideClassifier == nil {
            l.guideNote = "with --data it needs --guide-classifier (the bundled one knows MNIST digits)"
            if l.settings?.guide != nil { throw CLIError("--guide with --data needs --guide-classifier, a classifier of that set's noisy images") }
        } else if let sched = l.model?.2 {
            // Guidance is optional: without its classifier `g` says why, unless the launch flags asked to guide.
            do {
                let g = try loadGuidance(o.guideClassifier ?? Assets.noisyClassifier)
                try g.check(schedule: sched)
                l.guidance = g
            } catch {
                l.guideNote = "\(error)"
                if l.settings?.guide != nil || o.guideClassifier != nil { throw CLIError("\(error)") }
            }
        }
        l.trainable = ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"].contains {
            FileManager.default.fileExists(atPath: (o.data ?? Assets.mnist) + "/" + $0)
        }
        return l
    }

    /// Runs the explorer; returns whether a training run could not be saved at the end (the
    /// farewell says why, after the terminal is restored; the command then exits 1).
    static func run(_ o: Options) throws -> Bool {
        BLAS.configure()
        let loaded = try load(o)
        let term = try Terminal(instead: o.replay.map { "to show the recording without one: ddpm export-gif \($0.path) --out run.gif" }
                                ?? (o.trainer != nil ? "without --tui, ddpm train prints its progress as lines"
                                    : "to write samples to a file use: ddpm sample --out digits.png"))
        var farewell: String?
        // After the terminal is restored: where a training run was saved (a quit never saves silently).
        defer { if let f = farewell { fputs(EngineError.printable(f) + "\n", stderr) } }
        defer { term.shutdown() }
        for s in stopSignals { signal(s) { sig in uiStop = sig } }
        let session = Session(o, loaded, term: term)
        do { try session.loop() } catch { farewell = session.shutdown(); throw error }
        farewell = session.shutdown()
        return session.lostTraining
    }

    /// One run of the explorer: the app state, the terminal and the engine threads.
    final class Session {
        let options: Options
        let term: Terminal
        var state: AppState
        var sampleEngine: RunnerThread?, trainEngine: RunnerThread?
        /// Plays a recording on this thread (no engine thread, no model).
        var replay: ReplayPlayer?
        /// The model file on screen and its metadata (for recordings).
        var modelPath: String, modelMetadata: [String: String]
        /// Messages from background writes (recordings, GIFs), shown when they finish.
        let finishedWrites = Locked<[String]>([])
        /// File names given to writes not yet finished (two quick R presses get two files),
        /// and how many writes are running (quitting waits for them).
        let reservedNames = Locked<Set<String>>([])
        let writesRunning = Locked<Int>(0)
        /// The last recording (R) and GIF (G) written and what they hold: the key again
        /// before a new step says where that file is instead of writing a second copy.
        var lastWritten: [String: (holds: String, name: String)] = [:]
        /// q q with a training run: the count of saves the engine had carried out when the run's save was
        /// asked for. The explorer quits once it saved, and stays, saying why, if it could not (it quit,
        /// and the run was lost).
        var quitAfterSave: Int?
        /// What the last `p` said it wrote (every file of it: a second `p` names them all, not the first).
        var lastExportSaid = ""
        /// Where the training view saves (`w`, quitting): --out, or a default once training starts here.
        var trainOut: String?
        var startedTrainer: Trainer?
        /// Runs a new one stopped before their end (their files and steps): the farewell says how to resume them.
        var stoppedRuns: [(out: String, step: Int, finished: Bool)] = []
        /// The step the running trainer had when its engine started: a run that trained no step since
        /// (a finished run opened with --resume) leaves its file as it was, not rewritten without its metadata.
        var engineStartStep = -1
        /// Whether `tr` trained nothing since its engine started and `out` holds it already.
        func untouched(_ tr: Trainer, _ out: String) -> Bool {
            tr.step == engineStartStep && tr.step > 0 && FileManager.default.fileExists(atPath: out)
        }
        /// The training run could not be saved when the explorer closed: it exits 1, not 0.
        var lostTraining = false
        var lastVersion = -1, lastTrainVersion = -1, frames = 0
        /// The training engine's own classifier buffers (the sampling engine reads digits on its thread).
        let trainReader: DigitReader?
        /// The sampling engine's classifiers (its thread's while it runs), for a sampling engine on another model.
        let sampleReader: DigitReader?, sampleGuidance: ClassifierGuidance?, guideNote: String

        /// The model the explorer opened with (nil: none could be loaded), for `s` to go back to.
        let openedModel: String?

        init(_ o: Options, _ l: Loaded, term: Terminal) {
            options = o; self.term = term; trainOut = o.trainOut
            modelPath = l.path; modelMetadata = l.metadata
            openedModel = l.model != nil && o.replay == nil ? l.path : nil
            trainReader = l.reader?.copy()
            sampleReader = l.reader; sampleGuidance = l.guidance; guideNote = l.guideNote
            let (w, h) = term.size
            state = AppState(caps: term.caps, width: w, height: h, schedule: l.model?.2 ?? (try! NoiseSchedule()))
            state.screen = o.screen
            state.n = o.n; state.seed = o.seed
            if let s = l.settings { state.settings = s }
            state.hasModel = l.model != nil
            state.modelNote = l.note
            state.modelLabel = l.label
            state.objective = l.objective
            state.selfConditioned = l.selfConditioned
            state.forwardDigits = l.digits
            state.trainingAvailable = l.trainable
            if let d = o.data { state.trainDataName = URL(fileURLWithPath: d).lastPathComponent + " (--data)" }
            // (The idle training view said ./ddpm-train*.safetensors whatever DDPM_EXPORT_DIR said.)
            let folder = InputFile.shown(defaultTrainPath)
            state.trainFolder = folder.contains("/") ? (folder as NSString).deletingLastPathComponent : "."
            if l.model != nil {
                startSampleEngine(l, paused: o.trainer != nil || o.paused)
                if o.screen == .compare { sampleEngine?.send(.compare(state.compareSpec)) }
                if o.paused && o.trainer == nil {
                    // One step, so that x_T (and the first x̂0) are on screen while it waits.
                    sampleEngine?.send(.singleStep)
                    state.message = (state.message.map { $0 + "; " } ?? "") + "paused after the first step (--paused): space plays the run"
                }
            }
            if let tr = o.trainer { startTrainEngine(tr) }
            // Said once, whatever else the start says (bf16), in every view.
            if let note = l.readerNote { state.message = state.message.map { $0 + "; " + note } ?? note }
            if let (rec, path) = o.replay {
                let player = ReplayPlayer(rec)
                replay = player
                // It starts at the run's natural pace (about ten seconds in all); + and - step from there.
                state.speedIndex = AppState.speedIndex(nearest: player.naturalPace, fastest: player.fullSpeed)
                player.handle(.setSpeed(state.speedLimit))
                state.replay = URL(fileURLWithPath: path).lastPathComponent
                state.hasModel = true
                state.hasClassifier = !(rec.main.frames.first?.readings.isEmpty ?? true)
                state.trainingAvailable = false
                if let sched = try? NoiseSchedule(rec.schedule) { state.schedule = sched }
                state.settings = rec.main.frames[0].settings
                state.n = rec.n; state.seed = rec.seed; state.replayForks = rec.fork != nil
                // The keys first: after a few seconds a notice wider than the window folds to one row, cut at its end.
                state.message = (state.caps.unicode ? "replay (space pauses, ←/→ scrub, r plays again): " : "replay (space pauses, left/right scrub, r plays again): ")
                    + "\(rec.main.frames.count) steps of \(rec.n) digits" + (rec.fork.map { f in
                        f.from > 0 ? ", forked after t=\(rec.main.frames[f.from - 1].t)" : ", forked at the start" } ?? "")   // from <= frames.count: Recording.read checks it
                    + " from \(state.replay!)"
            }
        }

        /// The sampling engine on a loaded model, running the sample view's settings (or paused).
        func startSampleEngine(_ l: Loaded, paused: Bool) {
            guard let (net, params, sched) = l.model else { return }
            let runner = Runner(model: UNetPredictor(net: net, params: params, objective: l.objective, schedule: sched), schedule: sched)
            runner.reader = l.reader
            runner.guidance = l.guidance
            state.learnsVariance = net.config.learnSigma
            // A model that learns its variance compares it with the two fixed ones.
            if net.config.learnSigma { state.compareValues[.variance] = [0, 1, 2] }
            state.hasClassifier = l.reader != nil
            state.guideUnavailable = l.guidance == nil ? l.guideNote : nil
            let e = RunnerThread(runner)
            e.start()
            e.send(.startSampling(state.settings, n: state.n, seed: state.seed))
            if paused { e.send(.pause) }
            sampleEngine = e
            // The header may have no room for "bf16" (80 columns): say it once at the start.
            if net.ws.bf16 { state.message = "sampling in bfloat16 (--backend bf16): close to, not bit for bit, the default float samples" }
        }

        /// `s` in the training view after a finished run: the sample view samples its checkpoint (the EMA
        /// weights), opened as `ddpm --weights FILE` would, in place of the model it sampled.
        func sampleTrained() {
            guard let out = trainOut, state.trainSnapshot?.finished == true else { return }
            switchModel(to: out, given: nil, back: false)
        }

        /// The sample view on the model in `out`: the trained one, or `back` the one the explorer opened with.
        /// Only the model is read here (a few milliseconds); the classifiers are the sampling engine's, once
        /// its thread has stopped.
        func switchModel(to out: String, given: ModelFileOptions?, back: Bool) {
            do {
                var l = Loaded()
                try l.loadModel(out, given: given, backend: options.backend)
                let (net, _, sched) = l.model!
                guard sampleEngine?.stop() ?? true else {
                    throw CLIError("the sampler is still in a step after 5 s: press s again in a moment")
                }
                sampleEngine = nil
                l.reader = sampleReader; l.guidance = sampleGuidance; l.guideNote = guideNote
                modelPath = l.path; modelMetadata = l.metadata
                state.hasModel = true; state.modelNote = ""
                state.modelLabel = l.label; state.objective = l.objective; state.selfConditioned = l.selfConditioned
                state.schedule = sched
                state.snapshot = RunnerSnapshot(); state.scrub = nil; state.forkFocus = false; state.boundsAsked = 0
                state.pendingFork = nil; state.pendingRestart = nil
                if !net.config.learnSigma { state.compareValues[.variance] = nil }
                // The sample view's settings, where the new model allows them; else the defaults for its T.
                var said = ""
                do { try ExplorerApp.checkSettings(state.settings, T: sched.T, learnsVariance: net.config.learnSigma) } catch {
                    state.settings = SamplerSettings()
                    said = " (its sampler: DDPM; the one before does not fit it)"
                }
                lastVersion = -1; lastWritten = [:]
                state.screen = .sample
                // Beside a training run (going back while the next one trains) sampling waits, as it does when a run starts.
                let training = state.trainingInProgress
                startSampleEngine(l, paused: training)
                if training { said += "; paused while training runs (space plays it, and training slows)" }
                state.sampledRun = back ? nil : state.trainRuns
                let backTo = back ? nil : openedModel.map { URL(fileURLWithPath: $0).lastPathComponent }
                state.message = (back ? "back to the model the explorer opened with: " : "sampling the model trained here: ")
                    + InputFile.shown(out) + said + (backTo.map { " (2, then s: back to \($0))" } ?? "")
            } catch { state.message = "cannot sample \(InputFile.shown(out)): \(error)" }
        }

        /// The trainer's `pendingFit` (the lecture demo) sizes the run.
        func startTrainEngine(_ tr: Trainer) {
            let pred = UNetPredictor(net: try! UNet(tr.options.config, backend: tr.net.ws.backend), params: tr.ema,
                                     objective: tr.options.objective, schedule: tr.schedule, weightsChange: true)
            let runner = Runner(model: pred, schedule: tr.schedule, trainer: tr)
            engineStartStep = tr.step
            // A live preview: 16 digits every 10 s, with the classifier's confident rate over time.
            runner.previewSeconds = 10; runner.previewCount = 16
            runner.reader = trainReader
            runner.checkpoint = (trainOut ?? defaultTrainPath, options.checkpointEvery)
            let e = RunnerThread(runner)
            e.start()
            e.send(.startTraining)
            trainEngine = e
            // In progress until the engine reports it (its state before the start command is not the run).
            state.trainStartPending = true
            state.trainRuns += 1
        }

        /// Stops the engines; returns what to tell the user afterwards (where the training was saved, or why not).
        @discardableResult
        func shutdown() -> String? {
            // A recording or GIF still being written is finished, not lost (up to a minute).
            let end = Date().addingTimeInterval(60)
            while writesRunning.withLock({ $0 }) > 0 && Date() < end { usleep(20_000) }
            sampleEngine?.stop()
            guard let te = trainEngine else { return nil }
            // q with a run going: say on screen what happens before the window closes (the shell then says where it went).
            if state.quitting, let out = trainOut, !(state.trainSnapshot?.finished ?? false) {
                state.message = "saving the training checkpoint to \(InputFile.shown(out)), then quitting..."
                term.draw(render(state))
            }
            // Saved only once the engine thread has left its step (the weights are its): a minute more if need be.
            // Runs a new one replaced were saved then: how to resume them, whatever happens to this one.
            // A command a line, the path last and short (relative in this folder), so that at 80
            // columns the terminal breaks a line, if at all, inside the path, not in a number.
            func commands(_ out: String, resumable: Bool) -> String {
                let word = shellWord(InputFile.shown(out))
                return "\n  explore it: ddpm --weights \(word)" + (resumable ? "\n  train on:   ddpm train --tui --out \(word) --resume" : "")
            }
            // (A finished one too: it is the model a class watched learn.)
            let earlier = stoppedRuns.map {
                $0.finished ? "\nan earlier run finished at step \($0.step):" + commands($0.out, resumable: false)
                            : "\nan earlier run stopped at step \($0.step):" + commands($0.out, resumable: true)
            }.joined()
            guard te.stop() || te.stop(timeout: 60) else {
                lostTraining = true
                return "could not save the training checkpoint: the training thread was still in a step after a minute" + earlier
            }
            guard let out = trainOut, let tr = startedTrainer ?? options.trainer else { return earlier.isEmpty ? nil : String(earlier.dropFirst()) }
            do {
                let kept = untouched(tr, out)
                if !kept { try tr.saveCheckpoint(out) }
                // A checkpoint holds the EMA weights under the model's names: the explorer opens it as it is.
                let shown = InputFile.shown(out)
                let saved = "training checkpoint of step \(tr.step) " + (kept ? "(nothing trained since it was opened) left in" : "saved to")
                    + " \(EngineError.oneLine(shown))"
                // A long path on a line of its own, whole where it fits.
                return (saved.count > 80 ? saved.replacingOccurrences(of: " \(EngineError.oneLine(shown))", with: "\n  \(EngineError.oneLine(shown))") : saved)
                    + commands(out, resumable: tr.step < tr.options.totalSteps) + earlier
            } catch {
                lostTraining = true
                return "could not save the training checkpoint to \(EngineError.oneLine(out)): \(error)" + earlier
            }
        }

        /// The UI loop: keys (all that are queued), then the newest engine
        /// states, then a redraw — only when one of them changed something,
        /// so a paused explorer costs just the key poll.
        func loop() throws {
            var dirty = true
            // The message on screen and since when (a long one folds after a few seconds).
            var shownMessage: String? = nil, shownSince = 0.0
            while !state.quitting && uiStop == 0 {
                if state.message != shownMessage {
                    shownMessage = state.message; shownSince = Benchmark.now(); state.messageFolded = false
                } else if state.message != nil {
                    let folded = state.messageFolded
                    _ = reduce(&state, .tick(messageAge: Benchmark.now() - shownSince))
                    if state.message == nil || state.messageFolded != folded { dirty = true }
                }
                var k = term.readKey(timeoutMs: 33)
                while let key = k {
                    if let key {
                        dirty = true
                        shownMessage = nil   // a key's message starts its few seconds, even if the text is the same
                        for effect in reduce(&state, .key(key)) { perform(effect) }
                    }
                    if state.quitting { break }
                    k = term.readKey(timeoutMs: 0)
                }
                if pollResizeAndEngines() { dirty = true }
                if let before = quitAfterSave, let snap = trainEngine?.snapshot, snap.saveRequests > before {
                    quitAfterSave = nil
                    if let e = snap.saveError {
                        state.message = AppState.unsavedQuitAnswer + "\(e). The run goes on; "
                            + "q q tries again once it can be written (Ctrl-C quits without it)"
                        state.keptMessage = state.message
                        dirty = true
                    } else {
                        state.quitting = true
                        break
                    }
                }
                // Once as the menu opens (`g` clears the last one): the name stays right while it
                // is open, the run in progress keeping its own (`besides`).
                if state.choosingRecipe && state.nextTrainOut == nil { _ = reduce(&state, .nextTrainOut(InputFile.shown(nextTrainOut()))) }
                guard dirty else { continue }
                dirty = false
                term.draw(render(state))
                frames += 1
                if let c = options.crashAfterFrames, frames == c.frames {
                    Thread.detachNewThread { if c.abort { abort() } else { fatalError("simulated crash (DDPM_TEST_CRASH)") } }
                }
                if let c = options.internalErrorAfterFrames, frames >= c {
                    throw CLIError("internal error (simulated by DDPM_TEST_INTERNAL_ERROR)")
                }
            }
        }

        /// Where the next run `g` starts saves: a run of this session keeps its file, so the next takes
        /// the first free name numbered from the first run's (after `train --tui --out
        /// demo.safetensors`, demo-2), skipping that run's file even before it is written; a file an
        /// earlier session left is kept as well.
        func nextTrainOut() -> String {
            if trainEngine != nil, (startedTrainer ?? options.trainer) != nil, let current = trainOut {
                return absolutePath(ExplorerApp.freeTrainOut(options.trainOut ?? defaultTrainPath, besides: current))
            }
            return trainOut ?? absolutePath(ExplorerApp.freeTrainOut(defaultTrainPath))
        }

        /// Where a run `g` starts saves without --out: beside the exports (DDPM_EXPORT_DIR, else the
        /// current folder; the checkpoint had gone to the current folder whatever DDPM_EXPORT_DIR said).
        var defaultTrainPath: String { (options.exportDir as NSString).appendingPathComponent(ExplorerApp.defaultTrainOut) }

        /// Feeds a resize and new engine snapshots to the reducer; true if any arrived.
        func pollResizeAndEngines() -> Bool {
            var changed = false
            let (nw, nh) = term.size
            // (Its effects are carried out: a window made too small pauses a playing run.)
            if nw != state.width || nh != state.height { reduce(&state, .resize(width: nw, height: nh)).forEach(perform); changed = true }
            if let r = replay {
                r.poll(now: Benchmark.now())
                if r.snapshot.version != lastVersion { lastVersion = r.snapshot.version; _ = reduce(&state, .engine(r.snapshot)); changed = true }
            }
            let said = finishedWrites.withLock { m -> [String] in let x = m; m.removeAll(); return x }
            if let last = said.last { state.message = last; state.keptMessage = last; changed = true }
            if let snap = sampleEngine?.snapshot, snap.version != lastVersion {
                lastVersion = snap.version; _ = reduce(&state, .engine(snap)); changed = true
            }
            if let snap = trainEngine?.snapshot, snap.version != lastTrainVersion {
                lastTrainVersion = snap.version; _ = reduce(&state, .trainEngine(snap)); changed = true
            }
            return changed
        }

        /// Carries out what the reducer asked for.
        func perform(_ effect: Effect) {
            switch effect {
            case .command(let c) where replay != nil && state.screen != .train:
                if !replay!.handle(c) { state.message = replayRefusal("that") }
            case .command(var c):
                if case .saveCheckpoint = c { c = .saveCheckpoint(trainOut ?? defaultTrainPath) }
                switch c {
                case .compare, .showCompare: sampleEngine?.send(c)   // whichever view the key left for
                default: (state.screen == .train ? trainEngine : sampleEngine)?.send(c)
                }
            case .exportPNG: state.message = exportPNG(); state.keptMessage = state.message
            case .exportComparePNG: state.message = exportCompare(state, dir: options.exportDir, tag: backendTag); state.keptMessage = state.message
            case .quit:
                // A training run goes first to its file, through the engine, while the explorer still runs:
                // a save that fails leaves the run going and the explorer open (shutdown saves again, at once).
                if let te = trainEngine, let out = trainOut, let snap = state.trainSnapshot, snap.train != nil, !snap.finished {
                    state.quitting = false   // (the reducer's answer to q q: quitting waits for the save)
                    if quitAfterSave == nil {
                        quitAfterSave = te.snapshot.saveRequests
                        te.send(.saveCheckpoint(out))
                    }
                    state.message = "saving the training checkpoint to \(InputFile.shown(out)), then quitting..."
                } else {
                    state.quitting = true
                }
            case .startTraining(let recipe): startTraining(recipe)
            case .sampleTrained: sampleTrained()
            case .sampleOpened:
                if let opened = openedModel { switchModel(to: opened, given: options.modelFile, back: true) }
                else { state.message = "the explorer opened without a model: there is none to go back to" }
            case .record: record()
            case .exportGIF: exportGIF()
            }
        }

        /// What the files written name after their settings when samples are not the float kernels' ("-bf16"):
        /// this run's, or the replayed recording's.
        var backendTag: String {
            (replay.map { $0.recording.model.bfloat16 } ?? (options.backend == .bf16)) ? "-bf16" : ""
        }

        /// A file name in the export folder for the run on screen, never over an earlier one
        /// (named by every sampler the run used, in turn: "ddpm-beta-then-ddim50-eta0.0").
        func exportName(_ ext: String) -> String {
            let snap = state.snapshot
            let stem = ExplorerApp.runStem(snap, dir: options.exportDir) + "-"
                + ExplorerApp.samplersInName(snap.history, else: state.settings) + backendTag
            func name(_ k: Int) -> String { (k == 1 ? stem : "\(stem)-\(k)") + ext }
            return reservedNames.withLock { taken in
                var k = 1
                while taken.contains(name(k)) || FileManager.default.fileExists(atPath: name(k)) { k += 1 }
                taken.insert(name(k))
                return name(k)
            }
        }

        /// Runs `write` on a thread of its own; its message shows when it ends, and quitting waits for it.
        func inBackground(_ name: String, _ write: @escaping @Sendable () -> String) {
            let box = finishedWrites, running = writesRunning, names = reservedNames
            running.withLock { $0 += 1 }
            Thread.detachNewThread {
                let said = write()
                box.withLock { $0.append(said) }
                names.withLock { _ = $0.remove(name) }
                running.withLock { $0 -= 1 }
            }
        }

        /// Makes the recording of the trajectory on screen, on a writing thread (the model
        /// file's SHA-256 is read there): the replayed one, or the live run's so far.
        func recordingMaker() -> @Sendable () throws -> Recording? {
            if let r = replay?.recording { return { r } }
            let snap = state.snapshot, path = modelPath, meta = modelMetadata, spec = state.schedule.spec
            let conditioned = state.selfConditioned, bfloat16 = options.backend == .bf16
            return {
                Recording(snap, model: try Recording.Model.of(file: path, metadata: meta, selfConditioned: conditioned, bfloat16: bfloat16),
                          schedule: spec)
            }
        }

        /// What a recording or GIF of the screen now would hold: the run and how far each side got.
        var trajectoryOnScreen: String {
            let s = state.snapshot
            // (With the samplers each side ran: the same seed, temperature and count of steps with another eta is another run.)
            return "\(state.replay ?? "") \(s.seed) \(s.runTemperature) \(s.history.count) \(s.final != nil) "
                + ExplorerApp.samplersInName(s.history, else: state.settings)
                + " \(s.forkSettings != nil) \(s.forkFrom) \(s.forkHistory.count) \(s.forkFinal != nil) "
                + ExplorerApp.samplersInName(s.forkHistory, else: state.settings)
        }

        /// The file `key` (R, G or p) wrote of what `holds` says, if it is there or still being written.
        func alreadyWritten(_ key: String, holds: String) -> String? {
            guard let w = lastWritten[key], w.holds == holds else { return nil }
            let writing = reservedNames.withLock { $0.contains(w.name) }
            return writing || FileManager.default.fileExists(atPath: w.name) ? InputFile.shown(w.name) : nil
        }

        /// The name of a recording or GIF of the trajectory on screen (`ext` with its dot): one made
        /// before the live run's end says so ("-step300of1000.gif"); a replay's is whole.
        func trajectoryName(_ ext: String) -> String {
            let snap = state.snapshot, steps = snap.history.count, total = max(snap.timesteps.count, steps)
            return exportName(replay == nil && snap.final == nil ? "-step\(steps)of\(total)\(ext)" : ext)
        }

        /// `p`: the grids on screen as PNGs; again with nothing new on screen, where they are.
        func exportPNG() -> String {
            let shown = trajectoryOnScreen + " \(state.scrub ?? -1) \(state.forkFocus)" + (state.zoom ? " zoom \(state.selected)" : "")
            if alreadyWritten("p", holds: shown) != nil {
                // (Nothing more can step on a finished run: then no advice about a step.)
                return "already " + lastExportSaid + (wholeRunShown ? "" : " (p again after a step writes anew)")
            }
            let r = ExplorerApp.export(state, dir: options.exportDir, tag: backendTag)
            if let file = r.file { lastWritten["p"] = (shown, file); lastExportSaid = r.said }
            return r.said
        }

        /// Whether the trajectory on screen can take no more steps (a finished run, forks included,
        /// or a replay): "after a step" would be advice that cannot be followed.
        var wholeRunShown: Bool {
            let s = state.snapshot
            return replay != nil || (s.final != nil && (s.forkSettings == nil || s.forkFinal != nil))
        }

        /// `R`: writes the trajectory so far as a .ddpmtraj file (in the background: 50 MB for 1000 steps).
        func record() {
            let snap = state.snapshot
            let steps = snap.history.count, total = max(snap.timesteps.count, steps)
            let counted = "\(steps) step" + (steps == 1 ? "" : "s")
            if let file = alreadyWritten("R", holds: trajectoryOnScreen) {
                state.message = "already recorded: \(file) holds " + (wholeRunShown ? "the whole run, \(counted)"
                    : (steps == 1 ? "this step" : "these \(counted)") + " (R again after a step records anew)")
                return
            }
            let name = trajectoryName(".ddpmtraj")
            lastWritten["R"] = (trajectoryOnScreen, name)
            let file = InputFile.shown(name)
            state.message = "recording \(counted) to \(file)..."
            let make = recordingMaker(), width = state.width
            inBackground(name) {
                do {
                    guard let rec = try make() else {
                        return "nothing to record yet"
                    }
                    try rec.write(name)
                    let mb = Double((try? FileManager.default.attributesOfItem(atPath: name)[.size] as? Int) ?? 0) / 1e6
                    // The file's name first: a folded message keeps it. The name once when twice does not fit two rows.
                    // (A fork goes into the file too: its name says the original's samplers, so the message says so.)
                    let said = String(format: "recorded %@ (%d%@ step%@%@, %.1f MB); ddpm replay ", file, steps, snap.final == nil ? " of \(total)" : "",
                                      steps == 1 && (snap.final != nil || total == 1) ? "" : "s",
                                      snap.forkSettings != nil ? " and the fork" : "", mb)
                    return said + (said.count + file.count + 9 <= 2 * width ? file + " plays it" : "plays it")
                } catch { return "recording failed: \(error)" }
            }
        }

        /// `G`: the trajectory as an animated GIF (default options; ddpm export-gif has them all).
        func exportGIF() {
            if let file = alreadyWritten("G", holds: trajectoryOnScreen) {
                // A GIF holds the original side only: its end is what counts. What it holds first, so
                // that a long path does not push it off the two rows.
                let whole = replay != nil || state.snapshot.final != nil
                state.message = !whole ? "already exported: \(file) holds these steps (G again after a step writes anew)"
                    : "already exported the whole run" + (state.forking ? " of the original: \(file) (a GIF holds no fork)" : ": \(file)")
                return
            }
            let snap = state.snapshot, steps = snap.history.count
            let name = trajectoryName(".gif")
            lastWritten["G"] = (trajectoryOnScreen, name)
            // A replay's GIF is the whole recording; a live run's, the steps taken so far.
            let finished = replay != nil || snap.final != nil
            state.message = "writing \(InputFile.shown(name))..."
            let make = recordingMaker()
            inBackground(name) {
                do {
                    guard let rec = try make() else {
                        return "nothing to export yet"
                    }
                    let o = TrajectoryGIF.Options()
                    let r = try TrajectoryGIF.write(name, recording: rec, options: o)
                    // A GIF holds the original's trajectory only: say so when there is a fork.
                    return String(format: "exported %@ (%d frame%@%@, plays %.1f s, %@)", InputFile.shown(name), r.frames, r.frames == 1 ? "" : "s",
                                  finished ? "" : steps == 1 ? " of the 1 step so far" : " of the \(steps) steps so far", o.playSeconds(frames: r.frames, final: rec.main.final != nil),
                                  r.bytes < 100_000 ? "\(r.bytes / 1000) kB" : String(format: "%.1f MB", Double(r.bytes) / 1e6))
                        + (rec.fork != nil ? "; the original side only (a GIF does not hold the fork)" : "")
                } catch { return "GIF export failed: \(error)" }
            }
        }

        /// `g` in the training view: a new Tiny model on the bundled MNIST with the recipe chosen.
        func startTraining(_ recipe: TrainRecipe) {
            do {
                // A run that could never be saved (a read-only or deleted folder) is refused before it starts,
                // as `ddpm train` refuses it: a lecture's run was lost at its end.
                let next = nextTrainOut()
                do { try AtomicFile.checkWritable(next) } catch {
                    throw CLIError("the run could not be saved: \(error) (start the explorer in a folder you can write, or train with: ddpm train --tui --out FILE)")
                }
                let ds = try options.data.map { try Dataset.load(dir: $0, train: true) } ?? Assets.loadMNIST(train: true)
                guard ds.side == MNIST.side else {
                    throw CLIError("g trains Tiny on 28x28 images; --data holds \(ds.side)x\(ds.side) (train it with: ddpm train --config small --data DIR)")
                }
                // --backend bf16: training in float as always, the preview sampled in bfloat16 like the sample view.
                let tr = try Trainer(options: recipe.options(images: ds.count), backend: options.backend, data: ds)
                tr.dataSource = options.data.map(absolutePath)
                // After a run, finished or stopped now: keep it (saved where it was going, a stopped one to
                // resume) and give the new run a file of its own.
                var kept = ""
                if let te = trainEngine, let old = startedTrainer ?? options.trainer, let out = trainOut {
                    // Saved only once its engine thread has left the step it was in (the weights are its).
                    guard te.stop() else {
                        throw CLIError("the run in progress is still in a step after 5 s: press g again in a moment")
                    }
                    state.trainSnapshot?.running = false
                    do { if !untouched(old, out) { try old.saveCheckpoint(out) } } catch {
                        throw CLIError("the run in progress stopped at step \(old.step) but could not be saved to \(InputFile.shown(out)): \(error)")
                    }
                    let done = old.step >= old.options.totalSteps
                    kept = done ? "; the finished run is saved in \(InputFile.shown(out))"
                        : "; the run before: \(InputFile.shown(out)) (step \(old.step))"
                    stoppedRuns.append((out, old.step, done))
                }
                trainOut = next
                startedTrainer = tr
                // Sampling pauses: the two share the cores (space in the sample view resumes it, and training slows).
                let sampling = state.snapshot.running
                sampleEngine?.send(.pause)
                // (Read before the engine thread starts: the demo's length changes on it; the status line says the bound.)
                let steps = tr.options.totalSteps
                tr.pendingFit = recipe == .demo ? TrainRecipe.demoFit : nil
                startTrainEngine(tr)
                // Until the new engine reports, the finished run on screen is not the one s would open.
                state.trainSnapshot?.finished = false
                // Where w saves first: after a few seconds a long message folds to one row, cut at its end.
                let length = recipe == .demo ? "sized to this machine at step \(TrainRecipe.demoFit.atStep)" : "\(steps) steps"
                // The run before first: at 80 columns two rows hold it, not "sampling paused" too.
                // With a run before, its file is the news (the panel says where this one saves): one path, so
                // that two rows hold it at 80 columns, and kept on screen until a key, as an export's is.
                state.message = "training Tiny (\(recipe.title), \(length))" + (kept.isEmpty ? "; w saves to \(InputFile.shown(trainOut!))" : kept)
                    + (sampling ? "; sampling paused meanwhile" : "")
                if !kept.isEmpty { state.keptMessage = state.message }
            } catch {
                // No new run: none is pending (the old one, if any, was stopped and reported before).
                state.trainStartPending = false
                state.message = "cannot start training: \(error)"
            }
        }
    }

    /// What the history a run keeps for scrubbing and forks takes: every one of `steps` steps' x_t and
    /// x̂0 of `n` digits (half floats), twice (a fork), and room for the rest.
    static func historyBytes(steps: Int, n: Int, size: Int) -> Int {
        2 * Recording.tensorBytes(steps: steps, n: n, size: size, readings: false, final: false, finalReadings: false) + (64 << 20)
    }

    /// Why a sampler of `steps` steps cannot run now (nil: it can): its history cannot be had (ulimit -v, say).
    /// Asked when a key lengthens the run (d, S), so that the run that would not fit is refused, not a crash.
    static func historyRefusal(steps: Int, n: Int, size: Int, sampler: String) -> String? {
        let bytes = historyBytes(steps: steps, n: n, size: size)
        guard (try? InputFile.checkMemory(bytes, for: "history")) == nil else { return nil }
        return "out of memory: \(sampler) keeps its \(steps) steps of \(n) digits for scrubbing and forks, about \(bytes >> 20) MiB, "
            + "which cannot be had now (ulimit -v?); the setting stays"
    }

    /// Steps between the training view's own checkpoints when no --checkpoint-every was given.
    static let trainCheckpointEvery = 500
    /// Where exports (and runs `g` starts) go: DDPM_EXPORT_DIR (unless empty), else the current folder.
    static var defaultExportDir: String {
        ProcessInfo.processInfo.environment["DDPM_EXPORT_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.currentDirectoryPath
    }
    /// Where the training view saves when no --out was given.
    static let defaultTrainOut = "ddpm-train.safetensors"

    /// The samplers a trajectory ran, in file names: each stretch of steps with the same sampler,
    /// steps, eta and variance, in order, joined by "-then-", and the guidance its last guided
    /// step used ("ddpm-beta", "ddpm-beta-then-ddim50-eta0.0-guide7x4"); past four, the first and
    /// the last with a count between ("ddpm-beta-then-5-more-then-dpmpp20"), so that a name stays
    /// far under the file system's 255 bytes; then "-clip" when any of those steps clipped x̂0;
    /// `settings` when nothing ran yet.
    static func samplersInName<F: RanWithSettings>(_ frames: [F], else settings: SamplerSettings) -> String {
        guard !frames.isEmpty else { return settings.fileDescription }
        let runs = SampleView.stretches(frames, \.fileSampler)
        return SampleView.firstAndLast(runs, more: { "\($0)-more" }).joined(separator: "-then-")
            + (frames.last { $0.settings.guide != nil }?.settings.fileGuide ?? "")
            + (frames.first { $0.settings.clip }?.settings.fileClip ?? "")
    }


    /// The first k from `from` on that is not `taken` (outputs never replace earlier files).
    static func firstFree(from: Int, taken: (Int) -> Bool) -> Int {
        var k = from
        while taken(k) { k += 1 }
        return k
    }

    /// The first of ddpm-train.safetensors, ddpm-train-2.safetensors, ... that is not there yet
    /// (numbered from `base`: a second run after `train --tui --out demo.safetensors` is demo-2).
    /// `besides`: a path taken as well (the run in progress, whose file may not be written yet).
    static func freeTrainOut(_ base: String = defaultTrainOut, besides: String? = nil) -> String {
        let name = { (k: Int) in k == 1 ? base : numbered(base, k) }, taken = besides.map(absolutePath)
        return name(firstFree(from: 1) { FileManager.default.fileExists(atPath: name($0)) || absolutePath(name($0)) == taken })
    }

    /// "name-k.ext" for the k-th run of a session.
    static func numbered(_ path: String, _ k: Int) -> String {
        let ext = (path as NSString).pathExtension
        return ((path as NSString).deletingPathExtension) + "-\(k)" + (ext.isEmpty ? "" : "." + ext)
    }

    /// The sampler the rows share, in the compare PNG's name: none where each row has its own, DDIM's
    /// without a count where the rows' counts differ ("-compare-sampler-ddpm-" named one the rows did not share).
    static func compareSamplerTag(_ spec: CompareSpec) -> String {
        switch spec.parameter {
        case .sampler: return ""
        case .steps: return "-ddim"
        default: return "-" + spec.shared.fileTag
        }
    }

    /// The temperatures every row shares, in the compare PNG's name when not 1 ("-temp0.9-noise0.8";
    /// the noise's only where a row draws noise): two exports at different temperatures had one name
    /// but for a number. Not the compared parameter itself, which each row sets.
    static func compareTemperatureTag(_ spec: CompareSpec) -> String {
        let b = spec.base
        let temp = spec.parameter != .temperature && b.temperature != 1 ? String(format: "-temp%.1f", b.temperature) : ""
        let noise = spec.parameter != .noiseTemperature && spec.drawsNoise && b.noiseTemperature != 1
            ? SamplerSettings.fileNoise(b.noiseTemperature) : ""
        return temp + noise
    }

    /// Writes the compare view as one labelled PNG (`tag` ends its name); returns the message shown.
    static func exportCompare(_ s: AppState, dir: String, tag: String = "") -> String {
        guard let c = s.snapshot.compare, !c.rows.isEmpty else { return "nothing to export yet" }
        let stem = "\(dir)/ddpm-compare-\(c.spec.parameter.rawValue.replacingOccurrences(of: " ", with: "-"))\(compareSamplerTag(c.spec))"
            + compareTemperatureTag(c.spec) + "-seed\(c.spec.seed)" + tag
        let name = freeBase(stem, suffixes: [".png"]) + ".png"
        let img = CompareFigure.image(c).scaled(by: exportScale)
        do {
            try AtomicFile.write(name, data: Data(ImageWriter.png(width: img.width, height: img.height, grey: img.pixels)))
            return "exported \(InputFile.shown(name))" + (c.finished ? "" : " (taken mid-run, before the rows finished)")
        } catch { return "export failed: \(error)" }
    }

    /// How many screen pixels a digit's pixel takes in `p`'s PNGs: 16 digits come out
    /// 468x468, a size for a slide (nearest neighbour: the pixels stay sharp).
    static let exportScale = 4

    /// Where a run's files start: the export folder, the seed and the run's temperature ("…/ddpm-seed7-temp1.0").
    static func runStem(_ snap: RunnerSnapshot, dir: String) -> String {
        "\(dir)/ddpm-seed\(snap.seed)-temp\(String(format: "%.1f", snap.runTemperature))"
    }

    /// `stem`, or "stem-2", "stem-3", …: the first for which none of the files `suffixes` would write is there.
    static func freeBase(_ stem: String, suffixes: [String]) -> String {
        let name = { (k: Int) in k == 1 ? stem : "\(stem)-\(k)" }
        return name(firstFree(from: 1) { k in suffixes.contains { FileManager.default.fileExists(atPath: name(k) + $0) } })
    }

    /// One PNG of an export: its name after the base, its images, the grid's columns (nil: square) and scale.
    typealias PNGFile = (suffix: String, images: [Float], cols: Int?, scale: Int)

    /// Writes `files` (suffix, n images of `side`) at the first free base after `stem` as PNGs at `scale`;
    /// returns the message and the first file's path. All or none: when one cannot be written (a full
    /// disk), those written before it are removed, so no export is left half a pair.
    /// `labels`: the labels under each image of the file with that suffix (a zoom's stages, by t).
    static func writePNGs(_ stem: String, _ files: [PNGFile], side: Int,
                          note: String = "", labels: [String: [String]] = [:]) -> (said: String, file: String?) {
        let base = freeBase(stem, suffixes: files.map(\.suffix))
        var written: [String] = []
        do {
            for f in files {
                let count = f.images.count / (side * side)
                try ImageWriter.write(base + f.suffix, images: crop(f.images, n: count, from: side), n: count, side: MNIST.side,
                                      cols: f.cols, scale: f.scale, labels: labels[f.suffix])
                written.append(base + f.suffix)
            }
        } catch {
            for path in written { try? FileManager.default.removeItem(atPath: path) }
            return ("export failed, nothing written: \(error)", nil)
        }
        // Two or more: the name they share, then each one's end ("A-x0.png, -final.png" read as A-x0-final.png).
        let said = files.count == 1 ? "exported \(InputFile.shown(base + files[0].suffix))"
            : "exported \(files.count) PNGs: \(InputFile.shown(base)) + " + files.map(\.suffix).joined(separator: ", ")
        return (said + note, base + files[0].suffix)
    }

    /// `p` in the zoom: the selected digit, x_t (a finished run: its final sample) beside x̂0 at the step shown (8x), and its x̂0 at up to 10
    /// stages of the trajectory so far (the strip's, which shows 5 where 10 do not fit), named by the side's settings and step.
    static func exportZoom(_ s: AppState, _ f: RecordedFrame, at idx: Int, dir: String, tag: String) -> (said: String, file: String?) {
        let history = s.focusHistory, k = min(s.selected, f.n - 1)
        let side = (s.forking ? (s.forkFocus ? "-fork" : "-original") : "")
        // Named as the grids' files are: the side, then what it shows, then the samplers of its steps so far.
        let stem = runStem(s.snapshot, dir: dir) + "\(side)-sample\(k + 1)-t\(f.t)-"
            + samplersInName(Array(history.prefix(idx + 1)), else: s.settings) + tag
        let r = s.xtRange(f)
        // As shown: a finished run's final sample where x_t was (ZoomView.finalDigit).
        let final = ZoomView.finalDigit(s, k, side: f.size)
        let pair = (final ?? ZoomView.digit(f, k, xt: true).map { $0 / r }) + ZoomView.digit(f, k)
        let at = ZoomView.stages(history, count: idx + 1)
        let stages = at.flatMap { ZoomView.digit(history[$0], k) }
        let count = stages.count / (f.size * f.size)
        // Each stage labelled with its t, as the strip on screen is (a slide of bare images said nothing of when);
        // the pair by what each image is (a bare noise square beside a digit said nothing either).
        let pairFile = final != nil ? "-final-x0.png" : "-xt-x0.png"
        let pairLabels = final != nil ? ["final", "x0 t=\(f.t)"] : ["x_t t=\(f.t)", "x0 from it"]
        return writePNGs(stem, [(pairFile, pair, 2, 8), ("-stages.png", stages, count, 4)], side: f.size,
                         note: count == 1 ? " (1 stage)" : " (\(count) stages)", labels: ["-stages.png": at.map { "t=\(history[$0].t)" }, pairFile: pairLabels])
    }

    /// Writes the grids on screen as PNG files (named by what each shows and `tag`, never over an
    /// earlier export); returns the message shown and the first file's path (nil: nothing written).
    static func export(_ s: AppState, dir: String, tag: String = "") -> (said: String, file: String?) {
        let snap = s.snapshot
        let history = s.focusHistory
        let idx = s.scrub ?? (history.count - 1)
        guard idx >= 0, idx < history.count else { return ("nothing to export yet", nil) }
        let f = history[idx]
        if s.zoom { return exportZoom(s, f, at: idx, dir: dir, tag: tag) }
        let scale = exportScale
        if s.forking {
            // Both sides as the grids show them (x̂0, or a side's final samples; no x_t is on screen),
            // each named by what it shows and the samplers that made it (SampleView.grids says both).
            guard let g = SampleView.grids(s) else { return ("nothing to export yet", nil) }
            return writePNGs(runStem(snap, dir: dir) + tag, [("-\(g.leftFile).png", g.left, nil, scale), ("-\(g.rightFile).png", g.right, nil, scale)],
                             side: f.size)
        }
        // The left grid as shown: x_t, or once the run has finished the final samples (the last
        // step's input x_t is not on screen), or after a temperature change the run before it,
        // named by its own temperature and sampler; then x̂0.
        var files: [PNGFile] = []
        let finishedShown = s.scrub == nil && snap.final != nil
        if let c = snap.comparison {
            files.append((String(format: "-before-temp%.1f-", c.temperature) + samplersInName(c.ran, else: c.settings) + (c.finished ? "" : "-t\(c.t)") + ".png",
                          c.images, nil, scale))
        } else if !finishedShown {
            let r = s.xtRange(f)
            files.append(("-xt.png", f.xtFloats().map { $0 / r }, nil, scale))
        }
        files.append(("-x0.png", f.x0Floats(), nil, scale))
        if s.scrub == nil, let fin = snap.final { files.append(("-final.png", fin, nil, scale)) }
        // Named by every sampler the steps up to the one shown ran, as the zoom's and the fork's exports are.
        return writePNGs(runStem(snap, dir: dir) + "-" + samplersInName(Array(history.prefix(idx + 1)), else: s.settings) + "-t\(f.t)" + tag,
                         files, side: f.size)
    }
}
