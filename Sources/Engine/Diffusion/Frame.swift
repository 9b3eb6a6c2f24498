// Frame.swift: what one reverse step shows (x_t, x0^, x_{t-1} and diagnostics).

/// Statistics of one tensor.
public struct Stats: Equatable, Sendable {
    public var mean: Double = 0, std: Double = 0, min: Double = 0, max: Double = 0
    public init() {}
    public init(_ p: UnsafePointer<Float>, _ n: Int) {
        var s = 0.0, s2 = 0.0, lo = Double.infinity, hi = -Double.infinity
        for i in 0..<n { let v = Double(p[i]); s += v; s2 += v * v; lo = Swift.min(lo, v); hi = Swift.max(hi, v) }
        mean = s / Double(n)
        std = Swift.max(0, s2 / Double(n) - mean * mean).squareRoot()
        min = lo; max = hi
    }
}

/// What one reverse step shows: the state it started from, its prediction of x0,
/// the state it produced, and diagnostics (chapter 3.5.3).
public struct Frame: Sendable {
    /// 0-based number of this step within the run, and the run's length.
    public var step: Int, totalSteps: Int
    /// Timestep of the input, and of the output (-1 after the last step).
    public var t: Int, tNext: Int
    public var n: Int, size: Int
    public var xt: [Float]
    public var x0: [Float]
    public var xNext: [Float]
    public var eps: Stats
    /// Fraction of x0^ pixels outside [-1, 1] (before any clipping).
    public var x0Outside: Double
    /// The settings this step was taken with (they can change from one step to the next).
    public var settings = SamplerSettings()

    /// Whether x̂0 and the new x are finite numbers: not so when the network's output
    /// overflows (weights that are finite but huge pass every load check).
    public var isFinite: Bool { x0.allSatisfy(\.isFinite) && xNext.allSatisfy(\.isFinite) }
}
