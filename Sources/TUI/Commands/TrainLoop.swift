// TrainLoop.swift: `ddpm train`'s plain loop: progress lines, checkpoints, signals, divergence.
import Engine
import Foundation

/// The plain (non-TUI) training loop with progress output and signal handling.
struct TrainLoop {
    let trainer: Trainer
    let out: String
    let export: String?
    let checkpointEvery: Int
    let command: String
    /// Stop (saving) after this many minutes of wall-clock time.
    var minutes: Double? = nil
    /// Every `seconds`, the classifier's confident share of a 64-digit EMA preview (the demo's timing).
    var report: (seconds: Double, reader: DigitReader)? = nil

    /// Runs before every step (the fault tests' injections; nil in normal use).
    var beforeStep: ((Trainer) -> Void)? = nil
    /// Checkpoint writes pause this long halfway (fault tests; 0 in normal use).
    var writePauseMs = 0

    /// "; warm-up 20 steps (--warmup 50 is at most a tenth of the run)" when the schedule cuts it; else "".
    func warmupCut(_ o: TrainOptions) -> String {
        let w = Trainer.lrSchedule(o).warmup
        return w < o.warmup && trainer.step == 0 ? "; warm-up \(w) step\(w == 1 ? "" : "s") (--warmup \(o.warmup): a warm-up is at most a tenth of the run)" : ""
    }

    func run() throws {
        installStopHandlers()
        // The lecture demo without --steps is sized to the machine's pace
        // (trainer.pendingFit), once, `atStep` steps after this loop starts.
        var total = trainer.options.totalSteps
        let t0 = Benchmark.now()
        var startStep = trainer.step
        // Where the rate and ETA count from: the loop's start, or where the demo started over.
        var rateT0 = t0
        // Where the pace of the demo's fit counts from: the loop's start, or where it started over (sized again).
        var fitT0 = t0
        // When the fit's first `settle` steps ended (left out of its pace).
        var settledAt: Double? = nil
        // The loss smoothed over about the last 50 steps: an exponential average with Adam's bias
        // correction (started at the first loss, it carried step 1's for hundreds of steps: 0.77
        // after 40 steps whose last ten averaged 0.18). A resumed run goes on from the losses its
        // checkpoint kept.
        var lossAverage = 0.0, lossCount = 0
        var smoothed: Double { lossCount == 0 ? .nan : lossAverage / (1 - pow(0.98, Double(lossCount))) }
        func smooth(_ loss: Double) { lossAverage = 0.98 * lossAverage + 0.02 * loss; lossCount += 1 }
        for l in trainer.recentLosses where l.isFinite { smooth(Double(l)) }
        var lastPrint = 0.0
        var wall = 0.0
        func extra() -> [String: String] {
            ["command": command, "wall_time_s": String(format: "%.0f", wall)]
        }
        var nextReport = report?.seconds ?? .infinity, lastReportStep = -1
        /// One line of the demo's timing: minutes, step, confident share of 64 preview digits, and which classes.
        func reportLine() throws {
            guard let report else { return }
            if isTTY { print("") }   // below the progress bar
            // The time of the weights read, not of the report's end (its preview takes seconds).
            let el = Benchmark.now() - t0
            let n = 64
            let x = try trainer.previewSamples(n: n)
            let r = x.withUnsafeBufferPointer { report.reader.read($0.baseAddress!, n: n, side: trainer.options.config.imageSize) }
            let sure = r.filter { $0.isConfidentDigit }
            var counts = [Int](repeating: 0, count: 10)
            for q in sure { counts[q.digit] += 1 }
            print(String(format: "report %d:%02d step %d confident %d/%d (%.3f) classes %@ loss %.4f", Int(el) / 60, Int(el) % 60,
                         trainer.step, sure.count, n, Double(sure.count) / Double(n),
                         counts.map(String.init).joined(separator: ","), smoothed))
            fflush(stdout)
            lastReportStep = trainer.step
        }
        print("training \(trainer.options.config.name) (\(trainer.count.formatted()) parameters) on \(trainer.data.count) images, batch \(min(trainer.options.batch, trainer.data.count))\(trainer.options.batch > trainer.data.count ? " (all of them; --batch \(trainer.options.batch))" : ""), \(total) step\(total == 1 ? "" : "s") (\(String(format: "%.1f", Double(total) / Double(trainer.stepsPerEpoch))) epochs)"
              + (trainer.pendingFit.map { "; at most: sized to this machine's pace after \($0.atStep) steps" } ?? "")
              + warmupCut(trainer.options))
        let exported = export.map { ", EMA weights to \(EngineError.oneLine($0))" } ?? ""
        while trainer.step < total {
            if stopSignal == 0 && stdoutFailed() { stopSignal = SIGPIPE }   // `| head`, a dying tee
            // A run stopped early (a signal, --minutes) writes --export too: the weights it has are
            // the ones a user who asked for them would sample next (it wrote nothing there before).
            if stopSignal != 0 {
                try trainer.saveCheckpoint(out, extra: extra(), pauseMidwayMs: writePauseMs)
                if let export { try trainer.saveWeights(export, extra: extra()) }
                let why = stopSignal == SIGPIPE ? "standard output closed" : "stopped by signal"
                let line = "\(why) at step \(trainer.step): checkpoint saved to \(EngineError.oneLine(out))\(exported); continue with --resume\n"
                if stopSignal == SIGPIPE { fputs(line, stderr) } else { print("\n" + line, terminator: "") }
                return
            }
            if let minutes, Benchmark.now() - t0 >= minutes * 60 {
                if lastReportStep != trainer.step { try reportLine() }
                wall = Benchmark.now() - t0
                try trainer.saveCheckpoint(out, extra: extra(), pauseMidwayMs: writePauseMs)
                if let export { try trainer.saveWeights(export, extra: extra()) }
                print("\nstopped after \(formatDuration(wall)) (--minutes) at step \(trainer.step): checkpoint saved to \(EngineError.oneLine(out))\(exported); continue with --resume")
                return
            }
            beforeStep?(trainer)
            let s: StepStats
            do { s = try trainer.trainStep() } catch let e as EngineError {
                if case .diverged(let step, let loss) = e {
                    // (Before the first save there is no checkpoint to keep: not named as if there were.)
                    throw CLIError("training diverged at step \(step) (loss \(loss)); "
                        + (FileManager.default.fileExists(atPath: out) ? "the last good checkpoint \(EngineError.oneLine(out)) is kept"
                           : "nothing was saved (it diverged before the first checkpoint)")
                        + (trainer.options.distill != nil ? " (a distilling run also diverges on a broken --teacher or --weak-teacher; else try a lower --lr)" : " (try a lower --lr)"))
                }
                throw e
            }
            smooth(s.loss)
            wall = Benchmark.now() - t0
            if let f = trainer.pendingFit, trainer.step - startStep == f.settle { settledAt = Benchmark.now() - fitT0 }
            if let f = trainer.pendingFit, trainer.step - startStep >= f.atStep {
                let said = try trainer.fitLength(f, done: trainer.step - startStep, elapsed: Benchmark.now() - fitT0, settledAt: settledAt)
                total = trainer.options.totalSteps
                if isTTY { print("") }
                print(said)
                fflush(stdout)   // a log followed as it is written shows the length when it is chosen
                if trainer.step == 0 {   // started over (LengthFit.faster): nothing to save or show yet
                    startStep = 0; rateT0 = Benchmark.now(); fitT0 = rateT0; settledAt = nil; lossAverage = 0; lossCount = 0
                    continue
                }
            }
            let done = trainer.step - startStep, rateWall = Benchmark.now() - rateT0
            let ips = Double(done * min(trainer.options.batch, trainer.data.count)) / rateWall
            let eta = rateWall / Double(done) * Double(total - trainer.step)
            if trainer.step % checkpointEvery == 0 || trainer.step == total {
                try trainer.saveCheckpoint(out, extra: extra(), pauseMidwayMs: writePauseMs)
            }
            if Benchmark.now() - t0 >= nextReport {
                try reportLine()
                while nextReport <= Benchmark.now() - t0 { nextReport += report!.seconds }
            }
            let now = Benchmark.now()
            // Before the lecture demo is sized to the machine its length, and so its ETA, is not known.
            let etaShown = trainer.pendingFit.map { "at step \(startStep + $0.atStep)" } ?? formatDuration(eta)
            let totalShown = (trainer.pendingFit == nil ? "" : "<=") + "\(total)"
            if isTTY {
                if now - lastPrint > 0.2 || trainer.step == total {
                    let rest = String(format: " step %d/%@  loss %.4f  %.0f img/s  ETA %@ ", trainer.step, totalShown, smoothed, ips, etaShown)
                    // The bar takes what an 80-column terminal leaves (a longer line would wrap at every update).
                    let width = min(30, max(10, 79 - rest.count)), filled = Int(Double(trainer.step) / Double(total) * Double(width))
                    let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                    print("\r" + bar + rest, terminator: "")
                    fflush(stdout); lastPrint = now
                }
            } else if now - lastPrint > 10 || trainer.step == total || trainer.step == startStep + 1 {
                print(String(format: "step %d/%@ loss %.4f (smoothed %.4f) lr %.2e %.0f img/s ETA %@", trainer.step, totalShown, s.loss, smoothed, s.lr, ips, etaShown))
                fflush(stdout); lastPrint = now
            }
        }
        if isTTY { print("") }
        if report != nil && lastReportStep != trainer.step { try reportLine() }
        if let export { try trainer.saveWeights(export, extra: extra()) }
        // A resume of a finished run trains nothing (and has no loss of its own to show).
        let summary = trainer.step == startStep
            ? String(format: "done: already at step %d of %d, nothing to train; checkpoint %@", trainer.step, total, EngineError.oneLine(out))
            : (startStep == 0 ? "done: \(total) step\(total == 1 ? "" : "s") in \(formatDuration(wall))"
                              : "done: step \(total); steps \(startStep + 1)-\(total) trained in \(formatDuration(wall)) (resumed at \(startStep))")
              + String(format: ", final smoothed loss %.4f; checkpoint %@", smoothed, EngineError.oneLine(out))
        print(summary + (export.map { "; EMA weights \(EngineError.oneLine($0))" } ?? ""))
    }
}
