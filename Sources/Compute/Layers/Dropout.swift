// Dropout.swift: inverted dropout masks from per-chunk random streams.
/// Inverted dropout: a seeded mask of 0 and 1/(1-p), multiplied in by the fused
/// GroupNorm kernel and kept for the backward pass.
public enum Dropout {
    /// Elements per random stream: the mask is made in fixed chunks, each from
    /// its own stream of one seed drawn from `rng`, so it is the same for any
    /// number of cores (and the chunks can be filled in parallel).
    static let chunk = 1 << 14

    public static func makeMask(_ mask: UnsafeMutablePointer<Float>, count: Int, p: Float, rng: inout RNG) {
        let keep = 1 / (1 - p)
        // Two mask entries per 64-bit draw: dropped where a 32-bit half < p 2^32.
        let threshold = UInt32(min(Double(p) * 0x1.0p32, Double(UInt32.max)))
        let seed = rng.next(), chunks = (count + chunk - 1) / chunk
        Parallel.forEach(chunks) { cs in
            for c in cs {
                var g = RNG(seed: seed, stream: UInt64(c))
                var i = c * chunk
                let end = min(count, (c + 1) * chunk)
                while i < end {
                    let r = g.next()
                    mask[i] = UInt32(truncatingIfNeeded: r) < threshold ? 0 : keep
                    if i + 1 < end { mask[i + 1] = UInt32(truncatingIfNeeded: r >> 32) < threshold ? 0 : keep }
                    i += 2
                }
            }
        }
    }
}
