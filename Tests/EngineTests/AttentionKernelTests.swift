import XCTest
@testable import Compute

/// `Kernels.attentionHead` and `attentionHeadBackward` against the formulas
/// in Double, for rows shorter than, equal to and between whole 16-float
/// vectors, and one head whose scores are all below -90 (the softmax's max
/// must come from the real scores, not the zero padding). Writes outside the
/// outputs (P past hw², the plane gaps past hw) are caught by sentinels.
final class AttentionKernelTests: XCTestCase {
    let shapes = [(2, 9), (4, 25), (8, 49), (8, 64), (4, 1)]
    let sentinel: Float = 12345

    /// q, k, v planes of d x hw with plane stride ld; `negative` makes every score < -90.
    func inputs(d: Int, hw: Int, ld: Int, negative: Bool) -> FloatBuffer {
        let q = randomBuffer(3 * d * ld, seed: UInt64(hw), scale: 2)
        if negative {
            for c in 0..<d {
                for j in 0..<hw { q.ptr[c * ld + j] = 10 + abs(q.ptr[c * ld + j]); q.ptr[(d + c) * ld + j] = -10 - abs(q.ptr[(d + c) * ld + j]) }
            }
        }
        return q
    }

    func cases() -> [(d: Int, hw: Int, negative: Bool)] {
        shapes.map { ($0.0, $0.1, false) } + [(4, 25, true)]
    }

    func testForwardMatchesDouble() {
        for (d, hw, negative) in cases() {
            let ld = 3 * hw + 5, scale = 1 / Float(d).squareRoot()
            let q = inputs(d: d, hw: hw, ld: ld, negative: negative), k = q.ptr + d * ld, v = q.ptr + 2 * d * ld
            let probs = FloatBuffer(count: hw * hw + 16), o = FloatBuffer(count: d * ld)
            probs.ptr.update(repeating: sentinel, count: hw * hw + 16)
            o.ptr.update(repeating: sentinel, count: d * ld)
            let count = Kernels.attentionScratchCount(d: d, hw: hw)
            let scratch = FloatBuffer(count: count + 16)
            scratch.ptr.update(repeating: .nan, count: count)
            (scratch.ptr + count).update(repeating: sentinel, count: 16)
            Kernels.attentionHead(q: q.ptr, k: k, v: v, ld: ld, d: d, hw: hw, scale: scale,
                                  probs: probs.ptr, o: o.ptr, scratch: scratch.ptr)
            var lowest = Double.infinity
            for i in 0..<hw {
                let s = (0..<hw).map { j in (0..<d).reduce(0.0) { $0 + Double(q.ptr[$1 * ld + i]) * Double(k[$1 * ld + j]) } * Double(scale) }
                lowest = min(lowest, s.max()!)
                let m = s.max()!, e = s.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                // A Float score of size |s| is off by up to ~|s|·2⁻²³·d, and e^s by that relatively.
                let fromScores = s.map(abs).max()! * Double(d) * 1.2e-7
                for j in 0..<hw {
                    XCTAssertEqual(Double(probs.ptr[j * hw + i]), e[j] / z, accuracy: 1e-6 + fromScores,
                                   "d \(d) hw \(hw) P[\(i)][\(j)]")
                }
                for c in 0..<d {
                    let want = (0..<hw).reduce(0.0) { $0 + e[$1] / z * Double(v[c * ld + $1]) }
                    XCTAssertEqual(Double(o.ptr[c * ld + i]), want, accuracy: 1e-5 + 8 * fromScores, "d \(d) hw \(hw) O[\(c)][\(i)]")
                }
            }
            if negative { XCTAssertLessThan(lowest, -90, "the negative case's scores") }
            XCTAssertTrue((count..<(count + 16)).allSatisfy { scratch.ptr[$0] == sentinel }, "d \(d) hw \(hw): scratch written past its count")
            XCTAssertTrue((hw * hw..<(hw * hw + 16)).allSatisfy { probs.ptr[$0] == sentinel }, "d \(d) hw \(hw): P written past hw²")
            for c in 0..<d {
                XCTAssertTrue((hw..<ld).allSatisfy { o.ptr[c * ld + $0] == sentinel }, "d \(d) hw \(hw): O written past plane \(c)'s hw")
            }
        }
    }

    func testBackwardMatchesDouble() {
        for (d, hw, negative) in cases() {
            let ld = 3 * hw + 5, scale = 1 / Float(d).squareRoot()
            let q = inputs(d: d, hw: hw, ld: ld, negative: negative), k = q.ptr + d * ld, v = q.ptr + 2 * d * ld
            let dO = randomBuffer(d * ld, seed: UInt64(hw) + 100)
            let probs = FloatBuffer(count: hw * hw), o = FloatBuffer(count: d * ld)
            let forwardScratch = FloatBuffer(count: Kernels.attentionScratchCount(d: d, hw: hw))
            Kernels.attentionHead(q: q.ptr, k: k, v: v, ld: ld, d: d, hw: hw, scale: scale, probs: probs.ptr, o: o.ptr,
                                  scratch: forwardScratch.ptr)
            let grads = FloatBuffer(count: 3 * d * ld)
            grads.ptr.update(repeating: sentinel, count: 3 * d * ld)
            let count = Kernels.attentionBackwardScratchCount(d: d, hw: hw)
            let scratch = FloatBuffer(count: count + 16)
            scratch.ptr.update(repeating: .nan, count: count)
            (scratch.ptr + count).update(repeating: sentinel, count: 16)
            Kernels.attentionHeadBackward(q: q.ptr, k: k, v: v, dO: dO.ptr, probs: probs.ptr, ld: ld, d: d, hw: hw,
                                          scale: scale, dq: grads.ptr, dk: grads.ptr + d * ld, dv: grads.ptr + 2 * d * ld,
                                          scratch: scratch.ptr)
            XCTAssertTrue((count..<(count + 16)).allSatisfy { scratch.ptr[$0] == sentinel }, "d \(d) hw \(hw): backward scratch written past its count")
            func P(_ i: Int, _ j: Int) -> Double { Double(probs.ptr[j * hw + i]) }
            func G(_ c: Int, _ i: Int) -> Double { Double(dO.ptr[c * ld + i]) }
            // dS[i][j] = P (dP - Σ P dP) scale, dP[i][j] = Σ_c dO[c][i] V[c][j].
            var dS = [Double](repeating: 0, count: hw * hw)
            for i in 0..<hw {
                let dP = (0..<hw).map { j in (0..<d).reduce(0.0) { $0 + G($1, i) * Double(v[$1 * ld + j]) } }
                let dot = (0..<hw).reduce(0.0) { $0 + P(i, $1) * dP[$1] }
                for j in 0..<hw { dS[i * hw + j] = P(i, j) * (dP[j] - dot) * Double(scale) }
            }
            for c in 0..<d {
                for i in 0..<hw {
                    let dq = (0..<hw).reduce(0.0) { $0 + Double(k[c * ld + $1]) * dS[i * hw + $1] }
                    let dk = (0..<hw).reduce(0.0) { $0 + Double(q.ptr[c * ld + $1]) * dS[$1 * hw + i] }
                    let dv = (0..<hw).reduce(0.0) { $0 + G(c, $1) * P($1, i) }
                    XCTAssertEqual(Double(grads.ptr[c * ld + i]), dq, accuracy: 1e-4 * max(1, abs(dq)), "d \(d) hw \(hw) dQ[\(c)][\(i)]")
                    XCTAssertEqual(Double(grads.ptr[(d + c) * ld + i]), dk, accuracy: 1e-4 * max(1, abs(dk)), "d \(d) hw \(hw) dK[\(c)][\(i)]")
                    XCTAssertEqual(Double(grads.ptr[(2 * d + c) * ld + i]), dv, accuracy: 1e-5 * max(1, abs(dv)), "d \(d) hw \(hw) dV[\(c)][\(i)]")
                }
                for plane in [c, d + c, 2 * d + c] {
                    XCTAssertTrue((hw..<ld).allSatisfy { grads.ptr[plane * ld + $0] == sentinel }, "d \(d) hw \(hw): gradient written past plane \(plane)'s hw")
                }
            }
        }
    }
}
