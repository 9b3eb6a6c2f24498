// DirectConv.swift: the direct 3x3 stride-1 convolution (planes, tiles, threads) and what the other direct kernels share.
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
            // Every over-read stays inside; on AVX2 one row more, which the
            // Winograd transform's second tile rows read (its 8 extra floats
            // past the tile do not cover it, AVX-512's 64 do).
            planeLen = wideLen + 2 * wp + 2 + DirectConv.tile(wide) + (wide ? 0 : wp)
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
    /// planes. Only the border is zeroed; rows of up to 32 floats are copied in
    /// vectors (too short for a memmove call each to pay), and the planes of
    /// a 1x1 convolution (no border: rows w apart in both) as one run.
    static func loadPlanes(_ x: UnsafePointer<Float>, n: Int, b: Int, cin: Int, _ g: Geometry,
                           into xp: UnsafeMutablePointer<Float>, affineSiLU f: AffineSiLU? = nil) {
        loadPlanes(x, n: n, b: b, cin: cin, g, band: Band(imageRows: g.h, rows: 0..<g.h), into: xp, affineSiLU: f)
    }

    /// Output rows `rows` of an image `h` rows high: the planes of a band
    /// (a Geometry of rows.count rows) hold the input rows those outputs
    /// read, rows.lowerBound - pad ..< rows.upperBound + pad, zeros outside
    /// the image.
    struct Band {
        let imageRows: Int, rows: Range<Int>
    }

    /// loadPlanes for a band of output rows: plane row k holds input row
    /// band.rows.lowerBound - pad + k (the whole image: the band 0..<h).
    static func loadPlanes(_ x: UnsafePointer<Float>, n: Int, b: Int, cin: Int, _ g: Geometry, band: Band,
                           into xp: UnsafeMutablePointer<Float>, affineSiLU f: AffineSiLU? = nil) {
        let hw = band.imageRows * g.w, w = g.w, wp = g.wp, pad = g.pad
        // The input rows there are, and the plane row the first goes to.
        let lo = max(0, band.rows.lowerBound - pad), hi = min(band.imageRows, band.rows.upperBound + pad)
        let first = lo - (band.rows.lowerBound - pad), count = hi - lo
        for ci in 0..<cin {
            let dst = xp + ci * g.planeLen, src = x + (ci * n + b) * hw + lo * w
            let rows = dst + first * wp + pad
            prefetchAhead(x, n: n, b: b, hw: hw, channels: cin, at: ci)
            for i in 0..<(first * wp + pad) { dst[i] = 0 }
            if let f {
                let k = ci * n + b, a = f.a[k], bb = f.b[k], tb = f.tb[k]
                if pad == 1 && g.wide {
                    Elementwise512.loadRowsAffineSiLU(src, rows, h: count, w: w, wp: wp, a: a, b: bb, tb: tb)
                } else if pad == 1 && w <= 32 {
                    loadRowsAffineSiLU(src, rows, h: count, w: w, wp: wp, a: a, b: bb, tb: tb)
                } else {
                    for r in 0..<count {
                        let d = rows + r * wp
                        Kernels.affineSiLU(src + r * w, d, count: w, a: a, b: bb, tb: tb, wide: g.wide)
                        for c in w..<(w + 2 * pad) { d[c] = 0 }
                    }
                }
            } else if pad == 1 && g.wide {
                Elementwise512.loadRows(src, rows, h: count, w: w, wp: wp)
            } else if pad == 0 {
                // Rows w apart in both: one run (a 1x1 convolution's planes).
                rows.update(from: src, count: count * w)
            } else {
                for r in 0..<count {
                    let d = rows + r * wp, s = src + r * w
                    if w <= 32 { moveRow(from: s, to: d, w: w) } else { for c in 0..<w { d[c] = s[c] } }
                    for c in w..<(w + 2 * pad) { d[c] = 0 }
                }
            }
            for i in ((first + count) * wp + pad)..<g.planeLen { dst[i] = 0 }
        }
    }

    /// How many channels ahead the plane loaders ask for their source's cache lines.
    static let prefetchChannels = 4

    /// Called by a loop over image b's channel planes of x [channels, N, hw]
    /// at channel ci: asks for the plane `prefetchChannels` ahead (and, at
    /// the first, for the planes before it); nothing for one image (sampling's
    /// per-core forward), whose planes are one contiguous run that the
    /// hardware prefetcher follows.
    @inline(__always)
    static func prefetchAhead(_ x: UnsafePointer<Float>, n: Int, b: Int, hw: Int, channels: Int, at ci: Int) {
        if n == 1 { return }
        if ci == 0 { for c in 0..<min(channels, prefetchChannels) { Kernels.prefetch(x + (c * n + b) * hw, count: hw) } }
        if ci + prefetchChannels < channels { Kernels.prefetch(x + ((ci + prefetchChannels) * n + b) * hw, count: hw) }
    }

    /// Asks for the lines `store` will write for tile t of image b (called
    /// before the tile's kernel, which then runs while they arrive); nothing
    /// for one image, as in prefetchAhead.
    @inline(__always)
    static func prefetchOutput(_ y: UnsafeMutablePointer<Float>, _ g: Geometry, tile t: Int, n: Int, b: Int) {
        if n == 1 { return }
        let hw = g.h * g.w
        for j in 0..<4 { Kernels.prefetch(y + ((t * 4 + j) * n + b) * hw, count: hw) }
    }

    /// Copies image b's `channels` planes of src [channels, N, positions] into
    /// dst [position][channel] (the weight gradients' vector operand), in
    /// blocks of 32 positions so that the written rows stay in L1.
    static func transposeImage(_ src: UnsafePointer<Float>, n: Int, b: Int, channels: Int, positions: Int,
                               into dst: UnsafeMutablePointer<Float>, wide: Bool = false) {
        // On AVX-512, 16 x 16 blocks transposed in registers; the positions past the last whole block below.
        var first = 0
        if wide && channels % 16 == 0 {
            first = positions / 16 * 16
            for p0 in Swift.stride(from: 0, to: first, by: 16) {
                for c0 in Swift.stride(from: 0, to: channels, by: 16) {
                    Elementwise512.transpose16(src + (c0 * n + b) * positions + p0, ld: n * positions,
                                               into: dst + p0 * channels + c0, ldd: channels)
                }
            }
        }
        for i0 in Swift.stride(from: first, to: positions, by: 32) {
            let i1 = min(positions, i0 + 32)
            for c in 0..<channels {
                let s = src + (c * n + b) * positions
                if i1 < positions { Kernels.prefetch(s + i1, count: min(32, positions - i1)) }
                for i in i0..<i1 { dst[i * channels + c] = s[i] }
            }
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

    /// Packs weights [cout, cin, k, k] (taps = k k) as [cout/4][cin][tap][4]
    /// for broadcasting (once per convolution call, shared by all images and threads).
    static func pack(_ weight: UnsafePointer<Float>, cin: Int, cout: Int, taps: Int = 9,
                     into wpk: UnsafeMutablePointer<Float>) {
        for t in 0..<(cout / 4) {
            for ci in 0..<cin {
                for tap in 0..<taps {
                    for j in 0..<4 {
                        wpk[((t * cin + ci) * taps + tap) * 4 + j] = weight[((t * 4 + j) * cin + ci) * taps + tap]
                    }
                }
            }
        }
    }

    /// Adds bias and copies 4 channels of kernel output (rows of wp, the first
    /// w valid) to y [cout, N, H, W] at channel 4 t, image b (= or +=); for a
    /// band (g.h of its rows), to those rows of the image.
    @inline(__always)
    static func store(_ wideOut: UnsafePointer<Float>, _ g: Geometry, bias: UnsafePointer<Float>, tile t: Int,
                      y: UnsafeMutablePointer<Float>, n: Int, b: Int, accumulate: Bool, band: Band? = nil) {
        let hw = (band?.imageRows ?? g.h) * g.w, w = g.w, row0 = band?.rows.lowerBound ?? 0
        for j in 0..<4 {
            let co = t * 4 + j, bv = bias[co]
            let dst = y + (co * n + b) * hw + row0 * w, src = wideOut + j * g.wideLen
            if g.wide {
                Elementwise512.storeRows(src, dst, h: g.h, w: w, wp: g.wp, bias: bv, accumulate: accumulate)
            } else {
                storeRows(src, dst, h: g.h, w: w, wp: g.wp, bias: bv, accumulate: accumulate)
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
                prefetchOutput(y, g, tile: t, n: n, b: b)
                kernel3x3(xp: xp, g, cin: cin, wpk: wpk + t * cin * 36, out: wideOut)
                store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
            }
        }
    }

    /// Bands of output rows, one per core, for an image the cores share: each
    /// core builds only the plane rows its band reads (with GroupNorm + SiLU
    /// applied on the way), where splitting the output channels has every
    /// core build every plane. Worth it where the bands' positions, rounded
    /// up to the kernel's granule, are at most 5% more than the image's: on
    /// AVX-512 (granule 32) at 28x28 two bands of 14 rows compute 896
    /// positions against 864, at 14x14 256 against 224 (not split); on AVX2
    /// (granule 24) 28x28 and 14x14 (240 against 240) both split. nil: split
    /// the channels.
    static func bands(n: Int, h: Int, w: Int, wide: Bool) -> Int? {
        let cores = Parallel.available, threads = min(cores, h)
        guard n < cores, threads >= 2 else { return nil }
        let wp = w + 2, gr = granule(wide)
        let whole = roundUp(h * wp, gr), split = roundUp((h + threads - 1) / threads * wp, gr) * threads
        return split * 20 <= whole * 21 ? threads : nil
    }

    /// Band th of `threads` over an image of h rows.
    static func band(_ th: Int, of threads: Int, h: Int) -> Band {
        Band(imageRows: h, rows: (h * th / threads)..<(h * (th + 1) / threads))
    }

    /// forward for output rows `band.rows` of image b, every output channel.
    static func forward(packed wpk: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                        x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, b: Int, band: Band, w: Int,
                        accumulate: Bool, wide: Bool, scratch: UnsafeMutablePointer<Float>, affineSiLU: AffineSiLU? = nil) {
        let g = Geometry(h: band.rows.count, w: w, pad: 1, wide: wide)
        let xp = scratch, wideOut = scratch + cin * g.planeLen
        loadPlanes(x, n: n, b: b, cin: cin, g, band: band, into: xp, affineSiLU: affineSiLU)
        for t in 0..<(cout / 4) {
            kernel3x3(xp: xp, g, cin: cin, wpk: wpk + t * cin * 36, out: wideOut)
            store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate, band: band)
        }
    }

    /// The 3x3 tile of 4 output channels (`wpk`: their packed weights) over planes of geometry g,
    /// through the CPU's kernel.
    @inline(__always)
    static func kernel3x3(xp: UnsafePointer<Float>, _ g: Geometry, cin: Int, wpk: UnsafePointer<Float>,
                          out: UnsafeMutablePointer<Float>) {
        if g.wide {
            DirectConv512.kernel(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, wideLen: g.wideLen, wpk: wpk, out: out)
        } else {
            kernel(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, wideLen: g.wideLen, wpk: wpk, out: out)
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

}
