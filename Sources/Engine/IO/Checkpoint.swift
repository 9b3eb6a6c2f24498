// Checkpoint.swift: weights files and training checkpoints: tensors and metadata.
import Foundation

/// Weights files and training checkpoints, both safetensors.
///
/// A weights file holds the state_dict names only (it loads into the PyTorch
/// model with `load_state_dict`). A checkpoint holds the EMA weights under the
/// plain names (so `ddpm sample` and PyTorch read it like a weights file) plus
/// `train.*` (raw weights), `adam_m.*`, `adam_v.*`, and in `__metadata__` the
/// config, schedule, step, RNG state and trainer options.
public enum Checkpoint {
    /// The prefixes of a checkpoint's training state beside the EMA weights' plain names.
    public static let statePrefixes = ["train.", "adam_m.", "adam_v."]

    public static func tensors(_ layout: ParameterLayout, _ p: UnsafePointer<Float>, prefix: String = "")
        -> [(name: String, shape: [Int], data: UnsafePointer<Float>)] {
        layout.entries.map { (prefix + $0.name, $0.shape, p + $0.offset) }
    }

    public static func writeWeights(_ path: String, layout: ParameterLayout, params: UnsafePointer<Float>,
                                    metadata: [String: String]) throws {
        try SafeTensors.write(path, tensors: tensors(layout, params), metadata: metadata)
    }

    /// Encodes a model config as the JSON stored under `__metadata__["config"]`.
    public static func encode<T: Encodable>(_ v: T) -> String {
        let enc = JSONEncoder(); enc.outputFormatting = [.sortedKeys]
        return String(decoding: try! enc.encode(v), as: UTF8.self)
    }

    /// Largest model loaded from a file (Small has 4.3M; this bounds what a
    /// hostile config can make us allocate to 256 MiB per copy).
    public static let maxParameters = 64 << 20

    /// The model a weights file or checkpoint describes: config and noise
    /// schedule from `__metadata__`, both validated and bounded. A file without
    /// them (a state_dict PyTorch saved) takes `config` and `schedule` from the
    /// caller (`--config`, `--schedule`, `--T`): without a config it is refused,
    /// not guessed; without a schedule it gets the chapter's linear T = 1000.
    /// Given for a file whose metadata says otherwise, they are refused.
    public static func modelSpec(_ metadata: [String: String], path: String,
                                 config given: UNetConfig? = nil, schedule givenSchedule: NoiseSchedule.Spec? = nil) throws -> (UNetConfig, NoiseSchedule.Spec) {
        // A later version of ddpm's own U-Net formats may mean what this one cannot read: said, not loaded as if
        // it were the first ("weights 99" loaded without a word).
        if let format = metadata["format"], format.hasPrefix("ddpm-explorer "), !format.contains("classifier"),
           format != Trainer.weightsFormat, format != Trainer.checkpointFormat {
            throw EngineError.badFile(path: path, reason: "its format is '\(EngineError.quoted(format, limit: 60))', which this ddpm does not read ('\(Trainer.weightsFormat)' and '\(Trainer.checkpointFormat)'): made by a newer ddpm?")
        }
        let cfg: UNetConfig
        if metadata["config"] != nil {
            cfg = try decode(UNetConfig.self, metadata["config"], path: path, key: "config")
            // Dropout only shapes training: a file's 0 and tiny's 0.1 are the same model.
            if var given, { given.dropout = cfg.dropout; return given != cfg }() {
                throw EngineError.invalidArgument("\(path): its metadata says the model is \(cfg.name), not the --config \(given.name) given (--config is for files without ddpm's metadata)")
            }
        } else if let format = metadata["format"], format.contains("classifier") {
            throw EngineError.invalidArgument("\(path) is a classifier (\(EngineError.quoted(format, limit: 40))), not a diffusion model: give a U-Net's weights, e.g. the bundled assets/models/mnist-tiny.safetensors")
        } else if metadata["format"] == Recording.format {
            throw EngineError.invalidArgument("\(path) is a recording of a sampling run, not a model: play it with ddpm replay \(path)")
        } else if let given {
            cfg = given
        } else {
            throw EngineError.badFile(path: path, reason: "its metadata does not say which model it holds (a state_dict saved without ddpm's metadata?); say it with --config tiny, small or the config JSON, and --schedule and --T if not linear 1000")
        }
        let spec: NoiseSchedule.Spec
        if metadata["schedule"] != nil {
            spec = try decode(NoiseSchedule.Spec.self, metadata["schedule"], path: path, key: "schedule")
            if let givenSchedule, givenSchedule != spec {
                throw EngineError.invalidArgument("\(path): its metadata says the schedule is \(spec.kind.rawValue) with T \(spec.T), not the --schedule \(givenSchedule.kind.rawValue) --T \(givenSchedule.T) given (they are for files without ddpm's metadata)")
            }
        } else {
            spec = givenSchedule ?? .init()
        }
        do {
            try checkUsable(cfg)
            _ = try NoiseSchedule(spec)
        } catch let e as EngineError {
            throw EngineError.badFile(path: path, reason: "metadata describes an unusable model: \(e.description)")
        }
        return (cfg, spec)
    }

    /// The image sides this program runs and records: 28x28 digits padded evenly up to 32x32.
    public static func isUsableImageSize(_ side: Int) -> Bool {
        (MNIST.side...Dataset.maxSide).contains(side) && (side - MNIST.side) % 2 == 0
    }

    /// A config this program runs, from a file or a flag: valid, 28x28 images
    /// padded evenly up to 32x32, at most `maxParameters`.
    public static func checkUsable(_ cfg: UNetConfig) throws {
        try cfg.validate()
        guard isUsableImageSize(cfg.imageSize) else {
            throw EngineError.invalidConfig("image size \(cfg.imageSize); this program draws 28x28 digits, padded evenly up to \(Dataset.maxSide)x\(Dataset.maxSide)")
        }
        let n = try UNet(cfg).parameterCount
        guard n <= maxParameters else {
            throw EngineError.invalidConfig("\(n) parameters, more than the \(maxParameters >> 20)M this program loads")
        }
    }

    /// Trainer state stored in a checkpoint's `__metadata__` besides the tensors.
    public struct TrainState: Equatable {
        public var options: TrainOptions
        public var step: Int
        public var rng: [UInt64]
        public var bucketLoss: [Double]?
        /// The losses of the steps before (`Trainer.recentLosses`), for the loss curve; nil when absent or unusable.
        public var recentLosses: [Float]? = nil
        public var loss: Double
        /// A length fit still to come (`Trainer.pendingFit`), under "length_fit".
        public var pendingFit: LengthFit? = nil
    }

    /// Parses and validates the trainer state of a checkpoint (format, options,
    /// step, RNG words); every problem is an error naming the file.
    public static func trainState(_ metadata: [String: String], path: String) throws -> TrainState {
        guard metadata["format"] == Trainer.checkpointFormat else {
            throw EngineError.badFile(path: path, reason: "not a training checkpoint (no optimiser state); use a file written by 'ddpm train --out'")
        }
        var opts = try decode(TrainOptions.self, metadata["options"], path: path, key: "options")
        opts.objective = try objective(metadata, path: path)
        // The model and schedule are said twice, for readers of weights and in the options; a file
        // whose two say different things would export or sample one model and resume another.
        // (Dropout only shapes training, as in modelSpec: the options' is the one a resume trains with.)
        if metadata["config"] != nil {
            var said = try decode(UNetConfig.self, metadata["config"], path: path, key: "config")
            said.dropout = opts.config.dropout
            guard said == opts.config else {
                throw EngineError.badFile(path: path, reason: "metadata 'config' and the config in 'options' describe different models")
            }
        }
        if metadata["schedule"] != nil, try decode(NoiseSchedule.Spec.self, metadata["schedule"], path: path, key: "schedule") != opts.schedule {
            throw EngineError.badFile(path: path, reason: "metadata 'schedule' and the schedule in 'options' differ")
        }
        do {
            try opts.validate()
            _ = try NoiseSchedule(opts.schedule)
        } catch let e as EngineError {
            throw EngineError.badFile(path: path, reason: "metadata 'options' are unusable: \(e.description)")
        }
        guard let step = step(metadata) else {
            throw EngineError.badFile(path: path, reason: "metadata 'step' missing or invalid")
        }
        let parts = (metadata["rng"] ?? "").split(separator: ",", omittingEmptySubsequences: false)
        // Hex digits only: UInt64(_:radix:) also takes a sign ("+1").
        let words = parts.compactMap { $0.allSatisfy(\.isHexDigit) ? UInt64($0, radix: 16) : nil }
        guard parts.count == 4, words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw EngineError.badFile(path: path, reason: "metadata 'rng' missing or invalid")
        }
        var buckets: [Double]?
        if let bl = metadata["bucket_loss"], let arr = try? JSONDecoder().decode([Double].self, from: Data(bl.utf8)),
           arr.count == 10 {
            buckets = arr.map { $0 < 0 || !$0.isFinite ? .nan : $0 }
        }
        // Shown only (like the buckets): a list that is not at most the kept count of numbers, or not
        // the steps' (more than the step), is left out rather than drawn.
        var recent: [Float]?
        if let rl = metadata["recent_losses"], rl.utf8.count <= 40 * Trainer.recentLossCount,
           let arr = try? JSONDecoder().decode([Float].self, from: Data(rl.utf8)),
           arr.count <= min(step, Trainer.recentLossCount), arr.allSatisfy({ $0.isFinite }) {
            recent = arr.map { $0 < 0 ? .nan : $0 }
        }
        var fit: LengthFit?
        if let s = metadata["length_fit"] {
            let f = try decode(LengthFit.self, s, path: path, key: "length_fit")
            guard f.seconds.isFinite, f.seconds > 0, f.seconds <= 86_400, f.atStep >= 1, f.atStep <= 100_000,
                  (f.before ?? 0) >= 0, (f.before ?? 0) <= 86_400,
                  f.steps.lowerBound >= 1, f.steps.upperBound <= 100_000_000 else {
                throw EngineError.badFile(path: path, reason: "metadata 'length_fit' is out of range: \(EngineError.quoted(s))")
            }
            // The faster setting is a run's options too: the bounds of any run's (`TrainOptions.validate`).
            if let g = f.faster {
                var o = opts
                o.batch = g.batch; o.lr = g.lr; o.totalSteps = g.steps.upperBound
                guard g.steps.lowerBound >= 1, (try? o.validate()) != nil else {
                    throw EngineError.badFile(path: path, reason: "metadata 'length_fit' has a faster setting out of range: \(EngineError.quoted(s))")
                }
            }
            fit = f
        }
        return TrainState(options: opts, step: step, rng: words, bucketLoss: buckets, recentLosses: recent,
                          loss: metadata["loss"].flatMap { Double($0) } ?? .nan, pendingFit: fit)
    }

    /// The training step a file's metadata gives, where it is one a run can reach (0...100,000,000,
    /// the most steps `train` takes); nil otherwise (what the header and `info` show of a file's step).
    public static func step(_ metadata: [String: String]) -> Int? {
        metadata["step"].flatMap { Int($0) }.flatMap { (0...100_000_000).contains($0) ? $0 : nil }
    }

    /// What a file's network predicts (`objective`: eps, x0 or v; eps when absent, as every file before it).
    public static func objective(_ metadata: [String: String], path: String) throws -> Objective {
        guard let s = metadata["objective"] else { return .eps }
        guard let o = Objective(rawValue: s) else {
            throw EngineError.badFile(path: path, reason: "metadata 'objective' is '\(EngineError.quoted(s, limit: 20))', not eps, x0 or v")
        }
        return o
    }

    /// `T` from the JSON of metadata `key` (decoded by `decoder`), or one line naming the field at fault.
    public static func decode<T: Decodable>(_ type: T.Type, _ s: String?, path: String, key: String,
                                            decoder: JSONDecoder = JSONDecoder()) throws -> T {
        guard let s else { throw EngineError.badFile(path: path, reason: "metadata has no '\(key)'") }
        let data = Data(s.utf8)
        func bad(_ why: String) -> EngineError { .badFile(path: path, reason: "metadata '\(key)' is not valid\(why): \(EngineError.quoted(s))") }
        // The field at fault by its path in the metadata ("options.config.chMults.2").
        func at(_ c: [CodingKey]) -> String { key + (c.isEmpty ? "" : "." + JSONScan.path(c)) }
        // JSONDecoder keeps one of two equal names without a word (and Python's json the other).
        if let dup = JSONScan.duplicateName(in: data) {
            throw EngineError.badFile(path: path, reason: "metadata '\(key)' gives '\(EngineError.quoted(dup, limit: 30))' twice")
        }
        do { return try decoder.decode(T.self, from: data) }
        catch let DecodingError.keyNotFound(k, c) { throw bad(" (it has no '\(at(c.codingPath + [k]))')") }
        catch let DecodingError.typeMismatch(_, c) { throw bad(" ('\(at(c.codingPath))' has the wrong type)") }
        catch let DecodingError.valueNotFound(_, c) { throw bad(" ('\(at(c.codingPath))' is null)") }
        catch let e as UNetConfig.UnknownKey { throw bad(" ('\(at(e.path))' is not a key of a model's config: a file of a newer ddpm?)") }
        catch let DecodingError.dataCorrupted(c) where !c.codingPath.isEmpty { throw bad(" ('\(at(c.codingPath))' does not fit its type)") }
        catch {
            if case .failure(let e) = JSONScan.parse(data) { throw bad(" (\(e.reason))") }
            // What JSONDecoder says, with no path, of 16.5 or 1e300 where a whole number goes.
            throw bad(" (a value does not fit its type: counts, sizes, steps and seeds are whole numbers)")
        }
    }
}
