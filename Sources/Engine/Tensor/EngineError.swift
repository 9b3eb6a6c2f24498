/// Errors the engine reports to users: each names the file or value at fault.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case badFile(path: String, reason: String)
    case badTensor(path: String, tensor: String, reason: String)
    case invalidArgument(String)
    case io(String)
    case diverged(step: Int, loss: Double)

    public var description: String {
        switch self {
        case .invalidConfig(let s): return "invalid model config: \(s)"
        case .badFile(let p, let r): return "\(p): \(r)"
        case .badTensor(let p, let t, let r): return "\(p): tensor '\(t)': \(r)"
        case .invalidArgument(let s): return s
        case .io(let s): return s
        case .diverged(let step, let loss): return "training diverged at step \(step) (loss \(loss))"
        }
    }
}
