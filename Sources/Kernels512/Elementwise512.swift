// Elementwise512.swift: AVX-512 copies of the element-wise loops.
import SIMDMath

/// AVX-512 versions of Compute's element-wise loops (same operations in the
/// same order per element as the AVX2 code in Compute; only the vector width
/// differs). Called only after the CPU check, like `DirectConv512`.
public enum Elementwise512 {
    public typealias V = SIMD16<Float>

    /// FastMath.affineSiLU over count floats, compiled for AVX-512 (GroupNorm's
    /// normalise + affine + SiLU + time-embedding bias).
    public static func affineSiLU(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int,
                                  a: Float, b: Float, tb: Float) {
        FastMath.affineSiLU(x, y, count: count, a: a, b: b, tb: tb)
    }
}

extension Elementwise512 {
    /// Copies h rows of w floats from `src` (rows w apart) to `dst` (rows wp
    /// apart, wp >= w + 2) and zeroes the two floats after each row: the
    /// direct convolution's zero-bordered planes. Whole 16-float vectors are
    /// copied, so a row's copy runs past its end into the next row's place,
    /// which that row then overwrites; the last rows, whose vectors would read
    /// past the source plane, are copied one float at a time.
    public static func loadRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                h: Int, w: Int, wp: Int) {
        let vecs = (w + 15) / 16, hw = h * w
        for r in 0..<h {
            let s = src + r * w, d = dst + r * wp
            if r * w + vecs * 16 <= hw {
                for v in 0..<vecs { FastMath.store(FastMath.load(s, v * 16), d, v * 16) }
            } else {
                for c in 0..<w { d[c] = s[c] }
            }
            d[w] = 0; d[w + 1] = 0
        }
    }

    /// loadRows with GroupNorm's normalise + affine + SiLU + bias applied on the
    /// way (the same operations per element as `affineSiLU`): the plane of a
    /// convolution whose input is that GroupNorm's output, without writing the
    /// output out first (inference).
    public static func loadRowsAffineSiLU(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                          h: Int, w: Int, wp: Int, a: Float, b: Float, tb: Float) {
        let vecs = (w + 15) / 16, hw = h * w
        for r in 0..<h {
            let s = src + r * w, d = dst + r * wp
            if r * w + vecs * 16 <= hw {
                for v in 0..<vecs { FastMath.store(FastMath.affineSiLU(FastMath.load(s, v * 16), a: a, b: b, tb: tb), d, v * 16) }
            } else {
                for c in 0..<w { d[c] = FastMath.affineSiLU(s[c], a: a, b: b, tb: tb) }
            }
            d[w] = 0; d[w + 1] = 0
        }
    }

    /// dst[r * w + c] (= or +=) src[r * wp + c] + bias for h rows of w floats:
    /// the direct convolution's output copy. Without `accumulate`, whole
    /// vectors are written as long as they stay inside the h x w plane (the
    /// overhang is rewritten by the next row); the rest one float at a time.
    public static func storeRows(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                                 h: Int, w: Int, wp: Int, bias: Float, accumulate: Bool) {
        let hw = h * w, vb = V(repeating: bias)
        if accumulate {
            let full = w / 16 * 16
            for r in 0..<h {
                let s = src + r * wp, d = dst + r * w
                var c = 0
                while c < full { FastMath.store(FastMath.load(d, c) + (FastMath.load(s, c) + vb), d, c); c += 16 }
                while c < w { d[c] += s[c] + bias; c += 1 }
            }
            return
        }
        let vecs = (w + 15) / 16
        for r in 0..<h {
            let s = src + r * wp, d = dst + r * w
            if r * w + vecs * 16 <= hw {
                for v in 0..<vecs { FastMath.store(FastMath.load(s, v * 16) + vb, d, v * 16) }
            } else {
                for c in 0..<w { d[c] = s[c] + bias }
            }
        }
    }
}
