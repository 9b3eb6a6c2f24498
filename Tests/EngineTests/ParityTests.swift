import XCTest
@testable import Engine

/// Compares the Swift U-Net against PyTorch on a fixture made by
/// scripts/make_parity_fixture.py (no Python needed here).
final class ParityTests: XCTestCase {
    static var fixturePath: String { Bundle.module.path(forResource: "Fixtures/parity", ofType: "safetensors")! }

    func testForwardAndGradientsMatchPyTorch() throws {
        let f = try SafeTensors.read(Self.fixturePath)
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0)
        let net = try UNet(cfg)
        let params = FloatBuffer(count: net.parameterCount)
        try f.load(into: params.ptr, layout: net.layout, prefix: "model.")
        let x = f.tensors["x"]!.data, target = f.tensors["target"]!.data
        let t = f.tensors["t"]!.data.map { Int($0) }
        let len = x.count
        var rng = RNG(seed: 0)
        let y = x.withUnsafeBufferPointer { net.forward(params.ptr, x: $0.baseAddress!, t: t, rng: &rng) }
        let out = Array(UnsafeBufferPointer(start: y, count: len))
        let ref = f.tensors["out"]!.data
        let scale = ref.map { abs($0) }.max()!
        for i in 0..<len { XCTAssertEqual(out[i], ref[i], accuracy: 1e-4 * scale, "out[\(i)]") }
        // MSE (mean) gradient: 2 (y - target) / numel.
        let dout = (0..<len).map { 2 * (out[$0] - target[$0]) / Float(len) }
        let g = FloatBuffer(count: net.parameterCount), gx = FloatBuffer(count: len)
        dout.withUnsafeBufferPointer { net.backward(params.ptr, g.ptr, dout: $0.baseAddress!, dx: gx.ptr) }
        var worst: Float = 0
        // Per-tensor scale, floored at 1e-3 of the largest gradient: biases of a conv
        // followed by a one-channel-per-group GroupNorm have an exact gradient of 0,
        // and both sides hold only rounding noise (~1e-9) there.
        let globalMax = net.layout.entries.map { f.tensors["grad." + $0.name]!.data.map { abs($0) }.max()! }.max()!
        for e in net.layout.entries {
            let refG = f.tensors["grad." + e.name]!.data
            let gScale = max(refG.map { abs($0) }.max()!, 1e-3 * globalMax)
            for i in 0..<e.count {
                let err = abs(g.ptr[e.offset + i] - refG[i]) / gScale
                worst = max(worst, err)
                if err > 1e-3 { XCTFail("\(e.name)[\(i)]: \(g.ptr[e.offset + i]) vs \(refG[i])"); return }
            }
        }
        let refX = f.tensors["grad_x"]!.data
        let xs = refX.map { abs($0) }.max()!
        for i in 0..<len { XCTAssertEqual(gx.ptr[i], refX[i], accuracy: 1e-3 * xs) }
        print("parity: worst parameter-gradient error relative to tensor max: \(worst)")
    }
}
