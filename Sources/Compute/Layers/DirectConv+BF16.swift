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
        /// The weights as pairs, [blocks][pairs][taps][4].
        let weights: UnsafePointer<UInt32>
        let cin: Int, pairs: Int, taps: Int, planeLen: Int
        /// Floats of the thread's scratch before the pair planes (the float path's).
        let after: Int

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

        /// The tile for weight block `block` over `wideLen` positions into out
        /// (4 rows of wideLen), the taps at offs.
        func run(_ scratch: UnsafeMutablePointer<Float>, offs: UnsafePointer<Int>, wideLen: Int, block: Int,
                 out: UnsafeMutablePointer<Float>) {
            ddpm_bf16_conv_taps(planes(scratch), planeLen, offs, taps, pairs, wideLen,
                                weights + block * pairs * taps * 4, out)
        }
    }

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
        let np = (cin + 1) / 2
        let p = ws.packed(wpk, count: blocks * np * taps * 4, slot: 1) {
            ddpm_bf16_pair_packed(wpk, blocks, cin, taps, UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt32.self))
        }
        return PairTaps(weights: UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self), cin: cin, pairs: np,
                        taps: taps, planeLen: planeLen, after: after)
    }

    /// The 3x3 stride-1 convolution's sampling pass on the bf16 backend:
    /// y (=, or += with `accumulate`) conv(x) + bias as `forward` computes
    /// it, through PairTaps; the bias is added in float.
    static func forwardBF16(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                            ws: Workspace, accumulate: Bool, affineSiLU: AffineSiLU?) {
        let g = Geometry(h: h, w: w, pad: 1, wide: true)
        let wpk = ws.packed(weight, count: cout * cin * 9) { pack(weight, cin: cin, cout: cout, into: $0) }
        let floats = g.scratchFloats(cin: cin, outs: 4)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 9) { offs in
            for t in 0..<9 { offs[t] = (t / 3) * g.wp + t % 3 }
            let pt = pairTaps(ws, packed: wpk, blocks: cout / 4, cin: cin, taps: 9, offs: offs,
                              wideLen: g.wideLen, planeLen: g.planeLen, after: floats)!
            parallel(n: n, tiles: cout / 4, scratch: floats + pt.scratch, ws: ws) { th, images, coTiles in
                let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
                for b in images {
                    loadPlanes(x, n: n, b: b, cin: cin, g, into: xp, affineSiLU: affineSiLU)
                    pt.pack(xp, stride: g.planeLen, valid: g.planeLen, scratch: xp)
                    for t in coTiles {
                        prefetchOutput(y, g, tile: t, n: n, b: b)
                        pt.run(xp, offs: offs.baseAddress!, wideLen: g.wideLen, block: t, out: wideOut)
                        store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
                    }
                }
            }
        }
    }
}
