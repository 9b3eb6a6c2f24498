// ExploreCommand.swift: `ddpm` / `ddpm explore`: the terminal explorer's options.
import ArgumentParser
import Engine
import Foundation

struct ExploreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explore",
        abstract: "The terminal explorer (the default when ddpm runs without a subcommand).")

    @Option(help: "Weights or checkpoint (default: the bundled model).") var weights: String?
    @Option(parsing: .unconditional, help: "Digits sampled at once (1...64).") var n: Int = 16
    @Option(parsing: .unconditional, help: "First random seed (r adds 1).") var seed: UInt64 = 0
    @Option(help: "View to open: sample, train, forward or compare.") var view: String = "sample"
    @Option(help: "Write the session's terminal output as an asciicast v2 file (asciinema play replays it, colours included).") var cast: String?
    @OptionGroup(title: "Sampler (as ddpm sample; all can be changed live)") var sampling: SamplerOptions

    func validate() throws {
        guard (1...64).contains(n) else { throw ValidationError("--n must be in 1...64, got \(n)") }
        guard ["sample", "train", "forward", "compare"].contains(view) else { throw ValidationError("--view must be sample, train, forward or compare") }
    }

    func run() throws {
        if try wrap({ try CastRecorder.recordIfAsked(cast, inputs: [weights ?? Assets.model]) }) { return }
        var o = ExplorerApp.Options()
        o.weights = weights; o.n = n; o.seed = seed
        let sampling = self.sampling
        o.settings = { T in sampling.settings(T: T) }
        o.guideClassifier = sampling.guideClassifier
        o.screen = ["train": .train, "forward": .forward, "compare": .compare][view] ?? .sample
        o.crashAfterFrames = TestHooks.internalErrorAfterFrames
        try ExplorerApp.run(o)
        // Ended by a signal (the terminal is restored by now): say so in the exit status, as shells do.
        if uiStop != 0 { throw ExitCode(128 + uiStop) }
    }
}
