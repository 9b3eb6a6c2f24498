// Kernels+AffineSiLU.swift: sigmoid, and GroupNorm's affine + SiLU + bias loop on the backend's instruction set.
import Kernels512
import SIMDMath
import CBLIS
import Foundation

extension Kernels {
    @inline(__always)
    public static func sigmoid(_ x: Float) -> Float { FastMath.sigmoid(x) }

    /// y[i] = g * sigmoid(g) + tb with g = x[i] * a + b, for i in 0..<count
    /// (GroupNorm's normalise + affine + SiLU + bias): FastMath.affineSiLU
    /// compiled for AVX-512 (Elementwise512, when `wide`) or AVX2 (here).
    @inline(__always)
    public static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                                  a: Float, b: Float, tb: Float, wide: Bool) {
        if wide {
            Elementwise512.affineSiLU(x, y, count: count, a: a, b: b, tb: tb)
        } else {
            FastMath.affineSiLU(x, y, count: count, a: a, b: b, tb: tb)
        }
    }

    /// FastMath.groupNormBackwardPlane compiled for AVX-512 (when `wide`) or AVX2.
    @inline(__always)
    static func groupNormBackwardPlane(
        x: UnsafePointer<Float>, dy: UnsafePointer<Float>, mask: UnsafePointer<Float>?,
        dh: UnsafeMutablePointer<Float>, count: Int, mean: Float, rstd: Float, gamma: Float, beta: Float,
        silu: Bool, dgam: inout Float, dbet: inout Float, dtb: inout Float, s1: inout Float, s2: inout Float,
        wide: Bool
    ) {
        if wide {
            Elementwise512.groupNormBackwardPlane(x: x, dy: dy, mask: mask, dh: dh, count: count, mean: mean, rstd: rstd,
                                                  gamma: gamma, beta: beta, silu: silu, dgam: &dgam, dbet: &dbet,
                                                  dtb: &dtb, s1: &s1, s2: &s2)
        } else {
            FastMath.groupNormBackwardPlane(x: x, dy: dy, mask: mask, dh: dh, count: count, mean: mean, rstd: rstd,
                                            gamma: gamma, beta: beta, silu: silu, dgam: &dgam, dbet: &dbet, dtb: &dtb,
                                            s1: &s1, s2: &s2)
        }
    }

    /// FastMath.groupNormBackwardApply compiled for AVX-512 (when `wide`) or AVX2.
    @inline(__always)
    static func groupNormBackwardApply(x: UnsafePointer<Float>, dh: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
                                       count: Int, mean: Float, rstd: Float, m1: Float, m2: Float, overwrite: Bool,
                                       wide: Bool) {
        if wide {
            Elementwise512.groupNormBackwardApply(x: x, dh: dh, dx: dx, count: count, mean: mean, rstd: rstd, m1: m1,
                                                  m2: m2, overwrite: overwrite)
        } else {
            FastMath.groupNormBackwardApply(x: x, dh: dh, dx: dx, count: count, mean: mean, rstd: rstd, m1: m1, m2: m2,
                                            overwrite: overwrite)
        }
    }
}
