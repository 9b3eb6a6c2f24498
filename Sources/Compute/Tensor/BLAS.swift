// BLAS.swift: row-major single-precision GEMM through BLIS.
import CBLIS

/// Row-major single-precision GEMM through BLIS: C = alpha * op(A) * op(B) + beta * C.
///
/// BLIS was chosen over Debian's OpenBLAS 0.3.21 by measurement: OpenBLAS detects
/// Sapphire Rapids as `Prescott` unless OPENBLAS_CORETYPE is set, and even then is
/// slow on the skinny convolution shapes (M = 16..64, K = 144..576, N = 50,176).
public enum BLAS {
    /// BLIS itself runs single-threaded; `sgemm` splits large products across
    /// cores itself. (BLIS's OpenMP workers spin after each call and fought the
    /// element-wise kernels for the 2 cores: 27% of a training step was libgomp
    /// spinning.)
    /// Also turns off BLIS 0.9's small-matrix kernels, which read past their
    /// operands (see `ddpm_blis_disable_sup` in Sources/CBLIS/shim.h).
    public static func configure() { _ = configured }
    /// Set once, on first use (a lazily initialised constant, so thread-safe).
    private static let configured: Void = {
        bli_thread_set_num_threads(1)
        ddpm_blis_disable_sup()
    }()

    /// Products smaller than this many multiply-adds run on one thread.
    public static let splitThreshold = 1 << 19

    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { let row = c + i * ldc; for j in 0..<n { row[j] *= beta } }
            return
        }
        let parts = Parallel.cores
        if parts > 1 && m * n * k >= splitThreshold && (n >= 64 * parts || m >= 64 * parts) {
            if n >= m || n >= 64 * parts {
                // Split the columns of C (and of op(B)); keep chunks a multiple of 16.
                Parallel.run(parts) { p in
                    let j0 = (n * p / parts) & ~15, j1 = p == parts - 1 ? n : (n * (p + 1) / parts) & ~15
                    if j1 > j0 {
                        raw(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda, b: transB ? b + j0 * ldb : b + j0, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
                    }
                }
            } else {
                Parallel.run(parts) { p in
                    let i0 = m * p / parts, i1 = m * (p + 1) / parts
                    if i1 > i0 {
                        raw(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, alpha: alpha, a: transA ? a + i0 : a + i0 * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
                    }
                }
            }
        } else {
            raw(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }

    /// Row-major double-precision GEMM on the calling thread (the metrics' covariances
    /// and matrix square roots: d x d with d of a few hundred).
    public static func dgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
                             a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                             beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
        configure()
        precondition(k > 0, "dgemm: k = 0")
        if m == 0 || n == 0 { return }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    @inline(__always)
    /// C = alpha op(A) op(B) + beta C on the calling thread (row-major; op = transpose when asked),
    /// BLIS configured first (sgemm's every path to BLIS goes through here).
    static func raw(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        configure()
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

import Foundation
