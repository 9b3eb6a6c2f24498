import Foundation

/// Splits `0..<count` into contiguous chunks run on all cores.
///
/// Used for memory-bound element-wise kernels (GroupNorm, SiLU, im2col); the
/// result never depends on the number of chunks because every chunk writes a
/// disjoint range and no reduction crosses chunks.
public enum Parallel {
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    @inline(__always)
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(cores, max(1, count / max(1, minChunk)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
