/// Inverted dropout: a seeded mask of 0 and 1/(1-p), multiplied in by the fused
/// GroupNorm kernel and kept for the backward pass.
public enum Dropout {
    public static func makeMask(_ mask: UnsafeMutablePointer<Float>, count: Int, p: Float, rng: inout RNG) {
        let keep = 1 / (1 - p)
        let threshold = UInt64(Double(p) * 0x1.0p64.nextDown)
        for i in 0..<count { mask[i] = rng.next() < threshold ? 0 : keep }
    }
}
