// EngineError.swift: the errors the engine reports to users.
/// Errors the engine reports to users: each names the file or value at fault.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case badFile(path: String, reason: String)
    case badTensor(path: String, tensor: String, reason: String)
    case invalidArgument(String)
    case io(String)
    case diverged(step: Int, loss: Double)
    /// A setting outside its range. `key` names the setting neutrally ("batch",
    /// "noise-temperature"); the command line maps it to its flag (`--batch`).
    case outOfRange(key: String, allowed: String, value: String)
    /// Sampling made NaN or infinity: the weights are finite but so large that the network's output overflows.
    case nonFiniteSamples

    public var description: String {
        switch self {
        case .invalidConfig(let s): return "invalid model config: \(s)"
        case .badFile(let p, let r): return "\(p): \(r)"
        case .badTensor(let p, let t, let r): return "\(p): tensor '\(t)': \(r)"
        case .invalidArgument(let s): return s
        case .io(let s): return s
        case .diverged(let step, let loss): return "training diverged at step \(step) (loss \(loss))"
        case .outOfRange(let key, let allowed, let value): return "\(key) must be in \(allowed), got \(value)"
        case .nonFiniteSamples: return "the samples are not finite numbers (NaN or infinity): the network's output overflows, so its weights (or the guidance classifier's) are broken; nothing was written"
        }
    }
}

extension EngineError {
    /// Text from a file, fit for a one-line message: control characters
    /// escaped, at most `limit` of its scalars.
    public static func quoted(_ s: Substring, limit: Int = 80) -> String {
        // The limit counts scalars (an escape as one): `out.count` counted characters, which is a walk
        // over the whole string each time, and one character of 60,000 combining marks took minutes.
        var out = "", shown = 0
        for u in s.unicodeScalars {
            if shown >= limit { return out + "…" }
            if isControl(u) { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            shown += 1
        }
        return out
    }

    /// Text from a file printed whole (`ddpm info`'s metadata): its lines and tabs kept, every
    /// other control character escaped as in `quoted`, so a crafted file cannot drive the terminal.
    public static func printable(_ s: String) -> String {
        var out = ""
        for u in s.unicodeScalars {
            if isControl(u) && u != "\n" && u != "\t" { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// A file name or flag value for a line of output: every control character escaped,
    /// newlines and tabs too (a name is one line), nothing cut up to 4,096 scalars (PATH_MAX: no
    /// path is longer), the rest of a longer value cut (a 300,000-letter tensor name was echoed whole).
    public static func oneLine(_ s: String) -> String { quoted(s[...], limit: 4096) }

    /// C0, DEL and C1 (0x80-0x9f: 0x9b starts an escape sequence on some terminals too), and the
    /// invisible characters that make a line look other than it is: bidirectional overrides and
    /// isolates, line and paragraph separators, the byte-order mark.
    public static func isControl(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x20 || (0x7f...0x9f).contains(u.value) || (0x202a...0x202e).contains(u.value)
            || (0x2066...0x2069).contains(u.value) || u.value == 0x2028 || u.value == 0x2029 || u.value == 0xfeff
    }
    public static func quoted(_ s: String, limit: Int = 80) -> String { quoted(s[...], limit: limit) }

    /// Throws `.outOfRange` unless `ok`.
    public static func require(_ ok: Bool, _ key: String, _ allowed: String, _ value: Any) throws {
        if !ok { throw EngineError.outOfRange(key: key, allowed: allowed, value: "\(value)") }
    }
}
