// Metrics+KernelDistance.swift: the kernel distance (KID, Bińkowski et al.
// 2018) in the classifier's feature space: an unbiased MMD² (Gretton et al.
// 2012, MMD²_u), so that a set's own size and spread do not lower it the way
// they lower the Fréchet distance at n = 1000.
import Compute

extension Metrics {
    /// k(a, b) = (a·b / d + 1)³, the cubic polynomial kernel of Bińkowski et al.
    @inline(__always) static func cubicKernel(_ dot: Double, d: Int) -> Double {
        let s = dot / Double(d) + 1
        return s * s * s
    }

    /// A reference set's part of the kernel distance, computed once: its rows
    /// times one scale, the same for every feature, that makes the reference's
    /// mean |y|² / d equal to 1, so that a·b / d is of order 1 as the kernel
    /// assumes (raw classifier features put (a·b / d + 1)³ in the thousands,
    /// led by a few rows of large norm; scaling each feature by its own
    /// standard deviation blew up the features the reference rarely turns on);
    /// and the mean kernel between two different reference rows.
    public struct KernelReference: Sendable {
        /// rows: [n, d], scaled.
        let rows: [Double], n: Int, d: Int
        let scale: Double
        /// mean over i != j of k(y_i, y_j).
        public let within: Double

        /// `feats`: n rows of d features (n >= 2).
        public init(_ feats: [Float], n: Int, d: Int) {
            precondition(n >= 2 && feats.count >= n * d)
            self.n = n; self.d = d
            var sq = 0.0
            for i in 0..<(n * d) { sq += Double(feats[i]) * Double(feats[i]) }
            let scale = sq > 0 ? 1 / (sq / Double(n * d)).squareRoot() : 1
            self.scale = scale
            let y = Self.scaled(feats, count: n * d, by: scale)
            rows = y
            // The upper triangle of Y Y^T in blocks of rows (a 10k x 10k Gram
            // matrix would be 800 MB): g [rowsHere, n - i0] holds rows
            // i0 + r against rows i0 + c, and only c > r is summed.
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

        /// A reference computed before (`ReferenceCache`): `feats` scaled by `scale`, and `within` as it was.
        init(_ feats: [Float], n: Int, d: Int, scale: Double, within: Double) {
            precondition(n >= 2 && feats.count >= n * d)
            self.n = n; self.d = d; self.scale = scale; self.within = within
            rows = Self.scaled(feats, count: n * d, by: scale)
        }

        /// n rows of features [n, d], scaled as the reference's.
        func scaled(_ x: [Float], n: Int) -> [Double] { Self.scaled(x, count: n * d, by: scale) }

        static func scaled(_ x: [Float], count: Int, by scale: Double) -> [Double] { (0..<count).map { Double(x[$0]) * scale } }

        /// For each of the m scaled rows of x [m, d]: the mean kernel against
        /// every reference row (h [m, block] at a time).
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

    /// The kernel distance of n feature rows to `reference`: MMD²_u =
    /// mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) - 2 mean k(x_i, y_j),
    /// whose expectation is 0 when the rows come from the reference's
    /// distribution, whatever n. And `replicates` bootstrap values: n rows
    /// drawn with replacement, each pair of rows weighted by how often both
    /// were drawn, pairs of draws of one row left out (so a resample is not
    /// pulled up by k(x, x)); a draw of a single row, which leaves no pair,
    /// is drawn again.
    public static func bootstrapKernelDistance(_ x: [Float], n: Int, d: Int, reference: KernelReference,
                                               replicates: Int, seed: UInt64) -> (value: Double, replicates: [Double]) {
        precondition(n >= 2 && x.count >= n * d && reference.d == d)
        let xd = reference.scaled(x, n: n)
        // k [n, n]: the kernel between rows, 0 on the diagonal.
        var k = [Double](repeating: 0, count: n * n)
        xd.withUnsafeBufferPointer { xp in k.withUnsafeMutableBufferPointer { kp in
            BLAS.dgemm(transA: false, transB: true, m: n, n: n, k: d, a: xp.baseAddress!, lda: d,
                       b: xp.baseAddress!, ldb: d, beta: 0, c: kp.baseAddress!, ldc: n)
        } }
        for i in 0..<(n * n) { k[i] = cubicKernel(k[i], d: d) }
        for i in 0..<n { k[i * n + i] = 0 }
        let cross = reference.crossMeans(xd, m: n)
        // The estimate from row counts c: sum_{u≠v} c_u c_v k_uv / sum_{u≠v} c_u c_v for the within-set mean.
        var count = [Double](repeating: 1, count: n), kc = [Double](repeating: 0, count: n)
        func estimate() -> Double {
            k.withUnsafeBufferPointer { kp in count.withUnsafeBufferPointer { cp in kc.withUnsafeMutableBufferPointer { op in
                BLAS.dgemm(transA: false, transB: false, m: n, n: 1, k: n, a: kp.baseAddress!, lda: n,
                           b: cp.baseAddress!, ldb: 1, beta: 0, c: op.baseAddress!, ldc: 1)
            } } }
            var within = 0.0, drawn = 0.0, squares = 0.0, crossSum = 0.0
            for u in 0..<n {
                within += count[u] * kc[u]; drawn += count[u]; squares += count[u] * count[u]; crossSum += count[u] * cross[u]
            }
            return within / (drawn * drawn - squares) + reference.within - 2 * crossSum / drawn
        }
        let value = estimate()
        var rng = RNG(seed: seed, stream: 0x41D)
        var out: [Double] = []
        out.reserveCapacity(replicates)
        for _ in 0..<replicates {
            repeat {
                for u in 0..<n { count[u] = 0 }
                for _ in 0..<n { count[rng.int(n)] += 1 }
            } while count.contains(Double(n))
            out.append(estimate())
        }
        return (value, out)
    }
}
