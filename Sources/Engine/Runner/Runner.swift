// Runner.swift: the engine's synchronous core: handle(command) and tick().
import Foundation
import Synchronization

/// The engine's synchronous core: owns the model, the sampler(s) or the trainer.
/// `handle` applies a command, `tick` does one unit of work; tests drive both by
/// hand, `RunnerThread` runs them on a background thread.
public final class Runner {
    public let model: NoisePredictor
    public let schedule: NoiseSchedule
    public private(set) var sampler: Sampler?
    public private(set) var forkSampler: Sampler?
    public private(set) var snapshot = RunnerSnapshot()
    public let trainer: Trainer?
    public var previewEvery = 200
    /// When set, the EMA preview refreshes by wall-clock time instead (seconds), as a live demo needs.
    public var previewSeconds: Double? = nil
    /// Digits in the EMA preview (the classifier's confident rate is over all of them).
    public var previewCount = 8
    /// Sizes the training run to the machine's pace (the lecture demo), once,
    /// `fit.atStep` steps after training starts: the trainer's `pendingFit`.
    public var fit: LengthFit? {
        get { trainer?.pendingFit }
        set { trainer?.pendingFit = newValue }
    }
    /// The trainer's step when training started (`fit` counts from it).
    private var trainStartStep = 0
    /// Seconds spent in training ticks (steps and previews; pauses are not counted): `fit`'s clock,
    /// which counts from `fitClockFrom` (0, or where the demo started over, to be sized again).
    private var trainingSeconds = 0.0, fitClockFrom = 0.0
    /// The fit's clock when its first `settle` steps ended (left out of its pace).
    private var fitSettledAt: Double?
    /// Where and how often (steps) a training run saves on its own; it also saves when it finishes.
    public var checkpoint: (path: String, every: Int)? = nil
    private var lastPreview = -Double.infinity
    /// Images of the batch kept in the recording (all of them by default).
    public var recordLimit = 64
    /// Reads which digit each x̂0 is becoming (the explorer sets it when the classifier loads).
    public var reader: DigitReader?
    /// The classifier of noisy digits that guided settings steer with (the explorer sets it when it loads).
    public var guidance: ClassifierGuidance?
    /// `snapshot.nonFinite` came from the fork's step (closing the fork lets the original go on).
    private var nonFiniteOnFork = false
    /// Sampling stopped where its output stopped being numbers: it does not resume or step.
    private var stoppedNonFinite: Bool { snapshot.nonFinite != nil && trainer == nil }
    /// The comparison's samplers, one per row (while the compare view has one).
    private var compareSamplers: [Sampler] = []
    /// The main run's state before every `stateStride`-th step, so a fork can
    /// start exactly from any recorded step (restore the nearest, replay the rest).
    private var states: [Int: Sampler.State] = [:]
    private var stateStride = 1
    /// Each side's state before its newest step (`retakeLast`).
    private var beforeLast: Sampler.State?, forkBeforeLast: Sampler.State?
    private var stepTimes: [Double] = []
    private var trainStart = 0.0
    /// Speed and ETA count from the last start or resume, so a pause does not read as training getting slower.
    private var rateStart = 0.0, rateStartStep = 0

    public init(model: NoisePredictor, schedule: NoiseSchedule, trainer: Trainer? = nil) {
        self.model = model; self.schedule = schedule; self.trainer = trainer
    }

    /// Whether `tick` has work: the comparison while the compare view is active, else the main run.
    public var isRunning: Bool { snapshot.comparing ? (snapshot.compare?.running ?? false) : snapshot.running }

    @discardableResult
    public func handle(_ cmd: RunnerCommand) -> [RunnerEvent] {
        if snapshot.comparing, var c = snapshot.compare {
            // While the compare view is shown, pausing and stepping act on its rows.
            var handled = true
            switch cmd {
            case .pause, .singleStep: c.running = false
            case .resume: c.running = !c.finished
            case .togglePause: c.running = !c.running && !c.finished
            default: handled = false
            }
            if handled {
                snapshot.compare = c
                if case .singleStep = cmd { return tick(force: true) }
                bump()
                return []
            }
        }
        do {
            switch cmd {
            case .startSampling(let s, let n, let seed):
                snapshot.comparison = nil
                try startRun(s, n: n, seed: seed)
            case .pause: snapshot.running = false
            case .resume:
                // (A fork of a finished run plays on its own.) Not past a step whose output was not finite.
                if stoppedNonFinite { break }
                if !(sampler?.isFinished ?? false) || !(forkSampler?.isFinished ?? true) || trainer != nil {
                    if let trainer, !snapshot.running { rateStart = Benchmark.now(); rateStartStep = trainer.step }
                    snapshot.running = true
                }
            case .togglePause:
                if snapshot.running { snapshot.running = false } else { return handle(.resume) }
            case .singleStep:
                snapshot.running = false
                if stoppedNonFinite { break }
                return tick(force: true)
            case .compare(let spec):
                try startCompare(spec)
            case .showCompare(let on):
                snapshot.comparing = on && snapshot.compare != nil
            case .setSettings(let s):
                try s.validate(T: schedule.T)
                try checkSupported(s)
                snapshot.settings = s
                sampler?.update(s)
                snapshot.timesteps = sampler?.timesteps ?? []
            case .retemper(let s):
                try s.validate(T: schedule.T)
                // The result to compare with: this run's, unless the one kept from an
                // earlier change got further (RunnerSnapshot.keepsComparison); none when the
                // new run is the kept one again (T T t t).
                if snapshot.rerunsComparison(s) {
                    snapshot.comparison = nil
                } else if !snapshot.keepsComparison, let fin = snapshot.final ?? snapshot.history.last?.x0Floats() {
                    // Named by what its steps ran: settings changed on a finished run are the new run's.
                    let ran = snapshot.history.reduce(into: [SamplerSettings]()) { if $0.last != $1.settings { $0.append($1.settings) } }
                    snapshot.comparison = .init(temperature: snapshot.runTemperature, images: fin,
                                                finished: snapshot.final != nil, t: snapshot.history.last?.t ?? 0,
                                                ran: ran,
                                                readings: snapshot.final != nil ? snapshot.finalReadings : (snapshot.history.last?.readings ?? []))
                }
                try startRun(s, n: max(1, snapshot.n), seed: snapshot.seed)
            case .restart(let seed):
                snapshot.comparison = nil
                try startRun(snapshot.settings, n: max(1, snapshot.n), seed: seed)
            case .fork(let s, let at):
                if let s { try checkSupported(s) }
                forkBeforeLast = nil
                if s != nil, let t = snapshot.nonFinite, !nonFiniteOnFork {
                    throw EngineError.invalidArgument(RunnerSnapshot.nothingToFork(t))
                }
                // Closing a fork whose output overflowed lets the original go on.
                if s == nil && nonFiniteOnFork { snapshot.nonFinite = nil; nonFiniteOnFork = false }
                if let s, let base = sampler {
                    let from = at ?? snapshot.history.count
                    // (A step past the run's recording: the screen asked for it from the run before a
                    // restart, t, T or r, that the engine carried out first.)
                    guard from <= snapshot.history.count else {
                        throw EngineError.invalidArgument("not forked: the run started again before f arrived; f forks the new run")
                    }
                    guard from < snapshot.history.count || !base.isFinished else {
                        throw EngineError.invalidArgument("the run has finished: scrub back (←) to the step to fork from")
                    }
                    forkSampler = try (from == base.index ? base : try samplerAt(step: from)).fork(with: s)
                    snapshot.forkSettings = s
                    // The fork's recording starts with the shared past.
                    snapshot.forkHistory = Array(snapshot.history.prefix(from))
                    snapshot.forkFinal = nil; snapshot.forkFinalReadings = []
                    snapshot.forkFrom = from
                    // A running run runs on with its fork; a paused one stays paused (a lecture paused to explain
                    // keeps its moment), and so does the fork of a finished one: its settings can change before
                    // its first own step, and space plays it.
                    if !(forkSampler?.isFinished ?? true) { snapshot.finished = false }
                } else {
                    forkSampler = nil; snapshot.forkSettings = nil; snapshot.forkHistory = []; snapshot.forkFinal = nil
                    snapshot.forkFinalReadings = []
                    // The fork of a finished run took its "finished" away: closed, the run is finished again.
                    if let base = sampler, base.isFinished, snapshot.final != nil { snapshot.finished = true; snapshot.running = false }
                }
            case .setForkSettings(let s):
                try s.validate(T: schedule.T)
                try checkSupported(s)
                guard let fs = forkSampler else { break }
                fs.update(s)
                snapshot.forkSettings = s
            case .retakeLast(let onFork):
                let events = retakeLast(onFork: onFork)
                bump()
                return events
            case .setSpeed(let v): snapshot.speedLimit = v
            case .bound(let image, let size, let digit, let variance, let draws):
                defer { snapshot.boundsAnswered += 1 }
                var ds = Dataset(images: image, labels: [0], side: size)
                ds = try ds.padded(to: model.imageSize)
                let t0 = Benchmark.now()
                let copies = Array(repeating: ds.images, count: draws).flatMap { $0 }
                let r = VariationalBound.compute(model: model, schedule: schedule, images: copies, n: draws, size: ds.side,
                                                 variance: variance, clip: false, seed: UInt64(digit), batch: draws, measuredSide: size)
                snapshot.bound = .init(digit: digit, variance: variance, result: r, seconds: Benchmark.now() - t0)
                snapshot.bounds[digit] = snapshot.bound
            case .startTraining:
                guard trainer != nil else { return [.error("no trainer")] }
                snapshot.train = TrainMetrics()
                snapshot.train?.T = trainer!.schedule.T
                // A resumed run's curve goes on from the steps before (the checkpoint keeps them).
                snapshot.train?.step = trainer!.step
                snapshot.train?.losses = trainer!.recentLosses.map(Double.init)
                // Its length and weighting before its first step (a run resumed after its end takes none:
                // the screen said "starting the run" beside "finished", the loss title lost its weighting).
                snapshot.train?.totalSteps = trainer!.options.totalSteps; snapshot.train?.epoch = trainer!.epoch
                snapshot.train?.lossWeighting = trainer!.options.weighting; snapshot.train?.minSnrGamma = trainer!.options.minSnrGamma
                snapshot.train?.savesTo = checkpoint?.path
                trainingSeconds = 0; fitClockFrom = 0; fitSettledAt = nil
                trainStart = Benchmark.now()
                rateStart = trainStart; rateStartStep = trainer!.step; trainStartStep = trainer!.step
                snapshot.running = true
            case .saveCheckpoint(let path):
                snapshot.saveRequests += 1
                guard let trainer else {
                    let none = "nothing to save: not training"
                    snapshot.saveError = none
                    return [.error(none)]
                }
                do { try trainer.saveCheckpoint(path) } catch { snapshot.saveError = "\(error)"; throw error }
                snapshot.saveError = nil
                snapshot.train?.lastSaved = "\(path) (step \(trainer.step))"
                snapshot.message = "checkpoint saved to \(path) (step \(trainer.step))"
                bump()
                return [.saved(path)]
            case .quit: snapshot.running = false
            }
        } catch {
            snapshot.message = "\(error)"
            snapshot.refusals += 1
            bump()
            return [.error("\(error)")]
        }
        bump()
        return []
    }

    /// Refuses settings this model and classifier cannot run: a learned variance
    /// without the v output, a guide without the classifier of noisy digits.
    private func checkSupported(_ s: SamplerSettings) throws {
        try s.check(learnsVariance: model.varianceOutput != nil)
        if s.guide != nil && guidance == nil {
            throw EngineError.invalidConfig("guidance toward a digit needs the classifier of noisy digits (ddpm eval --train-noisy-classifier)")
        }
    }

    /// A new trajectory from x_T (start, restart with a new seed, or a new temperature), without a fork.
    private func startRun(_ s: SamplerSettings, n: Int, seed: UInt64) throws {
        try checkSupported(s)
        sampler = try Sampler(schedule: schedule, settings: s, n: n, size: model.imageSize, seed: seed, guidance: guidance)
        forkSampler = nil
        snapshot.settings = s; snapshot.seed = seed; snapshot.n = n
        snapshot.runTemperature = s.temperature
        states = [:]
        stateStride = max(1, (sampler!.timesteps.count + 249) / 250)
        snapshot.nonFinite = nil; nonFiniteOnFork = false
        resetRecording()
        snapshot.running = true
    }

    /// A sampler at the start of recorded step `step` of the main run: the
    /// nearest saved state before it, then the steps between replayed with the
    /// settings each of them used (so the fork starts from exactly that x_t).
    private func samplerAt(step: Int) throws -> Sampler {
        guard let base = sampler, step <= snapshot.history.count,
              let key = states.keys.filter({ $0 <= step }).max(), let st = states[key] else {
            throw EngineError.invalidArgument("no recorded state to fork from at step \(step)")
        }
        let s = try Sampler(schedule: schedule, settings: st.settings, n: base.n, size: base.size, seed: base.seed, guidance: guidance)
        s.restore(st)
        while s.index < step {
            let used = snapshot.history[s.index].settings
            if used != s.settings { s.update(used) }
            s.step(model)
        }
        return s
    }

    /// A new comparison: one sampler per value, all from the same seed, started at once.
    private func startCompare(_ spec: CompareSpec) throws {
        var samplers: [Sampler] = [], rows: [CompareRow] = []
        for v in spec.values {
            let set = spec.parameter.apply(v, to: spec.base)
            try checkSupported(set)
            let s = try Sampler(schedule: schedule, settings: set, n: spec.n, size: model.imageSize, seed: spec.seed, guidance: guidance)
            samplers.append(s)
            rows.append(CompareRow(label: spec.parameter.label(v, base: spec.base), settings: set,
                                   images: s.x.array(s.pixels),
                                   size: model.imageSize, t: s.timesteps.first ?? 0, totalSteps: s.timesteps.count))
        }
        compareSamplers = samplers
        snapshot.compare = CompareSnapshot(spec: spec, rows: rows, running: true)
        snapshot.comparing = true
    }

    /// One step of every unfinished comparison row, each timed; then the row's diversity and readings.
    private func compareTick() -> [RunnerEvent] {
        guard var c = snapshot.compare else { return [] }
        for (i, s) in compareSamplers.enumerated() where !s.isFinished {
            let t0 = Benchmark.now()
            let f = s.step(model)
            guard f.isFinite else {
                // Broken weights (or settings that overflow them): the comparison ends where a row's
                // output stopped being numbers; the sample view's run is not touched.
                for k in c.rows.indices { c.rows[k].finished = true }
                c.running = false; c.nonFinite = f.t
                snapshot.compare = c; bump()
                return [.error(RunnerSnapshot.nonFiniteMessage(f.t))]
            }
            var row = c.rows[i]
            row.wallTime += Benchmark.now() - t0
            row.t = f.t; row.step = f.step + 1
            row.finished = s.isFinished
            row.images = s.isFinished ? s.x.array(s.pixels) : f.x0
            // Diversity of the images as drawn and saved: clamped to [-1, 1].
            row.diversity = meanPixelVariance(row.images.map { Swift.min(1, Swift.max(-1, $0)) }, n: f.n, pixels: f.size * f.size)
            if let reader {
                row.readings = reader.read(row.images, n: f.n, side: f.size)
                row.confident = row.readings.filter { $0.isConfidentDigit }.count
            }
            c.rows[i] = row
        }
        if c.finished { c.running = false }
        snapshot.compare = c
        bump()
        return c.finished ? [.finished] : []
    }

    /// One step of `s` as recorded (x̂0 read by the classifier), and its final
    /// samples with their reading when that was the last step; nil when the
    /// step's output is not finite (then `snapshot.nonFinite` says where, and the run stops).
    private func record(_ s: Sampler) -> (RecordedFrame, ([Float], [DigitReader.Reading])?)? {
        let f = s.step(model)
        guard f.isFinite else {
            snapshot.nonFinite = f.t; snapshot.running = false
            nonFiniteOnFork = s === forkSampler
            return nil
        }
        let keep = min(f.n, recordLimit)
        let readings = reader?.read(f.x0, n: keep, side: f.size) ?? []
        let frame = RecordedFrame(f, keep: recordLimit, readings: readings)
        guard s.isFinished else { return (frame, nil) }
        let fin = s.x.array(s.pixels)
        return (frame, (fin, reader?.read(fin, n: keep, side: f.size) ?? []))
    }

    /// A step of either side came out not finite (`record` set `snapshot.nonFinite`): publish the stop.
    private func stopNonFinite() -> [RunnerEvent] {
        bump()
        return [.error(RunnerSnapshot.nonFiniteMessage(snapshot.nonFinite!))]
    }

    /// See `RunnerCommand.retakeLast`: the events of the step taken again (none, `.finished`,
    /// or the error of a step that came out not finite).
    private func retakeLast(onFork: Bool) -> [RunnerEvent] {
        let history = onFork ? snapshot.forkHistory : snapshot.history
        // (Not past a step whose output was not finite: the run stays stopped there, as resume does.)
        guard !snapshot.running, !stoppedNonFinite, let s = onFork ? forkSampler : sampler, !s.isFinished,
              let before = onFork ? forkBeforeLast : beforeLast, let last = history.last,
              before.index == history.count - 1, last.settings != s.settings,
              forkSampler == nil || history.count > snapshot.forkFrom else { return [] }
        let now = s.settings
        s.restore(before)
        s.update(now)
        guard let (f, fin) = record(s) else { return stopNonFinite() }
        if onFork {
            snapshot.forkHistory[history.count - 1] = f
            if let fin { (snapshot.forkFinal, snapshot.forkFinalReadings) = fin }
        } else {
            snapshot.history[history.count - 1] = f
            if let fin { (snapshot.final, snapshot.finalReadings) = fin }
            // (Re-planned from the step taken again: the run's length changes with it.)
            snapshot.timesteps = s.timesteps
        }
        return finishIfDone()
    }

    /// Both sides have taken their last step: the run stops, finished (`.finished` the first time).
    private func finishIfDone() -> [RunnerEvent] {
        guard (sampler?.isFinished ?? true) && (forkSampler?.isFinished ?? true) else { return [] }
        snapshot.running = false
        if snapshot.finished { return [] }
        snapshot.finished = true
        return [.finished]
    }

    private func resetRecording() {
        beforeLast = nil; forkBeforeLast = nil
        snapshot.history = []; snapshot.forkHistory = []; snapshot.final = nil; snapshot.forkFinal = nil
        snapshot.finalReadings = []
        snapshot.finished = false; snapshot.forkSettings = nil
        snapshot.timesteps = sampler?.timesteps ?? []
        stepTimes = []
    }

    private func bump() { snapshot.version &+= 1 }

    /// One step of sampling (main trajectory and fork) or of training.
    @discardableResult
    public func tick(force: Bool = false) -> [RunnerEvent] {
        if snapshot.comparing { return force || isRunning ? compareTick() : [] }
        guard force || snapshot.running else { return [] }
        if let trainer { return trainTick(trainer) }
        var events: [RunnerEvent] = []
        let t0 = Benchmark.now()
        // The two sides step in t: the one further from x_0 (larger t) steps;
        // both when level. A DDIM fork waits for a DDPM original, and so on.
        let mainT = sampler.map { $0.isFinished ? -1 : $0.currentT } ?? -1
        let forkT = forkSampler.map { $0.isFinished ? -1 : $0.currentT } ?? -1
        let stepMain = forkSampler == nil || mainT >= forkT
        let stepFork = forkSampler != nil && forkT >= mainT
        if stepMain, let s = sampler, !s.isFinished {
            if s.index % stateStride == 0 { states[s.index] = s.state }
            beforeLast = s.fullState
            guard let (f, fin) = record(s) else { return stopNonFinite() }
            snapshot.history.append(f)
            events.append(.frame(step: f.step, t: f.t))
            if let fin { (snapshot.final, snapshot.finalReadings) = fin }
        }
        if stepFork, let fs = forkSampler, !fs.isFinished {
            forkBeforeLast = fs.fullState
            guard let (f, fin) = record(fs) else { return stopNonFinite() }
            snapshot.forkHistory.append(f)
            if let fin { (snapshot.forkFinal, snapshot.forkFinalReadings) = fin }
        }
        events += finishIfDone()
        stepTimes.append(Benchmark.now() - t0)
        if stepTimes.count > 20 { stepTimes.removeFirst() }
        snapshot.stepsPerSecond = Double(stepTimes.count) / max(1e-9, stepTimes.reduce(0, +))
        bump()
        return events
    }

    /// The EMA preview of `tr` now, read by the classifier: "digit-ness" over wall-clock time.
    private func takePreview(_ m: inout TrainMetrics, _ tr: Trainer, now: Double) throws {
        lastPreview = now
        m.preview = try tr.previewSamples(n: previewCount)
        m.previewStep = tr.step; m.previewN = previewCount; m.previewSize = tr.net.config.imageSize
        m.previewBF16 = tr.net.ws.backend == .bf16
        // How many preview digits the classifier reads with p >= 0.9, over wall-clock time: "digit-ness" rising.
        if let reader {
            m.previewReadings = reader.read(m.preview, n: previewCount, side: m.previewSize)
            let sure = m.previewReadings.filter { $0.isConfidentDigit }.count
            m.confidentMinutes.append((now - trainStart) / 60)
            m.confidentRates.append(Double(sure) / Double(previewCount))
        }
    }

    private func trainTick(_ tr: Trainer) -> [RunnerEvent] {
        var m = snapshot.train ?? TrainMetrics()
        if tr.step >= tr.options.totalSteps {
            // A run resumed after its end: its final EMA preview once (it stayed empty, "step 0").
            if m.preview.isEmpty && tr.step > 0 {
                do {
                    try takePreview(&m, tr, now: Benchmark.now())
                    snapshot.message = "this run had finished at step \(tr.step): its final preview; s samples it, g trains another"
                } catch { snapshot.message = "no preview of the finished run: \(error)" }
                snapshot.train = m
            }
            snapshot.running = false; snapshot.finished = true; bump(); return [.finished]
        }
        let tickStart = Benchmark.now()
        defer { trainingSeconds += Benchmark.now() - tickStart }
        do {
            let s = try tr.trainStep()
            let fitClock = trainingSeconds + Benchmark.now() - tickStart - fitClockFrom
            if let f = tr.pendingFit, tr.step - trainStartStep == f.settle { fitSettledAt = fitClock }
            if let f = tr.pendingFit, tr.step - trainStartStep >= f.atStep {
                let said = try tr.fitLength(f, done: tr.step - trainStartStep, elapsed: fitClock, settledAt: fitSettledAt)
                snapshot.message = said
                if tr.step == 0 {
                    fitClockFrom = trainingSeconds + Benchmark.now() - tickStart; fitSettledAt = nil
                    // Started over (LengthFit.faster): the curves, the rate and the preview begin again.
                    trainStartStep = 0
                    var fresh = TrainMetrics()
                    fresh.totalSteps = tr.options.totalSteps; fresh.T = tr.schedule.T
                    // (The panels' titles name the weighting: they stay as they were, not "loss by t" for a moment.)
                    fresh.lossWeighting = tr.options.weighting; fresh.minSnrGamma = tr.options.minSnrGamma
                    fresh.sizedAtStep = tr.pendingFit.map { trainStartStep + $0.atStep }
                    fresh.confidentMinutes = m.confidentMinutes; fresh.confidentRates = m.confidentRates
                    fresh.lastSaved = m.lastSaved; fresh.savesTo = m.savesTo
                    snapshot.train = fresh
                    lastPreview = -Double.infinity
                    bump()
                    return [.trainStep(0)]
                }
                // The message goes after a while; the view keeps why the run is as long as it is.
                m.sized = said
            }
            m.step = tr.step; m.totalSteps = tr.options.totalSteps
            // Going on after a stop (space): the reason is history (the message row said it whole).
            m.error = nil
            m.losses.append(s.loss)
            if m.losses.count > Trainer.recentLossCount { m.losses.removeFirst(m.losses.count - Trainer.recentLossCount) }
            m.bucketLoss = tr.bucketLoss; m.T = tr.schedule.T; m.lr = s.lr; m.epoch = tr.epoch
            m.lossWeighting = tr.options.weighting; m.minSnrGamma = tr.options.minSnrGamma
            m.sizedAtStep = tr.pendingFit.map { trainStartStep + $0.atStep }
            // The rate since the first preview (a one-off: packing, first samples), once it covers 2 s;
            // until then the rate since the start.
            let el = Benchmark.now() - rateStart
            if el >= 2 || m.stepsPerSecond == 0 { m.stepsPerSecond = Double(tr.step - rateStartStep) / max(1e-9, el) }
            m.imagesPerSecond = m.stepsPerSecond * Double(min(tr.options.batch, tr.data.count))
            var events: [RunnerEvent] = [.trainStep(tr.step)]
            if let c = checkpoint, tr.step % max(1, c.every) == 0 || tr.step == tr.options.totalSteps {
                try tr.saveCheckpoint(c.path)
                m.lastSaved = "\(c.path) (step \(tr.step))"
                if tr.step == tr.options.totalSteps {
                    // What to do with the model now (it is not what the sample view samples), the path once.
                    snapshot.message = "training finished at step \(tr.step); saved to \(InputFile.shown(c.path))"
                }
            }
            let now = Benchmark.now()
            // Also at the last step: the finished run's preview is of its final EMA weights.
            let due = previewSeconds.map { now - lastPreview >= $0 } ?? (tr.step % previewEvery == 0)
            if due || m.preview.isEmpty || tr.step == tr.options.totalSteps {
                let first = m.preview.isEmpty
                try takePreview(&m, tr, now: now)
                events.append(.preview(step: tr.step))
                if first { rateStart = Benchmark.now(); rateStartStep = tr.step }
            }
            snapshot.train = m
            bump()
            return events
        } catch {
            m.error = "\(error)"
            // Whole on the message rows (the side panel's line cuts it: "cannot write /work/…/r").
            snapshot.message = "training stopped at step \(tr.step): \(error)"
            snapshot.train = m
            snapshot.running = false
            bump()
            return [.error("\(error)")]
        }
    }
}
