import Foundation
import Synchronization

/// Commands the explorer sends to the engine.
public enum RunnerCommand: Sendable {
    case startSampling(SamplerSettings, n: Int, seed: UInt64)
    case pause, resume, togglePause
    /// One step while paused.
    case singleStep
    /// New settings for the running trajectory (from the next step).
    case setSettings(SamplerSettings)
    /// Start over with a new seed (and the current settings, including temperature).
    case restart(seed: UInt64)
    /// Continue from the current x_t with other settings, side by side; nil drops the fork.
    case fork(SamplerSettings?)
    /// Maximum steps per second (nil: as fast as possible).
    case setSpeed(Double?)
    case startTraining
    case saveCheckpoint(String)
    case quit
}

/// What the engine reports back.
public enum RunnerEvent: Sendable, Equatable {
    case frame(step: Int, t: Int)
    case finished
    case trainStep(Int)
    case preview(step: Int)
    case saved(String)
    case error(String)
}

/// A frame stored compactly for scrubbing (Float16 halves the memory of a long trajectory).
public struct RecordedFrame: Sendable {
    public let step: Int, t: Int, n: Int, size: Int
    public let xt: [Float16], x0: [Float16]
    public let eps: Stats
    public let x0Outside: Double
    public init(_ f: Frame, keep: Int) {
        step = f.step; t = f.t; n = min(f.n, keep); size = f.size
        let len = n * size * size
        xt = f.xt[0..<len].map { Float16($0) }
        x0 = f.x0[0..<len].map { Float16($0) }
        eps = f.eps; x0Outside = f.x0Outside
    }
    public func xtFloats() -> [Float] { xt.map { Float($0) } }
    public func x0Floats() -> [Float] { x0.map { Float($0) } }
}

/// Training metrics for the train view.
public struct TrainMetrics: Sendable {
    public var step = 0, totalSteps = 0
    public var losses: [Double] = []
    public var bucketLoss = [Double](repeating: .nan, count: 10)
    public var lr = 0.0, stepsPerSecond = 0.0, imagesPerSecond = 0.0, epoch = 0.0
    public var preview: [Float] = [], previewStep = 0, previewN = 0, previewSize = 28
    public var lastSaved: String?
    public var error: String?
    public init() {}
}

/// Everything the UI reads: the newest frames and the recordings.
public struct RunnerSnapshot: Sendable {
    public var running = false, finished = false
    public var settings = SamplerSettings()
    public var forkSettings: SamplerSettings?
    public var seed: UInt64 = 0
    /// Temperature x_T of the current run was drawn with.
    public var runTemperature = 1.0
    public var n = 0
    public var history: [RecordedFrame] = []
    public var forkHistory: [RecordedFrame] = []
    /// Final images after the last step (x_{-1}), when finished.
    public var final: [Float]? = nil
    public var forkFinal: [Float]? = nil
    public var stepsPerSecond = 0.0
    public var speedLimit: Double? = nil
    public var timesteps: [Int] = []
    public var train: TrainMetrics? = nil
    public var message: String? = nil
    public var version = 0
    public init() {}
}

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
    /// Images of the batch kept in the recording (all of them by default).
    public var recordLimit = 64
    private var stepTimes: [Double] = []
    private var trainStart = 0.0, trainStartStep = 0

    public init(model: NoisePredictor, schedule: NoiseSchedule, trainer: Trainer? = nil) {
        self.model = model; self.schedule = schedule; self.trainer = trainer
    }

    public var isRunning: Bool { snapshot.running }

    @discardableResult
    public func handle(_ cmd: RunnerCommand) -> [RunnerEvent] {
        do {
            switch cmd {
            case .startSampling(let s, let n, let seed):
                sampler = try Sampler(schedule: schedule, settings: s, n: n, size: model.imageSize, seed: seed)
                forkSampler = nil
                snapshot.settings = s; snapshot.seed = seed; snapshot.n = n
                snapshot.runTemperature = s.temperature
                resetRecording()
                snapshot.running = true
            case .pause: snapshot.running = false
            case .resume: if !(sampler?.isFinished ?? false) || trainer != nil { snapshot.running = true }
            case .togglePause:
                if snapshot.running { snapshot.running = false } else { return handle(.resume) }
            case .singleStep:
                snapshot.running = false
                return tick(force: true)
            case .setSettings(let s):
                try s.validate(T: schedule.T)
                snapshot.settings = s
                sampler?.update(s)
                snapshot.timesteps = sampler?.timesteps ?? []
            case .restart(let seed):
                let n = snapshot.n
                sampler = try Sampler(schedule: schedule, settings: snapshot.settings, n: max(1, n), size: model.imageSize, seed: seed)
                forkSampler = nil
                snapshot.seed = seed
                snapshot.runTemperature = snapshot.settings.temperature
                resetRecording()
                snapshot.running = true
            case .fork(let s):
                if let s, let base = sampler {
                    forkSampler = try base.fork(with: s)
                    snapshot.forkSettings = s
                    // The fork's recording starts with the shared past.
                    snapshot.forkHistory = snapshot.history
                    snapshot.forkFinal = nil
                } else {
                    forkSampler = nil; snapshot.forkSettings = nil; snapshot.forkHistory = []; snapshot.forkFinal = nil
                }
            case .setSpeed(let v): snapshot.speedLimit = v
            case .startTraining:
                guard trainer != nil else { return [.error("no trainer")] }
                snapshot.train = TrainMetrics()
                trainStart = Benchmark.now(); trainStartStep = trainer!.step
                snapshot.running = true
            case .saveCheckpoint(let path):
                guard let trainer else { return [.error("nothing to save: not training")] }
                try trainer.saveCheckpoint(path)
                snapshot.train?.lastSaved = path
                snapshot.message = "checkpoint saved to \(path) (step \(trainer.step))"
                bump()
                return [.saved(path)]
            case .quit: snapshot.running = false
            }
        } catch {
            snapshot.message = "\(error)"
            bump()
            return [.error("\(error)")]
        }
        bump()
        return []
    }

    private func resetRecording() {
        snapshot.history = []; snapshot.forkHistory = []; snapshot.final = nil; snapshot.forkFinal = nil
        snapshot.finished = false; snapshot.forkSettings = nil
        snapshot.timesteps = sampler?.timesteps ?? []
        stepTimes = []
    }

    private func bump() { snapshot.version &+= 1 }

    /// One step of sampling (main trajectory and fork) or of training.
    @discardableResult
    public func tick(force: Bool = false) -> [RunnerEvent] {
        guard force || snapshot.running else { return [] }
        if let trainer { return trainTick(trainer) }
        var events: [RunnerEvent] = []
        let t0 = Benchmark.now()
        if let s = sampler, !s.isFinished {
            let f = s.step(model)
            snapshot.history.append(RecordedFrame(f, keep: recordLimit))
            events.append(.frame(step: f.step, t: f.t))
            if s.isFinished { snapshot.final = s.x.array(s.pixels) }
        }
        if let fs = forkSampler, !fs.isFinished {
            let f = fs.step(model)
            snapshot.forkHistory.append(RecordedFrame(f, keep: recordLimit))
            if fs.isFinished { snapshot.forkFinal = fs.x.array(fs.pixels) }
        }
        let done = (sampler?.isFinished ?? true) && (forkSampler?.isFinished ?? true)
        if done {
            snapshot.running = false
            if !snapshot.finished { snapshot.finished = true; events.append(.finished) }
        }
        stepTimes.append(Benchmark.now() - t0)
        if stepTimes.count > 20 { stepTimes.removeFirst() }
        snapshot.stepsPerSecond = Double(stepTimes.count) / max(1e-9, stepTimes.reduce(0, +))
        bump()
        return events
    }

    private func trainTick(_ tr: Trainer) -> [RunnerEvent] {
        var m = snapshot.train ?? TrainMetrics()
        if tr.step >= tr.options.totalSteps { snapshot.running = false; snapshot.finished = true; bump(); return [.finished] }
        do {
            let s = try tr.trainStep()
            m.step = tr.step; m.totalSteps = tr.options.totalSteps
            m.losses.append(s.loss)
            if m.losses.count > 5000 { m.losses.removeFirst(m.losses.count - 5000) }
            m.bucketLoss = tr.bucketLoss; m.lr = s.lr; m.epoch = tr.epoch
            let el = Benchmark.now() - trainStart
            m.stepsPerSecond = Double(tr.step - trainStartStep) / max(1e-9, el)
            m.imagesPerSecond = m.stepsPerSecond * Double(min(tr.options.batch, tr.data.count))
            var events: [RunnerEvent] = [.trainStep(tr.step)]
            if tr.step % previewEvery == 0 || m.preview.isEmpty {
                m.preview = try previewSamples(tr)
                m.previewStep = tr.step; m.previewN = 8; m.previewSize = tr.net.config.imageSize
                events.append(.preview(step: tr.step))
            }
            snapshot.train = m
            bump()
            return events
        } catch {
            m.error = "\(error)"
            snapshot.train = m
            snapshot.running = false
            bump()
            return [.error("\(error)")]
        }
    }

    /// 8 digits from the EMA weights with a fixed seed (DDIM, 20 steps), so progress is visible.
    func previewSamples(_ tr: Trainer) throws -> [Float] {
        let pred = UNetPredictor(net: try UNet(tr.options.config), params: tr.ema)
        let s = try Sampler(schedule: tr.schedule, settings: SamplerSettings(kind: .ddim, steps: 20), n: 8,
                            size: tr.net.config.imageSize, seed: 1234)
        return s.run(pred)
    }
}

/// Runs a `Runner` on a background thread. The UI posts commands (never
/// blocking on computation) and reads the newest snapshot.
public final class RunnerThread: @unchecked Sendable {
    private let runner: Runner
    private let inbox = Mutex<[RunnerCommand]>([])
    private let published = Mutex<RunnerSnapshot>(RunnerSnapshot())
    private let wake = DispatchSemaphore(value: 0)
    private var thread: Thread?
    private let stopped = Atomic<Bool>(false)
    private let finishedLoop = DispatchSemaphore(value: 0)

    public init(_ runner: Runner) { self.runner = runner }

    public func start() {
        let t = Thread { [self] in loop() }
        t.stackSize = 8 << 20
        t.name = "ddpm-engine"
        thread = t
        t.start()
    }

    public func send(_ c: RunnerCommand) {
        inbox.withLock { $0.append(c) }
        wake.signal()
    }

    /// The newest published state (copy-on-write arrays: cheap).
    public var snapshot: RunnerSnapshot { published.withLock { $0 } }

    /// Asks the loop to end and waits for it (at most `timeout` seconds).
    public func stop(timeout: Double = 5) {
        stopped.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        _ = finishedLoop.wait(timeout: .now() + timeout)
    }

    private func loop() {
        var lastTick = 0.0
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let cmds = inbox.withLock { c -> [RunnerCommand] in let x = c; c.removeAll(); return x }
            for c in cmds {
                if case .quit = c { stopped.store(true, ordering: .sequentiallyConsistent) }
                runner.handle(c)
            }
            if stopped.load(ordering: .sequentiallyConsistent) { break }
            if !cmds.isEmpty { publish() }
            if runner.isRunning {
                if let limit = runner.snapshot.speedLimit, limit > 0 {
                    let wait = 1 / limit - (Benchmark.now() - lastTick)
                    if wait > 0 { _ = wake.wait(timeout: .now() + wait); continue }
                }
                lastTick = Benchmark.now()
                runner.tick()
                publish()
            } else {
                _ = wake.wait(timeout: .now() + 0.1)
            }
        }
        publish()
        finishedLoop.signal()
    }

    private func publish() {
        let s = runner.snapshot
        published.withLock { $0 = s }
    }
}
