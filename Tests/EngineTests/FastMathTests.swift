import XCTest
import Foundation
import SIMDMath

/// FastMath's exp and sigmoid against Foundation in Double.
final class FastMathTests: XCTestCase {
    /// `count` points spread over [lo, hi], 16 at a time.
    func sweep(_ lo: Float, _ hi: Float, count: Int, _ check: (FastMath.V) -> Void) {
        var i = 0
        while i < count {
            var v = FastMath.V()
            for j in 0..<16 { v[j] = lo + (hi - lo) * Float(i + j) / Float(count - 1) }
            check(v)
            i += 16
        }
    }

    func testExpRelativeError() {
        var worst = 0.0
        sweep(-87, 88, count: 400_000) { x in
            let y = FastMath.exp(x)
            for j in 0..<16 {
                let e = Foundation.exp(Double(x[j]))
                let err = abs(Double(y[j]) - e) / e
                worst = err.isNaN ? .infinity : max(worst, err)   // max() would drop a NaN
            }
        }
        XCTAssertLessThan(worst, 2.5e-7, "exp")
    }

    func testSigmoidRelativeError() {
        var worst = 0.0
        sweep(-87.2, 100, count: 400_000) { x in
            let y = FastMath.sigmoid(x)
            for j in 0..<16 {
                let e = 1 / (1 + Foundation.exp(-Double(x[j])))
                let err = abs(Double(y[j]) - e) / e
                worst = err.isNaN ? .infinity : max(worst, err)
            }
        }
        XCTAssertLessThan(worst, 4e-7, "sigmoid")
        // Far out the result is 0 (not NaN or negative), and 1 at the top.
        let far = FastMath.sigmoid(FastMath.V(repeating: -1000)), top = FastMath.sigmoid(FastMath.V(repeating: 1000))
        for j in 0..<16 { XCTAssertTrue(far[j] > 0 && far[j] < 1.3e-38); XCTAssertEqual(top[j], 1) }
        XCTAssertEqual(FastMath.sigmoid(Float(0.3)), FastMath.sigmoid(FastMath.V(repeating: 0.3))[5])
    }
}
