// DirectConv+Winograd.swift: the 3x3 stride-1 convolution through Winograd F(2x2, 3x3), for training.
import Kernels512
import SIMDMath

/// Training's 3x3 stride-1 convolutions (forward, and the data gradient, which
/// is the same convolution of dy with flipped weights; on AVX2 the weight
/// gradient too, `winogradWeightGrad` below) on both direct
/// backends, for images of even height and width between 8 and 32 wide:
/// Winograd F(2x2, 3x3) (Winograd512, or on AVX2 WinogradAVX2 with the same
/// sums) does 16 multiply-adds per 2x2 output tile and channel pair
/// where the direct kernel does 36 (and computes the planes' two border columns
/// as well). Per image: the direct kernel's zero-bordered planes, their 16
/// transformed planes V[ξ][ci][tiles], the 16 products M[ξ] = U[ξ] V[ξ]
/// ([cout][tiles] each) through the direct tap kernel with one tap (the 1x1
/// convolution's), then the output transform, which adds the bias and stores
/// into y.
///
/// Its rounding differs from the direct kernel's (the transforms add and
/// subtract before the products), so sampling, which promises byte-identical
/// images, keeps the direct kernel, and so do the classifiers (their readings,
/// guidance and training command stay as they were): only the U-Net's
/// workspace asks for Winograd, and only its training passes run it. An image's result
/// depends only on the image and the weights, as with the direct kernel (the
/// order of every sum is fixed); the weight gradient's sums over the batch,
/// here as in `weightGrad`, are split by the machine's core count only
/// (Parallel.cores), never by which workers happen to be free.
extension DirectConv {
    struct WinogradShape {
        /// Two tile rows per vector (images up to 16 wide), else one.
        let pair: Bool
        /// Vectors of 16 tiles per image and channel; floats per transformed
        /// plane (a multiple of the kernel's granule: 32, AVX2 24).
        let vectors: Int, ld: Int

        init(h: Int, w: Int, wide: Bool) {
            pair = w <= 16
            vectors = pair ? (h / 2 + 1) / 2 : h / 2
            ld = DirectConv.roundUp(vectors * 16, DirectConv.granule(wide))
        }

        /// Per-thread scratch after the planes: V (16 cin planes), M (16 cout), one output row (32).
        func scratchFloats(cin: Int, cout: Int) -> Int { 16 * (cin + cout) * ld + 32 }
    }

    /// Whether a 3x3 stride-1 pad-1 convolution over h x w images runs
    /// Winograd: a workspace that asks for it (the U-Net's), in training, on
    /// a direct backend, even sizes 8 to 32 wide.
    static func winogradApplies(_ ws: Workspace, h: Int, w: Int) -> Bool {
        ws.unet && ws.backend.direct && ws.mode.isTraining && h % 2 == 0 && w % 2 == 0 && w >= 8 && w <= 32 && h >= 2
    }

    /// What `winogradApplies` says, for `ddpm bench`.
    static let winogradSummary = "the U-Net's 3x3 stride-1 convolutions 8 to 32 wide through Winograd F(2x2,3x3)"

    /// Whether inputTransform's reads stay inside the direct planes (they do
    /// for every size winogradApplies admits: the planes' slack after h wp is
    /// 2 wp + 66 floats or more, the reads' at most wp + 34, or with pair
    /// 3 wp + 18; on AVX2 the slack is 3 wp + 26 or more; checked once per call, as
    /// -Ounchecked drops preconditions).
    static func winogradReadsFit(h: Int, w: Int, wide: Bool) -> Bool {
        let g = Geometry(h: h, w: w, pad: 1, wide: wide), s = WinogradShape(h: h, w: w, wide: wide)
        return Winograd512.reach(wp: g.wp, vectors: s.vectors, pair: s.pair) <= g.planeLen
    }

    /// Packs weights [cout, cin, 3, 3] as U = G g G^T in [ξ][cout/4][cin][4].
    static func packWinograd(_ weight: UnsafePointer<Float>, cin: Int, cout: Int, into u: UnsafeMutablePointer<Float>) {
        typealias C = SIMD4<Float>
        let tiles = cout / 4
        // G applied to a column (g0, g1, g2): (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2, g2).
        @inline(__always) func gcol(_ a: C, _ b: C, _ c: C) -> (C, C, C, C) { (a, (a + b + c) * 0.5, (a - b + c) * 0.5, c) }
        for co in 0..<cout {
            for ci in 0..<cin {
                let g = weight + (co * cin + ci) * 9
                // G g: a column of 4 (the SIMD4 over i) for each kx.
                let (t0, t1, t2) = (C(g[0], 0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[0] - g[3] + g[6]), g[6]),
                                    C(g[1], 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[1] - g[4] + g[7]), g[7]),
                                    C(g[2], 0.5 * (g[2] + g[5] + g[8]), 0.5 * (g[2] - g[5] + g[8]), g[8]))
                // (G g) G^T: column j of U over i.
                let cols = gcol(t0, t1, t2)
                let base = ((co / 4) * cin + ci) * 4 + co % 4
                for i in 0..<4 {
                    let xi0 = 4 * i
                    u[((xi0 + 0) * tiles) * cin * 4 + base] = cols.0[i]
                    u[((xi0 + 1) * tiles) * cin * 4 + base] = cols.1[i]
                    u[((xi0 + 2) * tiles) * cin * 4 + base] = cols.2[i]
                    u[((xi0 + 3) * tiles) * cin * 4 + base] = cols.3[i]
                }
            }
        }
    }

    /// y[cout, N, H, W] (=, or += with `accumulate`) conv(x) + bias for the
    /// given images and output-channel tiles; `u` from `packWinograd`.
    static func winograd(packed u: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                         x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                         images: Range<Int>, coTiles: Range<Int>, accumulate: Bool, wide: Bool,
                         scratch: UnsafeMutablePointer<Float>, affineSiLU: AffineSiLU? = nil) {
        let g = Geometry(h: h, w: w, pad: 1, wide: wide), s = WinogradShape(h: h, w: w, wide: wide)
        let tiles = cout / 4, hw = h * w, filled = s.vectors * 16
        let t0 = coTiles.lowerBound, couts = 4 * coTiles.count
        let xp = scratch, v = xp + cin * g.planeLen, m = v + 16 * cin * s.ld, rows = m + 16 * couts * s.ld
        // Lanes the transform does not write but the kernel reads (a granule's rounding).
        if filled < s.ld { for r in 0..<(16 * cin) { (v + r * s.ld + filled).update(repeating: 0, count: s.ld - filled) } }
        var zero = 0
        for b in images {
            loadPlanes(x, n: n, b: b, cin: cin, g, into: xp, affineSiLU: affineSiLU)
            if wide {
                Winograd512.inputTransform(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, vectors: s.vectors,
                                           pair: s.pair, out: v, ld: s.ld)
            } else {
                WinogradAVX2.inputTransform(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, vectors: s.vectors,
                                            pair: s.pair, out: v, ld: s.ld)
            }
            // ξ outer: each channel tile reads V[ξ] (cin x ld floats, 43 KB at most
            // in Tiny) where the one before left it, in L1.
            for xi in 0..<16 {
                for t in coTiles {
                    taps(xp: v + xi * cin * s.ld, planeLen: s.ld, offs: &zero, taps: 1, cin: cin, wideLen: s.ld,
                         wpk: u + (xi * tiles + t) * cin * 4, out: m + (xi * couts + (t - t0) * 4) * s.ld, wide: wide)
                }
            }
            for t in coTiles {
                prefetchOutput(y, g, tile: t, n: n, b: b)
                for j in 0..<4 {
                    let co = t * 4 + j
                    let mj = m + ((t - t0) * 4 + j) * s.ld, yc = y + (co * n + b) * hw
                    if wide {
                        Winograd512.outputTransform(m: mj, xs: couts * s.ld, vectors: s.vectors, pair: s.pair, y: yc,
                                                    h: h, w: w, bias: bias[co], accumulate: accumulate, tmp: rows)
                    } else {
                        WinogradAVX2.outputTransform(m: mj, xs: couts * s.ld, vectors: s.vectors, pair: s.pair, y: yc,
                                                     h: h, w: w, bias: bias[co], accumulate: accumulate, tmp: rows)
                    }
                }
            }
        }
    }
}

/// The weight gradient of training's 3x3 stride-1 convolutions on AVX2
/// through the same F(2x2, 3x3): the forward is y = A^T [U ⊙ V] A per tile
/// with U = G g G^T, so dg = G^T (sum over tiles of (A dY A^T) ⊙ V) G. Per
/// image, V as the forward makes it (zero-bordered planes, then
/// WinogradAVX2.inputTransform), dy's tiles transformed into the same lanes
/// (WinogradAVX2.gradientTransform, zero where no tile is), and for each of
/// the 16 ξ the cout x cin dot products of those lanes (`dot4x2`): 16
/// multiply-adds per 2x2 tile and channel pair where the direct kernel does 36.
/// Images go in groups (their lanes side by side, so the dot products are
/// long), the groups are dealt to the cores as `weightGrad` deals images;
/// each core sums its groups in order into its own partial dU
/// [ξ][cout][cin], the partials are added in thread order, and G^T dU G is
/// added to dW once. AVX-512 keeps
/// its direct kernels (DirectConv512.weightGrad32), not measured against this.
extension DirectConv {
    /// Whether a 3x3 stride-1 pad-1 convolution's weight gradient runs
    /// `winogradWeightGrad`: where the forward runs Winograd, on AVX2, output
    /// channels in 4s and input channels in 2s (dot4x2's block).
    static func winogradWeightGradApplies(_ ws: Workspace, h: Int, w: Int, cin: Int, cout: Int) -> Bool {
        !ws.backend.wide && winogradApplies(ws, h: h, w: w) && cout % 4 == 0 && cin % 2 == 0
    }

    /// dW [cout, cin, 3, 3] += the weight gradient of a 3x3 stride-1 pad-1
    /// convolution of x [cin, n, h, w] with output gradient dy [cout, n, h, w].
    /// Per core's scratch: the zero-bordered planes, V [ξ][cin][len] and
    /// dA = A dY A^T [ξ][cout][len] (a group's images side by side, `filled`
    /// lanes each), 64 floats for gradientTransform; per core's partial dU
    /// [ξ][cout][cin].
    static func winogradWeightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, n: Int, h: Int, w: Int,
                                   cin: Int, cout: Int, ws: Workspace, into dW: UnsafeMutablePointer<Float>) {
        if n == 0 { return }
        if !winogradWeightGradApplies(ws, h: h, w: w, cin: cin, cout: cout) || !winogradReadsFit(h: h, w: w, wide: false) {
            fatalError("DirectConv.winogradWeightGrad: not for \(cin)->\(cout) at \(h)x\(w) on this workspace")
        }
        let g = Geometry(h: h, w: w, pad: 1, wide: false), s = WinogradShape(h: h, w: w, wide: false)
        let filled = s.vectors * 16, hw = h * w, plane = cout * cin, partLen = 16 * plane
        // Images in groups whose lanes sit side by side (about 512 a row, and
        // every core a group), so each dot product runs that long before its
        // lanes are summed.
        let group = max(1, min(512 / filled, (n + Parallel.cores - 1) / Parallel.cores)), len = group * filled
        let groups = (n + group - 1) / group
        let scratch = cin * g.planeLen + 16 * (cin + cout) * len + 64
        let threads = dealImages(n: groups, scratch: scratch, partLen: partLen, ws: ws) { k, xp, part in
            let v = xp + cin * g.planeLen, dm = v + 16 * cin * len, tile = dm + 16 * cout * len
            let first = k * group, count = min(group, n - first)
            for i in 0..<count {
                loadPlanes(x, n: n, b: first + i, cin: cin, g, into: xp)
                WinogradAVX2.inputTransform(xp: xp, planeLen: g.planeLen, wp: g.wp, cin: cin, vectors: s.vectors,
                                            pair: s.pair, out: v + i * filled, ld: len)
                for co in 0..<cout {
                    WinogradAVX2.gradientTransform(dy: dy + (co * n + first + i) * hw, h: h, w: w, vectors: s.vectors,
                                                   pair: s.pair, out: dm + co * len + i * filled, xs: cout * len, tile: tile)
                }
            }
            for xi in 0..<16 {
                let a = dm + xi * cout * len, vx = v + xi * cin * len, o = part + xi * plane
                for co in Swift.stride(from: 0, to: cout, by: 4) {
                    for ci in Swift.stride(from: 0, to: cin, by: 2) {
                        dot4x2(a: a + co * len, lda: len, b: vx + ci * len, ldb: len, len: count * filled,
                               out: o + co * cin + ci, ldo: cin)
                    }
                }
            }
        }
        let u = ws.dwParts[0].ptr
        for t in 1..<threads {
            let p = ws.dwParts[t].ptr
            for i in 0..<partLen { u[i] += p[i] }
        }
        // dW[co][ci] += G^T dU G, G's rows (1, 0, 0), (1/2, 1/2, 1/2), (1/2, -1/2, 1/2), (0, 0, 1).
        typealias C = SIMD4<Float>
        for k in 0..<plane {
            @inline(__always) func row(_ i: Int) -> C {
                C(u[(4 * i) * plane + k], u[(4 * i + 1) * plane + k], u[(4 * i + 2) * plane + k], u[(4 * i + 3) * plane + k])
            }
            let r0 = row(0), r1 = row(1), r2 = row(2), r3 = row(3)
            let t0 = r0 + (r1 + r2) * 0.5, t1 = (r1 - r2) * 0.5, t2 = (r1 + r2) * 0.5 + r3
            let d = dW + k * 9
            @inline(__always) func put(_ a: Int, _ t: C) {
                d[3 * a] += t[0] + (t[1] + t[2]) * 0.5
                d[3 * a + 1] += (t[1] - t[2]) * 0.5
                d[3 * a + 2] += (t[1] + t[2]) * 0.5 + t[3]
            }
            put(0, t0); put(1, t1); put(2, t2)
        }
    }
}
