// Parallel.swift: parallel loops over the cores (on the worker pool).
import Foundation

/// Splits `0..<count` into contiguous chunks run on all cores.
///
/// Used for memory-bound element-wise kernels (GroupNorm, SiLU, im2col); the
/// result never depends on the number of chunks because every chunk writes a
/// disjoint range and no reduction crosses chunks.
public enum Parallel {
    public static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// The cores a region started now would get: all of them, or 1 inside
    /// another region (e.g. in the sampler's per-core network copies), where
    /// `run` goes through its iterations on the calling thread. Work split
    /// for `available` threads then is not split for nothing (a direct
    /// convolution would build an image's input planes once per part).
    public static var available: Int { WorkerPool.shared.isBusy ? 1 : cores }

    /// body(0..<iterations) on the calling thread and the worker threads
    /// (WorkerPool); the iteration index doubles as a per-thread scratch index
    /// where callers use at most `cores` iterations.
    @inline(__always)
    public static func run(_ iterations: Int, _ body: (Int) -> Void) {
        WorkerPool.shared.run(iterations) { _, i in body(i) }
    }

    /// body(thread, i) for i in 0..<iterations, iterations claimed by whichever
    /// thread is free (thread in 0..<cores, for per-thread scratch). Only for
    /// iterations whose results do not depend on the thread that runs them.
    @inline(__always)
    public static func runBalanced(_ iterations: Int, _ body: (Int, Int) -> Void) {
        WorkerPool.shared.run(iterations, body)
    }

    @inline(__always)
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(cores, max(1, count / max(1, minChunk)))
        if chunks <= 1 { body(0..<count); return }
        run(chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}

/// Memory-bound whole-buffer operations on all cores. Each element is written
/// by exactly one chunk with the same arithmetic as a serial loop, so results
/// are identical for any number of cores. Buffers under `minCount` floats are
/// done on the calling thread (waking a worker costs more than it saves).
extension Parallel {
    public static let minCount = 1 << 15

    /// dst[0..<count] = 0.
    public static func zero(_ dst: UnsafeMutablePointer<Float>, count: Int) {
        forEach(count, minChunk: minCount) { r in (dst + r.lowerBound).update(repeating: 0, count: r.count) }
    }

    /// dst[0..<count] = src[0..<count] (the ranges must not overlap).
    public static func copy(_ dst: UnsafeMutablePointer<Float>, from src: UnsafePointer<Float>, count: Int) {
        forEach(count, minChunk: minCount) { r in (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count) }
    }

    /// dst[i] += src[i] for i in 0..<count.
    public static func add(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
        forEach(count, minChunk: minCount) { r in
            let d = dst + r.lowerBound, s = src + r.lowerBound
            for i in 0..<r.count { d[i] += s[i] }
        }
    }
}
