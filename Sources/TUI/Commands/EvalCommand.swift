// EvalCommand.swift: `ddpm eval`: sample quality next to real digits; classifier training.
import ArgumentParser
import Engine
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure sample quality with the engine-trained MNIST classifier, with 95% intervals, next to held-out real digits.",
        discussion: "The reference digits' features and statistics are kept between runs (about 11 MB per classifier and reference set; a run that finds them saves about 5 s here) in $DDPM_CACHE_DIR (a relative one from the current folder), else $XDG_CACHE_HOME/ddpm-explorer (an absolute one), else ~/.cache/ddpm-explorer; DDPM_CACHE_DIR= (empty) keeps nothing. They are computed again when the classifier, the reference set, the ddpm binary, its kernels, the core count, the CPU or the BLIS library (or BLIS_ARCH_TYPE) change; the numbers are the same either way.")

    @Option(help: "Weights to sample from (default: the bundled model).") var weights: String?
    @Option(parsing: .unconditional, help: "Samples to evaluate (4...10000).") var n: Int = 1000
    @OptionGroup var sampling: SamplerOptions
    @OptionGroup(title: "A weights file without ddpm's metadata") var modelFile: ModelFileOptions
    @Option(parsing: .unconditional, help: "Random seed of the samples and of the intervals' resampling. eval draws its digits in batches of 50, so its image i is not `sample --seed`'s image i: to score the digits a sheet shows, `sample --out F.idx`, then `eval --images F.idx`.") var seed: UInt64 = 0
    @Option(help: "Kernels the samples are drawn with: avx512, avx2, reference or bf16 (convolutions in bfloat16: faster, close to but not the same samples; the report's label says bf16); default: the fastest float kernels this CPU runs.") var backend: String?
    @Option(help: "Evaluate these images (an IDX file of [N, 28, 28], raw or gzip) instead of sampling.") var images: String?
    @Option(help: "Classifier weights (default: the bundled one).") var classifier: String?
    @Flag(help: "Train the classifier anew and write it (to --classifier or the bundled path).") var trainClassifier = false
    @Option(parsing: .unconditional, help: "Classifier training epochs.") var epochs: Int = 8
    @Option(parsing: .unconditional, help: ArgumentHelp("Classifier for --train-classifier: conv1,conv2,conv3,features widths, then relu (ReLU) or gn (GroupNorm + SiLU) or neither (SiLU).", valueName: "widths"))
    var architecture: String = Classifier.Architecture.v2.description
    @Option(help: ArgumentHelp("A second set to compare with: weights (.safetensors, sampled like the first) or an IDX file of images.", valueName: "path"))
    var versus: String?
    @Flag(help: "Check the classifier's features instead: the Frechet distance of held-out digits under increasing blur, noise, salt-and-pepper, erasing, swirl, dropped classes and repeats.")
    var damage = false
    @Option(parsing: .unconditional, help: ArgumentHelp("Instead of sampling: the variational bound (L_T + the KLs + L_0, as improved-diffusion's calc_bpd_loop) of this many test digits, in bits/dim, with the per-t terms; T model calls per digit (100 digits: about two minutes here). Takes --variance and --clip as the sampler does and --seed for the x_t draws; --n and the other sampler options do not apply.", valueName: "n"))
    var bpd: Int?
    @Flag(help: "Train the classifier of noisy digits p(y | x_t, t) that --guide steers with, on the model's noise schedule (--weights or the bundled model), and write it (to --classifier or the bundled path).")
    var trainNoisyClassifier = false
    @Flag(help: "Classifier guidance toward each digit in turn: --n guided samples per digit (--guide-scale, sampler options as given), and the share the bundled (clean) classifier reads as the digit asked for. Ten times --n samples: with DDPM's 1000 steps, --n 100 takes about 20 minutes here.")
    var guideTable = false
    @Option(help: ArgumentHelp("An IDX folder (train- and t10k- images and labels, 28x28 or 32x32 grey; 32x32 is read through its central 28x28) instead of the bundled MNIST: the reference and held-out sets, and what --train-classifier trains on. Give the classifier trained on it with --classifier (train one with --train-classifier --data DIR --out FILE).", valueName: "dir"))
    var data: String?
    @Option(help: ArgumentHelp("With --train-classifier or --train-noisy-classifier: where to write it (as --classifier does).", valueName: "path"))
    var out: String?
    @Flag(help: "Print one JSON object.") var json = false

    /// Whether `path` is a weights file (a safetensors header: 8 bytes of length, then "{"),
    /// by its first bytes whatever its name; IDX images otherwise. A file that is not
    /// regular or cannot be read goes by its name, and its loader says what is wrong.
    static func holdsWeights(_ path: String) -> Bool {
        let byName = path.lowercased().hasSuffix(".safetensors")
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { return byName }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return byName }
        var b = [UInt8](repeating: 0, count: 9)
        guard read(fd, &b, 9) == 9 else { return byName }
        return SafeTensors.startsLikeSafeTensors(b)
    }

    func validate() throws {
        try modelFile.validateForFile()
        // (Guidance settings where nothing is sampled: said as --guide is, not "add --guide", which is refused next.)
        if (damage || images != nil || bpd != nil) && (sampling.guideScale != nil || sampling.guideClassifier != nil) {
            throw ValidationError("--guide-scale and --guide-classifier steer sampling; --damage, --images and --bpd do not sample")
        }
        if let bpd {
            guard (1...10_000).contains(bpd) else { throw ValidationError("--bpd must be in 1...10000 test digits, got \(bpd)") }
            if damage || versus != nil || images != nil || trainClassifier {
                throw ValidationError("--bpd measures the model on test digits; it takes no --damage, --versus, --images or --train-classifier")
            }
            // (Before --n's range: `--bpd 3 --n 3` was told that --n needs 4, for a number it does not use.)
            if n != 1000 { throw ValidationError("--bpd \(bpd) is the count of test digits it measures; --n counts sampled digits and does not apply") }
        }
        // At least 4: precision and recall take each image's 3rd nearest neighbour among the others
        // (of 2 or 3 images, the farthest, so that every image counted as covered: precision 1.000).
        guard (4...10_000).contains(n) else {
            throw ValidationError("--n must be in 4...10000, got \(n) (precision and recall take each sample's 3rd nearest neighbour among the others)")
        }
        guard (1...100).contains(epochs) else { throw ValidationError("--epochs must be in 1...100, got \(epochs)") }
        _ = try backendOption(backend)
        if backend != nil && (images != nil || damage || trainClassifier || trainNoisyClassifier) {
            throw ValidationError("--backend chooses the kernels the samples are drawn with; --images, --damage and the training flags draw none")
        }
        if damage && (versus != nil || images != nil || trainClassifier) {
            throw ValidationError("--damage checks the classifier on real digits; it takes no --versus, --images or --train-classifier")
        }
        if damage && n < 500 {
            throw ValidationError("--damage needs --n of at least 500 (got \(n)): the Frechet distance of fewer images is mostly noise")
        }
        if trainClassifier && trainNoisyClassifier { throw ValidationError("--train-classifier and --train-noisy-classifier train different classifiers: one at a time") }
        if trainClassifier && (weights != nil || images != nil || versus != nil) {
            throw ValidationError("--train-classifier trains on real digits (--data or the bundled MNIST); it takes no --weights, --images or --versus")
        }
        // Another model's noisy classifier knows its schedule, not the bundled model's: written over the
        // bundled file, `sample --guide` with the bundled model would fail.
        if trainNoisyClassifier, let weights, out == nil && classifier == nil, absolutePath(weights) != absolutePath(Assets.model) {
            throw ValidationError("--weights is another model than the bundled one: give --out FILE for its classifier of noisy digits (the bundled one guides the bundled model), then sample with --guide-classifier FILE")
        }
        if guideTable && (damage || versus != nil || images != nil || trainClassifier || trainNoisyClassifier || bpd != nil || sampling.guide != nil) {
            throw ValidationError("--guide-table samples guided digits of every class itself; it takes no --guide, --damage, --versus, --images, --bpd or training flags")
        }
        if (damage || images != nil || bpd != nil) && sampling.guide != nil {
            throw ValidationError("--guide steers sampling; --damage, --images and --bpd do not sample")
        }
        let training = trainClassifier || trainNoisyClassifier
        // Options that would do nothing are refused, not ignored: a user would take the report for theirs.
        func refuse(_ flags: [String], _ because: String) throws {
            guard !flags.isEmpty else { return }
            throw ValidationError(flags.joined(separator: ", ") + (flags.count == 1 ? " does" : " do") + " not apply: " + because)
        }
        let versusSamples = versus.map(Self.holdsWeights) ?? false
        if images != nil {
            try refuse((weights != nil ? ["--weights"] : []) + (versusSamples ? [] : sampling.changedFlags),
                       "--images scores the images given and samples nothing" + (versus == nil ? "" : " (--versus samples when it names weights)"))
        }
        if damage { try refuse((weights != nil ? ["--weights"] : []) + sampling.changedFlags, "--damage scores damaged real digits and samples nothing") }
        if bpd != nil {
            try refuse(sampling.changedFlags.filter { $0 != "--variance" && $0 != "--clip" },
                       "--bpd measures the bound with the model's own steps; of the sampler's options it takes --variance and --clip")
        }
        if !training {
            try refuse((epochs != 8 ? ["--epochs"] : []) + (architecture != Classifier.Architecture.v2.description ? ["--architecture"] : []),
                       "--epochs and --architecture are for --train-classifier and --train-noisy-classifier")
        }
        // (After the refusals above: "--steps is for --sampler ddim" would send --images's user to another refusal.)
        try sampling.refuseUnusedSettings(guideTable: guideTable)
        if out != nil && !training { throw ValidationError("--out is where --train-classifier or --train-noisy-classifier writes; evaluating reads --classifier") }
        if out != nil && classifier != nil { throw ValidationError("--out and --classifier both name the classifier to write: give one") }
        if data != nil && training && out == nil && classifier == nil {
            throw ValidationError("--data trains a classifier of another set: give --out FILE (the bundled MNIST classifier stays as it is)")
        }
        if data != nil && !training && bpd == nil && classifier == nil {
            throw ValidationError("--data evaluates against another set: give --classifier, one trained on it (ddpm eval --train-classifier --data DIR --out FILE); the bundled one reads MNIST digits")
        }
        if data != nil && (guideTable || sampling.guide != nil) && sampling.guideClassifier == nil {
            throw ValidationError("--data is another set: guidance needs --guide-classifier, a classifier of its noisy images (the bundled one knows MNIST digits)")
        }
        if let a = Classifier.Architecture(architecture), a.timeDim > 0, !trainNoisyClassifier {
            throw ValidationError("--architecture \(architecture) conditions on t: that is the classifier of noisy digits (--train-noisy-classifier)")
        }
        guard Classifier.Architecture(architecture) != nil else {
            throw ValidationError("--architecture takes four widths from 1 to 512 and then gn or relu, like 32,64,64,256,relu or 16,32,32,128,gn (got '\(architecture)')")
        }
    }

    func run() throws {
        try wrap {
            BLAS.configure()
            // The reference is at most the first 10,000 test images (MNIST's and Fashion-MNIST's whole
            // test sets): a --data set of 342,000 took minutes of features and gigabytes.
            let test = try dataset(train: false, limit: trainClassifier || trainNoisyClassifier ? nil : Self.referenceImages)
            if trainClassifier { return try trainNewClassifier(test: test) }
            if trainNoisyClassifier { return try trainNewNoisyClassifier(test: test) }
            if guideTable { return try guideTableReport() }
            if let bpd { return try bound(test: test, n: bpd) }
            let clsPath = classifier ?? Assets.classifier
            let (cls, cp) = try loadClassifier(clsPath)
            let (held, heldRange) = try heldOutDigits()
            warnIfClassifierIsOfAnotherSet(clsPath)
            if damage && Set(held.labels).count < 10 {
                throw CLIError("--damage drops classes among the held-out images, which hold \(Set(held.labels).count) of the 10 labels; it needs all ten")
            }
            if damage { return try damageCheck(makeEvaluation(cls, cp, reference: test), held: held, classifierPath: clsPath) }
            // A bad --versus file fails before minutes of sampling: images are read first, weights loaded once to check.
            let versusIsImages = versus.map { !Self.holdsWeights($0) } ?? false
            var versusSet: (images: [Float], label: String)?
            if let versus, versusIsImages { versusSet = try setUnderTest(weights: nil, images: versus, name: versus) }
            if let versus, !versusIsImages { _ = try Assets.reading(versus) { try loadModel(versus, given: modelFile, backend: try backendOption(backend)) } }
            var sets: [(images: [Float], label: String)] = [try setUnderTest(weights: weights, images: images)]
            if let versus, !versusIsImages { versusSet = try setUnderTest(weights: versus, images: nil, name: versus) }
            if let versusSet { sets.append(versusSet) }
            // A small --data set holds out fewer real images than were sampled: compare that many.
            let nf = min(held.count, sets.map { $0.images.count / MNIST.pixels }.min()!)
            if nf < n {
                // Said, not done silently: every set is cut to the smallest, a sampled one too.
                let small = sets.first { $0.images.count / MNIST.pixels == nf }
                let why = small.map { "\(EngineError.oneLine($0.label)) holds \(nf) images" } ?? "the held-out real images are \(held.count)"
                fputs("note: every set is scored on its first \(nf) images, not --n \(n): \(why)\n", stderr)
            }
            // The reference's features (floats), their centred copy and kernel rows (doubles), a few d x d
            // matrices and the bootstraps' copies: under a memory limit, one line rather than a failed
            // allocation's crash (measured: the evaluation's address space grows by about 75 MiB from here).
            let d = cls.featureDim
            try InputFile.checkMemory(test.count * d * 24 + 8 * d * d * 8 + (96 << 20), for: "the features of \(test.count) test digits and their statistics")
            let evaluation = makeEvaluation(cls, cp, reference: test)
            // Features that do not vary over the test digits (zeroed or untrained weights) measure nothing:
            // every distance came out 0 and the FD ratio NaN, printed as if it were a score.
            if !(evaluation.reference.trace > 1e-9) {
                throw CLIError("\(EngineError.oneLine(clsPath)): the classifier gives the test digits the same features (zeroed or untrained weights?): it cannot score images")
            }
            var scores = sets.enumerated().map { evaluation.scores($0.element.images, n: nf, seed: seed &+ UInt64($0.offset)) }
            let real = evaluation.scores(held.images, n: nf, seed: seed &+ 7)
            // A classifier whose numbers overflow (weights near Float's largest) gives NaN features: no scores.
            if !(scores + [real]).allSatisfy({ $0["frechet"].isFinite && $0["inception_score"].isFinite }) {
                throw CLIError("\(clsPath): the classifier's features of these images are not finite numbers (weights too large?): it cannot score them")
            }
            let overlaps = Evaluation.referenceOverlaps(sets.map(\.images), n: nf, reference: test)
            for i in scores.indices {
                scores[i].values["reference_overlap"] = Double(overlaps[i]) / Double(nf)
                scores[i].values["sobel_ratio"] = scores[i]["sobel_energy"] / real["sobel_energy"]
                scores[i].values["frechet_ratio"] = scores[i]["frechet"] / real["frechet"]
            }
            try printReport(n: nf, labels: sets.map(\.label), scores: scores, real: real, classifierPath: clsPath, heldOut: heldRange)
        }
    }

    /// The scorer against `reference`, its reference part kept in `Assets.cacheFolder()`. Where
    /// DDPM_CACHE_DIR named a folder that cannot hold it, one line on stderr says so (the report
    /// is the same; the default folders are passed over without a word, as caches are).
    func makeEvaluation(_ cls: Classifier, _ params: FloatBuffer, reference: Dataset) -> Evaluation {
        let e = Evaluation(classifier: cls, params: params, reference: reference, cacheFolder: Assets.cacheFolder())
        if let problem = e.cacheProblem, let dir = ProcessInfo.processInfo.environment["DDPM_CACHE_DIR"], !dir.isEmpty {
            FileHandle.standardError.write(Data("note: DDPM_CACHE_DIR \(EngineError.oneLine(dir)) cannot keep the reference's statistics (\(EngineError.oneLine(problem))): they are computed again each run\n".utf8))
        }
        return e
    }

    /// `--bpd N`: the variational bound of the first N test digits, in bits/dim.
    func bound(test: Dataset, n: Int) throws {
        let path = weights ?? Assets.model
        let (net, params, schedule, file) = try Assets.reading(path) { try loadModel(path, given: modelFile, backend: try backendOption(backend), sampling: false) }
        if net.ws.bf16 && !json { print("the network's convolutions in bfloat16 (--backend bf16)") }
        let count = min(n, test.count)
        // --data's own images (a 32x32 set keeps its border); MNIST padded as the model was trained.
        let digits = try (data.map { try Dataset.load(dir: $0, train: false) } ?? test).padded(to: net.config.imageSize)
        let set = sampling.settings(T: schedule.T)
        try set.check(learnsVariance: net.config.learnSigma)
        let t0 = Benchmark.now()
        let r = VariationalBound.compute(model: try predictor(net, params, schedule, file), schedule: schedule,
                                         images: Array(digits.images.prefix(count * digits.side * digits.side)), n: count,
                                         size: digits.side, variance: set.variance, clip: set.clip, seed: seed,
                                         measuredSide: MNIST.side) { done, total in
            if done % 50 == 0 { Self.showProgress(String(format: "bound: %d/%d model calls of %d digits", done, total, count)) }
        }
        Self.endProgress()
        let seconds = Benchmark.now() - t0
        // Not a measurement: fail as sample and eval do on the same weights.
        if !r.total.isFinite {
            throw CLIError("the bound is not a finite number: \(path)'s outputs overflow or are not numbers (broken weights?)")
        }
        // The terms summed over t-ranges, where the bits are.
        let T = schedule.T, edges = [0, 1, 2, 6, 11, 51, 101, 251, 501, T].filter { $0 <= T }
        var ranges: [(String, Double)] = []
        for (a, b) in zip(edges, edges.dropFirst()) where a < b {
            ranges.append((a == 0 ? "L_0 (t = 0, decoder)" : (b - a == 1 ? "t = \(a)" : "t = \(a)...\(b - 1)"), r.perT[a..<b].reduce(0, +)))
        }
        ranges.append(("L_T (prior)", r.prior))
        if json {
            let obj: [String: Any] = [
                "bpd": r.total, "bpd_se": r.n > 1 ? r.standardError : NSNull(), "n": r.n, "prior": r.prior, "decoder": r.decoder,
                "per_t": r.perT, "variance": set.variance.rawValue, "clip": set.clip, "seconds": seconds, "weights": path,
            ]
            print(try jsonText(obj))
            return
        }
        print("variational bound of \(r.n) test digit\(r.n == 1 ? "" : "s") (\(URL(fileURLWithPath: path).lastPathComponent), p variance \(set.variance.rawValue), x0 \(set.clip ? "clipped" : "not clipped"), seed \(seed)):")
        print(r.n > 1 ? String(format: "  %.4f bits/dim ± %.4f (standard error over digits), %.0f s", r.total, r.standardError, seconds)
                      : String(format: "  %.4f bits/dim (one digit: no standard error), %.0f s", r.total, seconds))
        print("  where the bits are (bits/dim):")
        for (name, v) in ranges {
            print("    " + name.padding(toLength: 22, withPad: " ", startingAt: 0)
                  + String(format: v < 1e-3 ? " %9.2e" : " %9.4f", v) + String(format: "  %5.1f%%", 100 * v / r.total))
        }
    }

    /// Progress goes to stderr while it is a terminal, whatever stdout is (`eval > report.txt`, --json):
    /// one line redrawn in place, cleared when the work is done.
    static let progressShown = isatty(STDERR_FILENO) != 0
    static func showProgress(_ line: String) { if progressShown { fputs("\r" + line + "\u{1b}[K", stderr) } }
    static func endProgress() { if progressShown { fputs("\r\u{1b}[K", stderr) } }

    /// The sampling progress line: "sampled 50/1000, 7% of the steps (41 s, about 9m10s left)".
    static func progress(done: Int, of n: Int, share: Double, since t0: Double) -> String {
        let spent = Benchmark.now() - t0
        let left = share > 0.002 ? spent * (1 - share) / share : .nan
        let eta = left.isFinite ? ", about " + (left < 60 ? String(format: "%.0f s", left) : String(format: "%dm%02ds", Int(left) / 60, Int(left) % 60)) + " left" : ""
        return String(format: "sampled %d/%d, %.0f%% of the steps (%.0f s%@)   ", done, n, 100 * share, spent, eta)
    }

    /// The most test images the evaluation's reference holds.
    static let referenceImages = 10_000

    /// The bundled MNIST or --data's set, at the classifier's 28x28 (`Dataset.centre28`).
    func dataset(train: Bool, limit: Int? = nil) throws -> Dataset {
        guard let data else { return try Assets.loadMNIST(train: train, limit: limit) }
        let d = try Dataset.load(dir: data, train: train, limit: limit)
        try d.checkDrawable(data)
        return d.centre28()
    }

    /// The training images the classifier never saw (`Evaluation.heldOut(count:)`) and their range.
    func heldOutDigits() throws -> (Dataset, Range<Int>) {
        let train = try dataset(train: true)
        let r = try heldOutRange(count: train.count)
        return (Evaluation.heldOutDigits(of: train, range: r), r)
    }

    /// MNIST's held-out digits (it must hold them); a --data set's own split.
    func heldOutRange(count: Int) throws -> Range<Int> {
        guard let data else {
            let r = Evaluation.heldOut
            guard count >= r.upperBound else {
                throw CLIError("the MNIST training set has \(count) digits; the evaluation holds out digits \(r.lowerBound)..<\(r.upperBound)")
            }
            return r
        }
        let r = Evaluation.heldOut(count: count)
        // The classifier trains in batches of 128 with 16 outliers: fewer images would train nothing.
        guard r.lowerBound >= 256 else { throw CLIError("\(data): \(count) training images are too few (at least 310: 256 to train a classifier on, a sixth held out)") }
        return r
    }

    /// The images a classifier trains on: those before the held-out range.
    func classifierTrainingSet() throws -> (Dataset, Range<Int>) {
        let all = try dataset(train: true)
        let r = try heldOutRange(count: all.count)
        return (all.subset(0..<r.lowerBound), r)
    }

    /// Says so when the classifier was trained on another set than the one evaluated against
    /// (its file's `data`; none: the bundled MNIST).
    func warnIfClassifierIsOfAnotherSet(_ path: String) {
        let trained = (try? SafeTensors.read(path).metadata["data"]) ?? nil
        let norm = { (p: String) in p == "bundled MNIST" ? p : absolutePath(p) }
        let trainedOn = norm(trained ?? "bundled MNIST"), against = norm(data ?? "bundled MNIST")
        if trainedOn != against {
            fputs("warning: \(path) was trained on \(trainedOn), not on \(against): its readings and held-out claims do not apply\n", stderr)
        }
    }

    /// `--train-classifier`: trains the classifier anew and writes it with its recipe.
    func trainNewClassifier(test: Dataset) throws {
        let clsPath = out ?? classifier ?? Assets.classifier
        // Before training: the file must be writable and not one of the digits it learns from.
        try AtomicFile.checkOutputs([("--out", clsPath)], notOverwriting: Assets.dataInputs(data))
        try refuseReplacing(clsPath, only: "a classifier is written only over a classifier") { $0.contains("classifier") }
        let arch = Classifier.Architecture(architecture)!
        let cls = Classifier(arch), cp = FloatBuffer(count: cls.layout.count)
        let (train, held) = try classifierTrainingSet()
        let t0 = Benchmark.now()
        let acc = cls.train(params: cp, train: train, test: test, epochs: epochs, seed: seed, log: { print($0); fflush(stdout) })
        var meta = [
            "format": Classifier.format, "architecture": arch.description, "test_accuracy": String(format: "%.4f", acc),
            "epochs": String(epochs), "seed": String(seed), "training_digits": "0..<\(held.lowerBound)", "data": data.map(absolutePath) ?? "bundled MNIST",
            "command": CommandLine.arguments.joined(separator: " "),
            "wall_time_s": String(format: "%.0f", Benchmark.now() - t0)]
        if data != nil {
            // Another set's real images are inked otherwise than MNIST's digits (Fashion-MNIST's coats fill up to 85%).
            let ink = DigitReader.inkRange(of: train.images, n: train.count, side: train.side)
            meta["ink_range"] = "\(ink.lowerBound),\(ink.upperBound)"
            print(String(format: "ink band of its training images (widened): %.1f%%...%.1f%%", ink.lowerBound * 100, ink.upperBound * 100))
        }
        try Checkpoint.writeWeights(clsPath, layout: cls.layout, params: cp.ptr, metadata: meta)
        print(String(format: "wrote %@ (test accuracy %.2f%%)", EngineError.oneLine(clsPath), acc * 100))
    }

    /// `--train-noisy-classifier`: trains the classifier of noisy digits on the
    /// model's schedule and writes it with its recipe.
    func trainNewNoisyClassifier(test: Dataset) throws {
        let clsPath = out ?? classifier ?? Assets.noisyClassifier
        try AtomicFile.checkOutputs([("--out", clsPath)], notOverwriting: [Assets.weightsInput(weights)] + Assets.dataInputs(data))
        try refuseReplacing(clsPath, only: "a classifier is written only over a classifier") { $0.contains("classifier") }
        var arch = Classifier.Architecture(architecture)!
        if arch.timeDim == 0 { arch.timeDim = Classifier.Architecture.noisy.timeDim }
        let path = weights ?? Assets.model
        let file = try Assets.reading(path) { try SafeTensors.read(path) }
        let given = try modelFile.resolved()
        let schedule = try NoiseSchedule(try Checkpoint.modelSpec(file.metadata, path: path, config: given.config, schedule: given.schedule).1)
        let cls = Classifier(arch), cp = FloatBuffer(count: cls.layout.count)
        let (train, held) = try classifierTrainingSet()
        let t0 = Benchmark.now()
        let report = cls.trainNoisy(params: cp, train: train, test: test, schedule: schedule, epochs: epochs, seed: seed,
                                    log: { print($0); fflush(stdout) })
        let accuracy = report.map { String(format: "t=%d: %.4f", $0.t, $0.accuracy) }.joined(separator: ", ")
        try Checkpoint.writeWeights(clsPath, layout: cls.layout, params: cp.ptr, metadata: [
            "format": Classifier.noisyFormat, "architecture": arch.description,
            "schedule": Checkpoint.encode(schedule.spec), "test_accuracy": accuracy,
            "epochs": String(epochs), "seed": String(seed), "training_digits": "0..<\(held.lowerBound)", "data": data.map(absolutePath) ?? "bundled MNIST",
            "command": CommandLine.arguments.joined(separator: " "),
            "wall_time_s": String(format: "%.0f", Benchmark.now() - t0)])
        print("wrote \(EngineError.oneLine(clsPath)) (test accuracy \(accuracy))")
    }

    /// `--guide-table`: n samples guided toward each digit; how many the clean
    /// classifier reads as that digit (argmax, and with p >= 0.9).
    func guideTableReport() throws {
        let path = weights ?? Assets.model
        let (net, params, schedule, file) = try Assets.reading(path) { try loadModel(path, given: modelFile, backend: try backendOption(backend)) }
        if net.ws.bf16 && !json { print("the network's convolutions in bfloat16 (--backend bf16)") }
        let clsPath = classifier ?? Assets.classifier
        let (cls, cp) = try loadClassifier(clsPath)
        var settings = sampling.settings(T: schedule.T)
        try settings.check(learnsVariance: net.config.learnSigma)   // before the table's heading is printed
        settings.guide = 0
        let guidance = try sampling.guidance(for: settings, schedule: schedule)
        let model = try predictor(net, params, schedule, file)
        let t0 = Benchmark.now()
        var rows: [[String: Any]] = []
        if !json {
            print("classifier guidance, \(n) samples per digit, \(sampling.label(settings, T: schedule.T).replacingOccurrences(of: "guided to 0 ", with: "guided "))")
            print("read by \(EngineError.oneLine(clsPath)); [a, b]: 95% Wilson intervals")
            print("digit   read as asked            confident (p>=0.9) as asked   seconds")
        }
        for d in 0...9 {
            settings.guide = d
            let t1 = Benchmark.now()
            let fake = try Evaluation.samples(model, schedule: schedule, settings: settings, n: n, seed: seed &+ UInt64(d) &* 7_919,
                                              size: net.config.imageSize, guidance: guidance) { done, share in
                Self.showProgress("digit \(d): " + Self.progress(done: done, of: n, share: share, since: t1))
            }
            let (probs, _) = cls.evaluate(cp.ptr, images: fake, n: n)
            var asked = 0, confident = 0
            for i in 0..<n {
                let row = probs[(i * 10)..<(i * 10 + 10)]
                let best = row.indices.max { row[$0] < row[$1] }! - i * 10
                if best == d { asked += 1; if row[i * 10 + d] >= 0.9 { confident += 1 } }
            }
            let a = Metrics.wilson(asked, n), c = Metrics.wilson(confident, n), secs = Benchmark.now() - t1
            rows.append(["digit": d, "asked": Double(asked) / Double(n), "asked_lo": a.lowerBound, "asked_hi": a.upperBound,
                         "confident": Double(confident) / Double(n), "confident_lo": c.lowerBound, "confident_hi": c.upperBound, "seconds": secs])
            Self.endProgress()
            if !json {
                print(String(format: "%5d   %.3f [%.3f, %.3f]      %.3f [%.3f, %.3f]            %5.0f", d, Double(asked) / Double(n), a.lowerBound, a.upperBound,
                             Double(confident) / Double(n), c.lowerBound, c.upperBound, secs))
                fflush(stdout)
            }
        }
        let worst = rows.map { $0["asked"] as! Double }.min()!
        if json {
            let obj: [String: Any] = ["n_per_digit": n, "scale": settings.guideScale, "sampler": sampling.label(settings, T: schedule.T),
                                      "rows": rows, "worst": worst, "seconds": Benchmark.now() - t0, "classifier": clsPath]
            print(try jsonText(obj))
            return
        }
        print(String(format: "worst digit: %.1f%% read as asked; %.0f s in all", worst * 100, Benchmark.now() - t0))
    }

    /// `--damage`: the Fréchet distance of n held-out digits under each kind and
    /// level of damage, next to undamaged held-out digits; says whether it rises.
    func damageCheck(_ evaluation: Evaluation, held: Dataset, classifierPath: String) throws {
        let m = min(n, held.count)
        let real = evaluation.distances(held.images, n: m)
        let table = evaluation.damageTable(pool: held, n: m, seed: seed &+ 1)
        func risesWithLevel(_ v: [Double]) -> Bool { zip(v, v.dropFirst()).allSatisfy { $0 < $1 } }
        let rises = table.allSatisfy { risesWithLevel($0.frechet) }, kidRises = table.allSatisfy { risesWithLevel($0.kid) }
        // The mildest damage by FD, and that damage's KID (not the least KID of another kind).
        let mild = table.min { $0.frechet[0] < $1.frechet[0] }!
        if json {
            var rows: [String: [Double]] = [:], kids: [String: [Double]] = [:], levels: [String: [Double]] = [:]
            for (d, f, k) in table { rows[d.rawValue] = f; kids[d.rawValue] = k; levels[d.rawValue] = d.levels }
            struct Out: Codable {
                var n: Int; var real: Double; var damaged: [String: [Double]]; var levels: [String: [Double]]; var rises: Bool
                var real_kid: Double; var damaged_kid: [String: [Double]]; var kid_rises: Bool
            }
            let enc = jsonEncoder()
            let out = Out(n: m, real: real.frechet, damaged: rows, levels: levels, rises: rises,
                          real_kid: real.kid, damaged_kid: kids, kid_rises: kidRises)
            print(String(decoding: try enc.encode(out), as: UTF8.self))
            return
        }
        print("Frechet distance (FD) and kernel distance (KID x1000) to the 10k test digits of \(m) held-out training digits, damaged; classifier \(EngineError.oneLine(classifierPath))")
        print(String(format: "undamaged: FD %.2f, KID x1000 %.2f", real.frechet, 1000 * real.kid))
        for (d, f, k) in table {
            let cells = zip(d.levels, f).map { Self.levelText(d, $0).leftPadding(8) + String(format: " %7.1f", $1) }
            print((d.rawValue + " FD").padding(toLength: 17, withPad: " ", startingAt: 0) + cells.joined(separator: "  "))
            let kcells = zip(d.levels, k).map { Self.levelText(d, $0).leftPadding(8) + String(format: " %7.1f", 1000 * $1) }
            print("  KID x1000".padding(toLength: 17, withPad: " ", startingAt: 0) + kcells.joined(separator: "  "))
        }
        print("levels: blur sigma (pixels), noise sd, pixels flipped, share erased, swirl angle at the centre, classes removed, distinct images")
        print(rises ? "FD: every kind rises with its level" : "FD: NOT every kind rises with its level: these features miss some damage")
        print(kidRises ? "KID: every kind rises with its level" : "KID: NOT every kind rises with its level")
        print(String(format: "the mildest damage (%@ %@) scores %.1fx the undamaged digits' FD (%.1f against %.1f), KID x1000 %.2f against %.2f",
                     mild.damage.rawValue, Self.levelText(mild.damage, mild.damage.levels[0]), mild.frechet[0] / real.frechet,
                     mild.frechet[0], real.frechet, 1000 * mild.kid[0], 1000 * real.kid))
    }

    static func levelText(_ d: Damage, _ level: Double) -> String {
        switch d {
        case .blur: String(format: "s=%.2g", level)
        case .noise: String(format: "sd=%.2g", level)
        case .saltPepper, .erasing: String(format: "%2.0f%%", level * 100)
        case .swirl: String(format: "%.2g rad", level)
        case .dropClasses: String(format: "%.0f gone", level)
        case .repeats: String(format: "%.0f%%", level * 100)
        }
    }

    /// The images under test ([N, 784] in [-1, 1]) and how the report names them:
    /// --images, or samples of the model.
    func setUnderTest(weights: String?, images: String?, name: String? = nil) throws -> ([Float], String) {
        if let images {
            let f = try IDXFile.read(images) { dims in
                try Dataset.usableImages(dims, path: images)
                guard dims[1] == MNIST.side else { throw EngineError.badFile(path: images, reason: "expected [N, 28, 28] images, got \(dims)") }
                guard dims[0] >= 4 else {
                    throw EngineError.badFile(path: images, reason: "\(dims[0]) image\(dims[0] == 1 ? "" : "s"); the metrics need at least 4 (precision and recall take each one's 3rd nearest neighbour)")
                }
            }
            let m = min(n, f.dims[0])
            return ((0..<(m * MNIST.pixels)).map { Float(f.bytes[$0]) / 127.5 - 1 }, images)
        }
        let path = weights ?? Assets.model
        let (net, params, schedule, file) = try Assets.reading(path) { try loadModel(path, given: modelFile, backend: try backendOption(backend)) }
        let settings = sampling.settings(T: schedule.T)
        let t0 = Benchmark.now()
        let fake = try Evaluation.samples(try predictor(net, params, schedule, file), schedule: schedule, settings: settings,
                                          n: n, seed: seed, size: net.config.imageSize,
                                          guidance: try sampling.guidance(for: settings, schedule: schedule)) { done, share in
            Self.showProgress(Self.progress(done: done, of: n, share: share, since: t0))
        }
        Self.endProgress()
        let label = sampling.label(settings, T: schedule.T) + (net.ws.bf16 ? ", bf16" : "")
        return (fake, name.map { "\($0), \(label)" } ?? label)
    }

    func printReport(n nf: Int, labels: [String], scores: [Evaluation.Scores], real: Evaluation.Scores, classifierPath: String,
                     heldOut: Range<Int>) throws {
        let heads = ["generated"] + (scores.count > 1 ? ["versus"] : []) + ["real"]
        // The pairs the verdicts compare: each set against real digits, then generated against versus.
        let pairs = scores.indices.map { (heads[$0], scores[$0], "real", real) } + (scores.count > 1 ? [("generated", scores[0], "versus", scores[1])] : [])
        // The model sampled and the seed (image i is not `sample --seed`'s image i: to score the digits
        // a sheet shows, `sample --out F.idx`, then `eval --images F.idx`).
        let sampledFrom = images == nil ? weights ?? Assets.model : nil
        if json {
            let enc = jsonEncoder()
            /// A verdict's numbers: a - b with its 95% interval, and whether 0 is inside it (nil below `verdictMinimum`).
            struct Diff: Codable {
                var a: String, b: String
                var frechet: Double, frechet_lo: Double, frechet_hi: Double, frechet_within_noise: Bool
                var kid: Double, kid_lo: Double, kid_hi: Double, kid_within_noise: Bool
                var confident: Double, confident_lo: Double, confident_hi: Double, confident_within_noise: Bool
            }
            struct Out: Codable { var n: Int; var source: String; var weights: String?; var seed: UInt64
                                  var generated: [String: Double]; var versus: [String: Double]?
                                  var versus_source: String?; var real: [String: Double]; var classifier: String; var differences: [Diff]? }
            let diffs: [Diff]? = nf < Self.verdictMinimum ? nil : pairs.map { a, sa, b, sb in
                let f = Evaluation.frechetDifference(sa, sb), k = Evaluation.kernelDifference(sa, sb), c = Evaluation.confidentDifference(sa, sb)
                return Diff(a: a, b: b, frechet: f.value, frechet_lo: f.interval.lowerBound, frechet_hi: f.interval.upperBound, frechet_within_noise: f.withinNoise,
                            kid: k.value, kid_lo: k.interval.lowerBound, kid_hi: k.interval.upperBound, kid_within_noise: k.withinNoise,
                            confident: c.value, confident_lo: c.interval.lowerBound, confident_hi: c.interval.upperBound, confident_within_noise: c.withinNoise)
            }
            let out = Out(n: nf, source: labels[0], weights: sampledFrom, seed: seed, generated: scores[0].values, versus: scores.count > 1 ? scores[1].values : nil,
                          versus_source: labels.count > 1 ? labels[1] : nil, real: real.values, classifier: classifierPath, differences: diffs)
            print(String(decoding: try enc.encode(out), as: UTF8.self))
            return
        }
        let r = heldOut.lowerBound
        let from = sampledFrom.map { " (\(EngineError.oneLine(($0 as NSString).lastPathComponent)), seed \(seed))" } ?? ""
        print("n = \(nf); generated: \(labels[0])\(from)" + (labels.count > 1 ? "; versus: \(labels[1])" : ""))
        let set = data.map { "images of \($0)" } ?? "MNIST training digits"
        print("real: \(nf) held-out \(set) (\(r)..<\(r + nf) of its training set, never seen by the classifier); reference: its test set")
        print("classifier: \(EngineError.oneLine(classifierPath))")
        print("metric".padding(toLength: 30, withPad: " ", startingAt: 0) + heads.map { $0.leftPadding(22) }.joined())
        let all = scores + [real]
        func row(_ name: String, _ cell: (Evaluation.Scores) -> String) {
            print(name.padding(toLength: 30, withPad: " ", startingAt: 0) + all.map { cell($0).leftPadding(22) }.joined())
        }
        row("Frechet distance (features)") { String(format: "%.2f [%.1f, %.1f]", $0["frechet"], $0["frechet_lo"], $0["frechet_hi"]) }
        row("kernel distance (KID) x1000") { String(format: "%.2f [%.2f, %.2f]", 1000 * $0["kid"], 1000 * $0["kid_lo"], 1000 * $0["kid_hi"]) }
        row("confident (p>=0.9, inked)") { String(format: "%.3f [%.3f, %.3f]", $0["confident_rate"], $0["confident_lo"], $0["confident_hi"]) }
        for (name, key) in [("precision (k=3)", "precision"), ("recall (k=3)", "recall"),
                            ("rarest class share", "class_min"), ("commonest class share", "class_max")] {
            row(name) { String(format: "%.3f [%.3f, %.3f]", $0[key], $0[key + "_lo"], $0[key + "_hi"]) }
        }
        for (name, key) in [("Inception-Score analogue", "inception_score"), ("diversity (mean pairwise L2)", "diversity"),
                            ("Sobel energy", "sobel_energy")] {
            row(name) { String(format: "%.4f", $0[key]) }
        }
        print("[a, b]: 95% intervals (FD, KID: bootstrap over the samples, \(Evaluation.bootstrapReplicates) resamplings; rates: Wilson)")
        for (i, s) in scores.enumerated() where s["reference_overlap"] > 0 {
            // The test digits given as the set to score: every number flatters it (precision 1.000 and
            // an FD ratio of 0.87 read as "better than real", unsaid).
            let k = Int((s["reference_overlap"] * Double(nf)).rounded())
            print("note: \(k) of the \(nf) \(heads[i]) images are the reference's own test digits: scored against themselves they look "
                  + "better than real digits do, which says nothing of a model")
        }
        if nf > Evaluation.diversitySamples {
            // These grow as n^2: say which part of the sets they saw, so a larger --n does not look broken.
            print("precision/recall use the first \(min(nf, Evaluation.knnSamples)) of each set, diversity the first \(Evaluation.diversitySamples)"
                  + (nf > Evaluation.kernelSamples ? ", KID the first \(Evaluation.kernelSamples)" : ""))
        }
        for (i, s) in scores.enumerated() {
            print(String(format: "FD ratio %@/real: %.2f; Sobel energy ratio %@/real: %.3f", heads[i], s["frechet_ratio"], heads[i], s["sobel_ratio"]))
        }
        for (i, s) in scores.enumerated() {
            print("class histogram (\(heads[i])): " + (0..<10).map { String(format: "%d:%.1f%%", $0, s["class_\($0)"] * 100) }.joined(separator: " "))
        }
        // Whether each mix differs from ten equal classes beyond sampling noise (real digits are not
        // quite even either: 11.2% of MNIST's training digits are 1s).
        for (i, s) in all.enumerated() {
            let p = s["class_chi2_p"], uneven = p < 0.01
            print(String(format: "class mix (%@): chi-square against ten equal classes %.2f (9 df, p %@)%@", heads[i],
                         s["class_chi2"], p < 0.001 ? "< 0.001" : String(format: "= %.3f", p),
                         uneven ? ", uneven beyond noise (at 1%)" : ", within noise of even (at 1%)"))
        }
        for (a, sa, b, sb) in pairs { print(Self.verdict(a, sa, b, sb)) }
    }

    /// Fewer samples than this and a bootstrap interval says more than the
    /// set can (two images resample to one FD): no verdict is given.
    static let verdictMinimum = 50

    /// One line: whether two sets' FD and confident rate differ beyond noise.
    static func verdict(_ a: String, _ sa: Evaluation.Scores, _ b: String, _ sb: Evaluation.Scores) -> String {
        let n = min(sa.n, sb.n)
        guard n >= verdictMinimum else {
            return "\(a) - \(b): too few samples to tell (n = \(n); give --n \(verdictMinimum) or more for intervals that mean something)"
        }
        let fd = Evaluation.frechetDifference(sa, sb), cr = Evaluation.confidentDifference(sa, sb)
        let kid = Evaluation.kernelDifference(sa, sb).scaled(by: 1000)
        func say(_ d: Evaluation.Difference, _ what: String, _ format: String, lowerIsBetter: Bool) -> String {
            let text = String(format: "%@ %+\(format) [%+\(format), %+\(format)]", what, d.value, d.interval.lowerBound, d.interval.upperBound)
            if d.withinNoise { return text + " within noise" }
            return text + ((d.value < 0) == lowerIsBetter ? " (\(a) better)" : " (\(b) better)")
        }
        return "\(a) - \(b): " + say(fd, "FD", ".2f", lowerIsBetter: true) + "; " + say(kid, "KID x1000", ".2f", lowerIsBetter: true)
            + "; " + say(cr, "confident", ".3f", lowerIsBetter: false)
    }
}

extension String {
    func leftPadding(_ width: Int) -> String { count >= width ? " " + self : String(repeating: " ", count: width - count) + self }
}
