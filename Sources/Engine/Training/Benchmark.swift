// Benchmark.swift: the measurements behind `ddpm bench`.
import Foundation

/// The measurements behind `ddpm bench`: medians over timed steps after warm-up.
public struct BenchmarkReport: Codable, Sendable {
    public struct Train: Codable, Sendable { public var batch: Int; public var images_per_second: Double; public var ms_per_step: Double }
    public struct Sample: Codable, Sendable { public var batch: Int; public var ms_per_step: Double }
    public var config: String
    public var train: [Train] = []
    public var sample: [Sample] = []
    public var gflops_train: Double = 0
    public var gflops_sample: Double = 0
    public var peak_rss_mib: Double = 0
    /// This CPU's FMA peak on all cores, measured after the steps (FMAPeak), GFLOP/s.
    public var fma_peak_gflops: Double = 0
    public var forward_mflop_per_image: Double = 0
    public var threads: Int = 0
    /// The backend measured (AVX-512 or AVX2 direct kernels, or the im2col + BLIS reference).
    public var conv_kernel = ""
    /// What training runs on top of it ("" when nothing differs).
    public var train_conv_kernel = ""
    /// Median milliseconds to read and load each bundled file (filled in by `ddpm bench`).
    public var load_ms: [String: Double] = [:]
    /// The explorer's classifier reading 16 images (what it adds to each 16-digit step), median ms.
    public var classify16_ms: Double? = nil
}

public enum Benchmark {
    public static func median(_ a: [Double]) -> Double { let s = a.sorted(); return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2 }

    public static func now() -> Double { MonotonicClock.now() }

    /// Peak resident set size of this process (VmHWM), MiB.
    public static func peakRSSMiB() -> Double {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
            return kb / 1024
        }
        return 0
    }

    public static func run(config: UNetConfig, backend: Backend = .detected, trainBatches: [Int] = [64, 128],
                           sampleBatches: [Int] = [1, 16, 64], warmup: Int = 3, steps: Int = 20,
                           log: (String) -> Void = { _ in }) throws -> BenchmarkReport {
        var report = BenchmarkReport(config: config.name)
        let probe = try UNet(config, backend: backend)
        let fwd = Double(probe.forwardFLOPsPerImage)
        report.forward_mflop_per_image = fwd / 1e6
        report.threads = Parallel.cores
        report.conv_kernel = backend.description
        report.train_conv_kernel = backend.trainingKernels ?? ""
        let hw = config.imageSize * config.imageSize
        // Synthetic data uniform in [-1, 1], as the PyTorch baseline uses.
        var rng = RNG(seed: 42)
        for b in trainBatches {
            let n = max(b * 4, 256)
            let imgs = (0..<(n * hw)).map { _ in Float(rng.uniform() * 2 - 1) }
            var opts = TrainOptions()
            opts.config = config; opts.batch = b; opts.totalSteps = 1_000_000
            let tr = try Trainer(options: opts, backend: backend, data: Dataset(images: imgs, labels: [UInt8](repeating: 0, count: n), side: config.imageSize))
            for _ in 0..<warmup { try tr.trainStep() }
            var times: [Double] = []
            for _ in 0..<steps { let t0 = now(); try tr.trainStep(); times.append(now() - t0) }
            let med = median(times)
            report.train.append(.init(batch: b, images_per_second: Double(b) / med, ms_per_step: med * 1e3))
            // Forward and backward (2x the forward); a self-conditioned model's first guess adds a forward on half of the steps.
            let passes = 3 + (config.selfCondition ? 0.5 : 0)
            if b == trainBatches.first { report.gflops_train = passes * fwd * Double(b) / med / 1e9 }
            log(String(format: "train  batch %4d: %8.1f ms/step  %7.1f img/s", b, med * 1e3, Double(b) / med))
        }
        let sched = try NoiseSchedule()
        let net = try UNet(config, backend: backend)
        let params = FloatBuffer(count: net.parameterCount)
        net.layout.initialize(params.ptr, rng: &rng)
        let model = UNetPredictor(net: net, params: params)
        for b in sampleBatches {
            // A trajectory has T steps; more warm-up and timed steps than that go on
            // from a new x_T, made outside the timed step.
            let fresh = { try Sampler(schedule: sched, settings: SamplerSettings(kind: .ddpm), n: b, size: config.imageSize, seed: 1) }
            var s = try fresh()
            let count = b == 1 ? max(steps, 50) : steps
            for _ in 0..<warmup { if s.isFinished { s = try fresh() }; s.step(model) }
            var times: [Double] = []
            for _ in 0..<count {
                if s.isFinished { s = try fresh() }
                let t0 = now(); s.step(model); times.append(now() - t0)
            }
            let med = median(times)
            report.sample.append(.init(batch: b, ms_per_step: med * 1e3))
            if b == 16 || (b == sampleBatches.last && report.gflops_sample == 0) { report.gflops_sample = fwd * Double(b) / med / 1e9 }
            log(String(format: "sample batch %4d: %8.2f ms/step", b, med * 1e3))
        }
        report.peak_rss_mib = peakRSSMiB()
        report.fma_peak_gflops = FMAPeak.measure()
        return report
    }
}
