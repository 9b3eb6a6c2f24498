import XCTest
@testable import Engine

final class UNetTests: XCTestCase {
    func testParameterCountsMatchPyTorch() throws {
        XCTAssertEqual(try UNet(.tiny).parameterCount, 396_801)
        XCTAssertEqual(try UNet(.small).parameterCount, 4_333_505)
        let tiny = try UNet(.tiny)
        XCTAssertEqual(tiny.layout.entries.first?.name, "time_emb.1.weight")
        XCTAssertEqual(tiny.layout["downs.0.conv1.weight"]?.shape, [16, 16, 3, 3])
        XCTAssertEqual(tiny.layout["ups.3.weight"]?.shape, [32, 32, 4, 4])
        XCTAssertEqual(tiny.layout.entries.last?.name, "conv_out.2.bias")
        XCTAssertThrowsError(try UNet(UNetConfig(nChannels: 32, chMults: [1, 2, 2, 4], imageSize: 28)))
    }

    /// Whole-model gradient check on a reduced config (parameters and input).
    func testWholeUNetGradient() throws {
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0)
        let net = try UNet(cfg)
        let n = 2
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 1)
        net.layout.initialize(params.ptr, rng: &rng)
        // Perturb norm parameters so they are not trivially 1/0.
        for e in net.layout.entries where e.name.contains("norm") || e.name.hasPrefix("conv_out.0") {
            for i in 0..<e.count { params.ptr[e.offset + i] += Float(rng.normal()) * 0.2 }
        }
        let x = randomBuffer(n * 64, seed: 2)
        let t = [3, 800]
        let check = GradCheck(atol: 3e-3, rtol: 3e-2)
        check.check(params: params, paramCount: net.parameterCount, input: x, inputCount: n * 64, probesPerBuffer: 120,
            forward: { pp, xx in
                var r = RNG(seed: 0)
                let y = net.forward(pp, x: xx, t: t, rng: &r)
                return Array(UnsafeBufferPointer(start: y, count: n * 64))
            },
            backward: { pp, xx, dy, gp, gx in
                net.backward(pp, gp, dout: dy, dx: gx)
            })
    }

    /// Dropout in training mode: the backward pass uses the same mask as the forward.
    func testWholeUNetGradientWithDropout() throws {
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0.2)
        let net = try UNet(cfg)
        let n = 2
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 4)
        net.layout.initialize(params.ptr, rng: &rng)
        let x = randomBuffer(n * 64, seed: 5)
        GradCheck(atol: 3e-3, rtol: 3e-2).check(params: params, paramCount: net.parameterCount, input: x,
            inputCount: n * 64, probesPerBuffer: 60,
            forward: { pp, xx in
                var r = RNG(seed: 11) // same mask every call
                let y = net.forward(pp, x: xx, t: [10, 500], train: true, rng: &r)
                return Array(UnsafeBufferPointer(start: y, count: n * 64))
            },
            backward: { pp, _, dy, gp, gx in net.backward(pp, gp, dout: dy, dx: gx) })
    }

    /// Batch results do not depend on batch composition (no cross-image leakage).
    func testBatchIndependence() throws {
        let net = try UNet(.tiny)
        let params = FloatBuffer(count: net.parameterCount)
        var rng = RNG(seed: 1)
        net.layout.initialize(params.ptr, rng: &rng)
        let x = randomBuffer(3 * 784, seed: 9)
        var r = RNG(seed: 0)
        let all = Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x.ptr, t: [5, 500, 900], rng: &r), count: 3 * 784))
        let one = Array(UnsafeBufferPointer(start: net.forward(params.ptr, x: x.ptr + 784, t: [500], rng: &r), count: 784))
        for i in 0..<784 { XCTAssertEqual(all[784 + i], one[i], accuracy: 1e-4) }
    }
}
