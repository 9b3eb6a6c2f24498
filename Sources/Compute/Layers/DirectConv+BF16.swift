// DirectConv+BF16.swift: the bf16 backend's convolutions for sampling passes (the bfloat16 tile of CSIMD).
import CSIMD

extension DirectConv {
    /// A U-Net's sampling pass on the bf16 backend (no backward follows).
    static func bf16Applies(_ ws: Workspace) -> Bool { ws.bf16 && ws.mode.forwardOnly }

    /// Input-channel pairs: the bfloat16 tile reads two channels per 32-bit element.
    @inline(__always) static func pairs(_ cin: Int) -> Int { (cin + 1) / 2 }

    /// Floats of per-thread scratch: the float planes, their bfloat16 pairs
    /// (one 32-bit element per position and pair) and one tile's output.
    static func scratchFloatsBF16(cin: Int, h: Int, w: Int) -> Int {
        let g = Geometry(h: h, w: w, pad: 1, wide: true)
        return (cin + pairs(cin)) * g.planeLen + 4 * g.wideLen
    }

    /// y (=, or += with `accumulate`) conv(x) + bias as `forward`, with each
    /// image's planes (built as for the float kernel, GroupNorm + SiLU
    /// applied) and the weights rounded to bfloat16, products summed in
    /// float (ddpm_bf16_conv3x3); the bias is added in float.
    static func forwardBF16(weight: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int, cout: Int,
                            x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int,
                            ws: Workspace, accumulate: Bool, affineSiLU: AffineSiLU?) {
        let np = pairs(cin), g = Geometry(h: h, w: w, pad: 1, wide: true)
        let packed = ws.packed(weight, count: cout * np * 9, slot: 1) {
            ddpm_bf16_pack_weights(weight, cin, cout, 9, UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt32.self))
        }
        let wpk = UnsafeRawPointer(packed).assumingMemoryBound(to: UInt32.self)
        parallel(n: n, tiles: cout / 4, scratch: scratchFloatsBF16(cin: cin, h: h, w: w), ws: ws) { th, images, coTiles in
            let xp = ws.cols[th].ptr
            let xb = UnsafeMutableRawPointer(xp + cin * g.planeLen).assumingMemoryBound(to: UInt32.self)
            let wideOut = xp + (cin + np) * g.planeLen
            for b in images {
                loadPlanes(x, n: n, b: b, cin: cin, g, into: xp, affineSiLU: affineSiLU)
                ddpm_bf16_pack_planes(xp, g.planeLen, g.planeLen, cin, xb, g.planeLen)
                for t in coTiles {
                    prefetchOutput(y, g, tile: t, n: n, b: b)
                    ddpm_bf16_conv3x3(xb, g.planeLen, g.wp, np, g.wideLen, wpk + t * np * 36, wideOut)
                    store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
                }
            }
        }
    }

    /// The tap kernel's float packing `wpk` ([blocks][cin][taps][4], as the
    /// strided, transposed and 1x1 convolutions pack their weights) as
    /// bfloat16 pairs, cached with it.
    static func pairPacked(_ wpk: UnsafePointer<Float>, blocks: Int, cin: Int, taps: Int,
                           ws: Workspace) -> UnsafePointer<UInt32> {
        let p = ws.packed(wpk, count: blocks * pairs(cin) * taps * 4, slot: 1) {
            ddpm_bf16_pair_packed(wpk, blocks, cin, taps, UnsafeMutableRawPointer($0).assumingMemoryBound(to: UInt32.self))
        }
        return UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self)
    }

    /// Where a tap convolution's bfloat16 pairs go in a thread's scratch:
    /// after `floats` floats, `pairs(cin)` planes of `planeLen`.
    static func pairPlanes(_ scratch: UnsafeMutablePointer<Float>, after floats: Int) -> UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(scratch + floats).assumingMemoryBound(to: UInt32.self)
    }
}
