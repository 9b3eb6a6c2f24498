// RNG.swift: the project's one random generator (seeded, with streams).
import Foundation

/// The project's one random generator: xoshiro256** (Blackman & Vigna, 2018),
/// seeded through SplitMix64.
///
/// * `next()` gives 64 uniform bits; `uniform()` a Double in [0, 1) from the top 53 bits.
/// * `normal()` uses the Box-Muller transform on two uniforms and returns one value
///   (the cosine branch); `fillNormal` fills in pairs (cosine, sine) and drops the
///   last sine when the count is odd. Normals are computed in Double, stored as Float.
/// * Streams are derived, not shared: `RNG(seed:stream:)` gives each image of a
///   sampling batch its own generator, so the numbers an image sees never depend on
///   the batch size or on how many threads run.
/// * The whole state is four UInt64 words (`state`), saved in checkpoints.
public struct RNG: Sendable, Equatable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public static func == (a: RNG, b: RNG) -> Bool {
        a.state.0 == b.state.0 && a.state.1 == b.state.1 && a.state.2 == b.state.2 && a.state.3 == b.state.3
    }

    public init(seed: UInt64, stream: UInt64 = 0) {
        var sm = seed &+ stream &* 0xD134_2543_DE82_EF95
        func splitmix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitmix(&sm), splitmix(&sm), splitmix(&sm), splitmix(&sm))
    }

    public init(state words: [UInt64]) {
        precondition(words.count == 4)
        state = (words[0], words[1], words[2], words[3])
    }

    public var words: [UInt64] { [state.0, state.1, state.2, state.3] }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform Double in [0, 1).
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in 0..<n (Lemire's multiply-shift; bias < 2^-32 for n < 2^32).
    @inline(__always)
    public mutating func int(_ n: Int) -> Int {
        Int((UInt64(UInt32(truncatingIfNeeded: next() >> 32)) &* UInt64(n)) >> 32)
    }

    /// One standard normal.
    public mutating func normal() -> Double {
        let u1 = 1.0 - uniform()   // (0, 1]
        let u2 = uniform()
        return (-2.0 * Foundation.log(u1)).squareRoot() * cos(2.0 * Double.pi * u2)
    }

    /// Fills `count` standard normals times `scale`.
    public mutating func fillNormal(_ p: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        var i = 0
        let s = Double(scale)
        while i < count {
            let u1 = 1.0 - uniform()
            let u2 = uniform()
            let r = (-2.0 * Foundation.log(u1)).squareRoot() * s
            let a = 2.0 * Double.pi * u2
            p[i] = Float(r * cos(a))
            if i + 1 < count { p[i + 1] = Float(r * sin(a)) }
            i += 2
        }
    }

    /// Fisher-Yates shuffle of 0..<n.
    public mutating func permutation(_ n: Int) -> [Int] {
        var a = Array(0..<n)
        if n < 2 { return a }
        for i in stride(from: n - 1, to: 0, by: -1) {
            a.swapAt(i, int(i + 1))
        }
        return a
    }
}
