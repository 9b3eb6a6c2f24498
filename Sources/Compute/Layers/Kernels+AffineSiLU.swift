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
}
