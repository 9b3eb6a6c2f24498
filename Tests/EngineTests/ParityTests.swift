import XCTest
@testable import Compute
@testable import Engine

/// Compares the Swift U-Net against PyTorch on a fixture made by
/// scripts/make_parity_fixture.py (no Python needed here).
final class ParityTests: XCTestCase {
    static var fixturePath: String { Bundle.module.path(forResource: "Fixtures/parity", ofType: "safetensors")! }

    /// The whole U-Net (forward, parameter and input gradients) on every backend.
    func testForwardAndGradientsMatchPyTorch() throws {
        try forEachBackend { try checkParity($0) }
    }

    private func checkParity(_ backend: Backend) throws {
        let f = try SafeTensors.read(Self.fixturePath)
        let cfg = UNetConfig(nChannels: 8, chMults: [1, 2], nBlocks: 1, nMidBlocks: 1, imageSize: 8, dropout: 0)
        let net = try UNet(cfg, backend: backend)
        let params = FloatBuffer(count: net.parameterCount)
        try f.load(into: params.ptr, layout: net.layout, prefix: "model.")
        // The input in a buffer that lives as long as the test: backward reads it again.
        let xBuffer = FloatBuffer(f.tensors["x"]!.data), target = f.tensors["target"]!.data
        let x = xBuffer.array(f.tensors["x"]!.count)
        let t = f.tensors["t"]!.data.map { Int($0) }
        let len = x.count
        var rng = RNG(seed: 0)
        let y = net.forward(params.ptr, x: xBuffer.ptr, t: t, mode: .evaluation, rng: &rng)
        let out = Array(UnsafeBufferPointer(start: y, count: len))
        let ref = f.tensors["out"]!.data
        let scale = ref.map { abs($0) }.max()!
        for i in 0..<len { XCTAssertEqual(out[i], ref[i], accuracy: 1e-4 * scale, "\(backend.rawValue) out[\(i)]") }
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
                if !(err <= 1e-3) { XCTFail("\(backend.rawValue) \(e.name)[\(i)]: \(g.ptr[e.offset + i]) vs \(refG[i])"); return }
            }
        }
        let refX = f.tensors["grad_x"]!.data
        let xs = refX.map { abs($0) }.max()!
        for i in 0..<len { XCTAssertEqual(gx.ptr[i], refX[i], accuracy: 1e-3 * xs, "\(backend.rawValue) grad_x[\(i)]") }
        print("parity (\(backend.rawValue)): worst parameter-gradient error relative to tensor max: \(worst)")
    }

    /// The chapter's AttentionBlock (16 channels, 4 heads, 5x5, batch 2) against PyTorch.
    func testAttentionBlockMatchesPyTorch() throws {
        try forEachBackend { try checkAttention($0) }
    }

    private func checkAttention(_ backend: Backend) throws {
        let f = try SafeTensors.read(Bundle.module.path(forResource: "Fixtures/attention", ofType: "safetensors")!)
        var L = ParameterLayout()
        let a = AttentionBlock(&L, "attn", channels: 16, heads: 4, size: 5, groups: 8)
        XCTAssertEqual(L.entries.map(\.name), ["attn.norm.weight", "attn.norm.bias", "attn.qkv.weight", "attn.qkv.bias",
                                              "attn.proj.weight", "attn.proj.bias"])
        let params = FloatBuffer(count: L.count)
        try f.load(into: params.ptr, layout: L)
        // PyTorch's [N, C, H, W] -> our [C, N, H, W].
        let n = 2, C = 16, hw = 25
        func toCN(_ v: [Float]) -> [Float] {
            var o = [Float](repeating: 0, count: v.count)
            for b in 0..<n { for c in 0..<C { for i in 0..<hw { o[(c * n + b) * hw + i] = v[(b * C + c) * hw + i] } } }
            return o
        }
        let x = toCN(f.tensors["x"]!.data), ref = toCN(f.tensors["out"]!.data), target = toCN(f.tensors["target"]!.data)
        let ws = Workspace(backend: backend)
        x.withUnsafeBufferPointer { a.forward(params.ptr, x: $0.baseAddress!, n: n, ws: ws) }
        let out = a.out.array(x.count)
        let scale = ref.map { abs($0) }.max()!
        for i in 0..<x.count { XCTAssertEqual(out[i], ref[i], accuracy: 1e-5 * scale, "out[\(i)]") }
        let dout = (0..<x.count).map { (i: Int) -> Float in 2 * (out[i] - target[i]) / Float(x.count) }
        let g = FloatBuffer(count: L.count), gx = FloatBuffer(count: x.count)
        x.withUnsafeBufferPointer { xp in
            dout.withUnsafeBufferPointer { a.backward(params.ptr, g.ptr, x: xp.baseAddress!, dout: $0.baseAddress!, dx: gx.ptr, ws: ws) }
        }
        for e in L.entries {
            let refG = f.tensors["grad." + e.name.dropFirst(5)]!.data
            let gScale = refG.map { abs($0) }.max()!
            for i in 0..<e.count {
                XCTAssertEqual(g.ptr[e.offset + i], refG[i], accuracy: 1e-4 * gScale, "\(e.name)[\(i)]")
            }
        }
        let refX = toCN(f.tensors["grad_x"]!.data)
        let xs = refX.map { abs($0) }.max()!
        for i in 0..<x.count { XCTAssertEqual(gx.ptr[i], refX[i], accuracy: 1e-4 * xs, "grad_x[\(i)]") }
    }
}
