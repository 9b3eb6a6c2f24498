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
            let floats = g.scratchFloats(cin: cin, outs: outRows(ws, cin: cin))
            let pt = pairTaps(ws, packed: wpk, blocks: tiles, cin: cin, taps: tapCount, offs: offs,
                              wideLen: g.wideLen, planeLen: g.planeLen, after: floats)
            parallel(n: n, tiles: tiles, scratch: floats + (pt?.scratch ?? 0), ws: ws) { th, images, coTiles in
                let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
                for b in images {
                    for ci in 0..<cin {
                        let src = x + (ci * n + b) * hw
                        prefetchAhead(x, n: n, b: b, hw: hw, channels: cin, at: ci)
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
                    if let pt {
                        pt.pack(xp, stride: g.planeLen, valid: g.planeLen, scratch: xp)
                        pt.runAndStore(xp, offs: offs.baseAddress!, g, coTiles: coTiles, wideOut: wideOut, bias: bias, y: y,
                                       n: n, b: b, accumulate: accumulate)
                        continue
                    }
                    for t in coTiles {
                        prefetchOutput(y, g, tile: t, n: n, b: b)
                        taps(xp: xp, planeLen: g.planeLen, offs: offs.baseAddress!, taps: tapCount, cin: cin,
                             wideLen: g.wideLen, wpk: wpk + t * cin * tapCount * 4, out: wideOut, wide: g.wide)
                        store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
                    }
                }
            }
        }
    }
}

extension DirectConv {
    /// dx [cin, N, H, W] (+=, or = with `overwrite`) the input gradient of a
    /// 3x3 stride-2 pad-1 convolution (weight [cout, cin, 3, 3], dy [cout, N,
    /// Ho, Wo]; cin a multiple of 4): a transposed convolution, computed as
    /// four small convolutions of dy's zero-bordered planes, one per parity
    /// of the input position. Input row 2i sees only tap row 1 (output row
    /// i); row 2i + 1 sees tap rows 0 (output row i + 1) and 2 (row i); the
    /// columns alike, so the four parities take 1, 2, 2 and 4 taps (9 in
    /// all, the forward's work). Their results are interleaved into dx.
    static func stridedData(weight: UnsafePointer<Float>, cin: Int, cout: Int, dy: UnsafePointer<Float>,
                            dx: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int, ws: Workspace, overwrite: Bool) {
        let ho = (h + 1) / 2, wo = (w + 1) / 2, hw = h * w
        let g = Geometry(h: ho, w: wo, pad: 1, wide: ws.backend.wide), tiles = cin / 4
        // (tap row or column, offset in the zero-bordered plane) for parity 0 and 1.
        let along: [[(k: Int, off: Int)]] = [[(1, 1)], [(0, 2), (2, 1)]]
        let counts = [1, 2, 2, 4], starts = [0, 1, 3, 5]
        let wpk = ws.packed(weight, count: 9 * cin * cout) { wpk in
            for par in 0..<4 {
                var tap = 0
                for (ky, _) in along[par / 2] {
                    for (kx, _) in along[par % 2] {
                        for t in 0..<tiles {
                            for co in 0..<cout {
                                for j in 0..<4 {
                                    wpk[starts[par] * cin * cout + ((t * cout + co) * counts[par] + tap) * 4 + j] =
                                        weight[((co * cin + t * 4 + j) * 3 + ky) * 3 + kx]
                                }
                            }
                        }
                        tap += 1
                    }
                }
            }
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { offs in
            for par in 0..<4 {
                var tap = 0
                for (_, ro) in along[par / 2] { for (_, c) in along[par % 2] { offs[starts[par] + tap] = ro * g.wp + c; tap += 1 } }
            }
            parallel(n: n, tiles: tiles, scratch: g.scratchFloats(cin: cout, outs: 16), ws: ws) { th, images, ciTiles in
                let dp = ws.cols[th].ptr, wideOut = dp + cout * g.planeLen
                for b in images {
                    loadPlanes(dy, n: n, b: b, cin: cout, g, into: dp)
                    for t in ciTiles {
                        for par in 0..<4 {
                            taps(xp: dp, planeLen: g.planeLen, offs: offs.baseAddress! + starts[par], taps: counts[par], cin: cout,
                                 wideLen: g.wideLen, wpk: wpk + starts[par] * cin * cout + t * cout * counts[par] * 4,
                                 out: wideOut + par * 4 * g.wideLen, wide: g.wide)
                        }
                        for j in 0..<4 {
                            let dst = dx + ((t * 4 + j) * n + b) * hw
                            for par in 0..<4 {
                                let a = par / 2, c = par % 2, src = wideOut + (par * 4 + j) * g.wideLen
                                for i in 0..<((h - a + 1) / 2) {
                                    let d = dst + (2 * i + a) * w + c, s = src + i * g.wp
                                    let cols = (w - c + 1) / 2
                                    if overwrite { for jj in 0..<cols { d[2 * jj] = s[jj] } }
                                    else { for jj in 0..<cols { d[2 * jj] += s[jj] } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
