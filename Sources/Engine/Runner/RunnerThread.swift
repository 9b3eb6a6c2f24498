// RunnerThread.swift: the thread that runs a Runner and hands snapshots to the UI.
import Foundation
import Synchronization

/// Runs a `Runner` on a background thread. The UI posts commands (never
/// blocking on computation) and reads the newest snapshot.
public final class RunnerThread: @unchecked Sendable {
    private let runner: Runner
    private let inbox = Locked<[RunnerCommand]>([])
    private let published = Locked<RunnerSnapshot>(RunnerSnapshot())
    private let wake = DispatchSemaphore(value: 0)
    private var thread: Thread?
    private let stopped = Atomic<Bool>(false)
    private let finishedLoop = DispatchSemaphore(value: 0)

    public init(_ runner: Runner) { self.runner = runner }

    public func start() {
        // Weakly: the Thread keeps its closure after the loop ends, and `thread` keeps the Thread, so a
        // strong capture kept every engine the explorer replaced (a training run's trainer and its copy of
        // MNIST, about 260 MB each) for the whole session. The loop holds self while it runs.
        let t = Thread { [weak self] in self?.loop() }
        t.stackSize = 8 << 20
        t.name = "ddpm-engine"
        thread = t
        t.start()
    }

    public func send(_ c: RunnerCommand) {
        inbox.withLock { $0.append(c) }
        wake.signal()
    }

    /// The newest published state (copy-on-write arrays: cheap).
    public var snapshot: RunnerSnapshot { published.withLock { $0 } }

    /// Asks the loop to end and waits for it (at most `timeout` seconds): whether it ended (else it
    /// ends after the step it is in, and a second call waits for that; once ended, calls return at once).
    @discardableResult
    public func stop(timeout: Double = 5) -> Bool {
        stopped.store(true, ordering: .sequentiallyConsistent)
        wake.signal()
        guard finishedLoop.wait(timeout: .now() + timeout) == .success else { return false }
        finishedLoop.signal()
        return true
    }

    private func loop() {
        var lastTick = 0.0
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let cmds = inbox.withLock { c -> [RunnerCommand] in let x = c; c.removeAll(); return x }
            for c in cmds {
                if case .quit = c { stopped.store(true, ordering: .sequentiallyConsistent) }
                runner.handle(c)
            }
            if stopped.load(ordering: .sequentiallyConsistent) { break }
            if !cmds.isEmpty { publish() }
            if runner.isRunning {
                if let limit = runner.snapshot.speedLimit, limit > 0 {
                    let wait = 1 / limit - (Benchmark.now() - lastTick)
                    if wait > 0 { _ = wake.wait(timeout: .now() + wait); continue }
                }
                lastTick = Benchmark.now()
                runner.tick()
                publish()
            } else {
                _ = wake.wait(timeout: .now() + 0.1)
            }
        }
        publish()
        finishedLoop.signal()
    }

    private func publish() {
        let s = runner.snapshot
        published.withLock { $0 = s }
    }
}
