// DirectConv+Strided.swift: the direct 3x3 stride-2 convolution over the input's four phases.
import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
    /// k x k (3 or 4) stride-2 pad-1 convolution y[cout, N, Ho, Wo] (=, or +=
    /// with `accumulate`) conv(x) + bias. Each input channel is split into its
    /// four phases (even/odd padded rows x even/odd padded columns), planes of
    /// (Ho + 1) x (Wo + 1); tap (ky, kx) is then a stride-1 read of phase
    /// (ky % 2, kx % 2) shifted by (ky / 2, kx / 2), so the tap kernel runs
    /// with k k taps over the phases. (k = 4 is the input gradient of the
    /// 4x4 stride-2 transposed convolution.)
    static func strided(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                        ws: Workspace, k: Int = 3, accumulate: Bool = false) {
        let ho = (h + 2 - k) / 2 + 1, wo = (w + 2 - k) / 2 + 1, hq = ho + 1, wq = wo + 1, hw = h * w
        let wide = ws.backend.wide
        let phaseLen = roundUp(ho * wq, granule(wide)) + wq + 1 + tile(wide)     // every over-read stays inside
        let g = Geometry(h: ho, w: wo, wp: wq, planeLen: 4 * phaseLen, wide: ws.backend.wide), tiles = cout / 4
        let tapCount = k * k
        let wpk = ws.packed(weight, count: cout * cin * tapCount) { pack(weight, cin: cin, cout: cout, taps: tapCount, into: $0) }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: tapCount) { offs in
            for ky in 0..<k { for kx in 0..<k { offs[ky * k + kx] = ((ky % 2) * 2 + kx % 2) * phaseLen + (ky / 2) * wq + kx / 2 } }
            parallel(n: n, tiles: tiles, scratch: g.scratchFloats(cin: cin, outs: 4), ws: ws) { th, images, coTiles in
                let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
                for b in images {
                    for ci in 0..<cin {
                        let src = x + (ci * n + b) * hw
                        for ph in 0..<4 {
                            let py = ph / 2, px = ph % 2, dst = xp + ci * g.planeLen + ph * phaseLen
                            for u in 0..<hq {
                                let r = 2 * u + py - 1, d = dst + u * wq
                                if r < 0 || r >= h { for v in 0..<wq { d[v] = 0 }; continue }
                                // d[v] = row[2 v + px - 1] where that column exists, else 0.
                                let v0 = 1 - px, v1 = min(wq, (w - px) / 2 + 1), base = src + r * w + px - 1
                                for v in 0..<v0 { d[v] = 0 }
                                for v in v0..<v1 { d[v] = base[2 * v] }
                                for v in v1..<wq { d[v] = 0 }
                            }
                            for i in (hq * wq)..<phaseLen { dst[i] = 0 }
                        }
                    }
                    for t in coTiles {
                        taps(xp: xp, planeLen: g.planeLen, offs: offs.baseAddress!, taps: tapCount, cin: cin,
                             wideLen: g.wideLen, wpk: wpk + t * cin * tapCount * 4, out: wideOut, wide: g.wide)
                        store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
                    }
                }
            }
        }
    }
}
