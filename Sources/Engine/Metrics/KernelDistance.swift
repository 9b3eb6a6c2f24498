// KernelDistance.swift: the kernel distance (KID, Bińkowski et al. 2018) in the
// classifier's feature space: an unbiased MMD², so that a set's own size and
// spread do not lower it the way they lower the Fréchet distance at n = 1000.
import Compute

extension Metrics {
    /// k(a, b) = (a·b / d + 1)³, the cubic polynomial kernel of Bińkowski et al.
    @inline(__always) static func cubicKernel(_ dot: Double, d: Int) -> Double {
        let s = dot / Double(d) + 1
        return s * s * s
    }

    /// A reference set's part of the kernel distance, computed once: its rows
    /// standardised (each feature less the reference's mean, over its standard
    /// deviation, so that a·b / d is a correlation-like number, as the kernel
    /// assumes; raw classifier features put (a·b / d + 1)³ in the thousands,
    /// led by a few rows of large norm) and the mean kernel between two
    /// different reference rows.
    public struct KernelReference: Sendable {
        let rows: [Double], n: Int, d: Int
        let mean: [Double], invStd: [Double]
        /// mean over i != j of k(y_i, y_j).
        public let within: Double

        /// `feats`: n rows of d features (n >= 2).
        public init(_ feats: [Float], n: Int, d: Int) {
            precondition(n >= 2 && feats.count >= n * d)
            self.n = n; self.d = d
            // One scale for every feature: the reference's mean |y|² / d becomes 1.
            var sq = 0.0
            for i in 0..<(n * d) { sq += Double(feats[i]) * Double(feats[i]) }
            let scale = sq > 0 ? 1 / (sq / Double(n * d)).squareRoot() : 1
            let mu = [Double](repeating: 0, count: d), inv = [Double](repeating: scale, count: d)
            mean = mu; invStd = inv
            let y = Self.standardised(feats, n: n, d: d, mean: mu, invStd: inv)
            rows = y
            // Upper triangle of Y Y^T in blocks of rows (a 10k x 10k Gram
            // matrix would be 800 MB); the diagonal is left out.
            var sum = 0.0
            let block = 512
            var g = [Double](repeating: 0, count: block * n)
            y.withUnsafeBufferPointer { yp in
                for i0 in stride(from: 0, to: n, by: block) {
                    let rowsHere = min(block, n - i0), cols = n - i0
                    g.withUnsafeMutableBufferPointer { gp in
                        BLAS.dgemm(transA: false, transB: true, m: rowsHere, n: cols, k: d, a: yp.baseAddress! + i0 * d, lda: d,
                                   b: yp.baseAddress! + i0 * d, ldb: d, beta: 0, c: gp.baseAddress!, ldc: cols)
                    }
                    for r in 0..<rowsHere {
                        for c in (r + 1)..<max(r + 1, cols) { sum += Metrics.cubicKernel(g[r * cols + c], d: d) }
                    }
                }
            }
            within = 2 * sum / (Double(n) * Double(n - 1))
        }

        static func standardised(_ x: [Float], n: Int, d: Int, mean: [Double], invStd: [Double]) -> [Double] {
            (0..<(n * d)).map { (Double(x[$0]) - mean[$0 % d]) * invStd[$0 % d] }
        }

        /// n rows of features, standardised as the reference's.
        func standardised(_ x: [Float], n: Int) -> [Double] {
            Self.standardised(x, n: n, d: d, mean: mean, invStd: invStd)
        }

        /// For each of the m standardised rows of x: the mean kernel against every reference row.
        func crossMeans(_ x: [Double], m: Int) -> [Double] {
            var out = [Double](repeating: 0, count: m)
            let block = 1024
            var h = [Double](repeating: 0, count: m * block)
            x.withUnsafeBufferPointer { xp in rows.withUnsafeBufferPointer { yp in
                for j0 in stride(from: 0, to: n, by: block) {
                    let cols = min(block, n - j0)
                    h.withUnsafeMutableBufferPointer { hp in
                        BLAS.dgemm(transA: false, transB: true, m: m, n: cols, k: d, a: xp.baseAddress!, lda: d,
                                   b: yp.baseAddress! + j0 * d, ldb: d, beta: 0, c: hp.baseAddress!, ldc: cols)
                    }
                    for i in 0..<m {
                        var s = 0.0
                        for j in 0..<cols { s += Metrics.cubicKernel(h[i * cols + j], d: d) }
                        out[i] += s
                    }
                }
            } }
            return out.map { $0 / Double(n) }
        }
    }

    /// The kernel distance of n feature rows to `reference` (standardised as
    /// its rows are; the unbiased
    /// estimate of MMD² with the cubic kernel: its expectation is 0 when the
    /// rows come from the reference's distribution, whatever n), and
    /// `replicates` bootstrap values: n rows drawn with replacement, pairs of
    /// draws of one row left out of the within-set mean (so a resample is
    /// not pulled up by k(x, x)).
    public static func bootstrapKernelDistance(_ x: [Float], n: Int, d: Int, reference: KernelReference,
                                               replicates: Int, seed: UInt64) -> (value: Double, replicates: [Double]) {
        precondition(n >= 2 && x.count >= n * d && reference.d == d)
        let xd = reference.standardised(x, n: n)
        var k = [Double](repeating: 0, count: n * n)
        xd.withUnsafeBufferPointer { xp in k.withUnsafeMutableBufferPointer { kp in
            BLAS.dgemm(transA: false, transB: true, m: n, n: n, k: d, a: xp.baseAddress!, lda: d,
                       b: xp.baseAddress!, ldb: d, beta: 0, c: kp.baseAddress!, ldc: n)
        } }
        for i in 0..<(n * n) { k[i] = cubicKernel(k[i], d: d) }
        let cross = reference.crossMeans(xd, m: n)
        // The estimate from row counts c (how often each row was drawn): the
        // within-set mean over pairs of different rows, weighted c_u c_v.
        var count = [Double](repeating: 0, count: n)
        func estimate() -> Double {
            var pairs = 0.0, within = 0.0, crossSum = 0.0, drawn = 0.0
            for u in 0..<n where count[u] > 0 {
                var s = 0.0
                let row = u * n
                for v in 0..<n where v != u { s += count[v] * k[row + v] }
                within += count[u] * s
                drawn += count[u]; crossSum += count[u] * cross[u]
            }
            for u in 0..<n { pairs += count[u] * (drawn - count[u]) }
            return within / pairs + reference.within - 2 * crossSum / drawn
        }
        for u in 0..<n { count[u] = 1 }
        let value = estimate()
        var rng = RNG(seed: seed, stream: 0x41D)
        var out: [Double] = []
        out.reserveCapacity(replicates)
        for _ in 0..<replicates {
            for u in 0..<n { count[u] = 0 }
            for _ in 0..<n { count[rng.int(n)] += 1 }
            out.append(estimate())
        }
        return (value, out)
    }
}
