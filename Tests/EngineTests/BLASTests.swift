// BLASTests.swift: BLAS.sgemm reads nothing past its operands and computes the product.
import Glibc
import XCTest
@testable import Compute

final class BLASTests: XCTestCase {
    /// `count` floats that end where an unreadable page begins: a read past
    /// them is a SIGSEGV, not a stray value.
    final class Guarded {
        let base: UnsafeMutableRawPointer, size: Int, floats: UnsafeMutablePointer<Float>
        init(count: Int) {
            let page = sysconf(Int32(_SC_PAGESIZE)), pages = (count * 4 + page - 1) / page
            size = (pages + 1) * page
            base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            precondition(base != MAP_FAILED && mprotect(base + pages * page, page, PROT_NONE) == 0)
            floats = (base + pages * page - count * 4).bindMemory(to: Float.self, capacity: count)
        }
        deinit { munmap(base, size) }
    }

    /// BLIS 0.9's small-matrix kernels for Haswell/Zen read one row past A
    /// when k is not a multiple of 8 (and other edge shapes past their ends):
    /// on an AVX2 CPU this crashed `ddpm train` now and then. Every small
    /// shape, each operand flush against an unreadable page, all three
    /// transpose combinations the layers use; the products must be exact
    /// (small integers).
    func testSmallProductsReadNothingPastTheirOperands() {
        for m in 1...7 {
            for n in 1...20 {
                for k in stride(from: 1, through: 19, by: 3) {
                    for (ta, tb) in [(false, true), (false, false), (true, false)] {
                        let a = Guarded(count: m * k), b = Guarded(count: n * k)
                        for i in 0..<(m * k) { a.floats[i] = Float(i % 5) - 2 }
                        for i in 0..<(n * k) { b.floats[i] = Float(i % 3) - 1 }
                        let lda = ta ? m : k, ldb = tb ? k : n
                        var c = [Float](repeating: 7, count: m * n)
                        BLAS.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.floats, lda: lda,
                                   b: b.floats, ldb: ldb, beta: 0, c: &c, ldc: n)
                        var wrong = 0
                        for i in 0..<m {
                            for j in 0..<n {
                                var s: Float = 0
                                for p in 0..<k {
                                    s += (ta ? a.floats[p * lda + i] : a.floats[i * lda + p])
                                        * (tb ? b.floats[j * ldb + p] : b.floats[p * ldb + j])
                                }
                                if c[i * n + j] != s { wrong += 1 }
                            }
                        }
                        XCTAssertEqual(wrong, 0, "m \(m) n \(n) k \(k) transA \(ta) transB \(tb)")
                    }
                }
            }
        }
    }
}
