// AllocationTests.swift: a training step and a sampling step allocate nothing
// once warmed up (issue #20), counted by the test binary's own malloc family
// (Tests/MallocCounter), on every thread of the process.
import MallocCounter
import XCTest
@testable import Compute
@testable import Engine

final class AllocationTests: XCTestCase {
    var blis = 0, regions = 0
    /// Heap allocations made by any thread while `body` runs, less one per
    /// parallel region handed to the worker pool (its closure box, the one
    /// allocation Swift makes to share a non-escaping closure with other
    /// threads) and those BLIS makes inside its own calls (`blis` has them).
    func allocations(_ body: () throws -> Void) rethrows -> Int {
        let regions = WorkerPool.shared.regions.load(ordering: .relaxed)
        malloc_counter_start()
        defer { _ = malloc_counter_stop() }
        try body()
        let n = malloc_counter_stop()
        blis = malloc_counter_blis()
        self.regions = WorkerPool.shared.regions.load(ordering: .relaxed) - regions
        return n - self.regions
    }

    /// The counter sees what Swift allocates (so a zero below means something):
    /// a new array and a class instance, on this thread and on the worker pool's.
    final class Box { var v = 0 }
    var keptArray: [Float] = [], keptBox: Box? = nil

    func testTheCounterCountsSwiftAllocations() {
        // Kept in the test's properties, so the optimiser cannot put them on the stack.
        let n = allocations {
            keptArray = [Float](repeating: 1, count: 1000 + keptArray.count)
            keptBox = Box()
        }
        XCTAssertGreaterThanOrEqual(n, 2, "array and instance")
        let parts = UnsafeMutablePointer<[Int]>.allocate(capacity: Parallel.cores)
        parts.initialize(repeating: [], count: Parallel.cores)
        defer { parts.deinitialize(count: Parallel.cores); parts.deallocate() }
        let onWorkers = allocations {
            Parallel.run(Parallel.cores) { i in parts[i] = [Int](repeating: i, count: 100 + i) }
        }
        XCTAssertGreaterThanOrEqual(onWorkers, Parallel.cores, "one array per worker")
        XCTAssertEqual(keptBox?.v, 0)
    }

    /// Training steps (forward, loss, backward, clipping, Adam, EMA) after
    /// warm-up: none of ours, on every backend, dropout on and off. BLIS,
    /// which still computes the Linear layers and some weight gradients,
    /// allocates inside each of its calls; the test prints how often.
    func testTrainingStepsAllocateNothing() throws {
        try forEachBackend { backend in
            for (dropout, attention): (Float, [Int]) in [(0.1, []), (0, []), (0, [2])] {
                var o = TrainOptions()
                o.config.dropout = dropout
                o.config.attention = attention
                o.batch = 16; o.lr = 1e-3; o.warmup = 2; o.totalSteps = 100; o.seed = 5
                let tr = try Trainer(options: o, backend: backend, data: TrainerTests.digits)
                for _ in 0..<3 { try tr.trainStep() }
                let n = try allocations { for _ in 0..<5 { try tr.trainStep() } }
                XCTAssertEqual(n, 0, "\(backend) dropout \(dropout) attention \(attention): allocations in 5 training steps")
                print("\(backend) dropout \(dropout) attention \(attention): BLIS and its OpenMP runtime allocated \(blis / 5) times and the pool's regions \(regions / 5) times per training step")
            }
        }
    }

    /// Sampling steps (the network on the whole batch and the sampler's
    /// update) after warm-up: none, for DDPM and DDIM, at batch 1 and 16.
    func testSamplingStepsAllocateNothing() throws {
        var withAttention = UNetConfig.tiny
        withAttention.attention = [2]
        for config in [UNetConfig.tiny, withAttention] {
            try forEachBackend([.detected, .bf16]) { try samplingStepsAllocateNothing(config, $0) }
        }
    }

    private func samplingStepsAllocateNothing(_ config: UNetConfig, _ backend: Backend) throws {
        let net = try UNet(config, backend: backend)
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 9, stream: 0)
        net.layout.initialize(params.ptr, rng: &rng)
        let model = UNetPredictor(net: net, params: params)
        let schedule = try NoiseSchedule()
        for settings in [SamplerSettings(), SamplerSettings(kind: .ddim, steps: 50)] {
            for n in [1, 16] {
                let s = try Sampler(schedule: schedule, settings: settings, n: n, size: MNIST.side, seed: 3)
                for _ in 0..<2 { s.advance(model) }
                let count = allocations { for _ in 0..<5 { s.advance(model) } }
                XCTAssertEqual(count, 0, "\(backend) \(settings.kind) batch \(n) attention \(config.attention): allocations in 5 sampling steps")
                XCTAssertEqual(blis, 0, "sampling calls no BLIS")
                print("\(settings.kind) batch \(n): the pool's regions allocated \(regions / 5) times per sampling step")
            }
        }
    }
}
