// Dropout.swift: the inverted-dropout mask (seeded, the same on any number of cores).

/// Inverted dropout's mask: 0 with probability p, else 1 / (1 - p), so the
/// masked activations keep their expected value. Made once per forward and
/// kept for the backward.
public enum Dropout {
    /// Elements per random stream: the mask is made in fixed chunks, each from
    /// its own generators seeded by one draw from `rng`, so it is the same for
    /// any number of cores (and the chunks can be filled in parallel).
    static let chunk = 1 << 14

    /// Fills `count` floats with 0 (probability p) or 1 / (1 - p).
    ///
    /// Each chunk runs eight xoshiro256** generators side by side in one SIMD
    /// value (lane l is `RNG(seed:stream: 8 c + l)`); a step of the eight gives
    /// sixteen 32-bit halves, compared with p 2^32 for sixteen mask entries
    /// (entry j from lane j's low half, entry 8 + j from its high half).
    public static func makeMask(_ mask: UnsafeMutablePointer<Float>, count: Int, p: Float, rng: inout RNG) {
        let keep = SIMD16<Float>(repeating: 1 / (1 - p))
        let threshold = SIMD16<UInt32>(repeating: UInt32(min(Double(p) * 0x1.0p32, Double(UInt32.max))))
        let seed = rng.next(), chunks = (count + chunk - 1) / chunk
        Parallel.forEach(chunks) { cs in
            for c in cs {
                var g = Lanes(seed: seed, chunk: c)
                var i = c * chunk
                let end = min(count, (c + 1) * chunk)
                while i < end {
                    let r = g.next()
                    let halves = SIMD16<UInt32>(lowHalf: SIMD8<UInt32>(truncatingIfNeeded: r),
                                                highHalf: SIMD8<UInt32>(truncatingIfNeeded: r &>> 32))
                    let m = SIMD16<Float>(repeating: 0).replacing(with: keep, where: halves .>= threshold)
                    if end - i >= 16 {
                        UnsafeMutableRawPointer(mask + i).storeBytes(of: m, as: SIMD16<Float>.self)
                    } else {
                        for j in 0..<(end - i) { mask[i + j] = m[j] }
                    }
                    i += 16
                }
            }
        }
    }

    /// Eight xoshiro256** generators in SIMD lanes (the same arithmetic as
    /// `RNG.next`, with the multiplications by 5 and 9 as shifts and adds).
    struct Lanes {
        typealias U = SIMD8<UInt64>
        var s0 = U(), s1 = U(), s2 = U(), s3 = U()

        init(seed: UInt64, chunk c: Int) {
            for l in 0..<8 {
                let r = RNG(seed: seed, stream: UInt64(8 * c + l))
                s0[l] = r.state.0; s1[l] = r.state.1; s2[l] = r.state.2; s3[l] = r.state.3
            }
        }

        @inline(__always) static func rotl(_ x: U, _ k: UInt64) -> U { (x &<< k) | (x &>> (64 - k)) }

        @inline(__always) mutating func next() -> U {
            let m5 = (s1 &<< 2) &+ s1
            let r7 = Lanes.rotl(m5, 7)
            let result = (r7 &<< 3) &+ r7
            let t = s1 &<< 17
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = Lanes.rotl(s3, 45)
            return result
        }
    }
}
