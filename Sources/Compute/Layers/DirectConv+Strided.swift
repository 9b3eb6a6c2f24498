// DirectConv+Strided.swift: the direct 3x3 stride-2 convolution over the input's four phases.
import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
    /// 3x3 stride-2 pad-1 convolution y[cout, N, Ho, Wo] = conv(x) + bias. Each
    /// input channel is split into its four phases (even/odd padded rows x
    /// even/odd padded columns), planes of (Ho + 1) x (Wo + 1); tap (ky, kx)
    /// is then a stride-1 read of phase (ky % 2, kx % 2) shifted by
    /// (ky / 2, kx / 2), so the tap kernel runs with 9 taps over the phases.
    static func strided(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                        ws: Workspace) {
        let ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1, hq = ho + 1, wq = wo + 1, hw = h * w
        let wide = ws.backend.wide
        let phaseLen = roundUp(ho * wq, granule(wide)) + wq + 1 + tile(wide)     // every over-read stays inside
        let g = Geometry(h: ho, w: wo, wp: wq, planeLen: 4 * phaseLen, wide: ws.backend.wide), tiles = cout / 4
        let wpk = ws.packed(weight, count: cout * cin * 9) { pack(weight, cin: cin, cout: cout, into: $0) }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { offs in
            for ky in 0..<3 { for kx in 0..<3 { offs[ky * 3 + kx] = ((ky % 2) * 2 + kx % 2) * phaseLen + (ky / 2) * wq + kx / 2 } }
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
                                let row = src + r * w
                                for v in 0..<wq { let c = 2 * v + px - 1; d[v] = c >= 0 && c < w ? row[c] : 0 }
                            }
                            for i in (hq * wq)..<phaseLen { dst[i] = 0 }
                        }
                    }
                    for t in coTiles {
                        taps(xp: xp, planeLen: g.planeLen, offs: offs.baseAddress!, taps: 9, cin: cin,
                             wideLen: g.wideLen, wpk: wpk + t * cin * 36, out: wideOut, wide: g.wide)
                        store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: false)
                    }
                }
            }
        }
    }
}
