import CBLIS

/// Row-major single-precision GEMM through BLIS: C = alpha * op(A) * op(B) + beta * C.
///
/// BLIS was chosen over Debian's OpenBLAS 0.3.21 by measurement: OpenBLAS detects
/// Sapphire Rapids as `Prescott` unless OPENBLAS_CORETYPE is set, and even then is
/// slow on the skinny convolution shapes (M = 16..64, K = 144..576, N = 50,176).
public enum BLAS {
    nonisolated(unsafe) private static var configured = false

    /// Sets the BLIS thread count once (default: all cores, 2 here).
    public static func configure(threads: Int = 0) {
        if configured && threads == 0 { return }
        let n = threads > 0 ? threads : max(1, ProcessInfo.processInfo.activeProcessorCount)
        bli_thread_set_num_threads(Int64(n))
        configured = true
    }

    @inline(__always)
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        cblas_sgemm(CblasRowMajor,
                    transA ? CblasTrans : CblasNoTrans,
                    transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }
}

import Foundation
