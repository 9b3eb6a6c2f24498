// ReplayPlayer.swift: a recording played back as the engine showed it, with no model.
import Foundation

/// Plays a `Recording` step by step, building the same `RunnerSnapshot` the
/// engine built live: the main run's frames one per step, a fork appearing at
/// its branch point and then stepping beside the original in t (the side
/// further from x_0 steps, both when level, as `Runner.tick` does), the final
/// samples after the last step. It runs on the UI thread: a step is a copy of
/// recorded frames, no computation.
public final class ReplayPlayer {
    public let recording: Recording
    public private(set) var snapshot = RunnerSnapshot()
    /// Frames of each side shown so far.
    private var mainShown = 0, forkShown = 0
    /// Steps owed to the playback clock (fractions carry over between polls).
    private var owed = 0.0, lastPoll: Double? = nil
    private var playedTimes: [Double] = []
    /// Steps per second when no limit is set (`+` to the fastest): faster than the fastest limit
    /// (50/s), and a long run in about ten seconds (DDPM's 1000 steps at 100/s).
    public var fullSpeed: Double { max(100, Double(recording.main.frames.count) / 10) }

    /// The pace a replay starts at: the whole run in about ten seconds, long or short (DDIM's 50
    /// steps at 5/s; a 20-step run at full speed was over in a fraction of a second), at least 2 a second.
    public var naturalPace: Double { max(2, Double(recording.main.frames.count) / 10) }

    public init(_ r: Recording) {
        recording = r
        rewind()
    }

    public var isFinished: Bool {
        mainShown == recording.main.frames.count && (recording.fork.map { forkShown == $0.side.frames.count } ?? true)
    }

    /// Applies a playback command; false for one that needs a model (nothing changes).
    @discardableResult
    public func handle(_ cmd: RunnerCommand) -> Bool {
        switch cmd {
        case .pause: snapshot.running = false
        case .resume: snapshot.running = !isFinished
        case .togglePause:
            // At the end of a recording (one made mid-run does not finish): play again.
            if isFinished && !snapshot.running { rewind() } else { snapshot.running = !snapshot.running && !isFinished }
        case .singleStep: snapshot.running = false; step()
        case .setSpeed(let v): snapshot.speedLimit = v
        case .restart: rewind()
        case .quit: snapshot.running = false
        default: return false
        }
        lastPoll = nil
        bump()
        return true
    }

    /// Back to before the first step, playing (the speed limit stays).
    public func rewind() {
        let limit = snapshot.speedLimit, version = snapshot.version
        snapshot = RunnerSnapshot()
        snapshot.settings = recording.main.frames[0].settings
        snapshot.seed = recording.seed; snapshot.runTemperature = recording.temperature
        snapshot.n = recording.n; snapshot.timesteps = recording.timesteps
        snapshot.recordedSteps = recording.main.frames.count
        snapshot.speedLimit = limit; snapshot.version = version
        snapshot.running = true
        mainShown = 0; forkShown = 0; owed = 0; lastPoll = nil; playedTimes = []
    }

    /// Advances by the steps due at time `now` (seconds) at the speed limit
    /// (or `fullSpeed`); true if the snapshot changed.
    @discardableResult
    public func poll(now: Double) -> Bool {
        guard snapshot.running else { lastPoll = nil; return false }
        let rate = snapshot.speedLimit ?? fullSpeed
        guard let last = lastPoll else { lastPoll = now; owed = 1; return advance(now) }
        owed += (now - last) * rate
        lastPoll = now
        return advance(now)
    }

    private func advance(_ now: Double) -> Bool {
        var changed = false
        // At most a second's worth at once (a stalled terminal does not fast-forward the rest).
        owed = min(owed, max(1, snapshot.speedLimit ?? fullSpeed))
        while owed >= 1 && snapshot.running {
            owed -= 1
            step()
            playedTimes.append(now)
            changed = true
        }
        if playedTimes.count > 20 { playedTimes.removeFirst(playedTimes.count - 20) }
        if let a = playedTimes.first, let b = playedTimes.last, b > a {
            snapshot.stepsPerSecond = Double(playedTimes.count - 1) / (b - a)
        }
        if changed { bump() }
        return changed
    }

    /// One step of playback: the next frame of the side(s) due, as `Runner.tick` orders them.
    public func step() {
        let r = recording
        // The fork appears once the main run has passed its branch point (its shared past is the main run's).
        if let fork = r.fork, snapshot.forkSettings == nil, mainShown >= fork.from {
            snapshot.forkSettings = fork.settings
            snapshot.forkFrom = fork.from
            snapshot.forkHistory = Array(r.main.frames.prefix(fork.from))
        }
        let forking = snapshot.forkSettings != nil
        let mainT = mainShown < r.main.frames.count ? r.main.frames[mainShown].t : -1
        let forkT = forking && forkShown < r.fork!.side.frames.count ? r.fork!.side.frames[forkShown].t : -1
        let stepMain = !forking || mainT >= forkT
        let stepFork = forking && forkT >= mainT
        if stepMain, mainShown < r.main.frames.count {
            let f = r.main.frames[mainShown]
            snapshot.history.append(f)
            snapshot.settings = f.settings
            mainShown += 1
            if mainShown == r.main.frames.count, let fin = r.main.final {
                snapshot.final = fin; snapshot.finalReadings = r.main.finalReadings
            }
        }
        if stepFork, let fork = r.fork, forkShown < fork.side.frames.count {
            snapshot.forkHistory.append(fork.side.frames[forkShown])
            snapshot.forkSettings = fork.side.frames[forkShown].settings
            forkShown += 1
            if forkShown == fork.side.frames.count, let fin = fork.side.final {
                snapshot.forkFinal = fin; snapshot.forkFinalReadings = fork.side.finalReadings
            }
        }
        if isFinished {
            snapshot.running = false
            // A recording made mid-run ends without final samples: stopped where it ends (the status line
            // says "end of recording"), not finished.
            snapshot.finished = r.main.final != nil
        }
        bump()
    }

    private func bump() { snapshot.version &+= 1 }
}
