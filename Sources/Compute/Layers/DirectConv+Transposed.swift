// DirectConv+Transposed.swift: the 4x4 stride-2 transposed convolution as four 2x2 convolutions.
import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
    /// Transposed 4x4 stride-2 pad-1 convolution y[cout, N, 2H, 2W] = convT(x) + bias,
    /// weight [cin, cout, 4, 4]. Output pixel (2i + a, 2j + c) only sees the
    /// 2x2 input window at rows i + a - 1 + dy, columns j + c - 1 + dx
    /// (dy, dx in {0, 1}) through tap (3 - a - 2 dy, 3 - c - 2 dx): four 2x2
    /// convolutions of the zero-bordered input, one per output parity, whose
    /// results are interleaved into y.
    static func transposed(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                           x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                           ws: Workspace) {
        let g = Geometry(h: h, w: w, pad: 1, wide: ws.backend.wide), tiles = cout / 4, wo = 2 * w, hwo = 4 * h * w
        // Packed [parity][cout/4][cin][tap][4].
        let perParity = cout * cin * 4
        let wpk = ws.packed(weight, count: 4 * perParity) { wpk in
            for par in 0..<4 {
                let a = par / 2, c = par % 2
                for tap in 0..<4 {
                    let ky = 3 - a - 2 * (tap / 2), kx = 3 - c - 2 * (tap % 2)
                    for t in 0..<tiles {
                        for ci in 0..<cin {
                            for j in 0..<4 {
                                wpk[par * perParity + ((t * cin + ci) * 4 + tap) * 4 + j] =
                                    weight[((ci * cout + t * 4 + j) * 4 + ky) * 4 + kx]
                            }
                        }
                    }
                }
            }
        }
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 16) { offs in
            for par in 0..<4 {
                let a = par / 2, c = par % 2
                for tap in 0..<4 { offs[par * 4 + tap] = (a + tap / 2) * g.wp + (c + tap % 2) }
            }
            // On the bf16 backend's sampling pass the four parities' weights are blocks par * tiles + t.
            let floats = g.scratchFloats(cin: cin, outs: 16)
            let pt = pairTaps(ws, packed: wpk, blocks: 4 * tiles, cin: cin, taps: 4, offs: offs,
                              wideLen: g.wideLen, planeLen: g.planeLen, after: floats)
            parallel(n: n, tiles: tiles, scratch: floats + (pt?.scratch ?? 0), ws: ws) { th, images, coTiles in
                let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
                for b in images {
                    loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
                    pt?.pack(xp, stride: g.planeLen, valid: g.planeLen, scratch: xp)
                    for t in coTiles {
                        for par in 0..<4 {
                            if let pt {
                                pt.run(xp, offs: offs.baseAddress! + par * 4, wideLen: g.wideLen, block: par * tiles + t,
                                       count: 1, out: wideOut + par * 4 * g.wideLen)
                            } else {
                                taps(xp: xp, planeLen: g.planeLen, offs: offs.baseAddress! + par * 4, taps: 4, cin: cin,
                                     wideLen: g.wideLen, wpk: wpk + par * perParity + t * cin * 16,
                                     out: wideOut + par * 4 * g.wideLen, wide: g.wide)
                            }
                        }
                        for j in 0..<4 {
                            let co = t * 4 + j, bv = bias[co], dst = y + (co * n + b) * hwo
                            for a in 0..<2 {
                                let s0 = wideOut + ((a * 2) * 4 + j) * g.wideLen
                                let s1 = wideOut + ((a * 2 + 1) * 4 + j) * g.wideLen
                                for i in 0..<h {
                                    let d = dst + (2 * i + a) * wo, r0 = s0 + i * g.wp, r1 = s1 + i * g.wp
                                    for jj in 0..<w { d[2 * jj] = r0[jj] + bv; d[2 * jj + 1] = r1[jj] + bv }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension DirectConv {
    /// Whether `transposedWeightGrad` runs: input channels in whole vectors
    /// (16 on AVX-512, 8 on AVX2).
    static func transposedWeightGradApplies(backend: Backend, cin: Int) -> Bool {
        backend.direct && cin % (backend.wide ? 16 : 8) == 0
    }

    /// dW [cin, cout, 4, 4] += the weight gradient of the 4x4 stride-2 pad-1
    /// transposed convolution, without im2col: per image, dy in zero-bordered
    /// planes (2H x 2W, rows of 2W + 2) and x transposed to
    /// [position][channel], then DirectConv512.transposedWeightGrad for each
    /// output channel and 16 input channels (AVX2: `transposedWeightGrad8`
    /// and 8). Images are dealt to the cores;
    /// each core sums its images in order into its own partial, and the
    /// partials are added in thread order (as the GEMM path does with its chunks).
    static func transposedWeightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, h: Int, w: Int,
                                     cin: Int, cout: Int, ws: Workspace, into dW: UnsafeMutablePointer<Float>) {
        let wide = ws.backend.wide, lanes = wide ? 16 : 8
        let g = Geometry(h: 2 * h, w: 2 * w, pad: 1, wide: wide), hw = h * w
        let threads = dealImages(n: n, scratch: cout * g.planeLen + hw * cin, partLen: cout * 16 * cin, ws: ws) { b, yp, part in
            let xT = yp + cout * g.planeLen
            loadPlanes(dy, n: n, b: b, cin: cout, g, into: yp)
            transposeImage(x, n: n, b: b, channels: cin, positions: hw, into: xT, wide: wide)
            for co in 0..<cout {
                for cb in stride(from: 0, to: cin, by: lanes) {
                    if wide {
                        DirectConv512.transposedWeightGrad(xT: xT + cb, ldx: cin, yp: yp + co * g.planeLen, wp: g.wp,
                                                           h: h, w: w, out: part + co * 16 * cin + cb, ldo: cin)
                    } else {
                        transposedWeightGrad8(xT: xT + cb, ldx: cin, yp: yp + co * g.planeLen, wp: g.wp,
                                              h: h, w: w, out: part + co * 16 * cin + cb, ldo: cin)
                    }
                }
            }
        }
        // parts are [co][tap][ci]; dW is [ci][co][tap].
        for t in 0..<threads {
            let p = ws.dwParts[t].ptr
            for ci in 0..<cin {
                for co in 0..<cout {
                    let d = dW + (ci * cout + co) * 16, s = p + co * 16 * cin + ci
                    for tap in 0..<16 { d[tap] += s[tap * cin] }
                }
            }
        }
    }
}
