// EvalCommand.swift: `ddpm eval`: sample quality next to real digits; classifier training.
import ArgumentParser
import Engine
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure sample quality with the engine-trained MNIST classifier, next to real digits.")

    @Option(help: "Weights to sample from (default: the bundled model).") var weights: String?
    @Option(parsing: .unconditional, help: "Samples to evaluate (2...10000).") var n: Int = 1000
    @OptionGroup var sampling: SamplerOptions
    @Option(parsing: .unconditional, help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Evaluate these images (an IDX file of [N, 28, 28], raw or gzip) instead of sampling.") var images: String?
    @Option(help: "Classifier weights (default: the bundled one).") var classifier: String?
    @Flag(help: "Train the classifier anew and write it (to --classifier or the bundled path).") var trainClassifier = false
    @Option(parsing: .unconditional, help: "Classifier training epochs.") var epochs: Int = 4
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard (2...10_000).contains(n) else { throw ValidationError("--n must be in 2...10000, got \(n)") }
        guard (1...100).contains(epochs) else { throw ValidationError("--epochs must be in 1...100, got \(epochs)") }
    }

    func run() throws {
        try wrap {
            BLAS.configure()
            let test = try Assets.loadMNIST(train: false)
            if trainClassifier { return try trainNewClassifier(test: test) }
            let (cls, cp) = try loadClassifier(classifier ?? Assets.classifier)
            let (fake, label) = try setUnderTest()
            let nf = fake.count / MNIST.pixels
            let train = try Assets.loadMNIST(train: true, limit: nf)
            let evaluation = Evaluation(classifier: cls, params: cp, reference: test)
            var gen = evaluation.report(fake, n: nf)
            let real = evaluation.report(train.images, n: nf)
            gen["sobel_ratio"] = gen["sobel_energy"]! / real["sobel_energy"]!
            try printReport(n: nf, label: label, generated: gen, real: real)
        }
    }

    /// `--train-classifier`: trains the classifier anew and writes it with its recipe.
    func trainNewClassifier(test: Dataset) throws {
        let clsPath = classifier ?? Assets.classifier
        let cls = Classifier(), cp = FloatBuffer(count: cls.layout.count)
        let train = try Assets.loadMNIST(train: true)
        let t0 = Benchmark.now()
        let acc = cls.train(params: cp, train: train, test: test, epochs: epochs, log: { print($0); fflush(stdout) })
        try Checkpoint.writeWeights(clsPath, layout: cls.layout, params: cp.ptr, metadata: [
            "format": "ddpm-explorer classifier 1", "test_accuracy": String(format: "%.4f", acc),
            "epochs": String(epochs), "command": CommandLine.arguments.joined(separator: " "),
            "wall_time_s": String(format: "%.0f", Benchmark.now() - t0)])
        print(String(format: "wrote %@ (test accuracy %.2f%%)", clsPath, acc * 100))
    }

    /// The images under test ([N, 784] in [-1, 1]) and how the report names them:
    /// --images, or samples of the model.
    func setUnderTest() throws -> ([Float], String) {
        if let images {
            let f = try IDXFile.read(images) { dims in
                try Dataset.usableImages(dims, path: images)
                guard dims[1] == MNIST.side else { throw EngineError.badFile(path: images, reason: "expected [N, 28, 28] images, got \(dims)") }
                guard dims[0] >= 2 else { throw EngineError.badFile(path: images, reason: "\(dims[0]) images; the metrics need at least 2") }
            }
            let m = min(n, f.dims[0])
            return ((0..<(m * MNIST.pixels)).map { Float(f.bytes[$0]) / 127.5 - 1 }, images)
        }
        let path = weights ?? Assets.model
        let (net, params, schedule, _) = try Assets.reading(path) { try loadModel(path) }
        let settings = sampling.settings(T: schedule.T)
        let t0 = Benchmark.now()
        let fake = try Evaluation.samples(UNetPredictor(net: net, params: params), schedule: schedule, settings: settings,
                                          n: n, seed: seed, size: net.config.imageSize) { done in
            if !json { print(String(format: "\rsampled %d/%d (%.0f s)", done, n, Benchmark.now() - t0), terminator: ""); fflush(stdout) }
        }
        if !json { print("") }
        return (fake, sampling.label(settings, T: schedule.T))
    }

    func printReport(n nf: Int, label: String, generated gen: [String: Double], real: [String: Double]) throws {
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
            struct Out: Codable { var n: Int; var source: String; var generated: [String: Double]; var real: [String: Double] }
            print(String(decoding: try enc.encode(Out(n: nf, source: label, generated: gen, real: real)), as: UTF8.self))
            return
        }
        print("n = \(nf); generated: \(label); real: \(nf) MNIST training digits; reference: the 10k test set")
        print("metric                          generated        real")
        for (name, key) in [("Frechet distance (features)", "frechet"), ("Inception-Score analogue", "inception_score"),
                            ("precision (k=3)", "precision"), ("recall (k=3)", "recall"), ("confident rate (p>=0.9)", "confident_rate"),
                            ("diversity (mean pairwise L2)", "diversity"), ("Sobel energy", "sobel_energy"),
                            ("rarest class share", "class_min"), ("commonest class share", "class_max")] {
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: " %10.4f  %10.4f", gen[key]!, real[key]!))
        }
        if nf > Evaluation.diversitySamples {
            // Both grow as n^2: say which part of the sets they saw, so a larger --n does not look broken.
            print("precision/recall use the first \(min(nf, Evaluation.knnSamples)) of each set, diversity the first \(Evaluation.diversitySamples)")
        }
        print(String(format: "Sobel energy ratio generated/real: %.3f", gen["sobel_ratio"]!))
        print("class histogram (generated): " + (0..<10).map { String(format: "%d:%.1f%%", $0, gen["class_\($0)"]! * 100) }.joined(separator: " "))
    }
}
