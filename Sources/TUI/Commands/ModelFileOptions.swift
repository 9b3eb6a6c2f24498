// ModelFileOptions.swift: --config, --attention, --schedule, --T, --objective: what a weights file without metadata holds.
import ArgumentParser
import Engine
import Foundation

/// What a weights file without ddpm's metadata holds (a state_dict PyTorch
/// saved): `--config`, `--attention`, `--schedule`, `--T`, `--objective`. A file with metadata
/// needs none of them and refuses ones that disagree with it.
struct ModelFileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The model: tiny, small, or a config JSON as ddpm writes it ({\"nChannels\": 32, \"chMults\": [1, 2, 2, 4], \"nBlocks\": 2, \"imageSize\": 32, \"attention\": [2]}; nChannels, chMults, nBlocks and imageSize are needed, the rest defaults to nMidBlocks 2, groups 8, attention [], learnSigma and selfCondition false). With a weights file: only for one without ddpm's metadata.", valueName: "config"))
    var config: String?
    @Option(parsing: .unconditional, help: ArgumentHelp("With --config: the chapter's AttentionBlock at these levels (e.g. 1 or 1,2).", valueName: "levels"))
    var attention: String?
    @Option(help: "For a weights file without ddpm's metadata: its noise schedule, linear, cosine, quadratic or sigmoid (default linear).")
    var schedule: String?
    @Option(name: [.customShort("T"), .customLong("T")], parsing: .unconditional, help: "For a weights file without ddpm's metadata: its diffusion steps T (default 1000).")
    var T: Int?
    @Option(help: ArgumentHelp("For a weights file without ddpm's metadata: what the network predicts, eps, x0 or v (default eps; the bundled model predicts v).", valueName: "objective"))
    var objective: String?

    var describesSchedule: Bool { schedule != nil || T != nil }
    var isEmpty: Bool { config == nil && attention == nil && !describesSchedule && objective == nil }

    func validate() throws {
        _ = try resolved(defaultConfig: .tiny)
        _ = try objectiveGiven()
    }

    /// What `validate` checks, for a command that reads these options as a
    /// file's description (no default model for `--attention` to add to):
    /// called from its own `validate`, so errors come with its usage line.
    func validateForFile() throws {
        _ = try resolved()
    }

    func objectiveGiven() throws -> Objective? {
        guard let objective else { return nil }
        guard let o = Objective(rawValue: objective.lowercased()) else {
            throw ValidationError("--objective must be eps, x0 or v, got '\(objective)'")
        }
        return o
    }

    /// The file's objective: its metadata's, or --objective's for a file without
    /// ddpm's metadata; --objective that contradicts the metadata is an error.
    func objective(of file: SafeTensors) throws -> Objective {
        let recorded = try Checkpoint.objective(file.metadata, path: file.path)
        guard let given = try objectiveGiven() else { return recorded }
        // A file ddpm wrote records its objective (one without the key predates objectives: ε).
        if (file.metadata["objective"] != nil || file.metadata["config"] != nil) && given != recorded {
            let says = file.metadata["objective"] != nil ? "says the model predicts \(recorded.rawValue)" : "records no objective (ε)"
            throw EngineError.invalidArgument("\(file.path): its metadata \(says), not the --objective \(given.rawValue) given (--objective is for files without ddpm's metadata)")
        }
        return given
    }

    /// The config and schedule the options give (nil where they say nothing).
    /// `defaultConfig` is the model `--attention` alone adds to (`info` and
    /// `bench` describe Tiny by default; a file's loader has none).
    func resolved(defaultConfig: UNetConfig? = nil) throws -> (config: UNetConfig?, schedule: NoiseSchedule.Spec?) {
        var cfg: UNetConfig?
        if let config {
            cfg = try modelConfig(config, attention: attention)
        } else if let attention {
            guard var c = defaultConfig else {
                throw ValidationError("--attention describes a model with --config (a file with ddpm's metadata says its own)")
            }
            c.attention = try attentionLevels(attention)
            cfg = c
        }
        if let c = cfg {
            do { try Checkpoint.checkUsable(c) } catch let e as EngineError { throw ValidationError("--config: \(e.description)") }
        }
        var spec: NoiseSchedule.Spec?
        if schedule != nil || T != nil {
            var s = NoiseSchedule.Spec()
            if let schedule {
                guard let k = ScheduleKind(rawValue: schedule.lowercased()) else {
                    throw ValidationError("unknown --schedule '\(schedule)' (\(ScheduleKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                s.kind = k
            }
            if let T { s.T = T }
            do { _ = try NoiseSchedule(s) } catch let e as EngineError { throw ValidationError(flagMessage(e)) }
            spec = s
        }
        return (cfg, spec)
    }

    /// A config JSON as the metadata holds it; a missing, mistyped or unknown key is named.
    static func decodeConfig(_ json: String) throws -> UNetConfig {
        switch JSONScan.parse(Data(json.utf8)) {
        case .failure(let e): throw ValidationError("--config is \(e) (\(EngineError.quoted(json, limit: 60)))")
        case .success(let o):
            guard o is [String: Any] else { throw ValidationError("--config is not a JSON object (\(EngineError.quoted(json, limit: 60)))") }
        }
        // JSONSerialization and JSONDecoder keep one of two equal keys without a word: refused, as in a header.
        if let dup = JSONScan.duplicateName(in: Data(json.utf8)) {
            throw ValidationError("--config gives '\(EngineError.quoted(dup, limit: 30))' twice")
        }
        do {
            return try JSONDecoder().decode(UNetConfig.self, from: Data(json.utf8))
        } catch let e as UNetConfig.UnknownKey {
            // The decoder refuses a name it does not know (a model it cannot build), as in a file's metadata.
            throw ValidationError("--config has an unknown key '\(EngineError.quoted(JSONScan.path(e.path), limit: 30))' (keys: \(UNetConfig.keyNames.sorted().joined(separator: ", ")))")
        } catch let DecodingError.keyNotFound(k, _) {
            throw ValidationError("--config needs '\(k.stringValue)' (nChannels, chMults, nBlocks and imageSize are required)")
        } catch let DecodingError.typeMismatch(_, c) {
            // Said in the config's own terms, not Foundation's ("Expected to decode Bool but found a string").
            let want = ["learnSigma": "true or false", "selfCondition": "true or false", "dropout": "a number",
                        "chMults": "a list of whole numbers", "attention": "a list of level numbers"][c.codingPath.first?.stringValue ?? ""] ?? "a whole number"
            throw ValidationError("--config: '\(JSONScan.path(c.codingPath))' has the wrong type (\(want))")
        } catch let DecodingError.dataCorrupted(c) {
            // What Foundation says of 16.5 or 1e300 where a whole number goes ("not valid JSON", though it is).
            let path = JSONScan.path(c.codingPath)
            throw ValidationError("--config: " + (path.isEmpty ? "a value" : "'\(path)'")
                                  + " does not fit its type (sizes and counts are whole numbers, dropout a number, learnSigma and selfCondition true or false)")
        } catch let DecodingError.valueNotFound(_, c) {
            throw ValidationError("--config: '\(JSONScan.path(c.codingPath))' is null")
        } catch {
            throw ValidationError("--config: \(error)")
        }
    }
}
