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
                snapshot.comparison = nil
                try startRun(s, n: n, seed: seed)
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
            case .retemper(let s):
                try s.validate(T: schedule.T)
                if let fin = snapshot.final ?? snapshot.history.last?.x0Floats() {
                    snapshot.comparison = .init(temperature: snapshot.runTemperature, images: fin,
                                                finished: snapshot.final != nil, t: snapshot.history.last?.t ?? 0)
                }
                try startRun(s, n: max(1, snapshot.n), seed: snapshot.seed)
            case .restart(let seed):
                snapshot.comparison = nil
                try startRun(snapshot.settings, n: max(1, snapshot.n), seed: seed)
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
                snapshot.train?.T = trainer!.schedule.T
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

    /// A new trajectory from x_T (start, restart with a new seed, or a new temperature), without a fork.
    private func startRun(_ s: SamplerSettings, n: Int, seed: UInt64) throws {
        sampler = try Sampler(schedule: schedule, settings: s, n: n, size: model.imageSize, seed: seed)
        forkSampler = nil
        snapshot.settings = s; snapshot.seed = seed; snapshot.n = n
        snapshot.runTemperature = s.temperature
        resetRecording()
        snapshot.running = true
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
            m.bucketLoss = tr.bucketLoss; m.T = tr.schedule.T; m.lr = s.lr; m.epoch = tr.epoch
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
        let pred = UNetPredictor(net: try UNet(tr.options.config, backend: tr.net.ws.backend), params: tr.ema)
        let s = try Sampler(schedule: tr.schedule, settings: SamplerSettings(kind: .ddim, steps: 20), n: 8,
                            size: tr.net.config.imageSize, seed: 1234)
        return s.run(pred)
    }
}
