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
                        splitPhases(src, h: h, w: w, hq: hq, wq: wq, into: xp + ci * g.planeLen, phaseLen: phaseLen)
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
    /// One input channel (h rows of w) split into the four phases of a
    /// stride-2 pad-1 convolution, each hq rows of wq then zeros to
    /// phaseLen: phase (py, px) row u, column v holds input row 2u + py - 1,
    /// column 2v + px - 1, or 0 outside the image. So phase (py, 0) is a zero
    /// then the row's odd columns, phase (py, 1) its even columns: both come
    /// from one pass over the row, 16 (then 8) floats at a time into their
    /// even and odd lanes (copies only, so the same planes as element by element).
    static func splitPhases(_ src: UnsafePointer<Float>, h: Int, w: Int, hq: Int, wq: Int,
                            into dst: UnsafeMutablePointer<Float>, phaseLen: Int) {
        // Odd columns (phase px = 0, from column 1) and even ones (px = 1); both fit a phase row.
        let odds = w / 2, evens = (w + 1) / 2
        if odds + 1 > wq || evens > wq { fatalError("splitPhases: rows of \(w) in \(wq)") }
        for py in 0..<2 {
            let p0 = dst + (py * 2) * phaseLen, p1 = p0 + phaseLen
            for u in 0..<hq {
                let r = 2 * u + py - 1, d0 = p0 + u * wq, d1 = p1 + u * wq
                if r < 0 || r >= h {
                    d0.update(repeating: 0, count: wq); d1.update(repeating: 0, count: wq)
                    continue
                }
                let row = src + r * w, o = d0 + 1
                d0[0] = 0
                var c = 0
                while c + 16 <= w {
                    let v = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD16<Float>.self)
                    UnsafeMutableRawPointer(d1 + c / 2).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(o + c / 2).storeBytes(of: v.oddHalf, as: SIMD8<Float>.self)
                    c += 16
                }
                if c + 8 <= w {
                    let v = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(d1 + c / 2).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                    UnsafeMutableRawPointer(o + c / 2).storeBytes(of: v.oddHalf, as: SIMD4<Float>.self)
                    c += 8
                }
                while c < w {
                    d1[c / 2] = row[c]
                    if c + 1 < w { o[c / 2] = row[c + 1] }
                    c += 2
                }
                for v in (odds + 1)..<wq { d0[v] = 0 }
                for v in evens..<wq { d1[v] = 0 }
            }
        }
        for ph in 0..<4 { (dst + ph * phaseLen + hq * wq).update(repeating: 0, count: phaseLen - hq * wq) }
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
