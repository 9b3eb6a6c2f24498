// SampleCommand.swift: `ddpm sample`: samples as PNG, PGM or IDX, and trajectory sheets.
import ArgumentParser
import Engine
import Foundation

struct SampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample",
        abstract: "Sample digits from a trained model and write them as PNG grid, PGM or IDX.")

    @Option(help: "Weights or checkpoint (safetensors). Default: the bundled model.") var weights: String?
    @Option(parsing: .unconditional, help: "Number of images (1...4096).") var n: Int = 16
    @OptionGroup var sampling: SamplerOptions
    @Option(parsing: .unconditional, help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Output: .png (grid), .pgm (grid) or .idx.") var out: String
    @Option(help: "Kernels: avx512, avx2 or reference (im2col + BLIS); default: the fastest this CPU runs.") var backend: String?
    @Flag(help: "Also write OUT-trajectory.png: x_t and predicted x0 at 10 evenly spaced steps.") var trajectory = false

    func validate() throws {
        _ = try backendOption(backend)
        try validating { try EngineError.require((1...Sampler.maxImages).contains(n), "n", "1...\(Sampler.maxImages)", n) }
        let ext = (out as NSString).pathExtension.lowercased()
        guard ["png", "pgm", "idx"].contains(ext) else { throw ValidationError("--out must end in .png, .pgm or .idx") }
    }

    var trajectoryPath: String { (out as NSString).deletingPathExtension + "-trajectory.png" }

    func run() throws {
        try wrap {
            try AtomicFile.checkWritable(out)    // fail before sampling
            try InputFile.refuseSameFile(output: out, input: weights ?? Assets.model)
            if trajectory { try AtomicFile.checkWritable(trajectoryPath) }
            let path = weights ?? Assets.model
            let (net, params, schedule, _) = try Assets.reading(path) { try loadModel(path, backend: try backendOption(backend)) }
            let settings = sampling.settings(T: schedule.T)
            let s = try Sampler(schedule: schedule, settings: settings, n: n, size: net.config.imageSize, seed: seed)
            let model = UNetPredictor(net: net, params: params)
            let total = s.timesteps.count
            let marks = Set((0..<10).map { total <= 10 ? $0 : Int((Double($0) * Double(total - 1) / 9).rounded()) })
            var traj: [[Float]] = []
            var trajX0: [[Float]] = []
            let t0 = Benchmark.now()
            let side = net.config.imageSize
            let showN = min(n, 8)
            let img = showN * side * side
            let result = s.run(model) { f in
                if trajectory && marks.contains(f.step) { traj.append(Array(f.xt[0..<img])); trajX0.append(Array(f.x0[0..<img])) }
                if isTTY {
                    print(String(format: "\rstep %d/%d  t=%d  %.1f steps/s ", f.step + 1, total, f.t, Double(f.step + 1) / (Benchmark.now() - t0)), terminator: "")
                    fflush(stdout)
                }
            }
            if isTTY { print("") }
            let cropped = crop(result, n: n, from: side)
            try ImageWriter.write(out, images: cropped, n: n, side: MNIST.side)
            print("wrote \(n) samples to \(out) (\(settings.kind.rawValue), \(total) steps, seed \(seed), \(String(format: "%.1f", Benchmark.now() - t0)) s)")
            if trajectory {
                // Rows: one per recorded step, x_t of the first images then their x0.
                var sheet: [Float] = []
                for (a, b) in zip(traj, trajX0) { sheet += crop(a, n: showN, from: side) + crop(b, n: showN, from: side) }
                let tpath = trajectoryPath
                try ImageWriter.write(tpath, images: sheet, n: traj.count * showN * 2, side: MNIST.side, cols: showN * 2)
                print("wrote trajectory sheet to \(tpath) (rows: 10 steps; left x_t, right predicted x0)")
            }
        }
    }
}
