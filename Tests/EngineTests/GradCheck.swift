import XCTest
@testable import Compute
@testable import Engine

/// Finite-difference gradient checking in Float with Double accumulation.
///
/// The loss is L = sum_i w_i y_i with fixed random weights w, so dL/dy = w.
/// Central differences with step h = 1e-2 on Float parameters; a check passes when
/// |numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|), with
/// atol = 2e-3 and rtol = 2e-2 (Float rounding in the forward limits the
/// numeric derivative to about 1e-4 absolute on these sizes).
struct GradCheck {
    var atol: Double = 2e-3
    var rtol: Double = 2e-2
    var h: Float = 1e-2

    typealias Forward = (UnsafePointer<Float>, UnsafePointer<Float>) -> [Float]
    typealias Backward = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>,
                          UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void

    /// `forward(params, input) -> output array`; `backward(params, input, dout, gparams, ginput)`.
    /// Fails the test on the first probe out of tolerance (NaN and Inf included).
    func check(params: FloatBuffer, paramCount: Int, input: FloatBuffer, inputCount: Int,
               probesPerBuffer: Int = 40, seed: UInt64 = 7, _ what: String = "",
               forward: Forward, backward: Backward, file: StaticString = #filePath, line: UInt = #line) {
        if let f = firstFailure(params: params, paramCount: paramCount, input: input, inputCount: inputCount,
                                probesPerBuffer: probesPerBuffer, seed: seed, forward: forward, backward: backward) {
            XCTFail(what.isEmpty ? f : "\(what): \(f)", file: file, line: line)
        }
    }

    /// The first probe whose analytic gradient is not within tolerance of the
    /// numeric one (a NaN or Inf on either side counts), or nil.
    func firstFailure(params: FloatBuffer, paramCount: Int, input: FloatBuffer, inputCount: Int,
                      probesPerBuffer: Int = 40, seed: UInt64 = 7,
                      forward: Forward, backward: Backward) -> String? {
        var rng = RNG(seed: seed)
        let y0 = forward(params.ptr, input.ptr)
        let w = (0..<y0.count).map { _ in Float(rng.normal()) }
        func loss() -> Double {
            let y = forward(params.ptr, input.ptr)
            var s = 0.0
            for i in 0..<y.count { s += Double(w[i]) * Double(y[i]) }
            return s
        }
        let gp = FloatBuffer(count: paramCount), gx = FloatBuffer(count: max(inputCount, 1))
        _ = forward(params.ptr, input.ptr)
        w.withUnsafeBufferPointer { backward(params.ptr, input.ptr, $0.baseAddress!, gp.ptr, gx.ptr) }
        for (buf, grad, count, label) in [(params, gp, paramCount, "param"), (input, gx, inputCount, "input")] {
            if count == 0 { continue }
            var idx = Set<Int>()
            while idx.count < min(probesPerBuffer, count) { idx.insert(rng.int(count)) }
            for i in idx.sorted() {
                let old = buf.ptr[i]
                buf.ptr[i] = old + h; let lp = loss()
                buf.ptr[i] = old - h; let lm = loss()
                buf.ptr[i] = old
                let num = (lp - lm) / (2 * Double(h))
                let ana = Double(grad.ptr[i])
                let err = abs(num - ana)
                let tol = atol + rtol * max(abs(num), abs(ana))
                if !(err <= tol) { return "\(label)[\(i)]: numeric \(num) vs analytic \(ana)" }
            }
        }
        return nil
    }
}

func randomBuffer(_ n: Int, seed: UInt64, scale: Float = 1) -> FloatBuffer {
    var rng = RNG(seed: seed)
    let b = FloatBuffer(count: n)
    rng.fillNormal(b.ptr, count: n, scale: scale)
    return b
}
