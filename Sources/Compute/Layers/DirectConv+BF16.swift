// DirectConv+BF16.swift: the bf16 backend's convolutions for sampling passes (the bfloat16 tile of CSIMD's bf16.h).
import CSIMD
import Kernels512

extension DirectConv {
    /// A U-Net's sampling pass on the bf16 backend (no backward follows).
    static func bf16Applies(_ ws: Workspace) -> Bool { ws.bf16 && ws.mode.forwardOnly }

    /// What a direct convolution's sampling pass on the bf16 backend adds to
    /// the float path: the weights, packed as for the float tile, paired and
    /// rounded to bfloat16 (once, cached with the float packing); per image,
    /// the float planes the float path builds (GroupNorm + SiLU applied)
    /// paired and rounded into `pairs` planes of `planeLen` after the
    /// thread's float scratch; and the bfloat16 tile in place of the float one.
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

        /// Blocks of 4 output channels one `run` computes at most: 4 (an AMX
        /// tile's 16 rows) on AMX, else 1.
        var group: Int { amxChunk > 0 ? 4 : 1 }

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
        /// convolution's geometry `g` (padding 1): what loadPlanes and `pack` make, in one pass.
        func pack(_ x: UnsafePointer<Float>, n: Int, b: Int, _ g: Geometry, affineSiLU f: AffineSiLU?,
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

        /// The tile for weight blocks block..<block + count (count <= group)
        /// over `wideLen` positions into out (4 count rows of wideLen), the taps at offs.
        func run(_ scratch: UnsafeMutablePointer<Float>, offs: UnsafePointer<Int>, wideLen: Int, block: Int,
                 count: Int = 1, out: UnsafeMutablePointer<Float>) {
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

        /// Runs body(first block, count) over `tiles` in runs of at most `group` blocks.
        func groups(_ tiles: Range<Int>, _ body: (Int, Int) -> Void) {
            var t = tiles.lowerBound
            while t < tiles.upperBound {
                let count = min(group, tiles.upperBound - t)
                body(t, count)
                t += count
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

    /// Output rows of scratch a convolution with cin input channels needs
    /// for one run of the tile: 16 where the AMX tile computes 16 output
    /// channels at once, else 4.
    static func outRows(_ ws: Workspace, cin: Int) -> Int { amxChunk(ws, cin: cin) > 0 ? 16 : 4 }

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
        let floats = g.scratchFloats(cin: cin, outs: outRows(ws, cin: cin))
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { offs in
            for t in 0..<9 { offs[t] = (t / 3) * g.wp + t % 3 }
            let pt = pairTaps(ws, packed: wpk, blocks: cout / 4, cin: cin, taps: 9, offs: offs,
                              wideLen: g.wideLen, planeLen: g.planeLen, after: floats)!
            parallel(n: n, tiles: cout / 4, scratch: floats + pt.scratch, ws: ws) { th, images, coTiles in
                let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
                for b in images {
                    pt.pack(x, n: n, b: b, g, affineSiLU: affineSiLU, scratch: xp)
                    pt.groups(coTiles) { t0, count in
                        for t in t0..<(t0 + count) { prefetchOutput(y, g, tile: t, n: n, b: b) }
                        pt.run(xp, offs: offs.baseAddress!, wideLen: g.wideLen, block: t0, count: count, out: wideOut)
                        for i in 0..<count {
                            store(wideOut + i * 4 * g.wideLen, g, bias: bias, tile: t0 + i, y: y, n: n, b: b, accumulate: accumulate)
                        }
                    }
                }
            }
        }
    }
}
