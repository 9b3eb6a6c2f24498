// RecordedFrame.swift: one step of a trajectory as kept for scrubbing.
import Foundation
import Synchronization

/// A frame stored compactly for scrubbing (Float16 halves the memory of a long trajectory).
public struct RecordedFrame: Sendable {
    public let step: Int, t: Int, n: Int, size: Int
    /// The timestep this step went to (-1 after the last) and the settings it used (for the equation panel).
    public let tNext: Int
    public let settings: SamplerSettings
    public let xt: [Float16], x0: [Float16]
    public let eps: Stats
    public let x0Outside: Double
    /// The classifier's reading of each kept x̂0 (empty without a classifier).
    public let readings: [DigitReader.Reading]
    public init(_ f: Frame, keep: Int, readings: [DigitReader.Reading] = []) {
        self.readings = readings
        step = f.step; t = f.t; n = min(f.n, keep); size = f.size; tNext = f.tNext; settings = f.settings
        let len = n * size * size
        xt = f.xt[0..<len].map { Float16($0) }
        x0 = f.x0[0..<len].map { Float16($0) }
        eps = f.eps; x0Outside = f.x0Outside
    }
    /// A frame as read back from a recording.
    public init(step: Int, t: Int, tNext: Int, n: Int, size: Int, settings: SamplerSettings, xt: [Float16], x0: [Float16],
                eps: Stats, x0Outside: Double, readings: [DigitReader.Reading]) {
        self.step = step; self.t = t; self.tNext = tNext; self.n = n; self.size = size; self.settings = settings
        self.xt = xt; self.x0 = x0; self.eps = eps; self.x0Outside = x0Outside; self.readings = readings
    }
    public func xtFloats() -> [Float] { xt.map { Float($0) } }
    public func x0Floats() -> [Float] { x0.map { Float($0) } }
}
