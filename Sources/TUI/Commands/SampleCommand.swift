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
    @OptionGroup(title: "A weights file without ddpm's metadata") var modelFile: ModelFileOptions
    @Option(parsing: .unconditional, help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Output: .png (grid), .pgm (grid) or .idx.") var out: String
    @Option(help: backendHelp) var backend: String?
    @Flag(help: "Also write OUT-trajectory.png: a contact sheet of x_t and predicted x0 at 10 steps spread over the run, as evenly as its step count allows (columns labelled with t, then the final samples), two rows per digit.") var trajectory = false
    @Option(parsing: .unconditional, help: "Digits in the --trajectory sheet (1...64; default: all, at most 64).") var rows: Int?
    @Option(parsing: .unconditional, help: "Scale factor of the --trajectory sheet (1...8).") var scale: Int = 2
    @Option(help: ArgumentHelp("Autoguidance (Karras et al. 2024): guide the model away from this weaker model of the same data, eps_weak + w (eps - eps_weak); twice the network evaluations a step; not with --record.", valueName: "file")) var autoguide: String?
    @Option(parsing: .unconditional, help: "The weight w of --autoguide, in [0, 20] (0: the weak model alone, 1: the model alone; default 2).") var autoguideWeight: Double?
    @Option(parsing: .unconditional, help: "Guide at timesteps 0...this only; above it the model alone (default: every timestep).") var autoguideMaxT: Int?
    @Option(help: "Also record the whole trajectory here (.ddpmtraj): every step's x_t and predicted x0 of the first \(Recording.maxDigits) images, the settings and the classifier's readings. ddpm replay plays it; ddpm export-gif animates it.") var record: String?

    func validate() throws {
        try modelFile.validateForFile()
        try sampling.refuseUnusedSettings()
        _ = try backendOption(backend)
        try validating { try EngineError.require((1...Sampler.maxImages).contains(n), "n", "1...\(Sampler.maxImages)", n) }
        let ext = (out as NSString).pathExtension.lowercased()
        guard ["png", "pgm", "idx"].contains(ext) else { throw ValidationError("--out must be a file name ending in .png, .pgm or .idx, got '\(EngineError.quoted(out))'") }
        if (autoguideWeight != nil || autoguideMaxT != nil) && autoguide == nil {
            throw ValidationError("--autoguide-weight and --autoguide-max-t shape --autoguide: add --autoguide FILE")
        }
        if let m = autoguideMaxT { guard m >= 0 else { throw ValidationError("--autoguide-max-t must be >= 0, got \(m)") } }
        if let w = autoguideWeight { try validating { try AutoGuidedPredictor.checkWeight(w, key: "autoguide-weight") } }
        // A recording names one model: frames of a guided pair would be credited to the model alone.
        if autoguide != nil && record != nil { throw ValidationError("--record keeps one model's trajectory; --autoguide samples with two") }
        if let rows { guard (1...64).contains(rows) else { throw ValidationError("--rows must be in 1...64, got \(rows)") } }
        guard (1...8).contains(scale) else { throw ValidationError("--scale must be in 1...8, got \(scale)") }
        if (rows != nil || scale != 2) && !trajectory { throw ValidationError("--rows and --scale shape the --trajectory sheet: add --trajectory") }
    }

    var trajectoryPath: String { (out as NSString).deletingPathExtension + "-trajectory.png" }

    func run() throws {
        try wrap {
            // Fail before sampling: every output writable, none of them an input or another output.
            let path = weights ?? Assets.model
            var outputs = [(flag: "--out", path: out)]
            if trajectory { outputs.append(("the --trajectory sheet", trajectoryPath)) }
            if let record { outputs.append(("--record", record)) }
            try AtomicFile.checkOutputs(outputs, notOverwriting: Assets.modelInputs(weights: weights, guideClassifier: sampling.guideClassifier)
                                            + (autoguide.map { [("the --autoguide model", $0)] } ?? []))
            let (net, params, schedule, file) = try Assets.reading(path) { try loadModel(path, given: modelFile, backend: try backendOption(backend)) }
            let identity = try record.map { _ in try Recording.Model.of(file: path, metadata: file.metadata, selfConditioned: net.config.selfCondition,
                                                                                bfloat16: net.ws.bf16) }
            let settings = sampling.settings(T: schedule.T)
            try settings.check(learnsVariance: net.config.learnSigma)
            let s = try Sampler(schedule: schedule, settings: settings, n: n, size: net.config.imageSize, seed: seed,
                                guidance: try sampling.guidance(for: settings, schedule: schedule))
            var model: NoisePredictor = try predictor(net, params, schedule, file)
            if let autoguide {
                let (wn, wp, ws, wf) = try Assets.reading(autoguide) { try loadModel(autoguide, backend: try backendOption(backend), second: "--autoguide") }
                guard wn.config.imageSize == net.config.imageSize, ws.spec == schedule.spec else {
                    throw CLIError("--autoguide \(autoguide): a model of another image size or noise schedule than \(path)'s")
                }
                if let m = autoguideMaxT, m >= schedule.T {
                    throw CLIError("--autoguide-max-t must be in 0...\(schedule.T - 1) (the model's timesteps), got \(m)")
                }
                if absolutePath(autoguide) == absolutePath(path) { print("note: --autoguide is the model itself: guidance changes nothing and doubles the cost") }
                model = AutoGuidedPredictor(good: model, bad: try predictor(wn, wp, ws, wf), weight: Float(autoguideWeight ?? 2),
                                            interval: 0...(autoguideMaxT ?? schedule.T - 1))
            }
            let total = s.timesteps.count
            if record != nil { try Recording.checkSize(steps: total, n: n, size: net.config.imageSize) }
            let marks = Set((0..<10).map { total <= 10 ? $0 : Int((Double($0) * Double(total - 1) / 9).rounded()) })
            var traj: [[Float]] = []
            var trajX0: [[Float]] = []
            var trajT: [Int] = []
            var recorded: [RecordedFrame] = []
            var recordSeconds = 0.0
            let t0 = Benchmark.now()
            let side = net.config.imageSize
            let showN = min(n, rows ?? 64)
            let img = showN * side * side
            // Samples that overflow: what is at fault, where it can be told (two models under --autoguide),
            // else the engine's own words. (A schedule whose ᾱ float cannot invert is refused when it loads.)
            func overflowed() -> Error {
                if let autoguide {
                    return CLIError("the samples are not finite numbers (NaN or infinity): the output of \(path) or of the --autoguide model \(autoguide) overflows, so one of them is broken (sample each alone to tell which); nothing was written")
                }
                return EngineError.nonFiniteSamples
            }
            let result: [Float]
            do { result = try s.finiteSamples(model) { f in
                if trajectory && marks.contains(f.step) {
                    let r = schedule.xtDisplayRange(t: f.t, temperature: settings.temperature)
                    traj.append(f.xt[0..<img].map { $0 / r }); trajX0.append(Array(f.x0[0..<img])); trajT.append(f.t)
                }
                if record != nil {
                    let r0 = Benchmark.now()
                    recorded.append(RecordedFrame(f, keep: Recording.maxDigits))
                    recordSeconds += Benchmark.now() - r0
                }
                if isTTY {
                    print(String(format: "\rstep %d/%d  t=%d  %.1f steps/s ", f.step + 1, total, f.t, Double(f.step + 1) / (Benchmark.now() - t0)), terminator: "")
                    fflush(stdout)
                }
            } } catch EngineError.nonFiniteSamples { throw overflowed() }
            if isTTY { print("") }
            let sampling = Benchmark.now() - t0
            let cropped = crop(result, n: n, from: side)
            try ImageWriter.write(out, images: cropped, n: n, side: MNIST.side)
            // Every setting that shaped them (eta, variance, temperatures, clipping, guidance).
            print("wrote \(n) sample\(n == 1 ? "" : "s") to \(EngineError.oneLine(out)) (\(self.sampling.label(settings, T: schedule.T)), seed \(seed)"
                  + (autoguide.map { ", autoguided away from \(EngineError.oneLine(($0 as NSString).lastPathComponent)) at w = \(autoguideWeight ?? 2)" + (autoguideMaxT.map { ", t <= \($0)" } ?? "") } ?? "")
                  + (net.ws.bf16 ? ", bfloat16" : "")
                  + ", \(String(format: "%.1f", Benchmark.now() - t0)) s)")
            if trajectory {
                var cols = zip(trajT, zip(traj, trajX0)).map { t, p in
                    TrajectorySheet.Column(label: "t=\(t)", xt: crop(p.0, n: showN, from: side), x0: crop(p.1, n: showN, from: side))
                }
                let fin = crop(Array(result.prefix(img)), n: showN, from: side)
                cols.append(TrajectorySheet.Column(label: "final", xt: fin, x0: fin))
                let sheet = TrajectorySheet.image(cols, rows: showN, side: MNIST.side).scaled(by: scale)
                let tpath = trajectoryPath
                try AtomicFile.write(tpath, data: Data(ImageWriter.png(width: sheet.width, height: sheet.height, grey: sheet.pixels)))
                print("wrote trajectory sheet to \(EngineError.oneLine(tpath)) (\(showN) digit\(showN == 1 ? "" : "s") x \(traj.count) step\(traj.count == 1 ? "" : "s") and the final samples; rows x_t then predicted x0)")
            }
            if let record, let identity {
                let keep = min(n, Recording.maxDigits)
                var rec = Recording(model: identity, schedule: schedule.spec, seed: seed, temperature: settings.temperature,
                                    n: keep, size: side, timesteps: s.timesteps,
                                    main: .init(frames: recorded, final: Array(result.prefix(keep * side * side))))
                // The classifier's readings (labels under x0 in the replay), after sampling so no step waits for them.
                let r0 = Benchmark.now()
                let reader = try? digitReader()
                if let reader { rec = rec.withReadings(reader) }
                let readSeconds = Benchmark.now() - r0
                try rec.write(record)
                let mb = Double((try? FileManager.default.attributesOfItem(atPath: record)[.size] as? Int) ?? 0) / 1e6
                print(String(format: "recorded %d steps of %d digits to %@ (%.1f MB); keeping the frames took %.1f%% of the sampling time, ",
                             recorded.count, keep, EngineError.oneLine(record), mb, 100 * recordSeconds / max(1e-9, sampling - recordSeconds))
                      + (reader != nil ? String(format: "reading them with the classifier %.1f s more", readSeconds) : "no classifier: no readings"))
            }
        }
    }
}
