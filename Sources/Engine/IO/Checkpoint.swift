import Foundation

/// Weights files and training checkpoints, both safetensors.
///
/// A weights file holds the state_dict names only (it loads into the PyTorch
/// model with `load_state_dict`). A checkpoint holds the EMA weights under the
/// plain names (so `ddpm sample` and PyTorch read it like a weights file) plus
/// `train.*` (raw weights), `adam_m.*`, `adam_v.*`, and in `__metadata__` the
/// config, schedule, step, RNG state and trainer options.
public enum Checkpoint {
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

    public static func decode<T: Decodable>(_ type: T.Type, _ s: String?, path: String, key: String) throws -> T {
        guard let s else { throw EngineError.badFile(path: path, reason: "metadata has no '\(key)'") }
        do { return try JSONDecoder().decode(T.self, from: Data(s.utf8)) } catch {
            throw EngineError.badFile(path: path, reason: "metadata '\(key)' is not valid: \(s.prefix(80))")
        }
    }
}
