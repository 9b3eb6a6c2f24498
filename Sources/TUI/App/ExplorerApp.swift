import Engine
import Foundation

/// Set by SIGTERM/SIGHUP/SIGINT while the explorer runs; the loop polls it.
nonisolated(unsafe) var uiStop: Int32 = 0

/// Runs the explorer: the UI loop on the main thread, engines on their own threads.
enum ExplorerApp {
    struct Options {
        var weights: String?
        var n = 16
        var seed: UInt64 = 0
        var screen: Screen = .sample
        var trainer: Trainer? = nil
        var trainOut: String? = nil
        var crashAfterFrames: Int? = nil
        /// The sampler settings to start with, for a model of T steps (the launch flags).
        var settings: ((Int) -> SamplerSettings)? = nil
    }

    static func run(_ o: Options) throws {
        BLAS.configure()
        // Load everything that can fail before the terminal is taken over.
        var model: (UNet, FloatBuffer, NoiseSchedule)?
        var note = ""
        let path = o.weights ?? Assets.model
        do { let m = try loadModel(path); model = (m.0, m.1, m.2) } catch {
            note = Assets.explain(error, reading: path, training: false)
            if o.weights != nil && o.trainer == nil { throw CLIError("\(error)") }
        }
        var settings: SamplerSettings?
        if let f = o.settings, let sched = model?.2 {
            settings = f(sched.T)
            try wrap { try settings!.validate(T: sched.T) }
        }
        let digits = try? Dataset.load(dir: Assets.mnist, train: false, limit: 200)
        let trainable = FileManager.default.fileExists(atPath: Assets.mnist + "/train-images-idx3-ubyte.gz")

        let term = try Terminal()
        defer { term.shutdown() }
        for s in [SIGINT, SIGTERM, SIGHUP] { signal(s) { sig in uiStop = sig } }

        let (w, h) = term.size
        var state = AppState(caps: term.caps, width: w, height: h, schedule: model?.2 ?? (try! NoiseSchedule()))
        state.screen = o.screen
        state.n = o.n; state.seed = o.seed
        if let settings { state.settings = settings }
        state.hasModel = model != nil
        state.modelNote = note
        state.forwardDigits = digits
        state.trainingAvailable = trainable

        var sampleEngine: RunnerThread?
        if let (net, params, sched) = model {
            let r = Runner(model: UNetPredictor(net: net, params: params), schedule: sched)
            let e = RunnerThread(r)
            e.start()
            e.send(.startSampling(state.settings, n: o.n, seed: o.seed))
            sampleEngine = e
            if o.trainer != nil { e.send(.pause) }
        }
        var trainEngine: RunnerThread?
        var trainOut = o.trainOut
        func startTrainEngine(_ tr: Trainer) {
            let pred = UNetPredictor(net: try! UNet(tr.options.config), params: tr.ema)
            let r = Runner(model: pred, schedule: tr.schedule, trainer: tr)
            let e = RunnerThread(r)
            e.start()
            e.send(.startTraining)
            trainEngine = e
        }
        if let tr = o.trainer { startTrainEngine(tr) }
        var startedTrainer: Trainer?
        defer {
            sampleEngine?.stop()
            if let te = trainEngine {
                te.stop()
                if let out = trainOut, let tr = o.trainer ?? startedTrainer { try? tr.saveCheckpoint(out) }
            }
        }
        var lastVersion = -1, lastTrainVersion = -1
        var frames = 0
        // Draw only when something changed (a key, a resize, a new engine state):
        // a paused explorer then costs only the key poll.
        var dirty = true
        while !state.quitting && uiStop == 0 {
            // Keys first (drain what is queued), then the newest engine state, then draw.
            var k = term.readKey(timeoutMs: 33)
            while let key = k {
                if let key {
                    dirty = true
                    for eff in reduce(&state, .key(key)) {
                        switch eff {
                        case .command(var c):
                            if case .saveCheckpoint = c { c = .saveCheckpoint(trainOut ?? "ddpm-train.safetensors") }
                            (state.screen == .train ? trainEngine : sampleEngine)?.send(c)
                        case .exportPNG: state.message = export(state)
                        case .quit: state.quitting = true
                        case .startTraining:
                            do {
                                var opts = TrainOptions(); opts.batch = 64; opts.totalSteps = 9370
                                let ds = try Assets.loadMNIST(train: true)
                                let tr = try Trainer(options: opts, data: ds)
                                startedTrainer = tr
                                trainOut = trainOut ?? "ddpm-train.safetensors"
                                sampleEngine?.send(.pause)
                                startTrainEngine(tr)
                                state.message = "training a new Tiny model (10 epochs); w saves to \(trainOut!)"
                            } catch { state.message = "cannot start training: \(error)" }
                        }
                    }
                }
                if state.quitting { break }
                k = term.readKey(timeoutMs: 0)
            }
            let (nw, nh) = term.size
            if nw != state.width || nh != state.height { _ = reduce(&state, .resize(width: nw, height: nh)); dirty = true }
            if let e = sampleEngine {
                let snap = e.snapshot
                if snap.version != lastVersion { lastVersion = snap.version; _ = reduce(&state, .engine(snap)); dirty = true }
            }
            if let e = trainEngine {
                let snap = e.snapshot
                if snap.version != lastTrainVersion { lastTrainVersion = snap.version; _ = reduce(&state, .trainEngine(snap)); dirty = true }
            }
            guard dirty else { continue }
            dirty = false
            term.draw(render(state))
            frames += 1
            if let c = o.crashAfterFrames, frames >= c { throw CLIError("internal error (simulated by DDPM_TEST_INTERNAL_ERROR)") }
        }
    }

    /// Writes the displayed x_t and x0 grids as PNG files; returns the message shown.
    static func export(_ s: AppState) -> String {
        let snap = s.snapshot
        let idx = s.scrub ?? (snap.history.count - 1)
        guard idx >= 0, idx < snap.history.count else { return "nothing to export yet" }
        let f = snap.history[idx]
        let dir = ProcessInfo.processInfo.environment["DDPM_EXPORT_DIR"] ?? FileManager.default.currentDirectoryPath
        let base = "\(dir)/ddpm-seed\(snap.seed)-t\(f.t)"
        do {
            let xt = f.xtFloats().map { $0 / SampleView.xtRange }
            try ImageWriter.write(base + "-xt.png", images: crop(xt, n: f.n, from: f.size), n: f.n, side: 28)
            try ImageWriter.write(base + "-x0.png", images: crop(f.x0Floats(), n: f.n, from: f.size), n: f.n, side: 28)
            return "exported \(base)-xt.png and -x0.png"
        } catch { return "export failed: \(error)" }
    }
}
