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
    public var stepsPerSecond = 0.0
    public var speedLimit: Double? = nil
    public var timesteps: [Int] = []
    public var train: TrainMetrics? = nil
    public var message: String? = nil
    public var version = 0
    public init() {}
}
