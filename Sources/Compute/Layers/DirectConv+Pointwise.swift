// DirectConv+Pointwise.swift: the direct 1x1 convolution (the tap kernel with one tap).
import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
    /// 1x1 convolution y[cout, N, H, W] (= or +=) W x + bias with the tap
    /// kernel (one tap); weight [cout, cin] packed as [cout/4][cin][4].
    static func pointwise(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                          x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                          ws: Workspace, accumulate: Bool) {
        let g = Geometry(h: h, w: w, pad: 0, wide: ws.backend.wide), tiles = cout / 4, hw = h * w
        let wpk = ws.packed(weight, count: cout * cin) { wpk in
            for t in 0..<tiles { for ci in 0..<cin { for j in 0..<4 { wpk[(t * cin + ci) * 4 + j] = weight[(t * 4 + j) * cin + ci] } } }
        }
        var zero = 0
        parallel(n: n, tiles: tiles, scratch: g.scratchFloats(cin: cin, outs: 4), ws: ws) { th, images, coTiles in
            let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
            for b in images {
                // The kernel reads wideLen (a tile multiple) floats from each plane's
                // start: in place where that stays inside x (the last channel's
                // reads end the buffer), else from a copy.
                var src = x + b * hw, planeLen = n * hw
                if b * hw + g.wideLen > n * hw {
                    loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
                    src = UnsafePointer(xp); planeLen = g.planeLen
                }
                for t in coTiles {
                    taps(xp: src, planeLen: planeLen, offs: &zero, taps: 1, cin: cin, wideLen: g.wideLen,
                         wpk: wpk + t * cin * 4, out: wideOut, wide: g.wide)
                    store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
                }
            }
        }
    }
}
