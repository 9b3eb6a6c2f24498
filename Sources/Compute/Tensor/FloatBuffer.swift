// FloatBuffer.swift: an aligned, growable Float buffer.
import Foundation

/// A 64-byte aligned, manually managed array of `Float` that only grows.
///
/// Layers keep their activations in these and reuse them from step to step, so
/// the hot path allocates nothing once the largest batch has been seen.
public final class FloatBuffer: @unchecked Sendable {
    public private(set) var capacity: Int
    public private(set) var ptr: UnsafeMutablePointer<Float>

    public init(count: Int) {
        capacity = max(count, 1)
        ptr = FloatBuffer.allocate(capacity)
        ptr.initialize(repeating: 0, count: capacity)
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { free(ptr) }

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<Float> {
        var raw: UnsafeMutableRawPointer? = nil
        let (bytes, overflow) = n.multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard !overflow, posix_memalign(&raw, 64, bytes) == 0, let raw else { outOfMemory(floats: n) }
        return raw.bindMemory(to: Float.self, capacity: n)
    }

    /// Runs before the process ends for want of memory (the explorer puts
    /// the terminal back); set once at start-up.
    nonisolated(unsafe) public static var beforeOutOfMemoryExit: (() -> Void)?

    /// Memory ran out (callers check what they can beforehand: a batch's
    /// size, a model's parameters): a message and exit status 71 (EX_OSERR),
    /// not a crash. Nothing here may allocate (formatting the size did, and
    /// crashed in the runtime under `ulimit -v 180000`): a static message
    /// written with write(2), then _exit.
    static func outOfMemory(floats n: Int) -> Never {
        beforeOutOfMemoryExit?()
        let message: StaticString = "ddpm: out of memory (a smaller batch, fewer samples or a smaller model needs less)\n"
        _ = write(STDERR_FILENO, message.utf8Start, message.utf8CodeUnitCount)
        _exit(71)
    }

    /// Makes room for `count` floats; contents are undefined (zero) after a growth.
    @inline(__always)
    public func reserve(_ count: Int) {
        if count > capacity {
            free(ptr)
            capacity = count
            ptr = FloatBuffer.allocate(count)
            ptr.initialize(repeating: 0, count: count)
        }
    }

    public func zero(_ count: Int? = nil) {
        Parallel.zero(ptr, count: count ?? capacity)
    }

    public func array(_ count: Int? = nil) -> [Float] {
        Array(UnsafeBufferPointer(start: ptr, count: count ?? capacity))
    }

    public func copy(from src: UnsafePointer<Float>, count: Int) {
        reserve(count)
        ptr.update(from: src, count: count)
    }
}
