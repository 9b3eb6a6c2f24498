// Locked.swift: a value behind a pthread mutex (NSLock), shared between the UI and the engine thread.
import Foundation

/// A locked value box. NSLock (a pthread mutex) rather than Synchronization's
/// Mutex: on Linux that one waits on raw futexes, which ThreadSanitizer
/// cannot see, so every handover through it was reported as a race.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}
