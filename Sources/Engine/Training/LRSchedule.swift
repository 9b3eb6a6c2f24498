// LRSchedule.swift: linear warm-up, then cosine decay to zero.
import Foundation

/// Linear warm-up to the base rate, then cosine decay to zero at `totalSteps`.
public struct LRSchedule: Codable, Equatable, Sendable {
    public var base: Double, warmup: Int, totalSteps: Int
    public init(base: Double, warmup: Int, totalSteps: Int) { self.base = base; self.warmup = warmup; self.totalSteps = totalSteps }
    /// Rate for 0-based step s.
    public func rate(_ s: Int) -> Double {
        if s < warmup { return base * Double(s + 1) / Double(warmup) }
        let span = max(1, totalSteps - warmup)
        let p = min(1, Double(s - warmup) / Double(span))
        return base * 0.5 * (1 + cos(Double.pi * p))
    }
}
