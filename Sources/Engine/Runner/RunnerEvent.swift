// RunnerEvent.swift: what the engine thread reports back.
import Foundation
import Synchronization

/// What the engine reports back.
public enum RunnerEvent: Sendable, Equatable {
    case frame(step: Int, t: Int)
    case finished
    case trainStep(Int)
    case preview(step: Int)
    case saved(String)
    case error(String)
}
