// BenchCommand.swift: `ddpm bench`: training and sampling speed, memory, load times.
import ArgumentParser
import Engine
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training and sampling speed (medians after warm-up) and peak memory.", usage: "ddpm bench [<options>]",
        discussion: "Training: a full DDPM step (random t, q_sample, forward, MSE, backward, Adam, EMA) on synthetic data. Sampling: one DDPM reverse step (forward + update). Compare with PyTorch: see README.")

    @Option(help: "Benchmark the model this weights file describes (its metadata, or --config for a file without it).") var weights: String?
    @OptionGroup(title: "The model (default tiny; tiny, small or a config JSON)") var model: ModelFileOptions
    @Option(parsing: .unconditional, help: "Timed steps per measurement.") var steps: Int = 20
    @Option(parsing: .unconditional, help: "Training batch sizes, comma separated.") var trainBatches: String = "64,128"
    @Option(parsing: .unconditional, help: "Sampling batch sizes, comma separated.") var sampleBatches: String = "1,16,64"
    @Option(help: backendHelp) var backend: String?
    @Flag(help: "Print one JSON object.") var json = false

    /// Option errors before any work, with bench's own usage line.
    func validate() throws {
        guard (1...10_000).contains(steps) else { throw ValidationError("--steps must be in 1...10000, got \(steps)") }
        _ = try Self.batches(trainBatches, "--train-batches")
        _ = try Self.batches(sampleBatches, "--sample-batches")
        _ = try backendOption(backend)
        if weights == nil && (model.describesSchedule || model.objective != nil) {
            throw ValidationError("--schedule, --T and --objective describe a weights file without ddpm's metadata (--weights); the benchmark's model is --config")
        }
    }

    /// Batch sizes from "64,128": every entry a batch size ("64,abc" is a typo, not "64").
    static func batches(_ s: String, _ option: String = "batch sizes") throws -> [Int] {
        let v = s.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !v.isEmpty, v.allSatisfy({ $0.map { (1...1024).contains($0) } ?? false }) else {
            throw ValidationError("\(option) takes batch sizes in 1...1024, comma separated: '\(EngineError.quoted(s))'")
        }
        // Each size once, in the order given (a repeated size would be measured again for nothing).
        var seen = Set<Int>()
        return v.map { $0! }.filter { seen.insert($0).inserted }
    }

    func run() throws {
        var cfg = try model.resolved(defaultConfig: .tiny).config ?? .tiny
        if let weights { cfg = try wrap { try loadModel(weights, given: model, sampling: false) }.0.config }
        BLAS.configure()
        // Loading the bundled files (issue #5: under a second each): median of 5.
        // A missing or damaged file does not stop the speed measurements.
        func loadTime(_ load: () throws -> Void) -> Double? {
            var t: [Double] = []
            do {
                for _ in 0..<5 { let t0 = Benchmark.now(); try load(); t.append((Benchmark.now() - t0) * 1000) }
            } catch {
                fputs("cannot time loading: \(error)\n", stderr)
                return nil
            }
            return Benchmark.median(t)
        }
        let loads: [String: Double?] = [
            "model": loadTime { _ = try Assets.reading(Assets.model) { try loadModel(Assets.model) } },
            "classifier": loadTime { _ = try loadClassifier(Assets.classifier) },
        ]
        var r = try Benchmark.run(config: cfg, backend: try backendOption(backend), trainBatches: try Self.batches(trainBatches), sampleBatches: try Self.batches(sampleBatches),
                                  steps: steps, log: { if !json { print($0); fflush(stdout) } })
        r.load_ms = loads.compactMapValues { $0 }
        // The explorer's digit labels: the classifier reads every shown x̂0 each step (16 by default).
        if let (cls, params) = try? loadClassifier(Assets.classifier) {
            let reader = DigitReader(net: cls, params: params)
            var rng = RNG(seed: 7)
            var images = [Float](repeating: 0, count: 16 * MNIST.pixels)
            images.withUnsafeMutableBufferPointer { rng.fillNormal($0.baseAddress!, count: $0.count) }
            _ = reader.read(images, n: 16, side: MNIST.side)
            var t: [Double] = []
            for _ in 0..<30 { let t0 = Benchmark.now(); _ = reader.read(images, n: 16, side: MNIST.side); t.append((Benchmark.now() - t0) * 1000) }
            r.classify16_ms = Benchmark.median(t)
        }
        if json {
            let enc = jsonEncoder()
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            let peak = r.fma_peak_gflops
            print("model: \(r.config) (its shape, with weights drawn at random)")
            print(String(format: "achieved: %.1f GFLOP/s training (batch %d), %.1f GFLOP/s sampling", r.gflops_train,
                         r.train.first?.batch ?? 0, r.gflops_sample)
                  + (peak > 0 ? String(format: "; this CPU's FMA peak, measured now on %d cores (lower while other programs run): %.0f GFLOP/s (%.0f%% and %.0f%% of it)",
                                       r.threads, peak, 100 * r.gflops_train / peak, 100 * r.gflops_sample / peak) : ""))
            print(String(format: "peak resident memory: %.0f MiB", r.peak_rss_mib))
            for (name, key) in [("bundled model", "model"), ("classifier", "classifier")] {
                if let ms = r.load_ms[key] { print(String(format: "loading the %@: %.1f ms (median of 5)", name, ms)) }
            }
            if let c = r.classify16_ms {
                let step = r.sample.first { $0.batch == 16 }?.ms_per_step
                print(String(format: "explorer digit labels: the classifier reads 16 x̂0 in %.2f ms", c)
                      + (step.map { String(format: " (%.1f%% of a 16-digit sampling step, %.1f ms)", 100 * c / $0, $0) } ?? ""))
            }
            print("backend: \(r.conv_kernel) (--backend avx512, avx2, reference or bf16 to compare)")
            if !r.train_conv_kernel.isEmpty { print("training: \(r.train_conv_kernel)") }
        }
    }
}
