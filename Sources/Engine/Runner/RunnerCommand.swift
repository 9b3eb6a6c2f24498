// RunnerCommand.swift: what the UI asks the engine thread to do.
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
    /// A new temperature, live: start over at once from x_T = temperature * N(0, I)
    /// with the same seed, keeping the previous run's result for comparison.
    case retemper(SamplerSettings)
    /// Continue with other settings, side by side, from the current x_t or
    /// from recorded step `at` (a scrubbed step); nil settings drop the fork.
    case fork(SamplerSettings?, at: Int? = nil)
    /// New settings for the fork (from its next step).
    case setForkSettings(SamplerSettings)
    /// The newest step of a paused side (the fork's or the original's) taken
    /// again with its settings now: a frame shows x_t and the step from it,
    /// already taken, so a setting changed while paused on it applies to it.
    /// Its x_t stays (its x̂0 too, unless clipping or guidance changed); the x_t it makes is made again. Only a side's own
    /// step with steps left after it (not the past a fork shares, not a
    /// finished run's last step).
    case retakeLast(fork: Bool)
    /// Start (or restart) a comparison and make it the one that steps.
    case compare(CompareSpec)
    /// The compare view shown (its rows step) or left (the main run steps again).
    case showCompare(Bool)
    /// Maximum steps per second (nil: as fast as possible).
    case setSpeed(Double?)
    /// The variational bound of one real digit (`size`² pixels), term by term,
    /// averaged over `draws` draws of each x_t (the forward view's curve; T model calls).
    case bound(image: [Float], size: Int, digit: Int, variance: VarianceKind, draws: Int)
    case startTraining
    case saveCheckpoint(String)
    case quit
}
