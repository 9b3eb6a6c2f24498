// WorkerPool.swift: persistent worker threads for parallel regions.
import Foundation
import Synchronization

/// The engine's worker threads: `Parallel.run` hands them the iterations of a
/// parallel region. A sampling step has a couple of hundred such regions
/// (every convolution, GroupNorm and copy), each a few microseconds to a
/// millisecond long. Waking a sleeping thread for each one (what
/// DispatchQueue.concurrentPerform does) costs tens of microseconds in a
/// virtual machine, whose idle vCPU has to be rescheduled by the host, so the
/// workers spin for a while (`spinSeconds`) after a region before they sleep,
/// as OpenMP runtimes do. A paused explorer therefore costs no CPU.
///
/// Protocol: the generation counter is odd while a job is published. A worker
/// that sees a new odd generation registers in `active`, re-checks the
/// generation, and only then reads the job; the caller retires the job (even
/// generation) once every iteration is done and waits for `active` to drain
/// before the job's closure goes away.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool(workers: Parallel.cores - 1)
    static let spinSeconds = 2e-4

    private let generation = Atomic<Int>(0)
    private let next = Atomic<Int>(0)
    private let done = Atomic<Int>(0)
    private let active = Atomic<Int>(0)
    private let sleeping = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private nonisolated(unsafe) var job: ((Int, Int) -> Void)?
    private nonisolated(unsafe) var count = 0
    let workers: Int
    /// Regions handed to the workers so far. Each costs one heap allocation:
    /// `withoutActuallyEscaping` boxes the caller's closure so the workers can
    /// call it (the allocation tests count these and nothing else).
    let regions = Atomic<Int>(0)

    init(workers: Int) {
        self.workers = max(0, workers)
        for i in 0..<self.workers {
            let t = Thread { [unowned self] in self.work(participant: i + 1) }
            t.name = "ddpm-worker-\(i)"
            t.stackSize = 8 << 20
            t.start()
        }
    }

    /// Runs body(participant, i) for i in 0..<iterations on the calling thread
    /// (participant 0) and the workers (1...workers); each iteration goes to
    /// whichever participant claims it first, so a slower core takes fewer. A
    /// call made while the pool is busy (from inside a region, or from a second
    /// thread) runs its iterations on the calling thread, in order, as
    /// participant 0.
    func run(_ iterations: Int, _ body: (Int, Int) -> Void) {
        if iterations <= 0 { return }
        if iterations == 1 || workers == 0
            || !busy.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged {
            for i in 0..<iterations { body(0, i) }
            return
        }
        regions.add(1, ordering: .relaxed)
        withoutActuallyEscaping(body) { body in
            job = body
            count = iterations
            next.store(0, ordering: .sequentiallyConsistent)
            done.store(0, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)          // odd: published
            let sleepers = sleeping.load(ordering: .sequentiallyConsistent)
            for _ in 0..<min(sleepers, workers) { wake.signal() }
            take(body, iterations, participant: 0)
            while done.load(ordering: .sequentiallyConsistent) < iterations {}
            generation.add(1, ordering: .sequentiallyConsistent)          // even: retired
            while active.load(ordering: .sequentiallyConsistent) > 0 {}
            job = nil
        }
        busy.store(false, ordering: .sequentiallyConsistent)
    }

    /// Whether a region is running (a new one would run on the calling thread).
    var isBusy: Bool { busy.load(ordering: .relaxed) }

    /// Claims and runs iterations until none are left.
    @inline(__always)
    private func take(_ body: (Int, Int) -> Void, _ n: Int, participant: Int) {
        while true {
            let i = next.add(1, ordering: .sequentiallyConsistent).oldValue
            if i >= n { return }
            body(participant, i)
            done.add(1, ordering: .sequentiallyConsistent)
        }
    }

    private func work(participant: Int) {
        var seen = 0
        while true {
            // Wait for a published job newer than the last one seen: spin, then sleep.
            var start = MonotonicClock.now(), spins = 0
            var g = generation.load(ordering: .sequentiallyConsistent)
            while g == seen || g & 1 == 0 {
                spins &+= 1
                if spins & 1023 == 0 && MonotonicClock.now() - start > WorkerPool.spinSeconds {
                    sleeping.add(1, ordering: .sequentiallyConsistent)
                    g = generation.load(ordering: .sequentiallyConsistent)
                    if g == seen || g & 1 == 0 { wake.wait() }
                    sleeping.subtract(1, ordering: .sequentiallyConsistent)
                    start = MonotonicClock.now()
                }
                g = generation.load(ordering: .sequentiallyConsistent)
            }
            seen = g
            active.add(1, ordering: .sequentiallyConsistent)
            if generation.load(ordering: .sequentiallyConsistent) == g, let body = job {
                take(body, count, participant: participant)
            }
            active.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
