import XCTest
@testable import Compute
@testable import Engine

final class LayerGradientTests: XCTestCase {
    /// Finite-difference checks of every convolution kernel on every backend:
    /// the cases reach the direct 3x3 forward and data gradient (and, 8x8 on
    /// AVX-512, training's Winograd path for both), the AVX-512
    /// weight gradient (cout 16), the direct stride-2 and 1x1 kernels (cout a
    /// multiple of 4), and the GEMM paths (cout 3).
    func testConv2dVariants() {
        let cases = [(3, 1, 1, 3, 4, 6, 2), (3, 1, 1, 4, 8, 5, 2), (3, 1, 1, 4, 8, 5, 1), (3, 1, 1, 4, 16, 5, 3),
                     (3, 1, 1, 3, 3, 6, 2), (3, 2, 1, 2, 3, 7, 2), (1, 1, 0, 5, 3, 4, 2), (3, 2, 1, 2, 2, 8, 2),
                     (3, 2, 1, 2, 4, 7, 2), (3, 2, 1, 4, 8, 8, 1), (1, 1, 0, 5, 8, 4, 2), (1, 1, 0, 4, 4, 5, 1),
                     (3, 2, 1, 2, 16, 7, 2), (3, 2, 1, 4, 16, 6, 1), (3, 1, 1, 4, 8, 8, 2)]
        forEachBackend { backend in
            for (k, s, p, cin, cout, hw, n) in cases {
                var L = ParameterLayout()
                let conv = Conv2d(&L, "c", cin: cin, cout: cout, k: k, stride: s, pad: p)
                let params = randomBuffer(L.count, seed: 1, scale: 0.5)
                let x = randomBuffer(cin * n * hw * hw, seed: 2)
                let ho = conv.outSize(hw)
                let ws = Workspace(backend: backend, unet: true)
                let y = FloatBuffer(count: cout * n * ho * ho)
                GradCheck().check(params: params, paramCount: L.count, input: x, inputCount: cin * n * hw * hw,
                    "\(backend.rawValue) k\(k) s\(s) \(cin)->\(cout) \(hw)x\(hw) n\(n)",
                    forward: { pp, xx in
                        conv.forward(pp, x: xx, y: y.ptr, n: n, h: hw, w: hw, ws: ws)
                        return y.array(cout * n * ho * ho)
                    },
                    backward: { pp, xx, dy, gp, gx in
                        conv.backward(pp, gp, x: xx, dy: dy, dx: gx, n: n, h: hw, w: hw, ws: ws)
                    })
            }
        }
    }

    /// Each direct backend's 3x3 kernel agrees with the reference backend's
    /// im2col + GEMM (forward, input and weight gradients, all three adding
    /// onto what the buffers held), for batch 1 (channel tiles split across
    /// threads) and batch 3 (images across threads). The weight gradient
    /// takes the direct path too: on AVX-512 for any channel counts (1 -> 16,
    /// 16 -> 1, 8 -> 20, 4 -> 5 as well), on AVX2 for output channels in 8s
    /// (odd widths end each row with a single position). Widths 2 to 40: output rows copied
    /// one float at a time, in 4-, 8- and 16-float vectors, and past 32 wide.
    func testDirectConvMatchesIm2col() {
        func run(_ backend: Backend, n: Int, h: Int, w: Int, cin: Int = 16, cout: Int = 32, withDx: Bool = true) -> [Float] {
            var L = ParameterLayout()
            let conv = Conv2d(&L, "c", cin: cin, cout: cout, k: 3, pad: 1)
            let inLen = cin * n * h * w, outLen = cout * n * h * w
            let params = randomBuffer(L.count, seed: 31, scale: 0.3)
            let x = randomBuffer(inLen, seed: 32), dy = randomBuffer(outLen, seed: 33)
            let ws = Workspace(backend: backend)
            let y = randomBuffer(outLen, seed: 34)     // accumulate onto something
            conv.forward(params.ptr, x: x.ptr, y: y.ptr, n: n, h: h, w: w, ws: ws, accumulate: true)
            let g = randomBuffer(L.count, seed: 35), dx = randomBuffer(inLen, seed: 36)
            conv.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: withDx ? dx.ptr : nil, n: n, h: h, w: w, ws: ws)
            return y.array(outLen) + dx.array(inLen) + g.array(L.count)
        }
        forEachBackend([.avx2, .avx512]) { backend in
            // (batch, height, width, in, out, dx): the U-Net's input (1 -> 16,
            // no dx) and output (16 -> 1) convolutions, channel counts that
            // fill neither a 3-channel weight-gradient block nor a 4-channel
            // tile, and output channels in 32s (weightGrad32: 16 -> 32, 6 -> 64).
            let cases = [(1, 14, 14, 16, 32, true), (3, 7, 7, 16, 32, true), (2, 5, 5, 16, 32, true),
                         (3, 28, 28, 1, 16, false), (2, 28, 28, 16, 1, true), (3, 7, 7, 8, 20, true),
                         (1, 14, 14, 4, 5, false), (2, 28, 28, 16, 16, false),
                         (2, 3, 40, 8, 16, true), (1, 5, 33, 16, 16, true), (3, 6, 2, 4, 8, true), (2, 4, 9, 8, 4, true),
                         (3, 7, 7, 6, 64, true)]
            for (n, h, w, cin, cout, withDx) in cases {
                let want = run(.reference, n: n, h: h, w: w, cin: cin, cout: cout, withDx: withDx)
                let got = run(backend, n: n, h: h, w: w, cin: cin, cout: cout, withDx: withDx)
                // y, dx and the weight gradient each against its own scale.
                let outLen = cout * n * h * w, inLen = cin * n * h * w
                for (name, r) in [("y", 0..<outLen), ("dx", outLen..<(outLen + inLen)), ("dW", (outLen + inLen)..<want.count)] {
                    assertClose(Array(want[r]), Array(got[r]), rtol: 2e-6,
                                "\(backend.rawValue) \(cin)->\(cout) n=\(n) \(h)x\(w) \(name) against the reference")
                }
            }
        }
    }

    /// Training's Winograd F(2x2, 3x3) path (on each direct backend: AVX-512
    /// and AVX2; even sizes 8 to 32 wide) against the reference backend's im2col + GEMM and against the
    /// direct kernel that every other mode runs: forward adding onto y, the
    /// data gradient adding onto dx, both again writing over NaN, and
    /// the weight and bias gradients from dy and x (the weight gradient on
    /// AVX2 through Winograd as well, on AVX-512 through the direct kernels). Shapes: the U-Net's 28x28 and 14x14
    /// (one and two tile rows per vector), 32 and 16 wide (every lane a tile),
    /// 18 wide (9 tiles a row), 8 wide and 2 high (one tile row), odd tile
    /// rows with two per vector (10 high), a batch of 1 (channel tiles split
    /// over the cores) and of 3.
    func testWinogradMatchesDirectAndReference() throws {
        func run(_ backend: Backend, _ mode: ForwardMode, n: Int, h: Int, w: Int, cin: Int, cout: Int) -> [Float] {
            var L = ParameterLayout()
            let conv = Conv2d(&L, "c", cin: cin, cout: cout, k: 3, pad: 1)
            let inLen = cin * n * h * w, outLen = cout * n * h * w
            let params = randomBuffer(L.count, seed: 51, scale: 0.3)
            let x = randomBuffer(inLen, seed: 52), dy = randomBuffer(outLen, seed: 53)
            let ws = Workspace(backend: backend, unet: true)
            ws.mode = mode
            XCTAssertEqual(DirectConv.winogradApplies(ws, h: h, w: w), backend != .reference && mode == .training)
            let y = randomBuffer(outLen, seed: 54), dx = randomBuffer(inLen, seed: 55), g = FloatBuffer(count: L.count)
            g.zero(L.count)
            conv.forward(params.ptr, x: x.ptr, y: y.ptr, n: n, h: h, w: w, ws: ws, accumulate: true)
            conv.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: dx.ptr, n: n, h: h, w: w, ws: ws)
            // And writing (=) over NaN: no output float may keep a NaN or depend on one.
            let y2 = FloatBuffer(count: outLen), dx2 = FloatBuffer(count: inLen), g2 = FloatBuffer(count: L.count)
            y2.ptr.update(repeating: .nan, count: outLen); dx2.ptr.update(repeating: .nan, count: inLen)
            g2.zero(L.count)
            conv.forward(params.ptr, x: x.ptr, y: y2.ptr, n: n, h: h, w: w, ws: ws)
            conv.backward(params.ptr, g2.ptr, x: x.ptr, dy: dy.ptr, dx: dx2.ptr, n: n, h: h, w: w, ws: ws,
                          overwriteDx: true)
            return y.array(outLen) + dx.array(inLen) + g.array(L.count) + y2.array(outLen) + dx2.array(inLen)
        }
        let cases = [(2, 28, 28, 16, 16), (1, 14, 14, 32, 32), (3, 14, 14, 32, 16), (2, 6, 32, 8, 8), (1, 16, 16, 8, 12),
                     (2, 18, 18, 4, 8), (3, 2, 8, 4, 4), (2, 10, 12, 8, 4), (1, 28, 28, 48, 16),
                     (2, 12, 12, 6, 8), (2, 8, 8, 8, 1),
                     (2 * Parallel.cores + 1, 28, 28, 8, 8), (2 * Parallel.cores + 1, 14, 14, 4, 4)]
        // Then: 6 input channels send dx through the GEMM path; 1 output
        // channel sends the forward through it, and dx (8 <- 1) through Winograd.
        // The last two, on any core count, give the AVX2 weight gradient groups
        // of more than one image, one and two tile rows to a vector, and a
        // last group of fewer images.
        try forEachBackend([.avx2, .avx512]) { backend in
            for (n, h, w, cin, cout) in cases {
                let what = "\(backend.rawValue) \(cin)->\(cout) n=\(n) \(h)x\(w)"
                let want = run(.reference, .training, n: n, h: h, w: w, cin: cin, cout: cout)
                let winograd = run(backend, .training, n: n, h: h, w: w, cin: cin, cout: cout)
                let direct = run(backend, .evaluation, n: n, h: h, w: w, cin: cin, cout: cout)
                let outLen = cout * n * h * w, inLen = cin * n * h * w
                let gEnd = want.count - outLen - inLen
                for (name, r) in [("y", 0..<outLen), ("dx", outLen..<(outLen + inLen)), ("dW", (outLen + inLen)..<gEnd),
                                  ("y (=)", gEnd..<(gEnd + outLen)), ("dx (=)", (gEnd + outLen)..<want.count)] {
                    assertClose(Array(want[r]), Array(winograd[r]), rtol: 2e-6, "Winograd \(what) \(name) against the reference")
                    assertClose(Array(direct[r]), Array(winograd[r]), rtol: 2e-6, "Winograd \(what) \(name) against the direct kernel")
                }
                // Its rounding is its own: proof that this path ran, not the direct kernel.
                XCTAssertNotEqual(winograd, direct, what)
                // On AVX2 the weight gradient runs Winograd as well where its blocks fit
                // (4k output, 2k input channels), else the direct kernel or the GEMM.
                let dW = (outLen + inLen)..<gEnd
                let ws = Workspace(backend: backend, unet: true)
                ws.mode = .training
                let winogradDW = DirectConv.winogradWeightGradApplies(ws, h: h, w: w, cin: cin, cout: cout)
                XCTAssertEqual(winogradDW, backend == .avx2 && cout % 4 == 0 && cin % 2 == 0, what)
                // (With dx through the GEMM, 2k but not 4k input channels, dW comes from the GEMM.)
                XCTAssertEqual(Array(winograd[dW]) != Array(direct[dW]), winogradDW && cin % 4 == 0, "\(what): dW from Winograd")
            }
            // Only the U-Net asks for it: a classifier's readings, guidance and
            // training stay on the direct kernel (and so does a plain workspace).
            let unet = try UNet(.tiny, backend: backend), classifier = Classifier(backend: backend)
            XCTAssertTrue(DirectConv.winogradApplies(unet.ws, h: 28, w: 28))
            XCTAssertFalse(DirectConv.winogradApplies(classifier.ws, h: 28, w: 28))
            XCTAssertFalse(DirectConv.winogradApplies(Workspace(backend: backend), h: 28, w: 28))
        }
    }

    /// `overwriteDx` writes dx as adding into zeros would, on every backend,
    /// 3x3 (stride 1 and 2) and 1x1, with the direct input gradient (4 input channels) and
    /// without it (3: zeroed, then the GEMM path); dx starts as NaN.
    func testConvBackwardOverwritesDx() {
        forEachBackend { backend in
            for (cin, k, stride) in [(4, 3, 1), (3, 3, 1), (4, 1, 1), (3, 1, 1), (4, 3, 2), (3, 3, 2)] {
                var L = ParameterLayout()
                let conv = Conv2d(&L, "c", cin: cin, cout: 8, k: k, stride: stride, pad: k / 2)
                let n = 2, h = 6, w = 7, inLen = cin * n * h * w, ho = conv.outSize(h), wo = conv.outSize(w)
                let params = randomBuffer(L.count, seed: 41, scale: 0.3)
                let x = randomBuffer(inLen, seed: 42), dy = randomBuffer(8 * n * ho * wo, seed: 43)
                func dx(overwrite: Bool) -> [Float] {
                    let ws = Workspace(backend: backend), g = FloatBuffer(count: L.count), d = FloatBuffer(count: inLen)
                    g.zero(L.count)
                    d.ptr.update(repeating: overwrite ? .nan : 0, count: inLen)
                    conv.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: d.ptr, n: n, h: h, w: w, ws: ws,
                                  overwriteDx: overwrite)
                    return d.array(inLen)
                }
                let added = dx(overwrite: false)
                XCTAssertTrue(added.allSatisfy { $0.isFinite } && added.contains { $0 != 0 })
                XCTAssertEqual(dx(overwrite: true), added, "\(backend.rawValue) cin=\(cin) k=\(k) stride=\(stride)")
            }
        }
    }

    /// Inference applies GN1 + SiLU + time bias while conv2 builds its planes:
    /// bit-identical to writing GN1's output and convolving it (every backend;
    /// 7x7 takes the per-float row tails), and close to an independent
    /// computation (GroupNorm, SiLU with Foundation's exp, in Double; the
    /// convolution on the reference backend).
    func testFusedGroupNormConvMatchesSeparate() {
        forEachBackend { backend in
            for size in [14, 7] {
                var L = ParameterLayout()
                let block = ResidualBlock(&L, "r", cin: 8, cout: 16, tdim: 12, size: size, groups: 8, dropout: 0.1)
                let n = 3, hw = size * size, len = 16 * n * hw
                let params = randomBuffer(L.count, seed: 51, scale: 0.4)
                let x = randomBuffer(8 * n * hw, seed: 52), stemb = randomBuffer(n * 12, seed: 53)
                let ws = Workspace(backend: backend)
                ws.mode = .inference(packGeneration: 0)
                var rng = RNG(seed: 1)
                block.forward(params.ptr, x: x.ptr, stemb: stemb.ptr, n: n, train: false, rng: &rng, ws: ws)
                ws.mode = .evaluation
                let fused = block.a2.array(len), out = block.out.array(len)
                // The same through GN1's own forward.
                let a1 = FloatBuffer(count: len), s1 = FloatBuffer(count: len), a2 = FloatBuffer(count: len)
                let tb = FloatBuffer(count: n * 16), st = FloatBuffer(count: 2 * n * 8)
                block.timeEmb.forward(params.ptr, x: stemb.ptr, y: tb.ptr, n: n, perRow: true)
                block.conv1.forward(params.ptr, x: x.ptr, y: a1.ptr, n: n, h: size, w: size, ws: ws)
                block.norm1.forward(params.ptr, x: a1.ptr, y: s1.ptr, n: n, hw: hw, mean: st.ptr, rstd: st.ptr + n * 8,
                                    silu: true, backend: ws.backend, tbias: tb.ptr)
                block.conv2.forward(params.ptr, x: s1.ptr, y: a2.ptr, n: n, h: size, w: size, ws: ws)
                XCTAssertEqual(fused, a2.array(len), "\(backend.rawValue) size=\(size)")
                XCTAssertTrue(out.allSatisfy { $0.isFinite })
                // Independently: GN1 (2 channels per group) + time bias + SiLU by hand, reference convolution.
                let ref = FloatBuffer(count: len), a2ref = FloatBuffer(count: len)
                for img in 0..<n {
                    for gi in 0..<8 {
                        var vals: [Double] = []
                        for c in (2 * gi)..<(2 * gi + 2) { for i in 0..<hw { vals.append(Double(a1.ptr[(c * n + img) * hw + i])) } }
                        let mean = vals.reduce(0, +) / Double(vals.count)
                        let variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(vals.count)
                        for c in (2 * gi)..<(2 * gi + 2) {
                            let gamma = Double(params.ptr[block.norm1.w + c]), beta = Double(params.ptr[block.norm1.b + c])
                            for i in 0..<hw {
                                let k = (c * n + img) * hw + i
                                let g = (Double(a1.ptr[k]) - mean) / (variance + 1e-5).squareRoot() * gamma + beta
                                ref.ptr[k] = Float(g / (1 + Foundation.exp(-g)) + Double(tb.ptr[img * 16 + c]))
                            }
                        }
                    }
                }
                block.conv2.forward(params.ptr, x: ref.ptr, y: a2ref.ptr, n: n, h: size, w: size,
                                    ws: Workspace(backend: .reference))
                assertClose(a2ref.array(len), fused, rtol: 2e-5, "\(backend.rawValue) size=\(size) fused vs by hand")
            }
        }
    }

    /// Each direct backend's 1x1, 3x3 stride-2 and transposed 4x4 stride-2
    /// kernels agree with the reference backend's GEMM paths (forward;
    /// accumulate mode for the 1x1; the transposed one's backward too),
    /// images across threads (n = 3) and channel tiles across threads (n = 1).
    func testDirectPointwiseAndTransposedMatchGEMM() {
        // hw = 7: 49 positions, the last image's 1x1 in place for 32 and 17 from
        // a copy; hw = 4: 16 positions, all from a copy.
        func run(_ backend: Backend, n: Int, hw: Int) -> [Float] {
            var L = ParameterLayout()
            let pw = Conv2d(&L, "p", cin: 12, cout: 8, k: 1)
            let sc = Conv2d(&L, "s", cin: 12, cout: 8, k: 3, stride: 2, pad: 1)
            let ct = ConvTranspose2d(&L, "t", cin: 12, cout: 8, k: 4, stride: 2, pad: 1)
            let inLen = 12 * n * hw * hw, pwLen = 8 * n * hw * hw, ctLen = 8 * n * 4 * hw * hw
            let sLen = 8 * n * ((hw + 1) / 2) * ((hw + 1) / 2)
            let params = randomBuffer(L.count, seed: 41, scale: 0.3)
            let x = randomBuffer(inLen, seed: 42)
            let ws = Workspace(backend: backend)
            let y1 = randomBuffer(pwLen, seed: 43), y2 = randomBuffer(ctLen, seed: 44)
            pw.forward(params.ptr, x: x.ptr, y: y1.ptr, n: n, h: hw, w: hw, ws: ws, accumulate: true)
            ct.forward(params.ptr, x: x.ptr, y: y2.ptr, n: n, h: hw, w: hw, ws: ws)
            let y3 = FloatBuffer(count: sLen)
            sc.forward(params.ptr, x: x.ptr, y: y3.ptr, n: n, h: hw, w: hw, ws: ws)
            // The transposed convolution's backward (direct dx: 12 input channels),
            // adding onto what dx and the gradients held.
            let dy = randomBuffer(ctLen, seed: 45), dx = randomBuffer(inLen, seed: 46), g = randomBuffer(L.count, seed: 47)
            ct.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: dx.ptr, n: n, h: hw, w: hw, ws: ws)
            // The 1x1 backward (direct dx and weight gradient, hw n positions: a tail).
            let dyp = randomBuffer(pwLen, seed: 48), dxp = randomBuffer(inLen, seed: 49)
            pw.backward(params.ptr, g.ptr, x: x.ptr, dy: dyp.ptr, dx: dxp.ptr, n: n, h: hw, w: hw, ws: ws)
            return y1.array(pwLen) + y2.array(ctLen) + y3.array(sLen) + dx.array(inLen) + dxp.array(inLen) + g.array(L.count)
        }
        forEachBackend([.avx2, .avx512]) { backend in
            for n in [1, 3] {
                for hw in [4, 7] {
                    assertClose(run(.reference, n: n, hw: hw), run(backend, n: n, hw: hw), rtol: 2e-6,
                                "\(backend.rawValue) n=\(n) \(hw)x\(hw) against the reference GEMM paths")
                }
            }
        }
    }

    /// The 1x1 weight gradient over more positions than one run of the
    /// direct kernel (7 x 27 x 27 = 5103: two whole runs, then 15 past the
    /// last 16), against the reference GEMM and a Double sum by hand.
    func testPointwiseWeightGradientOverLongRows() {
        let cin = 8, cout = 12, n = 7, hw = 27, P = n * hw * hw
        var L = ParameterLayout()
        let pw = Conv2d(&L, "p", cin: cin, cout: cout, k: 1)
        let params = randomBuffer(L.count, seed: 61, scale: 0.3)
        let x = randomBuffer(cin * P, seed: 62), dy = randomBuffer(cout * P, seed: 63)
        func grad(_ backend: Backend) -> [Float] {
            let g = FloatBuffer(count: L.count); g.zero(L.count)
            pw.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: nil, n: n, h: hw, w: hw, ws: Workspace(backend: backend))
            return g.array(L.count)
        }
        var byHand = [Float](repeating: 0, count: cout * cin)
        for co in 0..<cout {
            for ci in 0..<cin {
                var s = 0.0
                for p in 0..<P { s += Double(dy.ptr[co * P + p]) * Double(x.ptr[ci * P + p]) }
                byHand[co * cin + ci] = Float(s)
            }
        }
        let reference = grad(.reference)
        assertClose(byHand, Array(reference[pw.w..<(pw.w + cout * cin)]), rtol: 2e-5, "reference against Double")
        forEachBackend([.avx2, .avx512]) { backend in
            let got = grad(backend)
            assertClose(byHand, Array(got[pw.w..<(pw.w + cout * cin)]), rtol: 2e-5, "\(backend.rawValue) against Double")
            assertClose(reference, got, rtol: 2e-6, "\(backend.rawValue) against the reference GEMM")
        }
    }

    /// The 3x3 stride-2 convolution's backward at the U-Net's shapes (16 ->
    /// 16 at 28x28, 32 -> 32 at 14x14; the direct weight gradient on AVX-512,
    /// and on AVX2 for output channels in 8s), odd sizes (7x7 -> 4x4, 16 and
    /// 32 output channels; 9x9 -> 5x5, 8), without dx, and one image (the whole-batch
    /// path), against the reference backend's GEMMs (dx and dW adding onto
    /// what they held); in training mode and in evaluation mode (one image
    /// per GEMM, as guidance's backward runs).
    func testStridedBackwardMatchesGEMM() {
        for (cin, cout, h, n, withDx) in [(16, 16, 28, 3, true), (32, 32, 14, 3, true), (4, 16, 7, 2, true),
                                          (16, 16, 14, 3, false), (2, 16, 7, 1, true), (4, 32, 7, 2, true),
                                          (8, 8, 9, 2, true)] {
          for mode in [ForwardMode.training, .evaluation] {
            func run(_ backend: Backend) -> [Float] {
                var L = ParameterLayout()
                let conv = Conv2d(&L, "s", cin: cin, cout: cout, k: 3, stride: 2, pad: 1)
                let ho = conv.outSize(h), inLen = cin * n * h * h, outLen = cout * n * ho * ho
                let params = randomBuffer(L.count, seed: 81, scale: 0.3)
                let x = randomBuffer(inLen, seed: 82), dy = randomBuffer(outLen, seed: 83)
                let dx = randomBuffer(inLen, seed: 84), g = randomBuffer(L.count, seed: 85)
                let ws = Workspace(backend: backend)
                ws.mode = mode
                conv.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: withDx ? dx.ptr : nil, n: n, h: h, w: h, ws: ws)
                return dx.array(inLen) + g.array(L.count)
            }
            let want = run(.reference)
            forEachBackend([.avx2, .avx512]) { backend in
                assertClose(want, run(backend), rtol: 2e-6, "\(backend.rawValue) \(cin)->\(cout) \(h)x\(h) n=\(n) dx=\(withDx) \(mode)")
            }
          }
        }
    }

    /// The transposed convolution's backward at the U-Net's shapes (32 -> 32
    /// at 7x7 and 14x14) and with 16
    /// input channels of an odd width, against the reference backend's GEMMs
    /// (dx and dW adding onto what they held), images dealt to the cores (n = 3);
    /// the direct weight gradient on AVX-512 and AVX2.
    func testTransposedBackwardMatchesGEMM() {
        for (cin, cout, h, w) in [(32, 32, 7, 7), (32, 32, 14, 14), (16, 4, 5, 3)] {
            func run(_ backend: Backend) -> [Float] {
                var L = ParameterLayout()
                let ct = ConvTranspose2d(&L, "t", cin: cin, cout: cout, k: 4, stride: 2, pad: 1)
                let n = 3, inLen = cin * n * h * w, outLen = cout * n * 4 * h * w
                let params = randomBuffer(L.count, seed: 71, scale: 0.3)
                let x = randomBuffer(inLen, seed: 72), dy = randomBuffer(outLen, seed: 73)
                let dx = randomBuffer(inLen, seed: 74), g = randomBuffer(L.count, seed: 75)
                ct.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: dx.ptr, n: n, h: h, w: w, ws: Workspace(backend: backend))
                return dx.array(inLen) + g.array(L.count)
            }
            let want = run(.reference)
            forEachBackend([.avx2, .avx512]) { backend in
                assertClose(want, run(backend), rtol: 2e-6, "\(backend.rawValue) \(cin)->\(cout) \(h)x\(w)")
            }
        }
    }

    /// Transposed convolution on every backend: cout 2 takes the GEMM path,
    /// cout 4 and 8 the direct 4x4 stride-2 kernel (one tile, two tiles); 16
    /// input channels the direct weight gradient on AVX-512.
    func testConvTranspose2d() {
        forEachBackend { backend in
            for (cin, cout, hw, n) in [(3, 2, 4, 2), (3, 4, 4, 2), (4, 8, 5, 1), (16, 4, 3, 2)] {
                var L = ParameterLayout()
                let ct = ConvTranspose2d(&L, "t", cin: cin, cout: cout, k: 4, stride: 2, pad: 1)
                let ho = ct.outSize(hw)
                XCTAssertEqual(ho, 2 * hw)
                let params = randomBuffer(L.count, seed: 3, scale: 0.5)
                let x = randomBuffer(cin * n * hw * hw, seed: 4)
                let ws = Workspace(backend: backend, unet: true)
                let y = FloatBuffer(count: cout * n * ho * ho)
                GradCheck().check(params: params, paramCount: L.count, input: x, inputCount: cin * n * hw * hw,
                    "\(backend.rawValue) \(cin)->\(cout) \(hw)x\(hw) n\(n)",
                    forward: { pp, xx in
                        ct.forward(pp, x: xx, y: y.ptr, n: n, h: hw, w: hw, ws: ws)
                        return y.array(cout * n * ho * ho)
                    },
                    backward: { pp, xx, dy, gp, gx in
                        ct.backward(pp, gp, x: xx, dy: dy, dx: gx, n: n, h: hw, w: hw, ws: ws)
                    })
            }
        }
    }

    /// The checks above cannot pass on NaN: a backward that writes NaN, a
    /// gradient off by 10%, and a comparison against NaN all fail.
    func testChecksFailOnNaNAndWrongGradients() {
        var L = ParameterLayout()
        let lin = Linear(&L, "l", 3, 2)
        let params = randomBuffer(L.count, seed: 1), x = randomBuffer(6, seed: 2), y = FloatBuffer(count: 4)
        let fwd: GradCheck.Forward = { pp, xx in lin.forward(pp, x: xx, y: y.ptr, n: 2); return y.array(4) }
        XCTAssertNil(GradCheck().firstFailure(params: params, paramCount: L.count, input: x, inputCount: 6, forward: fwd,
            backward: { pp, xx, dy, gp, gx in lin.backward(pp, gp, x: xx, dy: dy, dx: gx, n: 2) }))
        XCTAssertNotNil(GradCheck().firstFailure(params: params, paramCount: L.count, input: x, inputCount: 6, forward: fwd,
            backward: { pp, xx, dy, gp, gx in
                lin.backward(pp, gp, x: xx, dy: dy, dx: gx, n: 2)
                for i in 0..<L.count { gp[i] = .nan }
            }))
        XCTAssertNotNil(GradCheck().firstFailure(params: params, paramCount: L.count, input: x, inputCount: 6, forward: fwd,
            backward: { pp, xx, dy, gp, gx in
                lin.backward(pp, gp, x: xx, dy: dy, dx: gx, n: 2)
                for i in 0..<6 { gx[i] *= 1.1 }
            }))
        XCTAssertEqual(mismatch([1, 2], [1, .nan]), .infinity)
        XCTAssertEqual(mismatch([.nan, 2], [1, 2]), .infinity)
        XCTAssertEqual(mismatch([1, 2], [1, 2, 3]), .infinity)
        XCTAssertEqual(mismatch([1, -4], [1, -4]), 0)
    }

    func testGroupNormPlainSiluBiasMask() {
        let C = 8, G = 4, n = 3
        // Planes of 5 (a float at a time) and 37 (two 16-float vectors and a tail).
        for hw in [5, 37] {
        forEachBackend { backend in
        for (silu, useBias, useMask) in [(false, false, false), (true, false, false), (true, true, false), (true, false, true)] {
            var L = ParameterLayout()
            let gn = GroupNorm(&L, "g", groups: G, channels: C)
            let params = randomBuffer(L.count, seed: 5, scale: 0.7)
            for c in 0..<C { params.ptr[gn.w + c] += 1 }
            let x = randomBuffer(C * n * hw, seed: 6, scale: 2)
            let tb = randomBuffer(n * C, seed: 8)
            let mask = FloatBuffer(count: C * n * hw)
            var r = RNG(seed: 9)
            Dropout.makeMask(mask.ptr, count: C * n * hw, p: 0.3, rng: &r)
            let y = FloatBuffer(count: C * n * hw), stats = FloatBuffer(count: 2 * n * G)
            let scratch = FloatBuffer(count: C * n * hw), dtb = FloatBuffer(count: n * C)
            GradCheck().check(params: params, paramCount: L.count, input: x, inputCount: C * n * hw,
                forward: { pp, xx in
                    gn.forward(pp, x: xx, y: y.ptr, n: n, hw: hw, mean: stats.ptr, rstd: stats.ptr + n * G,
                               silu: silu, backend: backend, tbias: useBias ? tb.ptr : nil, mask: useMask ? mask.ptr : nil)
                    return y.array(C * n * hw)
                },
                backward: { pp, xx, dy, gp, gx in
                    gn.backward(pp, gp, x: xx, dy: dy, dx: gx, n: n, hw: hw, mean: stats.ptr, rstd: stats.ptr + n * G,
                                silu: silu, mask: useMask ? mask.ptr : nil, dtbias: useBias ? dtb.ptr : nil, scratch: scratch.ptr,
                                backend: backend)
                })
        }
        }
        }
    }

    /// GroupNorm's backward writes dx with `overwrite` exactly as it adds
    /// into zeros, and its AVX-512 and AVX2 plane loops give the same bits
    /// (planes of 37: two vectors and a tail).
    func testGroupNormBackwardOverwriteAndBackendsAgree() {
        let C = 8, G = 4, n = 3, hw = 37, len = C * n * hw
        var L = ParameterLayout()
        let gn = GroupNorm(&L, "g", groups: G, channels: C)
        let params = randomBuffer(L.count, seed: 5, scale: 0.7)
        let x = randomBuffer(len, seed: 6, scale: 2), dy = randomBuffer(len, seed: 7)
        let mask = FloatBuffer(count: len)
        var r = RNG(seed: 9)
        Dropout.makeMask(mask.ptr, count: len, p: 0.3, rng: &r)
        let y = FloatBuffer(count: len), stats = FloatBuffer(count: 2 * n * G), scratch = FloatBuffer(count: len)
        gn.forward(params.ptr, x: x.ptr, y: y.ptr, n: n, hw: hw, mean: stats.ptr, rstd: stats.ptr + n * G,
                   silu: true, backend: .reference, mask: mask.ptr)
        func run(_ backend: Backend, overwrite: Bool) -> [Float] {
            let dx = FloatBuffer(count: len), g = FloatBuffer(count: L.count), dtb = FloatBuffer(count: n * C)
            dx.zero(len); g.zero(L.count); dtb.zero(n * C)
            if overwrite { dx.ptr.update(repeating: .nan, count: len) }
            gn.backward(params.ptr, g.ptr, x: x.ptr, dy: dy.ptr, dx: dx.ptr, n: n, hw: hw, mean: stats.ptr,
                        rstd: stats.ptr + n * G, silu: true, mask: mask.ptr, dtbias: dtb.ptr, scratch: scratch.ptr,
                        overwrite: overwrite, backend: backend)
            return dx.array(len) + g.array(L.count) + dtb.array(n * C)
        }
        let reference = run(.avx2, overwrite: false)
        XCTAssertTrue(reference.allSatisfy { $0.isFinite })
        XCTAssertEqual(run(.avx2, overwrite: true).map(\.bitPattern), reference.map(\.bitPattern))
        forEachBackend([.avx512]) { b in
            XCTAssertEqual(run(b, overwrite: false).map(\.bitPattern), reference.map(\.bitPattern))
            XCTAssertEqual(run(b, overwrite: true).map(\.bitPattern), reference.map(\.bitPattern))
        }
    }

    /// Attention with 4 heads of 2 or 4 channels, 3x3 and 5x5 (rows shorter
    /// than, and between, whole 16-float vectors). Weights of scale 0.3 keep the
    /// scores within about ±15: at 0.5 they reached ±38, the softmax saturates,
    /// and the Float forward's rounding moves the finite difference of one
    /// probe by ~3e-3 (measured: −0.018 and −0.021 for two summation orders of
    /// the same forward), more than the check's tolerance.
    func testAttentionBlock() {
        forEachBackend { backend in
        for (C, size, n) in [(8, 3, 2), (16, 5, 2)] {
            var L = ParameterLayout()
            let a = AttentionBlock(&L, "a", channels: C, heads: 4, size: size, groups: 4)
            let params = randomBuffer(L.count, seed: 15, scale: 0.3)
            for c in 0..<C { params.ptr[a.norm.w + c] += 1 }
            let len = C * n * size * size
            let x = randomBuffer(len, seed: 16)
            let ws = Workspace(backend: backend)
            GradCheck().check(params: params, paramCount: L.count, input: x, inputCount: len, probesPerBuffer: 60,
                "\(backend.rawValue) C\(C) \(size)x\(size)",
                forward: { pp, xx in a.forward(pp, x: xx, n: n, ws: ws); return a.out.array(len) },
                backward: { pp, xx, dy, gp, gx in a.backward(pp, gp, x: xx, dout: dy, dx: gx, ws: ws) })
        }
        }
    }

    func testLinear() {
        var L = ParameterLayout()
        let lin = Linear(&L, "l", 5, 3)
        let n = 4
        let params = randomBuffer(L.count, seed: 10)
        let x = randomBuffer(n * 5, seed: 11)
        let y = FloatBuffer(count: n * 3)
        GradCheck().check(params: params, paramCount: L.count, input: x, inputCount: n * 5,
            forward: { pp, xx in lin.forward(pp, x: xx, y: y.ptr, n: n); return y.array(n * 3) },
            backward: { pp, xx, dy, gp, gx in lin.backward(pp, gp, x: xx, dy: dy, dx: gx, n: n) })
    }

    func testActivations() {
        let n = 50
        let x = randomBuffer(n, seed: 12, scale: 2)
        let y = FloatBuffer(count: n)
        let params = FloatBuffer(count: 1)
        GradCheck().check(params: params, paramCount: 0, input: x, inputCount: n,
            forward: { _, xx in Kernels.siluForward(xx, y.ptr, n); return y.array(n) },
            backward: { _, xx, dy, _, gx in Kernels.siluBackward(xx, dy, gx, n) })
        GradCheck().check(params: params, paramCount: 0, input: x, inputCount: n,
            forward: { _, xx in Kernels.geluForward(xx, y.ptr, n); return y.array(n) },
            backward: { _, xx, dy, _, gx in Kernels.geluBackward(xx, dy, gx, n) })
        // Exact GELU values (PyTorch's default, erf form).
        let v: [Float] = [-2, -0.5, 0, 1, 3]
        let out = FloatBuffer(count: 5)
        v.withUnsafeBufferPointer { Kernels.geluForward($0.baseAddress!, out.ptr, 5) }
        let expect: [Float] = [-0.04550026, -0.15426877, 0, 0.8413447, 2.9959502]
        for i in 0..<5 { XCTAssertEqual(out.ptr[i], expect[i], accuracy: 1e-6) }
    }

    func testDropoutMaskIsSeededAndScaled() {
        let n = 100_000
        let a = FloatBuffer(count: n), b = FloatBuffer(count: n)
        var r1 = RNG(seed: 3), r2 = RNG(seed: 3)
        Dropout.makeMask(a.ptr, count: n, p: 0.1, rng: &r1)
        Dropout.makeMask(b.ptr, count: n, p: 0.1, rng: &r2)
        XCTAssertEqual(a.array(n), b.array(n))
        let zeros = a.array(n).filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / Double(n), 0.1, accuracy: 0.005)
        XCTAssertEqual(a.array(n).first { $0 != 0 }!, 1 / 0.9, accuracy: 1e-6)
        // Properties, not the algorithm: for other rates the share and the
        // scale hold; a mask of m elements is the start of the mask of 2m
        // from the same generator state (its chunks do not depend on the
        // length, so not on the batch split either); neighbours are
        // independent; another seed gives another mask; one draw is taken
        // from the caller's generator.
        for p in [0.25, 0.5] {
            let m = 70_001, c = FloatBuffer(count: m), d = FloatBuffer(count: 2 * m)
            var r3 = RNG(seed: 5), r4 = RNG(seed: 5), r5 = RNG(seed: 6)
            Dropout.makeMask(c.ptr, count: m, p: Float(p), rng: &r3)
            Dropout.makeMask(d.ptr, count: 2 * m, p: Float(p), rng: &r4)
            XCTAssertEqual(r3, r4, "one draw from the caller's generator, whatever the length")
            let cm = c.array(m)
            XCTAssertEqual(cm, Array(d.array(2 * m).prefix(m)))
            XCTAssertEqual(Double(cm.filter { $0 == 0 }.count) / Double(m), p, accuracy: 0.01)
            XCTAssertTrue(cm.allSatisfy { $0 == 0 || abs($0 - Float(1 / (1 - p))) < 1e-6 })
            let same = zip(cm, cm.dropFirst()).filter { ($0 == 0) == ($1 == 0) }.count
            XCTAssertEqual(Double(same) / Double(m - 1), p * p + (1 - p) * (1 - p), accuracy: 0.01)
            let e = FloatBuffer(count: m)
            Dropout.makeMask(e.ptr, count: m, p: Float(p), rng: &r5)
            XCTAssertNotEqual(e.array(m), cm)
        }
    }

    func testSinusoidalEmbeddingMatchesFormula() {
        let t: [Float] = [0, 7, 999]
        let dim = 16
        let out = FloatBuffer(count: 3 * dim)
        t.withUnsafeBufferPointer { SinusoidalEmbedding.forward(t: $0.baseAddress!, n: 3, dim: dim, out: out.ptr) }
        for (i, tv) in t.enumerated() {
            for j in 0..<8 {
                let f = exp(-Double(j) * log(10000.0) / 7)
                XCTAssertEqual(Double(out.ptr[i * dim + j]), sin(Double(tv) * f), accuracy: 2e-4)
                XCTAssertEqual(Double(out.ptr[i * dim + 8 + j]), cos(Double(tv) * f), accuracy: 2e-4)
            }
        }
    }
}
