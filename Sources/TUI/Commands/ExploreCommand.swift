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
    @Flag(help: "Open with the run paused after its first step (x_T on screen) until space plays it: a lecture's first words are not spent on its first 500 steps.") var paused = false
    @OptionGroup(title: "Sampler (as ddpm sample; all can be changed live)") var sampling: SamplerOptions
    @Option(help: ArgumentHelp("An IDX folder (28x28 or 32x32 grey images) instead of the bundled MNIST: the forward view's images and what g in the training view trains on.", valueName: "dir"))
    var data: String?
    @Option(help: ArgumentHelp("The classifier that labels the images on screen (default: the bundled MNIST one; none with --data). Train one with: ddpm eval --train-classifier --data DIR --out FILE.", valueName: "path"))
    var classifier: String?
    @Option(help: "Kernels: avx512, avx2, reference or bf16 (sampling's convolutions in bfloat16 on a CPU with AVX512_BF16, on its AMX tiles where it has them: faster, samples close to but not the same as the default's); default: the fastest float kernels this CPU runs.") var backend: String?
    @OptionGroup(title: "A weights file without ddpm's metadata") var modelFile: ModelFileOptions

    func validate() throws {
        try modelFile.validateForFile()
        guard (1...64).contains(n) else { throw ValidationError("--n must be in 1...64, got \(n)") }
        guard ["sample", "train", "forward", "compare"].contains(view) else { throw ValidationError("--view must be sample, train, forward or compare") }
        if paused && view != "sample" { throw ValidationError("--paused holds the sample view's run after its first step; --view \(view) opens another view") }
        _ = try backendOption(backend)
    }

    func run() throws {
        let inputs = Assets.modelInputs(weights: weights, guideClassifier: sampling.guideClassifier, classifier: classifier)
            + Assets.dataInputs(data)
        if try wrap({ try CastRecorder.recordIfAsked(cast, inputs: inputs) }) { return }
        var o = ExplorerApp.Options()
        o.weights = weights; o.n = n; o.seed = seed; o.modelFile = modelFile; o.paused = paused
        o.data = data; o.classifier = classifier
        o.backend = try backendOption(backend)
        let sampling = self.sampling
        o.settings = { T in sampling.settings(T: T) }
        o.guideClassifier = sampling.guideClassifier
        o.screen = ["train": .train, "forward": .forward, "compare": .compare][view] ?? .sample
        o.internalErrorAfterFrames = TestHooks.internalErrorAfterFrames
        o.crashAfterFrames = TestHooks.crashAfterFrames
        try runExplorer(o)
    }
}
