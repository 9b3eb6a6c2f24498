import Foundation
import Synchronization
import XCTest
@testable import Compute
@testable import Engine

final class ParallelTests: XCTestCase {
    /// Every iteration runs exactly once, over many back-to-back regions (the
    /// workers spin between them) and after the workers have gone to sleep.
    func testEachIterationRunsOnce() {
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { slots.deallocate() }
        for round in 0..<2000 {
            let n = 1 + round % 7
            slots.update(repeating: 0, count: n)
            Parallel.run(n) { i in slots[i] += 1 }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: slots, count: n)), [Int](repeating: 1, count: n))
            if round == 1000 { Thread.sleep(forTimeInterval: 0.05) }   // workers asleep now
        }
    }

    /// Balanced regions: each iteration once, on a thread index below `cores`
    /// (the per-thread scratch index).
    func testBalancedIterationsAndThreadIndices() {
        let n = 257
        let slots = UnsafeMutablePointer<Int>.allocate(capacity: n), owner = UnsafeMutablePointer<Int>.allocate(capacity: n)
        defer { slots.deallocate(); owner.deallocate() }
        for _ in 0..<200 {
            slots.update(repeating: 0, count: n)
            Parallel.runBalanced(n) { th, i in slots[i] += 1; owner[i] = th }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: slots, count: n)), [Int](repeating: 1, count: n))
            XCTAssertTrue(UnsafeBufferPointer(start: owner, count: n).allSatisfy { (0..<Parallel.cores).contains($0) })
        }
    }

    /// A region started inside a region, or from a second thread while the pool
    /// is busy, runs on its own thread and still covers every iteration.
    func testNestedAndConcurrentCallers() {
        let total = Atomic<Int>(0)
        Parallel.run(2) { _ in
            Parallel.run(3) { _ in total.add(1, ordering: .relaxed) }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 6)
        let other = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<4 {
            DispatchQueue.global().async(group: group) {
                for _ in 0..<500 { Parallel.run(2) { _ in other.add(1, ordering: .relaxed) } }
            }
        }
        group.wait()
        XCTAssertEqual(other.load(ordering: .relaxed), 4 * 500 * 2)
    }
}
