// Backends.swift: test helpers that run a check on every backend this CPU has,
// and comparisons that fail on NaN and Inf.
import XCTest
@testable import Compute
@testable import Engine

/// Runs `body` for each backend the CPU can run; a backend it lacks is
/// skipped with a line naming it (so a run on a CPU without AVX-512 says what it did not check).
/// By default the float backends: bf16 runs avx512's kernels except in a U-Net's
/// sampling passes, which BF16Tests check.
func forEachBackend(_ backends: [Backend] = Backend.allCases.filter { $0 != .bf16 }, _ body: (Backend) throws -> Void) rethrows {
    for b in backends {
        guard b.isAvailable else {
            print("skipped: backend \(b.rawValue) (\(b)) - this CPU lacks \(b.requirement)")
            continue
        }
        try body(b)
    }
}

/// The largest |a - b| / scale over two arrays, scale = max(|a|) (floored at
/// `floor`); +infinity when the lengths differ or any value is NaN or infinite,
/// so a comparison `mismatch(...) <= tol` cannot pass on NaN.
func mismatch(_ a: [Float], _ b: [Float], floor: Float = 1e-30) -> Double {
    guard a.count == b.count else { return .infinity }
    var scale: Float = floor
    for v in a { guard v.isFinite else { return .infinity }; scale = max(scale, abs(v)) }
    var worst = 0.0
    for i in a.indices {
        guard b[i].isFinite else { return .infinity }
        worst = max(worst, Double(abs(a[i] - b[i]) / scale))
    }
    return worst
}

/// Fails unless every element of `b` is within `rtol` of `a` relative to a's largest magnitude.
func assertClose(_ a: [Float], _ b: [Float], rtol: Double, _ what: @autoclosure () -> String,
                 file: StaticString = #filePath, line: UInt = #line) {
    let m = mismatch(a, b)
    if !(m <= rtol) { XCTFail("\(what()): relative mismatch \(m) > \(rtol)", file: file, line: line) }
}
