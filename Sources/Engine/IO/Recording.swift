// Recording.swift: a trajectory on disk (.ddpmtraj), replayed without a model.
import Foundation

/// A recorded trajectory: every step's x_t and x̂0 (Float16), the step's t and
/// sampler settings, the classifier's readings, the final samples, a fork with
/// its branch point, and the model it came from. `ddpm replay` shows it with
/// no model; `ddpm export-gif` animates it.
///
/// On disk it is a safetensors file (one reader for weights and recordings,
/// already fuzzed), version 1:
/// - tensors `x_t`, `x0_hat`: F16 [frames, n, size, size]; `readings`: F32
///   [frames, n, 12] (the ten class probabilities, the entropy in bits, the
///   ink share; absent when no classifier read them); `final`: F32 [n, size,
///   size] and `final_readings` [n, 12] once the run finished; the same under
///   `fork.` for a fork's own steps (its shared past is the main run's first
///   `fork_from` frames, not stored twice).
/// - `__metadata__`: `format` = "ddpm-trajectory", `version` = "1", `model_file`,
///   `model_sha256`, `model_step`, `model_objective` (what the network predicts;
///   absent in older files: eps), `model_self_conditioned` ("true" when the network
///   also read the previous step's x̂0; absent otherwise), `schedule` (JSON), `seed`, `temperature` (of
///   x_T), `n`, `image_size`, `timesteps` (JSON), `frames` (JSON: per frame
///   step, t, t_next, settings, eps statistics, share of x̂0 outside [-1, 1]),
///   and for a fork `fork_from`, `fork_settings`, `fork_frames`.
///
/// Size: 2 bytes x 2 images x size² per digit and frame, plus ~200 bytes of
/// JSON per frame: 1000 DDPM steps of 16 digits take 50.3 MB, 50 DDIM steps 2.5 MB.
public struct Recording: Sendable {
    public static let format = "ddpm-trajectory"
    public static let version = 1
    /// Most digits a recording keeps per frame (the explorer's most).
    public static let maxDigits = 64
    /// Largest recording opened or written: 64 digits x 1000 steps x 32x32 is 262 MB.
    public static let maxBytes = 1 << 30

    /// The model a recording came from.
    public struct Model: Equatable, Sendable {
        public var file: String
        public var sha256: String
        public var step: Int?
        /// What the network predicts (the panels of a replay say so, as the live explorer does).
        public var objective: Objective
        /// Whether the network also read the previous step's x̂0 (self-conditioning).
        public var selfConditioned: Bool
        /// Whether it ran its convolutions in bfloat16 (--backend bf16): close to, not the same as, the float samples.
        public var bfloat16: Bool
        public init(file: String, sha256: String, step: Int?, objective: Objective = .eps, selfConditioned: Bool = false,
                    bfloat16: Bool = false) {
            self.file = file; self.sha256 = sha256; self.step = step; self.objective = objective
            self.selfConditioned = selfConditioned; self.bfloat16 = bfloat16
        }

        /// The identity of the model file at `path`: its name, SHA-256, training step, objective,
        /// whether it is self-conditioned (its config's `selfCondition`) and whether it sampled in bfloat16.
        public static func of(file path: String, metadata: [String: String], selfConditioned: Bool,
                              bfloat16: Bool = false) throws -> Model {
            Model(file: URL(fileURLWithPath: path).lastPathComponent, sha256: try Engine.sha256(ofFile: path),
                  step: metadata["step"].flatMap { Int($0) }, objective: try Checkpoint.objective(metadata, path: path),
                  selfConditioned: selfConditioned, bfloat16: bfloat16)
        }
    }

    /// One side of a recording: the main run, or a fork's own steps.
    public struct Side: Sendable {
        public var frames: [RecordedFrame]
        public var final: [Float]?
        public var finalReadings: [DigitReader.Reading]
        public init(frames: [RecordedFrame], final: [Float]? = nil, finalReadings: [DigitReader.Reading] = []) {
            self.frames = frames; self.final = final; self.finalReadings = finalReadings
        }
    }

    /// A fork: the recorded step of the main run it started from, the
    /// settings it started with and its own steps after the shared past.
    public struct Fork: Sendable {
        public var from: Int
        public var settings: SamplerSettings
        public var side: Side
        public init(from: Int, settings: SamplerSettings, side: Side) { self.from = from; self.settings = settings; self.side = side }
    }

    public var model: Model
    public var schedule: NoiseSchedule.Spec
    public var seed: UInt64
    /// The temperature x_T was drawn with.
    public var temperature: Double
    /// Digits recorded per frame, and their side in pixels.
    public var n: Int, size: Int
    /// The timesteps the main run planned (its length, for "step k of S").
    public var timesteps: [Int]
    public var main: Side
    public var fork: Fork?

    public init(model: Model, schedule: NoiseSchedule.Spec, seed: UInt64, temperature: Double, n: Int, size: Int,
                timesteps: [Int], main: Side, fork: Fork? = nil) {
        self.model = model; self.schedule = schedule; self.seed = seed; self.temperature = temperature
        self.n = n; self.size = size; self.timesteps = timesteps; self.main = main; self.fork = fork
    }

    /// The recording of a runner's snapshot (nil when nothing has been recorded yet).
    public init?(_ snap: RunnerSnapshot, model: Model, schedule: NoiseSchedule.Spec) {
        guard let first = snap.history.first else { return nil }
        let keep = first.n
        func cut(_ f: [Float]?) -> [Float]? { f.map { Array($0.prefix(keep * first.size * first.size)) } }
        self.init(model: model, schedule: schedule, seed: snap.seed, temperature: snap.runTemperature, n: keep, size: first.size,
                  timesteps: snap.timesteps,
                  main: Side(frames: snap.history, final: cut(snap.final), finalReadings: snap.finalReadings))
        if let fs = snap.forkSettings {
            let own = Array(snap.forkHistory.dropFirst(snap.forkFrom))
            fork = Fork(from: snap.forkFrom, settings: fs,
                        side: Side(frames: own, final: cut(snap.forkFinal), finalReadings: snap.forkFinalReadings))
        }
    }

    /// Bytes the file takes (tensors; the JSON header adds ~200 bytes a frame).
    public var tensorBytes: Int {
        func side(_ s: Side) -> Int {
            Self.tensorBytes(steps: s.frames.count, n: n, size: size, readings: !(s.frames.first?.readings.isEmpty ?? true),
                             final: s.final != nil, finalReadings: !s.finalReadings.isEmpty)
        }
        return side(main) + (fork.map { side($0.side) } ?? 0)
    }

    /// The tensor bytes of one side: each step's x_t and x̂0 as F16 and its
    /// readings (12 floats a digit), the final samples as F32 and theirs.
    public static func tensorBytes(steps: Int, n: Int, size: Int, readings: Bool, final: Bool, finalReadings: Bool) -> Int {
        let img = n * size * size, read = n * 12 * 4
        return steps * (2 * img * 2 + (readings ? read : 0)) + (final ? img * 4 + (finalReadings ? read : 0) : 0)
    }

    static func refuseOverLimit(_ bytes: Int, _ what: String) throws {
        guard bytes <= maxBytes else {
            throw EngineError.invalidArgument("the recording would take \(bytes >> 20) MiB\(what), over the \(maxBytes >> 20) MiB limit: record fewer digits (--n) or steps (--sampler ddim --steps S)")
        }
    }

    /// Refuses, before any sampling, a recording of `steps` steps of `n`
    /// digits (at most `maxDigits` kept) that would be over `maxBytes`
    /// (each step's x_t and x̂0 as F16, the classifier's readings).
    public static func checkSize(steps: Int, n: Int, size: Int) throws {
        let k = min(n, maxDigits)
        let bytes = tensorBytes(steps: steps, n: k, size: size, readings: true, final: true, finalReadings: true)
        try refuseOverLimit(bytes, " (\(steps) steps of \(k) digits)")
        // The frames kept while sampling, then the file's bytes as they are written: checked now,
        // so a tight memory limit (ulimit -v) is an error before sampling, not a crash after it.
        try InputFile.checkMemory(3 * bytes + (32 << 20), for: "the frames of a recording of \(steps) steps of \(k) digits (kept, then written)")
    }

    // MARK: writing

    /// Writes the recording atomically.
    public func write(_ path: String) throws {
        try Self.refuseOverLimit(tensorBytes, "")
        var meta: [String: String] = [
            "format": Self.format, "version": "\(Self.version)",
            "model_file": model.file, "model_sha256": model.sha256,
            "schedule": Self.json(schedule), "seed": "\(seed)", "temperature": "\(temperature)",
            "n": "\(n)", "image_size": "\(size)", "timesteps": Self.json(timesteps),
            "frames": Self.json(main.frames.map(FrameInfo.init)),
        ]
        if let s = model.step { meta["model_step"] = "\(s)" }
        if model.objective != .eps { meta["model_objective"] = model.objective.rawValue }
        if model.selfConditioned { meta["model_self_conditioned"] = "true" }
        if model.bfloat16 { meta["model_bfloat16"] = "true" }
        // The JSON header must stay readable (SafeTensors.maxHeaderBytes; ~200 bytes a frame: T ≲ 60,000).
        let headerBytes = meta.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 8 }
            + (fork.map { Self.json($0.side.frames.map(FrameInfo.init)).utf8.count } ?? 0)
        guard headerBytes < SafeTensors.maxHeaderBytes - (64 << 10) else {
            throw EngineError.invalidArgument("the recording's \(main.frames.count) frames need a header of \(headerBytes >> 20) MiB, over the \(SafeTensors.maxHeaderBytes >> 20) MiB a recording may have: record fewer steps")
        }
        var blobs: [(String, [Int], SafeTensors.DType, [UInt8])] = []
        func add(_ prefix: String, _ side: Side) {
            let shape = [side.frames.count, n, size, size]
            blobs.append((prefix + "x_t", shape, .f16, Self.bytes(side.frames.flatMap { $0.xt.prefix(n * size * size) })))
            blobs.append((prefix + "x0_hat", shape, .f16, Self.bytes(side.frames.flatMap { $0.x0.prefix(n * size * size) })))
            if let f = side.frames.first, !f.readings.isEmpty {
                blobs.append((prefix + "readings", [side.frames.count, n, 12], .f32,
                              Self.bytes(side.frames.flatMap { Self.pack($0.readings, n: n) })))
            }
            if let fin = side.final {
                blobs.append((prefix + "final", [n, size, size], .f32, Self.bytes(fin)))
                if !side.finalReadings.isEmpty {
                    blobs.append((prefix + "final_readings", [n, 12], .f32, Self.bytes(Self.pack(side.finalReadings, n: n))))
                }
            }
        }
        add("", main)
        if let fork {
            meta["fork_from"] = "\(fork.from)"
            meta["fork_settings"] = Self.json(fork.settings)
            meta["fork_frames"] = Self.json(fork.side.frames.map(FrameInfo.init))
            add("fork.", fork.side)
        }
        try Self.withRaw(blobs) { raw in try SafeTensors.write(path, raw: raw, metadata: meta) }
    }

    // MARK: reading

    /// Reads a recording; every problem is one error naming the file.
    public static func read(_ path: String) throws -> Recording {
        let size = try InputFile.size(path, what: "recording", limit: maxBytes + (64 << 20))
        // The mapped file, its frames decoded (about its size again) and room to use them: under a tight
        // memory limit (ulimit -v) one line now, where an allocation part-way through would end the process.
        try InputFile.checkMemory(2 * size + (16 << 20), for: "reading \(InputFile.shown(path)) and its frames")
        return try parse(try InputFile.mapped(path, size: size), path: path)
    }

    /// Parses a recording's bytes (`path` names it in errors).
    public static func parse(_ data: Data, path: String) throws -> Recording {
        // A picture or data file given for the recording: what it is (not "a damaged recording").
        if let kind = SafeTensors.otherKind(data) {
            throw EngineError.badFile(path: path, reason: "is \(kind), not a recording (.ddpmtraj: ddpm sample --record or R in the explorer writes them)")
        }
        let f: SafeTensors
        do { f = try SafeTensors.parse(data, path: path) } catch EngineError.badFile(let p, let reason) {
            // What the safetensors layer found, and what to do about it.
            throw EngineError.badFile(path: p, reason: reason + " (a cut-short or damaged recording, or not one: record it again with ddpm sample --record or R in the explorer)")
        }
        func bad(_ r: String) -> EngineError { .badFile(path: path, reason: "not a usable recording: " + r) }
        let m = f.metadata
        guard m["format"] == format else {
            let made = "recordings are written by ddpm sample --record or R in the explorer"
            if m["format"]?.hasPrefix("ddpm-explorer weights") == true || m["config"] != nil {
                throw bad("this is a model's weights file (\(made))")
            }
            throw bad(m["format"].map { "format is '\(EngineError.quoted($0, limit: 40))', not \(format) (\(made))" }
                      ?? "no 'format' in its metadata (\(made))")
        }
        guard let v = m["version"].flatMap({ Int($0) }), v == version else {
            throw bad("version \(EngineError.quoted(m["version"] ?? "(none)", limit: 20)) is not supported (this ddpm reads version \(version))")
        }
        func field(_ k: String) throws -> String {
            guard let s = m[k] else { throw bad("metadata '\(k)' is missing") }
            return s
        }
        func decode<T: Decodable>(_ k: String, _ type: T.Type) throws -> T {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: nonFinite.inf, negativeInfinity: nonFinite.negInf, nan: nonFinite.nan)
            // The field at fault by its path ("frames.0.settings.kind"), as a model's metadata says it.
            let text = try field(k)
            do { return try Checkpoint.decode(T.self, text, path: path, key: k, decoder: decoder) }
            catch EngineError.badFile(_, let reason) { throw bad(reason) }
        }
        guard let n = Int(try field("n")), (1...maxDigits).contains(n) else { throw bad("n is not in 1...\(maxDigits)") }
        // The sizes a model here has (a 30x30 model records too).
        guard let size = Int(try field("image_size")), Checkpoint.isUsableImageSize(size) else {
            throw bad("image_size is not 28, 30 or 32")
        }
        let seedText = try field("seed")
        guard let seed = UInt64(seedText) else {
            throw bad("seed '\(EngineError.quoted(seedText, limit: 24))' is not a whole number from 0 to \(UInt64.max)")
        }
        guard let temp = Double(try field("temperature")), temp.isFinite, (0...10).contains(temp) else { throw bad("temperature is not in [0, 10]") }
        let schedule = try decode("schedule", NoiseSchedule.Spec.self)
        do { _ = try NoiseSchedule(schedule) } catch { throw bad("schedule: \(error)") }
        let timesteps = try decode("timesteps", [Int].self)
        guard timesteps.allSatisfy({ (0..<schedule.T).contains($0) }) else { throw bad("a timestep is outside 0..<T") }
        guard zip(timesteps, timesteps.dropFirst()).allSatisfy({ $0 > $1 }) else { throw bad("its timesteps do not fall step by step") }
        /// One side's frames; its steps are numbered from `firstStep` on, one by one, with t falling.
        func side(_ prefix: String, _ infos: [FrameInfo], firstStep: Int) throws -> Side {
            let count = infos.count
            let img = n * size * size
            func tensor(_ name: String, _ shape: [Int], _ dtype: SafeTensors.DType) throws -> SafeTensors.Tensor {
                guard let t = f.tensors[prefix + name] else { throw bad("tensor '\(prefix + name)' is missing") }
                guard t.shape == shape, t.dtype == dtype else {
                    throw bad("tensor '\(prefix + name)' is \(t.dtype.rawValue) \(SafeTensors.shown(t.shape)), expected \(dtype.rawValue) \(shape)")
                }
                return t
            }
            // (A frame list that does not match the images, e.g. an empty one, said as such: not as a tensor's shape.)
            if let held = f.tensors[prefix + "x_t"]?.shape, held.count == 4, Array(held.dropFirst()) == [n, size, size], held[0] != count {
                throw bad("'\(prefix)frames' describes \(count) frame\(count == 1 ? "" : "s") while tensor '\(prefix)x_t' holds \(held[0])")
            }
            let xt = try tensor("x_t", [count, n, size, size], .f16), x0 = try tensor("x0_hat", [count, n, size, size], .f16)
            // The frames' arrays take the two tensors' size again (each frame is decoded from the mapped file on
            // its own): under a tight memory limit (ulimit -v) an error now, not an abort part-way.
            try InputFile.checkMemory(2 * count * img * 2 + (16 << 20),
                                      for: "the \(count) frames of \(n) digit\(n == 1 ? "" : "s") in \(InputFile.shown(path))")
            /// Frame i's images of `t`; a run stops at a step that is not finite before recording it, so NaN is
            /// damage, drawn as nothing real. (Infinity stays: a finite x̂0 past F16's 65504 is stored as one.)
            func images(_ t: SafeTensors.Tensor, _ name: String, frame i: Int) throws -> [Float16] {
                let values = t.halves(from: i * img, count: img)
                if values.contains(where: { $0.isNaN }) {
                    throw bad("tensor '\(prefix + name)' holds a value that is not a number (frame \(firstStep + i))")
                }
                return values
            }
            var readings: [Float]? = nil
            if f.tensors[prefix + "readings"] != nil { readings = try tensor("readings", [count, n, 12], .f32).data }
            var frames: [RecordedFrame] = []
            frames.reserveCapacity(count)
            for (i, info) in infos.enumerated() {
                guard info.step == firstStep + i else { throw bad("frame \(i) of '\(prefix)frames' is numbered \(info.step), not \(firstStep + i)") }
                guard info.t_next < info.t else { throw bad("frame \(info.step) goes from t=\(info.t) to t=\(info.t_next), not down") }
                let r = try readings.map { try unpack(Array($0[(i * n * 12)..<((i + 1) * n * 12)]), n: n, bad: bad) } ?? []
                frames.append(try info.frame(n: n, size: size, T: schedule.T, xt: try images(xt, "x_t", frame: i),
                                             x0: try images(x0, "x0_hat", frame: i), readings: r, bad: bad))
            }
            var out = Side(frames: frames)
            if f.tensors[prefix + "final"] != nil {
                let fin = try tensor("final", [n, size, size], .f32).data
                guard fin.allSatisfy({ $0.isFinite }) else { throw bad("tensor '\(prefix)final' holds a value that is not finite") }
                out.final = fin
                if f.tensors[prefix + "final_readings"] != nil {
                    out.finalReadings = try unpack(try tensor("final_readings", [n, 12], .f32).data, n: n, bad: bad)
                }
            }
            return out
        }
        let main = try side("", try decode("frames", [FrameInfo].self), firstStep: 0)
        guard !main.frames.isEmpty else { throw bad("it holds no frames") }
        // The run's plan is the steps taken and the steps left: frame i went from its i-th t to the next.
        guard main.frames.count <= timesteps.count else {
            throw bad("it holds \(main.frames.count) frames of a run of \(timesteps.count) steps")
        }
        // Final samples come after the last step: a run that has them has taken every step it planned.
        if main.final != nil && main.frames.count != timesteps.count {
            throw bad("it holds final samples after \(main.frames.count) of its run's \(timesteps.count) steps")
        }
        for (i, fr) in main.frames.enumerated() {
            let next = i + 1 < timesteps.count ? timesteps[i + 1] : -1
            guard fr.t == timesteps[i] && fr.tNext == next else {
                throw bad("frame \(i) goes from t=\(fr.t) to t=\(fr.tNext), where the run's timesteps say t=\(timesteps[i]) to t=\(next)")
            }
        }
        var objective = Objective.eps
        if let o = m["model_objective"] {
            guard let known = Objective(rawValue: o) else { throw bad("model_objective is not eps, x0 or v") }
            objective = known
        }
        var selfConditioned = false
        if let c = m["model_self_conditioned"] {
            guard c == "true" || c == "false" else { throw bad("model_self_conditioned is not true or false") }
            selfConditioned = c == "true"
        }
        var bfloat16 = false
        if let b = m["model_bfloat16"] {
            guard b == "true" || b == "false" else { throw bad("model_bfloat16 is not true or false") }
            bfloat16 = b == "true"
        }
        var rec = Recording(model: Model(file: try field("model_file"), sha256: try field("model_sha256"),
                                         step: m["model_step"].flatMap { Int($0) }, objective: objective,
                                         selfConditioned: selfConditioned, bfloat16: bfloat16),
                            schedule: schedule, seed: seed, temperature: temp, n: n, size: size, timesteps: timesteps, main: main)
        if m["fork_from"] != nil {
            guard let from = Int(try field("fork_from")), (0...main.frames.count).contains(from) else {
                throw bad("fork_from is not a step of the recording")
            }
            let settings = try decode("fork_settings", SamplerSettings.self)
            do { try settings.validate(T: schedule.T) } catch { throw bad("fork_settings: \(error)") }
            let own = try side("fork.", try decode("fork_frames", [FrameInfo].self), firstStep: from)
            // The fork goes on from where the original was at `from`, each step from where the one before ended.
            var t = from == 0 ? timesteps[0] : main.frames[from - 1].tNext
            for (i, fr) in own.frames.enumerated() {
                guard t >= 0, fr.t == t, fr.tNext >= 0 || i == own.frames.count - 1 else {
                    throw bad("fork frame \(fr.step) goes from t=\(fr.t) to t=\(fr.tNext), where the fork was at t=\(t)")
                }
                t = fr.tNext
            }
            rec.fork = Fork(from: from, settings: settings, side: own)
        }
        return rec
    }

    /// The frames with the classifier's readings of their x̂0 added (and of
    /// the final samples), read in batches of about 256 images.
    public func withReadings(_ reader: DigitReader) -> Recording {
        var r = self
        func read(_ side: Side) -> Side {
            var out = side
            let per = max(1, 256 / n)
            var i = 0
            while i < side.frames.count {
                let group = Array(side.frames[i..<min(side.frames.count, i + per)])
                let images = group.flatMap { $0.x0Floats() }
                let readings = reader.read(images, n: group.count * n, side: size)
                for (j, f) in group.enumerated() {
                    out.frames[i + j] = RecordedFrame(step: f.step, t: f.t, tNext: f.tNext, n: f.n, size: f.size, settings: f.settings,
                                                      xt: f.xt, x0: f.x0, eps: f.eps, x0Outside: f.x0Outside,
                                                      readings: Array(readings[(j * n)..<((j + 1) * n)]))
                }
                i += per
            }
            if let fin = side.final { out.finalReadings = reader.read(fin, n: n, side: size) }
            return out
        }
        r.main = read(main)
        if let f = fork { r.fork?.side = read(f.side) }
        return r
    }

    // MARK: per-frame data

    /// What the metadata keeps of a frame (its images are tensors).
    struct FrameInfo: Codable {
        var step: Int, t: Int, t_next: Int
        var settings: SamplerSettings
        var eps: [Double]
        var x0_outside: Double

        init(_ f: RecordedFrame) {
            step = f.step; t = f.t; t_next = f.tNext; settings = f.settings
            eps = [f.eps.mean, f.eps.std, f.eps.min, f.eps.max]; x0_outside = f.x0Outside
        }

        func frame(n: Int, size: Int, T: Int, xt: [Float16], x0: [Float16], readings: [DigitReader.Reading],
                   bad: (String) -> EngineError) throws -> RecordedFrame {
            // ε̂'s statistics are of float32 values: within Float's range, std >= 0, min <= mean <= max
            // and std at most (max - min) / 2, give or take rounding (Stats' std of a constant ε̂ is
            // about 1e-6 of it; a file's std of -1e308 was shown as it was).
            let floatRange = -Double(Float.greatestFiniteMagnitude)...Double(Float.greatestFiniteMagnitude)
            let slack = eps.count == 4 ? 1e-4 * max(1, abs(eps[2]), abs(eps[3])) : 0
            guard step >= 0, (0..<T).contains(t), (-1..<T).contains(t_next), eps.count == 4, eps.allSatisfy({ floatRange.contains($0) }),
                  eps[1] >= 0, eps[2] <= eps[3], eps[0] >= eps[2] - slack, eps[0] <= eps[3] + slack,
                  eps[1] <= (eps[3] - eps[2]) / 2 + slack,
                  (0...1).contains(x0_outside) else { throw bad("frame \(step) has a value out of range") }
            do { try settings.validate(T: T) } catch { throw bad("frame \(step): \(error)") }
            // A DDPM step takes t one down (a frame said DDPM while it went 50 down was replayed as t=799 -> 798).
            guard settings.kind != .ddpm || t_next == t - 1 else { throw bad("frame \(step) is a DDPM step from t=\(t) to t=\(t_next), not one down") }
            var st = Stats(); st.mean = eps[0]; st.std = eps[1]; st.min = eps[2]; st.max = eps[3]
            return RecordedFrame(step: step, t: t, tNext: t_next, n: n, size: size, settings: settings, xt: xt, x0: x0,
                                 eps: st, x0Outside: x0_outside, readings: readings)
        }
    }

    /// Readings as 12 floats each: the ten probabilities, entropy, ink.
    static func pack(_ r: [DigitReader.Reading], n: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(n * 12)
        for i in 0..<n {
            let x = r[i]
            out += x.probs + [x.entropy, x.ink]
        }
        return out
    }

    /// The readings back; digit and p are the largest probability and its class, as the reader picks them.
    static func unpack(_ v: [Float], n: Int, bad: (String) -> EngineError) throws -> [DigitReader.Reading] {
        guard v.allSatisfy({ $0.isFinite }) else { throw bad("a reading is not finite") }
        // Probabilities and the ink share lie in [0, 1], the entropy in [0, log2 10] bits (a little slack for rounding).
        for i in 0..<n {
            let r = v[(i * 12)..<(i * 12 + 12)]
            guard r.prefix(10).allSatisfy({ (0...1.0001).contains($0) }), (0...3.33).contains(r[i * 12 + 10]), (0...1).contains(r[i * 12 + 11]) else {
                throw bad("a reading is out of range (probabilities and ink in [0, 1], entropy in [0, log2 10])")
            }
        }
        return (0..<n).map { i in
            let probs = Array(v[(i * 12)..<(i * 12 + 10)])
            var best = 0
            for k in 1..<10 where probs[k] > probs[best] { best = k }
            return DigitReader.Reading(digit: best, p: probs[best], entropy: v[i * 12 + 10], probs: probs, ink: v[i * 12 + 11])
        }
    }

    /// A run whose model produced NaN or infinity (broken weights) still records: JSON has no
    /// such numbers, so they are written as these strings and read back as numbers.
    static let nonFinite = (inf: "inf", negInf: "-inf", nan: "nan")

    static func json<T: Encodable>(_ v: T) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: nonFinite.inf, negativeInfinity: nonFinite.negInf, nan: nonFinite.nan)
        // Plain structs of numbers and strings, every float spelled: encoding cannot fail.
        return String(decoding: try! e.encode(v), as: UTF8.self)
    }

    static func bytes(_ v: [Float16]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }
    static func bytes(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    typealias RawTensor = (name: String, shape: [Int], dtype: SafeTensors.DType, bytes: UnsafeRawBufferPointer)

    /// `body` with every blob's bytes in place (no copies: each array is borrowed
    /// for the whole call, one `withUnsafeBytes` inside the next).
    private static func withRaw<R>(_ blobs: [(String, [Int], SafeTensors.DType, [UInt8])], done: [RawTensor] = [],
                                   _ body: ([RawTensor]) throws -> R) throws -> R {
        guard let first = blobs.first else { return try body(done) }
        return try first.3.withUnsafeBytes { raw in
            try withRaw(Array(blobs.dropFirst()), done: done + [(first.0, first.1, first.2, raw)], body)
        }
    }
}
