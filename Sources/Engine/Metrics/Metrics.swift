// Metrics.swift: sample-quality metrics in the classifier's feature space.
import Foundation

/// Sample-quality metrics in the classifier's feature space (chapter 3.6.3,
/// adapted to MNIST with no downloads). All in Double.
public enum Metrics {
    /// Mean and covariance (unbiased) of n rows of d features.
    public static func meanCov(_ x: [Float], n: Int, d: Int) -> ([Double], [Double]) {
        precondition(n >= 1 && x.count >= n * d)
        var mu = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mu[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mu[j] /= Double(n) }
        var centred = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { centred[i * d + j] = Double(x[i * d + j]) - mu[j] } }
        var cov = [Double](repeating: 0, count: d * d)
        centred.withUnsafeBufferPointer { c in
            cov.withUnsafeMutableBufferPointer { out in
                BLAS.dgemm(transA: true, transB: false, m: d, n: d, k: n, alpha: 1 / Double(max(1, n - 1)),
                           a: c.baseAddress!, lda: d, b: c.baseAddress!, ldb: d, beta: 0, c: out.baseAddress!, ldc: d)
            }
        }
        return (mu, cov)
    }

    /// A * B for d x d row-major matrices.
    static func matmul(_ A: [Double], _ B: [Double], _ d: Int) -> [Double] {
        var C = [Double](repeating: 0, count: d * d)
        A.withUnsafeBufferPointer { a in B.withUnsafeBufferPointer { b in C.withUnsafeMutableBufferPointer { c in
            BLAS.dgemm(transA: false, transB: false, m: d, n: d, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d,
                       beta: 0, c: c.baseAddress!, ldc: d)
        } } }
        return C
    }

    /// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations.
    public static func symmetricEigen(_ a0: [Double], _ n: Int) -> (values: [Double], vectors: [Double]) {
        var a = a0
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        for _ in 0..<60 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += a[p * n + q] * a[p * n + q] } }
            if off < 1e-22 { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) {
                    let apq = a[p * n + q]
                    if abs(apq) < 1e-300 { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1 : -1) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq; a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk; a[q * n + k] = s * apk + c * aqk
                    }
                    for k in 0..<n {
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { a[$0 * n + $0] }, v)
    }

    /// Eigenvalues of a symmetric matrix (unordered; only its lower triangle is
    /// read): Householder reduction to tridiagonal form (`Tridiagonal.reduce`),
    /// then the implicit QL method (Numerical Recipes' tred2 and tqli, values
    /// only). O(n^3) with a small constant, unlike the Jacobi sweeps.
    public static func symmetricEigenvalues(_ a0: [Double], _ n: Int) -> [Double] {
        precondition(a0.count == n * n)
        if n == 0 { return [] }
        var store = a0
        var d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n), scratch = d
        store.withUnsafeMutableBufferPointer { a in e.withUnsafeMutableBufferPointer { eb in d.withUnsafeMutableBufferPointer { db in
            scratch.withUnsafeMutableBufferPointer { p in
                Tridiagonal.reduce(a.baseAddress!, n: n, diagonal: db.baseAddress!, offDiagonal: eb.baseAddress!, scratch: p.baseAddress!)
            }
        } } }
        // Implicit QL on the tridiagonal matrix (diagonal d, off-diagonal e).
        for i in 1..<max(1, n) { e[i - 1] = e[i] }
        e[n - 1] = 0
        for l in 0..<n {
            var iterations = 0
            while true {
                var m = l
                while m < n - 1 {
                    let dd = abs(d[m]) + abs(d[m + 1])
                    if abs(e[m]) <= Double.ulpOfOne * dd { break }
                    m += 1
                }
                if m == l { break }
                iterations += 1
                if iterations > 60 { break }
                var g = (d[l + 1] - d[l]) / (2 * e[l])
                var r = (g * g + 1).squareRoot()
                g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r))
                var s = 1.0, c = 1.0, p = 0.0
                var i = m - 1
                var underflow = false
                while i >= l {
                    let f = s * e[i], b = c * e[i]
                    r = (f * f + g * g).squareRoot()
                    e[i + 1] = r
                    if r == 0 { d[i + 1] -= p; e[m] = 0; underflow = true; break }
                    s = f / r; c = g / r
                    g = d[i + 1] - p
                    r = (d[i] - g) * s + 2 * c * b
                    p = s * r
                    d[i + 1] = g + p
                    g = c * r - b
                    i -= 1
                }
                if underflow { continue }
                d[l] -= p; e[l] = g; e[m] = 0
            }
        }
        return d
    }

    /// A reference set's statistics for Fréchet distances to it, with the
    /// square root of its covariance computed once.
    public struct FrechetReference: Sendable {
        public let mean: [Double], cov: [Double], d: Int
        /// C^{1/2} (symmetric) and tr C.
        let sqrtCov: [Double]
        public let trace: Double

        public init(mean: [Double], cov: [Double], d: Int) {
            precondition(mean.count == d && cov.count == d * d)
            self.mean = mean; self.cov = cov; self.d = d
            let (w, V) = Metrics.symmetricEigen(cov, d)
            var S = [Double](repeating: 0, count: d * d)
            for i in 0..<d { for j in i..<d {
                var s = 0.0
                for k in 0..<d { s += V[i * d + k] * max(0, w[k]).squareRoot() * V[j * d + k] }
                S[i * d + j] = s; S[j * d + i] = s
            } }
            sqrtCov = S
            trace = (0..<d).reduce(0) { $0 + cov[$1 * d + $1] }
        }

        /// A reference computed before (`ReferenceCache`): its square root and trace as they were.
        init(mean: [Double], cov: [Double], d: Int, sqrtCov: [Double], trace: Double) {
            precondition(mean.count == d && cov.count == d * d && sqrtCov.count == d * d)
            self.mean = mean; self.cov = cov; self.d = d; self.sqrtCov = sqrtCov; self.trace = trace
        }

        /// |mu - mu_ref|^2 + tr(C + C_ref - 2 (C_ref^{1/2} C C_ref^{1/2})^{1/2}).
        public func distance(mean m: [Double], cov c: [Double]) -> Double {
            precondition(m.count == d && c.count == d * d)
            var dm = 0.0
            for j in 0..<d { dm += (m[j] - mean[j]) * (m[j] - mean[j]) }
            var M = Metrics.matmul(Metrics.matmul(sqrtCov, c, d), sqrtCov, d)
            for i in 0..<d { for j in (i + 1)..<max(i + 1, d) { let s = (M[i * d + j] + M[j * d + i]) / 2; M[i * d + j] = s; M[j * d + i] = s } }
            let trSqrt = Metrics.symmetricEigenvalues(M, d).reduce(0) { $0 + max(0, $1).squareRoot() }
            var tr = trace
            for i in 0..<d { tr += c[i * d + i] }
            return dm + tr - 2 * trSqrt
        }
    }

    /// Fréchet distance |mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^{1/2}), with
    /// tr (C1 C2)^{1/2} = sum sqrt(eig(C1^{1/2} C2 C1^{1/2})).
    public static func frechet(_ m1: [Double], _ c1: [Double], _ m2: [Double], _ c2: [Double], d: Int) -> Double {
        FrechetReference(mean: m1, cov: c1, d: d).distance(mean: m2, cov: c2)
    }

    /// The Fréchet distance of n feature rows to `reference`, and `replicates`
    /// bootstrap values: the distance of n rows drawn with replacement, each time.
    public static func bootstrapFrechet(_ x: [Float], n: Int, d: Int, reference: FrechetReference,
                                        replicates: Int, seed: UInt64) -> (value: Double, replicates: [Double]) {
        let (m, c) = meanCov(x, n: n, d: d)
        let value = reference.distance(mean: m, cov: c)
        // Every draw first, in one sequence, then the replicates dealt to the
        // cores (replicate r to core r mod cores): each value depends only on
        // its draws, so the values do not depend on the core count.
        var rng = RNG(seed: seed, stream: 0xB007)
        let draws = (0..<(replicates * n)).map { _ in rng.int(n) }
        var out = [Double](repeating: 0, count: replicates)
        let cores = max(1, min(Parallel.cores, replicates))
        out.withUnsafeMutableBufferPointer { ob in
            let o = ob.baseAddress!
            Parallel.run(cores) { core in
                var resample = [Float](repeating: 0, count: n * d)
                for r in stride(from: core, to: replicates, by: cores) {
                    for i in 0..<n {
                        let src = draws[r * n + i]
                        for j in 0..<d { resample[i * d + j] = x[src * d + j] }
                    }
                    let (mb, cb) = meanCov(resample, n: n, d: d)
                    o[r] = reference.distance(mean: mb, cov: cb)
                }
            }
        }
        return (value, out)
    }

    /// Standard deviation of bootstrap values (the standard error they estimate).
    public static func standardError(_ v: [Double]) -> Double {
        guard v.count > 1 else { return 0 }
        let mu = v.reduce(0, +) / Double(v.count)
        return (v.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / Double(v.count - 1)).squareRoot()
    }

    /// The Wilson score interval (95% for z = 1.96) of a rate k/n.
    public static func wilson(_ k: Int, _ n: Int, z: Double = 1.96) -> ClosedRange<Double> {
        guard n > 0 else { return 0...1 }
        let p = Double(k) / Double(n), nn = Double(n), z2 = z * z
        let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
        let half = z * (p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot() / (1 + z2 / nn)
        return max(0, centre - half)...min(1, centre + half)
    }

    /// Whether two rates k1/n1 and k2/n2 differ by less than 1.96 standard errors of their difference.
    public static func ratesWithinNoise(_ k1: Int, _ n1: Int, _ k2: Int, _ n2: Int) -> Bool {
        let p1 = Double(k1) / Double(n1), p2 = Double(k2) / Double(n2)
        let pooled = Double(k1 + k2) / Double(n1 + n2)
        let se = (pooled * (1 - pooled) * (1 / Double(n1) + 1 / Double(n2))).squareRoot()
        return abs(p1 - p2) <= 1.96 * se
    }

    /// exp(E_x KL(p(y|x) || p(y))): the Inception-Score analogue.
    public static func inceptionScore(_ probs: [Float], n: Int) -> Double {
        var py = [Double](repeating: 0, count: 10)
        for i in 0..<n { for k in 0..<10 { py[k] += Double(probs[i * 10 + k]) / Double(n) } }
        var kl = 0.0
        for i in 0..<n { for k in 0..<10 {
            let p = Double(probs[i * 10 + k])
            if p > 1e-12 { kl += p * (log(p) - log(max(py[k], 1e-12))) }
        } }
        return exp(kl / Double(n))
    }

    /// Pearson's chi-square of a set's class counts against equal classes
    /// (`shares` as `classHistogram` gives them, over `n` images) and its
    /// p-value, with shares.count - 1 degrees of freedom: whether the mix
    /// differs from even beyond what n draws of an even sampler give. (A share
    /// of 8-12% per class is no such test: at n = 1000 an even sampler keeps all
    /// ten inside it in only 74% of sets.)
    public static func chiSquareEqualClasses(_ shares: [Double], n: Int) -> (statistic: Double, p: Double) {
        guard n > 0, shares.count > 1 else { return (0, 1) }
        let expected = Double(n) / Double(shares.count)
        let statistic = shares.reduce(0.0) { sum, share in
            let d = (share * Double(n)).rounded() - expected
            return sum + d * d / expected
        }
        return (statistic, chiSquareSurvival(statistic, degrees: shares.count - 1))
    }

    /// P(X >= x) for X chi-square with `degrees` degrees of freedom, in closed
    /// form (Abramowitz and Stegun 26.4.4 and 26.4.5): odd degrees
    /// 2 Q(√x) + 2 φ(√x) Σ_{r=1}^{(ν-1)/2} x^{(2r-1)/2} / (1·3···(2r-1)),
    /// with Q and φ the standard normal tail and density; even degrees
    /// e^{-x/2} Σ_{r=0}^{ν/2-1} (x/2)^r / r!.
    public static func chiSquareSurvival(_ x: Double, degrees: Int) -> Double {
        precondition(degrees >= 1)
        guard x > 0 else { return 1 }
        var sum = 0.0, term: Double
        if degrees % 2 == 0 {
            term = 1
            for r in 0..<(degrees / 2) {
                if r > 0 { term *= (x / 2) / Double(r) }
                sum += term
            }
            return min(1, exp(-x / 2) * sum)
        }
        let chi = x.squareRoot()
        term = chi
        for r in 1...max(1, (degrees - 1) / 2) where degrees > 1 {
            if r > 1 { term *= x / Double(2 * r - 1) }
            sum += term
        }
        let density = exp(-x / 2) / (2 * Double.pi).squareRoot()
        return min(1, erfc(chi / 2.0.squareRoot()) + 2 * density * sum)
    }

    /// Each class's share of the first n images, read as the classifier's most likely class.
    public static func classHistogram(_ probs: [Float], n: Int) -> [Double] {
        var h = [Double](repeating: 0, count: 10)
        for i in 0..<n {
            var best = 0
            for k in 1..<10 where probs[i * 10 + k] > probs[i * 10 + best] { best = k }
            h[best] += 1 / Double(n)
        }
        return h
    }

    static func sqDist(_ a: [Float], _ i: Int, _ b: [Float], _ j: Int, _ d: Int) -> Double {
        var s: Float = 0
        for k in 0..<d { let t = a[i * d + k] - b[j * d + k]; s += t * t }
        return Double(s)
    }

    /// Improved precision/recall (Kynkäänniemi et al. 2019): a point is covered by
    /// a set when it lies within some member's distance to its k-th nearest neighbour.
    public static func precisionRecall(real: [Float], nr: Int, fake: [Float], nf: Int, d: Int, k: Int = 3) -> (precision: Double, recall: Double) {
        func radii(_ x: [Float], _ n: Int) -> [Double] {
            (0..<n).map { i in
                var ds = (0..<n).filter { $0 != i }.map { sqDist(x, i, x, $0, d) }
                ds.sort()
                return ds[min(k - 1, ds.count - 1)]
            }
        }
        let rr = radii(real, nr), rf = radii(fake, nf)
        var prec = 0
        for j in 0..<nf where (0..<nr).contains(where: { sqDist(fake, j, real, $0, d) <= rr[$0] }) { prec += 1 }
        var rec = 0
        for i in 0..<nr where (0..<nf).contains(where: { sqDist(real, i, fake, $0, d) <= rf[$0] }) { rec += 1 }
        return (Double(prec) / Double(nf), Double(rec) / Double(nr))
    }

    /// Mean pairwise L2 distance between images (pixel space).
    public static func diversity(_ x: [Float], n: Int, d: Int) -> Double {
        var s = 0.0, c = 0
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { s += sqDist(x, i, x, j, d).squareRoot(); c += 1 } }
        return c > 0 ? s / Double(c) : 0
    }

    /// Mean squared Sobel gradient magnitude of side x side images.
    public static func sobelEnergy(_ x: [Float], n: Int, side: Int) -> Double {
        var e = 0.0
        for i in 0..<n {
            let o = i * side * side
            func p(_ y: Int, _ xx: Int) -> Float { x[o + y * side + xx] }
            for y in 1..<(side - 1) { for xx in 1..<(side - 1) {
                let gx = p(y - 1, xx + 1) + 2 * p(y, xx + 1) + p(y + 1, xx + 1) - p(y - 1, xx - 1) - 2 * p(y, xx - 1) - p(y + 1, xx - 1)
                let gy = p(y + 1, xx - 1) + 2 * p(y + 1, xx) + p(y + 1, xx + 1) - p(y - 1, xx - 1) - 2 * p(y - 1, xx) - p(y - 1, xx + 1)
                e += Double(gx * gx + gy * gy)
            } }
        }
        return e / Double(n * (side - 2) * (side - 2))
    }
}
