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
        var raw: UnsafeMutableRawPointer?
        let rc = posix_memalign(&raw, 64, n * MemoryLayout<Float>.stride)
        precondition(rc == 0 && raw != nil, "out of memory allocating \(n) floats")
        return raw!.bindMemory(to: Float.self, capacity: n)
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
