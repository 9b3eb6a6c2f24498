// DirectConv+BF16.swift: the bf16 backend's convolutions for sampling passes (the bfloat16 tile of CSIMD's bf16.h).
import CSIMD
import Kernels512

extension DirectConv {
    /// A U-Net's sampling pass on the bf16 backend (no backward follows).
    static func bf16Applies(_ ws: Workspace) -> Bool { ws.bf16 && ws.mode.forwardOnly }

    /// What a direct convolution's sampling pass on the bf16 backend adds to
    /// the float path: the weights, packed as for the float tile, paired and
    /// rounded to bfloat16 (once, cached with the float packing); per image,
    /// `pairs` pair planes of `planeLen` after the thread's float scratch
    /// (the 3x3 convolution builds them straight from its input,
    /// `loadPairPlanes`; the others pair the float planes they build, `pack`);
    /// and a bfloat16 tile in place of the float one: AMX's where the CPU
    /// has it (amx.h), else vdpbf16ps' (bf16.h).
    struct PairTaps {
        /// The weights as pairs: [blocks][pairs][taps][4] for the vdpbf16ps
        /// tile, or the AMX tile's packing (amx.h) where `amxChunk` > 0.
        let weights: UnsafePointer<UInt32>
        let cin: Int, pairs: Int, taps: Int, planeLen: Int
        /// Floats of the thread's scratch before the pair planes (the float path's).
        let after: Int
        /// Pairs one AMX tile multiply takes (0: the vdpbf16ps tile runs).
        let amxChunk: Int
        /// Output channels of the weights (4 per block).
        let cout: Int

        /// Blocks of 4 output channels one `run` computes at most.
        var group: Int { DirectConv.pairGroup(amxChunk: amxChunk) }

        /// Floats of per-thread scratch the pair planes add.
        var scratch: Int { pairs * planeLen }

        /// The thread's pair planes.
        func planes(_ scratch: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<UInt32> {
            UnsafeMutableRawPointer(scratch + after).assumingMemoryBound(to: UInt32.self)
        }

        /// Pairs the cin float planes at x (`stride` apart, `valid` floats each)
        /// into the thread's pair planes.
        func pack(_ x: UnsafePointer<Float>, stride: Int, valid: Int, scratch: UnsafeMutablePointer<Float>) {
            ddpm_bf16_pack_planes(x, stride, valid, cin, planes(scratch), planeLen)
        }

        /// Image b's cin channels of x [cin, N, h, w] (through GroupNorm + SiLU
        /// where `f` is given) straight into the thread's pair planes of a 3x3
        /// convolution's geometry `g` (padding 1, AVX-512 granules): what
        /// loadPlanes and `pack` make, in one pass.
        func loadPairPlanes(_ x: UnsafePointer<Float>, n: Int, b: Int, _ g: Geometry, affineSiLU f: AffineSiLU?,
                            scratch: UnsafeMutablePointer<Float>) {
            let hw = g.h * g.w, out = planes(scratch)
            for p in 0..<pairs {
                let k0 = (2 * p) * n + b, k1 = (2 * p + 1) * n + b, odd = 2 * p + 1 >= cin
                Elementwise512.packPairPlane(x + k0 * hw, odd ? nil : x + k1 * hw, h: g.h, w: g.w, silu: f != nil,
                                             a0: f?.a[k0] ?? 0, b0: f?.b[k0] ?? 0, tb0: f?.tb[k0] ?? 0,
                                             a1: odd ? 0 : f?.a[k1] ?? 0, b1: odd ? 0 : f?.b[k1] ?? 0, tb1: odd ? 0 : f?.tb[k1] ?? 0,
                                             into: out + p * planeLen, planeLen: planeLen)
            }
        }

        /// The tile for weight blocks block..<block + count (1 to `group`)
        /// over `wideLen` positions into out (4 count rows of wideLen), the taps at offs.
        func run(_ scratch: UnsafeMutablePointer<Float>, offs: UnsafePointer<Int>, wideLen: Int, block: Int,
                 count: Int, out: UnsafeMutablePointer<Float>) {
            if count < 1 || count > group { fatalError("bfloat16 tile: \(count) blocks in one run, at most \(group)") }
            if amxChunk > 0 {
                ddpm_amx_conv_taps(planes(scratch), planeLen, offs, taps, pairs, amxChunk, wideLen,
                                   weights + block * 4 * 16, cout, 4 * count, out)
                return
            }
            for i in 0..<count {
                ddpm_bf16_conv_taps(planes(scratch), planeLen, offs, taps, pairs, wideLen,
                                    weights + (block + i) * pairs * taps * 4, out + i * 4 * wideLen)
            }
        }

        /// For the tiles `coTiles` of image b, in runs of at most `group`:
        /// the tile into wideOut (4 group rows), then y (=, or += with
        /// `accumulate`) its rows plus the bias (DirectConv.store).
        func runAndStore(_ scratch: UnsafeMutablePointer<Float>, offs: UnsafePointer<Int>, _ g: Geometry, coTiles: Range<Int>,
                         wideOut: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>,
                         n: Int, b: Int, accumulate: Bool) {
            var t0 = coTiles.lowerBound
            while t0 < coTiles.upperBound {
                let count = min(group, coTiles.upperBound - t0)
                for t in t0..<(t0 + count) { prefetchOutput(y, g, tile: t, n: n, b: b) }
                run(scratch, offs: offs, wideLen: g.wideLen, block: t0, count: count, out: wideOut)
                for i in 0..<count {
                    store(wideOut + i * 4 * g.wideLen, g, bias: bias, tile: t0 + i, y: y, n: n, b: b, accumulate: accumulate)
                }
                t0 += count
            }
        }
    }

    /// Whether this process runs AMX tiles (asked of the CPU and the kernel once).
    static let amx = ddpm_amx_enable() != 0

    /// Pairs one AMX tile multiply takes for cin input channels on this
    /// workspace's pass (0: the vdpbf16ps tile, or no bfloat16 at all).
    static func amxChunk(_ ws: Workspace, cin: Int) -> Int {
        bf16Applies(ws) && amx ? ddpm_amx_chunk((cin + 1) / 2) : 0
    }

    /// Blocks of 4 output channels one run of the bfloat16 tile computes at
    /// most: 4 on AMX (the tiles' 16 rows, `amxChunk` > 0), else 1.
    static func pairGroup(amxChunk: Int) -> Int { amxChunk > 0 ? 4 : 1 }

    /// Output rows of scratch a convolution with cin input channels needs
    /// for one run of the tile (4 a block).
    static func outRows(_ ws: Workspace, cin: Int) -> Int { 4 * pairGroup(amxChunk: amxChunk(ws, cin: cin)) }

    /// The bf16 sampling pass's additions for a convolution whose float
    /// weights `wpk` are packed [blocks][cin][taps][4], or nil where it does
    /// not apply (bf16Applies). The tile reads wideLen + max(offs) elements
    /// of each pair plane (`offs`: every tap offset the convolution uses)
    /// from whole granules: checked once here, as the Winograd path does
    /// (-Ounchecked drops preconditions).
    static func pairTaps(_ ws: Workspace, packed wpk: UnsafePointer<Float>, blocks: Int, cin: Int, taps: Int,
                         offs: UnsafeMutableBufferPointer<Int>, wideLen: Int, planeLen: Int,
                         after: Int) -> PairTaps? {
        guard bf16Applies(ws) else { return nil }
        var reach = wideLen
        for o in offs { reach = max(reach, wideLen + o) }
        if wideLen % Int(DDPM_BF16_GRANULE) != 0 || DirectConv512.granule != Int(DDPM_BF16_GRANULE) || reach > planeLen {
            fatalError("bfloat16 tile: \(wideLen) positions, reach \(reach) in planes of \(planeLen)")
        }
        let np = (cin + 1) / 2, kp = amxChunk(ws, cin: cin)
        let p: UnsafePointer<Float>
        if kp > 0 {
            p = ws.packed(wpk, count: np / kp * taps * blocks * 4 * 16, slot: 2) {
                ddpm_amx_pack_weights(wpk, blocks, cin, taps, kp, UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt32.self))
            }
        } else {
            p = ws.packed(wpk, count: blocks * np * taps * 4, slot: 1) {
                ddpm_bf16_pair_packed(wpk, blocks, cin, taps, UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt32.self))
            }
        }
        return PairTaps(weights: UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self), cin: cin, pairs: np,
                        taps: taps, planeLen: planeLen, after: after, amxChunk: kp, cout: 4 * blocks)
    }

    /// The 3x3 stride-1 convolution's sampling pass on the bf16 backend:
    /// y (=, or += with `accumulate`) conv(x) + bias as `forward` computes
    /// it, through PairTaps; the bias is added in float.
    static func forwardBF16(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                            ws: Workspace, accumulate: Bool, affineSiLU: AffineSiLU?) {
        let g = Geometry(h: h, w: w, pad: 1, wide: true)
        let wpk = ws.packed(weight, count: cout * cin * 9) { pack(weight, cin: cin, cout: cout, into: $0) }
        // The thread's scratch: the tile's output rows, then the pair planes (no float planes).
        let floats = outRows(ws, cin: cin) * g.wideLen
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { offs in
            for t in 0..<9 { offs[t] = (t / 3) * g.wp + t % 3 }
            let pt = pairTaps(ws, packed: wpk, blocks: cout / 4, cin: cin, taps: 9, offs: offs,
                              wideLen: g.wideLen, planeLen: g.planeLen, after: floats)!
            parallel(n: n, tiles: cout / 4, scratch: floats + pt.scratch, ws: ws) { th, images, coTiles in
                let wideOut = ws.cols[th].ptr
                for b in images {
                    pt.loadPairPlanes(x, n: n, b: b, g, affineSiLU: affineSiLU, scratch: wideOut)
                    pt.runAndStore(wideOut, offs: offs.baseAddress!, g, coTiles: coTiles, wideOut: wideOut, bias: bias, y: y,
                                   n: n, b: b, accumulate: accumulate)
                }
            }
        }
    }
}
