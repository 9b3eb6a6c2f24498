// RunnerSnapshot.swift: the engine's latest state, as the UI reads it.
import Foundation
import Synchronization

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
    /// The recorded step the fork started from (its history shares the steps before it).
    public var forkFrom = 0
    /// The classifier's reading of the final samples.
    public var finalReadings: [DigitReader.Reading] = [], forkFinalReadings: [DigitReader.Reading] = []
    /// The compare view's rows, and whether that view is the one stepping (the main run waits meanwhile).
    public var compare: CompareSnapshot? = nil
    public var comparing = false
    public var stepsPerSecond = 0.0
    public var speedLimit: Double? = nil
    public var timesteps: [Int] = []
    /// In a replay: the steps the recording holds (fewer than `timesteps` for one made mid-run).
    public var recordedSteps: Int? = nil
    public var train: TrainMetrics? = nil
    /// After a temperature change: the previous run's result (its final
    /// samples, or its x̂0 where it had got to) and its temperature, shown
    /// beside the new run until the next change or a new seed.
    public var comparison: Comparison? = nil
    /// Whether a temperature change now keeps the comparison beside the new run rather than this run's
    /// result: the kept one got further (t t in quick succession keeps the finished one, or the
    /// furthest x̂0, rather than the noise of a run just begun).
    public var keepsComparison: Bool {
        final == nil && comparison.map { $0.finished || $0.t <= (history.last?.t ?? Int.max) } == true
    }
    /// Whether a temperature change to `s` runs the kept comparison again (same seed, the same settings
    /// for every step): then nothing stays beside the new run ("temp 1.3" beside "temp 1.3").
    public func rerunsComparison(_ s: SamplerSettings) -> Bool { keepsComparison && comparison?.ran == [s] }
    public struct Comparison: Sendable {
        public var temperature: Double
        public var images: [Float]
        /// The previous run had finished (else `images` is its latest x̂0, at `t`).
        public var finished: Bool
        public var t: Int
        /// The settings its steps ran with, in order, where they changed ("DDPM then DDIM 50"):
        /// not the settings changed since, which the new run takes.
        public var ran: [SamplerSettings] = []
        /// The classifier's reading of `images`.
        public var readings: [DigitReader.Reading] = []
        /// The settings its last step ran with.
        public var settings: SamplerSettings { ran.last ?? SamplerSettings() }
    }
    /// The last bound computed for a forward-view digit (perT[0] is the decoder L_0, perT[t] the KL L_t).
    public var bound: BoundCurve? = nil
    /// Every digit's last bound, by digit: a bound asked for while another computed is kept, and shown
    /// when its digit is (the message names only the newest).
    public var bounds: [Int: BoundCurve] = [:]
    /// Bound commands carried out (or refused): the run waited while each was computed.
    public var boundsAnswered = 0
    public struct BoundCurve: Sendable {
        public var digit: Int
        public var variance: VarianceKind
        public var result: VariationalBound.Result
        public var seconds: Double
    }
    /// The engine's last news, or why it refused the last command it could not carry out.
    public var message: String? = nil
    /// Commands the engine refused so far (`message` says why the last was): a refusal the
    /// screen has not shown yet is one past the count it saw.
    public var refusals = 0
    /// The t at which the network's output stopped being finite numbers (NaN or infinity:
    /// broken weights); sampling stops there and does not resume. nil: all is well.
    public var nonFinite: Int? = nil
    /// What the explorer says of `nonFinite` (`then`: what follows from it).
    public static func nonFiniteMessage(_ t: Int, then: String = "sampling stops here") -> String {
        "the network's output at t=\(t) is not a finite number (NaN or infinity): its weights are broken, so \(then)"
    }
    /// What `f` on a run stopped there answers.
    public static func nothingToFork(_ t: Int) -> String {
        "the run stopped at t=\(t) (its output was not finite numbers): nothing to fork; r tries a new seed"
    }
    public var version = 0
    /// How many `saveCheckpoint` commands the runner has carried out, and the last one's error
    /// (nil: it saved): quitting with a training run waits for its save and stays if it failed.
    public var saveRequests = 0
    public var saveError: String? = nil
    public init() {}
}
