// DirectConv+Pointwise.swift: the direct 1x1 convolution (the tap kernel with one tap).
import CBLIS
import Dispatch
import Foundation
import Kernels512
import SIMDMath

extension DirectConv {
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
        // On the bf16 backend's sampling pass, each image's channels are paired
        // straight from x (wideLen each, zeros past hw).
        let floats = g.scratchFloats(cin: cin, outs: outRows(ws, cin: cin))
        let pt = withUnsafeMutablePointer(to: &zero) {
            pairTaps(ws, packed: wpk, blocks: tiles, cin: cin, taps: 1, offs: UnsafeMutableBufferPointer(start: $0, count: 1),
                     wideLen: g.wideLen, planeLen: g.wideLen, after: floats)
        }
        parallel(n: n, tiles: tiles, scratch: floats + (pt?.scratch ?? 0), ws: ws) { th, images, coTiles in
            let xp = ws.cols[th].ptr, wideOut = xp + cin * g.planeLen
            for b in images {
                if let pt {
                    pt.pack(x + b * hw, stride: n * hw, valid: hw, scratch: xp)
                    pt.runAndStore(xp, offs: &zero, g, coTiles: coTiles, wideOut: wideOut, bias: bias, y: y, n: n, b: b,
                                   accumulate: accumulate)
                    continue
                }
                // The kernel reads wideLen (a granule multiple) floats from each plane's
                // start: in place where that stays inside x (the last channel's
                // reads end the buffer). Else, with AVX-512, in place up to the
                // last whole granule and the rest from a copy; with AVX2 all from a copy.
                var src = x + b * hw, planeLen = n * hw
                if b * hw + g.wideLen > n * hw {
                    if g.wide {
                        pointwiseSplit(wpk: wpk, bias: bias, cin: cin, x: src, planeLen: planeLen, hw: hw,
                                       coTiles: coTiles, scratch: xp, y: y + b * hw, n: n, accumulate: accumulate)
                        continue
                    }
                    loadPlanes(x, n: n, b: b, cin: cin, g, into: xp)
                    src = UnsafePointer(xp); planeLen = g.planeLen
                }
                for t in coTiles {
                    prefetchOutput(y, g, tile: t, n: n, b: b)
                    taps(xp: src, planeLen: planeLen, offs: &zero, taps: 1, cin: cin, wideLen: g.wideLen,
                         wpk: wpk + t * cin * 4, out: wideOut, wide: g.wide)
                    store(wideOut, g, bias: bias, tile: t, y: y, n: n, b: b, accumulate: accumulate)
                }
            }
        }
    }
}

extension DirectConv {
    /// One image of `pointwise` (AVX-512) whose wideLen reads would pass x's
    /// end (planes `planeLen` apart from x): positions 0..<main (the whole
    /// granules of hw) are read in place, the last hw - main from a copy of
    /// each plane's tail. Each output adds the same terms in the same order
    /// as from a full copy; y points at the image's first channel.
    static func pointwiseSplit(wpk: UnsafePointer<Float>, bias: UnsafePointer<Float>, cin: Int,
                               x: UnsafePointer<Float>, planeLen: Int, hw: Int, coTiles: Range<Int>,
                               scratch: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, n: Int,
                               accumulate: Bool) {
        let gran = DirectConv512.granule, main = hw / gran * gran, rest = hw - main
        // Scratch: the tails' planes (cin x gran), then the outputs (4 x main, 4 x gran).
        let tails = scratch, mainOut = tails + cin * gran, tailOut = mainOut + 4 * main
        if rest > 0 {
            for ci in 0..<cin {
                let s = x + ci * planeLen + main, d = tails + ci * gran
                for i in 0..<rest { d[i] = s[i] }
                for i in rest..<gran { d[i] = 0 }
            }
        }
        var zero = 0
        for t in coTiles {
            if main > 0 {
                DirectConv512.kernelTaps(xp: x, planeLen: planeLen, offs: &zero, taps: 1, cin: cin, wideLen: main,
                                         wpk: wpk + t * cin * 4, out: mainOut)
            }
            if rest > 0 {
                DirectConv512.kernelTaps(xp: tails, planeLen: gran, offs: &zero, taps: 1, cin: cin, wideLen: gran,
                                         wpk: wpk + t * cin * 4, out: tailOut)
            }
            for j in 0..<4 {
                let co = t * 4 + j, dst = y + co * n * hw
                if main > 0 {
                    Elementwise512.storeRows(mainOut + j * main, dst, h: 1, w: main, wp: main, bias: bias[co],
                                             accumulate: accumulate)
                }
                if rest > 0 {
                    Elementwise512.storeRows(tailOut + j * gran, dst + main, h: 1, w: rest, wp: gran, bias: bias[co],
                                             accumulate: accumulate)
                }
            }
        }
    }

    /// Whether `pointwiseWeightGrad` runs for a 1x1 convolution: a direct
    /// backend, and both channel counts multiples of 4.
    static func pointwiseWeightGradApplies(backend: Backend, cin: Int, cout: Int) -> Bool {
        backend.direct && cin % 4 == 0 && cout % 4 == 0
    }

    /// dW [cout, cin] += dy [cout, P] x [cin, P]^T for a 1x1 convolution, P =
    /// n h w (each channel's batch is one contiguous row in the [C, N, H, W]
    /// layout): DirectConv512.dot4x4 (AVX2: two `dot4x2`) on 4 x 4 blocks of dW, the blocks dealt to
    /// the cores, the positions in runs of `run` so that the rows of one run
    /// (read again by every block of the same input or output channels) stay
    /// in cache. Each dW entry adds its runs in order on one core, so the
    /// result does not depend on the number of cores.
    static func pointwiseWeightGrad(x: UnsafePointer<Float>, dy: UnsafePointer<Float>, positions: Int,
                                    cin: Int, cout: Int, wide: Bool, into dW: UnsafeMutablePointer<Float>) {
        let run = 2048, inBlocks = cin / 4, blocks = (cout / 4) * inBlocks
        let threads = min(Parallel.cores, blocks)
        Parallel.run(threads) { th in
            var p0 = 0
            while p0 < positions {
                let len = min(run, positions - p0)
                var blk = th
                while blk < blocks {
                    let cb = blk / inBlocks, ib = blk % inBlocks
                    let a = dy + 4 * cb * positions + p0, b = x + 4 * ib * positions + p0, o = dW + 4 * cb * cin + 4 * ib
                    if wide {
                        DirectConv512.dot4x4(a: a, lda: positions, b: b, ldb: positions, len: len, out: o, ldo: cin)
                    } else {
                        dot4x2(a: a, lda: positions, b: b, ldb: positions, len: len, out: o, ldo: cin)
                        dot4x2(a: a, lda: positions, b: b + 2 * positions, ldb: positions, len: len, out: o + 2, ldo: cin)
                    }
                    blk += threads
                }
                p0 += run
            }
        }
    }

    /// dx [cin, N, H, W] (+= or, with `overwrite`, =) W^T dy for a 1x1
    /// convolution: the direct 1x1 kernel with the weights transposed and in
    /// and out swapped (cin a multiple of 4).
    static func pointwiseData(weight: UnsafePointer<Float>, cin: Int, cout: Int, dy: UnsafePointer<Float>,
                              dx: UnsafeMutablePointer<Float>, n: Int, h: Int, w: Int, ws: Workspace, overwrite: Bool) {
        ws.flip.reserve(cout * cin)
        let wt = ws.flip.ptr
        for co in 0..<cout { for ci in 0..<cin { wt[ci * cout + co] = weight[co * cin + ci] } }
        pointwise(weight: wt, bias: ws.zeros(cin), cin: cout, cout: cin, x: dy, y: dx, n: n, h: h, w: w,
                  ws: ws, accumulate: !overwrite)
    }
}
