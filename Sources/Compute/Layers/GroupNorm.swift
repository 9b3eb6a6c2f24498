// GroupNorm.swift: GroupNorm with optional fused SiLU, time bias and dropout mask, forward and backward.
import SIMDMath
import Foundation

/// GroupNorm over [C, N, H, W] activations with an optional fused SiLU, a
/// per-(image, channel) additive term and a dropout mask:
///
///     y = mask * (act(gamma * (x - mean) * rstd + beta) + tbias[n, c])
///
/// `act` is SiLU or the identity. The fusion saves passes over memory: the
/// ResidualBlock's "GN -> SiLU -> + time embedding" and "GN -> SiLU -> dropout"
/// are each one call. Forward keeps mean and rstd ([N, G]); backward recomputes
/// the normalised values from x (llm.c's layernorm pattern).
public struct GroupNorm: Sendable {
    public let groups: Int, channels: Int
    public let w: Int, b: Int
    public let eps: Float = 1e-5

    public init(_ layout: inout ParameterLayout, _ prefix: String, groups: Int, channels: Int) {
        precondition(channels % groups == 0, "GroupNorm: \(channels) channels not divisible by \(groups) groups")
        self.groups = groups; self.channels = channels
        w = layout.add(prefix + ".weight", [channels])
        b = layout.add(prefix + ".bias", [channels])
    }

    public func forward(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                        n: Int, hw: Int, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                        silu: Bool, backend: Backend, tbias: UnsafePointer<Float>? = nil,
                        mask: UnsafePointer<Float>? = nil) {
        let cpg = channels / groups, C = channels
        forEachGroup(x, n: n, hw: hw, mean: mean, rstd: rstd) { gi, ni, m, r in
            for c in (gi * cpg)..<((gi + 1) * cpg) {
                let off = (c * n + ni) * hw
                let xp = x + off, yp = y + off
                let a = p[w + c] * r, bb = p[b + c] - m * a
                let tb: Float = tbias.map { $0[ni * C + c] } ?? 0
                if silu {
                    Kernels.affineSiLU(xp, yp, count: hw, a: a, b: bb, tb: tb, wide: backend.wide)
                } else {
                    for i in 0..<hw { yp[i] = xp[i] * a + bb + tb }
                }
                if let mask { let mp = mask + off; for i in 0..<hw { yp[i] *= mp[i] } }
            }
        }
    }

    /// Mean and 1/sqrt(variance + eps) of one (image, group): two passes, the
    /// second over the deviations from the mean.
    @inline(__always)
    func statistics(_ x: UnsafePointer<Float>, group gi: Int, image ni: Int, n: Int, hw: Int) -> (Float, Float) {
        let cpg = channels / groups, count = Float(cpg * hw)
        var s: Float = 0
        for c in (gi * cpg)..<((gi + 1) * cpg) { s += Kernels.sum(x + (c * n + ni) * hw, hw) }
        let m = s / count
        var v: Float = 0
        for c in (gi * cpg)..<((gi + 1) * cpg) { v += Kernels.sumSquaredDeviations(x + (c * n + ni) * hw, hw, from: m) }
        return (m, 1 / (v / count + eps).squareRoot())
    }

    /// The forward's per-(channel, image) coefficients without applying them:
    /// coef = [a | b | tb], each [C, N], so that the SiLU forward's output is
    /// g sigmoid(g) + tb with g = x a + b (Conv2d.forwardAffineSiLU applies it
    /// while building its input planes). Also fills mean and rstd.
    public func coefficients(_ p: UnsafePointer<Float>, x: UnsafePointer<Float>, n: Int, hw: Int,
                             mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                             tbias: UnsafePointer<Float>?, into coef: UnsafeMutablePointer<Float>) {
        let cpg = channels / groups, C = channels
        forEachGroup(x, n: n, hw: hw, mean: mean, rstd: rstd) { gi, ni, m, r in
            for c in (gi * cpg)..<((gi + 1) * cpg) {
                let a = p[w + c] * r, k = c * n + ni
                coef[k] = a
                coef[C * n + k] = p[b + c] - m * a
                coef[2 * C * n + k] = tbias.map { $0[ni * C + c] } ?? 0
            }
        }
    }

    /// Asks for the cache lines of group gi's planes of image ni in p [C, N, hw].
    @inline(__always)
    func prefetch(_ p: UnsafePointer<Float>, group gi: Int, image ni: Int, n: Int, hw: Int) {
        let cpg = channels / groups
        for c in (gi * cpg)..<((gi + 1) * cpg) { Kernels.prefetch(p + (c * n + ni) * hw, count: hw) }
    }

    /// The statistics of every (image, group), stored to mean/rstd [N, G] and
    /// handed to `body(group, image, mean, rstd)` (groups split over the cores).
    @inline(__always)
    func forEachGroup(_ x: UnsafePointer<Float>, n: Int, hw: Int, mean: UnsafeMutablePointer<Float>,
                      rstd: UnsafeMutablePointer<Float>, _ body: (Int, Int, Float, Float) -> Void) {
        let G = groups
        Parallel.forEach(groups) { gr in
            for gi in gr {
                for ni in 0..<n {
                    if ni + 1 < n { prefetch(x, group: gi, image: ni + 1, n: n, hw: hw) }
                    let (m, r) = statistics(x, group: gi, image: ni, n: n, hw: hw)
                    mean[ni * G + gi] = m
                    rstd[ni * G + gi] = r
                    body(gi, ni, m, r)
                }
            }
        }
    }

    /// Accumulates dgamma, dbeta, dx (+=, or = with `overwrite`) and, if
    /// given, dtbias[n, c] (+=). `scratch` holds C*N*HW floats. The plane
    /// loops are FastMath's, compiled for AVX-512 with the avx512 backend
    /// (same operations in the same order, so the same result).
    public func backward(_ p: UnsafePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         x: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                         n: Int, hw: Int, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         silu: Bool, mask: UnsafePointer<Float>? = nil, dtbias: UnsafeMutablePointer<Float>? = nil,
                         scratch: UnsafeMutablePointer<Float>, overwrite: Bool = false, backend: Backend) {
        let cpg = channels / groups, count = Float(cpg * hw)
        let G = groups, C = channels, wide = backend.wide
        Parallel.forEach(groups) { gr in
            for gi in gr {
                for ni in 0..<n {
                    let m = mean[ni * G + gi], r = rstd[ni * G + gi]
                    var s1: Float = 0, s2: Float = 0
                    // dx's planes (added to) and the next image's input planes arrive while this one's are worked on.
                    if !overwrite { prefetch(dx, group: gi, image: ni, n: n, hw: hw) }
                    if ni + 1 < n {
                        prefetch(x, group: gi, image: ni + 1, n: n, hw: hw); prefetch(dy, group: gi, image: ni + 1, n: n, hw: hw)
                        if let mask { prefetch(mask, group: gi, image: ni + 1, n: n, hw: hw) }
                    }
                    for c in (gi * cpg)..<((gi + 1) * cpg) {
                        let off = (c * n + ni) * hw
                        let gamma = p[w + c], beta = p[b + c], mp = mask.map { $0 + off }
                        var dgam: Float = 0, dbet: Float = 0, dtb: Float = 0
                        Kernels.groupNormBackwardPlane(
                            x: x + off, dy: dy + off, mask: mp, dh: scratch + off, count: hw, mean: m, rstd: r,
                            gamma: gamma, beta: beta, silu: silu, dgam: &dgam, dbet: &dbet, dtb: &dtb,
                            s1: &s1, s2: &s2, wide: wide)
                        g[w + c] += dgam
                        g[b + c] += dbet
                        if let dtbias { dtbias[ni * C + c] += dtb }
                    }
                    let m1 = s1 / count, m2 = s2 / count
                    for c in (gi * cpg)..<((gi + 1) * cpg) {
                        let off = (c * n + ni) * hw
                        Kernels.groupNormBackwardApply(x: x + off, dh: scratch + off, dx: dx + off, count: hw,
                                                       mean: m, rstd: r, m1: m1, m2: m2, overwrite: overwrite, wide: wide)
                    }
                }
            }
        }
    }
}
