import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

/// Direct 3x3, stride 1, padding 1 convolution forward, without im2col.
///
/// Each image's channels are copied once into zero-bordered planes of width
/// W+2 ("wide" layout). In that layout the input of tap (ky, kx) for output
/// position o = y*(W+2) + x is simply o + ky*(W+2) + kx, so an output row
/// block is a sum of 9*cin shifted vector loads times broadcast weights. The
/// register tile is 4 output channels x 24 wide positions (12 accumulators of
/// 8 floats, AVX2 FMA). The two wide columns past each row are computed and
/// dropped when the result is copied out.
///
/// The order of the sums is fixed by the loops below (ci, then ky, then kx,
/// one FMA per term), so an image's result does not depend on the batch it
/// is in or on the thread that computes it.
enum DirectConv {
    typealias V = SIMD8<Float>

    /// Positions in one register tile (`wide`: the AVX-512 kernel's).
    static func tile(_ wide: Bool) -> Int { wide ? DirectConv512.tile : 24 }
    /// Output ranges are rounded up to this (AVX-512: half tiles).
    static func granule(_ wide: Bool) -> Int { wide ? DirectConv512.granule : 24 }

    /// Where one image's channel planes and the kernel's output live in the
    /// per-thread scratch: planes of width wp = w + 2 pad (zero border `pad`),
    /// `wideLen` output positions (h wide rows, rounded up to the granule) and
    /// room after each plane for the largest tap offset (2 wp + 2).
    struct Geometry {
        let h: Int, w: Int, pad: Int, wp: Int, wideLen: Int, planeLen: Int
        /// The AVX-512 kernels run (they set the tile and granule).
        let wide: Bool
        /// Output rows of wp positions in planes of planeLen floats (strided convolution).
        init(h: Int, w: Int, wp: Int, planeLen: Int, wide: Bool) {
            self.h = h; self.w = w; pad = 0; self.wp = wp; self.wide = wide
            wideLen = DirectConv.roundUp(h * wp, DirectConv.granule(wide)); self.planeLen = planeLen
        }
        init(h: Int, w: Int, pad: Int, wide: Bool) {
            self.h = h; self.w = w; self.pad = pad; self.wide = wide
            wp = w + 2 * pad
            wideLen = DirectConv.roundUp(h * wp, DirectConv.granule(wide))
            planeLen = wideLen + 2 * wp + 2 + DirectConv.tile(wide)   // every over-read stays inside
        }
        /// Floats of scratch for `cin` planes and `outs` output rows of wideLen.
        func scratchFloats(cin: Int, outs: Int) -> Int { cin * planeLen + outs * wideLen }
    }

    /// Floats of per-thread scratch for one image of a 3x3 convolution.
    static func scratchFloats(cin: Int, h: Int, w: Int, wide: Bool) -> Int {
        Geometry(h: h, w: w, pad: 1, wide: wide).scratchFloats(cin: cin, outs: 4)
    }

    @inline(__always) static func roundUp(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b * b }

    /// Copies image b's cin channels of x [cin, N, H, W] into zero-bordered
    /// planes. Only the border is zeroed, and rows are copied in a loop (they
    /// are too short for memmove calls to pay).
    static func loadPlanes(_ x: UnsafePointer<Float>, n: Int, b: Int, cin: Int, _ g: Geometry,
                           into xp: UnsafeMutablePointer<Float>, affineSiLU f: AffineSiLU? = nil) {
        let hw = g.h * g.w, w = g.w, wp = g.wp, pad = g.pad
        for ci in 0..<cin {
            let dst = xp + ci * g.planeLen, src = x + (ci * n + b) * hw
            for i in 0..<(pad * (wp + 1)) { dst[i] = 0 }
            if let f {
                let k = ci * n + b, a = f.a[k], bb = f.b[k], tb = f.tb[k]
                if pad == 1 && g.wide {
                    Elementwise512.loadRowsAffineSiLU(src, dst + wp + 1, h: g.h, w: w, wp: wp, a: a, b: bb, tb: tb)
                } else {
                    for r in 0..<g.h {
                        let d = dst + (r + pad) * wp + pad
                        Kernels.affineSiLU(src + r * w, d, count: w, a: a, b: bb, tb: tb, wide: g.wide)
                        for c in w..<(w + 2 * pad) { d[c] = 0 }
                    }
                }
            } else if pad == 1 && g.wide {
                Elementwise512.loadRows(src, dst + wp + 1, h: g.h, w: w, wp: wp)
            } else {
                for r in 0..<g.h {
                    let d = dst + (r + pad) * wp + pad, s = src + r * w
                    for c in 0..<w { d[c] = s[c] }
                    for c in w..<(w + 2 * pad) { d[c] = 0 }
                }
            }
            for i in ((g.h + pad) * wp + pad)..<g.planeLen { dst[i] = 0 }
        }
    }

    /// GroupNorm + SiLU + bias applied to a convolution's input as its planes
    /// are built: plane = g sigmoid(g) + tb[k] with g = x a[k] + b[k], for
    /// k = channel * N + image (GroupNorm.coefficients).
    struct AffineSiLU {
        let a: UnsafePointer<Float>, b: UnsafePointer<Float>, tb: UnsafePointer<Float>
    }

    /// Splits (images x output-channel tiles) over the cores: images dealt to
    /// the cores, or, for fewer images than cores, each image's tiles split
    /// between them. `body(thread, images, tiles)`; each thread has
    /// `scratch` floats in ws.cols[thread].
    static func parallel(n: Int, tiles: Int, scratch: Int, ws: Workspace,
                         _ body: (Int, Range<Int>, Range<Int>) -> Void) {
        let cores = Parallel.available
        let threads = n >= cores ? cores : min(cores, tiles)
        for t in 0..<max(1, threads) { ws.cols[t].reserve(scratch) }
        if threads <= 1 { return body(0, 0..<n, 0..<tiles) }
        if n >= cores {
            // Images go to whichever core is free (an image's result does not
            // depend on the core), so a core slowed by the host takes fewer.
            Parallel.runBalanced(n) { th, i in body(th, i..<(i + 1), 0..<tiles) }
        } else {
            for i in 0..<n {
                Parallel.run(threads) { th in
                    body(th, i..<(i + 1), (tiles * th / threads)..<(tiles * (th + 1) / threads))
                }
            }
        }
    }

    /// Packs weights [cout, cin, 3, 3] as [cout/4][cin][tap][4] for broadcasting
    /// (once per convolution call, shared by all images and threads).
    static func pack(_ weight: UnsafePointer<Float>, cin: Int, cout: Int, into wpk: UnsafeMutablePointer<Float>) {
        for t in 0..<(cout / 4) {
            for ci in 0..<cin {
                for tap in 0..<9 {
                    for j in 0..<4 {
                        wpk[((t * cin + ci) * 9 + tap) * 4 + j] = weight[((t * 4 + j) * cin + ci) * 9 + tap]
                    }
                }
            }
        }
    }

    /// Adds bias and copies 4 channels of kernel output (rows of wp, the first
    /// w valid) to y [cout, N, H, W] at channel 4 t, image b (= or +=).
    @inline(__always)
    static func store(_ wideOut: UnsafePointer<Float>, _ g: Geometry, bias: UnsafePointer<Float>, tile t: Int,
                      y: UnsafeMutablePointer<Float>, n: Int, b: Int, accumulate: Bool) {
        let hw = g.h * g.w, w = g.w
        for j in 0..<4 {
            let co = t * 4 + j, bv = bias[co]
            let dst = y + (co * n + b) * hw, src = wideOut + j * g.wideLen
            if g.wide {
                Elementwise512.storeRows(src, dst, h: g.h, w: w, wp: g.wp, bias: bv, accumulate: accumulate)
            } else if accumulate {
                for r in 0..<g.h { let d = dst + r * w, s = src + r * g.wp; for c in 0..<w { d[c] += s[c] + bv } }
            } else {
                for r in 0..<g.h { let d = dst + r * w, s = src + r * g.wp; for c in 0..<w { d[c] = s[c] + bv } }
            }
        }
    }

    /// y[cout, N, H, W] (=, or += with `accumulate`) conv(x) + bias for the
    /// given images and output-channel tiles; `wpk` from `pack`.
    static func forward(packed wpk: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                        images: Range<Int>, coTiles: Range<Int>, accumulate: Bool, wide: Bool,
                        scratch: UnsafeMutablePointer<Float>, affineSiLU: AffineSiLU? = nil) {
        let g = Geometry(h: h, w: w, pad: 1, wide: wide)
        let xp = scratch, wideOut = scratch + cin * g.planeLen
        for b in images {
            loadPlanes(x, n: n, b: b, cin: cin, g, into: xp, affineSiLU: affineSiLU)
            for t in coTiles {
                if wide {
                    DirectConv512.kernel(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, wideLen: g.wideLen,
                                         wpk: wpk + t * cin * 36, out: wideOut)
                } else {
                    kernel(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, wideLen: g.wideLen,
                           wpk: wpk + t * cin * 36, out: wideOut)
                }
                store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
            }
        }
    }

    /// The tile for any list of taps (see DirectConv512.kernelTaps), through
    /// the CPU's kernel.
    @inline(__always)
    static func taps(xp: UnsafePointer<Float>, planeLen: Int, offs: UnsafePointer<Int>, taps: Int, cin: Int,
                     wideLen: Int, wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, wide: Bool) {
        if wide {
            DirectConv512.kernelTaps(xp: xp, planeLen: planeLen, offs: offs, taps: taps, cin: cin, wideLen: wideLen,
                                     wpk: wpk, out: out)
        } else {
            kernelTaps(xp: xp, planeLen: planeLen, offs: offs, taps: taps, cin: cin, wideLen: wideLen,
                       wpk: wpk, out: out)
        }
    }

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
            parallel(n: n, tiles: tiles, scratch: g.scratchFloats(cin: cin, outs: 16), ws: ws) { th, images, coTiles in
                let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
                for b in images {
                    loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
                    for t in coTiles {
                        for par in 0..<4 {
                            taps(xp: xp, planeLen: g.planeLen, offs: offs.baseAddress! + par * 4, taps: 4, cin: cin,
                                 wideLen: g.wideLen, wpk: wpk + par * perParity + t * cin * 16,
                                 out: wideOut + par * 4 * g.wideLen, wide: g.wide)
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

    /// The 12 accumulators of one AVX2 tile (4 channels x 24 positions).
    struct Tile {
        var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
        var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()

        /// One tap: 24 inputs from `base` times the 4 channels' weights w[0..<4].
        @inline(__always)
        mutating func add(_ base: UnsafeRawPointer, _ w: UnsafePointer<Float>) {
            let x0 = base.loadUnaligned(as: V.self)
            let x1 = base.loadUnaligned(fromByteOffset: 32, as: V.self)
            let x2 = base.loadUnaligned(fromByteOffset: 64, as: V.self)
            let w0 = V(repeating: w[0]), w1 = V(repeating: w[1]), w2 = V(repeating: w[2]), w3 = V(repeating: w[3])
            a00 = a00.addingProduct(x0, w0); a01 = a01.addingProduct(x1, w0); a02 = a02.addingProduct(x2, w0)
            a10 = a10.addingProduct(x0, w1); a11 = a11.addingProduct(x1, w1); a12 = a12.addingProduct(x2, w1)
            a20 = a20.addingProduct(x0, w2); a21 = a21.addingProduct(x1, w2); a22 = a22.addingProduct(x2, w2)
            a30 = a30.addingProduct(x0, w3); a31 = a31.addingProduct(x1, w3); a32 = a32.addingProduct(x2, w3)
        }

        /// Channel j's 24 sums to out + j * wideLen.
        @inline(__always)
        func store(_ out: UnsafeMutablePointer<Float>, wideLen: Int) {
            let r = UnsafeMutableRawPointer(out)
            func row(_ j: Int, _ a: V, _ b: V, _ c: V) {
                let s = j * wideLen * 4
                r.storeBytes(of: a, toByteOffset: s, as: V.self); r.storeBytes(of: b, toByteOffset: s + 32, as: V.self)
                r.storeBytes(of: c, toByteOffset: s + 64, as: V.self)
            }
            row(0, a00, a01, a02); row(1, a10, a11, a12); row(2, a20, a21, a22); row(3, a30, a31, a32)
        }
    }

    /// out[j][o] = sum_ci sum_tap wpk[ci][tap][j] * xp[ci][o + off(tap)] for 4 channels j (AVX2, 3x3 unrolled).
    static func kernel(xp: UnsafePointer<Float>, planeLen: Int, wp: Int, cin: Int, wideLen: Int,
                       wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let r1 = wp * 4, r2 = 2 * wp * 4
        var o = 0
        while o < wideLen {
            var acc = Tile()
            for ci in 0..<cin {
                let base = UnsafeRawPointer(xp + ci * planeLen + o)
                let wc = wpk + ci * 36
                acc.add(base, wc); acc.add(base + 4, wc + 4); acc.add(base + 8, wc + 8)
                acc.add(base + r1, wc + 12); acc.add(base + r1 + 4, wc + 16); acc.add(base + r1 + 8, wc + 20)
                acc.add(base + r2, wc + 24); acc.add(base + r2 + 4, wc + 28); acc.add(base + r2 + 8, wc + 32)
            }
            acc.store(out + o, wideLen: wideLen)
            o += tile(false)
        }
    }

    /// The AVX2 tile for any list of taps (see DirectConv512.kernelTaps).
    static func kernelTaps(xp: UnsafePointer<Float>, planeLen: Int, offs: UnsafePointer<Int>, taps: Int, cin: Int,
                           wideLen: Int, wpk: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        var o = 0
        while o < wideLen {
            var acc = Tile()
            for ci in 0..<cin {
                let plane = UnsafeRawPointer(xp + ci * planeLen + o)
                let wc = wpk + ci * taps * 4
                for t in 0..<taps { acc.add(plane + offs[t] * 4, wc + t * 4) }
            }
            acc.store(out + o, wideLen: wideLen)
            o += tile(false)
        }
    }
}

extension DirectConv {
    /// Whether `weightGrad` handles a 3x3 stride-1 convolution with these
    /// channels (AVX-512 only: 16 output channels per vector, input channels
    /// in pairs).
    static func weightGradApplies(cin: Int, cout: Int, backend: Backend) -> Bool {
        backend.wide && cout % 16 == 0 && cin % 2 == 0
    }

    /// dW [cout, cin, 3, 3] += the weight gradient of a 3x3 stride-1 pad-1
    /// convolution, without im2col: per image, the input in zero-bordered
    /// planes and dy transposed to [position][cout], then
    /// DirectConv512.weightGrad for each (16 output channels, 2 input
    /// channels). Images are dealt to the cores; each core sums its images
    /// in order into its own partial, and the partials are added in thread
    /// order (as the GEMM path does with its chunks).
    static func weightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, h: Int, w: Int,
                           cin: Int, cout: Int, ws: Workspace, into dW: UnsafeMutablePointer<Float>) {
        let g = Geometry(h: h, w: w, pad: 1, wide: ws.backend.wide), hw = h * w, partLen = cin * 9 * cout
        let threads = min(Parallel.cores, n)
        for t in 0..<threads { ws.cols[t].reserve(cin * g.planeLen + hw * cout) }
        ws.zeroParts(partLen)
        let body = { (th: Int) in
            let xp = ws.cols[th].ptr, dyT = xp + cin * g.planeLen, part = ws.dwParts[th].ptr
            var b = th
            while b < n {
                loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
                // Transposed in blocks of 32 positions, so the written rows stay in L1.
                for i0 in stride(from: 0, to: hw, by: 32) {
                    let i1 = min(hw, i0 + 32)
                    for co in 0..<cout {
                        let src = dy + (co * n + b) * hw
                        for i in i0..<i1 { dyT[i * cout + co] = src[i] }
                    }
                }
                for cb in stride(from: 0, to: cout, by: 16) {
                    for ci in stride(from: 0, to: cin, by: 2) {
                        DirectConv512.weightGrad(xp: xp + ci * g.planeLen, planeLen: g.planeLen, wp: g.wp, h: h, w: w,
                                                 dyT: dyT + cb, ldy: cout, out: part + ci * 9 * cout + cb, ldo: cout)
                    }
                }
                b += threads
            }
        }
        Parallel.run(threads, body)
        // parts are [ci][tap][co]; dW is [co][ci][tap].
        for t in 0..<threads {
            let p = ws.dwParts[t].ptr
            for co in 0..<cout {
                let d = dW + co * cin * 9
                for k in 0..<(cin * 9) { d[k] += p[k * cout + co] }
            }
        }
    }
}
